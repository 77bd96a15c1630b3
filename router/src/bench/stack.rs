//! The stack the hops benchmark measures, all in this process on embedded defaults (SQLite, the
//! local secret store, the embedded broker): the real MPS and RPS REST servers, the router
//! (which learns the MPS from the bus), and the embedded gateway serving kong/kong.yaml twice,
//! once with the router behind `/mps` and once with the MPS itself.

use std::collections::HashMap;
use std::net::{SocketAddr, TcpListener as StdListener};
use std::time::Duration;

use anyhow::{Context, bail};
use broker::{Bus, EmbeddedBroker, EmbeddedBrokerConfig, OutboxConfig};
use tokio_util::sync::CancellationToken;

pub(crate) const JWT_SECRET: &str = "hops-bench-secret";
/// The issuer of the reference's login tokens (the consumer key of kong.yaml's JWT plugin).
const ISSUER: &str = "9EmRJTbIiIb4bIeSsmgcWIjrR6HyETqc";

pub(crate) struct Stack {
    pub mps: SocketAddr,
    pub rps: SocketAddr,
    pub router: SocketAddr,
    /// The gateway with the router behind `/mps`, and the one with the MPS itself.
    pub gateway_via_router: SocketAddr,
    pub gateway_direct: SocketAddr,
    stop: CancellationToken,
    broker: EmbeddedBroker,
    // Held so that nothing a handle owns is dropped while the stack serves.
    _running: (
        mps::RunningMps,
        crate::RunningRouter,
        Vec<gateway::RunningGateway>,
    ),
    _dir: tempfile::TempDir,
}

impl Stack {
    pub async fn start() -> anyhow::Result<Stack> {
        let stop = CancellationToken::new();
        // Everything started so far stops if a later step fails.
        let guard = stop.clone().drop_guard();
        let dir = tempfile::tempdir()?;

        let mut broker_config = EmbeddedBrokerConfig::new(&dir.path().join("broker"));
        broker_config.listen = SocketAddr::from(([127, 0, 0, 1], 0));
        let broker = EmbeddedBroker::start(broker_config).await?;

        let running_mps = start_mps(&broker, dir.path(), &stop).await?;
        let mps = running_mps.rest_addr;
        let rps = start_rps(dir.path(), &stop).await?;
        let running_router = start_router(&broker, &stop).await?;
        let router = running_router.address;

        let hosts = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
        let tls = gateway::tls::from_data_dir(&dir.path().join("gateway"), &hosts)?;
        let kong = gateway::Declarative::parse(gateway::KONG_YAML)?;
        let start_gateway = |mps_behind: SocketAddr| {
            let mut secrets = gateway::Resolver::default();
            secrets.set("mps-jwt-secret", JWT_SECRET);
            let config = gateway::GatewayConfig {
                listen: SocketAddr::from(([127, 0, 0, 1], 0)),
                declarative: kong.clone(),
                secrets,
                upstream_overrides: HashMap::from([
                    ("mpsrouter:8003".to_owned(), mps_behind.to_string()),
                    ("mps:3000".to_owned(), mps.to_string()),
                    ("rps:8081".to_owned(), rps.to_string()),
                ]),
                tls: Some(tls.clone()),
            };
            let stop = stop.clone();
            async move { anyhow::Ok(gateway::start(config, stop).await?) }
        };
        let via_router = start_gateway(router).await?;
        let direct = start_gateway(mps).await?;
        guard.disarm();
        Ok(Stack {
            mps,
            rps,
            router,
            gateway_via_router: via_router.address,
            gateway_direct: direct.address,
            stop,
            broker,
            _running: (running_mps, running_router, vec![via_router, direct]),
            _dir: dir,
        })
    }

    pub fn stop(self) {
        self.stop.cancel();
        self.broker.close();
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(StdListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

async fn connected(config: broker::BusConfig) -> anyhow::Result<Bus> {
    let bus = Bus::connect(config).await?;
    bus.wait_connected(Duration::from_secs(10)).await?;
    Ok(bus)
}

/// MPS, announcing 127.0.0.1:<port> as its address on the bus.
async fn start_mps(
    broker: &EmbeddedBroker,
    dir: &std::path::Path,
    stop: &CancellationToken,
) -> anyhow::Result<mps::RunningMps> {
    let port = free_port()?;
    let config = mps::MpsConfig {
        port: 0,
        web_port: port,
        bind_address: "127.0.0.1".into(),
        jwt_secret: JWT_SECRET.into(),
        web_admin_user: "standalone".into(),
        web_admin_password: "G@ppm0ym".into(),
        secrets_provider: "local".into(),
        data_dir: dir.join("mps"),
        instance_name: "mps-bench".into(),
        instance_address: format!("127.0.0.1:{port}"),
        ..Default::default()
    };
    let mut deps = mps::MpsDeps::from_config(&config)?;
    let mut bus_config = mps::events::bus_config(
        &config,
        broker.url().parse()?,
        "mps",
        broker.credentials().password("mps").context("mps user")?,
    )?;
    bus_config.ca_pem = Some(broker.ca_pem().as_bytes().to_vec());
    bus_config.outbox = OutboxConfig::Memory;
    deps.bus = Some(connected(bus_config).await?);
    mps::start(config, deps, stop.clone()).await
}

async fn start_rps(dir: &std::path::Path, stop: &CancellationToken) -> anyhow::Result<SocketAddr> {
    let secrets = secrets::open(&secrets::SecretStoreConfig::Local {
        dir: dir.join("rps-secrets"),
    })?;
    let db = rps::Db::connect(&format!(
        "sqlite://{}?mode=rwc",
        dir.join("rps.db").display()
    ))
    .await?;
    let server = rps::RestServer::bind(SocketAddr::from(([127, 0, 0, 1], 0)), db, secrets).await?;
    let address = server.local_addr()?;
    let stop = stop.clone();
    tokio::spawn(server.run(async move { stop.cancelled().await }));
    Ok(address)
}

/// The router, once it has learnt the MPS from the bus.
async fn start_router(
    broker: &EmbeddedBroker,
    stop: &CancellationToken,
) -> anyhow::Result<crate::RunningRouter> {
    let mut config = broker::BusConfig::new(
        broker.url().parse()?,
        "router",
        broker
            .credentials()
            .password("router")
            .context("router user")?,
        "router-hops",
        "/openamt/bench/router",
    );
    config.ca_pem = Some(broker.ca_pem().as_bytes().to_vec());
    config.outbox = OutboxConfig::Memory;
    let router = crate::start(
        crate::RouterConfig::new(SocketAddr::from(([127, 0, 0, 1], 0))),
        connected(config).await?,
        stop.clone(),
    )
    .await?;
    for _ in 0..500 {
        if router.table.summary().instances_online == 1 {
            return Ok(router);
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    bail!("the router did not learn the MPS from the bus")
}

/// A login token as MPS issues it, valid for an hour.
pub(crate) fn login_token() -> anyhow::Result<String> {
    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)?
        .as_secs()
        + 3600;
    let claims = serde_json::json!({"tenantId": "", "iss": ISSUER, "deviceId": "*", "exp": exp});
    Ok(jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(JWT_SECRET.as_bytes())?,
    )?)
}

/// Devices in MPS's inventory and profiles in RPS, so the lists have realistic sizes.
pub(crate) async fn seed(stack: &Stack, devices: usize, profiles: usize) -> anyhow::Result<()> {
    for i in 0..devices {
        let body = serde_json::json!({
            "guid": format!("4c4c4544-0000-4000-8000-{i:012x}"),
            "hostname": format!("bench-host-{i:03}"),
            "friendlyName": format!("Bench PC {i}"),
            "tags": ["bench", "rack-7"],
        });
        let status = post(stack.mps, "/api/v1/devices", &body).await?;
        if status != 201 && status != 200 {
            bail!("seeding device {i}: MPS answered {status}");
        }
    }
    for i in 0..profiles {
        let body = serde_json::json!({"profileName": format!("bench-profile-{i:03}"), "activation": "ccmactivate",
            "generateRandomPassword": true, "dhcpEnabled": true, "tags": ["bench", "rack-7"]});
        let status = post(stack.rps, "/api/v1/admin/profiles", &body).await?;
        if status != 201 {
            bail!("seeding profile {i}: RPS answered {status}");
        }
    }
    Ok(())
}

async fn post(address: SocketAddr, path: &str, body: &serde_json::Value) -> anyhow::Result<u16> {
    use http_body_util::Full;
    let stream = tokio::net::TcpStream::connect(address).await?;
    let (mut sender, connection) =
        hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream)).await?;
    tokio::spawn(connection);
    let request = hyper::Request::post(path)
        .header("host", "localhost")
        .header("content-type", "application/json")
        .body(Full::new(bytes::Bytes::from(body.to_string())))?;
    Ok(sender.send_request(request).await?.status().as_u16())
}
