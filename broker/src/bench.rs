//! `openamt bench bus`: sustained QoS 1 publish rate and publish→receive latency at a fixed rate, through
//! the bus client (outbox included), for any broker.

use std::time::{Duration, Instant};

use schemas::{DeviceEvent, Topic, proto};

use crate::{Bus, BusConfig, BusError, OutboxConfig};

/// What was measured against one broker.
#[derive(Debug, Clone)]
pub struct BusFigures {
    pub broker: String,
    pub events: usize,
    /// Events per second from the first publish to the last receipt.
    pub rate: f64,
    /// CPU of this process (publisher + subscriber, and the broker when embedded) per event, in µs.
    pub process_cpu_per_event_us: f64,
    pub paced_rate: u32,
    pub latency_p50: Duration,
    pub latency_p99: Duration,
    pub latency_p999: Duration,
    pub latency_max: Duration,
}

impl std::fmt::Display for BusFigures {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:<10} sustained {:>8.0} events/s ({} events, {:.1} µs CPU/event in this process) | at {}/s: p50 {:>7.3} ms  p99 {:>7.3} ms  p99.9 {:>7.3} ms  max {:>7.3} ms",
            self.broker,
            self.rate,
            self.events,
            self.process_cpu_per_event_us,
            self.paced_rate,
            ms(self.latency_p50),
            ms(self.latency_p99),
            ms(self.latency_p999),
            ms(self.latency_max),
        )
    }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// CPU time (user + system) this process has used.
pub fn process_cpu() -> Duration {
    cpu_time(None)
}

/// CPU time (user + system) of a process (`None`: this one), from /proc.
pub fn cpu_time(pid: Option<u32>) -> Duration {
    let path = match pid {
        Some(pid) => format!("/proc/{pid}/stat"),
        None => "/proc/self/stat".to_owned(),
    };
    let stat = std::fs::read_to_string(path).unwrap_or_default();
    // Fields after the command name (which may contain spaces) start after the last ')'.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let ticks: u64 = [11, 12]
        .iter()
        .filter_map(|i| fields.get(*i).and_then(|v| v.parse::<u64>().ok()))
        .sum();
    Duration::from_secs_f64(ticks as f64 / 100.0)
}

fn event(n: u64) -> proto::DeviceConnected {
    proto::DeviceConnected {
        guid: "4c4c4544-004b-4210-8033-b6c04f504633".into(),
        mps_instance: "bench".into(),
        hostname: n.to_string(),
        connected_at: Some(schemas::now()),
        ..Default::default()
    }
}

fn age(event: &proto::DeviceConnected) -> Duration {
    let sent = event.connected_at.unwrap_or_default();
    let now = time::OffsetDateTime::now_utc();
    let sent = time::OffsetDateTime::from_unix_timestamp_nanos(
        i128::from(sent.seconds) * 1_000_000_000 + i128::from(sent.nanos),
    )
    .unwrap_or(now);
    (now - sent).try_into().unwrap_or_default()
}

fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((p / 100.0) * (sorted.len() - 1) as f64).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// Measures one broker: `publisher` must be allowed to publish device events and `subscriber` to read
/// them. The publisher uses a file outbox in `outbox`, like the services.
pub async fn measure(
    name: &str,
    mut publisher: BusConfig,
    subscriber: BusConfig,
    outbox: &std::path::Path,
    events: usize,
    paced_rate: u32,
    paced_for: Duration,
) -> Result<BusFigures, BusError> {
    publisher.outbox = OutboxConfig::File(outbox.to_path_buf());
    let publisher = Bus::connect(publisher).await?;
    let subscriber = Bus::connect(subscriber).await?;
    publisher.wait_connected(Duration::from_secs(10)).await?;
    subscriber.wait_connected(Duration::from_secs(10)).await?;
    let mut received = subscriber
        .subscribe(&subscriber.topics().device_events(DeviceEvent::Connected))
        .await?;
    let guid = schemas::Guid::from_uuid(uuid::Uuid::from_u128(
        0x4c4c4544_004b_4210_8033_b6c04f504633,
    ));
    let topic = Topic::DeviceEvent(guid, DeviceEvent::Connected);

    // Sustained rate: publish as fast as the bus takes events, count until the last one arrives.
    let cpu_before = process_cpu();
    let started = Instant::now();
    let sending = {
        let publisher = publisher.clone();
        let topic = topic.clone();
        tokio::spawn(async move {
            for n in 0..events as u64 {
                publisher.publish(&topic, &event(n)).await?;
            }
            Ok::<_, BusError>(())
        })
    };
    let mut count = 0;
    while count < events {
        match tokio::time::timeout(
            Duration::from_secs(30),
            received.next_event::<proto::DeviceConnected>(),
        )
        .await
        {
            Ok(Some(_)) => count += 1,
            _ => break,
        }
    }
    let elapsed = started.elapsed();
    let cpu = process_cpu().saturating_sub(cpu_before);
    sending.await.map_err(|_| BusError::Closed)??;
    if count < events {
        return Err(BusError::Unreachable {
            url: name.to_owned(),
            reason: format!("only {count} of {events} events arrived (nothing for 30 s)"),
        });
    }

    // Latency at a fixed rate.
    let total = (f64::from(paced_rate) * paced_for.as_secs_f64()) as usize;
    let pacing = {
        let publisher = publisher.clone();
        tokio::spawn(async move {
            let mut tick =
                tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(paced_rate)));
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            for n in 0..total as u64 {
                tick.tick().await;
                publisher.publish(&topic, &event(n)).await?;
            }
            Ok::<_, BusError>(())
        })
    };
    let mut latencies = Vec::with_capacity(total);
    while latencies.len() < total {
        match tokio::time::timeout(
            Duration::from_secs(30),
            received.next_event::<proto::DeviceConnected>(),
        )
        .await
        {
            Ok(Some((_, event))) => latencies.push(age(&event)),
            _ => break,
        }
    }
    pacing.await.map_err(|_| BusError::Closed)??;
    latencies.sort();
    publisher.shutdown(Duration::from_secs(5)).await;
    subscriber.shutdown(Duration::from_secs(5)).await;
    Ok(BusFigures {
        broker: name.to_owned(),
        events,
        rate: events as f64 / elapsed.as_secs_f64(),
        process_cpu_per_event_us: cpu.as_secs_f64() * 1e6 / events as f64,
        paced_rate,
        latency_p50: percentile(&latencies, 50.0),
        latency_p99: percentile(&latencies, 99.0),
        latency_p999: percentile(&latencies, 99.9),
        latency_max: latencies.last().copied().unwrap_or_default(),
    })
}

/// A database of a benchmark's own on a Postgres server (the MPS and RPS benchmarks with
/// `--postgres`), dropped at the end.
pub struct ScratchDatabase {
    server: String,
    name: String,
    /// Where the benchmarked service connects.
    pub url: String,
}

impl ScratchDatabase {
    /// Creates `<prefix>_<random>` on the server of `server` (a `postgres://` URL, any database).
    pub async fn create(server: &str, prefix: &str) -> Result<ScratchDatabase, sea_orm::DbErr> {
        use sea_orm::ConnectionTrait;
        let name = format!("{prefix}_{:012x}", rand::random::<u64>() & 0xffff_ffff_ffff);
        let url = with_database(server, &name).ok_or_else(|| {
            sea_orm::DbErr::Custom("the Postgres server is not a postgres:// URL".into())
        })?;
        let admin = sea_orm::Database::connect(server).await?;
        admin
            .execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await?;
        admin.close().await?;
        Ok(ScratchDatabase {
            server: server.to_owned(),
            name,
            url,
        })
    }

    /// Drops the database.
    pub async fn drop(self) -> Result<(), sea_orm::DbErr> {
        use sea_orm::ConnectionTrait;
        let admin = sea_orm::Database::connect(&self.server).await?;
        admin
            .execute_unprepared(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .await?;
        admin.close().await
    }
}

/// The URL of database `name` on the server of a `postgres://` URL (its query kept).
fn with_database(url: &str, name: &str) -> Option<String> {
    let rest = url
        .strip_prefix("postgres://")
        .or_else(|| url.strip_prefix("postgresql://"))?;
    let scheme = &url[..url.len() - rest.len()];
    let (path_and_more, query) = match rest.split_once('?') {
        Some((p, q)) => (p, format!("?{q}")),
        None => (rest, String::new()),
    };
    let server = path_and_more
        .split_once('/')
        .map_or(path_and_more, |(s, _)| s);
    (!server.is_empty()).then(|| format!("{scheme}{server}/{name}{query}"))
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn the_database_is_replaced_and_the_query_kept() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/test", "b1").as_deref(),
            Some("postgres://postgres@127.0.0.1:5432/b1")
        );
        assert_eq!(
            with_database("postgresql://u:p@db:5432/mpsdb?sslmode=disable", "b1").as_deref(),
            Some("postgresql://u:p@db:5432/b1?sslmode=disable")
        );
        assert_eq!(
            with_database("postgresql://u:p@db/x?sslmode=disable", "b1").as_deref(),
            Some("postgresql://u:p@db/b1?sslmode=disable")
        );
        assert_eq!(
            with_database("postgres://127.0.0.1", "b1").as_deref(),
            Some("postgres://127.0.0.1/b1")
        );
        assert_eq!(with_database("sqlite://x.db", "b1"), None);
        assert_eq!(with_database("postgres:///test", "b1"), None);
    }
}
