//! `openamt gateway`: serves kong/kong.yaml (or another declarative Kong file) over TLS: routes, JWT,
//! CORS and WebSocket pass-through, as Kong would.

use std::{collections::HashMap, net::SocketAddr, path::PathBuf};

use anyhow::Context;

use super::{DataDir, service};

#[derive(clap::Args)]
pub struct GatewayArgs {
    /// Address to listen on (TLS).
    #[arg(long, env = "OPENAMT_GATEWAY_LISTEN", default_value = "0.0.0.0:8443")]
    pub listen: SocketAddr,
    /// Declarative Kong configuration [default: the built-in kong/kong.yaml].
    #[arg(long, env = "OPENAMT_KONG_YAML")]
    pub kong_yaml: Option<PathBuf>,
    /// Where an upstream named in kong.yaml really is, as NAME:PORT=HOST:PORT (repeatable), e.g.
    /// mpsrouter:8003=127.0.0.1:8003.
    #[arg(
        long = "upstream",
        env = "OPENAMT_GATEWAY_UPSTREAMS",
        value_delimiter = ','
    )]
    pub upstreams: Vec<String>,
    /// Host names clients use (the certificate covers them).
    #[arg(
        long = "hostname",
        env = "OPENAMT_HOSTNAMES",
        value_delimiter = ',',
        default_value = "localhost,127.0.0.1"
    )]
    pub hostnames: Vec<String>,
    /// Serve plain HTTP (behind another TLS terminator).
    #[arg(long)]
    pub plain_http: bool,
    #[command(flatten)]
    pub data_dir: DataDir,
}

pub fn overrides(upstreams: &[String]) -> anyhow::Result<HashMap<String, String>> {
    upstreams
        .iter()
        .map(|pair| {
            let (name, address) = pair
                .split_once('=')
                .with_context(|| format!("--upstream {pair:?}: expected NAME:PORT=HOST:PORT"))?;
            Ok((name.to_owned(), address.to_owned()))
        })
        .collect()
}

pub async fn run(args: GatewayArgs) -> anyhow::Result<()> {
    let mut config = match &args.kong_yaml {
        Some(path) => gateway::GatewayConfig::from_file(args.listen, path)?,
        None => gateway::GatewayConfig {
            listen: args.listen,
            declarative: gateway::Declarative::parse(gateway::KONG_YAML)?,
            secrets: gateway::Resolver::from_environment(),
            upstream_overrides: HashMap::new(),
            tls: None,
        },
    };
    config.upstream_overrides = overrides(&args.upstreams)?;
    if !args.plain_http {
        config.tls = Some(gateway::tls::from_data_dir(
            &args.data_dir.path,
            &args.hostnames,
        )?);
    }
    Ok(gateway::serve(config, service::shutdown_on_signal()).await?)
}
