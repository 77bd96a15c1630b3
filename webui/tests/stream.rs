//! The web UI server against the real embedded broker: its files and runtime configuration, the
//! event stream's token checks (Kong's bodies), and events published by MPS and RPS (as the ACL's
//! `mps` and `rps` users) reaching a browser's stream — retained presence in the first snapshot,
//! live connects, activation progress, service status — with the web UI's own status on the bus.

mod support;

use std::net::SocketAddr;
use std::time::Duration;

use broker::Bus;
use prost::Message as _;
use schemas::{DeviceEvent, Service, Topic, proto};
use support::{Broker, JWT_SECRET, Sse, eventually, http, json, login_token, now, sign};
use tokio_util::sync::CancellationToken;
use webui::{RunningWebui, WebuiConfig};

const GUID: &str = "8c4d1a9e-3f0b-4e7a-9a55-0c2f1b6d7e01";
const OTHER: &str = "8c4d1a9e-3f0b-4e7a-9a55-0c2f1b6d7e02";

struct Ui {
    running: RunningWebui,
    bus: Bus,
    stop: CancellationToken,
}

impl Ui {
    fn url(&self, path: &str) -> String {
        format!("{}{path}", self.running.url())
    }

    fn stream_url(&self) -> String {
        self.url(&format!(
            "/events/stream?token={}",
            login_token(JWT_SECRET, now() + 600)
        ))
    }

    async fn stop(self) {
        self.stop.cancel();
        tokio::time::timeout(Duration::from_secs(10), self.running.wait())
            .await
            .expect("the web UI stops even with streams open")
            .expect("clean stop");
        self.bus.shutdown(Duration::from_secs(2)).await;
    }
}

async fn start_ui(broker: &Broker, tweak: impl FnOnce(&mut WebuiConfig)) -> Ui {
    let mut bus_config = broker.config("webui", "webui-test");
    bus_config.last_will = Some(
        webui::last_will(
            &bus_config.topics,
            "webui-test",
            "/openamt/webui/webui-test",
        )
        .unwrap(),
    );
    let bus = broker.client_with(bus_config).await;
    let mut config = WebuiConfig {
        listen: SocketAddr::from(([127, 0, 0, 1], 0)),
        jwt_secret: JWT_SECRET.into(),
        instance: "webui-test".into(),
        ..Default::default()
    };
    tweak(&mut config);
    let stop = CancellationToken::new();
    let running = webui::start(config, bus.clone(), stop.clone())
        .await
        .expect("the web UI starts");
    Ui { running, bus, stop }
}

fn presence(guid: &str, connected: bool) -> proto::DevicePresence {
    proto::DevicePresence {
        guid: guid.into(),
        connected,
        mps_instance: if connected {
            "mps-a".into()
        } else {
            String::new()
        },
        since: Some(schemas::now()),
        ..Default::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serves_the_app_its_configuration_and_client_side_routes() {
    support::init();
    let broker = Broker::start().await;
    let ui = start_ui(&broker, |c| c.mps_server = "http://127.0.0.1:3000".into()).await;

    let (status, headers, body) = http("GET", &ui.url("/"), &[]).await;
    assert_eq!(status, 200);
    let page = String::from_utf8_lossy(&body);
    assert!(
        page.contains("<script type=\"module\" src=\"/app/main.js\">"),
        "{page}"
    );
    assert!(page.contains("<script src=\"/env.js\">"));
    let csp = headers["content-security-policy"].to_str().unwrap();
    assert!(csp.contains("script-src 'self'"), "{csp}");
    assert!(
        csp.contains("connect-src 'self' http://127.0.0.1:3000 ws://127.0.0.1:3000;"),
        "{csp}"
    );
    assert_eq!(headers["x-content-type-options"], "nosniff");

    // A deep link into the app is the app (200, as v3's nginx answers), not a 404.
    for path in [
        "/devices/4c4c4544-004b-4210-8033-b6c04f504633",
        "/profiles/new",
        "/dashboard",
    ] {
        let (status, headers, deep) = http("GET", &ui.url(path), &[]).await;
        assert_eq!(status, 200, "{path}");
        assert!(
            headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        assert_eq!(deep, body, "{path}");
    }
    // Missing files are 404s, not the page.
    for path in ["/app/nope.js", "/favicon.ico", "/events/unknown"] {
        assert_eq!(http("GET", &ui.url(path), &[]).await.0, 404, "{path}");
    }
    assert_eq!(http("POST", &ui.url("/"), &[]).await.0, 405);

    // Modules come with a content type browsers accept for modules, and revalidate by ETag.
    let (status, headers, _) = http("GET", &ui.url("/app/main.js"), &[]).await;
    assert_eq!(status, 200);
    assert_eq!(headers["content-type"], "text/javascript; charset=utf-8");
    let etag = headers["etag"].to_str().unwrap().to_owned();
    let (status, _, body) = http("GET", &ui.url("/app/main.js"), &[("if-none-match", &etag)]).await;
    assert_eq!((status, body.len()), (304, 0));

    let (status, _, env) = http("GET", &ui.url("/env.js"), &[]).await;
    assert_eq!(status, 200);
    let env = String::from_utf8_lossy(&env);
    assert!(
        env.contains(r#""mpsServer":"http://127.0.0.1:3000""#),
        "{env}"
    );
    assert!(env.contains(r#""rpsServer":"/rps""#), "{env}");
    assert!(!env.contains(JWT_SECRET));

    let (status, _, health) = http("GET", &ui.url("/healthz"), &[]).await;
    assert_eq!(status, 200);
    assert_eq!(json(&health)["bus"], "connected");
    ui.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_stream_and_the_session_check_refuse_tokens_as_kong_does() {
    support::init();
    let broker = Broker::start().await;
    let ui = start_ui(&broker, |_| {}).await;
    let cases = [
        (None, serde_json::json!({"message": "Unauthorized"})),
        (
            Some(login_token(JWT_SECRET, now() - 1)),
            serde_json::json!({"exp": "token expired"}),
        ),
        (
            Some(login_token("another-secret", now() + 60)),
            serde_json::json!({"message": "Invalid signature"}),
        ),
        (
            Some(sign(
                JWT_SECRET,
                serde_json::json!({"iss": "nobody", "exp": now() + 60}),
            )),
            serde_json::json!({"message": "No credentials found for given 'iss'"}),
        ),
    ];
    for (token, body) in cases {
        let query = token
            .as_ref()
            .map(|t| format!("?token={t}"))
            .unwrap_or_default();
        let (status, _, got) = http("GET", &ui.url(&format!("/events/stream{query}")), &[]).await;
        assert_eq!(
            (status, json(&got)),
            (401, body.clone()),
            "stream, {token:?}"
        );
        let header = token.as_ref().map(|t| format!("Bearer {t}"));
        let headers: Vec<(&str, &str)> = header
            .iter()
            .map(|h| ("authorization", h.as_str()))
            .collect();
        let (status, _, got) = http("GET", &ui.url("/events/session"), &headers).await;
        assert_eq!((status, json(&got)), (401, body), "session, {token:?}");
    }
    let exp = now() + 600;
    let good = format!("Bearer {}", login_token(JWT_SECRET, exp));
    let (status, _, got) = http(
        "GET",
        &ui.url("/events/session"),
        &[("authorization", &good)],
    )
    .await;
    assert_eq!((status, json(&got)["exp"].as_u64()), (200, Some(exp)));
    ui.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bus_events_reach_the_browser_stream() {
    support::init();
    let broker = Broker::start().await;
    let mps = broker.client("mps", "mps-test").await;
    let rps = broker.client("rps", "rps-test").await;
    let dashboard = broker.client("dashboard", "dashboard-test").await;
    let topics = mps.topics().clone();

    // Before the web UI starts: a retained presence and an MPS status, which the UI must still show.
    mps.publish(
        &Topic::Presence(GUID.parse().unwrap()),
        &presence(GUID, true),
    )
    .await
    .unwrap();
    let status_topic = topics.status(Service::Mps, "mps-a").unwrap();
    mps.publish(
        &status_topic,
        &proto::ServiceStatus {
            service: "mps".into(),
            instance: "mps-a".into(),
            state: proto::ServiceState::Online as i32,
            address: "127.0.0.1:3000".into(),
            ..Default::default()
        },
    )
    .await
    .unwrap();
    mps.flush(Duration::from_secs(5)).await.unwrap();

    let mut webui_status = dashboard
        .subscribe(&topics.all_status(Service::Webui))
        .await
        .unwrap();
    let ui = start_ui(&broker, |_| {}).await;

    // The web UI says it is online, on its retained status topic.
    let (_, status) = tokio::time::timeout(
        support::WAIT,
        webui_status.next_event::<proto::ServiceStatus>(),
    )
    .await
    .expect("web UI status")
    .expect("a status");
    assert_eq!(
        (status.service.as_str(), status.state()),
        ("webui", proto::ServiceState::Online)
    );
    assert_eq!(status.address, ui.running.addr.to_string());

    // The retained state reached the hub: a browser opening now gets it in the first event.
    eventually("the hub saw the retained presence", async || {
        let mut s = Sse::open(&ui.stream_url()).await;
        let first = s.next().await.expect("a first event");
        first.event == "snapshot" && first.json()["presence"][GUID]["connected"] == true
    })
    .await;
    let mut stream = Sse::open(&ui.stream_url()).await;
    let snapshot = stream.next().await.unwrap();
    assert_eq!(snapshot.event, "snapshot");
    let snap = snapshot.json();
    assert_eq!(snap["presence"][GUID]["mpsInstance"], "mps-a");
    let services = snap["services"].as_array().unwrap();
    assert!(
        services
            .iter()
            .any(|s| s["service"] == "mps" && s["data"]["state"] == "SERVICE_STATE_ONLINE"),
        "{snap}"
    );

    // A device connects: the browser hears it with the event's id and data.
    let connected = proto::DeviceConnected {
        guid: OTHER.into(),
        mps_instance: "mps-a".into(),
        hostname: "desk-17".into(),
        connected_at: Some(schemas::now()),
        ..Default::default()
    };
    let id = mps
        .publish(
            &Topic::DeviceEvent(OTHER.parse().unwrap(), DeviceEvent::Connected),
            &connected,
        )
        .await
        .unwrap();
    let event = stream
        .until("the connected event", |e| e.json()["kind"] == "connected")
        .await;
    assert_eq!(event.id.as_deref(), Some(id.as_str()));
    let data = event.json();
    assert_eq!(data["guid"], OTHER);
    assert_eq!(data["data"]["hostname"], "desk-17");
    assert_eq!(data["source"], "/openamt/test/mps-test");

    // Activation progress from RPS, with readable enums.
    for (phase, reason) in [
        (proto::ActivationPhase::Started, ""),
        (proto::ActivationPhase::Failed, "the AMT password is wrong"),
    ] {
        let event = proto::ActivationEvent {
            guid: OTHER.into(),
            phase: phase as i32,
            control_mode: proto::ControlMode::Ccm as i32,
            profile: "ccm-1".into(),
            reason: reason.into(),
            ..Default::default()
        };
        rps.publish(
            &Topic::DeviceEvent(OTHER.parse().unwrap(), DeviceEvent::Activation),
            &event,
        )
        .await
        .unwrap();
    }
    let started = stream
        .until("activation started", |e| e.json()["kind"] == "activation")
        .await;
    assert_eq!(started.json()["data"]["phase"], "ACTIVATION_PHASE_STARTED");
    let failed = stream
        .until("activation failed", |e| e.json()["kind"] == "activation")
        .await;
    assert_eq!(failed.json()["data"]["phase"], "ACTIVATION_PHASE_FAILED");
    assert_eq!(failed.json()["data"]["reason"], "the AMT password is wrong");

    // A later browser's snapshot has the device connected and its latest activation step.
    let mut later = Sse::open(&ui.stream_url()).await;
    let snap = later.next().await.unwrap().json();
    assert_eq!(snap["presence"][OTHER]["connected"], true);
    assert_eq!(snap["activations"][0]["guid"], OTHER);
    assert_eq!(
        snap["activations"][0]["data"]["phase"],
        "ACTIVATION_PHASE_FAILED"
    );

    // Garbage on a device topic is skipped; the stream goes on.
    broker
        .client("mps", "mps-garbage")
        .await
        .publish_json(
            &topics.render(&Topic::DeviceEvent(
                GUID.parse().unwrap(),
                DeviceEvent::Disconnected,
            )),
            &serde_json::json!({"not": "protobuf"}),
        )
        .await
        .unwrap();
    let disconnected = proto::DeviceDisconnected {
        guid: GUID.into(),
        reason: proto::DisconnectReason::IdleTimeout as i32,
        disconnected_at: Some(schemas::now()),
        ..Default::default()
    };
    mps.publish(
        &Topic::DeviceEvent(GUID.parse().unwrap(), DeviceEvent::Disconnected),
        &disconnected,
    )
    .await
    .unwrap();
    let gone = stream
        .until("the disconnect", |e| e.json()["kind"] == "disconnected")
        .await;
    assert_eq!(
        gone.json()["data"]["reason"],
        "DISCONNECT_REASON_IDLE_TIMEOUT"
    );

    // Commands are not the browsers' business: the stream never shows one.
    let command = proto::PowerActionRequest {
        action: 8,
        use_sol: false,
    };
    broker
        .client("operator", "operator-test")
        .await
        .publish(
            &Topic::Command(GUID.parse().unwrap(), schemas::Command::Power),
            &command,
        )
        .await
        .unwrap();
    assert!(command.encoded_len() > 0);
    mps.publish(
        &Topic::Presence(GUID.parse().unwrap()),
        &presence(GUID, true),
    )
    .await
    .unwrap();
    let next = stream
        .until("the next device event", |e| e.json()["kind"] != "status")
        .await;
    assert_eq!(
        next.json()["kind"],
        "presence",
        "no command in between: {next:?}"
    );

    ui.stop().await;
    // At a clean stop the web UI's status turns offline.
    let (_, status) = tokio::time::timeout(support::WAIT, async {
        loop {
            let got = webui_status.next_event::<proto::ServiceStatus>().await?;
            if got.1.state() == proto::ServiceState::Offline {
                return Some(got);
            }
        }
    })
    .await
    .expect("offline status")
    .expect("a status");
    assert_eq!(status.instance, "webui-test");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stream_ends_when_its_token_expires_and_streams_are_limited() {
    support::init();
    let broker = Broker::start().await;
    let ui = start_ui(&broker, |c| c.max_stream_clients = 1).await;
    let short = login_token(JWT_SECRET, now() + 2);
    let mut stream = Sse::open(&ui.url(&format!("/events/stream?token={short}"))).await;
    assert_eq!(stream.next().await.unwrap().event, "snapshot");
    // One stream is the limit here: the next browser is told to come back later.
    let (status, headers, _) = http("GET", &ui.stream_url(), &[]).await;
    assert_eq!(status, 503);
    assert_eq!(headers["retry-after"], "10");
    let expired = stream.until("the expiry", |e| e.event == "expired").await;
    assert_eq!(expired.json()["exp"], "token expired");
    assert!(stream.next().await.is_none(), "the stream ends");
    eventually("the stream slot is free again", async || {
        json(&http("GET", &ui.url("/healthz"), &[]).await.2)["streams"] == 0
    })
    .await;
    let mut again = Sse::open(&ui.stream_url()).await;
    assert_eq!(again.next().await.unwrap().event, "snapshot");
    drop(again);
    ui.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refuses_to_start_without_a_secret_or_as_a_user_that_cannot_read_the_tree() {
    support::init();
    let broker = Broker::start().await;
    let bus = broker.client("webui", "webui-nosecret").await;
    let error = webui::start(
        WebuiConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            ..Default::default()
        },
        bus,
        CancellationToken::new(),
    )
    .await
    .err()
    .expect("no secret, no start");
    assert!(error.to_string().contains("jwt_secret"), "{error}");

    // The router's user may not read device events: the subscription is refused and start says so.
    let bus = broker.client("router", "router-as-webui").await;
    let error = webui::start(
        WebuiConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            jwt_secret: JWT_SECRET.into(),
            publish_status: false,
            ..Default::default()
        },
        bus,
        CancellationToken::new(),
    )
    .await
    .err()
    .expect("refused subscription, no start");
    assert!(error.to_string().contains("refused"), "{error}");
}
