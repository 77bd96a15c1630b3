//! The CIRA client end to end against a small APF server over real TLS on loopback.

mod support;

use apf::consts::AMT_FORWARDED_PORTS;
use apf::{AuthMethod, DisconnectReason, GlobalRequestKind, Message, TriggerReason};
use sim::cira::{BackoffConfig, ChannelServices, ChannelStream};
use sim::device::{CiraSettings, Device};
use sim::fleet::{Fleet, FleetConfig};
use std::sync::Arc;
use std::time::Duration;
use support::apf_server::{ApfServer, ServerConfig, TestPki};
use support::redir_client::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const ADMIN_PASSWORD: &str = "Adm1n!Pass";

fn fleet_config(
    server: &ApfServer,
    pki: &TestPki,
    cfg: &ServerConfig,
    devices: u64,
) -> FleetConfig {
    let cira = CiraSettings {
        server: "localhost".into(),
        port: server.addr.port(),
        username: cfg.username.clone(),
        password: cfg.password.clone(),
        root_cert_der: Some(pki.ca_der.clone()),
    };
    let mut config = FleetConfig::provisioned(9, devices, cira, ADMIN_PASSWORD);
    config.backoff = BackoffConfig {
        base: Duration::from_millis(100),
        max: Duration::from_millis(400),
    };
    config
}

#[tokio::test]
async fn handshake_follows_real_amt_order_and_keepalives_follow_the_options() {
    let pki = TestPki::new();
    // A 1-second keep-alive interval so the test sees the device's KEEPALIVE_REQUEST quickly.
    let cfg = ServerConfig {
        keepalive_options: Some((1, 0)),
        ..Default::default()
    };
    let server = ApfServer::start(&pki, cfg.clone()).await;
    let fleet = Fleet::start(&fleet_config(&server, &pki, &cfg, 1));
    assert!(
        fleet.wait_connected(1, Duration::from_secs(10)).await,
        "device connected"
    );
    let device = fleet.devices()[0].clone();
    let conn = server.conn(0).await;
    tokio::time::sleep(Duration::from_millis(2500)).await;

    let got = conn.received();
    // 1. PROTOCOLVERSION 1.0, periodic trigger, the device's UUID in wire order.
    let Message::ProtocolVersion(v) = &got[0] else {
        panic!("first message: {:?}", got[0])
    };
    assert_eq!(
        (v.major, v.minor, v.trigger_reason),
        (1, 0, TriggerReason::PERIODIC)
    );
    assert_eq!(v.uuid, device.uuid_bytes());
    assert_eq!(v.guid(), device.guid());
    // 2. auth service, 3. USERAUTH password, 4. pfwd service.
    assert_eq!(
        got[1],
        Message::ServiceRequest {
            service: "auth@amt.intel.com".into()
        }
    );
    let Message::UserauthRequest(u) = &got[2] else {
        panic!("third message: {:?}", got[2])
    };
    assert_eq!(u.username, cfg.username.as_str());
    assert_eq!(u.service, "pfwd@amt.intel.com");
    assert!(matches!(&u.method, AuthMethod::Password(p) if p.expose() == cfg.password.as_bytes()));
    assert_eq!(
        got[3],
        Message::ServiceRequest {
            service: "pfwd@amt.intel.com".into()
        }
    );
    // 5. tcpip-forward for every AMT port, in real AMT's order, with the host name as address.
    for (i, port) in AMT_FORWARDED_PORTS.iter().enumerate() {
        let Message::GlobalRequest(g) = &got[4 + i] else {
            panic!("message {}: {:?}", 4 + i, got[4 + i])
        };
        assert!(g.want_reply);
        assert_eq!(
            g.request,
            GlobalRequestKind::TcpipForward {
                address: device.hostname().into(),
                port: (*port).into()
            }
        );
    }
    // 6. The KEEPALIVE_OPTIONS_REQUEST sent after 5900 is answered, then keep-alives follow.
    assert_eq!(
        got[11],
        Message::KeepaliveOptionsReply {
            interval_seconds: 1,
            timeout_seconds: 0
        }
    );
    let keepalives = got[12..]
        .iter()
        .filter(|m| matches!(m, Message::KeepaliveRequest { .. }))
        .count();
    assert!(
        keepalives >= 1,
        "keep-alive requests after the options: {:?}",
        &got[12..]
    );

    // Shutdown says goodbye with DISCONNECT (by application).
    let summary = fleet.shutdown().await;
    assert_eq!((summary.connected, summary.ever_connected), (1, 1));
    tokio::time::sleep(Duration::from_millis(200)).await;
    let last = conn.received().last().cloned();
    assert!(
        matches!(last, Some(Message::Disconnect(ref d)) if d.reason == DisconnectReason::BY_APPLICATION),
        "last message {last:?}"
    );
}

#[tokio::test]
async fn redirection_channel_to_16994_runs_sol_over_cira() {
    let pki = TestPki::new();
    let cfg = ServerConfig::default();
    let server = ApfServer::start(&pki, cfg.clone()).await;
    let fleet = Fleet::start(&fleet_config(&server, &pki, &cfg, 1));
    assert!(fleet.wait_connected(1, Duration::from_secs(10)).await);
    let conn = server.conn(0).await;

    // A port the device does not serve is refused with CONNECT_FAILED.
    assert_eq!(
        conn.open_channel(5900, 81920).await.err(),
        Some(support::apf_server::CONNECT_FAILED)
    );

    let mut ch = conn
        .open_channel(16994, 81920)
        .await
        .expect("channel to 16994");
    assert_eq!(start_sol(&mut ch).await, 0);
    assert_eq!(digest_login(&mut ch, "admin", ADMIN_PASSWORD).await, 0);
    assert_eq!(start_sol_redirection(&mut ch).await, 0);
    read_console_until(&mut ch, b"login: ").await;
    type_keys(&mut ch, 2, b"admin\r").await;
    assert_eq!(
        read_console_until(&mut ch, b"\r\nlogin: ").await,
        b"admin\r\nlogin: "
    );
    // Closing from the server side: the device answers CHANNEL_CLOSE.
    drop(ch);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert!(conn.received().iter().any(|m| matches!(
        m,
        Message::ChannelClose {
            recipient_channel: 5
        }
    )));
    fleet.shutdown().await;
}

/// Echoes every byte back on the channel (a stand-in service to exercise flow control).
struct Echo;
impl ChannelServices for Echo {
    fn accepts(&self, port: u32) -> bool {
        port == 16994
    }
    fn spawn(&self, _port: u32, _device: Device, stream: ChannelStream) {
        tokio::spawn(async move {
            let (mut r, mut w) = tokio::io::split(stream);
            let _ = tokio::io::copy(&mut r, &mut w).await;
            let _ = w.shutdown().await;
        });
    }
}

#[tokio::test]
async fn flow_control_carries_a_payload_much_larger_than_both_windows() {
    let pki = TestPki::new();
    let cfg = ServerConfig::default();
    let server = ApfServer::start(&pki, cfg.clone()).await;
    let config = fleet_config(&server, &pki, &cfg, 1);
    let fleet = Fleet::start_with(&config, config.build_devices(), Arc::new(Echo));
    assert!(fleet.wait_connected(1, Duration::from_secs(10)).await);
    let conn = server.conn(0).await;
    // The server grants only 4 KiB; the device grants 32 KiB; 1 MiB goes through both ways.
    let ch = conn.open_channel(16994, 4096).await.expect("channel");
    let (mut r, mut w) = tokio::io::split(ch);
    let payload: Vec<u8> = (0..1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    let expected = payload.clone();
    let writer = tokio::spawn(async move {
        w.write_all(&payload).await.unwrap();
        w
    });
    let mut echoed = vec![0u8; expected.len()];
    tokio::time::timeout(Duration::from_secs(20), r.read_exact(&mut echoed))
        .await
        .expect("echo in time")
        .unwrap();
    assert!(echoed == expected, "echoed bytes match");
    let _w = writer.await.unwrap();
    // Neither side ever overran the other's window (the server errors out if the device did);
    // the device returned credit with WINDOW_ADJUST as the echo service consumed.
    let adjusts = conn
        .received()
        .iter()
        .filter(|m| matches!(m, Message::ChannelWindowAdjust { .. }))
        .count();
    assert!(
        adjusts >= 1024 * 1024 / (32 * 1024),
        "window adjusts from the device: {adjusts}"
    );
    assert_eq!(fleet.stats().connected(), 1, "the tunnel survived");
    fleet.shutdown().await;
}

#[tokio::test]
async fn server_going_away_leads_to_reconnect_with_backoff() {
    let pki = TestPki::new();
    let cfg = ServerConfig::default();
    let server = ApfServer::start(&pki, cfg.clone()).await;
    let fleet = Fleet::start(&fleet_config(&server, &pki, &cfg, 1));
    assert!(fleet.wait_connected(1, Duration::from_secs(10)).await);
    let first = server.conn(0).await;
    let killed = std::time::Instant::now();
    first.kill();
    // The device notices, waits its backoff (>= 50 ms with a 100 ms base) and reconnects.
    let second = server.conn(1).await;
    let waited = killed.elapsed();
    assert!(
        waited >= Duration::from_millis(50),
        "reconnected after {waited:?}"
    );
    assert_eq!(*second.guid.lock().unwrap(), *first.guid.lock().unwrap());
    assert!(fleet.wait_connected(1, Duration::from_secs(10)).await);
    let summary = fleet.shutdown().await;
    assert_eq!(summary.tunnels_established, 2);
    assert_eq!(summary.disconnects, 1);
    assert_eq!(summary.connected, 1);
}

#[tokio::test]
async fn wrong_password_is_reported_as_authentication_failed() {
    let pki = TestPki::new();
    let cfg = ServerConfig::default();
    let server = ApfServer::start(&pki, cfg.clone()).await;
    let wrong = ServerConfig {
        password: "wrong-password".into(),
        ..cfg.clone()
    };
    let fleet = Fleet::start(&fleet_config(&server, &pki, &wrong, 2));
    tokio::time::sleep(Duration::from_millis(800)).await;
    let summary = fleet.shutdown().await;
    assert_eq!(summary.connected, 0);
    assert_eq!(
        summary.not_connected_by_reason.get("authentication failed"),
        Some(&2),
        "{summary}"
    );
    let attempts = summary.failed_attempts_by_reason["authentication failed"];
    assert!(attempts >= 2, "devices retried with backoff: {attempts}");
    assert!(attempts <= 2 * 6, "backoff limits the retries: {attempts}");
    assert!(
        server
            .counters
            .auth_failures
            .load(std::sync::atomic::Ordering::Relaxed)
            >= 2
    );
}

#[tokio::test]
async fn untrusted_server_certificate_fails_tls() {
    let pki = TestPki::new();
    let other = TestPki::new();
    let cfg = ServerConfig::default();
    let server = ApfServer::start(&pki, cfg.clone()).await;
    let fleet = Fleet::start(&fleet_config(&server, &other, &cfg, 1));
    tokio::time::sleep(Duration::from_millis(500)).await;
    let summary = fleet.shutdown().await;
    assert_eq!(
        summary.not_connected_by_reason.get("TLS handshake failed"),
        Some(&1),
        "{summary}"
    );
}

#[tokio::test]
async fn many_devices_connect_with_distinct_guids() {
    let pki = TestPki::new();
    let cfg = ServerConfig::default();
    let server = ApfServer::start(&pki, cfg.clone()).await;
    let mut config = fleet_config(&server, &pki, &cfg, 50);
    config.concurrency = 8;
    let fleet = Fleet::start(&config);
    assert!(
        fleet.wait_connected(50, Duration::from_secs(30)).await,
        "all 50 connected"
    );
    let mut guids: Vec<String> = Vec::new();
    for i in 0..50 {
        guids.push(
            server
                .conn(i)
                .await
                .guid
                .lock()
                .unwrap()
                .clone()
                .expect("guid"),
        );
    }
    guids.sort();
    guids.dedup();
    assert_eq!(guids.len(), 50);
    let summary = fleet.shutdown().await;
    assert_eq!(summary.connected, 50);
    assert!(summary.connects_per_second > 0.0);
}

/// Reads an HTTP response from a channel until its end (a `</html>` page or the last chunk).
async fn read_http_response(ch: &mut ChannelStream) -> String {
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    loop {
        let text = String::from_utf8_lossy(&got).to_string();
        if text.contains("\r\n0\r\n\r\n") || text.contains("</html>") {
            return text;
        }
        let n = tokio::time::timeout(Duration::from_secs(10), ch.read(&mut buf))
            .await
            .expect("response in time")
            .unwrap();
        assert!(n > 0, "channel closed before the response ended: {text}");
        got.extend_from_slice(&buf[..n]);
    }
}

#[tokio::test]
async fn wsman_channel_to_16992_carries_http_with_digest() {
    use md5::{Digest, Md5};
    let pki = TestPki::new();
    let cfg = ServerConfig::default();
    let server = ApfServer::start(&pki, cfg.clone()).await;
    let fleet = Fleet::start(&fleet_config(&server, &pki, &cfg, 1));
    assert!(fleet.wait_connected(1, Duration::from_secs(10)).await);
    let device = fleet.devices()[0].clone();
    let conn = server.conn(0).await;
    let guid = device.guid();
    let body = "<?xml version=\"1.0\" encoding=\"utf-8\"?><Envelope xmlns=\"http://www.w3.org/2003/05/soap-envelope\" \
         xmlns:a=\"http://schemas.xmlsoap.org/ws/2004/08/addressing\" xmlns:w=\"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd\">\
         <Header><a:Action>http://schemas.xmlsoap.org/ws/2004/09/transfer/Get</a:Action><a:To>/wsman</a:To>\
         <w:ResourceURI>http://intel.com/wbem/wscim/1/amt-schema/1/AMT_GeneralSettings</w:ResourceURI>\
         <a:MessageID>0</a:MessageID><a:ReplyTo><a:Address>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address></a:ReplyTo>\
         <w:OperationTimeout>PT60S</w:OperationTimeout></Header><Body></Body></Envelope>";

    // As MPS does (spec/mps.md §2.2-2.3): first request without credentials gets the challenge.
    let mut ch = conn
        .open_channel(16992, 81920)
        .await
        .expect("channel to 16992");
    let request = format!(
        "POST /wsman HTTP/1.1\r\nHost: {guid}:16992\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    ch.write_all(request.as_bytes()).await.unwrap();
    let challenge = read_http_response(&mut ch).await;
    assert!(challenge.starts_with("HTTP/1.1 401"), "{challenge}");
    let realm = device.digest_realm();
    assert!(
        challenge.contains(&format!("realm=\"{realm}\"")),
        "{challenge}"
    );
    let nonce = challenge
        .split("nonce=\"")
        .nth(1)
        .and_then(|s| s.split('"').next())
        .expect("nonce")
        .to_string();
    drop(ch);

    // Then a new channel with the digest answer.
    let md5 = |s: String| hex::encode(Md5::digest(s.as_bytes()));
    let ha1 = md5(format!("admin:{realm}:{ADMIN_PASSWORD}"));
    let ha2 = md5("POST:/wsman".to_string());
    let (nc, cnonce) = ("00000001", "c1e2d3");
    let response = md5(format!("{ha1}:{nonce}:{nc}:{cnonce}:auth:{ha2}"));
    let auth = format!(
        "Digest username=\"admin\",realm=\"{realm}\",nonce=\"{nonce}\",uri=\"/wsman\",qop=\"auth\",response=\"{response}\",nc=\"{nc}\",cnonce=\"{cnonce}\""
    );
    let mut ch = conn
        .open_channel(16992, 81920)
        .await
        .expect("second channel to 16992");
    let request = format!(
        "POST /wsman HTTP/1.1\r\nAuthorization: {auth}\r\nHost: {guid}:16992\r\nContent-Length: {}\r\n\r\n{body}",
        body.len()
    );
    ch.write_all(request.as_bytes()).await.unwrap();
    let answer = read_http_response(&mut ch).await;
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    assert!(answer.contains("AMT_GeneralSettings"), "{answer}");
    assert!(answer.contains(&device.hostname()), "{answer}");
    fleet.shutdown().await;
}
