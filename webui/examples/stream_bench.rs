//! How the live stream holds up: N browsers on `/events/stream` while MPS publishes M device
//! events through the embedded broker. Prints deliveries per second, publish→browser latency
//! (p50/p99/max), resyncs (a browser falling behind), and memory per open stream.
//!
//!   cargo run --release -p webui --example stream_bench -- [streams] [events] [events per second]
//!
//! Without a rate the events go out in one burst (the latency is then mostly queueing); with one,
//! they are paced, which is how a fleet's connects really arrive.
//!
//! Everything runs in this process (broker, web UI, publisher, browsers' HTTP clients), so the CPU
//! figure is the whole system's, not the web UI's alone.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use broker::{Bus, BusConfig, EmbeddedBroker, EmbeddedBrokerConfig};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use schemas::{DeviceEvent, Topic, proto};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

const SECRET: &str = "bench-secret";

fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1).and_then(|v| v.parse().ok()))
        })
        .unwrap_or(0)
}

fn cpu_seconds() -> f64 {
    // SAFETY: getrusage only writes into the struct we pass.
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    if unsafe { libc::getrusage(libc::RUSAGE_SELF, &mut usage) } != 0 {
        return 0.0;
    }
    let t = |tv: libc::timeval| tv.tv_sec as f64 + tv.tv_usec as f64 / 1e6;
    t(usage.ru_utime) + t(usage.ru_stime)
}

fn token() -> String {
    use jsonwebtoken::{Algorithm, EncodingKey, Header};
    let exp = OffsetDateTime::now_utc().unix_timestamp() + 3600;
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &serde_json::json!({"tenantId": "", "iss": webui::DEFAULT_JWT_ISSUER, "deviceId": "*", "exp": exp}),
        &EncodingKey::from_secret(SECRET.as_bytes()).expect("secret"),
    )
    .expect("token")
}

#[derive(Default)]
struct Tally {
    delivered: AtomicU64,
    resyncs: AtomicU64,
    latencies_us: Mutex<Vec<u64>>,
}

/// One browser: reads the stream, timing each connected event from its `connectedAt`.
async fn browser(url: String, tally: Arc<Tally>, ready: tokio::sync::mpsc::Sender<()>) {
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Empty<Bytes>>();
    let Ok(uri) = url.parse::<hyper::Uri>() else {
        return;
    };
    let Ok(response) = client.get(uri).await else {
        eprintln!("a stream failed to open");
        return;
    };
    let mut body = response.into_body();
    let mut buffer = String::new();
    let mut latencies = Vec::new();
    let mut announced = false;
    while let Some(Ok(frame)) = body.frame().await {
        let Ok(data) = frame.into_data() else {
            continue;
        };
        buffer.push_str(&String::from_utf8_lossy(&data));
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            if block.contains("event: snapshot") && !announced {
                announced = true;
                let _ = ready.send(()).await;
            } else if block.contains("event: resync") {
                tally.resyncs.fetch_add(1, Ordering::Relaxed);
            } else if let Some(line) = block
                .lines()
                .find(|l| l.starts_with("data: {\"kind\":\"connected\""))
            {
                let now = OffsetDateTime::now_utc();
                let json: serde_json::Value =
                    serde_json::from_str(&line["data: ".len()..]).unwrap_or_default();
                if let Some(at) = json["data"]["connectedAt"]
                    .as_str()
                    .and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok())
                {
                    latencies.push((now - at).whole_microseconds().max(0) as u64);
                }
                tally.delivered.fetch_add(1, Ordering::Relaxed);
            }
        }
        if latencies.len() >= 256 {
            tally.latencies_us.lock().await.append(&mut latencies);
        }
    }
    tally.latencies_us.lock().await.append(&mut latencies);
}

fn percentile(sorted: &[u64], p: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i] as f64 / 1000.0
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut args = std::env::args().skip(1);
    let streams: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(200);
    let events: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(5_000);
    let rate: u64 = args.next().and_then(|a| a.parse().ok()).unwrap_or(0);

    let dir = tempfile::tempdir()?;
    let mut config = EmbeddedBrokerConfig::new(dir.path());
    config.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    let broker = EmbeddedBroker::start(config).await?;
    let bus_for = |user: &str, id: &str| -> anyhow::Result<BusConfig> {
        let password = broker
            .credentials()
            .password(user)
            .ok_or_else(|| anyhow::anyhow!("no {user} user"))?;
        let mut c = BusConfig::new(
            broker.url().parse()?,
            user,
            password,
            id,
            &format!("/bench/{id}"),
        );
        c.ca_pem = Some(broker.ca_pem().as_bytes().to_vec());
        c.session_expiry = Duration::ZERO;
        Ok(c)
    };
    let webui_bus = Bus::connect(bus_for("webui", "webui-bench")?).await?;
    let publisher = Bus::connect(bus_for("mps", "mps-bench")?).await?;
    publisher.wait_connected(Duration::from_secs(10)).await?;
    let stop = CancellationToken::new();
    let ui = webui::start(
        webui::WebuiConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            jwt_secret: SECRET.into(),
            max_stream_clients: streams + 10,
            ..Default::default()
        },
        webui_bus.clone(),
        stop.clone(),
    )
    .await?;

    let rss_before = rss_kib();
    let tally = Arc::new(Tally::default());
    let url = format!("{}/events/stream?token={}", ui.url(), token());
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel(streams.max(1));
    for _ in 0..streams {
        tokio::spawn(browser(url.clone(), tally.clone(), ready_tx.clone()));
    }
    for _ in 0..streams {
        ready_rx.recv().await;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let rss_streams = rss_kib();

    let cpu_start = cpu_seconds();
    let start = Instant::now();
    let mut pace = (rate > 0).then(|| {
        let mut interval = tokio::time::interval(Duration::from_secs_f64(1.0 / rate as f64));
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        interval
    });
    for i in 0..events {
        if let Some(pace) = pace.as_mut() {
            pace.tick().await;
        }
        let guid: schemas::Guid = format!("00000000-0000-4000-8000-{:012x}", i % 1_000).parse()?;
        let event = proto::DeviceConnected {
            guid: guid.to_string(),
            mps_instance: "mps-bench".into(),
            connected_at: Some(schemas::now()),
            ..Default::default()
        };
        publisher
            .publish(&Topic::DeviceEvent(guid, DeviceEvent::Connected), &event)
            .await?;
    }
    let published = start.elapsed();
    let expected = events * streams as u64;
    let deadline = Instant::now() + Duration::from_secs(120);
    while tally.delivered.load(Ordering::Relaxed) < expected && Instant::now() < deadline {
        if tally.resyncs.load(Ordering::Relaxed) > 0
            && tally.delivered.load(Ordering::Relaxed)
                + tally.resyncs.load(Ordering::Relaxed) * 4096
                >= expected
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let elapsed = start.elapsed();
    let cpu = cpu_seconds() - cpu_start;
    let delivered = tally.delivered.load(Ordering::Relaxed);
    let mut latencies = std::mem::take(&mut *tally.latencies_us.lock().await);
    latencies.sort_unstable();

    println!("streams:                {streams}");
    println!(
        "pace:                   {}",
        if rate > 0 {
            format!("{rate} events/s")
        } else {
            "one burst".into()
        }
    );
    println!(
        "events published:       {events} in {:.2} s ({:.0}/s)",
        published.as_secs_f64(),
        events as f64 / published.as_secs_f64()
    );
    println!(
        "deliveries to browsers: {delivered} of {expected} in {:.2} s ({:.0}/s)",
        elapsed.as_secs_f64(),
        delivered as f64 / elapsed.as_secs_f64()
    );
    println!(
        "publish → browser:      p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        percentile(&latencies, 0.5),
        percentile(&latencies, 0.99),
        percentile(&latencies, 1.0)
    );
    println!(
        "resyncs (fell behind):  {}",
        tally.resyncs.load(Ordering::Relaxed)
    );
    println!(
        "process CPU:            {:.2} s ({:.1} µs per delivery; broker, web UI and clients together)",
        cpu,
        cpu * 1e6 / delivered.max(1) as f64
    );
    println!(
        "memory per open stream: {:.1} KiB, both ends (RSS {} → {} KiB with the streams open)",
        (rss_streams.saturating_sub(rss_before)) as f64 / streams.max(1) as f64,
        rss_before,
        rss_streams
    );
    stop.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(5), ui.wait()).await;
    publisher.shutdown(Duration::from_secs(1)).await;
    webui_bus.shutdown(Duration::from_secs(1)).await;
    Ok(())
}
