//! As a user would: `openamt up` in an empty directory, then `openamt events --json` prints what a
//! service publishes, decoded, one JSON object a line.

use std::{
    io::{BufRead, BufReader},
    process::{Child, Command, Stdio},
    time::Duration,
};

use broker::{Bus, BusConfig, Credentials};
use schemas::{DeviceEvent, Topic, proto};

const GUID: &str = "4c4c4544-004b-4210-8033-b6c04f504633";

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A child process killed when the test ends, however it ends.
struct Running(Option<Child>);

impl Running {
    fn child(&mut self) -> &mut Child {
        self.0.as_mut().expect("running")
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

fn openamt(dir: &std::path::Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_openamt"));
    command.current_dir(dir).env_remove("RUST_LOG");
    command
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_prints_what_services_publish() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let mut up = Running(Some(
        openamt(dir.path())
            .args(["up", "--mqtt-listen", &format!("127.0.0.1:{port}")])
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap(),
    ));
    let banner = BufReader::new(up.child().stdout.take().unwrap());
    let mut seen_banner = String::new();
    for line in banner.lines() {
        let line = line.unwrap();
        seen_banner.push_str(&line);
        seen_banner.push('\n');
        if line.contains("Ctrl-C stops everything") {
            break;
        }
    }
    assert!(
        seen_banner.contains(&format!("mqtts://localhost:{port}")),
        "{seen_banner}"
    );
    assert!(seen_banner.contains("first start"), "{seen_banner}");

    let url = format!("mqtts://localhost:{port}");
    let mut events = Running(Some(
        openamt(dir.path())
            .args(["events", "--json", "--count", "1", "--mqtt-url", &url])
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
    let mut up = up.0.take().unwrap();
    Command::new("kill")
        .args(["-INT", &up.id().to_string()])
        .status()
        .unwrap();
    let status = tokio::task::spawn_blocking(move || up.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "openamt up exited with {status}");
}
