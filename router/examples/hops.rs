//! What each hop costs: requests per second and p99 latency (wrk) for `GET /mps/api/v1/devices` and
//! `GET /rps/api/v1/admin/profiles`, straight to MPS and RPS, through the router, and through the
//! gateway (TLS, JWT check, kong.yaml routing) with and without the router behind it.
//!
//! ```text
//! apt-get install -y wrk
//! cargo run --release -p router --example hops -- [--seconds 10] [--connections 50] [--devices 25] [--profiles 25]
//! ```
//!
//! Everything runs in this one process on embedded defaults (SQLite, local secret store, the embedded
//! broker): the real MPS and RPS REST servers, the router (which learns the MPS from the bus) and the
//! embedded gateway serving kong/kong.yaml. wrk runs beside it on the same two cores, so the figures
//! compare hops with each other; they are not the capacity of a dedicated machine.

use std::{
    collections::HashMap,
    net::{SocketAddr, TcpListener as StdListener},
    process::Command,
    time::Duration,
};

use anyhow::{Context, bail};
use broker::{BrokerUrl, Bus, EmbeddedBroker, EmbeddedBrokerConfig, OutboxConfig};
use tokio_util::sync::CancellationToken;

const JWT_SECRET: &str = "hops-bench-secret";
const ISSUER: &str = "9EmRJTbIiIb4bIeSsmgcWIjrR6HyETqc";

fn arg(args: &[String], name: &str, default: &str) -> String {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
        .unwrap_or_else(|| default.to_owned())
}

fn free_port() -> anyhow::Result<u16> {
    Ok(StdListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let args: Vec<String> = std::env::args().collect();
    let seconds: u64 = arg(&args, "--seconds", "10").parse()?;
    let connections: u64 = arg(&args, "--connections", "50").parse()?;
    let devices: usize = arg(&args, "--devices", "25").parse()?;
    let profiles: usize = arg(&args, "--profiles", "25").parse()?;
    if Command::new("wrk").arg("--version").output().is_err() {
        bail!("wrk is not installed (apt-get install -y wrk)");
    }
    let stop = CancellationToken::new();
    let _stop_on_exit = stop.clone().drop_guard();
    let dir = tempfile::tempdir()?;

    // The broker the MPS announces itself on and the router learns from.
    let mut broker_config = EmbeddedBrokerConfig::new(&dir.path().join("broker"));
    broker_config.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    let broker = EmbeddedBroker::start(broker_config).await?;
    let bus_for = |user: &str| -> anyhow::Result<broker::BusConfig> {
        let url: BrokerUrl = broker.url().parse()?;
        let mut config = broker::BusConfig::new(
            url,
            user,
            broker.credentials().password(user).context("broker user")?,
            &format!("{user}-hops"),
            &format!("/openamt/bench/{user}"),
        );
        config.ca_pem = Some(broker.ca_pem().as_bytes().to_vec());
        config.outbox = OutboxConfig::Memory;
        Ok(config)
    };

    // MPS, announcing 127.0.0.1:<port> as its address.
    let mps_port = free_port()?;
    let mps_config = mps::MpsConfig {
        port: 0,
        web_port: mps_port,
        bind_address: "127.0.0.1".into(),
        jwt_secret: JWT_SECRET.into(),
        web_admin_user: "standalone".into(),
        web_admin_password: "G@ppm0ym".into(),
        secrets_provider: "local".into(),
        data_dir: dir.path().join("mps"),
        instance_name: "mps-bench".into(),
        instance_address: format!("127.0.0.1:{mps_port}"),
        ..Default::default()
    };
    let mut deps = mps::MpsDeps::from_config(&mps_config)?;
    let mut mps_bus_config = mps::events::bus_config(
        &mps_config,
        broker.url().parse()?,
        "mps",
        broker.credentials().password("mps").context("mps user")?,
    )?;
    mps_bus_config.ca_pem = Some(broker.ca_pem().as_bytes().to_vec());
    mps_bus_config.outbox = OutboxConfig::Memory;
    deps.bus = Some(connected(mps_bus_config).await?);
    let mps = mps::start(mps_config, deps, stop.clone()).await?;
    let mps_address = mps.rest_addr;

    // RPS REST.
    let rps_secrets = secrets::open(&secrets::SecretStoreConfig::Local {
        dir: dir.path().join("rps-secrets"),
    })?;
    let db = rps::Db::connect(&format!(
        "sqlite://{}?mode=rwc",
        dir.path().join("rps.db").display()
    ))
    .await?;
    let rps_server =
        rps::RestServer::bind(SocketAddr::from(([127, 0, 0, 1], 0)), db, rps_secrets).await?;
    let rps_address = rps_server.local_addr()?;
    let rps_stop = stop.clone();
    tokio::spawn(rps_server.run(async move { rps_stop.cancelled().await }));

    // The router, learning the MPS from the bus.
    let router = router::start(
        router::RouterConfig::new(SocketAddr::from(([127, 0, 0, 1], 0))),
        connected(bus_for("router")?).await?,
        stop.clone(),
    )
    .await?;
    for _ in 0..500 {
        if router.table.summary().instances_online == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    if router.table.summary().instances_online != 1 {
        bail!("the router did not learn the MPS from the bus");
    }

    // The gateway serving kong.yaml over TLS: once with the router behind /mps, once without.
    let hosts = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
    let tls = gateway::tls::from_data_dir(&dir.path().join("gateway"), &hosts)?;
    let kong = gateway::Declarative::parse(gateway::KONG_YAML)?;
    let start_gateway = |mps_rest: SocketAddr| {
        let mut secrets = gateway::Resolver::default();
        secrets.set("mps-jwt-secret", JWT_SECRET);
        let config = gateway::GatewayConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            declarative: kong.clone(),
            secrets,
            upstream_overrides: HashMap::from([
                ("mpsrouter:8003".to_owned(), mps_rest.to_string()),
                ("mps:3000".to_owned(), mps_address.to_string()),
                ("rps:8081".to_owned(), rps_address.to_string()),
            ]),
            tls: Some(tls.clone()),
        };
        let stop = stop.clone();
        async move { anyhow::Ok(gateway::start(config, stop).await?) }
    };
    let via_router = start_gateway(router.address).await?;
    let via_nothing = start_gateway(mps_address).await?;

    seed(mps_address, rps_address, devices, profiles).await?;
    let token = login_token()?;
    let auth = format!("Authorization: Bearer {token}");

    println!(
        "hops: wrk -t1 -c{connections} -d{seconds}s, {devices} devices, {profiles} profiles; all services and wrk share this machine's cores\n"
    );
    println!("| request | path | req/s | p50 | p99 |");
    println!("|---|---|---|---|---|");
    let rows: Vec<(&str, &str, String, bool)> = vec![
        (
            "GET /mps/api/v1/devices",
            "MPS directly",
            format!("http://{mps_address}/api/v1/devices"),
            false,
        ),
        (
            "GET /mps/api/v1/devices",
            "router → MPS",
            format!("http://{}/api/v1/devices", router.address),
            false,
        ),
        (
            "GET /mps/api/v1/devices",
            "gateway (TLS, JWT) → MPS",
            format!(
                "https://localhost:{}/mps/api/v1/devices",
                via_nothing.address.port()
            ),
            true,
        ),
        (
            "GET /mps/api/v1/devices",
            "gateway (TLS, JWT) → router → MPS",
            format!(
                "https://localhost:{}/mps/api/v1/devices",
                via_router.address.port()
            ),
            true,
        ),
        (
            "GET /rps/api/v1/admin/profiles",
            "RPS directly",
            format!("http://{rps_address}/api/v1/admin/profiles"),
            false,
        ),
        (
            "GET /rps/api/v1/admin/profiles",
            "gateway (TLS, JWT) → RPS",
            format!(
                "https://localhost:{}/rps/api/v1/admin/profiles",
                via_router.address.port()
            ),
            true,
        ),
    ];
    for (request, path, url, with_token) in rows {
        let result = wrk(
            &url,
            with_token.then_some(auth.as_str()),
            connections,
            seconds,
        )?;
        println!(
            "| {request} | {path} | {:.0} | {} | {} |",
            result.requests_per_second, result.p50, result.p99
        );
    }
    stop.cancel();
    broker.close();
    Ok(())
}

async fn connected(config: broker::BusConfig) -> anyhow::Result<Bus> {
    let bus = Bus::connect(config).await?;
    bus.wait_connected(Duration::from_secs(10)).await?;
    Ok(bus)
}

fn login_token() -> anyhow::Result<String> {
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
async fn seed(
    mps: SocketAddr,
    rps: SocketAddr,
    devices: usize,
    profiles: usize,
) -> anyhow::Result<()> {
    for i in 0..devices {
        let body = serde_json::json!({
            "guid": format!("4c4c4544-0000-4000-8000-{i:012x}"),
            "hostname": format!("bench-host-{i:03}"),
            "friendlyName": format!("Bench PC {i}"),
            "tags": ["bench", "rack-7"],
        });
        let status = post(mps, "/api/v1/devices", &body).await?;
        if status != 201 && status != 200 {
            bail!("seeding device {i}: MPS answered {status}");
        }
    }
    for i in 0..profiles {
        let body = serde_json::json!({"profileName": format!("bench-profile-{i:03}"), "activation": "ccmactivate",
            "generateRandomPassword": true, "dhcpEnabled": true, "tags": ["bench", "rack-7"]});
        let status = post(rps, "/api/v1/admin/profiles", &body).await?;
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

struct WrkResult {
    requests_per_second: f64,
    p50: String,
    p99: String,
}

/// Runs wrk and reads its summary; any non-2xx answer makes the run invalid.
fn wrk(
    url: &str,
    header: Option<&str>,
    connections: u64,
    seconds: u64,
) -> anyhow::Result<WrkResult> {
    let mut command = Command::new("wrk");
    command.args([
        "-t1",
        &format!("-c{connections}"),
        &format!("-d{seconds}s"),
        "--latency",
    ]);
    if let Some(header) = header {
        command.args(["-H", header]);
    }
    let output = command.arg(url).output().context("running wrk")?;
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    if !output.status.success() {
        bail!(
            "wrk failed on {url}: {text}{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    if let Some(line) = text.lines().find(|l| l.contains("Non-2xx")) {
        bail!("{url}: {}", line.trim());
    }
    let field = |prefix: &str| {
        text.lines()
            .map(str::trim)
            .find_map(|l| l.strip_prefix(prefix))
            .map(|v| v.trim().to_owned())
            .with_context(|| format!("no {prefix:?} in wrk's output:\n{text}"))
    };
    Ok(WrkResult {
        requests_per_second: field("Requests/sec:")?.parse()?,
        p50: field("50%")?,
        p99: field("99%")?,
    })
}
