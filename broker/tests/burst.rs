//! A burst of QoS 1 events from one bus client to another through Mosquitto (production configuration)
//! must arrive whole: `openamt bench bus` once lost the tail of a 50,000-event burst for good.

mod support;

use std::time::{Duration, Instant};

use broker::OutboxConfig;
use schemas::{DeviceEvent, Guid, Topic, proto};

const EVENTS: u64 = 50_000;
/// Longest silence tolerated: a stalled delivery never resumes, a slow one keeps trickling.
const SILENCE: Duration = Duration::from_secs(15);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_burst_of_events_arrives_whole_through_mosquitto() {
    let mosquitto = support::Mosquitto::start();
    let dir = tempfile::tempdir().unwrap();
    let publisher = mosquitto
        .target
        .connect_with(
            "mps",
            "burst-mps",
            OutboxConfig::File(dir.path().join("outbox")),
        )
        .await;
    let subscriber = mosquitto
        .target
        .connect("dashboard", "burst-dashboard")
        .await;
    let mut received = subscriber
        .subscribe(&subscriber.topics().device_events(DeviceEvent::Connected))
        .await
        .unwrap();
    let guid: Guid = "4c4c4544-004b-4210-8033-b6c04f504633".parse().unwrap();
    let topic = Topic::DeviceEvent(guid, DeviceEvent::Connected);

    // As the bench does: publish as fast as the bus takes events while the subscriber reads them.
    let sending = {
        let publisher = publisher.clone();
        tokio::spawn(async move {
            for n in 0..EVENTS {
                let event = proto::DeviceConnected {
                    guid: guid.to_string(),
                    hostname: n.to_string(),
                    ..Default::default()
                };
                publisher.publish(&topic, &event).await.unwrap();
            }
        })
    };
    let started = Instant::now();
    let mut count = 0;
    while count < EVENTS {
        match tokio::time::timeout(SILENCE, received.next_event::<proto::DeviceConnected>()).await {
            Ok(Some(_)) => count += 1,
            _ => break,
        }
    }
    assert_eq!(
        count,
        EVENTS,
        "only {count} of {EVENTS} events arrived (nothing for {SILENCE:?}; publisher backlog {}, connections {}/{})",
        publisher.backlog(),
        publisher.connections(),
        subscriber.connections(),
    );
    sending.await.unwrap();
    assert_eq!(subscriber.connections(), 1, "the subscriber reconnected");
    eprintln!("{EVENTS} events in {:?}", started.elapsed());
    publisher.shutdown(Duration::from_secs(5)).await;
    subscriber.shutdown(Duration::from_secs(5)).await;
}
