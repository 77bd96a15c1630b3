//! Bad input never takes MPS down: garbage, truncated and oversized APF frames, unknown GUIDs,
//! wrong CIRA passwords, silent TCP clients and unanswered channels each end only their own
//! connection or call, while a healthy device on the same MPS keeps answering. Bad REST JSON and
//! bad GUIDs get the reference's 400 bodies. No secret reaches a log line.

mod common;

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use common::device::{
    RawDevice, apf_str, hex, protocol_version, register, service_request, userauth_password,
};
use common::{Db, TestMps, http};
use serde_json::json;
use tokio::io::AsyncReadExt;

const HEALTHY: &str = "4c4c4544-004b-4210-8033-b6c04f504633";
const OTHER: &str = "d162b380-c330-11e3-82a5-40a8f0a2a536";
const CIRA_SECRET: &str = "Cira-Secret-9f1c";
const AMT_SECRET: &str = "Amt-Secret-77ab";

/// Every log line of this test binary, to check that secrets never appear.
fn log_buffer() -> Arc<Mutex<Vec<u8>>> {
    static BUF: OnceLock<Arc<Mutex<Vec<u8>>>> = OnceLock::new();
    BUF.get_or_init(|| {
        let buf = Arc::new(Mutex::new(Vec::new()));
        let writer_buf = buf.clone();
        let _ = tracing_subscriber::fmt()
            .with_env_filter("mps=trace,secrets=trace,sim=trace")
            .with_writer(move || BufWriter(writer_buf.clone()))
            .with_ansi(false)
            .try_init();
        buf
    })
    .clone()
}

struct BufWriter(Arc<Mutex<Vec<u8>>>);
impl Write for BufWriter {
    fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
        if let Ok(mut v) = self.0.lock() {
            v.extend_from_slice(b);
        }
        Ok(b.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// An MPS with one healthy connected device; returns it for keep-alive checks.
async fn mps_with_healthy_device() -> (TestMps, RawDevice, String) {
    let _ = log_buffer();
    let mps = TestMps::start(Db::Sqlite).await;
    register(&mps, HEALTHY, "healthy", CIRA_SECRET, AMT_SECRET).await;
    register(&mps, OTHER, "other", CIRA_SECRET, AMT_SECRET).await;
    let root = mps.mps.certs().unwrap().root_cert_pem.clone();
    let mut dev = RawDevice::connect(mps.cira, &root).await;
    dev.handshake(HEALTHY, "healthy", CIRA_SECRET).await;
    (mps, dev, root)
}

async fn still_healthy(dev: &mut RawDevice, cookie: u8) {
    let mut ka = hex("d0000000");
    ka.push(cookie);
    dev.send(&ka).await;
    let mut reply = hex("d1000000");
    reply.push(cookie);
    assert_eq!(
        dev.recv_exact(5).await,
        reply,
        "the healthy device keeps working"
    );
}

/// Sends `bytes` on a fresh connection and expects MPS to close it.
async fn closes(mps: &TestMps, root: &str, bytes: &[u8], what: &str) {
    let mut bad = RawDevice::connect(mps.cira, root).await;
    bad.send(bytes).await;
    assert!(
        bad.closed_within(5).await,
        "{what}: the connection must be closed"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_apf_frames_close_only_their_connection() {
    let (mut mps, mut dev, root) = mps_with_healthy_device().await;

    closes(
        &mps,
        &root,
        &[0xff, 0x00, 0x01, 0x02],
        "unknown message type",
    )
    .await;
    still_healthy(&mut dev, 1).await;

    // A SERVICE_REQUEST whose name claims 2049 bytes (limit 2048).
    closes(&mps, &root, &hex("05 00000801"), "oversized string").await;
    // CHANNEL_DATA of 1 MiB + 1 (limit 1 MiB), announced before any payload arrives.
    closes(
        &mps,
        &root,
        &hex("5e 00000004 00100001"),
        "oversized channel data",
    )
    .await;
    // An unknown GLOBAL_REQUEST with want-reply: REQUEST_FAILURE, then the stream is unreadable.
    let mut bad = RawDevice::connect(mps.cira, &root).await;
    let mut req = vec![0x50];
    req.extend(apf_str(b"evil-request"));
    req.push(1);
    req.extend(hex("0000000a"));
    bad.send(&req).await;
    assert_eq!(bad.recv_exact(1).await, hex("52"));
    assert!(bad.closed_within(5).await);
    still_healthy(&mut dev, 2).await;

    // Truncated frames: a half PROTOCOLVERSION and then the peer hangs up.
    let mut bad = RawDevice::connect(mps.cira, &root).await;
    bad.send(&protocol_version(OTHER)[..40]).await;
    drop(bad);
    // Random bytes after a valid start.
    let mut noise = protocol_version(OTHER);
    noise.extend((0..300u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 24) as u8));
    let mut bad = RawDevice::connect(mps.cira, &root).await;
    bad.send(&noise).await;
    assert!(
        bad.closed_within(5).await,
        "noise after PROTOCOLVERSION closes the connection"
    );
    still_healthy(&mut dev, 3).await;

    // An unknown GUID and a wrong CIRA password.
    closes(
        &mps,
        &root,
        &protocol_version("143e4567-e89b-12d3-a456-426614174000"),
        "unknown GUID",
    )
    .await;
    let mut first = protocol_version(OTHER);
    first.extend(service_request("auth@amt.intel.com"));
    first.extend(userauth_password("other", "not-the-password"));
    let mut bad = RawDevice::connect(mps.cira, &root).await;
    bad.send(&first).await;
    let _accept = bad.recv_exact(23).await;
    assert_eq!(
        bad.recv_exact(15).await,
        hex("330000000870617373776f72640000")
    );
    assert!(bad.closed_within(5).await);
    still_healthy(&mut dev, 4).await;

    // Channel traffic for channels that do not exist is skipped, not fatal.
    dev.send(&hex("5e 00000063 00000003 616263")).await;
    dev.send(&hex("5d 00000063 00001000")).await;
    dev.send(&hex("61 00000063")).await;
    still_healthy(&mut dev, 5).await;
    assert_eq!(mps.mps.connections().len(), 1);
    mps.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_tcp_client_neither_blocks_others_nor_stays_forever() {
    let mut mps = TestMps::start_with(Db::Sqlite, |c| c.tls_handshake_timeout_secs = 1).await;
    register(&mps, HEALTHY, "healthy", CIRA_SECRET, AMT_SECRET).await;
    let root = mps.mps.certs().unwrap().root_cert_pem.clone();
    // Connects and never starts TLS.
    let mut silent = tokio::net::TcpStream::connect(mps.cira).await.unwrap();
    // Meanwhile a real device completes its handshake.
    let mut dev = RawDevice::connect(mps.cira, &root).await;
    dev.handshake(HEALTHY, "healthy", CIRA_SECRET).await;
    let mut b = [0u8; 16];
    let r = tokio::time::timeout(Duration::from_secs(5), silent.read(&mut b))
        .await
        .expect("closed by the deadline");
    assert!(matches!(r, Ok(0) | Err(_)), "the silent client is dropped");
    still_healthy(&mut dev, 9).await;
    mps.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unanswered_wsman_call_times_out() {
    let _ = log_buffer();
    let mut mps = TestMps::start_with(Db::Sqlite, |c| c.wsman_timeout_secs = 1).await;
    register(&mps, HEALTHY, "healthy", CIRA_SECRET, AMT_SECRET).await;
    let root = mps.mps.certs().unwrap().root_cert_pem.clone();
    let mut dev = RawDevice::connect(mps.cira, &root).await;
    dev.handshake(HEALTHY, "healthy", CIRA_SECRET).await;
    let url = mps.url(&format!("/api/v1/amt/generalSettings/{HEALTHY}"));
    let call = tokio::spawn(async move { http("GET", &url, None).await });
    // Confirm the channel, read the request, never answer.
    let open = dev.recv_exact(55).await;
    assert_eq!(open[0], 0x5a);
    dev.send(&hex("5b 00000004 00000011 00008000 00000000"))
        .await;
    let started = std::time::Instant::now();
    let (status, body) = call.await.unwrap();
    assert_eq!(status, 504, "{body}");
    assert_eq!(body["error"], "Timeout Error");
    assert!(started.elapsed() < Duration::from_secs(3));
    mps.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_rest_input_gets_the_reference_400s() {
    let _ = log_buffer();
    let mut mps = TestMps::start(Db::Sqlite).await;
    // Malformed JSON.
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Full<bytes::Bytes>>();
    let req = hyper::Request::post(mps.url("/api/v1/devices"))
        .header("content-type", "application/json")
        .body(http_body_util::Full::new(bytes::Bytes::from_static(
            b"{\"guid\": ",
        )))
        .unwrap();
    let resp = client.request(req).await.unwrap();
    assert_eq!(resp.status(), 400);
    let body = http_body_util::BodyExt::collect(resp.into_body())
        .await
        .unwrap()
        .to_bytes();
    let v: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v, json!({"error": "Incorrect URI or Bad Request"}));

    // Bad GUIDs in paths and bodies.
    let (s, v) = http("GET", &mps.url("/api/v1/devices/not-a-guid"), None).await;
    assert_eq!(s, 400);
    assert_eq!(
        v["errors"][0],
        json!({"type":"field","value":"not-a-guid","msg":"Invalid value","path":"guid","location":"params"})
    );
    let (s, v) = http(
        "POST",
        &mps.url("/api/v1/devices"),
        Some(json!({"guid": 12})),
    )
    .await;
    assert_eq!(s, 400);
    assert_eq!(v["errors"][0]["path"], "guid");
    let (s, v) = http("GET", &mps.url("/api/v1/authorize/redirection/zzz"), None).await;
    assert_eq!(
        (s, v["errors"][0]["location"].clone()),
        (400, json!("params"))
    );
    // Wrong types and unknown routes.
    let (s, v) = http(
        "POST",
        &mps.url("/api/v1/amt/power/action/x"),
        Some(json!({"action": "off"})),
    )
    .await;
    assert_eq!(s, 400, "{v}");
    let (s, _) = http("PUT", &mps.url("/api/v1/authorize"), None).await;
    assert_eq!(s, 404);
    // CORS preflight: 204 with the allow headers, as Express's cors() answers.
    let req = hyper::Request::builder()
        .method("OPTIONS")
        .uri(mps.url("/api/v1/devices"))
        .header("origin", "https://ui.example")
        .header("access-control-request-method", "POST")
        .body(http_body_util::Full::new(bytes::Bytes::new()))
        .unwrap();
    let resp = client.request(req).await.unwrap();
    assert_eq!(resp.status(), 204);
    assert_eq!(resp.headers()["access-control-allow-origin"], "*");
    let (s, v) = http(
        "POST",
        &mps.url("/api/v1/authorize"),
        Some(json!({"username": "standalone", "password": "nope"})),
    )
    .await;
    assert_eq!(
        (s, v),
        (
            401,
            json!({"message": "Incorrect Username and/or Password!"})
        )
    );
    mps.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_reaches_the_logs_or_responses() {
    let logs = log_buffer();
    let (mut mps, mut dev, root) = mps_with_healthy_device().await;
    still_healthy(&mut dev, 7).await;
    // A failed authentication and a login attempt with a password.
    let mut bad = RawDevice::connect(mps.cira, &root).await;
    let mut first = protocol_version(OTHER);
    first.extend(service_request("auth@amt.intel.com"));
    first.extend(userauth_password("other", "Wrong-Secret-3d2e"));
    bad.send(&first).await;
    assert!(bad.closed_within(5).await);
    let (_, login) = http(
        "POST",
        &mps.url("/api/v1/authorize"),
        Some(json!({"username":"standalone","password":"Login-Secret-55"})),
    )
    .await;
    let (_, device) = http("GET", &mps.url(&format!("/api/v1/devices/{HEALTHY}")), None).await;
    let (_, list) = http("GET", &mps.url("/api/v1/devices"), None).await;
    mps.stop().await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let text = String::from_utf8_lossy(&logs.lock().unwrap()).into_owned();
    assert!(text.contains("CIRA"), "the log capture works");
    for secret in [
        CIRA_SECRET,
        AMT_SECRET,
        "Wrong-Secret-3d2e",
        "Login-Secret-55",
        common::ADMIN_PASSWORD,
        common::JWT_SECRET,
    ] {
        assert!(!text.contains(secret), "a secret reached the logs");
        for body in [&login, &device, &list] {
            assert!(
                !body.to_string().contains(secret),
                "a secret reached a response"
            );
        }
    }
}
