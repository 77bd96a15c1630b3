//! REST on the web port: the Open AMT `/api/v1` API with the reference's paths, bodies and errors.

mod amt;
mod auth;
mod devices;
pub mod errors;
mod misc;
pub mod validate;

pub use auth::{RedirectionClaims, verify_redirection_token};
// The bus consumers validate what they accept exactly as REST does.
pub(crate) use amt::{DMTF_POWER_STATES, EXTENDED_POWER_STATES};
pub(crate) use devices::validate_device_body;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{FromRequest, Request};
use axum::http::{Method, Uri, header};
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value};
use tower_http::cors::CorsLayer;

use crate::service::Mps;

/// Body size limit of the reference's JSON parser.
const BODY_LIMIT: usize = 100 * 1024;

/// The routes, before path normalisation (see [`normalize_path`]).
pub fn router(mps: Mps) -> Router {
    Router::new()
        .merge(devices::routes())
        .merge(auth::routes())
        .merge(misc::routes())
        .merge(amt::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(not_found)
        .layer(CorsLayer::permissive())
        .layer(axum::middleware::from_fn(preflight_no_content))
        .with_state(mps)
}

/// Express's `cors()` answers preflights with 204 (tower-http answers 200).
async fn preflight_no_content(req: Request, next: axum::middleware::Next) -> Response {
    let preflight = req.method() == Method::OPTIONS;
    let mut resp = next.run(req).await;
    if preflight && resp.status() == axum::http::StatusCode::OK {
        *resp.status_mut() = axum::http::StatusCode::NO_CONTENT;
    }
    resp
}

async fn not_found(method: Method, uri: Uri) -> Response {
    errors::express_not_found(method.as_str(), uri.path())
}

/// Static path segments of the API. Express matches them case-insensitively
/// (`/power/bootoptions` is `/power/bootOptions`), axum does not, so they are lower-cased before
/// routing — but only up to the first segment that is not one of them, so guids, certificate
/// handles and profile names keep their spelling.
const STATIC_SEGMENTS: &[&str] = &[
    "api",
    "v1",
    "devices",
    "stats",
    "tags",
    "redirectstatus",
    "disconnect",
    "refresh",
    "authorize",
    "redirection",
    "amt",
    "power",
    "state",
    "action",
    "bootoptions",
    "capabilities",
    "bootsources",
    "features",
    "generalsettings",
    "version",
    "hardwareinfo",
    "log",
    "audit",
    "event",
    "userconsentcode",
    "cancel",
    "deactivate",
    "alarmoccurrences",
    "certificates",
    "kvm",
    "displays",
    "network",
    "linkpreference",
    "networksettings",
    "wired",
    "wireless",
    "profilesync",
    "profile",
    "health",
    "ciracert",
];

pub fn normalize_path(path: &str) -> String {
    let trimmed = if path.len() > 1 {
        path.trim_end_matches('/')
    } else {
        path
    };
    let mut out = String::with_capacity(trimmed.len());
    let mut in_static = true;
    for (i, seg) in trimmed.split('/').enumerate() {
        if i > 0 {
            out.push('/');
        }
        let lower = seg.to_ascii_lowercase();
        if in_static && i > 0 && STATIC_SEGMENTS.contains(&lower.as_str()) {
            out.push_str(&lower);
        } else {
            if i > 0 {
                in_static = false;
            }
            out.push_str(seg);
        }
    }
    if out.is_empty() { "/".into() } else { out }
}

/// Rewrites the request path before the router sees it.
pub fn normalize_request(mut req: Request) -> Request {
    let uri = req.uri();
    let path = normalize_path(uri.path());
    if path != uri.path() {
        let pq = match uri.query() {
            Some(q) => format!("{path}?{q}"),
            None => path,
        };
        if let Ok(p) = pq.parse::<axum::http::uri::PathAndQuery>() {
            let mut parts = uri.clone().into_parts();
            parts.path_and_query = Some(p);
            if let Ok(u) = Uri::from_parts(parts) {
                *req.uri_mut() = u;
            }
        }
    }
    req
}

/// A JSON request body as Express's body parser gives it: `{}` when absent or not JSON-typed,
/// 400 "Incorrect URI or Bad Request" when malformed.
pub struct JsonBody(pub Map<String, Value>);

impl<S: Send + Sync> FromRequest<S> for JsonBody {
    type Rejection = Response;

    async fn from_request(req: Request<Body>, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|ct| ct.to_ascii_lowercase().contains("json"));
        let bytes = Bytes::from_request(req, state)
            .await
            .map_err(IntoResponse::into_response)?;
        if bytes.len() > BODY_LIMIT {
            return Err(axum::http::StatusCode::PAYLOAD_TOO_LARGE.into_response());
        }
        if !is_json || bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(JsonBody(Map::new()));
        }
        match serde_json::from_slice::<Value>(&bytes) {
            Ok(Value::Object(m)) => Ok(JsonBody(m)),
            Ok(Value::Array(_)) => Ok(JsonBody(Map::new())),
            _ => Err(errors::malformed_json()),
        }
    }
}

/// Query parameters in order; a repeated key keeps its first value.
pub fn query_map(pairs: Vec<(String, String)>) -> Map<String, Value> {
    let mut m = Map::new();
    for (k, v) in pairs {
        m.entry(k).or_insert(Value::String(v));
    }
    m
}

#[cfg(test)]
mod tests {
    use super::normalize_path;

    #[test]
    fn static_segments_are_case_insensitive_parameters_are_not() {
        assert_eq!(
            normalize_path("/api/v1/amt/power/bootOptions/ABC"),
            "/api/v1/amt/power/bootoptions/ABC"
        );
        assert_eq!(
            normalize_path("/api/v1/devices/redirectStatus/X/"),
            "/api/v1/devices/redirectstatus/X"
        );
        assert_eq!(
            normalize_path("/api/v1/amt/networkSettings/wireless/profile/G/Profile"),
            "/api/v1/amt/networksettings/wireless/profile/G/Profile"
        );
        assert_eq!(normalize_path("/API/V1/Health"), "/api/v1/health");
        assert_eq!(normalize_path("/"), "/");
    }
}
