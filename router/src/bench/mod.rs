//! What each hop costs (feature `bench`, `openamt bench hops`): requests per second and p50/p99
//! (wrk) for `GET /mps/api/v1/devices` and `GET /rps/api/v1/admin/profiles`, straight to MPS and
//! RPS, through the router, and through the gateway (TLS, JWT check, kong.yaml routing) with and
//! without the router behind it.
//!
//! Everything runs in this process ([`stack`]); wrk runs beside it on the same cores, so the
//! figures compare hops with each other; they are not the capacity of a dedicated machine.

mod stack;
pub mod wrk;

use std::fmt;
use std::time::Duration;

pub use wrk::WrkResult;

/// What to run.
#[derive(Debug, Clone)]
pub struct HopsOptions {
    /// Length of each wrk run.
    pub seconds: u64,
    /// wrk's keep-alive connections.
    pub connections: u64,
    /// Devices in MPS's inventory and profiles in RPS (the size of the lists).
    pub devices: usize,
    pub profiles: usize,
}

impl Default for HopsOptions {
    /// 10 s per row, 50 connections, 25 devices, 25 profiles.
    fn default() -> HopsOptions {
        HopsOptions {
            seconds: 10,
            connections: 50,
            devices: 25,
            profiles: 25,
        }
    }
}

/// One request through one path.
#[derive(Debug, Clone)]
pub struct Hop {
    pub request: &'static str,
    pub path: &'static str,
    pub result: WrkResult,
}

/// What one run measured.
#[derive(Debug, Clone, Default)]
pub struct HopsFigures {
    pub options: Option<HopsOptions>,
    pub hops: Vec<Hop>,
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

impl fmt::Display for HopsFigures {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(o) = &self.options {
            writeln!(
                f,
                "hops: wrk -t1 -c{} -d{}s, {} devices, {} profiles; all services and wrk share this machine's cores",
                o.connections, o.seconds, o.devices, o.profiles
            )?;
        }
        writeln!(f, "| request | path | req/s | p50 | p99 |")?;
        write!(f, "|---|---|---|---|---|")?;
        for hop in &self.hops {
            write!(
                f,
                "\n| {} | {} | {:.0} | {:.2} ms | {:.2} ms |",
                hop.request,
                hop.path,
                hop.result.requests_per_second,
                ms(hop.result.p50),
                ms(hop.result.p99)
            )?;
        }
        Ok(())
    }
}

/// Whether the benchmark can run here (wrk is installed).
pub fn available() -> bool {
    wrk::available()
}

/// Starts the stack, seeds it, and runs wrk through each path.
pub async fn run(options: HopsOptions) -> anyhow::Result<HopsFigures> {
    anyhow::ensure!(available(), "wrk is not installed (Debian's wrk package)");
    let stack = stack::Stack::start().await?;
    let measured = measure(&stack, &options).await;
    stack.stop();
    Ok(HopsFigures {
        options: Some(options),
        hops: measured?,
    })
}

async fn measure(stack: &stack::Stack, options: &HopsOptions) -> anyhow::Result<Vec<Hop>> {
    stack::seed(stack, options.devices, options.profiles).await?;
    let auth = format!("Authorization: Bearer {}", stack::login_token()?);
    const DEVICES: &str = "GET /mps/api/v1/devices";
    const PROFILES: &str = "GET /rps/api/v1/admin/profiles";
    let rows: [(&str, &str, String, bool); 6] = [
        (
            DEVICES,
            "MPS directly",
            format!("http://{}/api/v1/devices", stack.mps),
            false,
        ),
        (
            DEVICES,
            "router → MPS",
            format!("http://{}/api/v1/devices", stack.router),
            false,
        ),
        (
            DEVICES,
            "gateway (TLS, JWT) → MPS",
            format!(
                "https://localhost:{}/mps/api/v1/devices",
                stack.gateway_direct.port()
            ),
            true,
        ),
        (
            DEVICES,
            "gateway (TLS, JWT) → router → MPS",
            format!(
                "https://localhost:{}/mps/api/v1/devices",
                stack.gateway_via_router.port()
            ),
            true,
        ),
        (
            PROFILES,
            "RPS directly",
            format!("http://{}/api/v1/admin/profiles", stack.rps),
            false,
        ),
        (
            PROFILES,
            "gateway (TLS, JWT) → RPS",
            format!(
                "https://localhost:{}/rps/api/v1/admin/profiles",
                stack.gateway_via_router.port()
            ),
            true,
        ),
    ];
    let mut hops = Vec::new();
    for (request, path, url, with_token) in rows {
        let header = with_token.then(|| auth.clone());
        let (connections, seconds) = (options.connections, options.seconds);
        // wrk blocks for the whole run; the services need this runtime's threads meanwhile.
        let result = tokio::task::spawn_blocking(move || {
            wrk::run(&url, header.as_deref(), connections, seconds)
        })
        .await??;
        tracing::info!(
            request,
            path,
            rate = result.requests_per_second,
            "hop measured"
        );
        hops.push(Hop {
            request,
            path,
            result,
        });
    }
    Ok(hops)
}
