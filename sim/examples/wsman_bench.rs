//! Measures the simulated AMT's WS-Man side: memory per device (idle, and after it has served
//! requests), and requests per second through `wsman_server::serve` with digest auth over in-memory
//! pipes (MPS-style keep-alive connections).
//!
//! Run: `cargo run --release -p sim --example wsman_bench -- [devices] [connections] [seconds]`
//! (defaults 10000 devices, 8 connections, 5 seconds). Prints figures; asserts nothing.

use std::time::{Duration, Instant};

use sim::device::{Device, DeviceSpec};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use wsman::digest::{Challenge, DigestClient};
use wsman::http::{Limits, RequestFraming, ResponseReader, encode_request, host};

/// Resident set size in bytes (Linux).
fn rss() -> u64 {
    let statm = std::fs::read_to_string("/proc/self/statm").unwrap_or_default();
    let pages: u64 = statm
        .split_whitespace()
        .nth(1)
        .and_then(|p| p.parse().ok())
        .unwrap_or(0);
    pages * 4096
}

/// One keep-alive connection; sends `xml` repeatedly with digest auth.
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
        tokio::spawn(sim::wsman_server::serve(device.clone(), server));
        let (user, password) = device.lsa_credentials();
        Connection {
            stream: client,
            reader: ResponseReader::new(Limits::default()),
            digest: DigestClient::new(user, password),
            host: host(&device.guid(), 16992),
            buf: vec![0; 256 * 1024],
        }
    }

    async fn request(&mut self, xml: &str) -> u16 {
        loop {
            let auth = self.digest.authorization("POST", "/wsman");
            let bytes = encode_request(
                RequestFraming::ContentLength,
                &self.host,
                auth.as_deref(),
                xml.as_bytes(),
            );
            self.stream.write_all(&bytes).await.expect("write");
            let response = loop {
                if let Some(response) = self.reader.next_response().expect("framing") {
                    break response;
                }
                let n = self.stream.read(&mut self.buf).await.expect("read");
                assert!(n > 0, "server closed");
                self.reader.push(&self.buf[..n]);
            };
            if response.status == 401 && auth.is_none() {
                let challenge = Challenge::parse(response.www_authenticate().expect("challenge"))
                    .expect("digest");
                self.digest.set_challenge(challenge);
                continue;
            }
            return response.status;
        }
    }
}

async fn throughput(
    devices: &[Device],
    connections: usize,
    seconds: u64,
    label: &str,
    xml: impl Fn(u64) -> String + Send + Sync + 'static,
) {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let xml = std::sync::Arc::new(xml);
    let mut tasks = Vec::new();
    for c in 0..connections {
        let device = devices[c % devices.len()].clone();
        let xml = xml.clone();
        tasks.push(tokio::spawn(async move {
            let mut connection = Connection::open(&device);
            let mut latencies = Vec::new();
            let mut id = 0u64;
            while Instant::now() < deadline {
                let started = Instant::now();
                let status = connection.request(&xml(id)).await;
                assert_eq!(status, 200);
                latencies.push(started.elapsed());
                id += 1;
            }
            latencies
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await.expect("task"));
    }
    latencies.sort_unstable();
    let count = latencies.len();
    let at = |p: usize| latencies[(count.saturating_sub(1)) * p / 100];
    println!(
        "{label}: {count} requests in {seconds} s over {connections} connections = {:.0} req/s; latency p50 {:?}, p99 {:?}, max {:?}",
        count as f64 / seconds as f64,
        at(50),
        at(99),
        latencies[count - 1]
    );
}

#[tokio::main]
async fn main() {
    let mut args = std::env::args()
        .skip(1)
        .map(|a| a.parse::<u64>().expect("numeric arguments"));
    let count = args.next().unwrap_or(10_000);
    let connections = args.next().unwrap_or(8) as usize;
    let seconds = args.next().unwrap_or(5);

    let before = rss();
    let devices: Vec<Device> = (0..count)
        .map(|i| Device::new(DeviceSpec::fresh(1, i)))
        .collect();
    let idle = rss();
    println!(
        "memory: {count} idle devices take {:.1} MiB = {} bytes per device",
        (idle - before) as f64 / 1_048_576.0,
        (idle - before) / count
    );

    // Every device answers a 401 and a digest-authenticated Get (nonce and counters now in use).
    let started = Instant::now();
    for device in &devices {
        let mut connection = Connection::open(device);
        connection
            .request(&wsman::Call::get("AMT_GeneralSettings").to_xml(0))
            .await;
    }
    let used = rss();
    println!(
        "memory: after one authenticated request each, {} bytes per device ({:.1} s for {count} first requests incl. 401)",
        used.saturating_sub(before) / count,
        started.elapsed().as_secs_f64()
    );

    throughput(
        &devices,
        connections,
        seconds,
        "GeneralSettings Get",
        |id| wsman::Call::get("AMT_GeneralSettings").to_xml(id),
    )
    .await;
    throughput(
        &devices,
        connections,
        seconds,
        "CIM_SoftwareIdentity Enumerate",
        |id| wsman::Call::enumerate("CIM_SoftwareIdentity").to_xml(id),
    )
    .await;
    throughput(
        &devices,
        connections,
        seconds,
        "RequestPowerStateChange(2)",
        |id| wsman::messages::cim::request_power_state_change(2).to_xml(id),
    )
    .await;
}
