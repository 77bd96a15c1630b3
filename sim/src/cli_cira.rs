//! `openamt sim cira`: a fleet of simulated AMT devices holding CIRA tunnels to an MPS.

use anyhow::{Context, bail};
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use crate::cira::{Generation, SessionConfig, read_ca_file};
use crate::device::CiraSettings;
use crate::fleet::{Fleet, FleetConfig, FleetSummary, raise_nofile_limit};

/// Arguments of `openamt sim cira`.
#[derive(clap::Args, Clone)]
pub struct CiraArgs {
    /// MPS CIRA endpoint, HOST:PORT.
    #[arg(long, env = "OPENAMT_SIM_MPS", default_value = "localhost:4433")]
    pub mps: String,
    /// Number of simulated devices.
    #[arg(long, env = "OPENAMT_SIM_DEVICES", default_value_t = 1)]
    pub devices: u64,
    /// Fleet seed: with the device index it determines each GUID.
    #[arg(long, env = "OPENAMT_SIM_SEED", default_value_t = 1)]
    pub seed: u64,
    /// Index of the first device.
    #[arg(long, env = "OPENAMT_SIM_START_INDEX", default_value_t = 0)]
    pub start_index: u64,
    /// CIRA user name (APF USERAUTH), as registered for the devices at the MPS
    /// [default: the enrolment credentials `openamt up` wrote in the data directory].
    #[arg(long, env = "OPENAMT_SIM_CIRA_USERNAME")]
    pub username: Option<String>,
    /// CIRA password [default: from the data directory, like --username].
    #[arg(long, env = "OPENAMT_SIM_CIRA_PASSWORD", hide_env_values = true)]
    pub password: Option<String>,
    /// AMT admin password of the simulated devices (WS-Man and redirection digest)
    /// [default: from the data directory, else P@ssw0rd].
    #[arg(long, env = "OPENAMT_SIM_AMT_PASSWORD", hide_env_values = true)]
    pub amt_password: Option<String>,
    /// PEM file with the root the devices trust for the MPS certificate
    /// [default: <data-dir>/mps-root.pem when it exists, else the system roots].
    #[arg(long, env = "OPENAMT_SIM_CA")]
    pub ca: Option<PathBuf>,
    /// Handshakes in flight at once.
    #[arg(long, env = "OPENAMT_SIM_CONCURRENCY", default_value_t = 200)]
    pub concurrency: usize,
    /// Run for this many seconds, then disconnect and print the summary (default: until Ctrl-C).
    #[arg(long, env = "OPENAMT_SIM_DURATION")]
    pub duration: Option<u64>,
    /// Show a progress bar even when stderr is not a terminal.
    #[arg(long)]
    pub progress: bool,
    /// Offer TLS 1.3 as well (AMT 11–16 firmware speaks TLS 1.2 only).
    #[arg(long)]
    pub tls13: bool,
    /// The AMT firmware generation the devices model: 11 and 12 offer TLS 1.0–1.2 with static-RSA and
    /// DHE suites only, 16 TLS 1.2 with ECDHE, 19 adds TLS 1.3; each reports its firmware version.
    #[arg(long, env = "OPENAMT_SIM_GENERATION", default_value = "16")]
    pub generation: Generation,
    /// Data directory of `openamt up`, where it leaves the enrolment credentials and the MPS root.
    #[arg(long, env = "OPENAMT_DATA_DIR", default_value = "openamt-data")]
    pub data_dir: PathBuf,
}

/// What `openamt up` writes for simulated devices: the global CIRA credentials that enrol a device on
/// its first connect, and the AMT password the MPS will use for it.
#[derive(serde::Deserialize, Default)]
pub struct Enrolment {
    pub username: String,
    pub password: String,
    #[serde(default)]
    pub amt_password: Option<String>,
}

/// The file in the data directory holding the enrolment credentials.
pub const ENROLMENT_FILE: &str = "cira-enrolment.json";
/// The file in the data directory holding the MPS root certificate.
pub const MPS_ROOT_FILE: &str = "mps-root.pem";

impl CiraArgs {
    /// Flags first, then the data directory's files.
    fn resolve(&self) -> anyhow::Result<(String, String, String, Option<PathBuf>)> {
        let from_dir = || -> anyhow::Result<Enrolment> {
            let path = self.data_dir.join(ENROLMENT_FILE);
            let text = std::fs::read_to_string(&path).with_context(|| {
                format!(
                    "no --username/--password given and no {} (start `openamt up` in this directory, or pass --data-dir)",
                    path.display()
                )
            })?;
            serde_json::from_str(&text)
                .with_context(|| format!("{} is not an enrolment file", path.display()))
        };
        let enrolment = match (&self.username, &self.password) {
            (Some(u), Some(p)) => Enrolment {
                username: u.clone(),
                password: p.clone(),
                amt_password: None,
            },
            _ => from_dir()?,
        };
        let amt_password = self
            .amt_password
            .clone()
            .or(enrolment.amt_password)
            .unwrap_or_else(|| "P@ssw0rd".to_owned());
        let ca = self.ca.clone().or_else(|| {
            let root = self.data_dir.join(MPS_ROOT_FILE);
            root.exists().then_some(root)
        });
        Ok((enrolment.username, enrolment.password, amt_password, ca))
    }
}

impl fmt::Debug for CiraArgs {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CiraArgs")
            .field("mps", &self.mps)
            .field("devices", &self.devices)
            .field("seed", &self.seed)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("amt_password", &"<redacted>")
            .field("ca", &self.ca)
            .field("concurrency", &self.concurrency)
            .field("duration", &self.duration)
            .finish_non_exhaustive()
    }
}

/// Splits `HOST:PORT` (IPv6 as `[addr]:port`).
pub fn parse_host_port(s: &str) -> anyhow::Result<(String, u16)> {
    let (host, port) = s
        .rsplit_once(':')
        .with_context(|| format!("--mps {s:?}: expected HOST:PORT"))?;
    let host = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    if host.is_empty() {
        bail!("--mps {s:?}: empty host");
    }
    let port = port
        .parse()
        .with_context(|| format!("--mps {s:?}: bad port"))?;
    Ok((host.to_string(), port))
}

/// Runs the fleet until `--duration` elapses or Ctrl-C, then returns its summary.
pub async fn run(args: CiraArgs) -> anyhow::Result<FleetSummary> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let (server, port) = parse_host_port(&args.mps)?;
    let (username, password, amt_password, ca) = args.resolve()?;
    let roots = match &ca {
        Some(path) => Some(read_ca_file(path)?),
        None => None,
    };
    match raise_nofile_limit() {
        Ok(limit) if limit < args.devices + 64 => {
            tracing::warn!(
                limit,
                devices = args.devices,
                "open-files limit is below the number of devices"
            )
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "could not raise the open-files limit"),
    }
    let cira = CiraSettings {
        server,
        port,
        username,
        password,
        root_cert_der: roots.as_ref().and_then(|r| r.first().cloned()),
    };
    let config = FleetConfig {
        start_index: args.start_index,
        concurrency: args.concurrency,
        fallback_roots: roots,
        tls13: args.tls13,
        generation: args.generation,
        firmware_version: args.generation.firmware_version().to_owned(),
        progress: args.progress,
        session: SessionConfig::default(),
        ..FleetConfig::provisioned(args.seed, args.devices, cira, amt_password)
    };
    tracing::info!(mps = %args.mps, devices = args.devices, seed = args.seed, "starting simulated CIRA fleet");
    let fleet = Fleet::start(&config);
    match args.duration {
        Some(secs) => {
            tokio::select! {
                _ = tokio::time::sleep(Duration::from_secs(secs)) => {}
                _ = tokio::signal::ctrl_c() => {}
            }
        }
        None => {
            tokio::signal::ctrl_c()
                .await
                .context("waiting for Ctrl-C")?;
        }
    }
    let summary = fleet.shutdown().await;
    tracing::info!(
        connected = summary.connected,
        ever = summary.ever_connected,
        "simulated CIRA fleet stopped"
    );
    Ok(summary)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_port_forms() {
        assert_eq!(
            parse_host_port("mps.example:4433").unwrap(),
            ("mps.example".into(), 4433)
        );
        assert_eq!(parse_host_port("[::1]:4433").unwrap(), ("::1".into(), 4433));
        assert!(parse_host_port("mps.example").is_err());
        assert!(parse_host_port(":4433").is_err());
        assert!(parse_host_port("h:99999").is_err());
    }
}
