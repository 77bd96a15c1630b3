//! The RPS REST API on port 8081, Open AMT compatible (rps.md §1).

mod addresses;
pub mod cache;
mod ciraconfigs;
mod common;
mod domains;
pub mod error;
mod health;
pub mod http;
mod ieee8021x;
pub mod page;
mod profiles;
mod proxy;
pub mod validate;
mod wireless;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::ServiceExt;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use axum::routing::get;
use secrets::SecretStore;
use serde_json::json;
use tokio::net::TcpListener;
use tower::ServiceBuilder;
use tower_http::cors::{AllowHeaders, AllowOrigin, CorsLayer};

use crate::RpsConfig;
use crate::db::Db;
use error::json_response;

/// What every handler needs.
#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub secrets: Arc<dyn SecretStore>,
    /// The tenant of every request: the reference's stock middleware sets `''`.
    pub tenant: Arc<str>,
    pub cache: Arc<cache::ResponseCache>,
}

/// The routes, with Express's behaviour around them (ETag/304, 404 page, body limit) but without the path
/// normalisation and CORS that [`service`] adds in front.
pub fn router(state: AppState) -> Router {
    let admin = "/api/v1/admin";
    Router::new()
        .route(admin, get(admin_root))
        .route(&format!("{admin}/version"), get(version))
        .route(&format!("{admin}/health"), get(health::get))
        .route(
            &format!("{admin}/domains"),
            get(domains::list)
                .post(domains::create)
                .patch(domains::edit),
        )
        .route(
            &format!("{admin}/domains/{{name}}"),
            get(domains::get).delete(domains::delete),
        )
        .route(
            &format!("{admin}/ciraconfigs"),
            get(ciraconfigs::list)
                .post(ciraconfigs::create)
                .patch(ciraconfigs::edit),
        )
        .route(
            &format!("{admin}/ciraconfigs/{{name}}"),
            get(ciraconfigs::get).delete(ciraconfigs::delete),
        )
        .route(
            &format!("{admin}/profiles"),
            get(profiles::list)
                .post(profiles::create)
                .patch(profiles::edit),
        )
        .route(
            &format!("{admin}/profiles/{{name}}"),
            get(profiles::get).delete(profiles::delete),
        )
        .route(
            &format!("{admin}/wirelessconfigs"),
            get(wireless::list)
                .post(wireless::create)
                .patch(wireless::edit),
        )
        .route(
            &format!("{admin}/wirelessconfigs/{{name}}"),
            get(wireless::get).delete(wireless::delete),
        )
        .route(
            &format!("{admin}/ieee8021xconfigs"),
            get(ieee8021x::list)
                .post(ieee8021x::create)
                .patch(ieee8021x::edit),
        )
        .route(
            &format!("{admin}/ieee8021xconfigs/{{name}}"),
            get(ieee8021x::get).delete(ieee8021x::delete),
        )
        .route(
            &format!("{admin}/proxyconfigs"),
            get(proxy::list).post(proxy::create).patch(proxy::edit),
        )
        .route(
            &format!("{admin}/proxyconfigs/{{name}}"),
            get(proxy::get).delete(proxy::delete),
        )
        .fallback(http::not_found)
        .method_not_allowed_fallback(http::not_found)
        .layer(axum::middleware::from_fn(http::etag_layer))
        .layer(axum::middleware::from_fn_with_state(
            Arc::clone(&state.cache),
            cache::layer,
        ))
        .layer(DefaultBodyLimit::max(http::BODY_LIMIT))
        .with_state(state)
}

/// CORS as the reference's `cors()`: any origin, the usual methods, requested headers mirrored.
fn cors() -> CorsLayer {
    CorsLayer::new()
        .allow_origin(AllowOrigin::any())
        .allow_methods([
            Method::GET,
            Method::HEAD,
            Method::PUT,
            Method::PATCH,
            Method::POST,
            Method::DELETE,
        ])
        .allow_headers(AllowHeaders::mirror_request())
}

async fn admin_root() -> Response {
    json_response(
        StatusCode::OK,
        &json!({"message": "admin path. use admin/profiles"}),
    )
}

async fn version() -> Response {
    json_response(
        StatusCode::OK,
        &json!({"serviceVersion": crate::SERVICE_VERSION, "protocolVersion": crate::PROTOCOL_VERSION}),
    )
}

/// How long a cached GET answer is kept. Every hit is checked against the database's configuration
/// generation, so the TTL only bounds how long an unused answer lingers.
pub const DEFAULT_CACHE_TTL: Duration = Duration::from_secs(60);

/// A bound REST listener: bind first (port 0 in tests), read the address, then run.
pub struct RestServer {
    listener: TcpListener,
    state: AppState,
}

impl RestServer {
    pub async fn bind(
        addr: SocketAddr,
        db: Db,
        secrets: Arc<dyn SecretStore>,
    ) -> std::io::Result<RestServer> {
        let listener = TcpListener::bind(addr).await?;
        let cache = Arc::new(cache::ResponseCache::new(
            DEFAULT_CACHE_TTL,
            Some(db.clone()),
        ));
        Ok(RestServer {
            listener,
            state: AppState {
                db,
                secrets,
                tenant: Arc::from(""),
                cache,
            },
        })
    }

    /// Sets the read cache's time-to-live; zero turns the cache off (see [`cache`]).
    pub fn cache_ttl(mut self, ttl: Duration) -> Self {
        self.state.cache = Arc::new(cache::ResponseCache::new(ttl, Some(self.state.db.clone())));
        self
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` completes, then finishes the requests in flight.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let addr = self.listener.local_addr()?;
        tracing::info!(%addr, "RPS REST listening");
        let app = ServiceBuilder::new()
            .layer(cors())
            .map_request(http::normalize_path)
            .service(router(self.state));
        axum::serve(self.listener, ServiceExt::<Request>::into_make_service(app))
            .with_graceful_shutdown(shutdown)
            .await
    }
}

/// Serves the REST API on `config.web_host:config.web_port` until `shutdown` completes.
pub async fn serve_rest(
    config: &RpsConfig,
    db: Db,
    secrets: Arc<dyn SecretStore>,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let addr = SocketAddr::new(config.web_host, config.web_port);
    let server = RestServer::bind(addr, db, secrets)
        .await
        .map_err(|e| anyhow::anyhow!("binding {addr}: {e}"))?
        .cache_ttl(Duration::from_millis(config.rest_cache_ttl_ms));
    server.run(shutdown).await?;
    Ok(())
}
