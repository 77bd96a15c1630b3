//! MPS benchmark: CIRA connects per second, RSS per idle tunnel, idle CPU, REST power-action
//! round trip, and how fast a vanished fleet is marked disconnected.
//!
//! `cargo run --release -p mps --example mps_bench -- [--devices 5000] [--power-calls 1000] [--idle-secs 30]`
//!
//! MPS runs in this process (SQLite in a temp dir, secrets in memory so that the figures are
//! MPS's own); the simulated devices run in a child process (this binary with `--sim`), so the
//! RSS and CPU figures below are the MPS process's alone. Both share the machine's cores: the
//! connect rate includes the devices' side of every TLS handshake.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Write};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use mps::{MpsConfig, MpsDeps};
use secrets::{SecretError, SecretMap, SecretStore, SecretStoreHealth};
use serde_json::{Map, Value, json};
use tokio_util::sync::CancellationToken;

const CIRA_USER: &str = "benchUser";
const CIRA_PASSWORD: &str = "Bench-Cira-1";
const AMT_PASSWORD: &str = "Bench-Amt-1";
const SEED: u64 = 4242;

fn arg<T: std::str::FromStr>(name: &str, default: T) -> T {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn vm_rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        })
        .unwrap_or(0)
}

/// User + system CPU seconds of this process (from /proc/self/stat, clock ticks of 1/100 s).
fn cpu_seconds() -> f64 {
    let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
    let after = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| f.get(i).and_then(|v| v.parse::<f64>().ok()).unwrap_or(0.0);
    (ticks(11) + ticks(12)) / 100.0
}

/// Secrets in memory: the benchmark measures MPS, not a secret store.
#[derive(Default)]
struct MemoryStore(Mutex<HashMap<String, SecretMap>>);

#[async_trait::async_trait]
impl SecretStore for MemoryStore {
    async fn get(&self, path: &str) -> Result<Option<SecretMap>, SecretError> {
        Ok(self.0.lock().ok().and_then(|m| m.get(path).cloned()))
    }
    async fn put(&self, path: &str, data: SecretMap) -> Result<(), SecretError> {
        if let Ok(mut m) = self.0.lock() {
            m.insert(path.to_string(), data);
        }
        Ok(())
    }
    async fn delete(&self, path: &str) -> Result<(), SecretError> {
        if let Ok(mut m) = self.0.lock() {
            m.remove(path);
        }
        Ok(())
    }
    async fn health(&self) -> Result<SecretStoreHealth, SecretError> {
        Ok(SecretStoreHealth {
            name: "MEMORY".into(),
            status: json!({"initialized": true, "sealed": false}),
            ready: true,
        })
    }
}

/// The device side of every channel: WS-Man on 16992, redirection on 16994.
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

fn fleet_config(port: u16, root_der: Vec<u8>, devices: u64) -> sim::fleet::FleetConfig {
    let cira = sim::device::CiraSettings {
        server: "localhost".into(),
        port,
        username: CIRA_USER.into(),
        password: CIRA_PASSWORD.into(),
        root_cert_der: Some(root_der),
    };
    let mut c = sim::fleet::FleetConfig::provisioned(SEED, devices, cira, AMT_PASSWORD);
    c.concurrency = arg("--concurrency", 256usize);
    c
}

/// Child process: the simulated fleet, until the parent kills it.
async fn run_sim() -> anyhow::Result<()> {
    let port: u16 = arg("--port", 0);
    let devices: u64 = arg("--devices", 0);
    let root = hex::decode(arg("--root", String::new()))?;
    let config = fleet_config(port, root, devices);
    let fleet =
        sim::fleet::Fleet::start_with(&config, config.build_devices(), Arc::new(DeviceServices));
    println!("STARTED");
    std::io::stdout().flush()?;
    fleet
        .wait_connected(devices, Duration::from_secs(600))
        .await;
    std::future::pending::<()>().await;
    Ok(())
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i.min(sorted.len() - 1)]
}

async fn run_bench() -> anyhow::Result<()> {
    let devices: u64 = arg("--devices", 5000);
    let power_calls: usize = arg("--power-calls", 1000);
    let idle_secs: u64 = arg("--idle-secs", 30);
    let dir = tempfile::tempdir()?;
    let config = MpsConfig {
        port: 0,
        web_port: 0,
        bind_address: "127.0.0.1".into(),
        jwt_secret: "bench-jwt".into(),
        web_admin_user: "admin".into(),
        web_admin_password: "bench-admin".into(),
        data_dir: dir.path().to_path_buf(),
        instance_name: "bench".into(),
        ..Default::default()
    };
    let store: Arc<dyn SecretStore> = Arc::new(MemoryStore::default());
    let shutdown = CancellationToken::new();
    let running = mps::start(
        config,
        MpsDeps {
            secrets: store.clone(),
            bus: None,
        },
        shutdown.clone(),
    )
    .await?;
    let mps = running.mps.clone();
    let rest = running.rest_addr;

    // Register the fleet (the rows RPS would write) before measuring.
    let guids: Vec<String> = (0..devices)
        .map(|i| sim::device::guid_for(SEED, i).to_string())
        .collect();
    let t = Instant::now();
    for g in &guids {
        let mut body = Map::new();
        body.insert("guid".into(), g.clone().into());
        body.insert("mpsusername".into(), CIRA_USER.into());
        body.insert("tags".into(), json!(["bench"]));
        mps.register_device(&body).await?;
        let mut s = Map::new();
        s.insert("MPS_PASSWORD".into(), CIRA_PASSWORD.into());
        s.insert("AMT_PASSWORD".into(), AMT_PASSWORD.into());
        store.put(&format!("devices/{g}"), s).await?;
    }
    println!(
        "registered {devices} devices in {:.1} s",
        t.elapsed().as_secs_f64()
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss0 = vm_rss_kib();
    let cpu0 = cpu_seconds();

    let root = mps
        .certs()
        .map(|c| c.root_cert_pem.clone())
        .unwrap_or_default();
    let root_der = rustls_pki_types::pem::PemObject::from_pem_slice(root.as_bytes())
        .map(|c: rustls_pki_types::CertificateDer<'static>| c.to_vec())
        .unwrap_or_default();
    let mut child = std::process::Command::new(std::env::current_exe()?)
        .args([
            "--sim",
            "--port",
            &running.cira_addr.port().to_string(),
            "--devices",
            &devices.to_string(),
        ])
        .args(["--root", &hex::encode(root_der)])
        .stdout(std::process::Stdio::piped())
        .spawn()?;
    let mut line = String::new();
    BufReader::new(
        child
            .stdout
            .take()
            .ok_or_else(|| anyhow::anyhow!("no child stdout"))?,
    )
    .read_line(&mut line)?;
    let start = Instant::now();
    while (mps.connections().len() as u64) < devices && start.elapsed() < Duration::from_secs(600) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let connect_time = start.elapsed().as_secs_f64();
    let connected = mps.connections().len();
    let cpu_connect = cpu_seconds() - cpu0;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let rss1 = vm_rss_kib();

    // Idle: keep-alives every 30 s per device (batched lastseen writes).
    let cpu1 = cpu_seconds();
    tokio::time::sleep(Duration::from_secs(idle_secs)).await;
    let cpu_idle = cpu_seconds() - cpu1;

    // Power actions over REST, one at a time on a keep-alive connection, across 100 devices.
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Full<bytes::Bytes>>();
    let mut lat = Vec::with_capacity(power_calls);
    let mut failures = 0;
    let targets = guids.len().clamp(1, 100);
    for i in 0..power_calls {
        let g = &guids[i % targets];
        let action = if (i / targets).is_multiple_of(2) {
            8
        } else {
            2
        };
        let body = bytes::Bytes::from(json!({ "action": action }).to_string());
        let req = hyper::Request::post(format!("http://{rest}/api/v1/amt/power/action/{g}"))
            .header("content-type", "application/json")
            .body(http_body_util::Full::new(body))?;
        let t = Instant::now();
        let resp = client.request(req).await?;
        let ok = resp.status() == 200;
        let bytes = http_body_util::BodyExt::collect(resp.into_body())
            .await?
            .to_bytes();
        lat.push(t.elapsed().as_secs_f64() * 1000.0);
        let v: Value = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        if !ok || v["Body"]["ReturnValueStr"] != "SUCCESS" {
            failures += 1;
        }
    }
    lat.sort_by(|a, b| a.total_cmp(b));

    // The simulator dies: how long until every row says disconnected.
    let t = Instant::now();
    let _ = child.kill();
    let _ = child.wait();
    let mut all_down = false;
    while t.elapsed() < Duration::from_secs(120) {
        if mps.registry().count_connected("").await.unwrap_or(u64::MAX) == 0 {
            all_down = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let down_time = t.elapsed().as_secs_f64();

    println!("devices connected:           {connected} of {devices}");
    println!(
        "connect rate:                {:.0} connects/s (all in {connect_time:.2} s; devices' TLS on the same cores)",
        connected as f64 / connect_time
    );
    println!(
        "MPS CPU while connecting:    {cpu_connect:.2} s ({:.0} µs per connect)",
        cpu_connect * 1e6 / connected.max(1) as f64
    );
    println!(
        "MPS RSS before / connected:  {:.1} MiB / {:.1} MiB",
        rss0 as f64 / 1024.0,
        rss1 as f64 / 1024.0
    );
    println!(
        "MPS RSS per idle tunnel:     {:.0} B",
        rss1.saturating_sub(rss0) as f64 * 1024.0 / connected.max(1) as f64
    );
    println!(
        "MPS CPU idle over {idle_secs} s:      {cpu_idle:.3} s ({:.2} % of a core)",
        cpu_idle / idle_secs as f64 * 100.0
    );
    println!(
        "power action round trip:     p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms over {power_calls} calls ({failures} failed)",
        percentile(&lat, 0.5),
        percentile(&lat, 0.99),
        lat.last().copied().unwrap_or(0.0)
    );
    println!(
        "all rows disconnected after the simulator was killed: {all_down} in {down_time:.2} s"
    );
    shutdown.cancel();
    running.wait().await?;
    Ok(())
}

fn main() -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let _ = sim::fleet::raise_nofile_limit();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    if std::env::args().any(|a| a == "--sim") {
        rt.block_on(run_sim())
    } else {
        rt.block_on(run_bench())
    }
}
