//! The embedded gateway: kong.yaml's routes served on 8443 with Kong's behaviour (route precedence,
//! `strip_path`, JWT, CORS, URI rewrites, WebSocket pass-through), so `openamt up` exercises the same
//! file compose.yaml hands to Kong.

use std::{
    collections::HashMap,
    net::SocketAddr,
    path::Path,
    sync::Arc,
    time::{SystemTime, UNIX_EPOCH},
};

use hyper::{
    Method, Request, Response, StatusCode,
    body::Incoming,
    header::{self, HeaderValue},
};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::{
    declarative::{ConfigError, Declarative},
    errors::{self, kong_error, plugin_exit},
    forward::{ForwardError, Forwarder, Timeouts},
    http::{Body, append_forwarded_for},
    jwt::{self, Credentials, RequestView},
    listener,
    path::{escape, join_v0, normalize, sanitize_postfix},
    routes::{RouteTable, Upstreams},
    vault_ref::Resolver,
};

/// Headers only the gateway may set; a client sending them would impersonate a consumer.
const CONSUMER_HEADERS: &[&str] = &[
    "x-consumer-id",
    "x-consumer-custom-id",
    "x-consumer-username",
    "x-credential-identifier",
    "x-anonymous-consumer",
];

/// What the gateway serves and where.
pub struct GatewayConfig {
    /// `0.0.0.0:8443` in production; port 0 picks a free one (tests).
    pub listen: SocketAddr,
    pub declarative: Declarative,
    /// Values of the `{vault://env/...}` references in kong.yaml.
    pub secrets: Resolver,
    /// `host:port` as kong.yaml names it (e.g. `mpsrouter:8003`) → where it really is (`127.0.0.1:8003`).
    pub upstream_overrides: HashMap<String, String>,
    /// TLS, or plain HTTP when `None` (behind another TLS terminator, or in tests).
    pub tls: Option<Arc<rustls::ServerConfig>>,
}

impl std::fmt::Debug for GatewayConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayConfig")
            .field("listen", &self.listen)
            .field("services", &self.declarative.services.len())
            .field("secrets", &self.secrets)
            .field("upstream_overrides", &self.upstream_overrides)
            .field("tls", &self.tls.is_some())
            .finish()
    }
}

impl GatewayConfig {
    /// Reads kong.yaml; secrets come from the environment until [`GatewayConfig::secrets`] is changed.
    pub fn from_file(listen: SocketAddr, kong_yaml: &Path) -> Result<Self, ConfigError> {
        Ok(GatewayConfig {
            listen,
            declarative: Declarative::read(kong_yaml)?,
            secrets: Resolver::from_environment(),
            upstream_overrides: HashMap::new(),
            tls: None,
        })
    }
}

#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("cannot listen on {address}: {source}")]
    Bind {
        address: SocketAddr,
        source: std::io::Error,
    },
}

struct Gateway {
    table: RouteTable,
    credentials: Credentials,
    upstreams: Upstreams,
    /// One forwarder per distinct set of service timeouts.
    forwarders: HashMap<(u128, u128), Forwarder>,
    scheme: &'static str,
    port: u16,
}

/// A started gateway.
pub struct RunningGateway {
    pub address: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl RunningGateway {
    /// Waits until the gateway has stopped (after its shutdown token fired).
    pub async fn wait(self) {
        let _ = self.task.await;
    }
}

/// Compiles the configuration, binds (port 0 works) and serves until `shutdown` fires.
pub async fn start(
    config: GatewayConfig,
    shutdown: CancellationToken,
) -> Result<RunningGateway, GatewayError> {
    let table = RouteTable::compile(&config.declarative)?;
    let credentials = Credentials::from_config(&config.declarative, &config.secrets)?;
    let upstreams = Upstreams::new(&config.declarative, config.upstream_overrides);
    let mut forwarders = HashMap::new();
    for route in table.routes() {
        let key = (
            route.connect_timeout.as_millis(),
            route.read_timeout.as_millis(),
        );
        forwarders.entry(key).or_insert_with(|| {
            Forwarder::new(
                Timeouts {
                    connect: route.connect_timeout,
                    response: route.read_timeout,
                },
                shutdown.clone(),
            )
        });
    }
    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|source| GatewayError::Bind {
            address: config.listen,
            source,
        })?;
    let address = listener.local_addr().map_err(|source| GatewayError::Bind {
        address: config.listen,
        source,
    })?;
    let gateway = Arc::new(Gateway {
        table,
        credentials,
        upstreams,
        forwarders,
        scheme: if config.tls.is_some() {
            "https"
        } else {
            "http"
        },
        port: address.port(),
    });
    tracing::info!(%address, tls = config.tls.is_some(), routes = gateway.table.routes().len(), "gateway listening");
    let handler = move |request, peer| {
        let gateway = gateway.clone();
        async move { gateway.handle(request, peer).await }
    };
    let task = tokio::spawn(listener::serve(listener, config.tls, handler, shutdown));
    Ok(RunningGateway { address, task })
}

/// Runs the gateway until `shutdown` fires.
pub async fn serve(config: GatewayConfig, shutdown: CancellationToken) -> Result<(), GatewayError> {
    start(config, shutdown).await?.wait().await;
    Ok(())
}

fn now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs() as f64)
        .unwrap_or(0.0)
}

impl Gateway {
    async fn handle(&self, mut request: Request<Incoming>, peer: SocketAddr) -> Response<Body> {
        let path = normalize(request.uri().path());
        let Some(matched) = self.table.find(&path) else {
            return kong_error(StatusCode::NOT_FOUND, errors::NO_ROUTE, request.headers());
        };
        let route = matched.route;
        let plugins = &route.plugins;

        if let Some(cors) = &plugins.cors
            && let Some(preflight) = cors.preflight(request.method(), request.headers())
        {
            return preflight;
        }
        for name in CONSUMER_HEADERS {
            request.headers_mut().remove(*name);
        }
        if let Some(config) = &plugins.jwt
            && (config.run_on_preflight || request.method() != Method::OPTIONS)
        {
            let view = RequestView {
                headers: request.headers(),
                query: request.uri().query(),
            };
            match jwt::authenticate(config, &self.credentials, &view, now()) {
                Ok(who) => {
                    let headers = request.headers_mut();
                    if let Ok(v) = HeaderValue::from_str(&who.consumer) {
                        headers.insert("x-consumer-username", v);
                    }
                    if let Ok(v) = HeaderValue::from_str(&who.key) {
                        headers.insert("x-credential-identifier", v);
                    }
                }
                Err(rejection) => {
                    tracing::debug!(route = %route.name, body = %rejection.body, "JWT rejected");
                    let mut response = plugin_exit(StatusCode::UNAUTHORIZED, &rejection.body)
                        .header(header::WWW_AUTHENTICATE, rejection.www_authenticate)
                        .body(crate::http::full(rejection.body.to_string()))
                        .unwrap_or_else(|_| Response::new(crate::http::empty()));
                    if let Some(cors) = &plugins.cors {
                        cors.apply(request.headers(), response.headers_mut());
                    }
                    return response;
                }
            }
        }

        let upstream_path = match &plugins.uri {
            Some(template) => template.render(&matched.captures),
            None => {
                let postfix = if route.strip_path {
                    sanitize_postfix(path.get(matched.matched.len()..).unwrap_or(""))
                } else {
                    ""
                };
                join_v0(&route.service_path, route.strip_path, &path, postfix)
            }
        };
        let mut path_and_query = escape(&upstream_path);
        if let Some(query) = request.uri().query() {
            path_and_query.push('?');
            path_and_query.push_str(query);
        }
        let Ok(uri) = path_and_query.parse() else {
            return kong_error(StatusCode::BAD_REQUEST, "Bad request", request.headers());
        };

        let (address, host_name) = self.upstreams.resolve(&route.host, route.port);
        let request_headers = request.headers().clone();
        {
            let original_host = request
                .headers()
                .get(header::HOST)
                .and_then(|h| h.to_str().ok())
                .map(|h| h.split(':').next().unwrap_or(h).to_owned())
                .or_else(|| request.uri().host().map(str::to_owned))
                .unwrap_or_default();
            let original_path = request.uri().path().to_owned();
            let headers = request.headers_mut();
            append_forwarded_for(headers, peer.ip());
            let set = |headers: &mut hyper::HeaderMap, name: &'static str, value: &str| {
                if let Ok(v) = HeaderValue::from_str(value) {
                    headers.insert(name, v);
                }
            };
            set(headers, "x-forwarded-proto", self.scheme);
            set(headers, "x-forwarded-host", &original_host);
            set(headers, "x-forwarded-port", &self.port.to_string());
            set(headers, "x-forwarded-path", &original_path);
            set(headers, "x-real-ip", &peer.ip().to_string());
            if !route.preserve_host {
                let host = host_name.strip_suffix(":80").unwrap_or(&host_name);
                set(headers, "host", host);
            }
        }
        *request.uri_mut() = uri;

        let key = (
            route.connect_timeout.as_millis(),
            route.read_timeout.as_millis(),
        );
        let Some(forwarder) = self.forwarders.get(&key) else {
            return kong_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "An unexpected error occurred",
                &request_headers,
            );
        };
        let mut response = match forwarder.forward(&address, request).await {
            Ok(response) => response,
            Err(error) => {
                tracing::warn!(route = %route.name, upstream = %address, %error, "upstream failed");
                let (status, message) = match error {
                    ForwardError::Timeout { .. } => {
                        (StatusCode::GATEWAY_TIMEOUT, errors::GATEWAY_TIMEOUT)
                    }
                    _ => (StatusCode::BAD_GATEWAY, errors::BAD_GATEWAY),
                };
                kong_error(status, message, &request_headers)
            }
        };
        if let Some(cors) = &plugins.cors
            && response.status() != StatusCode::SWITCHING_PROTOCOLS
        {
            cors.apply(&request_headers, response.headers_mut());
        }
        response
    }
}
