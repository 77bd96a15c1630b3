//! The device agent against a WebSocket peer speaking RPS's side of the protocol (spec/rps.md §3):
//! the peer drives a real CCM activation through the agent — digest challenge, Setup, heartbeat —
//! with requests framed exactly as RPS frames them, and ends the job with `success` or `error`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use sim::agent::{AgentError, AgentOptions, Command, Connection};
use sim::device::{ControlMode, Device, DeviceSpec};
use tokio::net::TcpListener;
use tokio_tungstenite::tungstenite::Message;
use wsman::digest::{Challenge, DigestClient};
use wsman::http::{Limits, RequestFraming, Response, ResponseReader, encode_request, host};

type Socket = tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>;

async fn receive(socket: &mut Socket) -> Value {
    loop {
        match socket.next().await.expect("agent message").expect("frame") {
            Message::Text(text) => return serde_json::from_str(text.as_str()).expect("JSON"),
            Message::Close(_) => panic!("agent closed early"),
            _ => continue,
        }
    }
}

fn rps_message(method: &str, status: &str, message: &str, payload: Value) -> Message {
    let body = json!({"method": method, "apiKey": "xxxxx", "appVersion": "2.40.0", "protocolVersion": "4.0.0",
        "status": status, "message": message, "payload": payload, "tenantId": ""});
    Message::Text(body.to_string().into())
}

/// Sends one WS-Man request through the agent (as RPS does) and parses the device's answer.
async fn wsman(socket: &mut Socket, digest: &mut DigestClient, guid: &str, xml: &str) -> Response {
    let authorization = digest.authorization("POST", "/wsman");
    let request = encode_request(
        RequestFraming::ChunkedClose,
        &host(guid, 16992),
        authorization.as_deref(),
        xml.as_bytes(),
    );
    socket
        .send(rps_message(
            "wsman",
            "ok",
            "",
            json!(STANDARD.encode(request)),
        ))
        .await
        .expect("send");
    let answer = receive(socket).await;
    assert_eq!(answer["method"], "response");
    let raw = STANDARD
        .decode(answer["payload"].as_str().expect("payload"))
        .expect("base64");
    let mut reader = ResponseReader::new(Limits::default());
    reader.push(&raw);
    reader
        .next_response()
        .expect("HTTP")
        .expect("a whole response")
}

async fn listen() -> (TcpListener, String) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let url = format!("ws://{}/activate", listener.local_addr().expect("address"));
    (listener, url)
}

fn options(profile: &str) -> AgentOptions {
    AgentOptions {
        command: Command::Activate {
            profile: profile.into(),
        },
        password: None,
        tenant_id: String::new(),
        dns_suffix: Some("example.com".into()),
        hostname: None,
        friendly_name: None,
    }
}

#[tokio::test]
async fn agent_relays_a_ccm_activation() {
    let device = Device::new(DeviceSpec::fresh(31, 1));
    let (listener, url) = listen().await;
    let rps = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.expect("accept");
        let mut socket = tokio_tungstenite::accept_async(tcp)
            .await
            .expect("handshake");
        let first = receive(&mut socket).await;
        assert_eq!(first["method"], "activate --profile ccm-profile");
        assert_eq!(first["protocolVersion"], "4.0.0");
        let payload: Value = serde_json::from_slice(
            &STANDARD
                .decode(first["payload"].as_str().expect("payload"))
                .expect("b64"),
        )
        .expect("json");
        assert_eq!(payload["client"], "RPC");
        assert_eq!(payload["currentMode"], 0);
        let guid = payload["uuid"].as_str().expect("uuid").to_string();
        let mut digest = DigestClient::new(
            payload["username"].as_str().expect("username"),
            payload["password"].as_str().expect("password"),
        );
        // First request without credentials: the device challenges.
        let get = wsman::Call::get("AMT_GeneralSettings").to_xml(0);
        let challenge = wsman(&mut socket, &mut digest, &guid, &get).await;
        assert_eq!(challenge.status, 401);
        let challenge =
            Challenge::parse(challenge.www_authenticate().expect("challenge")).expect("digest");
        let realm = challenge.realm.clone();
        digest.set_challenge(challenge);
        let settings = wsman(&mut socket, &mut digest, &guid, &get).await;
        assert_eq!(settings.status, 200);
        assert!(settings.chunked, "RPS needs chunked 200s");
        let parsed =
            wsman::parse_response(&settings.body_text(), wsman::ParseOptions::RPS).expect("SOAP");
        assert_eq!(
            parsed.body()["AMT_GeneralSettings"]["DigestRealm"],
            realm.as_str()
        );
        // Setup with the new admin password's HA1.
        let ha1 = wsman::digest::md5_hex(format!("admin:{realm}:Agent-P@ss1").as_bytes());
        let setup = wsman(
            &mut socket,
            &mut digest,
            &guid,
            &wsman::messages::ips::setup(2, &ha1).to_xml(1),
        )
        .await;
        let parsed =
            wsman::parse_response(&setup.body_text(), wsman::ParseOptions::RPS).expect("SOAP");
        assert_eq!(parsed.body()["Setup_OUTPUT"]["ReturnValue"], 0);
        // Heartbeats are echoed.
        socket
            .send(rps_message(
                "heartbeat_request",
                "heartbeat",
                "",
                Value::Null,
            ))
            .await
            .expect("send");
        let echo = receive(&mut socket).await;
        assert_eq!(echo["method"], "heartbeat_response");
        assert_eq!(echo["status"], "success");
        let status =
            json!({"Status": "Client control mode.", "Network": "Wired Network Configured"})
                .to_string();
        socket
            .send(rps_message("success", "success", &status, Value::Null))
            .await
            .expect("send");
        // The agent closes the socket after the terminal message.
        while let Some(Ok(message)) = socket.next().await {
            if matches!(message, Message::Close(_)) {
                break;
            }
        }
    });
    let connection = Connection {
        url,
        ca_file: None,
        insecure: false,
    };
    let outcome = sim::agent::run(&device, &connection, &options("ccm-profile"))
        .await
        .expect("activation succeeds");
    rps.await.expect("RPS side checks");
    assert_eq!(outcome.exchanges, 3);
    assert_eq!(
        outcome.status.expect("status JSON")["Status"],
        "Client control mode."
    );
    assert_eq!(device.control_mode(), ControlMode::Ccm);
    assert_eq!(
        device.admin_ha1(),
        Some(wsman::digest::ha1(
            "admin",
            &device.digest_realm(),
            "Agent-P@ss1"
        ))
    );
}

#[tokio::test]
async fn rps_errors_end_the_job() {
    let device = Device::new(DeviceSpec::fresh(31, 2));
    let (listener, url) = listen().await;
    let rps = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.expect("accept");
        let mut socket = tokio_tungstenite::accept_async(tcp)
            .await
            .expect("handshake");
        let _first = receive(&mut socket).await;
        let text =
            "Device activation failed. nosuch does not match list of available AMT profiles.";
        socket
            .send(rps_message("error", "failed", text, Value::Null))
            .await
            .expect("send");
        let _ = socket.next().await;
    });
    let connection = Connection {
        url,
        ca_file: None,
        insecure: false,
    };
    match sim::agent::run(&device, &connection, &options("nosuch")).await {
        Err(AgentError::Rps { message, .. }) => assert!(message.contains("does not match")),
        other => panic!("expected the RPS error, got {other:?}"),
    }
    rps.await.expect("RPS side");
    assert_eq!(device.control_mode(), ControlMode::PreProvisioning);
}

#[tokio::test]
async fn unreachable_rps_is_a_connect_error() {
    let device = Device::new(DeviceSpec::fresh(31, 3));
    let (listener, url) = listen().await;
    drop(listener);
    let connection = Connection {
        url,
        ca_file: None,
        insecure: false,
    };
    assert!(matches!(
        sim::agent::run(&device, &connection, &options("p")).await,
        Err(AgentError::Connect(_))
    ));
}
