//! kong/kong.yaml run through the embedded gateway over TLS: every route reaches its service at the path
//! Kong would send, JWT guards /mps and /rps with Kong's exact 401 bodies while login and relay bypass
//! it, CORS preflights are answered at the edge, WebSockets pass through.

mod support;

use std::{collections::HashMap, net::SocketAddr, sync::Arc, time::Duration};

use gateway::{Declarative, GatewayConfig, Resolver};
use serde_json::json;
use support::{Target, Upstream, now, token};
use tokio_util::sync::CancellationToken;

const SECRET: &str = "test-signing-secret";
const ISSUER: &str = "9EmRJTbIiIb4bIeSsmgcWIjrR6HyETqc";
const GUID: &str = "4c4c4544-004b-4210-8033-b6c04f504633";

struct Stack {
    target: Target,
    router: Upstream,
    mps1: Upstream,
    mps2: Upstream,
    rps_rest: Upstream,
    rps_ws: Upstream,
    webui: Upstream,
    stop: CancellationToken,
    _dir: tempfile::TempDir,
}

impl Drop for Stack {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

/// The shipped kong.yaml behind TLS, with the compose names pointed at local fake services.
async fn stack_with(yaml: &str) -> Stack {
    support::init();
    let router = Upstream::start("mpsrouter").await;
    let mps1 = Upstream::start("mps-1").await;
    let mps2 = Upstream::start("mps-2").await;
    let rps_rest = Upstream::start("rps-rest").await;
    let rps_ws = Upstream::start("rps-ws").await;
    let webui = Upstream::start("webui").await;
    let overrides = HashMap::from([
        ("mpsrouter:8003".to_owned(), router.address.to_string()),
        ("mps-1:3000".to_owned(), mps1.address.to_string()),
        ("mps-2:3000".to_owned(), mps2.address.to_string()),
        ("rps:8081".to_owned(), rps_rest.address.to_string()),
        ("rps:8080".to_owned(), rps_ws.address.to_string()),
        ("webui:80".to_owned(), webui.address.to_string()),
    ]);
    let dir = tempfile::tempdir().unwrap();
    let hosts = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
    let tls = gateway::tls::from_data_dir(dir.path(), &hosts).unwrap();
    let ca = std::fs::read(dir.path().join("ca.pem")).unwrap();
    let mut secrets = Resolver::default();
    secrets.set("mps-jwt-secret", SECRET);
    let stop = CancellationToken::new();
    let running = gateway::start(
        GatewayConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            declarative: Declarative::parse(yaml).unwrap(),
            secrets,
            upstream_overrides: overrides,
            tls: Some(tls),
        },
        stop.clone(),
    )
    .await
    .unwrap();
    Stack {
        target: Target {
            address: running.address,
            tls: Some(Arc::new(certs::client_config(&ca).unwrap())),
        },
        router,
        mps1,
        mps2,
        rps_rest,
        rps_ws,
        webui,
        stop,
        _dir: dir,
    }
}

async fn stack() -> Stack {
    stack_with(gateway::KONG_YAML).await
}

fn bearer() -> String {
    format!("Bearer {}", token(SECRET, ISSUER, now() + 3600))
}

#[tokio::test]
async fn every_http_route_reaches_its_service_at_the_path_kong_would_send() {
    let s = stack().await;
    let auth = bearer();
    let with_token = [("authorization", auth.as_str())];
    // (method, path through the gateway, needs a token, service, path the service sees)
    let cases: &[(&str, String, bool, &str, String)] = &[
        (
            "GET",
            "/mps/api/v1/devices".into(),
            true,
            "mpsrouter",
            "/api/v1/devices".into(),
        ),
        (
            "GET",
            "/mps/api/v1/devices?$top=25&$skip=0&$count=true".into(),
            true,
            "mpsrouter",
            "/api/v1/devices?$top=25&$skip=0&$count=true".into(),
        ),
        (
            "GET",
            format!("/mps/api/v1/amt/power/state/{GUID}"),
            true,
            "mpsrouter",
            format!("/api/v1/amt/power/state/{GUID}"),
        ),
        (
            "GET",
            format!("/device/power/state/{GUID}"),
            true,
            "mpsrouter",
            format!("/api/v1/amt/power/state/{GUID}"),
        ),
        (
            "POST",
            format!("/device/power/action/{GUID}"),
            true,
            "mpsrouter",
            format!("/api/v1/amt/power/action/{GUID}"),
        ),
        (
            "GET",
            "/rps/api/v1/admin/profiles".into(),
            true,
            "rps-rest",
            "/api/v1/admin/profiles".into(),
        ),
        (
            "GET",
            "/rps/api/v1/admin/version".into(),
            true,
            "rps-rest",
            "/api/v1/admin/version".into(),
        ),
        ("GET", "/".into(), false, "webui", "/".into()),
        (
            "GET",
            "/devices/abc?x=1".into(),
            false,
            "webui",
            "/devices/abc?x=1".into(),
        ),
    ];
    for (method, path, needs_token, service, upstream_path) in cases {
        let headers: &[(&str, &str)] = if *needs_token { &with_token } else { &[] };
        let answer = s.target.call(method, path, headers, "").await;
        assert_eq!(answer.status, 200, "{method} {path}: {}", answer.text());
        let body = answer.json();
        assert_eq!(body["service"], *service, "{method} {path}");
        assert_eq!(body["target"], *upstream_path, "{method} {path}");
        assert_eq!(body["method"], *method);
        // Kong's cors plugin replaces whatever the upstream said.
        assert_eq!(answer.headers["access-control-allow-origin"], "*");
    }
    let seen = s.router.last().unwrap();
    assert_eq!(seen.headers["x-consumer-username"], "admin");
    assert_eq!(seen.headers["x-credential-identifier"], ISSUER);
    assert_eq!(seen.headers["x-forwarded-proto"], "https");
    assert_eq!(seen.headers["x-forwarded-for"], "127.0.0.1");
    assert_eq!(seen.headers["host"], "mpsrouter:8003");
}

#[tokio::test]
async fn login_needs_no_token_and_is_spread_over_the_mps_replicas() {
    let s = stack().await;
    for _ in 0..4 {
        let answer = s
            .target
            .call(
                "POST",
                "/mps/login/api/v1/authorize",
                &[("content-type", "application/json")],
                r#"{"username":"standalone","password":"G@ppm0ym"}"#,
            )
            .await;
        assert_eq!(answer.status, 200, "{}", answer.text());
        assert_eq!(answer.json()["target"], "/api/v1/authorize");
    }
    assert_eq!(
        s.mps1.seen().len(),
        2,
        "round robin over the `mps` upstream"
    );
    assert_eq!(s.mps2.seen().len(), 2);
    assert!(s.router.seen().is_empty());
}

#[tokio::test]
async fn kongs_401_bodies_and_nothing_reaches_the_service() {
    let s = stack().await;
    let expired = format!("Bearer {}", token(SECRET, ISSUER, now() - 10));
    let forged = format!("Bearer {}", token("not-the-secret", ISSUER, now() + 3600));
    let stranger = format!("Bearer {}", token(SECRET, "someone-else", now() + 3600));
    let cases = [
        (None, json!({"message": "Unauthorized"})),
        (
            Some(forged.as_str()),
            json!({"message": "Invalid signature"}),
        ),
        (Some(expired.as_str()), json!({"exp": "token expired"})),
        (
            Some(stranger.as_str()),
            json!({"message": "No credentials found for given 'iss'"}),
        ),
        (
            Some("Bearer garbage"),
            json!({"message": "Bad token; invalid JSON"}),
        ),
    ];
    for path in [
        "/mps/api/v1/devices",
        "/rps/api/v1/admin/profiles",
        &format!("/device/power/state/{GUID}"),
    ] {
        for (authorization, expected) in &cases {
            let headers: Vec<(&str, &str)> = authorization
                .map(|a| vec![("authorization", a)])
                .unwrap_or_default();
            let answer = s.target.get(path, &headers).await;
            assert_eq!(answer.status, 401, "{path} {authorization:?}");
            assert_eq!(answer.text(), expected.to_string(), "{path}: byte for byte");
            assert_eq!(
                answer.headers["content-type"],
                "application/json; charset=utf-8"
            );
            assert_eq!(answer.headers["access-control-allow-origin"], "*");
            assert!(
                answer.headers["www-authenticate"]
                    .to_str()
                    .unwrap()
                    .starts_with("Bearer")
            );
        }
    }
    assert!(s.router.seen().is_empty());
    assert!(s.rps_rest.seen().is_empty());
    // The token may also come as ?jwt=, as Kong allows.
    let token = token(SECRET, ISSUER, now() + 60);
    let answer = s
        .target
        .get(&format!("/rps/api/v1/admin/profiles?jwt={token}"), &[])
        .await;
    assert_eq!(answer.status, 200);
}

#[tokio::test]
async fn dot_segments_cannot_slip_past_the_jwt_check() {
    let s = stack().await;
    let answer = s
        .target
        .get(
            "/mps/login/api/v1/authorize/../../../../mps/api/v1/devices",
            &[],
        )
        .await;
    assert_eq!(answer.status, 401);
    let answer = s
        .target
        .get("/mps/login/api/v1/%2e%2e/%2e%2e/devices", &[])
        .await;
    assert_eq!(answer.status, 401, "{}", answer.text());
    assert!(s.mps1.seen().is_empty() && s.mps2.seen().is_empty());
}

#[tokio::test]
async fn consumer_headers_from_clients_are_dropped() {
    let s = stack().await;
    let answer = s
        .target
        .get(
            "/",
            &[
                ("x-consumer-username", "admin"),
                ("x-credential-identifier", ISSUER),
            ],
        )
        .await;
    assert_eq!(answer.status, 200);
    let seen = s.webui.last().unwrap();
    assert!(!seen.headers.contains_key("x-consumer-username"));
    assert!(!seen.headers.contains_key("x-credential-identifier"));
}

#[tokio::test]
async fn cors_preflight_is_answered_by_the_gateway() {
    let s = stack().await;
    let answer = s
        .target
        .call(
            "OPTIONS",
            "/mps/api/v1/devices",
            &[
                ("origin", "https://ui.example"),
                ("access-control-request-method", "GET"),
                ("access-control-request-headers", "authorization"),
            ],
            "",
        )
        .await;
    assert_eq!(answer.status, 200);
    assert_eq!(answer.headers["access-control-allow-origin"], "*");
    assert_eq!(
        answer.headers["access-control-allow-headers"],
        "authorization"
    );
    assert_eq!(
        answer.headers["access-control-allow-methods"],
        "GET,HEAD,PUT,PATCH,POST,DELETE,OPTIONS,TRACE,CONNECT"
    );
    assert!(
        s.router.seen().is_empty(),
        "the preflight never reaches the upstream"
    );
}

#[tokio::test]
async fn websockets_pass_through_the_relay_and_activation_routes() {
    let s = stack().await;
    // The web UI's relay: no Authorization, the redirection token rides as the sub-protocol.
    let redirection_token = token(SECRET, ISSUER, now() + 300);
    let relay =
        format!("/mps/ws/relay/webrelay.ashx?p=2&host={GUID}&port=16994&tls=0&tls1only=0&mode=kvm");
    let (echo, protocol) = s
        .target
        .websocket_echo(&relay, Some(&redirection_token), "hello")
        .await
        .unwrap();
    assert_eq!(echo, "mpsrouter:hello");
    assert_eq!(protocol.as_deref(), Some(redirection_token.as_str()));
    let seen = s.router.last().unwrap();
    assert_eq!(
        seen.target,
        format!("/relay/webrelay.ashx?p=2&host={GUID}&port=16994&tls=0&tls1only=0&mode=kvm")
    );

    // rpc-go: wss://<host>/activate reaches RPS's WebSocket port at /.
    for path in ["/activate", "/deactivate", "/maintenance"] {
        let (echo, _) = s.target.websocket_echo(path, None, "{}").await.unwrap();
        assert_eq!(echo, "rps-ws:{}");
        assert_eq!(s.rps_ws.last().unwrap().target, "/");
    }
}

#[tokio::test]
async fn a_route_not_in_the_file_is_kongs_404() {
    // The shipped file ends in a catch-all route to the web UI (deep links of the single-page app), so
    // take it out to see what Kong answers when nothing matches.
    let without_web: String = {
        let mut config: serde_yaml::Value = serde_yaml::from_str(gateway::KONG_YAML).unwrap();
        let services = config["services"].as_sequence_mut().unwrap();
        services.retain(|s| s["name"] != "web");
        serde_yaml::to_string(&config).unwrap()
    };
    let s = stack_with(&without_web).await;
    let answer = s.target.get("/nothing/here", &[]).await;
    assert_eq!(answer.status, 404);
    let id = answer.headers["x-kong-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_eq!(
        answer.text(),
        format!(
            "{{\n  \"message\":\"no Route matched with those values\",\n  \"request_id\":\"{id}\"\n}}"
        )
    );
    // Prefixes are not segments in Kong: /mpsx is still /mps (and so needs a token).
    assert_eq!(s.target.get("/mpsx", &[]).await.status, 401);
}

#[tokio::test]
async fn upstream_failures_are_kongs_502_and_504() {
    support::init();
    let slow = Upstream::start_with_delay("slow", Duration::from_secs(3)).await;
    let yaml = r#"
_format_version: "3.0"
services:
- name: slow
  host: slow
  port: 80
  read_timeout: 300
  routes:
  - name: slow-route
    paths: [/slow]
- name: gone
  host: gone
  port: 80
  connect_timeout: 1000
  routes:
  - name: gone-route
    paths: [/gone]
"#;
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed_address = closed.local_addr().unwrap();
    drop(closed);
    let stop = CancellationToken::new();
    let running = gateway::start(
        GatewayConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            declarative: Declarative::parse(yaml).unwrap(),
            secrets: Resolver::default(),
            upstream_overrides: HashMap::from([
                ("slow:80".to_owned(), slow.address.to_string()),
                ("gone:80".to_owned(), closed_address.to_string()),
            ]),
            tls: None,
        },
        stop.clone(),
    )
    .await
    .unwrap();
    let target = Target {
        address: running.address,
        tls: None,
    };
    let answer = target.get("/slow", &[]).await;
    assert_eq!(answer.status, 504);
    assert!(
        answer
            .text()
            .contains("\"message\":\"The upstream server is timing out\"")
    );
    let answer = target.get("/gone", &[]).await;
    assert_eq!(answer.status, 502);
    assert!(
        answer
            .text()
            .contains("\"message\":\"An invalid response was received from the upstream server\"")
    );
    stop.cancel();
    running.wait().await;
}

#[tokio::test]
async fn refuses_to_start_without_the_jwt_secret() {
    support::init();
    let error = gateway::start(
        GatewayConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            declarative: Declarative::parse(gateway::KONG_YAML).unwrap(),
            secrets: Resolver::default(),
            upstream_overrides: HashMap::new(),
            tls: None,
        },
        CancellationToken::new(),
    )
    .await
    .err()
    .expect("no secret, no gateway");
    assert!(error.to_string().contains("MPS_JWT_SECRET"), "{error}");
}
