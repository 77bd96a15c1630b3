//! The simulated AMT's WS-Man side: memory per device (idle, and after it has served an
//! authenticated request), and requests per second through [`crate::wsman_server::serve`] with
//! digest auth over in-memory pipes (keep-alive connections, as MPS makes them).

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wsman::digest::{Challenge, DigestClient};
use wsman::http::{Limits, RequestFraming, ResponseReader, encode_request, host};

use super::process::{live_rss_kib, percentile};
use crate::device::{Device, DeviceSpec};

/// What to run.
#[derive(Debug, Clone)]
pub struct WsmanOptions {
    pub devices: u64,
    /// Keep-alive connections sending requests back to back.
    pub connections: usize,
    /// Length of each request kind's run.
    pub run_for: Duration,
}

impl Default for WsmanOptions {
    /// 10,000 devices, 8 connections, 5 s per request kind.
    fn default() -> WsmanOptions {
        WsmanOptions {
            devices: 10_000,
            connections: 8,
            run_for: Duration::from_secs(5),
        }
    }
}

/// Requests of one kind sent back to back.
#[derive(Debug, Clone, Default)]
pub struct RequestRun {
    pub label: String,
    pub connections: usize,
    pub requests: usize,
    pub elapsed: Duration,
    pub p50: Duration,
    pub p99: Duration,
    pub max: Duration,
}

impl RequestRun {
    pub fn per_second(&self) -> f64 {
        self.requests as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// What one run measured.
#[derive(Debug, Clone, Default)]
pub struct WsmanFigures {
    pub devices: u64,
    /// Growth of live resident memory per device: the idle models, then after one
    /// authenticated request each (nonces and counters in use), bytes.
    pub idle_bytes_per_device: f64,
    pub used_bytes_per_device: f64,
    /// Time for every device's first request (a 401, then the authenticated one).
    pub first_requests: Duration,
    pub runs: Vec<RequestRun>,
}

impl fmt::Display for WsmanFigures {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "WS-Man responder benchmark: {} simulated devices in this process",
            self.devices
        )?;
        writeln!(
            f,
            "memory: {:.0} bytes per idle device; {:.0} bytes per device after one authenticated request each ({:.2} s for {} first requests incl. 401)",
            self.idle_bytes_per_device,
            self.used_bytes_per_device,
            self.first_requests.as_secs_f64(),
            self.devices
        )?;
        for (i, run) in self.runs.iter().enumerate() {
            if i > 0 {
                writeln!(f)?;
            }
            write!(
                f,
                "{}: {} requests in {:.1} s over {} connections = {:.0} req/s; latency p50 {:?}, p99 {:?}, max {:?}",
                run.label,
                run.requests,
                run.elapsed.as_secs_f64(),
                run.connections,
                run.per_second(),
                run.p50,
                run.p99,
                run.max
            )?;
        }
        Ok(())
    }
}

/// One keep-alive connection to a device's responder; sends requests with digest auth.
struct Connection {
    stream: tokio::io::DuplexStream,
    reader: ResponseReader,
    digest: DigestClient,
    host: String,
    buf: Vec<u8>,
}

impl Connection {
    fn open(device: &Device) -> Connection {
        let (client, server) = tokio::io::duplex(256 * 1024);
        tokio::spawn(crate::wsman_server::serve(device.clone(), server));
        let (user, password) = device.lsa_credentials();
        Connection {
            stream: client,
            reader: ResponseReader::new(Limits::default()),
            digest: DigestClient::new(user, password),
            host: host(&device.guid(), 16992),
            buf: vec![0; 64 * 1024],
        }
    }

    /// Sends `xml`, answering a digest challenge once; returns the final status.
    async fn request(&mut self, xml: &str) -> anyhow::Result<u16> {
        loop {
            let auth = self.digest.authorization("POST", "/wsman");
            let bytes = encode_request(
                RequestFraming::ContentLength,
                &self.host,
                auth.as_deref(),
                xml.as_bytes(),
            );
            self.stream.write_all(&bytes).await?;
            let response = loop {
                if let Some(response) = self.reader.next_response()? {
                    break response;
                }
                let n = self.stream.read(&mut self.buf).await?;
                if n == 0 {
                    bail!("the responder closed the connection");
                }
                self.reader.push(&self.buf[..n]);
            };
            if response.status == 401 && auth.is_none() {
                let header = response
                    .www_authenticate()
                    .context("a 401 without a challenge")?;
                self.digest.set_challenge(Challenge::parse(header)?);
                continue;
            }
            return Ok(response.status);
        }
    }
}

/// Every connection sends `xml(id)` back to back for `run_for`.
async fn request_run(
    devices: &[Device],
    options: &WsmanOptions,
    label: &str,
    xml: impl Fn(u64) -> String + Send + Sync + 'static,
) -> anyhow::Result<RequestRun> {
    let started = Instant::now();
    let deadline = started + options.run_for;
    let xml = Arc::new(xml);
    let mut tasks = Vec::new();
    for c in 0..options.connections.max(1) {
        let device = devices[c % devices.len()].clone();
        let xml = xml.clone();
        tasks.push(tokio::spawn(async move {
            let mut connection = Connection::open(&device);
            let mut latencies = Vec::new();
            let mut id = 0u64;
            while Instant::now() < deadline {
                let t = Instant::now();
                let status = connection.request(&xml(id)).await?;
                if status != 200 {
                    bail!("the responder answered {status}");
                }
                latencies.push(t.elapsed());
                id += 1;
            }
            Ok(latencies)
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await??);
    }
    let elapsed = started.elapsed();
    latencies.sort_unstable();
    Ok(RequestRun {
        label: label.to_owned(),
        connections: options.connections.max(1),
        requests: latencies.len(),
        elapsed,
        p50: percentile(&latencies, 0.50),
        p99: percentile(&latencies, 0.99),
        max: latencies.last().copied().unwrap_or_default(),
    })
}

/// Builds the devices, measures their memory, then runs each request kind.
pub async fn run(options: WsmanOptions) -> anyhow::Result<WsmanFigures> {
    if options.devices == 0 {
        bail!("the WS-Man benchmark needs at least one device");
    }
    let count = options.devices;
    let before = live_rss_kib();
    let devices: Vec<Device> = (0..count)
        .map(|i| Device::new(DeviceSpec::fresh(1, i)))
        .collect();
    let idle = live_rss_kib();
    let per_device = |kib: u64| kib.saturating_sub(before) as f64 * 1024.0 / count as f64;
    let mut figures = WsmanFigures {
        devices: count,
        idle_bytes_per_device: per_device(idle),
        ..Default::default()
    };

    // Every device answers a 401 and a digest-authenticated Get (nonce and counters now in use).
    let started = Instant::now();
    let get = wsman::Call::get("AMT_GeneralSettings").to_xml(0);
    for device in &devices {
        Connection::open(device).request(&get).await?;
    }
    figures.first_requests = started.elapsed();
    figures.used_bytes_per_device = per_device(live_rss_kib());

    figures.runs.push(
        request_run(&devices, &options, "GeneralSettings Get", |id| {
            wsman::Call::get("AMT_GeneralSettings").to_xml(id)
        })
        .await?,
    );
    figures.runs.push(
        request_run(&devices, &options, "CIM_SoftwareIdentity Enumerate", |id| {
            wsman::Call::enumerate("CIM_SoftwareIdentity").to_xml(id)
        })
        .await?,
    );
    figures.runs.push(
        request_run(&devices, &options, "RequestPowerStateChange(2)", |id| {
            wsman::messages::cim::request_power_state_change(2).to_xml(id)
        })
        .await?,
    );
    Ok(figures)
}
