//! The reference's error bodies (rps.md §1.2).

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::{Value, json};

use super::validate::FieldError;

#[derive(Debug)]
pub enum ApiError {
    /// 400 `{"errors":[...]}`.
    Validation(Vec<FieldError>),
    /// 404 `{"error":"Not Found","message":"<Type> profile <name> Not Found"}`.
    NotFound(String),
    /// 400 `{"error":<name>,"message":<message>}`: duplicates, foreign keys and the reference's other RPSErrors.
    Rejected { name: String, message: String },
    /// 409 (412 when the request had If-Match) with the current record as the body and its version as ETag.
    Concurrency {
        current: Value,
        version: String,
        if_match: bool,
    },
    /// 500 `{"message":"Operation failed: ..."}`; the cause is logged where it happened, never sent.
    Unexpected(String),
    /// 503 `{"error":"Service Unavailable","message":"..."}`: the database cannot be reached right now.
    Unavailable(String),
    /// 400 for a body that is not JSON, as Express's body parser answers.
    MalformedJson,
}

impl ApiError {
    pub fn not_found(kind: &str, name: &str) -> Self {
        ApiError::NotFound(format!("{kind} profile {name} Not Found"))
    }

    pub fn rejected(name: &str, message: impl Into<String>) -> Self {
        ApiError::Rejected {
            name: name.to_owned(),
            message: message.into(),
        }
    }

    /// This refusal, unless `e` is the database being unreachable (down, restarting): then a 503 saying so.
    /// The reference answers every failed write 400 `Operation failed`, which tells a client its request
    /// was wrong when trying again later is what works.
    pub fn or_unavailable(self, e: &sea_orm::DbErr) -> Self {
        if !broker::database_unavailable(e) {
            return self;
        }
        let message = match self {
            ApiError::Rejected { message, .. } | ApiError::Unexpected(message) => message,
            _ => "Operation failed".to_owned(),
        };
        ApiError::Unavailable(format!(
            "{message}: the database is unavailable; try again later"
        ))
    }

    /// The reference's answer to a failure it did not foresee: logs `cause`, answers
    /// `Operation failed: <METHOD> <name>`.
    pub fn unexpected(method: &str, name: &str, cause: impl std::fmt::Display) -> Self {
        tracing::error!(method, name, error = %cause, "request failed");
        ApiError::Unexpected(format!("Operation failed: {method} {name}"))
    }
}

/// A JSON response as Express's `res.json` sends it.
pub fn json_response(status: StatusCode, body: &impl Serialize) -> Response {
    match serde_json::to_vec(body) {
        Ok(bytes) => (
            status,
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json; charset=utf-8"),
            )],
            bytes,
        )
            .into_response(),
        Err(e) => {
            tracing::error!(error = %e, "response did not serialize");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            ApiError::Validation(errors) => {
                json_response(StatusCode::BAD_REQUEST, &json!({ "errors": errors }))
            }
            ApiError::NotFound(message) => json_response(
                StatusCode::NOT_FOUND,
                &json!({"error": "Not Found", "message": message}),
            ),
            ApiError::Rejected { name, message } => json_response(
                StatusCode::BAD_REQUEST,
                &json!({"error": name, "message": message}),
            ),
            ApiError::Concurrency {
                current,
                version,
                if_match,
            } => {
                let status = if if_match {
                    StatusCode::PRECONDITION_FAILED
                } else {
                    StatusCode::CONFLICT
                };
                let mut response = json_response(status, &current);
                if let Ok(v) = HeaderValue::from_str(&version) {
                    response.headers_mut().insert(header::ETAG, v);
                }
                response
            }
            ApiError::Unexpected(message) => json_response(
                StatusCode::INTERNAL_SERVER_ERROR,
                &json!({ "message": message }),
            ),
            ApiError::Unavailable(message) => json_response(
                StatusCode::SERVICE_UNAVAILABLE,
                &json!({ "error": "Service Unavailable", "message": message }),
            ),
            ApiError::MalformedJson => (
                StatusCode::BAD_REQUEST,
                [(
                    header::CONTENT_TYPE,
                    HeaderValue::from_static("text/html; charset=utf-8"),
                )],
                error_page("Bad Request"),
            )
                .into_response(),
        }
    }
}

/// Express's default error page.
pub fn error_page(text: &str) -> String {
    let escaped = text
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;");
    format!(
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n<title>Error</title>\n</head>\n\
         <body>\n<pre>{escaped}</pre>\n</body>\n</html>\n"
    )
}

#[cfg(test)]
mod tests {
    use sea_orm::{ConnAcquireErr, DbErr};

    use super::*;

    #[test]
    fn an_unreachable_database_is_a_503_with_the_message_and_other_failures_keep_their_answer() {
        let refused = ApiError::rejected("Error", "Operation failed: cira1");
        let down = DbErr::ConnectionAcquire(ConnAcquireErr::Timeout);
        let response = refused.or_unavailable(&down).into_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        let kept = ApiError::rejected("Error", "Operation failed: cira1")
            .or_unavailable(&DbErr::Custom("constraint".into()));
        assert!(matches!(kept, ApiError::Rejected { .. }));
        match ApiError::rejected("Error", "Operation failed: cira1").or_unavailable(&down) {
            ApiError::Unavailable(message) => assert_eq!(
                message,
                "Operation failed: cira1: the database is unavailable; try again later"
            ),
            other => panic!("{other:?}"),
        }
    }
}
