//! `/api/v1/health`, `/api/v1/version`, `/api/v1/ciracert` (spec §4.5).

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use super::errors::{INTERNAL, api_error};
use crate::service::Mps;

pub fn routes() -> Router<Mps> {
    Router::new()
        .route("/api/v1/health", get(health))
        .route("/api/v1/version", get(version))
        .route("/api/v1/ciracert", get(ciracert))
}

async fn health(State(mps): State<Mps>) -> Response {
    let db_status = match mps.registry().ping().await {
        Ok(()) => "OK".to_string(),
        Err(e) => {
            tracing::warn!(error = %e, "health: database check failed");
            "unknown error".to_string()
        }
    };
    let (store_name, store_status, store_ready) = match mps.secrets().health().await {
        Ok(h) => (h.name, h.status, h.ready),
        Err(e) => {
            tracing::warn!(error = %e, "health: secret store check failed");
            (
                "VAULT".to_string(),
                Value::String("unreachable".into()),
                false,
            )
        }
    };
    let body = json!({
        "db": { "name": mps.registry().backend_name(), "status": db_status },
        "secretStore": { "name": store_name, "status": store_status },
    });
    let code = if db_status == "OK" && store_ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (code, Json(body)).into_response()
}

async fn version() -> Json<Value> {
    Json(json!({ "serviceVersion": env!("CARGO_PKG_VERSION") }))
}

async fn ciracert(State(mps): State<Mps>) -> Response {
    match mps.certs() {
        Some(c) => (
            [(header::CONTENT_TYPE, "text/html; charset=utf-8")],
            c.root_cert_pem.clone(),
        )
            .into_response(),
        None => api_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            INTERNAL,
            "MPS root certificate does not exist",
        ),
    }
}
