//! The outbox store failing or hanging (a service's database restarting) neither loses events nor holds
//! them back: they are sent from memory at once, publishers learn they are safe when the broker has
//! them, and what the broker has not acknowledged is stored once the store answers again.

mod support;

use std::{
    collections::BTreeMap,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use broker::{
    Bus, OutboxConfig, OutboxRecord,
    outbox::{Backlog, OutboxError, OutboxStore},
};
use schemas::{DeviceEvent, Guid, Topic, proto};

const WAIT: Duration = Duration::from_secs(20);

/// A store that refuses (down) or never answers (stalled) on demand.
#[derive(Default)]
struct Flaky {
    rows: Mutex<BTreeMap<u64, OutboxRecord>>,
    down: AtomicBool,
    stalled: AtomicBool,
}

struct FlakyStore(Arc<Flaky>);

impl Flaky {
    fn check(&self) -> Result<(), OutboxError> {
        if self.down.load(Ordering::SeqCst) {
            return Err(OutboxError::Io {
                path: "flaky".into(),
                source: std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "store down"),
            });
        }
        Ok(())
    }

    fn stored(&self) -> Vec<u64> {
        self.rows.lock().unwrap().keys().copied().collect()
    }
}

#[async_trait::async_trait]
impl OutboxStore for FlakyStore {
    async fn backlog(&self) -> Result<Backlog, OutboxError> {
        Ok(Backlog {
            records: Vec::new(),
            next_seq: 1,
        })
    }

    async fn append(&self, records: &[(u64, Arc<OutboxRecord>)]) -> Result<(), OutboxError> {
        while self.0.stalled.load(Ordering::SeqCst) {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        self.0.check()?;
        let mut rows = self.0.rows.lock().unwrap();
        for (seq, record) in records {
            rows.insert(*seq, (**record).clone());
        }
        Ok(())
    }

    async fn acknowledge(&self, through: u64) -> Result<(), OutboxError> {
        self.0.check()?;
        self.0.rows.lock().unwrap().retain(|seq, _| *seq > through);
        Ok(())
    }
}

fn event(n: u64) -> proto::DeviceConnected {
    proto::DeviceConnected {
        guid: guid().to_string(),
        mps_instance: "mps-flaky".into(),
        hostname: n.to_string(),
        ..Default::default()
    }
}

fn guid() -> Guid {
    "4c4c4544-004b-4210-8033-b6c04f504633".parse().unwrap()
}

fn topic() -> Topic {
    Topic::DeviceEvent(guid(), DeviceEvent::Connected)
}

async fn receive(sub: &mut broker::Subscription, count: u64) -> Vec<u64> {
    let mut seen = Vec::new();
    while seen.len() < count as usize {
        let (_, e) = tokio::time::timeout(WAIT, sub.next_event::<proto::DeviceConnected>())
            .await
            .unwrap_or_else(|_| panic!("only {} of {count} events arrived", seen.len()))
            .unwrap();
        seen.push(e.hostname.parse().unwrap());
    }
    seen
}

async fn publisher(target: &support::Target, flaky: &Arc<Flaky>) -> Bus {
    let mut config = target.config("mps", "mps-flaky");
    config.outbox = OutboxConfig::Custom(Box::new(FlakyStore(flaky.clone())));
    let bus = Bus::connect(config).await.unwrap();
    bus.wait_connected(WAIT).await.unwrap();
    bus
}

#[tokio::test]
async fn a_failing_or_hanging_store_delays_and_loses_nothing() {
    let embedded = support::embedded().await;
    let subscriber = embedded.target.connect("dashboard", "dash-flaky").await;
    let mut events = subscriber
        .subscribe(&subscriber.topics().all_device_events())
        .await
        .unwrap();
    let flaky = Arc::new(Flaky::default());
    let bus = publisher(&embedded.target, &flaky).await;

    // Down: every publish returns (safe once the broker has it) and every event arrives, in order.
    flaky.down.store(true, Ordering::SeqCst);
    let started = Instant::now();
    for n in 0..50 {
        tokio::time::timeout(WAIT, bus.publish(&topic(), &event(n)))
            .await
            .expect("publish returns while the store is down")
            .unwrap();
    }
    assert_eq!(receive(&mut events, 50).await, (0..50).collect::<Vec<_>>());
    assert!(started.elapsed() < Duration::from_secs(10));

    // Hanging: events leave after the grace period, not when the store answers.
    flaky.down.store(false, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_secs(6)).await; // past the writer's retry back-off
    flaky.stalled.store(true, Ordering::SeqCst);
    let started = Instant::now();
    for n in 50..60 {
        bus.publish_queued(&topic(), &event(n)).unwrap();
    }
    assert_eq!(receive(&mut events, 10).await, (50..60).collect::<Vec<_>>());
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "a hanging store held events back for {:?}",
        started.elapsed()
    );

    // Back: what the broker acknowledged needs no storing; the writer works normally again.
    flaky.stalled.store(false, Ordering::SeqCst);
    for n in 60..70 {
        bus.publish(&topic(), &event(n)).await.unwrap();
    }
    assert_eq!(receive(&mut events, 10).await, (60..70).collect::<Vec<_>>());
    bus.flush(WAIT).await.unwrap();
    let deadline = Instant::now() + WAIT;
    while !flaky.stored().is_empty() {
        assert!(
            Instant::now() < deadline,
            "acknowledged rows stay: {:?}",
            flaky.stored()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let extra = tokio::time::timeout(Duration::from_secs(1), events.next()).await;
    assert!(extra.is_err(), "an event arrived twice: {extra:?}");
}

/// Broker and store down at once: events wait in memory, are stored once the store is back (so a
/// restart from then on keeps them), and are delivered, once, when the broker is back.
#[tokio::test]
async fn events_kept_in_memory_are_stored_when_the_store_is_back() {
    let mut mosquitto = support::Mosquitto::start();
    let mut config = mosquitto.target.config("dashboard", "dash-flaky-both");
    config.session_expiry = Duration::from_secs(600);
    let subscriber = Bus::connect(config).await.unwrap();
    subscriber.wait_connected(WAIT).await.unwrap();
    let mut events = subscriber
        .subscribe(&subscriber.topics().all_device_events())
        .await
        .unwrap();
    let flaky = Arc::new(Flaky::default());
    let bus = publisher(&mosquitto.target, &flaky).await;

    flaky.down.store(true, Ordering::SeqCst);
    mosquitto.stop();
    let mut safe = Vec::new();
    for n in 0..20 {
        safe.push(bus.publish_queued(&topic(), &event(n)).unwrap().1);
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(flaky.stored().is_empty());

    flaky.down.store(false, Ordering::SeqCst);
    for stored in safe {
        tokio::time::timeout(WAIT, stored.wait())
            .await
            .expect("stored once the store is back")
            .unwrap();
    }
    assert_eq!(flaky.stored(), (1..=20).collect::<Vec<_>>());

    mosquitto.resume();
    assert_eq!(receive(&mut events, 20).await, (0..20).collect::<Vec<_>>());
    bus.flush(WAIT).await.unwrap();
    let deadline = Instant::now() + WAIT;
    while !flaky.stored().is_empty() {
        assert!(Instant::now() < deadline, "delivered rows stay");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
