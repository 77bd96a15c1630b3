//! The bus against real brokers: the embedded one and a Mosquitto running the production configuration.

mod support;

use std::time::Duration;

use broker::{Bus, BusError, LastWill, OutboxConfig};
use schemas::{DeviceEvent, Guid, Service, Topic, proto};
use support::{Target, embedded};

const GUID: &str = "4c4c4544-004b-4210-8033-b6c04f504633";
const WAIT: Duration = Duration::from_secs(10);

fn guid() -> Guid {
    GUID.parse().unwrap()
}

fn connected(n: u64) -> proto::DeviceConnected {
    proto::DeviceConnected {
        guid: GUID.into(),
        mps_instance: "mps-test".into(),
        remote_address: format!("10.0.0.{n}:4433"),
        connected_at: Some(schemas::now()),
        ..Default::default()
    }
}

async fn next<E: schemas::Event>(sub: &mut broker::Subscription) -> (broker::Delivery, E) {
    tokio::time::timeout(WAIT, sub.next_event::<E>())
        .await
        .expect("an event in time")
        .expect("subscription open")
}

/// Publish, subscribe and request/response with every MQTT 5 property we rely on.
async fn round_trip(target: &Target) {
    let publisher = target.connect("mps", "mps-rt").await;
    let subscriber = target.connect("dashboard", "dash-rt").await;
    let mut events = subscriber
        .subscribe(&publisher.topics().all_device_events())
        .await
        .unwrap();

    let topic = Topic::DeviceEvent(guid(), DeviceEvent::Connected);
    let sent = connected(1);
    let id = publisher.publish(&topic, &sent).await.unwrap();
    let (delivery, event) = next::<proto::DeviceConnected>(&mut events).await;
    assert_eq!(event, sent);
    let attributes = delivery.event.as_ref().unwrap();
    assert_eq!(attributes.id, id);
    assert_eq!(attributes.source, "/openamt/test/mps-rt");
    assert_eq!(attributes.ty, "io.openamt.device.connected.v1");
    assert_eq!(attributes.subject.as_deref(), Some(GUID));
    assert!(attributes.time.is_some());
    assert_eq!(
        delivery.content_type.as_deref(),
        Some("application/protobuf")
    );
    assert_eq!(
        delivery.topic,
        format!("openamt/v1/events/devices/{GUID}/connected")
    );

    // A command answered over the response topic with the correlation data.
    let operator = target.connect("operator", "operator-rt").await;
    let mut commands = publisher
        .subscribe(&publisher.topics().all_commands(schemas::Command::Power))
        .await
        .unwrap();
    let answering = tokio::spawn(async move {
        let (request, power) = next::<proto::PowerActionRequest>(&mut commands).await;
        assert!(request.response_topic.is_some() && request.correlation.is_some());
        let reply = proto::CommandReply {
            status: proto::command_reply::Status::Ok as i32,
            return_value: power.action,
            return_value_str: "SUCCESS".into(),
            ..Default::default()
        };
        publisher.reply(&request, &reply).await.unwrap();
        publisher
    });
    let reply: proto::CommandReply = operator
        .request(
            &Topic::Command(guid(), schemas::Command::Power),
            &proto::PowerActionRequest {
                action: 8,
                use_sol: false,
            },
            WAIT,
        )
        .await
        .unwrap();
    assert_eq!(reply.return_value, 8);
    assert_eq!(reply.return_value_str, "SUCCESS");
    answering.await.unwrap();
}

#[tokio::test]
async fn events_and_requests_through_the_embedded_broker() {
    let broker = embedded().await;
    round_trip(&broker.target).await;
}

#[tokio::test]
async fn events_and_requests_through_mosquitto() {
    let mosquitto = support::Mosquitto::start();
    round_trip(&mosquitto.target).await;
}

async fn late_subscriber_sees_retained_presence(target: &Target) {
    let mps = target.connect("mps", "mps-retained").await;
    let presence = proto::DevicePresence {
        guid: GUID.into(),
        connected: true,
        mps_instance: "mps-a".into(),
        mps_address: "10.1.1.1:3000".into(),
        ..Default::default()
    };
    mps.publish(&Topic::Presence(guid()), &presence)
        .await
        .unwrap();
    mps.flush(WAIT).await.unwrap();

    let router = target.connect("router", "router-late").await;
    let mut sub = router
        .subscribe(&router.topics().all_presence())
        .await
        .unwrap();
    let (delivery, seen) = next::<proto::DevicePresence>(&mut sub).await;
    assert!(delivery.retained);
    assert_eq!(seen, presence);
}

#[tokio::test]
async fn retained_presence_reaches_a_late_subscriber_embedded() {
    let broker = embedded().await;
    late_subscriber_sees_retained_presence(&broker.target).await;
}

#[tokio::test]
async fn retained_presence_reaches_a_late_subscriber_mosquitto() {
    let mosquitto = support::Mosquitto::start();
    late_subscriber_sees_retained_presence(&mosquitto.target).await;
}

async fn refusals_are_clear(target: &Target) {
    let mut wrong_password = target.config("mps", "mps-wrong");
    wrong_password.password = "not-the-password".into();
    let error = Bus::connect(wrong_password).await.err().expect("refused");
    assert!(matches!(error, BusError::Refused { .. }), "{error}");
    assert!(
        error.to_string().contains("user name or password"),
        "{error}"
    );

    let other_ca = tempfile::tempdir().unwrap();
    let mut untrusted = target.config("mps", "mps-untrusted");
    untrusted.ca_pem = Some(
        certs::CertStore::open(other_ca.path())
            .unwrap()
            .ca_pem()
            .as_bytes()
            .to_vec(),
    );
    let error = Bus::connect(untrusted).await.err().expect("refused");
    assert!(error.to_string().contains("CA certificate"), "{error}");
}

#[tokio::test]
async fn wrong_password_and_untrusted_ca_are_clear_errors_embedded() {
    let broker = embedded().await;
    refusals_are_clear(&broker.target).await;
}

#[tokio::test]
async fn wrong_password_and_untrusted_ca_are_clear_errors_mosquitto() {
    let mosquitto = support::Mosquitto::start();
    refusals_are_clear(&mosquitto.target).await;
}

/// The dashboard credential reads everything and writes nothing.
async fn dashboard_cannot_command(target: &Target) {
    let mps = target.connect("mps", "mps-acl").await;
    let mut commands = mps
        .subscribe(&mps.topics().all_commands(schemas::Command::Power))
        .await
        .unwrap();
    let dashboard = target.connect("dashboard", "dash-acl").await;
    let forbidden = proto::PowerActionRequest {
        action: 8,
        use_sol: false,
    };
    dashboard
        .publish(&Topic::Command(guid(), schemas::Command::Power), &forbidden)
        .await
        .unwrap();
    // The broker refuses it (and the bus drops it), so the outbox does not stay stuck on it.
    dashboard.flush(WAIT).await.unwrap();

    let operator = target.connect("operator", "operator-acl").await;
    let allowed = proto::PowerActionRequest {
        action: 2,
        use_sol: false,
    };
    operator
        .publish(&Topic::Command(guid(), schemas::Command::Power), &allowed)
        .await
        .unwrap();
    let (_, received) = next::<proto::PowerActionRequest>(&mut commands).await;
    assert_eq!(received, allowed, "the dashboard's command went through");

    let status = dashboard
        .publish(
            &Topic::Status {
                service: Service::Mps,
                instance: "fake".into(),
            },
            &proto::ServiceStatus::default(),
        )
        .await;
    assert!(status.is_ok());
    dashboard.flush(WAIT).await.unwrap();
}

#[tokio::test]
async fn acl_denies_the_dashboard_a_command_embedded() {
    let broker = embedded().await;
    dashboard_cannot_command(&broker.target).await;
}

#[tokio::test]
async fn acl_denies_the_dashboard_a_command_mosquitto() {
    let mosquitto = support::Mosquitto::start();
    dashboard_cannot_command(&mosquitto.target).await;
}

#[tokio::test]
async fn the_embedded_broker_refuses_forbidden_subscriptions() {
    let broker = embedded().await;
    let router = broker.target.connect("router", "router-sub").await;
    let error = router
        .subscribe("openamt/v1/commands/devices/#")
        .await
        .err();
    assert!(
        matches!(error, Some(BusError::SubscriptionRefused { .. })),
        "{error:?}"
    );
}

#[tokio::test]
async fn a_malformed_payload_is_skipped_and_the_consumer_keeps_running() {
    let broker = embedded().await;
    let target = &broker.target;
    let subscriber = target.connect("dashboard", "dash-bad").await;
    let mut events = subscriber
        .subscribe(&subscriber.topics().all_device_events())
        .await
        .unwrap();

    // An outside client publishes garbage with a CloudEvents type that promises a DeviceConnected.
    let topic = format!("openamt/v1/events/devices/{GUID}/connected");
    let status = tokio::process::Command::new("mosquitto_pub")
        .args([
            "-V",
            "mqttv5",
            "-h",
            "localhost",
            "-p",
            &broker.broker.address().port().to_string(),
        ])
        .arg("--cafile")
        .arg(&target.ca_path)
        .args([
            "-u",
            "mps",
            "-P",
            target.credentials.password("mps").unwrap(),
        ])
        .args(["-q", "1", "-t", &topic, "-m", "\u{1}\u{2}garbage\u{ff}"])
        .args(["-D", "publish", "user-property", "specversion", "1.0"])
        .args(["-D", "publish", "user-property", "id", "bad-1"])
        .args(["-D", "publish", "user-property", "source", "/outside"])
        .args([
            "-D",
            "publish",
            "user-property",
            "type",
            "io.openamt.device.connected.v1",
        ])
        .status()
        .await
        .expect("mosquitto_pub");
    assert!(status.success());

    let publisher = target.connect("mps", "mps-after-bad").await;
    let good = connected(7);
    publisher
        .publish(&Topic::DeviceEvent(guid(), DeviceEvent::Connected), &good)
        .await
        .unwrap();
    let (_, event) = next::<proto::DeviceConnected>(&mut events).await;
    assert_eq!(event, good);
}

/// Consumers finish in any order; the broker still gets its acknowledgements in delivery order (MQTT
/// requires it, and rumqttd drops a client that breaks it), so nothing is redelivered.
async fn acknowledgements_in_delivery_order(target: &Target) {
    let consumer = target.connect("dashboard", "dash-order").await;
    let mut connects = consumer
        .subscribe(&consumer.topics().device_events(DeviceEvent::Connected))
        .await
        .unwrap();
    let mut presence = consumer
        .subscribe(&consumer.topics().all_presence())
        .await
        .unwrap();
    let mps = target.connect("mps", "mps-order").await;
    let event = connected(1);
    mps.publish(&Topic::DeviceEvent(guid(), DeviceEvent::Connected), &event)
        .await
        .unwrap();
    for n in 0..50 {
        let presence = proto::DevicePresence {
            guid: GUID.into(),
            mps_instance: format!("mps-{n}"),
            ..Default::default()
        };
        mps.publish(&Topic::Presence(guid()), &presence)
            .await
            .unwrap();
    }
    // The first delivery is held while fifty later ones are done with.
    let (held, _) = next::<proto::DeviceConnected>(&mut connects).await;
    for _ in 0..50 {
        drop(next::<proto::DevicePresence>(&mut presence).await);
    }
    drop(held);
    mps.publish(
        &Topic::DeviceEvent(guid(), DeviceEvent::Connected),
        &connected(2),
    )
    .await
    .unwrap();
    let (_, last) = next::<proto::DeviceConnected>(&mut connects).await;
    assert_eq!(last.remote_address, "10.0.0.2:4433");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(consumer.connections(), 1, "the broker dropped the consumer");
    assert!(
        tokio::time::timeout(Duration::from_millis(500), connects.next())
            .await
            .is_err()
    );
}

#[tokio::test]
async fn acknowledgements_leave_in_delivery_order_embedded() {
    let broker = embedded().await;
    acknowledgements_in_delivery_order(&broker.target).await;
}

#[tokio::test]
async fn acknowledgements_leave_in_delivery_order_mosquitto() {
    let mosquitto = support::Mosquitto::start();
    acknowledgements_in_delivery_order(&mosquitto.target).await;
}

/// A consumer with a persistent session loses nothing across its own restart: events queued while it
/// was away reach it although the broker sends them before it has subscribed again, and events it had
/// received but never read are sent again.
#[tokio::test]
async fn a_restarted_consumer_gets_what_was_queued_and_what_it_never_read() {
    let mosquitto = support::Mosquitto::start();
    let target = &mosquitto.target;
    let consumer_config = || {
        let mut config = target.config("dashboard", "dash-restart");
        config.session_expiry = Duration::from_secs(3600);
        config
    };
    let filter = schemas::Topics::default().device_events(DeviceEvent::Connected);
    let consumer = Bus::connect(consumer_config()).await.unwrap();
    let mut sub = consumer.subscribe(&filter).await.unwrap();
    let mps = target.connect("mps", "mps-restart").await;
    let publish = async |n: u64| {
        let mut event = connected(n);
        event.hostname = n.to_string();
        mps.publish(&Topic::DeviceEvent(guid(), DeviceEvent::Connected), &event)
            .await
            .unwrap();
    };
    for n in 0..5 {
        publish(n).await;
    }
    // Two are read; three arrive but are never read before the consumer stops.
    for n in 0..2 {
        let (_, event) = next::<proto::DeviceConnected>(&mut sub).await;
        assert_eq!(event.hostname, n.to_string());
    }
    tokio::time::sleep(Duration::from_millis(300)).await;
    drop(sub);
    consumer.shutdown(WAIT).await;
    // While it is away, five more.
    for n in 5..10 {
        publish(n).await;
    }
    mps.flush(WAIT).await.unwrap();

    let consumer = Bus::connect(consumer_config()).await.unwrap();
    consumer.wait_connected(WAIT).await.unwrap();
    // The broker delivers the session's messages at once; the service subscribes a little later.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let mut sub = consumer.subscribe(&filter).await.unwrap();
    let mut seen = Vec::new();
    while seen.len() < 8 {
        let (_, event) = next::<proto::DeviceConnected>(&mut sub).await;
        seen.push(event.hostname.parse::<u64>().unwrap());
    }
    assert_eq!(seen, (2..10).collect::<Vec<_>>());
    assert!(
        tokio::time::timeout(Duration::from_millis(500), sub.next())
            .await
            .is_err()
    );
}

#[tokio::test]
async fn mosquitto_sub_sees_an_event_and_its_cloudevents_properties() {
    let broker = embedded().await;
    let target = &broker.target;
    let topic = format!("openamt/v1/events/devices/{GUID}/connected");
    let sub = std::process::Command::new("mosquitto_sub")
        .args([
            "-V",
            "mqttv5",
            "-h",
            "localhost",
            "-p",
            &broker.broker.address().port().to_string(),
        ])
        .arg("--cafile")
        .arg(&target.ca_path)
        .args([
            "-u",
            "dashboard",
            "-P",
            target.credentials.password("dashboard").unwrap(),
        ])
        .args(["-t", &topic, "-C", "1", "-W", "10", "-F", "%t|%C|%P"])
        .stdout(std::process::Stdio::piped())
        .spawn()
        .expect("mosquitto_sub");
    // Give the outside client time to subscribe; then publish until it has seen one.
    let publisher = target.connect("mps", "mps-for-sub").await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let id = publisher
        .publish(
            &Topic::DeviceEvent(guid(), DeviceEvent::Connected),
            &connected(3),
        )
        .await
        .unwrap();
    let output = tokio::task::spawn_blocking(move || sub.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let line = String::from_utf8_lossy(&output.stdout);
    assert!(
        line.starts_with(&format!("{topic}|application/protobuf|")),
        "{line}"
    );
    for property in [
        "specversion:1.0".to_string(),
        format!("id:{id}"),
        "source:/openamt/test/mps-for-sub".into(),
        "type:io.openamt.device.connected.v1".into(),
        format!("subject:{GUID}"),
        "time:".into(),
    ] {
        assert!(line.contains(&property), "{property} missing in {line}");
    }
}

#[tokio::test]
async fn a_silent_tcp_client_does_not_stall_other_connections() {
    let broker = embedded().await;
    // Several clients connect and say nothing, as a port scanner or a stuck device would.
    let mut silent = Vec::new();
    for _ in 0..5 {
        silent.push(
            tokio::net::TcpStream::connect(broker.broker.address())
                .await
                .unwrap(),
        );
    }
    // One sends half a TLS ClientHello and stops.
    let mut slow = tokio::net::TcpStream::connect(broker.broker.address())
        .await
        .unwrap();
    tokio::io::AsyncWriteExt::write_all(&mut slow, &[0x16, 0x03, 0x01, 0x02, 0x00, 0x01])
        .await
        .unwrap();

    let started = std::time::Instant::now();
    let bus = tokio::time::timeout(
        Duration::from_secs(3),
        broker.target.connect("mps", "mps-unstalled"),
    )
    .await
    .expect("a real client connects while others stall");
    bus.flush(WAIT).await.unwrap();
    println!(
        "connected in {:?} next to 6 stalled sockets",
        started.elapsed()
    );
    drop(silent);
}

#[tokio::test]
async fn the_last_will_is_published_when_a_client_is_killed() {
    let broker = embedded().await;
    let dashboard = broker.target.connect("dashboard", "dash-will").await;
    let mut statuses = dashboard
        .subscribe(&dashboard.topics().all_status(Service::Mps))
        .await
        .unwrap();

    // A child process connects as MPS with an OFFLINE last will, announces ONLINE, and is killed.
    let mut child = child::spawn("will", &broker.target, None, 0);
    let (_, online) = next::<proto::ServiceStatus>(&mut statuses).await;
    assert_eq!(online.state, proto::ServiceState::Online as i32);
    child.kill().unwrap();
    child.wait().unwrap();
    let (delivery, offline) = next::<proto::ServiceStatus>(&mut statuses).await;
    assert_eq!(offline.state, proto::ServiceState::Offline as i32);
    assert_eq!(offline.instance, "mps-will");
    assert!(
        delivery.event.is_some(),
        "the will carries CloudEvents attributes"
    );
}

/// Events published while the broker is down wait in the outbox and all arrive, in order, once.
/// The publishing process is replaced half-way (as a restart would), and the broker restarts.
#[tokio::test]
async fn outbox_delivers_every_event_in_order_across_broker_outage_and_publisher_restart() {
    let mut mosquitto = support::Mosquitto::start();
    let target = &mosquitto.target;
    let mut config = target.config("dashboard", "dash-outbox");
    config.session_expiry = Duration::from_secs(3600);
    let subscriber = Bus::connect(config).await.unwrap();
    subscriber.wait_connected(WAIT).await.unwrap();
    let mut events = subscriber
        .subscribe(&subscriber.topics().all_device_events())
        .await
        .unwrap();
    let outbox_dir = tempfile::tempdir().unwrap();
    let outbox = outbox_dir.path().join("outbox");

    mosquitto.stop();
    // First publisher: 500 events into the outbox while the broker is down, then it is killed.
    let mut first = child::spawn("publish", &mosquitto.target, Some(&outbox), 0);
    child::wait_for_line(&mut first, "published");
    first.kill().unwrap();
    first.wait().unwrap();
    // Its replacement adds 500 more and keeps running.
    let mut second = child::spawn("publish", &mosquitto.target, Some(&outbox), 500);
    child::wait_for_line(&mut second, "published");
    mosquitto.resume();

    let mut seen = Vec::new();
    while seen.len() < 1000 {
        let (_, event) = tokio::time::timeout(
            Duration::from_secs(30),
            events.next_event::<proto::DeviceConnected>(),
        )
        .await
        .unwrap_or_else(|_| panic!("only {} of 1000 events arrived", seen.len()))
        .unwrap();
        let n: u64 = event.hostname.parse().unwrap();
        seen.push(n);
    }
    assert_eq!(
        seen,
        (0..1000).collect::<Vec<_>>(),
        "every event once, in order"
    );
    // Nothing else arrives: duplicates from the restart were dropped by id.
    let extra = tokio::time::timeout(Duration::from_secs(2), events.next()).await;
    assert!(extra.is_err(), "duplicate delivered: {extra:?}");
    second.kill().unwrap();
    second.wait().unwrap();
}

/// The child processes of the tests above: the test binary run again with OPENAMT_TEST_CHILD set.
mod child {
    use std::{
        io::{BufRead, BufReader},
        path::Path,
        process::{Child, Command, Stdio},
    };

    use super::*;

    pub fn spawn(role: &str, target: &Target, outbox: Option<&Path>, start: u64) -> Child {
        let mut command = Command::new(std::env::current_exe().unwrap());
        command
            .args(["child::run", "--exact", "--nocapture", "--test-threads=1"])
            .env("OPENAMT_TEST_CHILD", role)
            .env("CHILD_URL", target.url.to_string())
            .env("CHILD_CA", &target.ca_path)
            .env(
                "CHILD_PASSWORD",
                target.credentials.password("mps").unwrap(),
            )
            .env("CHILD_START", start.to_string())
            .stdout(Stdio::piped());
        if let Some(outbox) = outbox {
            command.env("CHILD_OUTBOX", outbox);
        }
        command.spawn().unwrap()
    }

    pub fn wait_for_line(child: &mut Child, wanted: &str) {
        let stdout = child.stdout.as_mut().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        for line in lines.by_ref() {
            if line.unwrap().contains(wanted) {
                return;
            }
        }
        panic!("child ended before printing {wanted:?}");
    }

    #[tokio::test]
    async fn run() {
        let Ok(role) = std::env::var("OPENAMT_TEST_CHILD") else {
            return; // only meaningful as a child process
        };
        support::init();
        let var = |name| std::env::var(name).unwrap();
        let mut config = broker::BusConfig::new(
            var("CHILD_URL").parse().unwrap(),
            "mps",
            &var("CHILD_PASSWORD"),
            &format!("mps-{role}"),
            &format!("/openamt/test/mps-{role}"),
        );
        config.ca_pem = Some(std::fs::read(var("CHILD_CA")).unwrap());
        if let Ok(outbox) = std::env::var("CHILD_OUTBOX") {
            config.outbox = OutboxConfig::File(outbox.into());
        }
        let status = |state| proto::ServiceStatus {
            service: "mps".into(),
            instance: "mps-will".into(),
            state: state as i32,
            ..Default::default()
        };
        let status_topic = Topic::Status {
            service: Service::Mps,
            instance: "mps-will".into(),
        };
        if role == "will" {
            config.last_will = Some(LastWill::new(
                status_topic.clone(),
                "/openamt/test/mps-will",
                &status(proto::ServiceState::Offline),
            ));
        }
        let bus = Bus::connect(config).await.unwrap();
        match role.as_str() {
            "will" => {
                bus.publish(&status_topic, &status(proto::ServiceState::Online))
                    .await
                    .unwrap();
                bus.flush(WAIT).await.unwrap();
            }
            "publish" => {
                let start: u64 = var("CHILD_START").parse().unwrap();
                for n in start..start + 500 {
                    let mut event = connected(n);
                    event.hostname = n.to_string();
                    bus.publish(&Topic::DeviceEvent(guid(), DeviceEvent::Connected), &event)
                        .await
                        .unwrap();
                }
            }
            other => panic!("unknown child role {other}"),
        }
        println!("published");
        // Stay alive until the parent kills this process.
        tokio::time::sleep(Duration::from_secs(120)).await;
    }
}

/// A port another server holds is an error, not a broker that seems to start: the readiness check
/// looks for Mosquitto's own listener, so a test never talks to someone else's broker.
#[test]
fn mosquitto_on_a_taken_port_is_a_clear_error() {
    let holder = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = holder.local_addr().unwrap().port();
    let dir = tempfile::tempdir().unwrap();
    let error = match broker::mosquitto::Mosquitto::start(dir.path(), port) {
        Ok(_) => panic!("started on a port that was taken"),
        Err(e) => e.to_string(),
    };
    assert!(error.contains(&format!("port {port}")), "{error}");
    // Port 0 finds a free one.
    let mosquitto = broker::mosquitto::Mosquitto::start(dir.path(), 0).unwrap();
    assert_ne!(mosquitto.port, 0);
    assert!(std::net::TcpStream::connect(("127.0.0.1", mosquitto.port)).is_ok());
}
