//! RPS in the benchmarks' child process (`openamt bench rps-server ...`): REST alone, or REST and
//! the activation WebSocket with activation events through a broker, on free ports of
//! 127.0.0.1, until the parent closes its stdin.

use std::ffi::OsString;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use sim::bench::{ChildCommand, ChildProcess, ready_line, wait_for_stdin_close};
use tokio_util::sync::CancellationToken;

/// The environment variable that carries the broker password to the child (never its command
/// line, which any user of the machine can read).
pub const BROKER_PASSWORD_ENV: &str = "OPENAMT_BENCH_RPS_BROKER_PASSWORD";

#[derive(clap::ValueEnum, Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// REST and the activation WebSocket (`rps::start`).
    Activation,
    /// REST alone (`rps::RestServer`).
    Rest,
}

/// The child's flags.
#[derive(clap::Args, Clone, Debug)]
pub struct ServerArgs {
    #[arg(long, value_enum)]
    pub mode: Mode,
    /// RPS's database URL (SQLite or Postgres).
    #[arg(long)]
    pub db_url: String,
    /// Work directory: the local secret store, the outbox.
    #[arg(long)]
    pub dir: PathBuf,
    /// Broker URL for activation events (activation mode; none: no bus).
    #[arg(long)]
    pub broker: Option<String>,
    /// CA file of the broker's certificate.
    #[arg(long)]
    pub ca: Option<PathBuf>,
    /// REST read cache lifetime (0: every GET reads the database).
    #[arg(long, default_value_t = 1000)]
    pub cache_ttl_ms: u64,
}

impl ServerArgs {
    fn to_args(&self) -> Vec<OsString> {
        let mut args: Vec<OsString> = vec![
            "--mode".into(),
            match self.mode {
                Mode::Activation => "activation",
                Mode::Rest => "rest",
            }
            .into(),
            "--db-url".into(),
            self.db_url.clone().into(),
            "--dir".into(),
            self.dir.clone().into(),
            "--cache-ttl-ms".into(),
            self.cache_ttl_ms.to_string().into(),
        ];
        if let Some(broker) = &self.broker {
            args.extend(["--broker".into(), broker.into()]);
        }
        if let Some(ca) = &self.ca {
            args.extend(["--ca".into(), ca.clone().into()]);
        }
        args
    }

    /// Starts the child; its `READY` line has the REST address, then the activation address.
    pub(crate) async fn spawn(
        &self,
        command: &ChildCommand,
        broker_password: Option<String>,
    ) -> anyhow::Result<ChildProcess> {
        let env: Vec<(&str, String)> = broker_password
            .map(|p| (BROKER_PASSWORD_ENV, p))
            .into_iter()
            .collect();
        command.spawn(&self.to_args(), &env).await
    }
}

/// The child's `main`.
pub async fn serve(args: ServerArgs) -> anyhow::Result<()> {
    let db = crate::Db::connect(&args.db_url).await?;
    let secrets = secrets::open(&secrets::SecretStoreConfig::Local {
        dir: args.dir.join("secrets"),
    })?;
    match args.mode {
        Mode::Rest => {
            let server = crate::RestServer::bind(([127, 0, 0, 1], 0).into(), db, secrets)
                .await?
                .cache_ttl(Duration::from_millis(args.cache_ttl_ms));
            ready_line(&[server.local_addr()?.to_string()])?;
            server.run(wait_for_stdin_close()).await?;
        }
        Mode::Activation => activation(args, db, secrets).await?,
    }
    Ok(())
}

async fn activation(
    args: ServerArgs,
    db: crate::Db,
    secrets: Arc<dyn secrets::SecretStore>,
) -> anyhow::Result<()> {
    let bus = match &args.broker {
        Some(url) => {
            let password = std::env::var(BROKER_PASSWORD_ENV).unwrap_or_default();
            let mut config = broker::BusConfig::new(
                url.parse()?,
                "rps",
                &password,
                "rps-bench",
                "/openamt/rps/bench",
            );
            let ca = args.ca.as_ref().context("--broker needs --ca")?;
            config.ca_pem =
                Some(std::fs::read(ca).with_context(|| format!("reading {}", ca.display()))?);
            // A durable outbox, as in production.
            config.outbox = broker::OutboxConfig::File(args.dir.join("outbox"));
            let bus = broker::Bus::connect(config).await?;
            bus.wait_connected(Duration::from_secs(10)).await?;
            Some(bus)
        }
        None => None,
    };
    let config = crate::RpsConfig {
        web_host: [127, 0, 0, 1].into(),
        web_port: 0,
        websocketport: 0,
        // Simulated devices need none of the waits the reference builds in for real firmware.
        delay_activation_sync: Some(0),
        delay_tls_timer: 0,
        delay_setup_and_config_sync: 0,
        rest_cache_ttl_ms: args.cache_ttl_ms,
        ..crate::RpsConfig::default()
    };
    let shutdown = CancellationToken::new();
    let running = crate::start(
        &config,
        crate::RpsDeps {
            db,
            secrets,
            bus: bus.clone(),
        },
        shutdown.clone(),
    )
    .await?;
    ready_line(&[
        running.rest_addr.to_string(),
        running.activation_addr.to_string(),
    ])?;
    wait_for_stdin_close().await;
    shutdown.cancel();
    running.wait().await?;
    if let Some(bus) = bus {
        bus.shutdown(Duration::from_secs(5)).await;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        server: ServerArgs,
    }

    #[test]
    fn the_child_parses_what_the_parent_passes() {
        let args = ServerArgs {
            mode: Mode::Activation,
            db_url: "sqlite://x.db?mode=rwc".into(),
            dir: "/tmp/w".into(),
            broker: Some("mqtts://127.0.0.1:8883".into()),
            ca: Some("/tmp/ca.pem".into()),
            cache_ttl_ms: 0,
        };
        let parsed =
            Cli::try_parse_from(std::iter::once(OsString::from("x")).chain(args.to_args()))
                .unwrap()
                .server;
        assert_eq!(parsed.mode, Mode::Activation);
        assert_eq!(parsed.db_url, args.db_url);
        assert_eq!(parsed.broker, args.broker);
        assert_eq!(parsed.ca, args.ca);
        assert_eq!(parsed.cache_ttl_ms, 0);
        assert!(
            !args
                .to_args()
                .iter()
                .any(|a| a.to_string_lossy().contains("password"))
        );
    }
}
