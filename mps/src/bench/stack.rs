//! What the benchmark runs besides the devices: Mosquitto with the production configuration, an
//! MPS instance on it as `openamt mps` builds one (SQLite in the work directory or a database of
//! its own on a Postgres server, the local secret store, its event outbox in its own database),
//! and the bus clients of the other parties: `rps` (activation events), `dashboard` (reads events)
//! and `operator` (sends commands).

use std::path::Path;
use std::time::Duration;

use anyhow::Context;
use broker::bench::ScratchDatabase;
use broker::mosquitto::Mosquitto;
use broker::{Bus, BusConfig, OutboxConfig};
use tokio_util::sync::{CancellationToken, DropGuard};

use crate::{MpsConfig, MpsDeps, RunningMps};

/// Where MPS keeps the events it has not yet handed to the broker.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Outbox {
    /// A table of MPS's own database, as `openamt mps` does.
    #[default]
    Database,
    /// A file in the work directory (what `--outbox FILE` selects).
    File,
}

const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

pub(crate) struct Stack {
    pub mosquitto: Mosquitto,
    pub running: RunningMps,
    pub rps: Bus,
    pub dashboard: Bus,
    pub operator: Bus,
    /// Stops MPS if the benchmark ends early (an error); [`Stack::stop`] stops it in order.
    shutdown: Option<DropGuard>,
    database: Option<ScratchDatabase>,
}

impl Stack {
    /// `postgres`: the URL of a Postgres server (any database on it) to make MPS's database on;
    /// `None`: SQLite in `dir`.
    pub async fn start(
        dir: &Path,
        postgres: Option<&str>,
        outbox: Outbox,
    ) -> anyhow::Result<Stack> {
        let database = match postgres {
            Some(url) => Some(
                ScratchDatabase::create(url, "openamt_bench")
                    .await
                    .with_context(|| {
                        format!("a scratch database on {}", crate::config::redact_url(url))
                    })?,
            ),
            None => None,
        };
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let mosquitto = Mosquitto::start(&dir.join("mosquitto"), port)?;
        let url = mosquitto.url();

        let config = MpsConfig {
            port: 0,
            web_port: 0,
            bind_address: "127.0.0.1".into(),
            jwt_secret: random_secret(),
            web_admin_user: "admin".into(),
            web_admin_password: random_secret(),
            data_dir: dir.join("mps"),
            instance_name: "bench".into(),
            connection_string: database.as_ref().map(|d| d.url.clone()).unwrap_or_default(),
            ..Default::default()
        };
        std::fs::create_dir_all(&config.data_dir)?;
        let mut bus_config = crate::events::bus_config(
            &config,
            url.parse()?,
            "mps",
            mosquitto.credentials.password("mps").unwrap_or_default(),
        )?;
        bus_config.ca_pem = Some(mosquitto.ca_pem.as_bytes().to_vec());
        bus_config.outbox = match outbox {
            Outbox::Database => OutboxConfig::Database(
                sea_orm::Database::connect(config.database_url())
                    .await
                    .context("opening MPS's database for its outbox")?,
            ),
            Outbox::File => OutboxConfig::File(dir.join("mps-outbox")),
        };
        let bus = Bus::connect(bus_config).await?;
        bus.wait_connected(CONNECT_TIMEOUT)
            .await
            .context("MPS could not reach Mosquitto")?;
        let mut deps = MpsDeps::from_config(&config)?;
        deps.bus = Some(bus);
        let shutdown = CancellationToken::new();
        let running = crate::start(config, deps, shutdown.clone()).await?;

        let rps = client(&mosquitto, "rps").await?;
        let dashboard = client(&mosquitto, "dashboard").await?;
        let operator = client(&mosquitto, "operator").await?;
        Ok(Stack {
            mosquitto,
            running,
            rps,
            dashboard,
            operator,
            shutdown: Some(shutdown.drop_guard()),
            database,
        })
    }

    /// What MPS's database is, for the report.
    pub fn database_kind(&self) -> &'static str {
        if self.database.is_some() {
            "Postgres"
        } else {
            "SQLite"
        }
    }

    /// Stops MPS (which takes its devices offline and leaves the bus), then the other clients.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        if let Some(guard) = self.shutdown.take() {
            guard.disarm().cancel();
        }
        let stopped = self.running.wait().await;
        for bus in [self.rps, self.dashboard, self.operator] {
            bus.shutdown(Duration::from_secs(5)).await;
        }
        if let Some(database) = self.database {
            database
                .drop()
                .await
                .context("dropping the scratch database")?;
        }
        stopped
    }
}

/// A bus client of `user`, starting with a clean session.
async fn client(mosquitto: &Mosquitto, user: &str) -> anyhow::Result<Bus> {
    let id = format!("bench-{user}");
    let mut config = BusConfig::new(
        mosquitto.url().parse()?,
        user,
        mosquitto.credentials.password(user).unwrap_or_default(),
        &id,
        &format!("/openamt/bench/{user}"),
    );
    config.ca_pem = Some(mosquitto.ca_pem.as_bytes().to_vec());
    config.session_expiry = Duration::ZERO;
    let bus = Bus::connect(config).await?;
    bus.wait_connected(CONNECT_TIMEOUT)
        .await
        .with_context(|| format!("{user} could not reach Mosquitto"))?;
    Ok(bus)
}

fn random_secret() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}
