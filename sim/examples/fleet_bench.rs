//! How many simulated devices one process holds connected, at what memory cost, how fast.
//!
//! `cargo run --release -p sim --example fleet_bench -- --devices 10000 [--concurrency 200]`
//!
//! The APF server (the test acceptor of sim's tests: TLS with an ECDSA P-256 certificate,
//! USERAUTH check, tcpip-forward replies, keep-alive options 30/0, keep-alive replies) runs in a
//! child process, so the figures below are the simulator's alone:
//! - RSS per device: VmRSS delta of this process over the devices (model only, then connected),
//! - connects per second: first connects of all devices over the time until the last one,
//! - CPU: this process's user+sys time while connecting, and over 30 idle seconds (one keep-alive
//!   round per device).

#[path = "../tests/support/apf_server.rs"]
mod apf_server;

use apf_server::{ApfServer, ServerConfig, TestPki};
use sim::cira::AmtServices;
use sim::device::CiraSettings;
use sim::fleet::{Fleet, FleetConfig, raise_nofile_limit};
use std::io::{BufRead, BufReader, Write};
use std::sync::Arc;
use std::time::Duration;

fn arg(name: &str) -> Option<String> {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1).cloned())
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

fn cpu_seconds() -> f64 {
    let mut u: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: getrusage writes into the struct we own.
    unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut u) };
    let tv = |t: libc::timeval| t.tv_sec as f64 + t.tv_usec as f64 / 1e6;
    tv(u.ru_utime) + tv(u.ru_stime)
}

fn main() -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let _ = raise_nofile_limit();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    if std::env::args().any(|a| a == "--serve") {
        return rt.block_on(serve());
    }
    let devices: u64 = arg("--devices")
        .and_then(|v| v.parse().ok())
        .unwrap_or(1000);
    let concurrency: usize = arg("--concurrency")
        .and_then(|v| v.parse().ok())
        .unwrap_or(200);

    // The APF server in its own process.
    let mut child = std::process::Command::new(std::env::current_exe()?)
        .arg("--serve")
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
    let mut parts = line.split_whitespace();
    let (Some("READY"), Some(port), Some(ca_hex)) = (parts.next(), parts.next(), parts.next())
    else {
        anyhow::bail!("server did not start: {line:?}");
    };
    let port: u16 = port.parse()?;
    let ca_der = hex::decode(ca_hex)?;

    let result = rt.block_on(async move {
        let cira = CiraSettings {
            server: "localhost".into(),
            port,
            username: ServerConfig::default().username,
            password: ServerConfig::default().password,
            root_cert_der: Some(ca_der),
        };
        let mut config = FleetConfig::provisioned(42, devices, cira, "Adm1n!Pass");
        config.concurrency = concurrency;
        tokio::time::sleep(Duration::from_millis(300)).await;
        let rss_start = vm_rss_kib();
        let built = config.build_devices();
        tokio::time::sleep(Duration::from_millis(300)).await;
        let rss_model = vm_rss_kib();
        let cpu0 = cpu_seconds();
        let fleet = Fleet::start_with(&config, built, Arc::new(AmtServices));
        let all = fleet
            .wait_connected(devices, Duration::from_secs(600))
            .await;
        let cpu_connect = cpu_seconds() - cpu0;
        // Let allocator and TLS buffers settle, then measure the idle fleet.
        tokio::time::sleep(Duration::from_secs(3)).await;
        let rss_connected = vm_rss_kib();
        let cpu1 = cpu_seconds();
        tokio::time::sleep(Duration::from_secs(30)).await;
        let cpu_idle = cpu_seconds() - cpu1;
        let held = fleet.stats().connected();
        let summary = fleet.shutdown().await;
        println!("devices requested:          {devices} (handshake concurrency {concurrency})");
        println!(
            "devices held connected:     {held}{}",
            if all { "" } else { "  (NOT all connected)" }
        );
        println!(
            "connect rate:               {:.0} devices/s (all in {:.2} s)",
            summary.connects_per_second,
            summary.time_to_connect_seconds.unwrap_or(0.0)
        );
        println!(
            "handshake latency:          mean {:.1} ms, max {:.1} ms",
            summary.mean_handshake_ms, summary.max_handshake_ms
        );
        println!(
            "RSS before devices:         {:.1} MiB",
            rss_start as f64 / 1024.0
        );
        println!(
            "RSS per device, model only: {:.0} B",
            (rss_model.saturating_sub(rss_start)) as f64 * 1024.0 / devices as f64
        );
        println!(
            "RSS per device, connected:  {:.0} B (model + tunnel; total {:.1} MiB)",
            (rss_connected.saturating_sub(rss_start)) as f64 * 1024.0 / devices as f64,
            rss_connected as f64 / 1024.0
        );
        println!(
            "RSS per tunnel:             {:.0} B",
            (rss_connected.saturating_sub(rss_model)) as f64 * 1024.0 / devices as f64
        );
        println!(
            "CPU while connecting:       {:.2} s ({:.0} µs per device)",
            cpu_connect,
            cpu_connect * 1e6 / devices as f64
        );
        println!("CPU idle over 30 s:         {:.3} s ({:.2} % of a core; one keep-alive per device every 30 s)", cpu_idle, cpu_idle / 30.0 * 100.0);
        if !summary.failed_attempts_by_reason.is_empty() {
            println!(
                "failed attempts:            {:?}",
                summary.failed_attempts_by_reason
            );
        }
        Ok::<_, anyhow::Error>(())
    });
    let _ = child.kill();
    let _ = child.wait();
    result
}

async fn serve() -> anyhow::Result<()> {
    let pki = TestPki::new();
    let config = ServerConfig {
        record: false,
        ..Default::default()
    };
    let server = ApfServer::start(&pki, config).await;
    println!("READY {} {}", server.addr.port(), hex::encode(&pki.ca_der));
    std::io::stdout().flush()?;
    // Serve until the parent kills us.
    std::future::pending::<()>().await;
    Ok(())
}
