//! The reference's error bodies. Clients match on these texts, so they are copied exactly.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::json;

pub const DEVICE_NOT_FOUND: &str = "Device not found/connected. Please connect again using CIRA.";
pub const BAD_REQUEST: &str = "Incorrect URI or Bad Request";
pub const INTERNAL: &str = "Internal Server Error";
pub const UNAUTHORIZED: &str = "Unauthorized";
pub const TIMEOUT: &str = "Timeout Error";
pub const NOT_IMPLEMENTED: &str = "Not Implemented";

/// `{"error": error, "errorDescription": description}`.
pub fn api_error(status: StatusCode, error: &str, description: impl Into<String>) -> Response {
    (
        status,
        Json(json!({ "error": error, "errorDescription": description.into() })),
    )
        .into_response()
}

/// 404 of the CIRA middleware: the device has no tunnel to this instance.
pub fn not_connected(guid: &str) -> Response {
    api_error(
        StatusCode::NOT_FOUND,
        DEVICE_NOT_FOUND,
        format!("guid : {guid}"),
    )
}

/// 400 for a body that is not JSON.
pub fn malformed_json() -> Response {
    (
        StatusCode::BAD_REQUEST,
        Json(json!({ "error": BAD_REQUEST })),
    )
        .into_response()
}

/// 400 "<what> request failed for guid : <guid>." when AMT gave no usable answer.
pub fn request_failed(what: &str, guid: &str) -> Response {
    api_error(
        StatusCode::BAD_REQUEST,
        BAD_REQUEST,
        format!("{what} request failed for guid : {guid}."),
    )
}

/// 500 "Exception during <what> request".
pub fn exception(what: &str) -> Response {
    api_error(
        StatusCode::INTERNAL_SERVER_ERROR,
        INTERNAL,
        format!("Exception during {what} request"),
    )
}

/// A status with no body.
pub fn empty(status: StatusCode) -> Response {
    status.into_response()
}

/// `{"error": "NOT FOUND", "message": "Device ID <guid> not found"}`.
pub fn device_id_not_found(guid: &str) -> Response {
    (
        StatusCode::NOT_FOUND,
        Json(json!({ "error": "NOT FOUND", "message": format!("Device ID {guid} not found") })),
    )
        .into_response()
}

/// Express's default 404 page for an unknown path or method.
pub fn express_not_found(method: &str, path: &str) -> Response {
    let body = format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>Error</title>\n</head>\n<body>\n<pre>Cannot {method} {path}</pre>\n</body>\n</html>\n"
    );
    (
        StatusCode::NOT_FOUND,
        [(axum::http::header::CONTENT_TYPE, "text/html; charset=utf-8")],
        body,
    )
        .into_response()
}
