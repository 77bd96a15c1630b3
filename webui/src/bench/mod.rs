//! How the live stream holds up (feature `bench`, `openamt bench stream`): N browsers on
//! `/events/stream` while an MPS-like publisher sends M device events through the embedded
//! broker. Deliveries per second, publish → browser latency (p50/p99/max), resyncs (a browser
//! falling behind), and memory per open stream.
//!
//! Without a rate the events go out in one burst (the latency is then mostly queueing); with one,
//! they are paced, which is how a fleet's connects really arrive. Everything runs in this process
//! (broker, web UI, publisher, the browsers' HTTP clients), so the CPU figure is the whole
//! system's, not the web UI's alone.

mod browser;

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use anyhow::Context;
use broker::{Bus, BusConfig, EmbeddedBroker, EmbeddedBrokerConfig};
use schemas::{DeviceEvent, Topic, proto};
use time::OffsetDateTime;
use tokio_util::sync::CancellationToken;

use browser::{Tally, browser};

const SECRET: &str = "bench-secret";
/// How long the browsers may take to receive every event after the last publish.
const DELIVERY_LIMIT: Duration = Duration::from_secs(120);

/// What to run.
#[derive(Debug, Clone)]
pub struct StreamOptions {
    /// Browsers on the stream.
    pub streams: usize,
    pub events: u64,
    /// Events per second; zero: one burst.
    pub rate: u64,
}

impl Default for StreamOptions {
    /// 200 browsers, 10,000 events at 500 a second.
    fn default() -> StreamOptions {
        StreamOptions {
            streams: 200,
            events: 10_000,
            rate: 500,
        }
    }
}

/// What one run measured.
#[derive(Debug, Clone, Default)]
pub struct StreamFigures {
    pub streams: usize,
    pub rate: u64,
    pub events: u64,
    pub published_in: Duration,
    /// Events × browsers.
    pub expected: u64,
    pub delivered: u64,
    pub delivered_in: Duration,
    pub p50: Duration,
    pub p99: Duration,
    pub max: Duration,
    pub resyncs: u64,
    pub failed_streams: u64,
    /// This process's CPU from the first publish to the last delivery.
    pub cpu: Duration,
    /// Resident memory before and with every stream open, KiB.
    pub rss_before_kib: u64,
    pub rss_streams_kib: u64,
}

impl StreamFigures {
    pub fn deliveries_per_second(&self) -> f64 {
        self.delivered as f64 / self.delivered_in.as_secs_f64().max(1e-9)
    }

    /// KiB per open stream, both ends (server and client in this process).
    pub fn kib_per_stream(&self) -> f64 {
        self.rss_streams_kib.saturating_sub(self.rss_before_kib) as f64 / self.streams.max(1) as f64
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

impl fmt::Display for StreamFigures {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "live stream benchmark: {} browsers", self.streams)?;
        writeln!(
            f,
            "pace:                   {}",
            if self.rate > 0 {
                format!("{} events/s", self.rate)
            } else {
                "one burst".into()
            }
        )?;
        writeln!(
            f,
            "events published:       {} in {:.2} s ({:.0}/s)",
            self.events,
            self.published_in.as_secs_f64(),
            self.events as f64 / self.published_in.as_secs_f64().max(1e-9)
        )?;
        writeln!(
            f,
            "deliveries to browsers: {} of {} in {:.2} s ({:.0}/s)",
            self.delivered,
            self.expected,
            self.delivered_in.as_secs_f64(),
            self.deliveries_per_second()
        )?;
        writeln!(
            f,
            "publish → browser:      p50 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
            ms(self.p50),
            ms(self.p99),
            ms(self.max)
        )?;
        writeln!(
            f,
            "resyncs (fell behind):  {}; streams failed: {}",
            self.resyncs, self.failed_streams
        )?;
        writeln!(
            f,
            "process CPU:            {:.2} s ({:.1} µs per delivery; broker, web UI and clients together)",
            self.cpu.as_secs_f64(),
            self.cpu.as_secs_f64() * 1e6 / self.delivered.max(1) as f64
        )?;
        write!(
            f,
            "memory per open stream: {:.1} KiB, both ends (RSS {} → {} KiB with the streams open)",
            self.kib_per_stream(),
            self.rss_before_kib,
            self.rss_streams_kib
        )
    }
}

/// Resident memory of this process, KiB (0 when unreadable).
fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0)
}

fn token() -> anyhow::Result<String> {
    use jsonwebtoken::{Algorithm, EncodingKey, Header};
    let exp = OffsetDateTime::now_utc().unix_timestamp() + 3600;
    Ok(jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &serde_json::json!({"tenantId": "", "iss": crate::DEFAULT_JWT_ISSUER, "deviceId": "*", "exp": exp}),
        &EncodingKey::from_secret(SECRET.as_bytes())?,
    )?)
}

fn bus_config(broker: &EmbeddedBroker, user: &str, id: &str) -> anyhow::Result<BusConfig> {
    let password = broker
        .credentials()
        .password(user)
        .with_context(|| format!("no {user} user"))?;
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
}

/// Starts the broker and the web UI, opens the streams, publishes, and waits for the deliveries.
pub async fn run(options: StreamOptions) -> anyhow::Result<StreamFigures> {
    let dir = tempfile::tempdir()?;
    let mut config = EmbeddedBrokerConfig::new(dir.path());
    config.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    let broker = EmbeddedBroker::start(config).await?;
    let webui_bus = Bus::connect(bus_config(&broker, "webui", "webui-bench")?).await?;
    let publisher = Bus::connect(bus_config(&broker, "mps", "mps-bench")?).await?;
    publisher.wait_connected(Duration::from_secs(10)).await?;
    let stop = CancellationToken::new();
    let ui = crate::start(
        crate::WebuiConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            jwt_secret: SECRET.into(),
            max_stream_clients: options.streams + 10,
            ..Default::default()
        },
        webui_bus.clone(),
        stop.clone(),
    )
    .await?;
    let measured = measure(&options, &ui.url(), &publisher).await;
    stop.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(5), ui.wait()).await;
    publisher.shutdown(Duration::from_secs(1)).await;
    webui_bus.shutdown(Duration::from_secs(1)).await;
    broker.close();
    measured
}

async fn measure(
    options: &StreamOptions,
    ui_url: &str,
    publisher: &Bus,
) -> anyhow::Result<StreamFigures> {
    let mut figures = StreamFigures {
        streams: options.streams,
        rate: options.rate,
        events: options.events,
        expected: options.events * options.streams as u64,
        rss_before_kib: rss_kib(),
        ..Default::default()
    };
    let tally = Arc::new(Tally::default());
    let url = format!("{ui_url}/events/stream?token={}", token()?);
    let (ready_tx, mut ready_rx) = tokio::sync::mpsc::channel(options.streams.max(1));
    let browsers: Vec<_> = (0..options.streams)
        .map(|_| tokio::spawn(browser(url.clone(), tally.clone(), ready_tx.clone())))
        .collect();
    drop(ready_tx);
    let mut open = 0;
    while open < options.streams && ready_rx.recv().await.is_some() {
        open += 1;
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    figures.rss_streams_kib = rss_kib();

    let cpu = broker::bench::process_cpu();
    let start = Instant::now();
    let mut pace = (options.rate > 0).then(|| {
        let mut interval =
            tokio::time::interval(Duration::from_secs_f64(1.0 / options.rate as f64));
        interval.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
        interval
    });
    for i in 0..options.events {
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
    figures.published_in = start.elapsed();
    let deadline = Instant::now() + DELIVERY_LIMIT;
    while tally.delivered.load(Ordering::Relaxed) < figures.expected && Instant::now() < deadline {
        // A browser that fell behind gets a resync instead of the events it missed (up to the
        // hub's 4,096 a time): once those are accounted for, nothing more will come.
        let resyncs = tally.resyncs.load(Ordering::Relaxed);
        if resyncs > 0
            && tally.delivered.load(Ordering::Relaxed) + resyncs * 4096 >= figures.expected
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    figures.delivered_in = start.elapsed();
    figures.cpu = broker::bench::process_cpu().saturating_sub(cpu);
    figures.delivered = tally.delivered.load(Ordering::Relaxed);
    figures.resyncs = tally.resyncs.load(Ordering::Relaxed);
    figures.failed_streams = tally.failed.load(Ordering::Relaxed);
    for b in &browsers {
        b.abort();
    }
    let mut latencies = std::mem::take(&mut *tally.latencies.lock().await);
    latencies.sort_unstable();
    let at = |p: f64| {
        latencies
            .get(((latencies.len().saturating_sub(1)) as f64 * p).round() as usize)
            .copied()
            .unwrap_or_default()
    };
    figures.p50 = at(0.5);
    figures.p99 = at(0.99);
    figures.max = latencies.last().copied().unwrap_or_default();
    Ok(figures)
}
