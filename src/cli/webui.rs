//! `openamt webui`: the web UI and its live event stream (port 80, behind the gateway's `/` route).

use std::net::SocketAddr;

use anyhow::Context;

use super::service;

#[derive(clap::Args)]
pub struct WebuiArgs {
    /// Address to listen on.
    #[arg(long, env = "WEBUI_LISTEN", default_value = "0.0.0.0:80")]
    pub listen: SocketAddr,
    /// MPS as the browser reaches it: `/mps` behind the gateway, or an absolute URL.
    #[arg(long, env = "MPS_SERVER", default_value = "/mps")]
    pub mps_server: String,
    /// RPS as the browser reaches it: `/rps` behind the gateway, or an absolute URL.
    #[arg(long, env = "RPS_SERVER", default_value = "/rps")]
    pub rps_server: String,
    /// MPS's JWT signing secret: the event stream accepts only login tokens MPS signed.
    #[arg(long, env = "MPS_JWT_SECRET", hide_env_values = true)]
    pub jwt_secret: String,
    /// MPS's JWT issuer.
    #[arg(
        long,
        env = "MPS_JWT_ISSUER",
        default_value = "9EmRJTbIiIb4bIeSsmgcWIjrR6HyETqc"
    )]
    pub jwt_issuer: String,
    /// This server's name in its status topic.
    #[arg(long, env = "WEBUI_INSTANCE", default_value = "webui")]
    pub instance: String,
    #[command(flatten)]
    pub bus: service::ServiceBusArgs,
}

pub async fn run(args: WebuiArgs) -> anyhow::Result<()> {
    let topics = schemas::Topics::default();
    let instance = args.instance.clone();
    let bus = args
        .bus
        .connect("webui", None, |url, user, password| {
            let source = format!("/openamt/webui/{instance}");
            let mut config =
                broker::BusConfig::new(url, user, password, &format!("webui-{instance}"), &source);
            config.last_will = Some(webui::last_will(&topics, &instance, &source)?);
            // A live view: nothing to keep across restarts.
            config.session_expiry = std::time::Duration::ZERO;
            Ok(config)
        })
        .await?
        .context("the web UI shows the fleet from the broker: --mqtt-url is required")?;
    let config = webui::WebuiConfig {
        listen: args.listen,
        mps_server: args.mps_server,
        rps_server: args.rps_server,
        jwt_secret: args.jwt_secret,
        jwt_issuer: args.jwt_issuer,
        instance: args.instance,
        ..Default::default()
    };
    let result = webui::serve(config, bus.clone(), service::shutdown_on_signal()).await;
    service::close(Some(bus)).await;
    Ok(result?)
}
