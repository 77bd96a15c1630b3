//! Bad input on the device WebSocket, with RPS on the bus (Mosquitto) and a dashboard watching activation
//! events: malformed and oversized messages, an unknown profile, wrong AMT credentials, and devices that answer
//! garbage or nothing. Each gets the reference's message, a failed event names the reason, and RPS keeps
//! activating the other devices meanwhile.

mod harness;
mod support;

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use futures::{SinkExt, StreamExt};
use harness::stack::{Broker, eventually, watch_activations};
use harness::{Rps, activate, run_agent, test_config};
use schemas::proto::ActivationPhase;
use serde_json::{Value, json};
use sim::device::{ControlMode, Device, DeviceSpec};
use tokio_tungstenite::tungstenite::Message;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

async fn connect(url: &str) -> Socket {
    tokio_tungstenite::connect_async(url)
        .await
        .expect("WebSocket")
        .0
}

/// The next text message from RPS as JSON; `None` when the socket closed.
async fn next_json(socket: &mut Socket) -> Option<Value> {
    loop {
        match tokio::time::timeout(Duration::from_secs(20), socket.next()).await {
            Ok(Some(Ok(Message::Text(t)))) => {
                return Some(serde_json::from_str(t.as_str()).expect("JSON"));
            }
            Ok(Some(Ok(Message::Ping(_) | Message::Pong(_)))) => continue,
            Ok(_) => return None,
            Err(_) => panic!("no message from RPS"),
        }
    }
}

/// What a misbehaving device does with each WS-Man request.
#[derive(Clone, Copy)]
enum Behaviour {
    Garbage,
    Silent,
    Honest,
}

/// rpc-go's loop with a device that answers as `behaviour` says; returns the terminal message.
async fn fake_agent(url: &str, first: Value, device: &Device, behaviour: Behaviour) -> Value {
    let mut socket = connect(url).await;
    socket
        .send(Message::Text(first.to_string().into()))
        .await
        .expect("send");
    loop {
        let message = next_json(&mut socket).await.expect("a terminal message");
        match message["method"].as_str() {
            Some("wsman") => {
                let request = STANDARD
                    .decode(message["payload"].as_str().unwrap())
                    .unwrap();
                let answer = match behaviour {
                    Behaviour::Garbage => b"\x00garbage \xff not HTTP".to_vec(),
                    Behaviour::Silent => continue,
                    Behaviour::Honest => sim::agent::relay::exchange(device, &request)
                        .await
                        .expect("device answers"),
                };
                let reply = json!({"method": "response", "apiKey": "key", "appVersion": "2.48.0",
                    "protocolVersion": "4.0.0", "status": "ok", "message": "ok", "fqdn": "",
                    "payload": STANDARD.encode(answer), "tenantId": ""});
                socket
                    .send(Message::Text(reply.to_string().into()))
                    .await
                    .expect("send");
            }
            _ => return message,
        }
    }
}

fn first_message(device: &Device, profile: &str) -> Value {
    sim::agent::payload::first_message(device, &activate(profile)).expect("first message")
}

/// The first message with its payload edited.
fn with_payload(mut first: Value, edit: impl FnOnce(&mut Value)) -> Value {
    let mut payload: Value =
        serde_json::from_slice(&STANDARD.decode(first["payload"].as_str().unwrap()).unwrap())
            .unwrap();
    edit(&mut payload);
    first["payload"] = json!(STANDARD.encode(payload.to_string()));
    first
}

type Shared<T> = std::sync::Arc<std::sync::Mutex<T>>;

async fn start() -> (
    Broker,
    Rps,
    Shared<harness::stack::Seen>,
    Shared<Vec<Value>>,
) {
    let broker = Broker::start();
    let dir = tempfile::tempdir().expect("temp dir");
    let bus = broker
        .client("rps", "rps-bad-input", Some(dir.path().join("outbox")))
        .await;
    let secrets = secrets::open(&secrets::SecretStoreConfig::Local {
        dir: dir.path().join("secrets"),
    })
    .unwrap();
    // One second per WS-Man call, so a silent device fails fast.
    // With `mqtt_address` set (the reference's switch), the reference JSON goes to `rps/events` as well.
    let config = rps::RpsConfig {
        delay_timer: 1,
        mqtt_address: broker.process.url(),
        ..test_config()
    };
    let rps = Rps::start(support::TestDb::sqlite(), secrets, Some(bus), config, dir).await;
    let dashboard = broker
        .client("dashboard", "dashboard-bad-input", None)
        .await;
    let seen = watch_activations(&dashboard).await;
    let reference: Shared<Vec<Value>> = Default::default();
    let mut sub = dashboard
        .subscribe("rps/events")
        .await
        .expect("subscribe rps/events");
    let r = reference.clone();
    tokio::spawn(async move {
        while let Some(d) = sub.next().await {
            if let Ok(v) = serde_json::from_slice(&d.payload) {
                r.lock().unwrap().push(v);
            }
        }
    });
    rps.create_profile("ccm1", "ccmactivate", None, json!({}))
        .await;
    (broker, rps, seen, reference)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_and_oversized_messages() {
    let (_broker, rps, _seen, _reference) = start().await;

    // Not JSON: an error, and the socket stays open for a proper first message.
    let mut socket = connect(&rps.ws).await;
    socket
        .send(Message::Text("{not json".into()))
        .await
        .unwrap();
    let error = next_json(&mut socket).await.expect("an error message");
    assert_eq!(error["method"], "error");
    assert_eq!(error["status"], "failed");
    assert!(
        error["message"]
            .as_str()
            .unwrap()
            .starts_with("SyntaxError: "),
        "{error}"
    );
    assert_eq!(error["payload"], Value::Null);
    assert_eq!(error["apiKey"], "xxxxx");
    // A binary frame closes the socket.
    socket
        .send(Message::Binary(vec![1, 2, 3].into()))
        .await
        .unwrap();
    assert_eq!(next_json(&mut socket).await, None);

    // A message over 100 KiB closes the socket without an answer.
    let mut socket = connect(&rps.ws).await;
    let big = json!({"method": "activate --profile ccm1", "payload": "A".repeat(100 * 1024)});
    socket
        .send(Message::Text(big.to_string().into()))
        .await
        .unwrap();
    assert_eq!(next_json(&mut socket).await, None);

    let device = Device::new(DeviceSpec::fresh(20, 1));
    // A payload that is not base64 JSON, one without the required fields, an unsupported command and protocol.
    let cases = [
        (
            {
                let mut m = first_message(&device, "ccm1");
                m["payload"] = json!("%%%");
                m
            },
            "Failed to parse client message payload. ",
        ),
        (
            with_payload(first_message(&device, "ccm1"), |p| p["client"] = json!("")),
            "Invalid payload from client",
        ),
        (
            {
                let mut m = first_message(&device, "ccm1");
                m["method"] = json!("reboot --now");
                m
            },
            "Not a supported method received from AMT device",
        ),
        (
            {
                let mut m = first_message(&device, "ccm1");
                m["protocolVersion"] = json!("5.0.0");
                m
            },
            "protocol version NOT supported: 5.0.0",
        ),
    ];
    for (message, expected) in cases {
        let mut socket = connect(&rps.ws).await;
        socket
            .send(Message::Text(message.to_string().into()))
            .await
            .unwrap();
        let error = next_json(&mut socket).await.expect("an error message");
        assert_eq!(error["method"], "error", "{error}");
        assert!(
            error["message"].as_str().unwrap().contains(expected),
            "{error} / {expected}"
        );
    }
    assert_eq!(device.control_mode(), ControlMode::PreProvisioning);
    rps.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failures_name_their_reason_and_other_devices_keep_activating() {
    let (_broker, rps, seen, reference) = start().await;

    let unknown = Device::new(DeviceSpec::fresh(21, 1));
    let wrong_lsa = Device::new(DeviceSpec::fresh(21, 2));
    let garbage = Device::new(DeviceSpec::fresh(21, 3));
    let silent = Device::new(DeviceSpec::fresh(21, 4));
    let honest: Vec<Device> = (10..20)
        .map(|i| Device::new(DeviceSpec::fresh(21, i)))
        .collect();

    let ws = rps.ws.clone();
    let (nosuch, ccm1) = (activate("nosuchprofile"), activate("ccm1"));
    let bad = async {
        tokio::join!(
            run_agent(&unknown, &ws, &nosuch),
            fake_agent(
                &ws,
                with_payload(first_message(&wrong_lsa, "ccm1"), |p| p["password"] =
                    json!("not-the-LSA-password")),
                &wrong_lsa,
                Behaviour::Honest
            ),
            fake_agent(
                &ws,
                first_message(&garbage, "ccm1"),
                &garbage,
                Behaviour::Garbage
            ),
            fake_agent(
                &ws,
                first_message(&silent, "ccm1"),
                &silent,
                Behaviour::Silent
            ),
        )
    };
    let good = futures::future::join_all(honest.iter().map(|d| run_agent(d, &ws, &ccm1)));
    let ((unknown_result, wrong_lsa_end, garbage_end, silent_end), good) = tokio::join!(bad, good);

    for (d, r) in honest.iter().zip(good) {
        let outcome = r.unwrap_or_else(|e| panic!("{}: {e}", d.guid()));
        assert_eq!(outcome.status.unwrap()["Status"], "Client control mode.");
        assert_eq!(d.control_mode(), ControlMode::Ccm);
    }

    let unknown_reason = format!(
        "Device {} activation failed. nosuchprofile does not match list of available AMT profiles.",
        unknown.guid()
    );
    match unknown_result {
        Err(sim::agent::AgentError::Rps { message, .. }) => assert_eq!(message, unknown_reason),
        other => panic!("unexpected {other:?}"),
    }
    // After the state machine started, the error carries the status JSON.
    let status =
        |end: &Value| -> Value { serde_json::from_str(end["message"].as_str().unwrap()).unwrap() };
    assert_eq!(wrong_lsa_end["method"], "error");
    assert_eq!(
        status(&wrong_lsa_end)["Status"],
        "Unable to authenticate with AMT"
    );
    assert_eq!(
        status(&wrong_lsa_end)["Components"]["Activation"]["Result"],
        "Failure"
    );
    assert_eq!(garbage_end["method"], "error");
    assert_eq!(status(&garbage_end)["Status"], "Unknown error has occured");
    assert_eq!(silent_end["method"], "error");
    assert_eq!(status(&silent_end)["Status"], "Unknown error has occured");
    for d in [&unknown, &wrong_lsa, &garbage, &silent] {
        assert_eq!(
            d.control_mode(),
            ControlMode::PreProvisioning,
            "{}",
            d.guid()
        );
        assert!(rps.device_secret(&d.guid()).await.is_none());
    }

    // Every failure is on the bus with its reason; the good devices succeeded.
    let expected = [
        (unknown.guid(), unknown_reason),
        (
            wrong_lsa.guid(),
            "Unable to authenticate with AMT".to_owned(),
        ),
        (garbage.guid(), "Unknown error has occured".to_owned()),
        (silent.guid(), "Unknown error has occured".to_owned()),
    ];
    eventually("failed events for the bad devices", 20, async || {
        let s = seen.lock().unwrap();
        expected
            .iter()
            .all(|(g, _)| s.phases(g).contains(&ActivationPhase::Failed))
            && honest
                .iter()
                .all(|d| s.phases(&d.guid()).contains(&ActivationPhase::Succeeded))
    })
    .await;
    // The reference JSON on rps/events: "Device activated in Client control mode." for the good devices.
    let good = honest[0].guid();
    eventually("reference success event", 10, async || {
        reference.lock().unwrap().iter().any(|e| {
            e["type"] == "success"
                && e["guid"] == good.as_str()
                && e["message"] == "Device activated in Client control mode."
                && e["methods"] == json!(["Activator", "execute"])
        })
    })
    .await;
    {
        let s = seen.lock().unwrap();
        for (guid, reason) in &expected {
            let failed = s.activation[guid]
                .iter()
                .find(|e| e.phase() == ActivationPhase::Failed)
                .expect("failed event");
            assert!(
                failed.reason.starts_with(reason.as_str()),
                "{guid}: {} / {reason}",
                failed.reason
            );
        }
        // The unknown profile never started; the others started, then failed.
        assert_eq!(s.phases(&unknown.guid()), vec![ActivationPhase::Failed]);
        assert_eq!(
            s.phases(&garbage.guid()),
            vec![ActivationPhase::Started, ActivationPhase::Failed]
        );
    }
    rps.stop().await;
}
