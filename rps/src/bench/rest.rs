//! RPS REST under load: keep-alive HTTP/1.1 clients for a while against
//! `GET /api/v1/admin/profiles`, then against a write route (`POST /api/v1/admin/proxyconfigs`,
//! a new row per request). Requests per second, p50/p99 latency, RPS's CPU per request.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use anyhow::ensure;
use sim::bench::{ChildCommand, cpu_time, percentile};

use super::database::BenchDatabase;
use super::http::{KeepAlive, post_json};
use super::server::{Mode, ServerArgs};

/// The reference RPS's REST rate on this kind of machine, and the aim: ten times that.
pub const REFERENCE_REQUESTS_PER_SECOND: f64 = 1_100.0;
pub const AIM_REQUESTS_PER_SECOND: f64 = 10.0 * REFERENCE_REQUESTS_PER_SECOND;

/// What to run.
#[derive(Debug, Clone)]
pub struct RestOptions {
    /// Keep-alive connections sending requests back to back.
    pub connections: usize,
    /// Length of each route's run.
    pub run_for: Duration,
    /// Profiles in the listed table.
    pub profiles: usize,
    /// RPS's read cache lifetime (zero: every GET reads the database).
    pub cache_ttl: Duration,
    /// A Postgres server URL (a scratch database is made and dropped); SQLite otherwise.
    pub postgres: Option<String>,
    /// How to start RPS (a program calling [`super::serve`]).
    pub server: ChildCommand,
}

impl RestOptions {
    /// 50 connections, 10 s per route, 25 profiles, a 1 s read cache, SQLite.
    pub fn new(server: ChildCommand) -> RestOptions {
        RestOptions {
            connections: 50,
            run_for: Duration::from_secs(10),
            profiles: 25,
            cache_ttl: Duration::from_secs(1),
            postgres: None,
            server,
        }
    }
}

/// One route under load.
#[derive(Debug, Clone, Default)]
pub struct RouteRun {
    pub route: String,
    pub requests: usize,
    /// Answers other than 2xx.
    pub failures: u64,
    pub elapsed: Duration,
    pub p50: Duration,
    pub p99: Duration,
    /// RPS's CPU over the run.
    pub rps_cpu: Duration,
}

impl RouteRun {
    pub fn per_second(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    pub fn cpu_per_request(&self) -> Duration {
        self.rps_cpu.div_f64(self.requests.max(1) as f64)
    }
}

/// What one run measured.
#[derive(Debug, Clone, Default)]
pub struct RestFigures {
    pub database: String,
    pub connections: usize,
    pub profiles: usize,
    /// Size of the listed profiles' JSON.
    pub list_bytes: usize,
    pub cache_ttl: Duration,
    pub get: RouteRun,
    pub post: RouteRun,
}

impl fmt::Display for RestFigures {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "RPS REST benchmark: {}, {} keep-alive connections, {} profiles ({} byte list), read cache {} ms",
            self.database,
            self.connections,
            self.profiles,
            self.list_bytes,
            self.cache_ttl.as_millis()
        )?;
        write!(
            f,
            "{:<34} {:>10} {:>10} {:>9} {:>9} {:>14}",
            "route", "requests", "req/s", "p50 ms", "p99 ms", "RPS CPU/req"
        )?;
        for run in [&self.get, &self.post] {
            write!(
                f,
                "\n{:<34} {:>10} {:>10.0} {:>9.2} {:>9.2} {:>11.1} µs{}",
                run.route,
                run.requests,
                run.per_second(),
                run.p50.as_secs_f64() * 1000.0,
                run.p99.as_secs_f64() * 1000.0,
                run.cpu_per_request().as_secs_f64() * 1e6,
                if run.failures > 0 {
                    format!("  ({} non-2xx)", run.failures)
                } else {
                    String::new()
                }
            )?;
        }
        Ok(())
    }
}

/// Starts RPS, seeds the profiles, then loads each route.
pub async fn run(options: RestOptions) -> anyhow::Result<RestFigures> {
    ensure!(
        options.connections > 0,
        "the REST benchmark needs connections"
    );
    let scratch = tempfile::tempdir()?;
    let database = BenchDatabase::create(options.postgres.as_deref(), scratch.path()).await?;
    let measured = with_database(&options, scratch.path(), &database.url).await;
    let kind = database.kind();
    let dropped = database.drop().await;
    let mut figures = measured?;
    dropped?;
    figures.database = kind.to_owned();
    Ok(figures)
}

async fn with_database(
    options: &RestOptions,
    dir: &std::path::Path,
    db_url: &str,
) -> anyhow::Result<RestFigures> {
    let args = ServerArgs {
        mode: Mode::Rest,
        db_url: db_url.to_owned(),
        dir: dir.to_owned(),
        broker: None,
        ca: None,
        cache_ttl_ms: options.cache_ttl.as_millis() as u64,
    };
    let server = args.spawn(&options.server, None).await?;
    let addr: SocketAddr = server.ready_field(0)?;
    for i in 0..options.profiles {
        let body = serde_json::json!({"profileName": format!("bench-profile-{i:03}"), "activation": "ccmactivate",
            "generateRandomPassword": true, "dhcpEnabled": true, "tags": ["bench", "rack-7"]});
        post_json(addr, "/api/v1/admin/profiles", &body).await?;
    }
    let (_, list) = KeepAlive::connect(addr)
        .await?
        .send("GET", "/api/v1/admin/profiles", None)
        .await?;
    let counter = Arc::new(AtomicU64::new(0));
    let get = route_run(
        options,
        addr,
        server.pid(),
        "GET",
        "/api/v1/admin/profiles",
        &counter,
    )
    .await?;
    let post = route_run(
        options,
        addr,
        server.pid(),
        "POST",
        "/api/v1/admin/proxyconfigs",
        &counter,
    )
    .await?;
    server.stop(Duration::from_secs(5)).await;
    Ok(RestFigures {
        database: String::new(),
        connections: options.connections,
        profiles: options.profiles,
        list_bytes: list.len(),
        cache_ttl: options.cache_ttl,
        get,
        post,
    })
}

async fn route_run(
    options: &RestOptions,
    addr: SocketAddr,
    pid: u32,
    method: &'static str,
    path: &'static str,
    counter: &Arc<AtomicU64>,
) -> anyhow::Result<RouteRun> {
    let cpu = cpu_time(Some(pid));
    let started = Instant::now();
    let deadline = started + options.run_for;
    let workers: Vec<_> = (0..options.connections)
        .map(|_| tokio::spawn(load(addr, method, path, deadline, counter.clone())))
        .collect();
    let mut latencies = Vec::new();
    let mut failures = 0u64;
    for worker in workers {
        let (l, f) = worker.await??;
        latencies.extend(l);
        failures += f;
    }
    let elapsed = started.elapsed();
    let rps_cpu = cpu_time(Some(pid)).saturating_sub(cpu);
    latencies.sort_unstable();
    Ok(RouteRun {
        route: format!("{method} {path}"),
        requests: latencies.len(),
        failures,
        elapsed,
        p50: percentile(&latencies, 0.50),
        p99: percentile(&latencies, 0.99),
        rps_cpu,
    })
}

/// One keep-alive connection sending requests back to back until `deadline`; POSTs make a new
/// proxy config each (a unique name and address from `counter`).
async fn load(
    addr: SocketAddr,
    method: &'static str,
    path: &'static str,
    deadline: Instant,
    counter: Arc<AtomicU64>,
) -> anyhow::Result<(Vec<Duration>, u64)> {
    let mut connection = KeepAlive::connect(addr).await?;
    let mut latencies = Vec::new();
    let mut failures = 0;
    while Instant::now() < deadline {
        let body = (method == "POST").then(|| {
            let i = counter.fetch_add(1, Ordering::Relaxed);
            serde_json::json!({"name": format!("p{i}"),
                "address": format!("10.{}.{}.{}", (i >> 16) & 255, (i >> 8) & 255, i & 255),
                "port": 3128, "networkDnsSuffix": "bench.example.com"})
            .to_string()
        });
        let started = Instant::now();
        let (status, _) = connection.send(method, path, body).await?;
        latencies.push(started.elapsed());
        if !(200..300).contains(&status) {
            failures += 1;
        }
    }
    Ok((latencies, failures))
}
