//! MPS on the bus, measured: registration by activation events, connect → `connected` event lag,
//! MQTT power-command round trips (one at a time and concurrent), and disconnect events.
//!
//! Real Mosquitto with the production configuration (TLS, ACL), MPS with SQLite and the local
//! secret store, and the simulated fleet in the same process (so the figures include the
//! devices' own TLS and WS-Man work on the same cores).
//!
//! `cargo run --release -p mps --example bus_bench -- --devices 2000 --commands 1000 --concurrency 16
//! [--broker-nodelay]`

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use broker::{Bus, BusConfig, OutboxConfig};
use mps::{MpsConfig, MpsDeps};
use schemas::{Command, DeviceEvent, Event, Guid, Topic, proto};
use tokio_util::sync::CancellationToken;

const CIRA_USER: &str = "benchUser";
const CIRA_PASSWORD: &str = "Bench-Cira-1";
const AMT_PASSWORD: &str = "Bench-Amt-1";

fn arg<T: std::str::FromStr>(name: &str, default: T) -> T {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

fn summary(mut ms: Vec<f64>) -> String {
    ms.sort_by(|a, b| a.total_cmp(b));
    format!(
        "p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms (n = {})",
        percentile(&ms, 0.5),
        percentile(&ms, 0.99),
        ms.last().copied().unwrap_or(0.0),
        ms.len()
    )
}

struct DeviceServices;

impl sim::cira::ChannelServices for DeviceServices {
    fn accepts(&self, port: u32) -> bool {
        matches!(port, 16992 | 16994)
    }
    fn spawn(&self, port: u32, device: sim::device::Device, stream: sim::cira::ChannelStream) {
        tokio::spawn(async move {
            let _ = match port {
                16992 => sim::wsman_server::serve(device, stream).await,
                _ => sim::redirection::serve(device, stream).await,
            };
        });
    }
}

fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port())
}

async fn client(m: &broker::mosquitto::Mosquitto, user: &str, id: &str) -> anyhow::Result<Bus> {
    let mut c = BusConfig::new(
        m.url().parse()?,
        user,
        m.credentials.password(user).unwrap_or_default(),
        id,
        &format!("/openamt/bench/{id}"),
    );
    c.ca_pem = Some(m.ca_pem.as_bytes().to_vec());
    c.session_expiry = Duration::ZERO;
    let bus = Bus::connect(c).await?;
    bus.wait_connected(Duration::from_secs(10)).await?;
    Ok(bus)
}

fn ms_since(t: &Option<prost_types::Timestamp>) -> f64 {
    let Some(t) = t else { return 0.0 };
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap_or_default();
    let at = Duration::new(t.seconds.max(0) as u64, t.nanos.max(0) as u32);
    now.saturating_sub(at).as_secs_f64() * 1000.0
}

#[derive(Default)]
struct Seen {
    connected: usize,
    disconnected: usize,
    connect_lag_ms: Vec<f64>,
}

async fn run() -> anyhow::Result<()> {
    let devices: u64 = arg("--devices", 2000);
    let commands: usize = arg("--commands", 1000);
    let concurrency: usize = arg("--concurrency", 16);
    let dir = tempfile::tempdir()?;
    let broker_dir = dir.path().join("broker");
    let mut mosquitto = broker::mosquitto::Mosquitto::start(&broker_dir, free_port()?)?;
    let nodelay = std::env::args().any(|a| a == "--broker-nodelay");
    if nodelay {
        // Measures Mosquitto's `set_tcp_nodelay` (off in the shipped configuration): Nagle on the
        // broker's small writes meets the clients' delayed ACKs on request/response round trips.
        use std::io::Write as _;
        std::fs::OpenOptions::new()
            .append(true)
            .open(broker_dir.join("mosquitto.conf"))?
            .write_all(b"\nset_tcp_nodelay true\n")?;
        mosquitto.stop();
        mosquitto.resume()?;
    }

    let config = MpsConfig {
        port: 0,
        web_port: 0,
        bind_address: "127.0.0.1".into(),
        jwt_secret: "bench-jwt".into(),
        web_admin_user: "admin".into(),
        web_admin_password: "bench-admin".into(),
        data_dir: dir.path().join("mps"),
        instance_name: "bench".into(),
        ..Default::default()
    };
    let mut bus_config = mps::events::bus_config(
        &config,
        mosquitto.url().parse()?,
        "mps",
        mosquitto.credentials.password("mps").unwrap_or_default(),
    )?;
    bus_config.ca_pem = Some(mosquitto.ca_pem.as_bytes().to_vec());
    bus_config.outbox = OutboxConfig::File(dir.path().join("mps-outbox"));
    let bus = Bus::connect(bus_config).await?;
    let mut deps = MpsDeps::from_config(&config)?;
    deps.bus = Some(bus);
    let shutdown = CancellationToken::new();
    let running = mps::start(config, deps, shutdown.clone()).await?;
    let mps = running.mps.clone();

    let dashboard = client(&mosquitto, "dashboard", "bench-dash").await?;
    let seen = Arc::new(Mutex::new(Seen::default()));
    {
        let mut sub = dashboard
            .subscribe(&dashboard.topics().all_device_events())
            .await?;
        let seen = seen.clone();
        tokio::spawn(async move {
            while let Some(d) = sub.next().await {
                let ty = d.event.as_ref().map(|e| e.ty.clone()).unwrap_or_default();
                let mut s = seen.lock().unwrap_or_else(|e| e.into_inner());
                if ty == proto::DeviceConnected::TYPE {
                    if let Ok(e) = d.decode::<proto::DeviceConnected>() {
                        s.connect_lag_ms.push(ms_since(&e.connected_at));
                    }
                    s.connected += 1;
                } else if ty == proto::DeviceDisconnected::TYPE {
                    s.disconnected += 1;
                }
            }
        });
    }

    // Registration: what RPS does after activating each device.
    let root = mps
        .certs()
        .map(|c| c.root_cert_pem.clone())
        .unwrap_or_default();
    let root_der = rustls_pki_types::pem::PemObject::from_pem_slice(root.as_bytes())
        .map(|c: rustls_pki_types::CertificateDer<'static>| c.to_vec())?;
    let cira = sim::device::CiraSettings {
        server: "localhost".into(),
        port: running.cira_addr.port(),
        username: CIRA_USER.into(),
        password: CIRA_PASSWORD.into(),
        root_cert_der: Some(root_der),
    };
    let fleet_config = sim::fleet::FleetConfig::provisioned(4242, devices, cira, AMT_PASSWORD);
    let fleet_devices = fleet_config.build_devices();
    let rps = client(&mosquitto, "rps", "bench-rps").await?;
    let t = Instant::now();
    for d in &fleet_devices {
        let mut secret = serde_json::Map::new();
        secret.insert("MPS_PASSWORD".into(), CIRA_PASSWORD.into());
        secret.insert("AMT_PASSWORD".into(), AMT_PASSWORD.into());
        mps.secrets()
            .put(&format!("devices/{}", d.guid()), secret)
            .await?;
        let g: Guid = d.guid().parse()?;
        let ev = proto::ActivationEvent {
            guid: d.guid(),
            phase: proto::ActivationPhase::Succeeded as i32,
            hostname: d.hostname(),
            mps_username: CIRA_USER.into(),
            ..Default::default()
        };
        rps.publish(&Topic::DeviceEvent(g, DeviceEvent::Activation), &ev)
            .await?;
    }
    while mps.registry().count("").await? < devices && t.elapsed() < Duration::from_secs(600) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let register_secs = t.elapsed().as_secs_f64();

    // Connect: until the dashboard has seen every connected event.
    let t = Instant::now();
    let fleet = sim::fleet::Fleet::start_with(
        &fleet_config,
        fleet_devices.clone(),
        Arc::new(DeviceServices),
    );
    while seen.lock().map(|s| s.connected).unwrap_or(0) < devices as usize
        && t.elapsed() < Duration::from_secs(600)
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let connect_secs = t.elapsed().as_secs_f64();
    let lags = seen
        .lock()
        .map(|s| s.connect_lag_ms.clone())
        .unwrap_or_default();

    // Power commands over MQTT: one at a time, then `concurrency` in flight.
    let operator = client(&mosquitto, "operator", "bench-operator").await?;
    let targets: Vec<Guid> = fleet_devices
        .iter()
        .take(100)
        .filter_map(|d| d.guid().parse().ok())
        .collect();
    let command = |i: usize| {
        let g = targets[i % targets.len()];
        let action = if (i / targets.len()).is_multiple_of(2) {
            8
        } else {
            2
        };
        (
            g,
            proto::PowerActionRequest {
                action,
                use_sol: false,
            },
        )
    };
    let mut serial = Vec::with_capacity(commands);
    let mut failed = 0;
    for i in 0..commands {
        let (g, req) = command(i);
        let t = Instant::now();
        let reply = operator
            .request::<_, proto::CommandReply>(
                &Topic::Command(g, Command::Power),
                &req,
                Duration::from_secs(30),
            )
            .await;
        serial.push(t.elapsed().as_secs_f64() * 1000.0);
        if !matches!(&reply, Ok(r) if r.status == proto::command_reply::Status::Ok as i32 && r.return_value == 0)
        {
            failed += 1;
        }
    }
    let t = Instant::now();
    let lat = Arc::new(Mutex::new(Vec::with_capacity(commands)));
    let failed_concurrent = Arc::new(Mutex::new(0usize));
    let next = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let mut workers = Vec::new();
    for _ in 0..concurrency.max(1) {
        let (operator, lat, failed_c, next) = (
            operator.clone(),
            lat.clone(),
            failed_concurrent.clone(),
            next.clone(),
        );
        let targets = targets.clone();
        workers.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= commands {
                    return;
                }
                // Consecutive commands go to different devices (100 targets).
                let g = targets[i % targets.len()];
                let action = if (i / targets.len()).is_multiple_of(2) {
                    8
                } else {
                    2
                };
                let t = Instant::now();
                let reply = operator
                    .request::<_, proto::CommandReply>(
                        &Topic::Command(g, Command::Power),
                        &proto::PowerActionRequest {
                            action,
                            use_sol: false,
                        },
                        Duration::from_secs(30),
                    )
                    .await;
                if let Ok(mut l) = lat.lock() {
                    l.push(t.elapsed().as_secs_f64() * 1000.0);
                }
                if !matches!(&reply, Ok(r) if r.status == proto::command_reply::Status::Ok as i32)
                    && let Ok(mut f) = failed_c.lock()
                {
                    *f += 1;
                }
            }
        }));
    }
    for w in workers {
        let _ = w.await;
    }
    let concurrent_secs = t.elapsed().as_secs_f64();
    let concurrent = lat.lock().map(|l| l.clone()).unwrap_or_default();

    // Disconnect: the fleet leaves (APF DISCONNECT), until every disconnected event is seen.
    let t = Instant::now();
    let _ = fleet.shutdown().await;
    while seen.lock().map(|s| s.disconnected).unwrap_or(0) < devices as usize
        && t.elapsed() < Duration::from_secs(600)
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let disconnect_secs = t.elapsed().as_secs_f64();
    let s = seen
        .lock()
        .map(|s| (s.connected, s.disconnected))
        .unwrap_or((0, 0));

    println!(
        "broker:                               Mosquitto, production configuration{}",
        if nodelay {
            " + set_tcp_nodelay true"
        } else {
            ""
        }
    );
    println!("devices:                              {devices}");
    println!(
        "registered from activation events:    {devices} in {register_secs:.2} s ({:.0} /s, publish included)",
        devices as f64 / register_secs
    );
    println!(
        "connected events seen:                {} in {connect_secs:.2} s ({:.0} /s, devices' TLS on the same cores)",
        s.0,
        s.0 as f64 / connect_secs
    );
    println!("tunnel up → dashboard has the event:  {}", summary(lags));
    println!(
        "power command round trip, serial:     {} ({failed} failed)",
        summary(serial)
    );
    println!(
        "power commands, {concurrency} in flight:         {:.0} /s; {} ({} failed)",
        commands as f64 / concurrent_secs,
        summary(concurrent),
        failed_concurrent.lock().map(|f| *f).unwrap_or(0)
    );
    println!(
        "disconnected events seen:             {} in {disconnect_secs:.2} s",
        s.1
    );
    shutdown.cancel();
    running.wait().await?;
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let _ = sim::fleet::raise_nofile_limit();
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?
        .block_on(run())
}
