//! Many simulated devices in one process: deterministic GUIDs from a seed, one CIRA task each
//! (no thread, no buffer per idle device), bounded concurrent handshakes, live counters, an optional
//! progress bar and a summary of who connected and why the others did not.

use serde::Serialize;
use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::io::IsTerminal;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Semaphore;
use tokio::task::JoinHandle;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::cira::{
    AmtServices, BackoffConfig, ChannelServices, CiraClient, CiraEvent, CiraObserver,
    DeviceOutcome, FailureKind, Generation, SessionConfig, TlsConfigs,
};
use crate::device::{CiraSettings, ControlMode, Device, DeviceSpec, Provisioned};

/// What a fleet is made of.
#[derive(Clone)]
pub struct FleetConfig {
    pub seed: u64,
    /// Index of the first device (GUIDs are a function of seed and index).
    pub start_index: u64,
    pub devices: u64,
    pub firmware_version: String,
    /// `Some`: every device starts provisioned (ACM) with this CIRA target. `None`: devices start
    /// in pre-provisioning and connect once activation configures CIRA.
    pub cira: Option<CiraSettings>,
    /// AMT admin password of provisioned devices (the MPS needs it for WS-Man and redirection).
    pub admin_password: String,
    /// Handshakes in flight at once (TCP + TLS + APF).
    pub concurrency: usize,
    pub session: SessionConfig,
    pub backoff: BackoffConfig,
    /// Roots trusted by devices whose CIRA settings carry none (`None` = system roots).
    pub fallback_roots: Option<Vec<Vec<u8>>>,
    pub tls13: bool,
    /// The firmware generation the devices model: its TLS and its version strings.
    pub generation: Generation,
    /// Draw a progress bar on stderr (also drawn when stderr is a terminal).
    pub progress: bool,
}

impl fmt::Debug for FleetConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FleetConfig")
            .field("seed", &self.seed)
            .field("start_index", &self.start_index)
            .field("devices", &self.devices)
            .field("cira", &self.cira)
            .field("admin_password", &"<redacted>")
            .field("concurrency", &self.concurrency)
            .finish_non_exhaustive()
    }
}

impl FleetConfig {
    /// `devices` provisioned devices pointed at `cira`, with defaults for everything else.
    pub fn provisioned(
        seed: u64,
        devices: u64,
        cira: CiraSettings,
        admin_password: impl Into<String>,
    ) -> FleetConfig {
        FleetConfig {
            seed,
            start_index: 0,
            devices,
            firmware_version: crate::device::DEFAULT_FIRMWARE.to_string(),
            cira: Some(cira),
            admin_password: admin_password.into(),
            concurrency: 200,
            session: SessionConfig::default(),
            backoff: BackoffConfig::default(),
            fallback_roots: None,
            tls13: false,
            generation: Generation::default(),
            progress: false,
        }
    }

    /// The devices this config describes.
    pub fn build_devices(&self) -> Vec<Device> {
        (self.start_index..self.start_index + self.devices)
            .map(|index| {
                Device::new(DeviceSpec {
                    seed: self.seed,
                    index,
                    firmware_version: self.firmware_version.clone(),
                    provisioned: self.cira.as_ref().map(|cira| Provisioned {
                        mode: ControlMode::Acm,
                        admin_password: self.admin_password.clone(),
                        cira: Some(cira.clone()),
                    }),
                })
            })
            .collect()
    }
}

/// Live counters of a running fleet (fed by the device tasks).
#[derive(Default)]
pub struct FleetStats {
    connected_now: AtomicU64,
    tunnels: AtomicU64,
    disconnects: AtomicU64,
    handshake_micros_total: AtomicU64,
    handshake_micros_max: AtomicU64,
    first_connected: Mutex<HashSet<u64>>,
    last_first_connect: Mutex<Option<Instant>>,
    failed_attempts: Mutex<BTreeMap<FailureKind, u64>>,
}

impl FleetStats {
    /// Devices whose tunnel is up right now.
    pub fn connected(&self) -> u64 {
        self.connected_now.load(Ordering::Relaxed)
    }
    /// Devices that connected at least once.
    pub fn ever_connected(&self) -> u64 {
        self.first_connected
            .lock()
            .map(|s| s.len() as u64)
            .unwrap_or(0)
    }
    pub fn failed_attempts(&self) -> u64 {
        self.failed_attempts
            .lock()
            .map(|m| m.values().sum())
            .unwrap_or(0)
    }
}

impl CiraObserver for FleetStats {
    fn on_event(&self, device: &Device, event: &CiraEvent) {
        match event {
            CiraEvent::Connected { handshake } => {
                self.connected_now.fetch_add(1, Ordering::Relaxed);
                self.tunnels.fetch_add(1, Ordering::Relaxed);
                let us = handshake.as_micros() as u64;
                self.handshake_micros_total.fetch_add(us, Ordering::Relaxed);
                self.handshake_micros_max.fetch_max(us, Ordering::Relaxed);
                if let Ok(mut seen) = self.first_connected.lock()
                    && seen.insert(device.index())
                    && let Ok(mut last) = self.last_first_connect.lock()
                {
                    *last = Some(Instant::now());
                }
            }
            CiraEvent::Disconnected(err) => {
                self.connected_now.fetch_sub(1, Ordering::Relaxed);
                self.disconnects.fetch_add(1, Ordering::Relaxed);
                tracing::info!(guid = %device.guid(), error = %err, "CIRA tunnel lost");
            }
            CiraEvent::Failed(err) => {
                if let Ok(mut m) = self.failed_attempts.lock() {
                    *m.entry(err.kind).or_default() += 1;
                }
                tracing::debug!(guid = %device.guid(), error = %err, "CIRA connect attempt failed");
            }
        }
    }
}

/// The outcome of a fleet run.
#[derive(Debug, Clone, Serialize)]
pub struct FleetSummary {
    pub devices: u64,
    /// Tunnels up when the run ended.
    pub connected: u64,
    /// Devices that connected at least once.
    pub ever_connected: u64,
    /// Devices not connected at the end, by the reason of their last failure.
    pub not_connected_by_reason: BTreeMap<String, u64>,
    /// Failed connect attempts (including retries), by reason.
    pub failed_attempts_by_reason: BTreeMap<String, u64>,
    /// Tunnels established, first connects and reconnects.
    pub tunnels_established: u64,
    pub disconnects: u64,
    pub elapsed_seconds: f64,
    /// From start until the last device's first connect.
    pub time_to_connect_seconds: Option<f64>,
    /// First connects per second over `time_to_connect_seconds`.
    pub connects_per_second: f64,
    pub mean_handshake_ms: f64,
    pub max_handshake_ms: f64,
}

impl fmt::Display for FleetSummary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "devices:               {}", self.devices)?;
        writeln!(f, "connected at end:      {}", self.connected)?;
        writeln!(f, "ever connected:        {}", self.ever_connected)?;
        for (why, n) in &self.not_connected_by_reason {
            writeln!(f, "  not connected: {n} ({why})")?;
        }
        for (why, n) in &self.failed_attempts_by_reason {
            writeln!(f, "  failed attempts: {n} ({why})")?;
        }
        writeln!(
            f,
            "tunnels established:   {} ({} lost)",
            self.tunnels_established, self.disconnects
        )?;
        if let Some(t) = self.time_to_connect_seconds {
            writeln!(
                f,
                "time to connect:       {t:.2} s ({:.0} connects/s)",
                self.connects_per_second
            )?;
        }
        writeln!(
            f,
            "handshake:             mean {:.1} ms, max {:.1} ms",
            self.mean_handshake_ms, self.max_handshake_ms
        )?;
        write!(f, "elapsed:               {:.2} s", self.elapsed_seconds)
    }
}

/// A running fleet.
pub struct Fleet {
    devices: Vec<Device>,
    stats: Arc<FleetStats>,
    cancel: CancellationToken,
    tasks: Vec<JoinHandle<DeviceOutcome>>,
    started: Instant,
    progress: Option<(indicatif::ProgressBar, JoinHandle<()>)>,
}

impl Fleet {
    /// Builds the devices of `config` and starts their CIRA tasks, serving AMT's channels.
    pub fn start(config: &FleetConfig) -> Fleet {
        Fleet::start_with(config, config.build_devices(), Arc::new(AmtServices))
    }

    /// Starts CIRA tasks for given devices with given channel services.
    pub fn start_with(
        config: &FleetConfig,
        devices: Vec<Device>,
        services: Arc<dyn ChannelServices>,
    ) -> Fleet {
        let stats = Arc::new(FleetStats::default());
        let client = Arc::new(CiraClient {
            tls: TlsConfigs::for_generation(
                config.fallback_roots.clone(),
                config.generation,
                config.tls13,
            ),
            session: config.session.clone(),
            backoff: config.backoff,
            services,
            observer: stats.clone(),
            handshake_slots: Arc::new(Semaphore::new(config.concurrency.max(1))),
        });
        let cancel = CancellationToken::new();
        let started = Instant::now();
        let tasks = devices
            .iter()
            .map(|d| tokio::spawn(client.clone().run_device(d.clone(), cancel.clone())))
            .collect();
        let progress = (config.progress || std::io::stderr().is_terminal())
            .then(|| progress_bar(devices.len() as u64, stats.clone()));
        Fleet {
            devices,
            stats,
            cancel,
            tasks,
            started,
            progress,
        }
    }

    pub fn devices(&self) -> &[Device] {
        &self.devices
    }

    pub fn stats(&self) -> &FleetStats {
        &self.stats
    }

    /// Waits until `n` tunnels are up at once, or `timeout`. True if reached.
    pub async fn wait_connected(&self, n: u64, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        while self.stats.connected() < n {
            if Instant::now() >= deadline {
                return false;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        true
    }

    /// Disconnects every device (APF DISCONNECT, TLS close) and sums up the run.
    pub async fn shutdown(self) -> FleetSummary {
        let elapsed = self.started.elapsed();
        let connected_before = self.stats.connected();
        self.cancel.cancel();
        let mut not_connected: BTreeMap<String, u64> = BTreeMap::new();
        let mut connected = 0;
        for task in self.tasks {
            match task.await {
                Ok(outcome) if outcome.connected_at_end => connected += 1,
                Ok(outcome) => {
                    let why = match outcome.last_failure {
                        Some(kind) => kind.to_string(),
                        None => "no CIRA configuration or still connecting".to_string(),
                    };
                    *not_connected.entry(why).or_default() += 1;
                }
                Err(e) => {
                    *not_connected
                        .entry(format!("task failed: {e}"))
                        .or_default() += 1
                }
            }
        }
        if let Some((bar, ticker)) = self.progress {
            ticker.abort();
            bar.set_position(connected_before);
            bar.finish();
        }
        let stats = &self.stats;
        let ever = stats.ever_connected();
        let tunnels = stats.tunnels.load(Ordering::Relaxed);
        let time_to_connect = stats
            .last_first_connect
            .lock()
            .ok()
            .and_then(|t| *t)
            .map(|t| t.duration_since(self.started).as_secs_f64());
        FleetSummary {
            devices: self.devices.len() as u64,
            connected,
            ever_connected: ever,
            not_connected_by_reason: not_connected,
            failed_attempts_by_reason: stats
                .failed_attempts
                .lock()
                .map(|m| m.iter().map(|(k, v)| (k.to_string(), *v)).collect())
                .unwrap_or_default(),
            tunnels_established: tunnels,
            disconnects: stats.disconnects.load(Ordering::Relaxed),
            elapsed_seconds: elapsed.as_secs_f64(),
            time_to_connect_seconds: time_to_connect,
            connects_per_second: match time_to_connect {
                Some(t) if t > 0.0 => ever as f64 / t,
                _ => 0.0,
            },
            mean_handshake_ms: if tunnels > 0 {
                stats.handshake_micros_total.load(Ordering::Relaxed) as f64
                    / tunnels as f64
                    / 1000.0
            } else {
                0.0
            },
            max_handshake_ms: stats.handshake_micros_max.load(Ordering::Relaxed) as f64 / 1000.0,
        }
    }
}

fn progress_bar(total: u64, stats: Arc<FleetStats>) -> (indicatif::ProgressBar, JoinHandle<()>) {
    let bar = indicatif::ProgressBar::new(total);
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "{elapsed_precise} [{bar:40}] {pos}/{len} connected {msg}",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    let shown = bar.clone();
    let ticker = tokio::spawn(async move {
        loop {
            shown.set_position(stats.connected());
            let failed = stats.failed_attempts();
            if failed > 0 {
                shown.set_message(format!("({failed} failed attempts)"));
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    });
    (bar, ticker)
}

/// Raises the soft open-files limit to the hard limit (each device holds one socket).
/// Returns the soft limit now in force.
pub fn raise_nofile_limit() -> std::io::Result<u64> {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit/setrlimit only read/write the struct we pass.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) != 0 {
            return Err(std::io::Error::last_os_error());
        }
        if lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            if libc::setrlimit(libc::RLIMIT_NOFILE, &lim) != 0 {
                return Err(std::io::Error::last_os_error());
            }
        }
    }
    Ok(lim.rlim_cur)
}
