//! The redirection relay end to end: a real WebSocket client (the browser's side of spec §7.3)
//! through `/relay/webrelay.ashx`, MPS, the CIRA tunnel and the simulator's redirection service.
//! The browser authenticates with a *wrong* AMT password; the relay's interceptor replaces its
//! digest with one made from the secret store's password, and the SOL console's prompt appears.

mod common;
mod simulated;

use std::time::Duration;

use common::{Db, JWT_SECRET, TestMps, http};
use serde_json::json;
use simulated::*;

async fn redirection_token(mps: &TestMps, guid: &str) -> String {
    let (status, body) = http(
        "GET",
        &mps.url(&format!("/api/v1/authorize/redirection/{guid}")),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body["token"].as_str().expect("token").to_owned()
}

async fn redirect_status(mps: &TestMps, guid: &str) -> serde_json::Value {
    let (status, body) = http(
        "GET",
        &mps.url(&format!("/api/v1/devices/redirectstatus/{guid}")),
        None,
    )
    .await;
    assert_eq!(status, 200, "{body}");
    body
}

/// Registers the devices through REST, as RPS did, and connects them.
async fn connected_fleet(mps: &TestMps, seed: u64, n: u64) -> sim::fleet::Fleet {
    let config = fleet_config(mps.cira.port(), root_der(&mps.mps), seed, n);
    for d in config.build_devices() {
        let g = d.guid();
        let (status, _) = http(
            "POST",
            &mps.url("/api/v1/devices"),
            Some(
                json!({"guid": g, "hostname": d.hostname(), "mpsusername": CIRA_USER, "tags": []}),
            ),
        )
        .await;
        assert_eq!(status, 201);
        store_secrets(&mps.mps, &g).await;
    }
    let fleet = start_fleet(&config);
    assert!(fleet.wait_connected(n, Duration::from_secs(30)).await);
    fleet
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sol_through_the_relay_shows_the_console_prompt_with_the_password_injected() {
    let logs = capture_logs();
    let mut mps = TestMps::start(Db::Sqlite).await;
    let fleet = connected_fleet(&mps, 91, 1).await;
    let device = fleet.devices()[0].clone();
    let g = device.guid();
    let token = redirection_token(&mps, &g).await;

    let (ws, proto) = open_relay(&relay_url(&mps.rest, &g, "sol"), Some(&token))
        .await
        .expect("relay accepted");
    assert_eq!(
        proto.as_deref(),
        Some(token.as_str()),
        "the token is echoed"
    );
    let mut b = Browser::new(ws);
    assert_eq!(start_sol_session(&mut b).await, 0, "SOL session started");
    assert_eq!(
        browser_digest_login(&mut b, "not-the-amt-password").await,
        0,
        "authenticated with the password the relay injected"
    );
    let console = start_sol_console(&mut b).await;
    let console = String::from_utf8_lossy(&console);
    assert!(console.contains(&device.hostname()), "{console}");
    assert!(console.ends_with("login: "), "{console}");

    // Typing (sent as text frames) is echoed by the simulated console.
    type_keys(&mut b, 2, b"root").await;
    b.read_until(b"root").await;
    type_keys(&mut b, 3, b"\r").await;
    b.read_until(b"\r\nlogin: ").await;
    assert!(
        b.text_frames > 0 && b.binary_frames == 0,
        "AMT's bytes arrive as latin-1 text frames"
    );

    // The flag is up while the session lives, and a second SOL session is refused.
    assert_eq!(redirect_status(&mps, &g).await["isSOLConnected"], true);
    assert_eq!(redirect_status(&mps, &g).await["isKVMConnected"], false);
    let second = open_relay(&relay_url(&mps.rest, &g, "sol"), Some(&token)).await;
    assert_eq!(second.err(), Some(401), "one SOL session per device");

    // The browser closes: the flag drops and the device is free for a new session.
    b.ws.close(None).await.expect("close");
    eventually("SOL flag released", 10, async || {
        redirect_status(&mps, &g).await["isSOLConnected"] == false
    })
    .await;
    let no_secret = |bytes: &[u8]| {
        let text = String::from_utf8_lossy(bytes);
        !text.contains(AMT_PASSWORD) && !text.contains(CIRA_PASSWORD)
    };
    assert!(no_secret(&b.received));

    // Second session: the device ends it (EndRedirectionSession), the relay closes the WebSocket.
    let (ws, _) = open_relay(&relay_url(&mps.rest, &g, "sol"), Some(&token))
        .await
        .expect("SOL is free again");
    let mut b = Browser::new(ws);
    assert_eq!(start_sol_session(&mut b).await, 0);
    assert_eq!(browser_digest_login(&mut b, "").await, 0);
    start_sol_console(&mut b).await;
    b.send(&[0x12, 0, 0, 0]).await;
    assert!(
        b.closed_within(10).await,
        "the relay closes when AMT closes the channel"
    );
    eventually(
        "SOL flag released after the device closed",
        10,
        async || redirect_status(&mps, &g).await["isSOLConnected"] == false,
    )
    .await;
    assert!(no_secret(&b.received));

    fleet.shutdown().await;
    mps.stop().await;
    logs.assert_free_of(&[AMT_PASSWORD, CIRA_PASSWORD, JWT_SECRET, &token]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_relay_refuses_without_a_valid_token_for_a_connected_device() {
    let mut mps = TestMps::start(Db::Sqlite).await;
    let fleet = connected_fleet(&mps, 92, 2).await;
    let g = fleet.devices()[0].guid();
    let other = fleet.devices()[1].guid();
    let url = relay_url(&mps.rest, &g, "sol");

    assert_eq!(open_relay(&url, None).await.err(), Some(401), "no token");
    assert_eq!(
        open_relay(&url, Some("not.a.jwt")).await.err(),
        Some(401),
        "garbage token"
    );
    let for_other = redirection_token(&mps, &other).await;
    assert_eq!(
        open_relay(&url, Some(&for_other)).await.err(),
        Some(401),
        "a token for another device"
    );
    // A token signed with another secret, and an expired one.
    let claims = |exp: u64, secret: &str| {
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
            &json!({"tenantId": "", "iss": "9EmRJTbIiIb4bIeSsmgcWIjrR6HyETqc", "deviceId": g, "exp": exp}),
            &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()).unwrap(),
        )
        .unwrap()
    };
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    assert_eq!(
        open_relay(&url, Some(&claims(now + 300, "other-secret")))
            .await
            .err(),
        Some(401)
    );
    assert_eq!(
        open_relay(&url, Some(&claims(now - 10, JWT_SECRET)))
            .await
            .err(),
        Some(401),
        "expired"
    );
    // The same claims with the right secret and a future exp are accepted.
    let (ws, _) = open_relay(&url, Some(&claims(now + 300, JWT_SECRET)))
        .await
        .expect("a hand-made valid token");
    drop(ws);

    // Only tls=0 is relayed over CIRA.
    let token = redirection_token(&mps, &g).await;
    let tls1 = url.replace("tls=0", "tls=1");
    assert_eq!(open_relay(&tls1, Some(&token)).await.err(), Some(401));

    // The control for the injection: without p=2 no interceptor runs, and the browser's own
    // digest of a wrong password reaches AMT and is refused.
    let (ws, _) = open_relay(&url.replace("p=2", "p=0"), Some(&token))
        .await
        .expect("accepted");
    let mut b = Browser::new(ws);
    assert_eq!(start_sol_session(&mut b).await, 0);
    assert_eq!(
        browser_digest_login(&mut b, "not-the-amt-password").await,
        1,
        "AMT refuses the browser's wrong digest"
    );
    drop(b);

    // A registered device that is not connected here.
    fleet.shutdown().await;
    eventually("tunnels gone", 10, async || {
        mps.mps.connections().is_empty()
    })
    .await;
    assert_eq!(open_relay(&url, Some(&token)).await.err(), Some(401));

    // A plain GET on the relay path is not an upgrade: the reference's 404.
    let (status, _) = http("GET", &mps.url("/relay/webrelay.ashx"), None).await;
    assert_eq!(status, 404);
    mps.stop().await;
}
