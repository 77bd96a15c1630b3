//! As a user would: `openamt up` in an empty directory, then `openamt events --json` prints what a
//! service publishes, decoded, one JSON object a line.

mod support;

use std::{
    io::{BufRead, BufReader},
    process::Stdio,
    time::Duration,
};

use broker::{Bus, BusConfig, Credentials};
use schemas::{DeviceEvent, Topic, proto};
use support::{Running, openamt, start_up};

const GUID: &str = "4c4c4544-004b-4210-8033-b6c04f504633";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_prints_what_services_publish() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let mut up = start_up(dir.path());
    assert!(up.banner.contains("first start"), "{}", up.banner);
    let port = up.mqtt_port.clone();
    let url = format!("mqtts://localhost:{port}");
    let mut events = Running(Some(
        openamt(dir.path())
            .args(["events", "openamt/v1/events/devices/+/connected", "--json"])
            .args(["--count", "1", "--mqtt-url", &url])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap(),
    ));
    // Wait until `openamt events` says it listens.
    let stderr = BufReader::new(events.child().stderr.take().unwrap());
    for line in stderr.lines() {
        if line.unwrap().contains("listening on") {
            break;
        }
    }

    // A service publishes with the credentials `openamt up` created.
    let data = dir.path().join("openamt-data");
    let password = Credentials::load_password(&data, "mps").unwrap();
    let mut config = BusConfig::new(
        url.parse().unwrap(),
        "mps",
        &password,
        "mps-test",
        "/openamt/mps/mps-test",
    );
    config.ca_pem = Some(std::fs::read(data.join("ca.pem")).unwrap());
    let bus = Bus::connect(config).await.unwrap();
    let event = proto::DeviceConnected {
        guid: GUID.into(),
        mps_instance: "mps-test".into(),
        remote_address: "10.0.0.9:51234".into(),
        connected_at: Some(schemas::now()),
        ..Default::default()
    };
    let id = bus
        .publish(
            &Topic::DeviceEvent(GUID.parse().unwrap(), DeviceEvent::Connected),
            &event,
        )
        .await
        .unwrap();
    bus.flush(Duration::from_secs(10)).await.unwrap();

    let child = events.0.take().unwrap();
    let output = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let line = String::from_utf8(output.stdout).unwrap();
    let printed: serde_json::Value = serde_json::from_str(line.trim()).unwrap();
    assert_eq!(
        printed["topic"],
        format!("openamt/v1/events/devices/{GUID}/connected")
    );
    assert_eq!(printed["id"], id);
    assert_eq!(printed["type"], "io.openamt.device.connected.v1");
    assert_eq!(printed["source"], "/openamt/mps/mps-test");
    assert_eq!(printed["subject"], GUID);
    assert_eq!(printed["data"]["guid"], GUID);
    assert_eq!(printed["data"]["mpsInstance"], "mps-test");
    assert_eq!(printed["data"]["remoteAddress"], "10.0.0.9:51234");

    // Ctrl-C (SIGINT) stops `openamt up` cleanly.
    let status = tokio::task::spawn_blocking(move || up.process.interrupt())
        .await
        .unwrap();
    assert!(status.success(), "openamt up exited with {status}");
}
