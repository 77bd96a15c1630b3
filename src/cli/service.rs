//! What every service command shares: stopping on Ctrl-C or SIGTERM, and its connection to the bus.

use std::{path::PathBuf, time::Duration};

use anyhow::Context;
use broker::{BrokerUrl, Bus, BusConfig, OutboxConfig};
use tokio_util::sync::CancellationToken;

/// A token cancelled by Ctrl-C (SIGINT) or SIGTERM (what container runtimes send).
pub fn shutdown_on_signal() -> CancellationToken {
    let token = CancellationToken::new();
    let cancel = token.clone();
    tokio::spawn(async move {
        let terminate = async {
            match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                Ok(mut signal) => {
                    signal.recv().await;
                }
                Err(_) => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = tokio::signal::ctrl_c() => {}
            _ = terminate => {}
        }
        tracing::info!("shutting down");
        cancel.cancel();
    });
    token
}

/// How a service reaches the broker.
#[derive(clap::Args, Clone, Debug)]
pub struct ServiceBusArgs {
    /// Broker URL (mqtts://host:8883); without one the service publishes and consumes nothing.
    #[arg(long = "mqtt-url", env = "OPENAMT_MQTT_URL")]
    pub url: Option<BrokerUrl>,
    /// CA certificate that signed the broker's certificate (PEM).
    #[arg(long = "mqtt-ca", env = "OPENAMT_MQTT_CA")]
    pub ca: Option<PathBuf>,
    /// Broker user name [default: the service's own, e.g. mps].
    #[arg(long = "mqtt-user", env = "OPENAMT_MQTT_USER")]
    pub user: Option<String>,
    /// Broker password (or OPENAMT_MQTT_PASSWORD_FILE).
    #[arg(
        long = "mqtt-password",
        env = "OPENAMT_MQTT_PASSWORD",
        hide_env_values = true
    )]
    pub password: Option<String>,
    /// Keep undelivered events in this file [default: a table of the service's database].
    #[arg(long = "outbox", env = "OPENAMT_OUTBOX")]
    pub outbox: Option<PathBuf>,
}

impl ServiceBusArgs {
    /// Connects with the configuration `make` builds from URL, user and password; `database` is the
    /// service's own database, where the outbox lives unless `--outbox` names a file.
    pub async fn connect(
        &self,
        service_user: &str,
        database: Option<&str>,
        make: impl FnOnce(BrokerUrl, &str, &str) -> anyhow::Result<BusConfig>,
    ) -> anyhow::Result<Option<Bus>> {
        let Some(url) = self.url.clone() else {
            tracing::warn!(
                "no broker configured (--mqtt-url): this service publishes no events and takes no commands"
            );
            return Ok(None);
        };
        let user = self.user.as_deref().unwrap_or(service_user);
        let password = self
            .password
            .as_deref()
            .context("--mqtt-password (or OPENAMT_MQTT_PASSWORD) is needed with --mqtt-url")?;
        let mut config = make(url.clone(), user, password)?;
        if url.tls {
            let ca = self.ca.as_ref().context("--mqtt-ca is needed for mqtts")?;
            config.ca_pem =
                Some(std::fs::read(ca).with_context(|| format!("cannot read {}", ca.display()))?);
        }
        config.outbox = match (&self.outbox, database) {
            (Some(file), _) => OutboxConfig::File(file.clone()),
            (None, Some(url)) => {
                // Its own small pool; a database that is down fails a call after 10 s, and the outbox
                // sends events from memory meanwhile (see the broker's outbox writer).
                let mut options = sea_orm::ConnectOptions::new(url.to_owned());
                options
                    .max_connections(4)
                    .acquire_timeout(Duration::from_secs(10))
                    .sqlx_logging(false);
                OutboxConfig::Database(
                    sea_orm::Database::connect(options)
                        .await
                        .context("opening the database for the event outbox")?,
                )
            }
            (None, None) => OutboxConfig::Memory,
        };
        Ok(Some(Bus::connect(config).await?))
    }
}

/// Leaves the broker cleanly after the service stopped.
pub async fn close(bus: Option<Bus>) {
    if let Some(bus) = bus {
        bus.shutdown(Duration::from_secs(5)).await;
    }
}
