//! RPS activation load test: rounds of N simulated devices activating at once (CCM profile with CIRA, the
//! reference's waits set to zero), each through the simulator's agent as rpc-go would. Prints activations per
//! second, latency percentiles, the server's CPU per activation and its resident memory.
//!
//! The server runs in a child process (this program with `serve`): REST + activation WebSocket on SQLite (or
//! Postgres), a local encrypted secret store, and — unless `--no-bus` — activation events through Debian's
//! Mosquitto (its own process) with a durable file outbox, as in production. Its CPU and memory come from
//! /proc/<pid>, so they are RPS's own; the simulated devices run in this process.
//!
//! ```text
//! cargo run --release -p rps --example activation_bench -- [--devices 100] [--rounds 5] [--db sqlite|postgres]
//!     [--no-bus]
//! ```

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::json;
use sim::agent::{self, AgentOptions, Connection};
use sim::device::{ControlMode, Device, DeviceSpec};

const ADMIN_DB: &str = "postgres://postgres@127.0.0.1:5432/test";

fn arg(args: &[String], name: &str, default: &str) -> String {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
        .unwrap_or_else(|| default.to_owned())
}

/// Resident memory of a process, kB (`VmRSS` and the peak `VmHWM`).
fn memory_kb(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("serve") {
        return serve(&args).await;
    }
    let devices: u64 = arg(&args, "--devices", "100").parse()?;
    let rounds: u64 = arg(&args, "--rounds", "5").parse()?;
    let db = arg(&args, "--db", "sqlite");
    let with_bus = !args.iter().any(|a| a == "--no-bus");
    let scratch = tempfile::tempdir()?;

    let (url, pg_name) = match db.as_str() {
        "postgres" => {
            use sea_orm::{ConnectionTrait, Database};
            let name = format!("rps_act_bench_{}", std::process::id());
            let admin = Database::connect(ADMIN_DB).await?;
            admin
                .execute_unprepared(&format!("CREATE DATABASE {name}"))
                .await?;
            admin.close().await?;
            (
                format!("postgres://postgres@127.0.0.1:5432/{name}"),
                Some(name),
            )
        }
        _ => (
            format!(
                "sqlite://{}?mode=rwc",
                scratch.path().join("rps.db").display()
            ),
            None,
        ),
    };
    let mosquitto = if with_bus {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        Some(broker::mosquitto::Mosquitto::start(
            &scratch.path().join("mosquitto"),
            port,
        )?)
    } else {
        None
    };

    let mut command = Command::new(std::env::current_exe()?);
    command
        .args(["serve", "--url", &url, "--dir"])
        .arg(scratch.path())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped());
    if let Some(m) = &mosquitto {
        command
            .args([
                "--broker",
                &m.url(),
                "--ca",
                &m.ca_path.display().to_string(),
            ])
            .env(
                "RPS_BENCH_BROKER_PASSWORD",
                m.credentials.password("rps").unwrap_or_default(),
            );
    }
    let mut child = command.spawn()?;
    let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
    let ready = lines.next().transpose()?.unwrap_or_default();
    let mut words = ready.split_whitespace();
    anyhow::ensure!(
        words.next() == Some("READY"),
        "server did not start: {ready}"
    );
    let rest = words.next().unwrap_or_default().to_owned();
    let ws = format!("ws://{}/activate", words.next().unwrap_or_default());
    let pid = child.id();

    // A CIRA config and a CCM profile through REST, as an operator would make them.
    let client = reqwest_like::Client::new();
    client
        .post(
            &format!("http://{rest}/api/v1/admin/ciraconfigs"),
            &json!({"configName": "benchcira", "mpsServerAddress": "mps.example.com", "mpsPort": 4433,
                "username": "benchuser", "commonName": "mps.example.com", "serverAddressFormat": 201,
                "authMethod": 2, "mpsRootCertificate": "MIIBAA==", "proxyDetails": ""}),
        )
        .await?;
    client
        .post(
            &format!("http://{rest}/api/v1/admin/profiles"),
            &json!({"profileName": "benchccm", "activation": "ccmactivate", "generateRandomPassword": true,
                "ciraConfigName": "benchcira", "dhcpEnabled": true, "userConsent": "All",
                "kvmEnabled": true, "solEnabled": true, "iderEnabled": false, "tags": ["bench"]}),
        )
        .await?;

    let options = AgentOptions {
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
        url: ws,
        ca_file: None,
        insecure: false,
    };
    println!(
        "RPS activation bench: {devices} devices at once × {rounds} rounds, CCM + CIRA, waits 0, db {db}, bus {}",
        if with_bus { "mosquitto" } else { "off" }
    );
    let mut all_latencies = Vec::new();
    let mut total_time = Duration::ZERO;
    let mut total_cpu = Duration::ZERO;
    let mut total_ok = 0u64;
    let mut exchanges = 0u64;
    for round in 0..rounds {
        let fleet: Vec<Device> = (0..devices)
            .map(|i| Device::new(DeviceSpec::fresh(1000 + round, i)))
            .collect();
        let cpu_before = broker::bench::cpu_time(Some(pid));
        let own_before = broker::bench::process_cpu();
        let started = Instant::now();
        let results: Vec<(Duration, Result<agent::Outcome, agent::AgentError>)> =
            futures::stream::iter(fleet.iter())
                .map(|d| {
                    let (connection, options) = (&connection, &options);
                    async move {
                        let t = Instant::now();
                        let r = agent::run(d, connection, options).await;
                        (t.elapsed(), r)
                    }
                })
                .buffer_unordered(devices as usize)
                .collect()
                .await;
        let elapsed = started.elapsed();
        let cpu = broker::bench::cpu_time(Some(pid)) - cpu_before;
        let own = broker::bench::process_cpu() - own_before;
        let mut ok = 0;
        let mut latencies = Vec::new();
        for (took, r) in &results {
            match r {
                Ok(outcome) => {
                    ok += 1;
                    exchanges += u64::from(outcome.exchanges);
                    latencies.push(*took);
                }
                Err(e) => eprintln!("  activation failed: {e}"),
            }
        }
        let activated = fleet
            .iter()
            .filter(|d| d.control_mode() == ControlMode::Ccm)
            .count();
        anyhow::ensure!(
            activated as u64 == ok,
            "devices in CCM ({activated}) differ from successes ({ok})"
        );
        latencies.sort();
        let (rss, peak) = memory_kb(pid);
        println!(
            "round {round}: {ok}/{devices} in {:.3} s = {:>6.1} activations/s | p50 {:>5} ms p95 {:>5} ms max {:>5} ms | RPS CPU {:>5.2} ms/activation | devices+agents CPU {:>5.2} ms/activation | RPS RSS {} kB (peak {} kB)",
            elapsed.as_secs_f64(),
            ok as f64 / elapsed.as_secs_f64(),
            percentile(&latencies, 50.0).as_millis(),
            percentile(&latencies, 95.0).as_millis(),
            latencies.last().copied().unwrap_or_default().as_millis(),
            cpu.as_secs_f64() * 1000.0 / ok.max(1) as f64,
            own.as_secs_f64() * 1000.0 / ok.max(1) as f64,
            rss,
            peak,
        );
        total_time += elapsed;
        total_cpu += cpu;
        total_ok += ok;
        all_latencies.extend(latencies);
    }
    all_latencies.sort();
    let (rss, peak) = memory_kb(pid);
    println!(
        "total: {total_ok} activations in {:.2} s = {:.1} activations/s (aim ≥ 50); {:.1} WS-Man exchanges each; p50 {} ms p95 {} ms; RPS CPU {:.2} ms per activation; RPS RSS {} kB, peak {} kB",
        total_time.as_secs_f64(),
        total_ok as f64 / total_time.as_secs_f64(),
        exchanges as f64 / total_ok.max(1) as f64,
        percentile(&all_latencies, 50.0).as_millis(),
        percentile(&all_latencies, 95.0).as_millis(),
        total_cpu.as_secs_f64() * 1000.0 / total_ok.max(1) as f64,
        rss,
        peak
    );
    println!("reference: one CCM activation with CIRA took 12.65 s, 12 s of it a fixed wait");

    drop(child.stdin.take());
    let _ = child.wait();
    if let Some(name) = pg_name {
        use sea_orm::{ConnectionTrait, Database};
        let admin = Database::connect(ADMIN_DB).await?;
        admin
            .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .await?;
    }
    drop(mosquitto);
    Ok(())
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// The child: RPS on free ports until stdin closes.
async fn serve(args: &[String]) -> anyhow::Result<()> {
    let dir = std::path::PathBuf::from(arg(args, "--dir", "."));
    let db = rps::Db::connect(&arg(args, "--url", "sqlite::memory:")).await?;
    let secrets = secrets::open(&secrets::SecretStoreConfig::Local {
        dir: dir.join("secrets"),
    })?;
    let bus = match args.iter().position(|a| a == "--broker") {
        Some(_) => {
            let url: broker::BrokerUrl = arg(args, "--broker", "").parse()?;
            let password = std::env::var("RPS_BENCH_BROKER_PASSWORD").unwrap_or_default();
            let mut config =
                broker::BusConfig::new(url, "rps", &password, "rps-bench", "/openamt/rps/bench");
            config.ca_pem = Some(std::fs::read(arg(args, "--ca", ""))?);
            config.outbox = broker::OutboxConfig::File(dir.join("outbox"));
            let bus = broker::Bus::connect(config).await?;
            bus.wait_connected(Duration::from_secs(10)).await?;
            Some(bus)
        }
        None => None,
    };
    let config = rps::RpsConfig {
        web_host: [127, 0, 0, 1].into(),
        web_port: 0,
        websocketport: 0,
        delay_activation_sync: Some(0),
        delay_tls_timer: 0,
        delay_setup_and_config_sync: 0,
        ..rps::RpsConfig::default()
    };
    let shutdown = tokio_util::sync::CancellationToken::new();
    let running = rps::start(
        &config,
        rps::RpsDeps {
            db,
            secrets: Arc::clone(&secrets),
            bus: bus.clone(),
        },
        shutdown.clone(),
    )
    .await?;
    println!("READY {} {}", running.rest_addr, running.activation_addr);
    std::io::stdout().flush()?;
    // Until the parent closes our stdin.
    tokio::task::spawn_blocking(|| {
        let mut sink = String::new();
        let _ = std::io::stdin().read_line(&mut sink);
    })
    .await?;
    shutdown.cancel();
    running.wait().await?;
    if let Some(bus) = bus {
        bus.shutdown(Duration::from_secs(5)).await;
    }
    Ok(())
}

/// A tiny JSON-over-HTTP/1.1 client (hyper), enough for the bench's setup requests.
mod reqwest_like {
    use axum::body::Bytes;
    use http_body_util::{BodyExt, Full};
    use hyper_util::client::legacy::Client as Hyper;
    use hyper_util::rt::TokioExecutor;

    pub struct Client(Hyper<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>);

    impl Client {
        pub fn new() -> Client {
            Client(Hyper::builder(TokioExecutor::new()).build_http())
        }

        pub async fn post(&self, url: &str, body: &serde_json::Value) -> anyhow::Result<()> {
            let request = hyper::Request::post(url)
                .header("content-type", "application/json")
                .body(Full::new(Bytes::from(body.to_string())))?;
            let response = self.0.request(request).await?;
            let status = response.status();
            let text = response.into_body().collect().await?.to_bytes();
            anyhow::ensure!(
                status.is_success(),
                "{url}: {status} {}",
                String::from_utf8_lossy(&text)
            );
            Ok(())
        }
    }
}
