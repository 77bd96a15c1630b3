//! The responses Kong makes itself, byte for byte as Kong 3.9 writes them.
//!
//! Two families exist. Errors raised through `kong.response.error` (no route, upstream failures) use a
//! template chosen from the `Accept` header and carry a request id:
//!
//! ```text
//! {
//!   "message":"no Route matched with those values",
//!   "request_id":"…"
//! }
//! ```
//!
//! Plugins that exit with a table (`kong.response.exit(401, { message = "Unauthorized" })`) send that
//! table as compact JSON: `{"message":"Unauthorized"}`, or the JWT plugin's `{"exp":"token expired"}`.

use hyper::{HeaderMap, Response, StatusCode, header};

use crate::http::{Body, full};

pub const NO_ROUTE: &str = "no Route matched with those values";
pub const BAD_GATEWAY: &str = "An invalid response was received from the upstream server";
pub const GATEWAY_TIMEOUT: &str = "The upstream server is timing out";
pub const UNAVAILABLE: &str = "name resolution failed";

const JSON: &str = "application/json; charset=utf-8";
const HTML: &str = "text/html; charset=utf-8";
const PLAIN: &str = "text/plain; charset=utf-8";
const XML: &str = "application/xml; charset=utf-8";

/// A fresh request id: 32 hex digits, like nginx's `$request_id`.
pub fn request_id() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}

/// The MIME type Kong picks from `Accept` (highest q wins; JSON by default and for anything unknown).
fn negotiate(headers: &HeaderMap) -> &'static str {
    let accept = headers
        .get(header::ACCEPT)
        .or_else(|| headers.get(header::CONTENT_TYPE))
        .and_then(|v| v.to_str().ok());
    let Some(accept) = accept else {
        return JSON;
    };
    let mut best = JSON;
    let mut best_q = 0.0f32;
    for value in accept.split(',') {
        let mut params = value.trim().split(';');
        let media = params.next().unwrap_or("").trim().to_ascii_lowercase();
        if media.is_empty() {
            continue;
        }
        let q = params
            .filter_map(|p| p.trim().strip_prefix("q="))
            .find_map(|q| q.parse::<f32>().ok())
            .unwrap_or(1.0);
        if q > best_q {
            best_q = q;
            best = match media.as_str() {
                "text/html" => HTML,
                "text/plain" | "text/*" => PLAIN,
                "application/xml" => XML,
                _ => JSON,
            };
        }
    }
    best
}

/// An error Kong raises itself, in the format the client asked for.
pub fn kong_error(status: StatusCode, message: &str, request: &HeaderMap) -> Response<Body> {
    let id = request_id();
    let content_type = negotiate(request);
    let body = match content_type {
        HTML => format!(
            "<!doctype html>\n<html>\n  <head>\n    <meta charset=\"utf-8\">\n    <title>Error</title>\n  </head>\n  <body>\n    <h1>Error</h1>\n    <p>{message}.</p>\n    <p>request_id: {id}</p>\n  </body>\n</html>\n"
        ),
        PLAIN => format!("{message}\nrequest_id: {id}\n"),
        XML => format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<error>\n  <message>{message}</message>\n  <requestid>{id}</requestid>\n</error>\n"
        ),
        _ => format!("{{\n  \"message\":\"{message}\",\n  \"request_id\":\"{id}\"\n}}"),
    };
    with_type(status, content_type, body.len())
        .header("x-kong-request-id", id)
        .body(full(body))
        .unwrap_or_else(|_| Response::new(crate::http::empty()))
}

/// A plugin's exit with a JSON table.
pub fn plugin_exit(status: StatusCode, body: &serde_json::Value) -> hyper::http::response::Builder {
    with_type(status, JSON, body.to_string().len())
}

fn with_type(
    status: StatusCode,
    content_type: &str,
    length: usize,
) -> hyper::http::response::Builder {
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, content_type)
        .header(header::CONTENT_LENGTH, length)
        .header(header::SERVER, crate::SERVER)
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt;

    use super::*;

    async fn text(response: Response<Body>) -> String {
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn no_route_is_kongs_json_template_by_default() {
        let response = kong_error(StatusCode::NOT_FOUND, NO_ROUTE, &HeaderMap::new());
        assert_eq!(response.status(), 404);
        assert_eq!(response.headers()[header::CONTENT_TYPE], JSON);
        let id = response.headers()["x-kong-request-id"]
            .to_str()
            .unwrap()
            .to_owned();
        assert_eq!(id.len(), 32);
        assert_eq!(
            text(response).await,
            format!(
                "{{\n  \"message\":\"no Route matched with those values\",\n  \"request_id\":\"{id}\"\n}}"
            )
        );
    }

    #[tokio::test]
    async fn follows_the_accept_header() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::ACCEPT,
            "text/plain;q=0.9, text/html".parse().unwrap(),
        );
        let response = kong_error(StatusCode::NOT_FOUND, NO_ROUTE, &headers);
        assert_eq!(response.headers()[header::CONTENT_TYPE], HTML);
        assert!(
            text(response)
                .await
                .contains("<p>no Route matched with those values.</p>")
        );
        headers.insert(header::ACCEPT, "image/png".parse().unwrap());
        assert_eq!(
            kong_error(StatusCode::NOT_FOUND, NO_ROUTE, &headers).headers()[header::CONTENT_TYPE],
            JSON
        );
    }
}
