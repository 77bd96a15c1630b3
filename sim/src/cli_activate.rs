//! `openamt sim activate`: simulated devices activated (and configured) by a real RPS through the
//! device-agent protocol, optionally kept running with their CIRA tunnels, optionally deactivated.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures::StreamExt;
use serde::Serialize;
use sha2::Digest as _;

use crate::agent::{self, AgentOptions, Command, Connection};
use crate::cira::{BackoffConfig, SessionConfig, read_ca_file};
use crate::device::{Device, DeviceSpec};
use crate::fleet::{Fleet, FleetConfig, FleetSummary};

/// Arguments of `openamt sim activate`.
#[derive(clap::Args, Clone)]
pub struct ActivateArgs {
    /// RPS activation endpoint: `wss://<gateway>/activate`, or `ws://<rps>:8080` directly.
    #[arg(
        long,
        env = "OPENAMT_SIM_RPS_URL",
        default_value = "wss://localhost:8443/activate"
    )]
    pub rps_url: String,
    /// RPS profile to activate with.
    #[arg(long, env = "OPENAMT_SIM_PROFILE")]
    pub profile: String,
    /// Number of simulated devices.
    #[arg(long, env = "OPENAMT_SIM_DEVICES", default_value_t = 1)]
    pub devices: u64,
    /// Fleet seed: with the device index it determines each GUID.
    #[arg(long, env = "OPENAMT_SIM_SEED", default_value_t = 1)]
    pub seed: u64,
    /// Index of the first device.
    #[arg(long, env = "OPENAMT_SIM_START_INDEX", default_value_t = 0)]
    pub start_index: u64,
    /// Activations in flight at once.
    #[arg(long, env = "OPENAMT_SIM_ACTIVATIONS", default_value_t = 8)]
    pub concurrency: usize,
    /// DNS suffix the devices report (ACM: must match an RPS domain).
    #[arg(long, env = "OPENAMT_SIM_DNS_SUFFIX")]
    pub dns_suffix: Option<String>,
    /// Tenant for the profile lookup.
    #[arg(long, env = "OPENAMT_SIM_TENANT", default_value = "")]
    pub tenant: String,
    /// SHA-256/384 or SHA-1 hash (hex) of a provisioning root the firmware trusts (ACM). Repeatable.
    #[arg(long = "trust-root-hash")]
    pub trust_root_hashes: Vec<String>,
    /// A provisioning root certificate (PEM or DER) the firmware trusts (ACM). Repeatable.
    #[arg(long = "trust-root-cert")]
    pub trust_root_certs: Vec<PathBuf>,
    /// Give the devices WiFi hardware (RPS then configures wireless profiles).
    #[arg(long)]
    pub wireless: bool,
    /// Extra CA (PEM) trusted for the RPS WebSocket.
    #[arg(long, env = "OPENAMT_SIM_RPS_CA")]
    pub ca: Option<PathBuf>,
    /// Accept any RPS certificate (rpc-go `-n`).
    #[arg(short = 'n', long)]
    pub insecure: bool,
    /// Keep the activated devices running (CIRA tunnels to the MPS of their profile).
    #[arg(long)]
    pub stay: bool,
    /// With `--stay`: run this many seconds (default: until Ctrl-C).
    #[arg(long, env = "OPENAMT_SIM_DURATION")]
    pub duration: Option<u64>,
    /// With `--stay`: roots trusted for the MPS when a device's CIRA setup carries none (PEM).
    #[arg(long, env = "OPENAMT_SIM_MPS_CA")]
    pub mps_ca: Option<PathBuf>,
    /// Deactivate the devices at the end (needs `--password`: RPS authenticates to AMT with it).
    #[arg(long, requires = "password")]
    pub deactivate: bool,
    /// AMT admin password for deactivation (the profile's static password).
    #[arg(long, env = "OPENAMT_SIM_AMT_PASSWORD", hide_env_values = true)]
    pub password: Option<String>,
}

impl fmt::Debug for ActivateArgs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ActivateArgs")
            .field("rps_url", &self.rps_url)
            .field("profile", &self.profile)
            .field("devices", &self.devices)
            .field("seed", &self.seed)
            .field("dns_suffix", &self.dns_suffix)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .finish_non_exhaustive()
    }
}

/// Result of one batch of jobs.
#[derive(Clone, Debug, Default, Serialize)]
pub struct JobSummary {
    pub attempted: u64,
    pub succeeded: u64,
    /// Failure reason → devices.
    pub failures: BTreeMap<String, u64>,
    pub seconds: f64,
    pub per_minute: f64,
    pub p50_ms: u64,
    pub p95_ms: u64,
    pub max_ms: u64,
    /// Status of the first success (what rpc-go prints).
    pub example_status: Option<serde_json::Value>,
}

/// What `openamt sim activate` did.
#[derive(Debug, Serialize)]
pub struct ActivateSummary {
    pub activation: JobSummary,
    pub deactivation: Option<JobSummary>,
    pub fleet: Option<FleetSummary>,
}

impl fmt::Display for JobSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{} succeeded in {:.1} s ({:.1}/min; p50 {} ms, p95 {} ms, max {} ms)",
            self.succeeded,
            self.attempted,
            self.seconds,
            self.per_minute,
            self.p50_ms,
            self.p95_ms,
            self.max_ms
        )?;
        for (reason, count) in &self.failures {
            write!(f, "\n  {count} × {reason}")?;
        }
        Ok(())
    }
}

/// Trusted root hashes from the arguments.
fn root_hashes(args: &ActivateArgs) -> anyhow::Result<Vec<Vec<u8>>> {
    let mut hashes = Vec::new();
    for text in &args.trust_root_hashes {
        let hash = hex::decode(text.trim())
            .with_context(|| format!("--trust-root-hash {text:?} is not hex"))?;
        if ![20, 32, 48].contains(&hash.len()) {
            bail!("--trust-root-hash {text:?}: expected a SHA-1, SHA-256 or SHA-384 hash");
        }
        hashes.push(hash);
    }
    for path in &args.trust_root_certs {
        let ders = match read_ca_file(path) {
            Ok(ders) => ders,
            Err(_) => {
                vec![std::fs::read(path).with_context(|| format!("reading {}", path.display()))?]
            }
        };
        hashes.extend(ders.iter().map(|der| sha2::Sha256::digest(der).to_vec()));
    }
    Ok(hashes)
}

/// Runs one job per device with bounded concurrency.
async fn run_jobs(
    devices: &[Device],
    connection: &Connection,
    options: &AgentOptions,
    concurrency: usize,
) -> JobSummary {
    let started = Instant::now();
    let results: Vec<(Duration, Result<agent::Outcome, agent::AgentError>)> =
        futures::stream::iter(devices.iter())
            .map(|device| async move {
                let begun = Instant::now();
                let result = agent::run(device, connection, options).await;
                (begun.elapsed(), result)
            })
            .buffer_unordered(concurrency.max(1))
            .collect()
            .await;
    let seconds = started.elapsed().as_secs_f64();
    let mut summary = JobSummary {
        attempted: devices.len() as u64,
        seconds,
        ..JobSummary::default()
    };
    let mut durations: Vec<u64> = Vec::new();
    for (took, result) in results {
        match result {
            Ok(outcome) => {
                summary.succeeded += 1;
                durations.push(took.as_millis() as u64);
                if summary.example_status.is_none() {
                    summary.example_status = outcome.status;
                }
            }
            Err(error) => *summary.failures.entry(error.to_string()).or_default() += 1,
        }
    }
    durations.sort_unstable();
    let percentile = |p: usize| {
        durations
            .get((durations.len().saturating_sub(1)) * p / 100)
            .copied()
            .unwrap_or(0)
    };
    summary.p50_ms = percentile(50);
    summary.p95_ms = percentile(95);
    summary.max_ms = durations.last().copied().unwrap_or(0);
    summary.per_minute = if seconds > 0.0 {
        summary.succeeded as f64 * 60.0 / seconds
    } else {
        0.0
    };
    summary
}

/// Activates the devices, optionally keeps them running and deactivates them.
pub async fn run(args: ActivateArgs) -> anyhow::Result<ActivateSummary> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let hashes = root_hashes(&args)?;
    let fleet_config = FleetConfig {
        seed: args.seed,
        start_index: args.start_index,
        devices: args.devices,
        firmware_version: crate::device::DEFAULT_FIRMWARE.to_string(),
        cira: None,
        admin_password: String::new(),
        concurrency: 200,
        session: SessionConfig::default(),
        backoff: BackoffConfig::default(),
        fallback_roots: match &args.mps_ca {
            Some(path) => Some(read_ca_file(path)?),
            None => None,
        },
        tls13: false,
        generation: Default::default(),
        progress: false,
    };
    // Pre-provisioned devices; with --stay their CIRA tasks wait for activation to configure CIRA.
    let (fleet, devices) = if args.stay {
        let fleet = Fleet::start(&fleet_config);
        let devices = fleet.devices().to_vec();
        (Some(fleet), devices)
    } else {
        let devices = (args.start_index..args.start_index + args.devices)
            .map(|index| Device::new(DeviceSpec::fresh(args.seed, index)))
            .collect();
        (None, devices)
    };
    for device in &devices {
        for hash in &hashes {
            device.trust_root_hash(hash.clone());
        }
        device.set_wireless(args.wireless);
    }
    let connection = Connection {
        url: args.rps_url.clone(),
        ca_file: args.ca.clone(),
        insecure: args.insecure,
    };
    let options = AgentOptions {
        command: Command::Activate {
            profile: args.profile.clone(),
        },
        password: args.password.clone(),
        tenant_id: args.tenant.clone(),
        dns_suffix: args.dns_suffix.clone(),
        hostname: None,
        friendly_name: None,
    };
    tracing::info!(url = %args.rps_url, profile = %args.profile, devices = args.devices, "activating simulated devices");
    let activation = run_jobs(&devices, &connection, &options, args.concurrency).await;
    tracing::info!(
        succeeded = activation.succeeded,
        attempted = activation.attempted,
        "activation finished"
    );

    let fleet = match fleet {
        Some(fleet) => {
            match args.duration {
                Some(secs) => tokio::select! {
                    _ = tokio::time::sleep(Duration::from_secs(secs)) => {}
                    _ = tokio::signal::ctrl_c() => {}
                },
                None => tokio::signal::ctrl_c()
                    .await
                    .context("waiting for Ctrl-C")?,
            }
            Some(fleet.shutdown().await)
        }
        None => None,
    };

    let deactivation = if args.deactivate {
        let activated: Vec<Device> = devices
            .iter()
            .filter(|d| d.control_mode() != crate::device::ControlMode::PreProvisioning)
            .cloned()
            .collect();
        let url = args.rps_url.replace("/activate", "/deactivate");
        let connection = Connection { url, ..connection };
        let Some(password) = args.password.clone() else {
            bail!("--deactivate needs --password (the AMT admin password of the profile)");
        };
        let options = AgentOptions {
            command: Command::Deactivate { force: false },
            password: Some(password),
            ..options
        };
        Some(run_jobs(&activated, &connection, &options, args.concurrency).await)
    } else {
        None
    };
    Ok(ActivateSummary {
        activation,
        deactivation,
        fleet,
    })
}
