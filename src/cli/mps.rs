//! `openamt mps`: the Management Presence Server alone (CIRA on 4433, REST and relay on 3000).

use std::path::PathBuf;

use anyhow::Context;

use super::{layered, service};

#[derive(clap::Args)]
pub struct MpsArgs {
    /// Settings in the reference's `.mpsrc` JSON form; `MPS_<KEY>` environment variables override them
    /// (e.g. MPS_WEB_PORT, MPS_JWT_SECRET, MPS_CONNECTION_STRING, MPS_SECRETS_PROVIDER).
    #[arg(long, env = "OPENAMT_MPS_CONFIG", default_value = ".mpsrc")]
    pub config: PathBuf,
    #[command(flatten)]
    pub bus: service::ServiceBusArgs,
}

pub async fn run(args: MpsArgs) -> anyhow::Result<()> {
    let config: mps::MpsConfig = layered::load("MPS", &args.config)?;
    config.validate().map_err(anyhow::Error::msg)?;
    let mut deps = mps::MpsDeps::from_config(&config)?;
    let mut bus_args = args.bus.clone();
    if bus_args.url.is_none() && !config.mqtt_address.is_empty() {
        // The reference's MPS_MQTT_ADDRESS names the broker too.
        bus_args.url = Some(config.mqtt_address.parse().context("MPS_MQTT_ADDRESS")?);
    }
    deps.bus = bus_args
        .connect(
            "mps",
            Some(&config.database_url()),
            |url, user, password| Ok(mps::events::bus_config(&config, url, user, password)?),
        )
        .await?;
    // MPS leaves the bus itself at shutdown, after taking its devices offline.
    mps::serve(config, deps, service::shutdown_on_signal()).await
}
