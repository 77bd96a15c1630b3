//! Who may do what on the broker, checked with Mosquitto's own command-line clients (an outside MQTT
//! implementation) against both brokers: no anonymous client, no plaintext MQTT on the TLS port, the
//! read-only dashboard credential cannot publish, and a service cannot publish outside its topics.

mod support;

use std::process::{Command, Output, Stdio};

use support::Target;

/// `mosquitto_pub` (MQTT 5, TLS with the broker's CA unless `plain`), bounded in time.
fn publish(target: &Target, user: Option<&str>, topic: &str, message: &str, plain: bool) -> Output {
    let mut command = Command::new("timeout");
    command
        .args(["10", "mosquitto_pub", "-V", "mqttv5", "-q", "1"])
        .args(["-h", &target.url.host, "-p", &target.url.port.to_string()])
        .args(["-t", topic, "-m", message]);
    if !plain {
        command.arg("--cafile").arg(&target.ca_path);
    }
    if let Some(user) = user {
        command.args(["-u", user, "-P", target.credentials.password(user).unwrap()]);
    }
    command
        .output()
        .expect("mosquitto_pub (Debian's mosquitto-clients)")
}

/// Tries each forbidden publish, then one allowed marker; a subscriber that reads everything must
/// see the marker first, so none of the forbidden ones got through.
fn only_the_allowed_publish_arrives(target: &Target) {
    let subscriber = Command::new("mosquitto_sub")
        .args(["-V", "mqttv5", "-h", &target.url.host])
        .args(["-p", &target.url.port.to_string()])
        .arg("--cafile")
        .arg(&target.ca_path)
        .args([
            "-u",
            "dashboard",
            "-P",
            target.credentials.password("dashboard").unwrap(),
        ])
        .args(["-t", "openamt/v1/#", "-t", "mps/events", "-t", "rps/events"])
        .args(["-C", "1", "-W", "20", "-F", "%t %p"])
        .stdout(Stdio::piped())
        .spawn()
        .expect("mosquitto_sub");
    std::thread::sleep(std::time::Duration::from_millis(700));

    let guid = "0a1b2c3d-4e5f-4a6b-8c7d-8e9fa0b1c2d3";
    let forbidden = [
        // The read-only dashboard credential writes nothing.
        (
            "dashboard",
            format!("openamt/v1/events/devices/{guid}/connected"),
        ),
        (
            "dashboard",
            format!("openamt/v1/commands/devices/{guid}/power"),
        ),
        ("dashboard", "openamt/v1/mps/fake/status".to_owned()),
        // Each service only where it speaks.
        ("rps", format!("openamt/v1/events/devices/{guid}/connected")),
        ("rps", format!("openamt/v1/devices/{guid}/presence")),
        (
            "mps",
            format!("openamt/v1/events/devices/{guid}/activation"),
        ),
        ("mps", "openamt/v1/rps/fake/status".to_owned()),
        ("router", format!("openamt/v1/devices/{guid}/presence")),
        (
            "router",
            format!("openamt/v1/commands/devices/{guid}/power"),
        ),
        (
            "webui",
            format!("openamt/v1/events/devices/{guid}/deactivated"),
        ),
        ("webui", "mps/events".to_owned()),
    ];
    for (user, topic) in &forbidden {
        publish(
            target,
            Some(user),
            topic,
            &format!("forbidden from {user}"),
            false,
        );
    }
    let marker_topic = format!("openamt/v1/events/devices/{guid}/connected");
    let marker = publish(
        target,
        Some("mps"),
        &marker_topic,
        "allowed from mps",
        false,
    );
    assert!(marker.status.success(), "{marker:?}");

    let seen = subscriber.wait_with_output().unwrap();
    assert_eq!(
        String::from_utf8_lossy(&seen.stdout).trim(),
        format!("{marker_topic} allowed from mps"),
        "a forbidden publish reached the subscriber"
    );
}

fn no_anonymous_and_no_plaintext(target: &Target) {
    let anonymous = publish(target, None, "openamt/v1/anything", "x", false);
    assert!(!anonymous.status.success(), "an anonymous client published");
    let text = String::from_utf8_lossy(&anonymous.stderr).to_lowercase();
    // Mosquitto says "not authorised", the embedded gate "bad user name or password".
    assert!(
        text.contains("not authori") || text.contains("bad user name or password"),
        "{text}"
    );

    let plain = publish(target, Some("mps"), "openamt/v1/anything", "x", true);
    assert!(
        !plain.status.success(),
        "plaintext MQTT was accepted on the TLS port"
    );
}

#[tokio::test]
async fn the_embedded_broker_lets_each_credential_publish_only_where_it_may() {
    let broker = support::embedded().await;
    let target = broker.target;
    tokio::task::spawn_blocking(move || {
        no_anonymous_and_no_plaintext(&target);
        only_the_allowed_publish_arrives(&target);
    })
    .await
    .unwrap();
}

#[tokio::test]
async fn mosquitto_lets_each_credential_publish_only_where_it_may() {
    let mosquitto = support::Mosquitto::start();
    tokio::task::spawn_blocking(move || {
        no_anonymous_and_no_plaintext(&mosquitto.target);
        only_the_allowed_publish_arrives(&mosquitto.target);
        drop(mosquitto);
    })
    .await
    .unwrap();
}

/// The production configuration has no listener without TLS and no anonymous access.
#[test]
fn the_mosquitto_configuration_listens_with_tls_only() {
    let conf = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("mosquitto/mosquitto.conf"),
    )
    .unwrap();
    let lines: Vec<&str> = conf
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .collect();
    let listeners = lines.iter().filter(|l| l.starts_with("listener ")).count();
    assert!(listeners >= 1, "{conf}");
    for setting in ["certfile", "keyfile"] {
        assert_eq!(
            lines.iter().filter(|l| l.starts_with(setting)).count(),
            listeners,
            "every listener has its {setting}:\n{conf}"
        );
    }
    assert!(lines.contains(&"allow_anonymous false"), "{conf}");
    assert!(
        lines.iter().any(|l| l.starts_with("password_file")),
        "{conf}"
    );
    assert!(lines.iter().any(|l| l.starts_with("acl_file")), "{conf}");
}
