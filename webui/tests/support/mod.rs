//! Shared by the web UI's integration tests: the embedded broker with clients as the ACL's users, the
//! web UI started on a free port, login tokens minted as MPS mints them, a plain HTTP client and a
//! server-sent-events reader.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use broker::{BrokerUrl, Bus, BusConfig, EmbeddedBroker, EmbeddedBrokerConfig};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper::body::Incoming;
use serde_json::{Value, json};

pub const JWT_SECRET: &str = "webui-test-secret";
pub const ISSUER: &str = webui::DEFAULT_JWT_ISSUER;
pub const WAIT: Duration = Duration::from_secs(20);

pub fn init() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
    }
}

pub fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// A login token as MPS signs it: `{tenantId, iss, deviceId: "*", exp}`, HS256.
pub fn login_token(secret: &str, exp: u64) -> String {
    sign(
        secret,
        json!({"tenantId": "", "iss": ISSUER, "deviceId": "*", "exp": exp}),
    )
}

pub fn sign(secret: &str, claims: Value) -> String {
    use jsonwebtoken::{Algorithm, EncodingKey, Header};
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret.as_bytes()).expect("a secret"),
    )
    .expect("signing")
}

/// The embedded broker `openamt up` runs, in a directory of its own.
pub struct Broker {
    pub broker: EmbeddedBroker,
    pub dir: tempfile::TempDir,
}

impl Broker {
    pub async fn start() -> Broker {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = EmbeddedBrokerConfig::new(dir.path());
        config.listen = SocketAddr::from(([127, 0, 0, 1], 0));
        let broker = EmbeddedBroker::start(config)
            .await
            .expect("embedded broker");
        Broker { broker, dir }
    }

    pub fn url(&self) -> BrokerUrl {
        self.broker.url().parse().expect("broker URL")
    }

    pub fn config(&self, user: &str, client_id: &str) -> BusConfig {
        let password = self
            .broker
            .credentials()
            .password(user)
            .expect("a user of the ACL");
        let mut config = BusConfig::new(
            self.url(),
            user,
            password,
            client_id,
            &format!("/openamt/test/{client_id}"),
        );
        config.ca_pem = Some(self.broker.ca_pem().as_bytes().to_vec());
        config.session_expiry = Duration::ZERO;
        config
    }

    pub async fn client(&self, user: &str, client_id: &str) -> Bus {
        self.client_with(self.config(user, client_id)).await
    }

    pub async fn client_with(&self, config: BusConfig) -> Bus {
        let bus = Bus::connect(config).await.expect("bus connect");
        bus.wait_connected(WAIT)
            .await
            .expect("connected to the broker");
        bus
    }
}

/// One HTTP/1.1 request; returns status, headers and body.
pub async fn http(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
) -> (u16, hyper::HeaderMap, Bytes) {
    let response = send(method, url, headers).await;
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (status, headers, body)
}

pub async fn send(method: &str, url: &str, headers: &[(&str, &str)]) -> hyper::Response<Incoming> {
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Empty<Bytes>>();
    let mut request = hyper::Request::builder().method(method).uri(url);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    client
        .request(request.body(Empty::new()).expect("request"))
        .await
        .expect("HTTP request")
}

pub fn json(body: &Bytes) -> Value {
    serde_json::from_slice(body).unwrap_or(Value::Null)
}

/// One server-sent event.
#[derive(Debug, Clone, Default)]
pub struct SseEvent {
    pub event: String,
    pub id: Option<String>,
    pub data: String,
}

impl SseEvent {
    pub fn json(&self) -> Value {
        serde_json::from_str(&self.data).unwrap_or(Value::Null)
    }
}

/// Reads an event stream response frame by frame.
pub struct Sse {
    body: Incoming,
    buffer: String,
}

impl Sse {
    pub async fn open(url: &str) -> Sse {
        let response = send("GET", url, &[("accept", "text/event-stream")]).await;
        assert_eq!(response.status(), 200, "the stream opens");
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        assert_eq!(content_type, "text/event-stream");
        Sse {
            body: response.into_body(),
            buffer: String::new(),
        }
    }

    /// The next event (comments skipped), or `None` when the stream ends.
    pub async fn next(&mut self) -> Option<SseEvent> {
        loop {
            if let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                let mut event = SseEvent {
                    event: "message".into(),
                    ..Default::default()
                };
                let mut data = Vec::new();
                for line in block.lines() {
                    if let Some(v) = line.strip_prefix("event: ") {
                        event.event = v.to_owned();
                    } else if let Some(v) = line.strip_prefix("id: ") {
                        event.id = Some(v.to_owned());
                    } else if let Some(v) = line.strip_prefix("data: ") {
                        data.push(v.to_owned());
                    }
                }
                if data.is_empty() && event.id.is_none() {
                    continue; // a keep-alive comment or a bare retry
                }
                event.data = data.join("\n");
                return Some(event);
            }
            let frame = self.body.frame().await?.ok()?;
            if let Ok(bytes) = frame.into_data() {
                self.buffer.push_str(&String::from_utf8_lossy(&bytes));
            }
        }
    }

    /// The first event for which `f` holds, within `WAIT`.
    pub async fn until(&mut self, what: &str, mut f: impl FnMut(&SseEvent) -> bool) -> SseEvent {
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            let next = tokio::time::timeout_at(deadline, self.next())
                .await
                .unwrap_or_else(|_| panic!("timed out waiting for {what}"));
            let event = next.unwrap_or_else(|| panic!("the stream ended before {what}"));
            if f(&event) {
                return event;
            }
        }
    }
}

/// Polls `f` until it holds or `WAIT` passes.
pub async fn eventually(what: &str, mut f: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + WAIT;
    while tokio::time::Instant::now() < deadline {
        if f().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for: {what}");
}
