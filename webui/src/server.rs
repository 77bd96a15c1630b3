//! The HTTP server: the UI's files (with a 200 fallback to `index.html` for client-side routes, as
//! v3's nginx does), `/env.js` (the runtime configuration the reference injects with `sed`), the
//! event stream and the session check, all under one content security policy that allows nothing
//! but this origin and the MPS/RPS origins the configuration names.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use broker::{Bus, BusError, LastWill};
use schemas::{Service, proto};
use serde_json::json;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::assets::{self, Asset};
use crate::auth::{TokenError, TokenVerifier, token_from};
use crate::config::WebuiConfig;
use crate::live::{Feed, LiveHub, stream};

#[derive(Debug, thiserror::Error)]
pub enum WebuiError {
    #[error("invalid web UI configuration: {0}")]
    Config(String),
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("the web UI server failed: {0}")]
    Serve(std::io::Error),
    #[error("the web UI cannot use the broker: {0}")]
    Bus(#[from] BusError),
    #[error("the web UI server task panicked")]
    Panicked,
}

#[derive(Clone)]
struct AppState {
    hub: LiveHub,
    verifier: TokenVerifier,
    env_js: Arc<str>,
    csp: HeaderValue,
    bus: Bus,
    max_streams: usize,
    keep_alive: Duration,
    shutdown: CancellationToken,
}

/// A started web UI server.
pub struct RunningWebui {
    pub addr: SocketAddr,
    pub hub: LiveHub,
    task: JoinHandle<Result<(), WebuiError>>,
}

impl RunningWebui {
    /// `http://<addr>`, for tests and banners.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Waits until the server has stopped (after the shutdown token fired).
    pub async fn wait(self) -> Result<(), WebuiError> {
        self.task.await.map_err(|_| WebuiError::Panicked)?
    }
}

/// Runs the web UI until `shutdown` fires. The caller owns `bus` (connect it as the `webui` user,
/// ideally with [`last_will`]) and shuts it down afterwards.
pub async fn serve(
    config: WebuiConfig,
    bus: Bus,
    shutdown: CancellationToken,
) -> Result<(), WebuiError> {
    start(config, bus, shutdown).await?.wait().await
}

/// Binds (port 0 picks a free port), subscribes to the bus and returns once both are done.
pub async fn start(
    config: WebuiConfig,
    bus: Bus,
    shutdown: CancellationToken,
) -> Result<RunningWebui, WebuiError> {
    config.validate().map_err(WebuiError::Config)?;
    tracing::info!(config = ?config, "starting the web UI");
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|source| WebuiError::Bind {
            addr: config.listen,
            source,
        })?;
    let addr = listener.local_addr().map_err(WebuiError::Serve)?;

    let hub = LiveHub::new(config.recent_activations);
    let feed = Feed::subscribe(&bus).await?;
    let hub_task = tokio::spawn(hub.clone().run(feed, shutdown.clone()));

    let status_topic = bus
        .topics()
        .status(Service::Webui, &config.instance)
        .map_err(|e| WebuiError::Config(format!("instance: {e}")))?;
    let status = |state: proto::ServiceState| proto::ServiceStatus {
        service: Service::Webui.to_string(),
        instance: config.instance.clone(),
        state: state as i32,
        address: addr.to_string(),
        version: env!("CARGO_PKG_VERSION").into(),
        started_at: Some(schemas::now()),
    };
    if config.publish_status {
        bus.publish(&status_topic, &status(proto::ServiceState::Online))
            .await?;
    }

    let state = AppState {
        hub: hub.clone(),
        verifier: TokenVerifier::new(&config.jwt_secret, &config.jwt_issuer)
            .map_err(|e| WebuiError::Config(format!("jwt_secret: {e}")))?,
        env_js: env_js(&config).into(),
        csp: csp(&config),
        bus: bus.clone(),
        max_streams: config.max_stream_clients,
        keep_alive: config.keep_alive,
        shutdown: shutdown.clone(),
    };
    let app = router(state);
    tracing::info!(%addr, "web UI listening");

    let offline = config
        .publish_status
        .then(|| status(proto::ServiceState::Offline));
    let task = tokio::spawn(async move {
        let served = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown.clone().cancelled_owned())
            .await;
        let _ = hub_task.await;
        if let Some(offline) = offline
            && let Err(error) = bus.publish(&status_topic, &offline).await
        {
            tracing::warn!(%error, "could not publish the web UI's offline status");
        }
        tracing::info!("web UI stopped");
        served.map_err(WebuiError::Serve)
    });
    Ok(RunningWebui { addr, hub, task })
}

/// The last will to connect the web UI's bus with: its status turns offline if the process dies.
pub fn last_will(
    topics: &schemas::Topics,
    instance: &str,
    source: &str,
) -> Result<LastWill, BusError> {
    let topic = topics.status(Service::Webui, instance)?;
    Ok(LastWill::new(
        topic,
        source,
        &proto::ServiceStatus {
            service: Service::Webui.to_string(),
            instance: instance.to_owned(),
            state: proto::ServiceState::Offline as i32,
            ..Default::default()
        },
    ))
}

fn router(state: AppState) -> Router {
    Router::new()
        .route("/events/stream", get(event_stream))
        .route("/events/session", get(session))
        .route("/env.js", get(env_script))
        .route("/healthz", get(health))
        .fallback(static_file)
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            security_headers,
        ))
        .with_state(state)
}

async fn security_headers(
    State(state): State<AppState>,
    request: Request,
    next: axum::middleware::Next,
) -> Response {
    let mut response = next.run(request).await;
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_SECURITY_POLICY, state.csp.clone());
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    response
}

/// Scripts, styles, fonts and images only from here; API calls and WebSockets also to the MPS and
/// RPS origins when they are elsewhere (no gateway).
fn csp(config: &WebuiConfig) -> HeaderValue {
    let mut connect = String::from("'self'");
    for origin in config.remote_origins() {
        connect.push(' ');
        connect.push_str(&origin);
    }
    let policy = format!(
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         font-src 'self'; connect-src {connect}; object-src 'none'; base-uri 'none'; \
         frame-ancestors 'none'; form-action 'self'"
    );
    // validate() refused every character a header value cannot hold.
    HeaderValue::from_str(&policy)
        .unwrap_or_else(|_| HeaderValue::from_static("default-src 'self'"))
}

fn env_js(config: &WebuiConfig) -> String {
    let settings = json!({
        "mpsServer": config.mps_server,
        "rpsServer": config.rps_server,
        "streamUrl": "/events/stream",
        "sessionUrl": "/events/session",
        "version": env!("CARGO_PKG_VERSION"),
    });
    format!("window.__openamt = Object.freeze({settings});\n")
}

async fn env_script(State(state): State<AppState>) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        state.env_js.to_string(),
    )
        .into_response()
}

async fn health(State(state): State<AppState>) -> Response {
    let body = json!({
        "status": "OK",
        "bus": if state.bus.is_connected() { "connected" } else { "disconnected" },
        "streams": state.hub.streams(),
    });
    axum::Json(body).into_response()
}

fn unauthorized(error: &TokenError) -> Response {
    (
        StatusCode::UNAUTHORIZED,
        [(header::CACHE_CONTROL, "no-store")],
        axum::Json(error.kong_body()),
    )
        .into_response()
}

fn request_token(headers: &HeaderMap, query: Option<&str>) -> Option<String> {
    let authorization = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok());
    token_from(authorization, query)
}

/// `GET /events/session`: whether the browser's token still opens the stream, with Kong's 401
/// bodies — an `EventSource` cannot read a refusal, so the UI asks here why its stream failed.
async fn session(State(state): State<AppState>, request: Request) -> Response {
    let token = request_token(request.headers(), request.uri().query());
    match state.verifier.verify(token.as_deref()) {
        Ok(session) => (
            [(header::CACHE_CONTROL, "no-store")],
            axum::Json(json!({"exp": session.expires_at})),
        )
            .into_response(),
        Err(error) => unauthorized(&error),
    }
}

async fn event_stream(State(state): State<AppState>, request: Request) -> Response {
    let token = request_token(request.headers(), request.uri().query());
    let session = match state.verifier.verify(token.as_deref()) {
        Ok(session) => session,
        Err(error) => {
            tracing::debug!(%error, "event stream refused");
            return unauthorized(&error);
        }
    };
    if state.hub.streams() >= state.max_streams {
        tracing::warn!(
            limit = state.max_streams,
            "too many event streams; refusing one"
        );
        return (
            StatusCode::SERVICE_UNAVAILABLE,
            [(header::RETRY_AFTER, "10")],
            axum::Json(json!({"message": "Too many event streams"})),
        )
            .into_response();
    }
    let (snapshot, rx) = state.hub.join();
    let valid_for = Duration::from_secs(session.expires_at.saturating_sub(crate::auth::now()));
    let events = stream::events(snapshot, rx, valid_for, state.shutdown.clone());
    let mut response = stream::response(events, state.keep_alive).into_response();
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    // nginx-based proxies (Kong) pass the stream through unbuffered when told so.
    headers.insert("x-accel-buffering", HeaderValue::from_static("no"));
    response
}

/// Files, and `index.html` for every other path that looks like a page of the app.
async fn static_file(method: Method, request: Request) -> Response {
    if method != Method::GET && method != Method::HEAD {
        return (
            StatusCode::METHOD_NOT_ALLOWED,
            [(header::ALLOW, "GET, HEAD")],
        )
            .into_response();
    }
    let path = request.uri().path();
    let if_none_match = request.headers().get(header::IF_NONE_MATCH);
    let asset = match path {
        "/" | "/index.html" => Some(assets::index()),
        _ => assets::get(path),
    };
    match asset {
        Some(asset) => file_response(asset, if_none_match, method == Method::HEAD),
        // A missing module or file is a 404; anything else is a route the app handles itself.
        None if path.starts_with("/app/")
            || path.starts_with("/events/")
            || path
                .rsplit('/')
                .next()
                .is_some_and(|last| last.contains('.')) =>
        {
            (StatusCode::NOT_FOUND, "not found\n").into_response()
        }
        None => file_response(assets::index(), if_none_match, method == Method::HEAD),
    }
}

fn file_response(asset: &Asset, if_none_match: Option<&HeaderValue>, head: bool) -> Response {
    let etag =
        HeaderValue::from_str(&asset.etag).unwrap_or_else(|_| HeaderValue::from_static("\"\""));
    let matches = if_none_match
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| {
            v.split(',')
                .any(|t| t.trim() == asset.etag || t.trim() == "*")
        });
    // Revalidate every time: one round trip per file, and a new release is picked up at once.
    let headers = [
        (header::CACHE_CONTROL, HeaderValue::from_static("no-cache")),
        (header::ETAG, etag),
    ];
    if matches {
        return (StatusCode::NOT_MODIFIED, headers).into_response();
    }
    let content_type = HeaderValue::from_static(asset.content_type);
    let body = if head { &[][..] } else { asset.bytes };
    (headers, [(header::CONTENT_TYPE, content_type)], body).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_js_is_a_frozen_object_with_the_servers() {
        let config = WebuiConfig {
            mps_server: "http://127.0.0.1:3000".into(),
            jwt_secret: "topsecret-xyz".into(),
            ..Default::default()
        };
        let js = env_js(&config);
        assert!(js.starts_with("window.__openamt = Object.freeze({"), "{js}");
        assert!(
            js.contains(r#""mpsServer":"http://127.0.0.1:3000""#),
            "{js}"
        );
        assert!(js.contains(r#""rpsServer":"/rps""#), "{js}");
        assert!(!js.contains("topsecret-xyz"), "the secret stays out: {js}");
    }

    #[test]
    fn the_policy_names_only_this_origin_and_the_configured_ones() {
        let same = csp(&WebuiConfig::default());
        let text = same.to_str().unwrap();
        assert!(text.contains("connect-src 'self';"), "{text}");
        assert!(text.contains("script-src 'self';"));
        let remote = csp(&WebuiConfig {
            mps_server: "http://127.0.0.1:3000".into(),
            ..Default::default()
        });
        assert!(
            remote
                .to_str()
                .unwrap()
                .contains("connect-src 'self' http://127.0.0.1:3000 ws://127.0.0.1:3000;")
        );
    }
}
