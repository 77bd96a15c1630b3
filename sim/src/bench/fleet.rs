//! How many simulated devices one process holds connected, at what memory and CPU cost, and how
//! fast it connects them. The devices run in this process; the APF server they connect to
//! ([`super::acceptor`]) runs in a child ([`serve`]), so the figures are the simulator's alone:
//! - RSS per device: growth of this process's live resident memory over the devices (the model
//!   alone, then with every tunnel up);
//! - connects per second: every device's first connect over the time until the last one;
//! - CPU: this process's while connecting, and over an idle window (keep-alives every 30 s).

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;

use super::acceptor::{Acceptor, PASSWORD, USERNAME};
use super::child::{ChildCommand, ready_line, wait_for_stdin_close};
use super::process::{cpu_time, live_rss_kib};
use crate::cira::AmtServices;
use crate::device::CiraSettings;
use crate::fleet::{Fleet, FleetConfig, raise_nofile_limit};

/// What the issue asks one process to hold; also the MPS benchmark's fleet.
pub const AIM_DEVICES: u64 = 10_000;
/// The fleet must connect faster than the MPS is asked to accept, or it would be the bottleneck
/// of the MPS benchmark.
pub const AIM_CONNECTS_PER_SECOND: f64 = 1_500.0;
/// How long every device may take to connect.
const CONNECT_LIMIT: Duration = Duration::from_secs(600);

/// What to run.
#[derive(Debug, Clone)]
pub struct FleetOptions {
    pub devices: u64,
    /// TLS handshakes in flight at once.
    pub concurrency: usize,
    /// How long the connected fleet idles while its CPU is measured.
    pub idle: Duration,
    /// How to start the APF server (a program calling [`serve`]).
    pub server: ChildCommand,
}

impl FleetOptions {
    /// 10,000 devices, 200 handshakes in flight, 30 s idle (one keep-alive round).
    pub fn new(server: ChildCommand) -> FleetOptions {
        FleetOptions {
            devices: AIM_DEVICES,
            concurrency: 200,
            idle: Duration::from_secs(30),
            server,
        }
    }
}

/// What one run measured.
#[derive(Debug, Clone, Default)]
pub struct FleetFigures {
    pub devices: u64,
    pub concurrency: usize,
    /// Tunnels up after the idle window.
    pub held: u64,
    pub connects_per_second: f64,
    pub time_to_connect: Duration,
    pub mean_handshake_ms: f64,
    pub max_handshake_ms: f64,
    /// Live resident memory of this process before the devices, with the device models, and
    /// with every tunnel up, KiB.
    pub rss_start_kib: u64,
    pub rss_model_kib: u64,
    pub rss_connected_kib: u64,
    pub cpu_connect: Duration,
    pub idle: Duration,
    pub cpu_idle: Duration,
    /// Failed connect attempts by reason (retries included).
    pub failed_attempts: Vec<(String, u64)>,
}

impl FleetFigures {
    fn per_device(&self, from_kib: u64, to_kib: u64) -> f64 {
        to_kib.saturating_sub(from_kib) as f64 * 1024.0 / self.devices.max(1) as f64
    }

    /// Bytes per device: model and tunnel together.
    pub fn rss_per_device(&self) -> f64 {
        self.per_device(self.rss_start_kib, self.rss_connected_kib)
    }

    pub fn rss_per_model(&self) -> f64 {
        self.per_device(self.rss_start_kib, self.rss_model_kib)
    }

    pub fn rss_per_tunnel(&self) -> f64 {
        self.per_device(self.rss_model_kib, self.rss_connected_kib)
    }

    /// Share of one core the idle fleet used.
    pub fn idle_core_share(&self) -> f64 {
        self.cpu_idle.as_secs_f64() / self.idle.as_secs_f64().max(1e-9)
    }
}

impl fmt::Display for FleetFigures {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "fleet benchmark: {} simulated devices in this process, handshake concurrency {}",
            self.devices, self.concurrency
        )?;
        writeln!(
            f,
            "devices held connected:     {}{}",
            self.held,
            if self.held >= self.devices {
                ""
            } else {
                "  (NOT all connected)"
            }
        )?;
        writeln!(
            f,
            "connect rate:               {:.0} devices/s (all in {:.2} s)",
            self.connects_per_second,
            self.time_to_connect.as_secs_f64()
        )?;
        writeln!(
            f,
            "handshake latency:          mean {:.1} ms, max {:.1} ms",
            self.mean_handshake_ms, self.max_handshake_ms
        )?;
        writeln!(
            f,
            "RSS before devices:         {:.1} MiB",
            self.rss_start_kib as f64 / 1024.0
        )?;
        writeln!(
            f,
            "RSS per device, model only: {:.0} B",
            self.rss_per_model()
        )?;
        writeln!(
            f,
            "RSS per device, connected:  {:.0} B (model + tunnel; total {:.1} MiB)",
            self.rss_per_device(),
            self.rss_connected_kib as f64 / 1024.0
        )?;
        writeln!(
            f,
            "RSS per tunnel:             {:.0} B",
            self.rss_per_tunnel()
        )?;
        writeln!(
            f,
            "CPU while connecting:       {:.2} s ({:.0} µs per device)",
            self.cpu_connect.as_secs_f64(),
            self.cpu_connect.as_secs_f64() * 1e6 / self.devices.max(1) as f64
        )?;
        write!(
            f,
            "{:<28}{:.3} s ({:.2} % of a core; one keep-alive per device every 30 s)",
            format!("CPU idle over {} s:", self.idle.as_secs()),
            self.cpu_idle.as_secs_f64(),
            self.idle_core_share() * 100.0
        )?;
        for (why, n) in &self.failed_attempts {
            write!(f, "\nfailed attempts:            {n} ({why})")?;
        }
        Ok(())
    }
}

/// Starts the APF server child, connects the fleet, idles, and returns the figures.
pub async fn run(options: FleetOptions) -> anyhow::Result<FleetFigures> {
    if options.devices == 0 {
        anyhow::bail!("the fleet benchmark needs at least one device");
    }
    match raise_nofile_limit() {
        Ok(limit) if limit < options.devices + 1024 => tracing::warn!(
            limit,
            devices = options.devices,
            "the open-files limit is too low for every tunnel"
        ),
        Ok(_) => {}
        Err(error) => tracing::warn!(%error, "could not raise the open-files limit"),
    }
    let server = options.server.spawn(&[], &[]).await?;
    let port: u16 = server.ready_field(0)?;
    let ca_der = hex::decode(server.ready_field::<String>(1)?).context("the server's CA")?;
    let cira = CiraSettings {
        server: "localhost".into(),
        port,
        username: USERNAME.into(),
        password: PASSWORD.into(),
        root_cert_der: Some(ca_der),
    };
    let mut config = FleetConfig::provisioned(42, options.devices, cira, "Adm1n!Pass");
    config.concurrency = options.concurrency;

    let mut figures = FleetFigures {
        devices: options.devices,
        concurrency: options.concurrency,
        idle: options.idle,
        ..Default::default()
    };
    tokio::time::sleep(Duration::from_millis(300)).await;
    figures.rss_start_kib = live_rss_kib();
    let built = config.build_devices();
    figures.rss_model_kib = live_rss_kib();
    let cpu = cpu_time(None);
    let fleet = Fleet::start_with(&config, built, Arc::new(AmtServices));
    let all = fleet.wait_connected(options.devices, CONNECT_LIMIT).await;
    figures.cpu_connect = cpu_time(None).saturating_sub(cpu);
    if !all {
        tracing::warn!(
            connected = fleet.stats().connected(),
            devices = options.devices,
            "not every device connected in time; measuring those that did"
        );
    }
    // Let the TLS buffers and the allocator settle before reading the memory of idle tunnels.
    tokio::time::sleep(Duration::from_secs(3)).await;
    figures.rss_connected_kib = live_rss_kib();
    let cpu = cpu_time(None);
    tokio::time::sleep(options.idle).await;
    figures.cpu_idle = cpu_time(None).saturating_sub(cpu);
    figures.held = fleet.stats().connected();
    let summary = fleet.shutdown().await;
    server.stop(Duration::from_secs(5)).await;
    figures.connects_per_second = summary.connects_per_second;
    figures.time_to_connect =
        Duration::from_secs_f64(summary.time_to_connect_seconds.unwrap_or(0.0).max(0.0));
    figures.mean_handshake_ms = summary.mean_handshake_ms;
    figures.max_handshake_ms = summary.max_handshake_ms;
    figures.failed_attempts = summary.failed_attempts_by_reason.into_iter().collect();
    Ok(figures)
}

/// The child's `main`: the APF server on a free port until stdin closes. Its `READY` line
/// carries the port and the CA certificate (hex DER) the devices must trust.
pub async fn serve() -> anyhow::Result<()> {
    let _ = raise_nofile_limit();
    let acceptor = Acceptor::bind().await?;
    ready_line(&[
        acceptor.addr.port().to_string(),
        hex::encode(&acceptor.ca_der),
    ])?;
    let serving = tokio::spawn(acceptor.serve());
    wait_for_stdin_close().await;
    serving.abort();
    Ok(())
}
