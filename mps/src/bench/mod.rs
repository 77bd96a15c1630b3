//! The MPS benchmark: a simulated fleet in its own process connects over CIRA to an MPS in this
//! process, which is on the bus through Mosquitto with the production configuration. One run
//! prints ([`Figures`]'s `Display`) connects per second, MPS's resident memory per idle tunnel,
//! its CPU while the tunnels idle on 30 s keep-alives, connect → dashboard event latency, and
//! power-action round trips over REST and over MQTT, with the aims beside them.
//!
//! Phases, in order:
//! 1. registration: for every device, its secrets are stored and an "activation succeeded"
//!    event is published as user `rps`, until MPS has every row (what RPS does);
//! 2. connect: the device process starts and every device dials at once (`handshakes` TLS
//!    handshakes in flight), until MPS holds every tunnel; a `dashboard` subscriber times each
//!    `connected` event;
//! 3. idle: `idle` seconds with every tunnel up;
//! 4. power: `power_calls` actions one at a time over REST, then over MQTT as user `operator`,
//!    then the same with `in_flight` at a time;
//! 5. the device process is killed: until every row says disconnected and every `disconnected`
//!    event has reached the dashboard.
//!
//! The example `mps_bench` and `openamt bench mps` are thin wrappers around [`run`].

mod devices;
mod figures;
mod power;
mod stack;
mod stats;
mod watch;

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use futures::{StreamExt, TryStreamExt};
use schemas::{DeviceEvent, Guid, Topic, proto};
use serde_json::Map;

pub use devices::{DeviceCommand, device_process};
pub use figures::{AIM_CONNECTS_PER_SECOND, AIM_POWER_P99, AIM_RSS_PER_CONNECTION_BYTES, Figures};
pub use power::CallRun;
pub use stack::Outbox;
pub use stats::{Latencies, LoadAverage};

use devices::{DeviceProcess, FleetSpec};
use stack::Stack;
use stats::{cpu_time, live_rss_kib, rss_kib};
use watch::Dashboard;

const CIRA_USER: &str = "benchUser";
const CIRA_PASSWORD: &str = "Bench-Cira-1";
const AMT_PASSWORD: &str = "Bench-Amt-1";
/// Fleet seed: with the device index it fixes each simulated device's GUID.
const SEED: u64 = 4242;
/// Devices that take the power actions.
const POWER_TARGETS: usize = 100;
/// Limit of each waiting phase.
const PHASE_LIMIT: Duration = Duration::from_secs(600);
/// How long the rows and events may take to show a killed fleet offline.
const DISCONNECT_LIMIT: Duration = Duration::from_secs(120);

/// What to run.
#[derive(Debug, Clone)]
pub struct BenchOptions {
    pub devices: u64,
    /// TLS handshakes the device process keeps in flight at once.
    pub handshakes: usize,
    /// How long every tunnel idles while MPS's CPU is measured.
    pub idle: Duration,
    /// Power actions per transport, one at a time and again `in_flight` at a time.
    pub power_calls: usize,
    pub in_flight: usize,
    /// A Postgres server URL (any database on it): MPS gets a database of its own there, dropped
    /// at the end. `None`: SQLite in a temporary directory.
    pub postgres: Option<String>,
    pub outbox: Outbox,
    /// How to start the device process (`openamt sim cira`, or a program calling
    /// [`device_process`]).
    pub device_command: DeviceCommand,
}

impl BenchOptions {
    /// 10,000 devices, 256 handshakes in flight, 30 s idle, 1,000 power calls, 16 in flight;
    /// SQLite with the outbox in it.
    pub fn new(device_command: DeviceCommand) -> BenchOptions {
        BenchOptions {
            devices: 10_000,
            handshakes: 256,
            idle: Duration::from_secs(30),
            power_calls: 1_000,
            in_flight: 16,
            postgres: None,
            outbox: Outbox::Database,
            device_command,
        }
    }
}

/// Runs every phase and returns the figures; Mosquitto must be installed (Debian's package).
pub async fn run(options: BenchOptions) -> anyhow::Result<Figures> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    if options.devices == 0 {
        bail!("the benchmark needs at least one device");
    }
    match sim::fleet::raise_nofile_limit() {
        Ok(limit) if limit < options.devices + 1024 => tracing::warn!(
            limit,
            devices = options.devices,
            "the open-files limit is too low for every tunnel"
        ),
        Ok(_) => {}
        Err(error) => tracing::warn!(%error, "could not raise the open-files limit"),
    }
    let mut figures = Figures {
        devices: options.devices,
        load_before: LoadAverage::now(),
        ..Default::default()
    };
    let dir = tempfile::tempdir()?;
    let stack = Stack::start(dir.path(), options.postgres.as_deref(), options.outbox).await?;
    figures.database = stack.database_kind().to_owned();
    figures.outbox = match options.outbox {
        Outbox::Database => format!("in MPS's {} database", figures.database),
        Outbox::File => "in a file".to_owned(),
    };
    // Stopped in order (and a scratch database dropped) whatever the phases did.
    let measured = phases(&stack, &options, dir.path(), &mut figures).await;
    figures.load_after = LoadAverage::now();
    let stopped = stack.stop().await;
    measured?;
    stopped?;
    Ok(figures)
}

async fn phases(
    stack: &Stack,
    options: &BenchOptions,
    dir: &std::path::Path,
    figures: &mut Figures,
) -> anyhow::Result<()> {
    let dashboard = Dashboard::start(&stack.dashboard).await?;
    let guids: Vec<Guid> = (0..options.devices)
        .map(|i| sim::device::guid_for(SEED, i).to_string().parse())
        .collect::<Result<_, _>>()?;

    figures.registration = register(stack, &guids).await?;
    tracing::info!(
        devices = guids.len(),
        secs = figures.registration.as_secs_f64(),
        "registered"
    );

    let mut device_process = connect(stack, &dashboard, options, dir, figures).await?;
    tracing::info!(
        connected = figures.connected,
        secs = figures.connect_time.as_secs_f64(),
        "connected"
    );

    let mps_cpu = cpu_time(None);
    let broker_cpu = cpu_time(stack.mosquitto.pid());
    tokio::time::sleep(options.idle).await;
    figures.idle = options.idle;
    figures.idle_cpu_mps = cpu_time(None).saturating_sub(mps_cpu);
    figures.idle_cpu_broker = cpu_time(stack.mosquitto.pid()).saturating_sub(broker_cpu);
    if let Some(status) = device_process.exited() {
        bail!(
            "the device process ended ({status}) while idle:\n{}",
            device_process.log_tail()
        );
    }

    power(stack, &guids, options, figures).await;
    tracing::info!("power actions done");

    let t = Instant::now();
    device_process.kill();
    let registry = stack.running.mps.registry();
    while t.elapsed() < DISCONNECT_LIMIT
        && (figures.rows_disconnected.is_none() || figures.events_disconnected.is_none())
    {
        if figures.rows_disconnected.is_none() && registry.count_connected("").await? == 0 {
            figures.rows_disconnected = Some(t.elapsed());
        }
        if figures.events_disconnected.is_none()
            && dashboard.disconnected() as u64 >= figures.connected
        {
            figures.events_disconnected = Some(t.elapsed());
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    figures.rows_still_connected = registry.count_connected("").await?;
    if figures.rows_still_connected > 0 {
        report_stuck_rows(stack, &guids).await;
    }
    figures.disconnected_events = dashboard.disconnected();
    Ok(())
}

/// Logs a few rows that still say connected though MPS holds no tunnel for them, with their
/// timestamps: a `lastseen` after `lastdisconnected` means a keep-alive batch wrote over the
/// disconnect.
async fn report_stuck_rows(stack: &Stack, guids: &[Guid]) {
    let mps = &stack.running.mps;
    let mut shown = 0;
    for g in guids {
        let guid = g.to_string();
        let Ok(Some(row)) = mps.registry().get(&guid, None).await else {
            continue;
        };
        if row.connection_status == Some(true) && !mps.connections().contains(&guid) {
            tracing::warn!(
                guid,
                last_connected = row.last_connected.as_deref().unwrap_or(""),
                last_seen = row.last_seen.as_deref().unwrap_or(""),
                last_disconnected = row.last_disconnected.as_deref().unwrap_or(""),
                "row still says connected after the device process was killed"
            );
            shown += 1;
            if shown == 5 {
                return;
            }
        }
    }
}

/// What RPS does when a device is activated: its secrets into the store, then the event MPS
/// registers the device from. Returns once MPS has every row.
async fn register(stack: &Stack, guids: &[Guid]) -> anyhow::Result<Duration> {
    let t = Instant::now();
    let mps = &stack.running.mps;
    futures::stream::iter(guids)
        .map(|g| async move {
            let mut secret = Map::new();
            secret.insert("MPS_PASSWORD".into(), CIRA_PASSWORD.into());
            secret.insert("AMT_PASSWORD".into(), AMT_PASSWORD.into());
            mps.secrets().put(&format!("devices/{g}"), secret).await
        })
        .buffer_unordered(32)
        .try_collect::<()>()
        .await
        .context("storing the devices' secrets")?;
    for (index, g) in guids.iter().enumerate() {
        let event = proto::ActivationEvent {
            guid: g.to_string(),
            phase: proto::ActivationPhase::Succeeded as i32,
            control_mode: proto::ControlMode::Acm as i32,
            // The simulator's host name for the device at this index.
            hostname: format!("sim-{index:06}"),
            mps_username: CIRA_USER.into(),
            at: Some(schemas::now()),
            ..Default::default()
        };
        stack
            .rps
            .publish(&Topic::DeviceEvent(*g, DeviceEvent::Activation), &event)
            .await?;
    }
    let expected = guids.len() as u64;
    while mps.registry().count("").await? < expected {
        if t.elapsed() > PHASE_LIMIT {
            bail!(
                "MPS registered {} of {expected} devices in {} s",
                mps.registry().count("").await?,
                PHASE_LIMIT.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    Ok(t.elapsed())
}

/// Starts the device process and waits until MPS holds every tunnel and the dashboard has every
/// `connected` event; fills in the connect, memory and event figures.
async fn connect(
    stack: &Stack,
    dashboard: &Dashboard,
    options: &BenchOptions,
    dir: &std::path::Path,
    figures: &mut Figures,
) -> anyhow::Result<DeviceProcess> {
    let mps = &stack.running.mps;
    let ca = dir.join("mps-root.pem");
    let root = mps
        .certs()
        .map(|c| c.root_cert_pem.clone())
        .context("MPS has no certificates")?;
    std::fs::write(&ca, root)?;

    tokio::time::sleep(Duration::from_secs(1)).await;
    figures.raw_rss_before_kib = rss_kib();
    figures.rss_before_kib = live_rss_kib();
    let mps_cpu = cpu_time(None);
    let broker_cpu = cpu_time(stack.mosquitto.pid());

    let spec = FleetSpec {
        cira: stack.running.cira_addr,
        devices: options.devices,
        seed: SEED,
        username: CIRA_USER,
        password: CIRA_PASSWORD,
        amt_password: AMT_PASSWORD,
        ca: &ca,
        handshakes: options.handshakes,
    };
    let t = Instant::now();
    let mut child = DeviceProcess::spawn(&options.device_command, &spec, dir.join("devices.log"))?;
    loop {
        let held = mps.connections().len() as u64;
        if held > 0 && figures.first_tunnel.is_none() {
            figures.first_tunnel = Some(t.elapsed());
        }
        if held >= options.devices {
            break;
        }
        if let Some(status) = child.exited() {
            bail!(
                "the device process ended ({status}) with {held} tunnels up:\n{}",
                child.log_tail()
            );
        }
        if t.elapsed() > PHASE_LIMIT {
            tracing::warn!(
                held,
                devices = options.devices,
                "not every device connected in time; measuring those that did"
            );
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    figures.connect_time = t.elapsed();
    figures.connected = mps.connections().len() as u64;
    figures.connect_cpu_mps = cpu_time(None).saturating_sub(mps_cpu);
    figures.connect_cpu_devices = cpu_time(Some(child.pid()));
    figures.connect_cpu_broker = cpu_time(stack.mosquitto.pid()).saturating_sub(broker_cpu);
    if figures.connected == 0 {
        bail!("no device connected:\n{}", child.log_tail());
    }

    let t = Instant::now();
    while (dashboard.connected() as u64) < figures.connected && t.elapsed() < PHASE_LIMIT {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    figures.connected_events = dashboard.connected();
    figures.connect_event = Latencies::from_samples(dashboard.connect_lags(), 0);

    // Let the sessions settle (keep-alive options, the batched last-seen writes) before reading
    // the memory of idle tunnels.
    tokio::time::sleep(Duration::from_secs(3)).await;
    figures.raw_rss_connected_kib = rss_kib();
    figures.rss_connected_kib = live_rss_kib();
    Ok(child)
}

/// Power actions over REST and over MQTT, one at a time, then `in_flight` at a time.
async fn power(stack: &Stack, guids: &[Guid], options: &BenchOptions, figures: &mut Figures) {
    let targets: Arc<Vec<Guid>> = Arc::new(guids.iter().take(POWER_TARGETS).copied().collect());
    // No device gets two actions at once.
    let in_flight = options.in_flight.clamp(1, targets.len());
    let rest = power::Rest::new(stack.running.rest_addr);
    let by_rest = {
        let targets = targets.clone();
        move |i: usize| {
            let (rest, (g, action)) = (rest.clone(), power::call(&targets, i));
            async move { rest.power(g, action).await }
        }
    };
    let by_mqtt = {
        let (targets, operator) = (targets.clone(), stack.operator.clone());
        move |i: usize| {
            let (operator, (g, action)) = (operator.clone(), power::call(&targets, i));
            async move { power::mqtt_power(&operator, g, action).await }
        }
    };
    figures.power_targets = targets.len();
    let calls = options.power_calls;
    figures.rest_serial = power::run(calls, 1, by_rest.clone()).await;
    figures.mqtt_serial = power::run(calls, 1, by_mqtt.clone()).await;
    figures.rest_concurrent = power::run(calls, in_flight, by_rest).await;
    figures.mqtt_concurrent = power::run(calls, in_flight, by_mqtt).await;
}
