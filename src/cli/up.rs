//! `openamt up`: every service in one process on embedded defaults — the MQTT broker, MPS, RPS, the
//! router and the gateway serving kong/kong.yaml — with all state in one data directory, so a restart
//! finds the devices, profiles, secrets and certificates where it left them.

use std::{collections::HashMap, net::SocketAddr, path::Path, sync::Arc, time::Duration};

use anyhow::Context;
use broker::{Bus, BusConfig, EmbeddedBroker, EmbeddedBrokerConfig, OutboxConfig};
use serde::{Deserialize, Serialize};

use super::{DataDir, layered, service};

#[derive(clap::Args)]
pub struct UpArgs {
    #[command(flatten)]
    pub data_dir: DataDir,
    /// Address of the MQTT listener (TLS).
    #[arg(long, env = "OPENAMT_MQTT_LISTEN", default_value = "0.0.0.0:8883")]
    pub mqtt_listen: SocketAddr,
    /// Address of the gateway (HTTPS): the web UI and the Open AMT APIs.
    #[arg(long, env = "OPENAMT_GATEWAY_LISTEN", default_value = "0.0.0.0:8443")]
    pub gateway_listen: SocketAddr,
    /// Address of the MPS router.
    #[arg(long, env = "OPENAMT_ROUTER_LISTEN", default_value = "127.0.0.1:8003")]
    pub router_listen: SocketAddr,
    /// Address of the web UI server (browsers use the gateway; port 0 picks a free one).
    #[arg(long, env = "WEBUI_LISTEN", default_value = "127.0.0.1:0")]
    pub webui_listen: SocketAddr,
    /// Host names and addresses clients use to reach this machine (added to its certificates).
    #[arg(
        long = "hostname",
        env = "OPENAMT_HOSTNAMES",
        value_delimiter = ',',
        default_value = "localhost,127.0.0.1"
    )]
    pub hostnames: Vec<String>,
    /// Do not let devices enrol with the generated global CIRA credentials (only devices RPS activated
    /// may connect).
    #[arg(long, env = "OPENAMT_NO_ENROLMENT")]
    pub no_enrolment: bool,
}

/// Secrets `openamt up` makes on first start and keeps in the data directory (readable by its owner).
#[derive(Serialize, Deserialize)]
struct Installation {
    jwt_secret: String,
    web_admin_user: String,
    web_admin_password: String,
}

/// The global CIRA credentials simulated (or real) devices may enrol with; `openamt sim cira` reads
/// them from the same file.
#[derive(Serialize, Deserialize)]
struct Enrolment {
    username: String,
    password: String,
    amt_password: String,
}

fn random(len: usize) -> String {
    use rand::{Rng, distr::Alphanumeric};
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

/// Reads a JSON file made on an earlier start, or makes it now.
fn load_or_make<T: Serialize + serde::de::DeserializeOwned>(
    path: &Path,
    make: impl FnOnce() -> T,
) -> anyhow::Result<T> {
    if let Ok(text) = std::fs::read_to_string(path) {
        return serde_json::from_str(&text)
            .with_context(|| format!("{} is damaged", path.display()));
    }
    let value = make();
    write_private(path, &serde_json::to_string_pretty(&value)?)?;
    Ok(value)
}

fn write_private(path: &Path, contents: &str) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options
        .open(path)
        .with_context(|| format!("cannot write {}", path.display()))?;
    file.write_all(contents.as_bytes())?;
    Ok(())
}

/// A bus client of one embedded service, with its outbox in the data directory.
fn bus_config(
    broker: &EmbeddedBroker,
    data_dir: &Path,
    user: &str,
    mut config: BusConfig,
) -> BusConfig {
    config.ca_pem = Some(broker.ca_pem().as_bytes().to_vec());
    config.outbox = OutboxConfig::File(data_dir.join("outbox").join(user));
    config
}

fn broker_password(broker: &EmbeddedBroker, user: &str) -> anyhow::Result<String> {
    broker
        .credentials()
        .password(user)
        .map(str::to_owned)
        .with_context(|| format!("no broker credential for {user}"))
}

fn local_url(address: SocketAddr) -> String {
    let port = address.port();
    if address.ip().is_unspecified() || address.ip().is_loopback() {
        format!("localhost:{port}")
    } else {
        address.to_string()
    }
}

pub async fn run(args: UpArgs) -> anyhow::Result<()> {
    let data_dir = &args.data_dir.path;
    std::fs::create_dir_all(data_dir)?;
    let first_start = !data_dir.join("ca.pem").exists();
    let shutdown = service::shutdown_on_signal();

    // The broker first: every service publishes through it.
    let mut broker_config = EmbeddedBrokerConfig::new(data_dir);
    broker_config.listen = args.mqtt_listen;
    broker_config.hosts = args.hostnames.clone();
    let broker = EmbeddedBroker::start(broker_config).await?;
    let broker_url: broker::BrokerUrl = broker.url().parse()?;

    let installation = load_or_make(&data_dir.join("installation.json"), || Installation {
        jwt_secret: random(48),
        web_admin_user: "admin".into(),
        web_admin_password: random(16),
    })?;
    let enrolment = if args.no_enrolment {
        None
    } else {
        Some(load_or_make(
            &data_dir.join(sim::cli_cira::ENROLMENT_FILE),
            || Enrolment {
                username: format!("enrol-{}", random(6).to_lowercase()),
                password: random(20),
                // AMT asks for upper, lower, digit and symbol.
                amt_password: format!("Amt!{}7x", random(10)),
            },
        )?)
    };
    let secret_store = secrets::open(&secrets::SecretStoreConfig::Local {
        dir: data_dir.join("secrets"),
    })?;

    // MPS: CIRA on 4433, REST and relay on 3000 (MPS_* variables still apply).
    let mut mps_config: mps::MpsConfig = layered::load("MPS", &data_dir.join(".mpsrc"))?;
    mps_config.data_dir = data_dir.clone();
    mps_config.secrets_provider = "local".into();
    if mps_config.connection_string.is_empty()
        || std::env::var_os("MPS_CONNECTION_STRING").is_none()
    {
        mps_config.connection_string = format!(
            "sqlite://{}?mode=rwc",
            data_dir.join("mps.sqlite").display()
        );
    }
    mps_config.jwt_secret = installation.jwt_secret.clone();
    mps_config.web_admin_user = installation.web_admin_user.clone();
    mps_config.web_admin_password = installation.web_admin_password.clone();
    mps_config.instance_name = "mps".into();
    if std::env::var_os("MPS_COMMON_NAME").is_none()
        && let Some(name) = args.hostnames.first()
    {
        // The name devices dial for CIRA; the certificate covers it (and loopback).
        mps_config.common_name = name.clone();
    }
    // MPS's REST port does not check the login JWT (the gateway does, as Kong does for the
    // reference), so it stays on loopback; CIRA listens on every interface.
    if std::env::var_os("MPS_WEB_BIND_ADDRESS").is_none() {
        mps_config.web_bind_address = "127.0.0.1".into();
    }
    // The router (in this process) reaches MPS on loopback.
    mps_config.instance_address = format!("127.0.0.1:{}", mps_config.web_port);
    mps_config.global_cira_credentials = enrolment.as_ref().map(|e| mps::GlobalCiraCredentials {
        username: e.username.clone(),
        password: e.password.clone(),
        amt_password: Some(e.amt_password.clone()),
    });
    let mps_bus = Bus::connect(bus_config(
        &broker,
        data_dir,
        "mps",
        mps::events::bus_config(
            &mps_config,
            broker_url.clone(),
            "mps",
            &broker_password(&broker, "mps")?,
        )?,
    ))
    .await?;
    let mps = mps::start(
        mps_config.clone(),
        mps::MpsDeps {
            secrets: Arc::clone(&secret_store),
            bus: Some(mps_bus),
        },
        shutdown.clone(),
    )
    .await
    .context("starting MPS")?;
    if let Some(certs) = mps.mps.certs() {
        // Devices trust this root for the MPS certificate (openamt sim cira reads it).
        std::fs::write(
            data_dir.join(sim::cli_cira::MPS_ROOT_FILE),
            &certs.root_cert_pem,
        )?;
    }

    // RPS: activation on 8080, REST on 8081 (RPS_* variables still apply).
    let mut rps_config: rps::RpsConfig = layered::load("RPS", &data_dir.join(".rpsrc"))?;
    if std::env::var_os("RPS_CONNECTION_STRING").is_none() {
        rps_config.connection_string = format!(
            "sqlite://{}?mode=rwc",
            data_dir.join("rps.sqlite").display()
        );
    }
    rps_config.secrets_provider = "local".into();
    rps_config.secrets_dir = data_dir.join("secrets");
    // Devices activate and users administer through the gateway (/activate, /rps): RPS itself stays on
    // loopback, like MPS's REST port.
    if std::env::var_os("RPS_WEB_HOST").is_none() {
        rps_config.web_host = std::net::Ipv4Addr::LOCALHOST.into();
    }
    let rps_bus = Bus::connect(bus_config(
        &broker,
        data_dir,
        "rps",
        rps::bus::bus_config(
            &rps_config,
            broker_url.clone(),
            "rps",
            &broker_password(&broker, "rps")?,
        )?,
    ))
    .await?;
    let rps = rps::start(
        &rps_config,
        rps::RpsDeps {
            db: rps::Db::connect(&rps_config.connection_string)
                .await
                .context("opening the RPS database")?,
            secrets: Arc::clone(&secret_store),
            bus: Some(rps_bus.clone()),
        },
        shutdown.clone(),
    )
    .await
    .context("starting RPS")?;

    // The router learns from the broker which MPS holds which device.
    let topics = schemas::Topics::default();
    let router_source = "/openamt/router/router";
    let mut router_bus_config = BusConfig::new(
        broker_url.clone(),
        "router",
        &broker_password(&broker, "router")?,
        "router-router",
        router_source,
    );
    router_bus_config.last_will = Some(router::last_will(&topics, "router", router_source)?);
    let router_bus =
        Bus::connect(bus_config(&broker, data_dir, "router", router_bus_config)).await?;
    let mut router_config = router::RouterConfig::new(args.router_listen);
    router_config.instance = "router".into();
    let router = router::start(router_config, router_bus.clone(), shutdown.clone()).await?;

    // The web UI, on loopback: browsers reach it through the gateway.
    let webui_source = "/openamt/webui/webui";
    let mut webui_bus_config = BusConfig::new(
        broker_url.clone(),
        "webui",
        &broker_password(&broker, "webui")?,
        "webui-webui",
        webui_source,
    );
    webui_bus_config.last_will = Some(webui::last_will(&topics, "webui", webui_source)?);
    webui_bus_config.session_expiry = Duration::ZERO;
    let webui_bus = Bus::connect(bus_config(&broker, data_dir, "webui", webui_bus_config)).await?;
    let webui = webui::start(
        webui::WebuiConfig {
            listen: args.webui_listen,
            jwt_secret: installation.jwt_secret.clone(),
            jwt_issuer: mps_config.jwt_issuer.clone(),
            ..Default::default()
        },
        webui_bus.clone(),
        shutdown.clone(),
    )
    .await?;

    // The gateway serves the very kong.yaml Kong serves in production, pointed at this process.
    let loopback = |address: SocketAddr| format!("127.0.0.1:{}", address.port());
    let upstreams: HashMap<String, String> = [
        ("mpsrouter:8003", loopback(router.address)),
        ("mps-1:3000", loopback(mps.rest_addr)),
        ("mps-2:3000", loopback(mps.rest_addr)),
        ("mps:3000", loopback(mps.rest_addr)),
        ("rps:8081", loopback(rps.rest_addr)),
        ("rps:8080", loopback(rps.activation_addr)),
        ("webui:80", loopback(webui.addr)),
    ]
    .into_iter()
    .map(|(name, address)| (name.to_owned(), address))
    .collect();
    let mut resolver = gateway::Resolver::from_environment();
    resolver.set("mps-jwt-secret", &installation.jwt_secret);
    let gateway = gateway::start(
        gateway::GatewayConfig {
            listen: args.gateway_listen,
            declarative: gateway::Declarative::parse(gateway::KONG_YAML)?,
            secrets: resolver,
            upstream_overrides: upstreams,
            tls: Some(gateway::tls::from_data_dir(data_dir, &args.hostnames)?),
        },
        shutdown.clone(),
    )
    .await?;

    banner(&Banner {
        data_dir,
        first_start,
        broker: &broker,
        gateway: gateway.address,
        cira: mps.cira_addr,
        installation: &installation,
        enrolment: enrolment.as_ref(),
    });

    shutdown.cancelled().await;
    // Services stop first (MPS takes its devices offline and leaves the bus), then the rest leave the
    // bus with their outboxes drained, then the broker closes.
    let stopped = tokio::time::timeout(Duration::from_secs(15), async {
        let _ = mps.wait().await;
        let _ = rps.wait().await;
        router.wait().await;
        let _ = webui.wait().await;
        gateway.wait().await;
    })
    .await;
    if stopped.is_err() {
        tracing::warn!("some services did not stop within 15 s");
    }
    rps_bus.shutdown(Duration::from_secs(5)).await;
    router_bus.shutdown(Duration::from_secs(5)).await;
    webui_bus.shutdown(Duration::from_secs(5)).await;
    broker.close();
    Ok(())
}

struct Banner<'a> {
    data_dir: &'a Path,
    first_start: bool,
    broker: &'a EmbeddedBroker,
    gateway: SocketAddr,
    cira: SocketAddr,
    installation: &'a Installation,
    enrolment: Option<&'a Enrolment>,
}

fn banner(b: &Banner) {
    let data = b.data_dir.display();
    let greeting = if b.first_start {
        format!(
            "openamt is up (first start: certificates, credentials and secrets created in {data})"
        )
    } else {
        format!("openamt is up (state in {data})")
    };
    let password = if b.first_start {
        b.installation.web_admin_password.clone()
    } else {
        format!("(in {})", b.data_dir.join("installation.json").display())
    };
    let gateway = local_url(b.gateway);
    let mqtt_port = b.broker.address().port();
    let dashboard = b
        .broker
        .credentials()
        .password("dashboard")
        .unwrap_or_default();
    let ca = b.broker.ca_path().display();
    let devices = match b.enrolment {
        Some(_) => format!(
            "  Simulated devices (enrol on first connect with the credentials in {}):
    openamt sim cira --mps {} --devices 10",
            b.data_dir.join(sim::cli_cira::ENROLMENT_FILE).display(),
            local_url(b.cira)
        ),
        None => "  Devices connect once RPS has activated them (enrolment without RPS is off)."
            .to_owned(),
    };
    println!(
        "
{greeting}

  Web UI and APIs   https://{gateway}/   (CA {ca})
  Login             {user} / {password}
  CIRA (devices)    {cira}
  MQTT broker       mqtts://localhost:{mqtt_port}   (credentials in {creds}; `dashboard` is read-only)

{devices}
  Activation through RPS:
    openamt sim activate --rps-url wss://{gateway}/activate --ca {ca} --profile <profile> --devices 10

  Watch the events:
    openamt events
    mosquitto_sub -V mqttv5 --cafile {ca} -h localhost -p {mqtt_port} -u dashboard -P {dashboard} -t 'openamt/v1/#' -F '%t %P'

Ctrl-C stops everything.
",
        user = b.installation.web_admin_user,
        cira = local_url(b.cira),
        creds = b.data_dir.join("mqtt-credentials.json").display(),
    );
}
