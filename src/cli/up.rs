//! `openamt up`: everything in one process on embedded defaults.

use std::{net::SocketAddr, path::Path};

use broker::{EmbeddedBroker, EmbeddedBrokerConfig};

use super::DataDir;

#[derive(clap::Args)]
pub struct UpArgs {
    #[command(flatten)]
    pub data_dir: DataDir,
    /// Address of the MQTT listener (TLS).
    #[arg(long, env = "OPENAMT_MQTT_LISTEN", default_value = "0.0.0.0:8883")]
    pub mqtt_listen: SocketAddr,
    /// Host names and addresses clients use to reach this machine (added to its certificates).
    #[arg(
        long = "hostname",
        env = "OPENAMT_HOSTNAMES",
        value_delimiter = ',',
        default_value = "localhost,127.0.0.1"
    )]
    pub hostnames: Vec<String>,
}

pub async fn run(args: UpArgs) -> anyhow::Result<()> {
    let data_dir = &args.data_dir.path;
    std::fs::create_dir_all(data_dir)?;
    let first_start = !data_dir.join("ca.pem").exists();

    let mut broker_config = EmbeddedBrokerConfig::new(data_dir);
    broker_config.listen = args.mqtt_listen;
    broker_config.hosts = args.hostnames.clone();
    let broker = EmbeddedBroker::start(broker_config).await?;

    banner(data_dir, &broker, first_start);

    tokio::signal::ctrl_c().await?;
    eprintln!("shutting down");
    broker.close();
    Ok(())
}

fn banner(data_dir: &Path, broker: &EmbeddedBroker, first_start: bool) {
    let port = broker.address().port();
    let ca = broker.ca_path().display();
    let dashboard = broker
        .credentials()
        .password("dashboard")
        .unwrap_or_default();
    let greeting = if first_start {
        format!(
            "openamt is up (first start: certificates and credentials created in {})",
            data_dir.display()
        )
    } else {
        format!("openamt is up (state in {})", data_dir.display())
    };
    println!(
        "
{greeting}

  MQTT broker   mqtts://localhost:{port}   (MQTT 5 over TLS, CA {ca})
  credentials   {creds}   (one per service; `dashboard` is read-only)

  Watch the events:
    openamt events
    mosquitto_sub -V mqttv5 --cafile {ca} -h localhost -p {port} -u dashboard -P {dashboard} -t 'openamt/v1/#' -F '%t %P'

Ctrl-C stops everything.
",
        creds = data_dir.join("mqtt-credentials.json").display(),
    );
}
