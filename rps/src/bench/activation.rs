//! Rounds of simulated devices activating at once through RPS: CCM with a CIRA profile, the
//! reference's waits at zero, each device through the simulator's agent as rpc-go would.
//! Activation events go through Mosquitto (its own process, the production configuration) with a
//! durable file outbox, unless the bus is off.

use std::fmt;
use std::time::{Duration, Instant};

use anyhow::{Context, ensure};
use futures::StreamExt;
use serde_json::json;
use sim::agent::{self, AgentOptions, Connection};
use sim::bench::{ChildCommand, cpu_time, memory_kib, percentile};
use sim::device::{ControlMode, Device, DeviceSpec};

use super::database::BenchDatabase;
use super::http::post_json;
use super::server::{Mode, ServerArgs};

/// Activations per second the issue asks for (100 devices at once, waits at zero).
pub const AIM_ACTIVATIONS_PER_SECOND: f64 = 50.0;
/// One CCM activation with CIRA on the reference RPS, 12 s of it a fixed wait.
pub const REFERENCE_ACTIVATION: Duration = Duration::from_millis(12_650);

/// What to run.
#[derive(Debug, Clone)]
pub struct ActivationOptions {
    /// Devices activating at once in each round.
    pub devices: u64,
    pub rounds: u64,
    /// A Postgres server URL (a scratch database is made and dropped); SQLite otherwise.
    pub postgres: Option<String>,
    /// Activation events through Mosquitto (it must be installed), as in production.
    pub bus: bool,
    /// How to start RPS (a program calling [`super::serve`]).
    pub server: ChildCommand,
}

impl ActivationOptions {
    /// 100 devices at once, 5 rounds, SQLite, with the bus.
    pub fn new(server: ChildCommand) -> ActivationOptions {
        ActivationOptions {
            devices: 100,
            rounds: 5,
            postgres: None,
            bus: true,
            server,
        }
    }
}

/// One round of devices activating at once.
#[derive(Debug, Clone, Default)]
pub struct Round {
    pub activated: u64,
    pub elapsed: Duration,
    pub p50: Duration,
    pub p95: Duration,
    pub max: Duration,
    /// CPU of RPS and of this process (devices and agents) during the round.
    pub rps_cpu: Duration,
    pub devices_cpu: Duration,
    /// RPS's resident memory after the round and its peak so far, KiB.
    pub rss_kib: u64,
    pub peak_kib: u64,
}

/// What one run measured.
#[derive(Debug, Clone, Default)]
pub struct ActivationFigures {
    pub devices: u64,
    pub database: String,
    pub bus: bool,
    pub rounds: Vec<Round>,
    pub failed: u64,
    /// WS-Man exchanges relayed per activation.
    pub exchanges_per_activation: f64,
    /// Latencies of every activation of every round.
    pub p50: Duration,
    pub p95: Duration,
    pub p99: Duration,
}

impl ActivationFigures {
    pub fn activated(&self) -> u64 {
        self.rounds.iter().map(|r| r.activated).sum()
    }

    pub fn elapsed(&self) -> Duration {
        self.rounds.iter().map(|r| r.elapsed).sum()
    }

    pub fn per_second(&self) -> f64 {
        self.activated() as f64 / self.elapsed().as_secs_f64().max(1e-9)
    }

    /// RPS's CPU per activation, all rounds.
    pub fn rps_cpu_per_activation(&self) -> Duration {
        let cpu: Duration = self.rounds.iter().map(|r| r.rps_cpu).sum();
        cpu / self.activated().max(1) as u32
    }

    /// RPS's resident memory at the end and its peak, KiB.
    pub fn rss_kib(&self) -> (u64, u64) {
        self.rounds
            .last()
            .map_or((0, 0), |r| (r.rss_kib, r.peak_kib))
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

impl fmt::Display for ActivationFigures {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "RPS activation benchmark: {} devices at once × {} rounds, CCM + CIRA, waits 0, database {}, bus {}",
            self.devices,
            self.rounds.len(),
            self.database,
            if self.bus { "Mosquitto" } else { "off" }
        )?;
        for (i, r) in self.rounds.iter().enumerate() {
            writeln!(
                f,
                "round {i}: {}/{} in {:.3} s = {:>6.1} activations/s | p50 {:>5.0} ms p95 {:>5.0} ms max {:>5.0} ms | RPS CPU {:>5.2} ms/activation | devices+agents CPU {:>5.2} ms/activation | RPS RSS {} KiB (peak {} KiB)",
                r.activated,
                self.devices,
                r.elapsed.as_secs_f64(),
                r.activated as f64 / r.elapsed.as_secs_f64().max(1e-9),
                ms(r.p50),
                ms(r.p95),
                ms(r.max),
                ms(r.rps_cpu) / r.activated.max(1) as f64,
                ms(r.devices_cpu) / r.activated.max(1) as f64,
                r.rss_kib,
                r.peak_kib,
            )?;
        }
        let (rss, peak) = self.rss_kib();
        writeln!(
            f,
            "total: {} activations ({} failed) in {:.2} s = {:.1} activations/s (aim ≥ {AIM_ACTIVATIONS_PER_SECOND:.0}); {:.1} WS-Man exchanges each; p50 {:.0} ms p95 {:.0} ms p99 {:.0} ms; RPS CPU {:.2} ms per activation; RPS RSS {rss} KiB, peak {peak} KiB",
            self.activated(),
            self.failed,
            self.elapsed().as_secs_f64(),
            self.per_second(),
            self.exchanges_per_activation,
            ms(self.p50),
            ms(self.p95),
            ms(self.p99),
            ms(self.rps_cpu_per_activation()),
        )?;
        write!(
            f,
            "reference: one CCM activation with CIRA took {:.2} s, 12 s of it a fixed wait",
            REFERENCE_ACTIVATION.as_secs_f64()
        )
    }
}

/// Starts Mosquitto (unless the bus is off) and RPS, makes a CIRA config and a CCM profile
/// through REST, then runs the rounds.
pub async fn run(options: ActivationOptions) -> anyhow::Result<ActivationFigures> {
    ensure!(
        options.devices > 0,
        "the activation benchmark needs devices"
    );
    let scratch = tempfile::tempdir()?;
    let database = BenchDatabase::create(options.postgres.as_deref(), scratch.path()).await?;
    let measured = with_database(&options, scratch.path(), &database.url).await;
    let kind = database.kind();
    let dropped = database.drop().await;
    let mut figures = measured?;
    dropped?;
    figures.database = kind.to_owned();
    Ok(figures)
}

async fn with_database(
    options: &ActivationOptions,
    dir: &std::path::Path,
    db_url: &str,
) -> anyhow::Result<ActivationFigures> {
    let mosquitto = if options.bus {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        Some(broker::mosquitto::Mosquitto::start(
            &dir.join("mosquitto"),
            port,
        )?)
    } else {
        None
    };
    let args = ServerArgs {
        mode: Mode::Activation,
        db_url: db_url.to_owned(),
        dir: dir.to_owned(),
        broker: mosquitto.as_ref().map(|m| m.url()),
        ca: mosquitto.as_ref().map(|m| m.ca_path.clone()),
        cache_ttl_ms: 1000,
    };
    let password = mosquitto
        .as_ref()
        .and_then(|m| m.credentials.password("rps").map(str::to_owned));
    let server = args.spawn(&options.server, password).await?;
    let rest: std::net::SocketAddr = server.ready_field(0)?;
    let activation: std::net::SocketAddr = server.ready_field(1)?;
    setup(rest).await?;

    let agent_options = AgentOptions {
        command: agent::Command::Activate {
            profile: "benchccm".into(),
        },
        password: None,
        tenant_id: String::new(),
        dns_suffix: None,
        hostname: None,
        friendly_name: None,
    };
    let connection = Connection {
        url: format!("ws://{activation}/activate"),
        ca_file: None,
        insecure: false,
    };
    let mut figures = ActivationFigures {
        devices: options.devices,
        bus: options.bus,
        ..Default::default()
    };
    let mut all_latencies = Vec::new();
    let mut exchanges = 0u64;
    for round in 0..options.rounds {
        let fleet: Vec<Device> = (0..options.devices)
            .map(|i| Device::new(DeviceSpec::fresh(1000 + round, i)))
            .collect();
        let rps_cpu = cpu_time(Some(server.pid()));
        let own_cpu = cpu_time(None);
        let started = Instant::now();
        let results: Vec<(Duration, Result<agent::Outcome, agent::AgentError>)> =
            futures::stream::iter(fleet.iter())
                .map(|d| {
                    let (connection, agent_options) = (&connection, &agent_options);
                    async move {
                        let t = Instant::now();
                        let r = agent::run(d, connection, agent_options).await;
                        (t.elapsed(), r)
                    }
                })
                .buffer_unordered(options.devices as usize)
                .collect()
                .await;
        let elapsed = started.elapsed();
        let rps_cpu = cpu_time(Some(server.pid())).saturating_sub(rps_cpu);
        let devices_cpu = cpu_time(None).saturating_sub(own_cpu);
        let mut latencies = Vec::new();
        for (took, result) in &results {
            match result {
                Ok(outcome) => {
                    exchanges += u64::from(outcome.exchanges);
                    latencies.push(*took);
                }
                Err(error) => {
                    figures.failed += 1;
                    tracing::warn!(%error, "activation failed");
                }
            }
        }
        let ok = latencies.len() as u64;
        let in_ccm = fleet
            .iter()
            .filter(|d| d.control_mode() == ControlMode::Ccm)
            .count() as u64;
        ensure!(
            in_ccm == ok,
            "devices in CCM ({in_ccm}) differ from successful activations ({ok})"
        );
        latencies.sort_unstable();
        let (rss_kib, peak_kib) = memory_kib(Some(server.pid()));
        figures.rounds.push(Round {
            activated: ok,
            elapsed,
            p50: percentile(&latencies, 0.50),
            p95: percentile(&latencies, 0.95),
            max: latencies.last().copied().unwrap_or_default(),
            rps_cpu,
            devices_cpu,
            rss_kib,
            peak_kib,
        });
        all_latencies.extend(latencies);
    }
    all_latencies.sort_unstable();
    figures.p50 = percentile(&all_latencies, 0.50);
    figures.p95 = percentile(&all_latencies, 0.95);
    figures.p99 = percentile(&all_latencies, 0.99);
    figures.exchanges_per_activation = exchanges as f64 / figures.activated().max(1) as f64;
    server.stop(Duration::from_secs(10)).await;
    drop(mosquitto);
    Ok(figures)
}

/// A CIRA config and a CCM profile through REST, as an operator would make them.
async fn setup(rest: std::net::SocketAddr) -> anyhow::Result<()> {
    post_json(
        rest,
        "/api/v1/admin/ciraconfigs",
        &json!({"configName": "benchcira", "mpsServerAddress": "mps.example.com", "mpsPort": 4433,
            "username": "benchuser", "commonName": "mps.example.com", "serverAddressFormat": 201,
            "authMethod": 2, "mpsRootCertificate": "MIIBAA==", "proxyDetails": ""}),
    )
    .await
    .context("creating the CIRA config")?;
    post_json(
        rest,
        "/api/v1/admin/profiles",
        &json!({"profileName": "benchccm", "activation": "ccmactivate", "generateRandomPassword": true,
            "ciraConfigName": "benchcira", "dhcpEnabled": true, "userConsent": "All",
            "kvmEnabled": true, "solEnabled": true, "iderEnabled": false, "tags": ["bench"]}),
    )
    .await
    .context("creating the profile")?;
    Ok(())
}
