//! Test support: upstreams that record what reaches them (plain hyper, with a WebSocket echo), an
//! HTTP/1.1 client that speaks TLS to the gateway, and login tokens minted the way MPS mints them.
#![allow(dead_code)]

use std::{
    net::SocketAddr,
    sync::{Arc, Mutex},
    time::Duration,
};

use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response, StatusCode, body::Incoming, header};
use hyper_util::rt::TokioIo;
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::{self, Message, handshake::derive_accept_key, protocol::Role};
use tokio_util::sync::CancellationToken;

pub fn init() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let _ = tracing_subscriber_init();
}

fn tracing_subscriber_init() -> Option<()> {
    None
}

/// What an upstream received.
#[derive(Clone, Debug)]
pub struct Seen {
    pub method: String,
    /// Path and query as they arrived.
    pub target: String,
    pub headers: hyper::HeaderMap,
}

/// A fake service: answers every request with JSON naming itself and echoing what it got; answers a
/// WebSocket handshake and echoes each message back prefixed with its name.
pub struct Upstream {
    pub name: &'static str,
    pub address: SocketAddr,
    pub seen: Arc<Mutex<Vec<Seen>>>,
    stop: CancellationToken,
}

impl Drop for Upstream {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

impl Upstream {
    pub async fn start(name: &'static str) -> Upstream {
        Upstream::start_with_delay(name, Duration::ZERO).await
    }

    pub async fn start_with_delay(name: &'static str, delay: Duration) -> Upstream {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let seen = Arc::new(Mutex::new(Vec::new()));
        let stop = CancellationToken::new();
        let recorded = seen.clone();
        let handler = move |request: Request<Incoming>, _peer: SocketAddr| {
            let recorded = recorded.clone();
            async move {
                tokio::time::sleep(delay).await;
                answer(name, request, recorded).await
            }
        };
        tokio::spawn(gateway::listener::serve(
            listener,
            None,
            handler,
            stop.clone(),
        ));
        Upstream {
            name,
            address,
            seen,
            stop,
        }
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    pub fn last(&self) -> Option<Seen> {
        self.seen.lock().unwrap().last().cloned()
    }
}

async fn answer(
    name: &'static str,
    mut request: Request<Incoming>,
    seen: Arc<Mutex<Vec<Seen>>>,
) -> Response<gateway::http::Body> {
    let target = request
        .uri()
        .path_and_query()
        .map(|pq| pq.as_str().to_owned())
        .unwrap_or_default();
    seen.lock().unwrap().push(Seen {
        method: request.method().to_string(),
        target: target.clone(),
        headers: request.headers().clone(),
    });
    if gateway::http::is_upgrade(request.headers()) {
        let Some(key) = request.headers().get(header::SEC_WEBSOCKET_KEY).cloned() else {
            return Response::builder()
                .status(400)
                .body(gateway::http::empty())
                .unwrap();
        };
        let protocol = request
            .headers()
            .get(header::SEC_WEBSOCKET_PROTOCOL)
            .cloned();
        let upgrade = hyper::upgrade::on(&mut request);
        tokio::spawn(async move {
            let Ok(upgraded) = upgrade.await else { return };
            let mut ws = tokio_tungstenite::WebSocketStream::from_raw_socket(
                TokioIo::new(upgraded),
                Role::Server,
                None,
            )
            .await;
            while let Some(Ok(message)) = ws.next().await {
                match message {
                    Message::Text(text) => {
                        let _ = ws.send(Message::text(format!("{name}:{text}"))).await;
                    }
                    Message::Binary(bytes) => {
                        let _ = ws.send(Message::Binary(bytes)).await;
                    }
                    Message::Close(_) => break,
                    _ => {}
                }
            }
        });
        let mut response = Response::builder()
            .status(StatusCode::SWITCHING_PROTOCOLS)
            .header(header::CONNECTION, "upgrade")
            .header(header::UPGRADE, "websocket")
            .header(
                header::SEC_WEBSOCKET_ACCEPT,
                derive_accept_key(key.as_bytes()),
            );
        if let Some(protocol) = protocol {
            response = response.header(header::SEC_WEBSOCKET_PROTOCOL, protocol);
        }
        return response.body(gateway::http::empty()).unwrap();
    }
    let body = serde_json::json!({
        "service": name,
        "method": request.method().to_string(),
        "target": target,
    });
    Response::builder()
        .header(header::CONTENT_TYPE, "application/json")
        .header(
            header::ACCESS_CONTROL_ALLOW_ORIGIN,
            "https://from-the-upstream.example",
        )
        .body(gateway::http::full(body.to_string()))
        .unwrap()
}

/// A response read whole.
#[derive(Debug)]
pub struct Answer {
    pub status: StatusCode,
    pub headers: hyper::HeaderMap,
    pub body: Bytes,
}

impl Answer {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|e| panic!("not JSON ({e}): {:?}", self.text()))
    }
}

/// Where the gateway listens and how to reach it.
#[derive(Clone)]
pub struct Target {
    pub address: SocketAddr,
    pub tls: Option<Arc<rustls::ClientConfig>>,
}

trait Io: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static> Io for T {}

impl Target {
    async fn connect(&self) -> Box<dyn Io> {
        let tcp = TcpStream::connect(self.address).await.unwrap();
        match &self.tls {
            None => Box::new(tcp),
            Some(config) => {
                let connector = tokio_rustls::TlsConnector::from(config.clone());
                let name = rustls_pki_types::ServerName::try_from("localhost").unwrap();
                Box::new(connector.connect(name, tcp).await.unwrap())
            }
        }
    }

    /// One request on a fresh connection.
    pub async fn send(&self, request: Request<Full<Bytes>>) -> Answer {
        let io = self.connect().await;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(io))
            .await
            .unwrap();
        tokio::spawn(connection);
        let response = sender.send_request(request).await.unwrap();
        let (parts, body) = response.into_parts();
        Answer {
            status: parts.status,
            headers: parts.headers,
            body: body.collect().await.unwrap().to_bytes(),
        }
    }

    pub async fn get(&self, path: &str, headers: &[(&str, &str)]) -> Answer {
        self.call("GET", path, headers, "").await
    }

    pub async fn call(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &str,
    ) -> Answer {
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, "localhost");
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        self.send(
            request
                .body(Full::new(Bytes::from(body.to_owned())))
                .unwrap(),
        )
        .await
    }

    /// Opens a WebSocket at `path`, sends `text`, returns the echo (and the negotiated sub-protocol).
    pub async fn websocket_echo(
        &self,
        path: &str,
        protocol: Option<&str>,
        text: &str,
    ) -> Result<(String, Option<String>), tungstenite::Error> {
        let io = self.connect().await;
        let scheme = if self.tls.is_some() { "wss" } else { "ws" };
        let mut request = tungstenite::client::IntoClientRequest::into_client_request(format!(
            "{scheme}://localhost{path}"
        ))?;
        if let Some(protocol) = protocol {
            request
                .headers_mut()
                .insert(header::SEC_WEBSOCKET_PROTOCOL, protocol.parse().unwrap());
        }
        let (mut ws, response) = tokio_tungstenite::client_async(request, io).await?;
        let negotiated = response
            .headers()
            .get(header::SEC_WEBSOCKET_PROTOCOL)
            .map(|v| v.to_str().unwrap().to_owned());
        ws.send(Message::text(text)).await?;
        let echo = tokio::time::timeout(Duration::from_secs(5), ws.next())
            .await
            .expect("an echo within 5 s")
            .expect("the connection stays open")?;
        let _ = ws.close(None).await;
        Ok((echo.into_text()?.to_string(), negotiated))
    }
}

/// A login token as MPS signs it: HS256 over `{tenantId, iss, deviceId, exp}`.
pub fn token(secret: &str, issuer: &str, exp: i64) -> String {
    let claims = serde_json::json!({"tenantId": "", "iss": issuer, "deviceId": "*", "exp": exp});
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()).unwrap(),
    )
    .unwrap()
}

pub fn now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}
