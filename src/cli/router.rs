//! `openamt router`: sends each device's REST and relay traffic to the MPS holding its tunnel, as the
//! retained presence on the bus says.

use std::net::SocketAddr;

use anyhow::Context;

use super::service;

#[derive(clap::Args)]
pub struct RouterArgs {
    /// Address to listen on.
    #[arg(long, env = "OPENAMT_ROUTER_LISTEN", default_value = "0.0.0.0:8003")]
    pub listen: SocketAddr,
    /// This router's name in its status topic (openamt/v1/router/<instance>/status).
    #[arg(long, env = "OPENAMT_ROUTER_INSTANCE", default_value = "router")]
    pub instance: String,
    #[command(flatten)]
    pub bus: service::ServiceBusArgs,
}

pub async fn run(args: RouterArgs) -> anyhow::Result<()> {
    let topics = schemas::Topics::default();
    let instance = args.instance.clone();
    let bus = args
        .bus
        .connect("router", None, |url, user, password| {
            let source = format!("/openamt/router/{instance}");
            let mut config =
                broker::BusConfig::new(url, user, password, &format!("router-{instance}"), &source);
            config.last_will = Some(router::last_will(&topics, &instance, &source)?);
            Ok(config)
        })
        .await?
        .context("the router learns where devices are from the broker: --mqtt-url is required")?;
    let mut config = router::RouterConfig::new(args.listen);
    config.instance = args.instance;
    let result = router::serve(config, bus.clone(), service::shutdown_on_signal()).await;
    service::close(Some(bus)).await;
    Ok(result?)
}
