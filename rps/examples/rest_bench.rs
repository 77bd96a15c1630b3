//! RPS REST load test: N keep-alive HTTP/1.1 clients for T seconds against `GET /api/v1/admin/profiles`, then
//! against a write route (`POST /api/v1/admin/proxyconfigs`, a new row per request). Prints requests/s, p50/p99
//! latency and the server's CPU time per request.
//!
//! The server runs in a child process (this program with `serve`), so its CPU (from /proc/<pid>/stat) is its own:
//!
//! ```text
//! cargo run --release -p rps --example rest_bench -- [--db sqlite|postgres] [--connections 50] [--seconds 10]
//!     [--profiles 25] [--cache-ttl-ms 1000]   (0: no read cache, every GET reads the database)
//! ```
//!
//! `--db postgres` makes a scratch database on 127.0.0.1:5432 (user postgres, trust) and drops it afterwards.
//! Secrets go to an in-process fake KV v2 in the server process.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::body::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::Request;
use hyper_util::rt::TokioIo;
use sea_orm::{ConnectionTrait, Database};

const ADMIN_DB: &str = "postgres://postgres@127.0.0.1:5432/test";

fn arg(args: &[String], name: &str, default: &str) -> String {
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .cloned()
        .unwrap_or_else(|| default.to_owned())
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let args: Vec<String> = std::env::args().collect();
    if args.get(1).map(String::as_str) == Some("serve") {
        let ttl = arg(&args, "--cache-ttl-ms", "1000").parse()?;
        return serve(&arg(&args, "--url", "sqlite::memory:"), ttl).await;
    }
    let db = arg(&args, "--db", "sqlite");
    let connections: usize = arg(&args, "--connections", "50").parse()?;
    let seconds: u64 = arg(&args, "--seconds", "10").parse()?;
    let profiles: usize = arg(&args, "--profiles", "25").parse()?;
    let cache_ttl_ms = arg(&args, "--cache-ttl-ms", "1000");

    let scratch = tempfile::tempdir()?;
    let (url, pg_name) = match db.as_str() {
        "postgres" => {
            let name = format!("rps_bench_{}", std::process::id());
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
                scratch.path().join("bench.db").display()
            ),
            None,
        ),
    };

    let mut child = Command::new(std::env::current_exe()?)
        .args(["serve", "--url", &url, "--cache-ttl-ms", &cache_ttl_ms])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()?;
    let stdout = child
        .stdout
        .take()
        .ok_or_else(|| anyhow::anyhow!("no child stdout"))?;
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line)?;
    let addr: std::net::SocketAddr = line.trim().trim_start_matches("LISTENING ").parse()?;
    let pid = child.id();

    for i in 0..profiles {
        let body = serde_json::json!({"profileName": format!("bench-profile-{i:03}"), "activation": "ccmactivate",
            "generateRandomPassword": true, "dhcpEnabled": true, "tags": ["bench", "rack-7"]});
        let (status, _) = one_request(
            addr,
            "POST",
            "/api/v1/admin/profiles",
            Some(body.to_string()),
        )
        .await?;
        anyhow::ensure!(status == 201, "seeding profile {i} answered {status}");
    }
    let (_, list) = one_request(addr, "GET", "/api/v1/admin/profiles", None).await?;
    println!(
        "rps REST bench: {db}, {connections} keep-alive connections, {seconds} s per route, {profiles} profiles \
         ({} byte list), read cache TTL {cache_ttl_ms} ms",
        list.len()
    );
    println!(
        "{:<38} {:>10} {:>10} {:>9} {:>9} {:>14}",
        "route", "requests", "req/s", "p50 ms", "p99 ms", "server CPU/req"
    );
    let counter = Arc::new(AtomicU64::new(0));
    for (label, method, path) in [
        (
            "GET /api/v1/admin/profiles",
            "GET",
            "/api/v1/admin/profiles",
        ),
        (
            "POST /api/v1/admin/proxyconfigs",
            "POST",
            "/api/v1/admin/proxyconfigs",
        ),
    ] {
        let cpu_before = cpu_seconds(pid)?;
        let started = Instant::now();
        let deadline = started + Duration::from_secs(seconds);
        let mut workers = Vec::new();
        for _ in 0..connections {
            let counter = Arc::clone(&counter);
            workers.push(tokio::spawn(load(addr, method, path, deadline, counter)));
        }
        let mut latencies = Vec::new();
        let mut failures = 0u64;
        for w in workers {
            let (l, f) = w.await??;
            latencies.extend(l);
            failures += f;
        }
        let elapsed = started.elapsed().as_secs_f64();
        let cpu = cpu_seconds(pid)? - cpu_before;
        latencies.sort_unstable();
        let pct = |p: f64| {
            latencies
                .get(((latencies.len() as f64 * p) as usize).min(latencies.len().saturating_sub(1)))
        };
        let ms = |d: Option<&Duration>| d.map_or(0.0, |d| d.as_secs_f64() * 1000.0);
        let n = latencies.len() as f64;
        println!(
            "{label:<38} {:>10} {:>10.0} {:>9.2} {:>9.2} {:>11.1} µs{}",
            latencies.len(),
            n / elapsed,
            ms(pct(0.50)),
            ms(pct(0.99)),
            cpu / n * 1e6,
            if failures > 0 {
                format!("  ({failures} non-2xx)")
            } else {
                String::new()
            }
        );
    }
    if let Some(mut stdin) = child.stdin.take() {
        let _ = stdin.write_all(b"stop\n");
    }
    let _ = child.wait();
    if let Some(name) = pg_name {
        let admin = Database::connect(ADMIN_DB).await?;
        admin
            .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .await?;
    }
    Ok(())
}

/// The child: RPS REST on a free port with a fake KV v2, until stdin closes.
async fn serve(url: &str, cache_ttl_ms: u64) -> anyhow::Result<()> {
    let vault = secrets::test_server::TestVault::start("bench").await?;
    let store = secrets::open(&vault.config())?;
    let db = rps::Db::connect(url).await?;
    let server = rps::RestServer::bind(([127, 0, 0, 1], 0).into(), db, store)
        .await?
        .cache_ttl(Duration::from_millis(cache_ttl_ms));
    println!("LISTENING {}", server.local_addr()?);
    std::io::stdout().flush()?;
    let stop = async {
        let _ = tokio::task::spawn_blocking(|| {
            let mut line = String::new();
            let _ = std::io::stdin().read_line(&mut line);
        })
        .await;
    };
    server.run(stop).await?;
    Ok(())
}

/// utime + stime of `pid`, in seconds (Linux clock ticks are 100 per second).
fn cpu_seconds(pid: u32) -> anyhow::Result<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat"))?;
    let after_name = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .unwrap_or_default();
    let fields: Vec<&str> = after_name.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // Fields 14 and 15 of stat; after the name the state is index 0, so utime is 11 and stime 12.
    Ok((ticks(11) + ticks(12)) / 100.0)
}

async fn one_request(
    addr: std::net::SocketAddr,
    method: &str,
    path: &str,
    body: Option<String>,
) -> anyhow::Result<(u16, Bytes)> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let request = build(method, path, body)?;
    let response = sender.send_request(request).await?;
    let status = response.status().as_u16();
    Ok((status, response.into_body().collect().await?.to_bytes()))
}

fn build(method: &str, path: &str, body: Option<String>) -> anyhow::Result<Request<Full<Bytes>>> {
    Ok(Request::builder()
        .method(method)
        .uri(path)
        .header("host", "rps")
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.unwrap_or_default())))?)
}

/// One keep-alive connection sending requests back to back until `deadline`.
async fn load(
    addr: std::net::SocketAddr,
    method: &'static str,
    path: &'static str,
    deadline: Instant,
    counter: Arc<AtomicU64>,
) -> anyhow::Result<(Vec<Duration>, u64)> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(conn);
    let mut latencies = Vec::new();
    let mut failures = 0;
    while Instant::now() < deadline {
        let body = (method == "POST").then(|| {
            let i = counter.fetch_add(1, Ordering::Relaxed);
            serde_json::json!({"name": format!("p{i}"), "address": format!("10.{}.{}.{}", (i >> 16) & 255, (i >> 8) & 255, i & 255),
                "port": 3128, "networkDnsSuffix": "bench.example.com"})
            .to_string()
        });
        let request = build(method, path, body)?;
        let started = Instant::now();
        let response = sender.send_request(request).await?;
        let ok = response.status().is_success();
        response.into_body().collect().await?;
        latencies.push(started.elapsed());
        if !ok {
            failures += 1;
        }
    }
    Ok((latencies, failures))
}
