//! Issue 8's broker fault test: Mosquitto (the production configuration) is restarted twice while
//! 2,000 simulated devices connect to an `openamt mps` process (on Postgres, its event outbox in the
//! database), and again while they all disconnect. A dashboard with a persistent session must receive
//! every device's `connected` and then its `disconnected` event: none missing, none twice once
//! duplicates are dropped by event id, and for each device in that order.

mod support;

use std::{
    collections::HashMap,
    net::SocketAddr,
    process::Stdio,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use broker::Bus;
use schemas::{Event, proto};
use serde_json::json;
use support::{Running, free_port, openamt, postgres::Database};

const DEVICES: u64 = 2_000;
const AMT_PASSWORD: &str = "Amt!Outage5x7q";
const ENROLMENT_PASSWORD: &str = "Enrol!Outage-4k9Vd2Lq";

/// What the dashboard received, per device in arrival order, after dropping repeated event ids.
#[derive(Default)]
struct Received {
    by_device: HashMap<String, Vec<&'static str>>,
    ids: std::collections::HashSet<String>,
    duplicates: u64,
}

impl Received {
    fn count(&self, kind: &str) -> usize {
        self.by_device
            .values()
            .filter(|kinds| kinds.contains(&kind))
            .count()
    }
}

async fn dashboard(mosquitto: &broker::mosquitto::Mosquitto) -> (Bus, Arc<Mutex<Received>>) {
    // A persistent session: what is published while the dashboard is cut off waits for it.
    let bus = support::mosquitto_client(
        mosquitto,
        "dashboard",
        "dash-broker-outage",
        Duration::from_secs(600),
    )
    .await;
    let mut events = bus
        .subscribe(&bus.topics().all_device_events())
        .await
        .unwrap();
    let received = Arc::new(Mutex::new(Received::default()));
    let sink = received.clone();
    tokio::spawn(async move {
        while let Some(delivery) = events.next().await {
            let Some(event) = delivery.event.as_ref() else {
                continue;
            };
            let kind = if event.ty == proto::DeviceConnected::TYPE {
                "connected"
            } else if event.ty == proto::DeviceDisconnected::TYPE {
                "disconnected"
            } else {
                continue;
            };
            let guid = if kind == "connected" {
                delivery.decode::<proto::DeviceConnected>().map(|e| e.guid)
            } else {
                delivery
                    .decode::<proto::DeviceDisconnected>()
                    .map(|e| e.guid)
            };
            let Ok(guid) = guid else { continue };
            let mut received = sink.lock().unwrap();
            if !received.ids.insert(event.id.clone()) {
                received.duplicates += 1;
                continue;
            }
            received.by_device.entry(guid).or_default().push(kind);
        }
    });
    (bus, received)
}

async fn eventually(what: &str, secs: u64, mut check: impl FnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !check() {
        assert!(
            start.elapsed() < Duration::from_secs(secs),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    start.elapsed()
}

/// Stops Mosquitto (gracefully: it saves its persistence) for `outage`, then starts it again.
async fn restart(mosquitto: &Arc<Mutex<broker::mosquitto::Mosquitto>>, outage: Duration) {
    let m = mosquitto.clone();
    tokio::task::spawn_blocking(move || m.lock().unwrap().stop())
        .await
        .unwrap();
    tokio::time::sleep(outage).await;
    let m = mosquitto.clone();
    tokio::task::spawn_blocking(move || m.lock().unwrap().resume().unwrap())
        .await
        .unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_restart_during_a_connect_storm_loses_and_repeats_nothing() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let _ = sim::fleet::raise_nofile_limit();
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let mosquitto = broker::mosquitto::Mosquitto::start(&dir.path().join("mosquitto"), 0).unwrap();
    let database = Database::create("outage");
    let (_dashboard, received) = dashboard(&mosquitto).await;

    let cira = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let web = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let _mps = Running::spawn(
        openamt(dir.path())
            .arg("mps")
            .env("MPS_INSTANCE_NAME", "mps-outage")
            .env("MPS_PORT", cira.port().to_string())
            .env("MPS_WEB_PORT", web.port().to_string())
            .env("MPS_BIND_ADDRESS", "127.0.0.1")
            .env("MPS_COMMON_NAME", "localhost")
            .env("MPS_JWT_SECRET", "a-jwt-secret-for-the-broker-outage-test")
            .env("MPS_WEB_ADMIN_USER", "admin")
            .env("MPS_WEB_ADMIN_PASSWORD", "Adm1n!outage")
            .env("MPS_CONNECTION_STRING", database.url())
            .env("MPS_SECRETS_PROVIDER", "local")
            .env("MPS_DATA_DIR", dir.path().join("mps-data"))
            .env(
                "MPS_GLOBAL_CIRA_CREDENTIALS",
                json!({"username": "enrol-outage", "password": ENROLMENT_PASSWORD,
                    "amt_password": AMT_PASSWORD})
                .to_string(),
            )
            .env("OPENAMT_MQTT_URL", mosquitto.url())
            .env("OPENAMT_MQTT_CA", &mosquitto.ca_path)
            .env(
                "OPENAMT_MQTT_PASSWORD",
                mosquitto.credentials.password("mps").unwrap(),
            )
            .stdout(Stdio::null())
            .stderr(std::fs::File::create(logs.join("mps.log")).unwrap()),
    );
    let mosquitto = Arc::new(Mutex::new(mosquitto));
    // The devices trust the MPS root that MPS hands out once it is up.
    let deadline = Instant::now() + Duration::from_secs(60);
    let pem = loop {
        if let Ok(response) = reqwest::get(format!("http://{web}/api/v1/ciracert")).await
            && response.status() == 200
        {
            break response.text().await.unwrap();
        }
        assert!(Instant::now() < deadline, "MPS never served its root");
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let pem = serde_json::from_str::<String>(&pem).unwrap_or(pem);
    let root = rustls::pki_types::pem::PemObject::from_pem_slice(pem.as_bytes())
        .map(|c: rustls::pki_types::CertificateDer| c.to_vec())
        .unwrap();

    // The storm: 2,000 devices at once; the broker goes away twice while they connect.
    let fleet_config = sim::fleet::FleetConfig::provisioned(
        8080,
        DEVICES,
        sim::device::CiraSettings {
            server: "localhost".into(),
            port: cira.port(),
            username: "enrol-outage".into(),
            password: ENROLMENT_PASSWORD.into(),
            root_cert_der: Some(root),
        },
        AMT_PASSWORD,
    );
    let storm = Instant::now();
    let fleet = sim::fleet::Fleet::start(&fleet_config);
    eventually("the first devices to connect", 120, || {
        fleet.stats().connected() >= 200
    })
    .await;
    restart(&mosquitto, Duration::from_secs(3)).await;
    eventually("half the devices to connect", 120, || {
        fleet.stats().connected() >= DEVICES / 2
    })
    .await;
    restart(&mosquitto, Duration::from_secs(2)).await;
    assert!(
        fleet
            .wait_connected(DEVICES, Duration::from_secs(180))
            .await,
        "{} of {DEVICES} devices connected",
        fleet.stats().connected()
    );
    let connected_in = storm.elapsed();
    let all_events = eventually("every connected event", 180, || {
        received.lock().unwrap().count("connected") == DEVICES as usize
    })
    .await;

    // And the other way: every device goes away while the broker restarts once more.
    let departure = tokio::spawn(fleet.shutdown());
    restart(&mosquitto, Duration::from_secs(3)).await;
    departure.await.unwrap();
    eventually("every disconnected event", 180, || {
        received.lock().unwrap().count("disconnected") == DEVICES as usize
    })
    .await;

    let received = received.lock().unwrap();
    assert_eq!(received.by_device.len(), DEVICES as usize);
    let out_of_order: Vec<(&String, &Vec<&str>)> = received
        .by_device
        .iter()
        .filter(|(_, kinds)| kinds.as_slice() != ["connected", "disconnected"])
        .collect();
    assert!(
        out_of_order.is_empty(),
        "{} devices did not see exactly connected then disconnected, e.g. {:?}",
        out_of_order.len(),
        &out_of_order[..out_of_order.len().min(5)]
    );
    eprintln!(
        "{DEVICES} devices through three broker restarts: connected in {connected_in:?}, \
         every connected event {all_events:?} later; {} duplicate deliveries dropped by event id",
        received.duplicates
    );
}
