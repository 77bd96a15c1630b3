//! The CIRA server against a raw APF device written from the spec's byte layouts (§1.4, §1.10):
//! handshake bytes, keep-alives, channels with window flow control, replacement of a tunnel by a
//! reconnect of the same GUID, REST disconnect, enrolment with global credentials.

mod common;

use std::time::Duration;

use common::device::{
    RawDevice, hex, protocol_version, register, service_request, userauth_password,
};
use common::{Db, TestMps, eventually, http};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const GUID: &str = "4c4c4544-004b-4210-8033-b6c04f504633";

async fn device_json(mps: &TestMps, guid: &str) -> serde_json::Value {
    let (status, body) = http("GET", &mps.url(&format!("/api/v1/devices/{guid}")), None).await;
    assert_eq!(status, 200);
    body
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_connects_keeps_alive_and_disconnects() {
    let mut mps = TestMps::start(Db::Sqlite).await;
    register(&mps, GUID, "ciraUser", "ciraP@ss1", "amtP@ss1").await;
    let root = mps.mps.certs().unwrap().root_cert_pem.clone();
    let mut dev = RawDevice::connect(mps.cira, &root).await;
    dev.handshake(GUID, "ciraUser", "ciraP@ss1").await;

    let d = device_json(&mps, GUID).await;
    assert_eq!(d["connectionStatus"], true);
    assert_eq!(d["mpsInstance"], "mps-test");
    assert!(
        d["lastConnected"]
            .as_str()
            .is_some_and(|s| s.ends_with('Z'))
    );
    let (_, stats) = http("GET", &mps.url("/api/v1/devices/stats"), None).await;
    assert_eq!(stats["connectedCount"], 1);

    // Keep-alive: the reply echoes the cookie; lastseen is written by the next batch.
    dev.send(&hex("d0000000ff")).await;
    assert_eq!(dev.recv_exact(5).await, hex("d1000000ff"));
    eventually("lastseen recorded", 5, async || {
        device_json(&mps, GUID).await["lastSeen"].is_string()
    })
    .await;

    // AMT-initiated channels are refused with reason 3 (unknown channel type).
    let mut open = vec![0x5a];
    open.extend(common::device::apf_str(b"direct-tcpip"));
    open.extend(hex("00000007 00001000 ffffffff"));
    open.extend(common::device::apf_str(b""));
    open.extend(hex("00004260"));
    open.extend(common::device::apf_str(b"1.2.3.4"));
    open.extend(hex("00000400"));
    dev.send(&open).await;
    assert_eq!(
        dev.recv_exact(17).await,
        hex("5c 00000007 00000003 00000000 00000000")
    );

    drop(dev);
    eventually("device marked disconnected", 5, async || {
        let d = device_json(&mps, GUID).await;
        d["connectionStatus"] == false
            && d["mpsInstance"].is_null()
            && d["lastDisconnected"].is_string()
    })
    .await;
    assert!(mps.mps.connections().is_empty());
    mps.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn channel_bytes_and_window_flow_control() {
    let mut mps = TestMps::start(Db::Sqlite).await;
    register(&mps, GUID, "u", "p", "a").await;
    let root = mps.mps.certs().unwrap().root_cert_pem.clone();
    let mut dev = RawDevice::connect(mps.cira, &root).await;
    dev.handshake(GUID, "u", "p").await;
    let conn = mps.mps.connections().get(GUID).expect("tunnel registered");

    let opener = tokio::spawn(async move { conn.open_channel(16992).await });
    // The spec's example CHANNEL_OPEN (channel 4, window 81920, port 16992, origin 1.2.3.4:1024).
    let expected = hex(
        "5a0000000f666f727761726465642d74637069700000000400014000ffffffff000000000000426000000007312e322e332e3400000400",
    );
    assert_eq!(dev.recv_exact(expected.len()).await, expected);
    // Confirm as AMT channel 9 with a 1000-byte window.
    dev.send(&hex("5b 00000004 00000009 000003e8 00000000"))
        .await;
    let mut stream = opener.await.unwrap().expect("channel opened");

    // 2500 bytes to send: only the 1000 credited go out until AMT adjusts the window.
    stream.write_all(&vec![b'x'; 2500]).await.unwrap();
    let first = dev.recv_exact(9 + 1000).await;
    assert_eq!(&first[..9], &hex("5e 00000009 000003e8")[..]);
    dev.send(&hex("5d 00000004 00000800")).await; // +2048
    let second = dev.recv_exact(9 + 1500).await;
    assert_eq!(&second[..9], &hex("5e 00000009 000005dc")[..]);

    // AMT sends 50,000 bytes; once MPS's reader consumed more than half the window (40,960),
    // MPS grants the consumed amount back.
    for _ in 0..5 {
        let mut m = hex("5e 00000004 00002710");
        m.extend(vec![b'y'; 10_000]);
        dev.send(&m).await;
    }
    let mut got = vec![0u8; 50_000];
    stream.read_exact(&mut got).await.unwrap();
    assert!(got.iter().all(|&b| b == b'y'));
    let adjust = dev.recv_exact(9).await;
    assert_eq!(&adjust[..5], &hex("5d00000009")[..]);
    let granted = u32::from_be_bytes([adjust[5], adjust[6], adjust[7], adjust[8]]);
    assert!(
        granted > 40_960 && granted <= 50_000,
        "window adjust of {granted}"
    );

    // MPS closes: CHANNEL_CLOSE carries AMT's id; AMT's close reply ends the channel.
    drop(stream);
    assert_eq!(dev.recv_exact(5).await, hex("6100000009"));
    dev.send(&hex("6100000004")).await;

    // A second channel gets the next id and the next originator port.
    let conn = mps.mps.connections().get(GUID).unwrap();
    let opener = tokio::spawn(async move { conn.open_channel(16994).await });
    let open2 = dev.recv_exact(expected.len()).await;
    assert_eq!(&open2[20..24], &hex("00000005")[..]);
    assert_eq!(&open2[36..40], &hex("00004262")[..]);
    assert_eq!(&open2[51..55], &hex("00000401")[..]);
    // AMT refuses it: the opener gets the reason.
    dev.send(&hex("5c 00000005 00000002 00000000 00000000"))
        .await;
    assert_eq!(
        opener.await.unwrap().err(),
        Some(mps::cira::ChannelError::Refused(2))
    );
    mps.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_password_gets_the_reference_failure_bytes() {
    let mut mps = TestMps::start(Db::Sqlite).await;
    register(&mps, GUID, "u", "right", "a").await;
    let root = mps.mps.certs().unwrap().root_cert_pem.clone();
    let mut dev = RawDevice::connect(mps.cira, &root).await;
    let mut first = protocol_version(GUID);
    first.extend(service_request("auth@amt.intel.com"));
    dev.send(&first).await;
    dev.recv_exact(23).await;
    dev.send(&userauth_password("u", "wrong")).await;
    assert_eq!(
        dev.recv_exact(15).await,
        hex("330000000870617373776f72640000")
    );
    assert!(
        dev.closed_within(5).await,
        "a failed authentication ends the connection"
    );
    // The right password with the wrong user name fails the same way.
    let mut dev = RawDevice::connect(mps.cira, &root).await;
    let mut first = protocol_version(GUID);
    first.extend(service_request("auth@amt.intel.com"));
    dev.send(&first).await;
    dev.recv_exact(23).await;
    dev.send(&userauth_password("other-user", "right")).await;
    assert_eq!(
        dev.recv_exact(15).await,
        hex("330000000870617373776f72640000")
    );
    assert!(mps.mps.connections().is_empty());
    assert_eq!(device_json(&mps, GUID).await["connectionStatus"], false);
    mps.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_guid_is_closed_after_protocol_version() {
    let mut mps = TestMps::start(Db::Sqlite).await;
    let root = mps.mps.certs().unwrap().root_cert_pem.clone();
    let mut dev = RawDevice::connect(mps.cira, &root).await;
    dev.send(&protocol_version("d162b380-c330-11e3-82a5-40a8f0a2a536"))
        .await;
    assert!(
        dev.closed_within(5).await,
        "an unregistered device must be disconnected"
    );
    mps.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn http_probe_on_the_cira_port_gets_the_reference_page() {
    let mut mps = TestMps::start(Db::Sqlite).await;
    let root = mps.mps.certs().unwrap().root_cert_pem.clone();
    let mut dev = RawDevice::connect(mps.cira, &root).await;
    dev.send(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").await;
    let mut all = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(5), dev.tls.read_to_end(&mut all)).await;
    let text = String::from_utf8_lossy(&all);
    assert!(
        text.starts_with("HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nConnection: close\r\n\r\n"),
        "{text}"
    );
    assert!(text.contains("Intel® AMT computers must connect here using CIRA."));
    mps.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reconnect_of_the_same_guid_replaces_the_old_tunnel() {
    let mut mps = TestMps::start(Db::Postgres).await;
    register(&mps, GUID, "u", "p", "a").await;
    let root = mps.mps.certs().unwrap().root_cert_pem.clone();
    let mut old = RawDevice::connect(mps.cira, &root).await;
    old.handshake(GUID, "u", "p").await;
    let old_id = mps.mps.connections().get(GUID).unwrap().id;
    let mut new = RawDevice::connect(mps.cira, &root).await;
    new.handshake(GUID, "u", "p").await;
    assert!(old.closed_within(5).await, "the replaced tunnel is closed");
    // The stale socket's close must not mark the device disconnected.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let conn = mps.mps.connections().get(GUID).unwrap();
    assert_ne!(conn.id, old_id);
    assert_eq!(mps.mps.connections().len(), 1);
    assert_eq!(device_json(&mps, GUID).await["connectionStatus"], true);
    // The new tunnel works.
    new.send(&hex("d000000001")).await;
    assert_eq!(new.recv_exact(5).await, hex("d100000001"));
    mps.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rest_disconnect_drops_the_tunnel_and_fails_pending_opens() {
    let mut mps = TestMps::start(Db::Sqlite).await;
    register(&mps, GUID, "u", "p", "a").await;
    let root = mps.mps.certs().unwrap().root_cert_pem.clone();
    let mut dev = RawDevice::connect(mps.cira, &root).await;
    dev.handshake(GUID, "u", "p").await;
    // An open AMT never confirms: it must fail the moment the tunnel goes.
    let conn = mps.mps.connections().get(GUID).unwrap();
    let pending = tokio::spawn(async move { conn.open_channel(16992).await });
    tokio::time::sleep(Duration::from_millis(100)).await;
    let (status, body) = http(
        "DELETE",
        &mps.url(&format!("/api/v1/devices/disconnect/{GUID}")),
        None,
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(
        body["description"],
        format!("Device CIRA connection disconnected : {GUID}")
    );
    let r = tokio::time::timeout(Duration::from_secs(2), pending)
        .await
        .expect("pending open failed promptly");
    assert_eq!(
        r.unwrap().err(),
        Some(mps::cira::ChannelError::TunnelClosed)
    );
    assert!(dev.closed_within(5).await);
    eventually("disconnected in the registry", 5, async || {
        device_json(&mps, GUID).await["connectionStatus"] == false
    })
    .await;
    let (status, _) = http(
        "GET",
        &mps.url(&format!("/api/v1/devices/redirectstatus/{GUID}")),
        None,
    )
    .await;
    assert_eq!(status, 404);
    mps.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn idle_tunnels_time_out() {
    let mut mps = TestMps::start_with(Db::Sqlite, |c| c.cira_idle_timeout_secs = 1).await;
    register(&mps, GUID, "u", "p", "a").await;
    let root = mps.mps.certs().unwrap().root_cert_pem.clone();
    let mut dev = RawDevice::connect(mps.cira, &root).await;
    dev.handshake(GUID, "u", "p").await;
    assert!(dev.closed_within(4).await, "idle tunnel closed");
    eventually("disconnected in the registry", 5, async || {
        device_json(&mps, GUID).await["connectionStatus"] == false
    })
    .await;
    mps.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn global_cira_credentials_enrol_a_device_on_first_connect() {
    let mut mps = TestMps::start_with(Db::Sqlite, |c| {
        c.global_cira_credentials = Some(mps::GlobalCiraCredentials {
            username: "fleet".into(),
            password: "fleet-pw".into(),
            amt_password: Some("fleet-amt-pw".into()),
        })
    })
    .await;
    let root = mps.mps.certs().unwrap().root_cert_pem.clone();
    let guid = "d162b380-c330-11e3-82a5-40a8f0a2a536";
    let mut dev = RawDevice::connect(mps.cira, &root).await;
    dev.handshake(guid, "fleet", "fleet-pw").await;
    let d = device_json(&mps, guid).await;
    assert_eq!(d["connectionStatus"], true);
    assert_eq!(d["mpsusername"], "fleet");
    // It is managed with the global AMT password, stored as its own.
    let stored = mps.mps.device_secrets(guid).await.unwrap().unwrap();
    assert_eq!(stored.amt_password.as_deref(), Some("fleet-amt-pw"));
    assert_eq!(
        mps.mps
            .connections()
            .get(guid)
            .unwrap()
            .amt_password()
            .as_deref(),
        Some("fleet-amt-pw")
    );
    // A wrong global password enrols nothing.
    let other = "143e4567-e89b-12d3-a456-426614174000";
    let mut bad = RawDevice::connect(mps.cira, &root).await;
    let mut first = protocol_version(other);
    first.extend(service_request("auth@amt.intel.com"));
    bad.send(&first).await;
    bad.recv_exact(23).await;
    bad.send(&userauth_password("fleet", "nope")).await;
    assert_eq!(
        bad.recv_exact(15).await,
        hex("330000000870617373776f72640000")
    );
    let (status, _) = http("GET", &mps.url(&format!("/api/v1/devices/{other}")), None).await;
    assert_eq!(status, 404);
    mps.stop().await;
}

/// The CIRA listener's accept queue holds a fleet reconnecting at once (1,024 by default, as
/// configured otherwise), read back from the kernel with `ss`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_cira_accept_queue_is_as_long_as_configured() {
    let backlog = |port: u16| {
        let out = std::process::Command::new("ss")
            .args(["-Hltn", &format!("sport = :{port}")])
            .output()
            .expect("ss (iproute2) runs");
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        // State, Recv-Q, Send-Q (the backlog of a listener), local, peer.
        let columns: Vec<&str> = text.split_whitespace().collect();
        assert_eq!(columns.first(), Some(&"LISTEN"), "{text}");
        columns[2].parse::<u32>().expect("a backlog")
    };
    let mut mps = TestMps::start(Db::Sqlite).await;
    assert_eq!(backlog(mps.cira.port()), 1_024);
    mps.stop().await;
    let mut mps = TestMps::start_with(Db::Sqlite, |c| c.cira_listen_backlog = 2_000).await;
    assert_eq!(backlog(mps.cira.port()), 2_000);
    mps.stop().await;
}
