//! `GET /api/v1/admin/health` (rps.md §1.10): 200 when the database answers and the secret store is initialised
//! and unsealed, 503 otherwise, in the reference's shape.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Value, json};

use super::AppState;
use super::error::json_response;

pub async fn get(State(state): State<AppState>) -> Response {
    let db_status = match state.db.ping().await {
        Ok(()) => "OK".to_owned(),
        Err(e) => {
            tracing::warn!(error = %e, "database health check failed");
            db_error_status(&e)
        }
    };
    let (store_name, store_status, store_ready) = match state.secrets.health().await {
        Ok(h) => (h.name, h.status, h.ready),
        Err(e) => {
            tracing::warn!(error = %e, "secret store health check failed");
            // The reference reports an unreachable Vault as the text "unknown error".
            (
                "VAULT".to_owned(),
                Value::String("unknown error".into()),
                false,
            )
        }
    };
    let healthy = db_status == "OK" && store_ready;
    let body = json!({
        "db": {"name": state.db.provider_name(), "status": db_status},
        "secretStore": {"name": store_name, "status": store_status},
    });
    json_response(
        if healthy {
            StatusCode::OK
        } else {
            StatusCode::SERVICE_UNAVAILABLE
        },
        &body,
    )
}

/// The reference's database status texts: `invalid_password` for SQLSTATE 28P01, else `unknown error`.
fn db_error_status(e: &sea_orm::DbErr) -> String {
    let text = e.to_string();
    if text.contains("28P01") || text.contains("password authentication failed") {
        "invalid_password".into()
    } else {
        "unknown error".into()
    }
}
