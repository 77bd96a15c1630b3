//! `openamt rps`: the Remote Provisioning Server alone (activation WebSocket on 8080, REST on 8081).

use std::{path::PathBuf, sync::Arc};

use anyhow::Context;

use super::{layered, service};

#[derive(clap::Args)]
pub struct RpsArgs {
    /// Settings in the reference's `.rpsrc` JSON form; `RPS_<KEY>` environment variables override them
    /// (e.g. RPS_CONNECTION_STRING, RPS_VAULT_ADDRESS, RPS_DELAY_TIMER).
    #[arg(long, env = "OPENAMT_RPS_CONFIG", default_value = ".rpsrc")]
    pub config: PathBuf,
    #[command(flatten)]
    pub bus: service::ServiceBusArgs,
}

pub async fn run(args: RpsArgs) -> anyhow::Result<()> {
    let config: rps::RpsConfig = layered::load("RPS", &args.config)?;
    let db = rps::Db::connect(&config.connection_string)
        .await
        .context("opening the RPS database")?;
    let secrets = secrets::open(&config.secret_store()).context("opening the secret store")?;
    let mut bus_args = args.bus.clone();
    if bus_args.url.is_none() && !config.mqtt_address.is_empty() {
        bus_args.url = Some(config.mqtt_address.parse().context("RPS_MQTT_ADDRESS")?);
    }
    let bus = bus_args
        .connect(
            "rps",
            Some(&config.connection_string),
            |url, user, password| Ok(rps::bus::bus_config(&config, url, user, password)?),
        )
        .await?;
    let deps = rps::RpsDeps {
        db,
        secrets: Arc::clone(&secrets),
        bus: bus.clone(),
    };
    let result = rps::serve(&config, deps, service::shutdown_on_signal()).await;
    service::close(bus).await;
    result
}
