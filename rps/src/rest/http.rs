//! What Express does around every route, reproduced: JSON body parsing, case-insensitive and
//! trailing-slash-tolerant routing, weak ETags with 304 answers, and its 404 page.

use axum::body::{Body, Bytes};
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::Value;
use sha1::{Digest, Sha1};

use super::error::{ApiError, error_page};

/// Largest JSON body accepted, as Express's `express.json()` default (100 kB).
pub const BODY_LIMIT: usize = 100 * 1024;

/// The body as `express.json()` leaves it: parsed when the content type is JSON, `{}` otherwise.
pub fn parse_body(headers: &HeaderMap, body: &Bytes) -> Result<Value, ApiError> {
    let is_json = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .is_some_and(|t| t.trim().eq_ignore_ascii_case("application/json"));
    if !is_json || body.is_empty() {
        return Ok(Value::Object(Default::default()));
    }
    match serde_json::from_slice::<Value>(body) {
        // Strict mode: only objects and arrays.
        Ok(v @ (Value::Object(_) | Value::Array(_))) => Ok(v),
        _ => Err(ApiError::MalformedJson),
    }
}

/// Rewrites the path before routing: the static segments (`api/v1/admin/<resource>` and `export`) match in any
/// case and one trailing slash is ignored, as Express routes; parameters keep their case.
pub fn normalize_path(mut request: Request) -> Request {
    let path = request.uri().path();
    let Some(normalized) = normalized_path(path) else {
        return request;
    };
    let pq = match request.uri().query() {
        Some(q) => format!("{normalized}?{q}"),
        None => normalized,
    };
    let mut parts = request.uri().clone().into_parts();
    if let Ok(pq) = pq.parse() {
        parts.path_and_query = Some(pq);
        if let Ok(uri) = Uri::from_parts(parts) {
            *request.uri_mut() = uri;
        }
    }
    request
}

fn normalized_path(path: &str) -> Option<String> {
    let trimmed = if path.len() > 1 {
        path.strip_suffix('/').unwrap_or(path)
    } else {
        path
    };
    let mut segments: Vec<String> = trimmed.split('/').map(str::to_owned).collect();
    // ["", "api", "v1", "admin", resource, ...]
    let prefix = ["", "api", "v1", "admin"];
    if segments.len() < 4
        || !segments
            .iter()
            .zip(prefix)
            .all(|(s, p)| s.eq_ignore_ascii_case(p))
    {
        return (trimmed.len() != path.len()).then(|| trimmed.to_owned());
    }
    for s in segments.iter_mut().take(5) {
        s.make_ascii_lowercase();
    }
    if segments.len() == 7
        && segments[4] == "profiles"
        && segments[5].eq_ignore_ascii_case("export")
    {
        segments[5].make_ascii_lowercase();
    }
    let joined = segments.join("/");
    (joined != path).then_some(joined)
}

/// Express's answer to a path or method it has no route for.
pub async fn not_found(method: Method, uri: Uri) -> Response {
    let text = format!("Cannot {} {}", method, uri.path());
    (
        StatusCode::NOT_FOUND,
        [(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/html; charset=utf-8"),
        )],
        error_page(&text),
    )
        .into_response()
}

/// Express's weak ETag: `W/"<length hex>-<first 27 characters of base64 SHA-1>"`.
pub fn weak_etag(body: &[u8]) -> String {
    let digest = Sha1::digest(body);
    let b64 = base64::engine::general_purpose::STANDARD.encode(digest);
    format!("W/\"{:x}-{}\"", body.len(), &b64[..27])
}

/// Whether a cached copy with `request`'s validators is still fresh for a response with `etag` (the `fresh`
/// module Express uses).
pub fn is_fresh(request: &HeaderMap, etag: &str) -> bool {
    let header = |name: header::HeaderName| request.get(name).and_then(|v| v.to_str().ok());
    let none_match = header(header::IF_NONE_MATCH);
    let modified_since = header(header::IF_MODIFIED_SINCE);
    if none_match.is_none() && modified_since.is_none() {
        return false;
    }
    if header(header::CACHE_CONTROL).is_some_and(|cc| cc.split(',').any(|d| d.trim() == "no-cache"))
    {
        return false;
    }
    if let Some(none_match) = none_match
        && none_match.trim() != "*"
    {
        let strip = |t: &str| t.trim().trim_start_matches("W/").to_owned();
        let ours = strip(etag);
        if !none_match.split(',').any(|t| strip(t) == ours) {
            return false;
        }
    }
    // No Last-Modified is ever sent, so a date validator can never prove freshness.
    modified_since.is_none()
}

/// Adds a weak ETag to every response with a body that has none, and turns a fresh GET/HEAD into 304.
pub async fn etag_layer(request: Request, next: Next) -> Response {
    let method = request.method().clone();
    let conditional = request.headers().clone();
    let response = next.run(request).await;
    let (mut parts, body) = response.into_parts();
    if parts.headers.contains_key(header::ETAG)
        && !(method == Method::GET || method == Method::HEAD)
    {
        return Response::from_parts(parts, body);
    }
    let Ok(bytes) = axum::body::to_bytes(body, usize::MAX).await else {
        return StatusCode::INTERNAL_SERVER_ERROR.into_response();
    };
    if bytes.is_empty() {
        return Response::from_parts(parts, Body::from(bytes));
    }
    let etag = match parts
        .headers
        .get(header::ETAG)
        .and_then(|v| v.to_str().ok())
    {
        Some(existing) => existing.to_owned(),
        None => {
            let tag = weak_etag(&bytes);
            if let Ok(v) = HeaderValue::from_str(&tag) {
                parts.headers.insert(header::ETAG, v);
            }
            tag
        }
    };
    let cacheable = (method == Method::GET || method == Method::HEAD) && parts.status.is_success();
    if cacheable && is_fresh(&conditional, &etag) {
        parts.status = StatusCode::NOT_MODIFIED;
        for h in [
            header::CONTENT_TYPE,
            header::CONTENT_LENGTH,
            header::TRANSFER_ENCODING,
        ] {
            parts.headers.remove(h);
        }
        return Response::from_parts(parts, Body::empty());
    }
    Response::from_parts(parts, Body::from(bytes))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn weak_etag_matches_express() {
        // Express: etag('[]', {weak: true}) and etag('', {weak: true}).
        assert_eq!(weak_etag(b"[]"), "W/\"2-l9Fw4VUO7kr8CvBlt4zaMCqXZ0w\"");
        assert_eq!(weak_etag(b""), "W/\"0-2jmj7l5rSw0yVb/vlWAYkK/YBwk\"");
    }

    #[test]
    fn freshness_follows_if_none_match() {
        let mut h = HeaderMap::new();
        assert!(!is_fresh(&h, "W/\"2-x\""));
        h.insert(header::IF_NONE_MATCH, HeaderValue::from_static("W/\"2-x\""));
        assert!(is_fresh(&h, "W/\"2-x\""));
        assert!(!is_fresh(&h, "W/\"2-y\""));
        h.insert(
            header::IF_NONE_MATCH,
            HeaderValue::from_static("\"a\", W/\"2-x\""),
        );
        assert!(is_fresh(&h, "W/\"2-x\""));
        h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
        assert!(!is_fresh(&h, "W/\"2-x\""));
    }

    #[test]
    fn static_segments_match_in_any_case_and_params_keep_theirs() {
        assert_eq!(
            normalized_path("/API/V1/Admin/Profiles/MyProfile"),
            Some("/api/v1/admin/profiles/MyProfile".into())
        );
        assert_eq!(
            normalized_path("/api/v1/admin/domains/"),
            Some("/api/v1/admin/domains".into())
        );
        assert_eq!(normalized_path("/api/v1/admin/domains"), None);
        assert_eq!(
            normalized_path("/api/v1/admin/profiles/EXPORT/P1"),
            Some("/api/v1/admin/profiles/export/P1".into())
        );
        assert_eq!(normalized_path("/other/"), Some("/other".into()));
        assert_eq!(normalized_path("/"), None);
    }
}
