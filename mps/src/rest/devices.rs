//! `/api/v1/devices`: the device inventory (spec §4.3).

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use axum::{Json, Router};
use serde_json::{Map, Value, json};

use super::errors::{self, device_id_not_found, empty, not_connected};
use super::validate::{self as v, Checks, INVALID, Loc};
use super::{JsonBody, query_map};
use crate::registry::{MatchColumn, RegistryError};
use crate::service::{Mps, Registered, RemoveError};

/// The tenant of every request: the stock reference sets '' (multi-tenancy needs a custom
/// middleware there too).
pub(crate) const REQUEST_TENANT: &str = "";

pub fn routes() -> Router<Mps> {
    Router::new()
        .route("/api/v1/devices", get(list).post(create).patch(update))
        .route("/api/v1/devices/stats", get(stats))
        .route("/api/v1/devices/tags", get(tags))
        .route("/api/v1/devices/{guid}", get(get_one).delete(remove))
        .route(
            "/api/v1/devices/redirectstatus/{guid}",
            get(redirect_status),
        )
        .route("/api/v1/devices/disconnect/{guid}", delete(disconnect))
        .route("/api/v1/devices/refresh/{guid}", delete(refresh))
}

fn db_failure(e: impl std::fmt::Display, what: &str) -> Response {
    tracing::error!(error = %e, "{what} failed");
    empty(StatusCode::INTERNAL_SERVER_ERROR)
}

fn check_guid_param(c: &mut Checks, guid: &str) {
    c.check(
        v::is_uuid_loose(guid),
        Loc::Params,
        "guid",
        Some(&Value::String(guid.into())),
        INVALID,
    );
}

async fn list(State(mps): State<Mps>, Query(q): Query<Vec<(String, String)>>) -> Response {
    let q = query_map(q);
    let mut c = Checks::new();
    let top = q.get("$top");
    if top.is_some() {
        c.check(
            v::int_in(top, Some(0), None),
            Loc::Query,
            "$top",
            top,
            "The number of items to return should be a positive integer",
        );
    }
    let skip = q.get("$skip");
    if skip.is_some() {
        c.check(
            v::int_in(skip, Some(0), None),
            Loc::Query,
            "$skip",
            skip,
            "The number of items to skip before starting to collect the result set should be a positive integer",
        );
    }
    let count = q.get("$count");
    if count.is_some() {
        c.check(
            v::is_boolean_loose(count),
            Loc::Query,
            "$count",
            count,
            "To return total number of records in result set should be boolean",
        );
    }
    let hostname = q.get("hostname");
    if let Some(h) = hostname {
        c.check(
            v::js_string(Some(h)).chars().count() <= 256,
            Loc::Query,
            "hostname",
            hostname,
            INVALID,
        );
    }
    let status = q.get("status");
    if status.is_some() {
        c.check(v::is_numeric(status), Loc::Query, "status", status, INVALID);
        c.check(
            v::in_numbers(status, &[0, 1]),
            Loc::Query,
            "status",
            status,
            INVALID,
        );
    }
    let method = q.get("method");
    if let Some(m) = method {
        c.check(
            matches!(m.as_str(), Some("AND" | "OR")),
            Loc::Query,
            "method",
            method,
            INVALID,
        );
    }
    if let Err(r) = c.finish() {
        return r.into_response();
    }
    let top = v::as_i64(top).unwrap_or(25).max(0) as u64;
    let skip = v::as_i64(skip).unwrap_or(0).max(0) as u64;
    let reg = mps.registry();
    let tenant = REQUEST_TENANT;
    let str_of = |k: &str| q.get(k).and_then(Value::as_str);
    let result = if let Some(tags) = str_of("tags") {
        let tags: Vec<String> = tags.split(',').map(str::to_string).collect();
        reg.list_by_tags(tenant, &tags, str_of("method") == Some("AND"), top, skip)
            .await
    } else if let Some(h) = str_of("hostname") {
        reg.list_matching(tenant, MatchColumn::Hostname, h).await
    } else if let Some(f) = str_of("friendlyName") {
        reg.list_matching(tenant, MatchColumn::FriendlyName, f)
            .await
    } else {
        reg.list(tenant, top, skip).await
    };
    let mut devices = match result {
        Ok(d) => d,
        Err(e) => return db_failure(e, "device list"),
    };
    // The reference filters by status after paging; the UI lives with it, so do we.
    if let Some(s) = v::as_i64(status) {
        devices.retain(|d| d.connection_status.unwrap_or(false) == (s == 1));
    }
    let data: Vec<Value> = devices.iter().map(|d| d.to_list_json()).collect();
    if v::as_bool(count) {
        match reg.count(tenant).await {
            Ok(n) => Json(json!({ "data": data, "totalCount": n })).into_response(),
            Err(e) => db_failure(e, "device count"),
        }
    } else {
        Json(Value::Array(data)).into_response()
    }
}

async fn stats(State(mps): State<Mps>) -> Response {
    let reg = mps.registry();
    match (
        reg.count(REQUEST_TENANT).await,
        reg.count_connected(REQUEST_TENANT).await,
    ) {
        (Ok(total), Ok(connected)) => Json(json!({
            "totalCount": total,
            "connectedCount": connected,
            "disconnectedCount": total.saturating_sub(connected),
        }))
        .into_response(),
        (Err(e), _) | (_, Err(e)) => db_failure(e, "device stats"),
    }
}

async fn tags(State(mps): State<Mps>) -> Response {
    match mps.registry().distinct_tags(REQUEST_TENANT).await {
        Ok(t) => Json(t).into_response(),
        Err(e) => db_failure(e, "distinct tags"),
    }
}

async fn get_one(
    State(mps): State<Mps>,
    Path(guid): Path<String>,
    Query(q): Query<Vec<(String, String)>>,
) -> Response {
    let mut c = Checks::new();
    check_guid_param(&mut c, &guid);
    if let Err(r) = c.finish() {
        return r.into_response();
    }
    let q = query_map(q);
    let tenant = if REQUEST_TENANT.is_empty() {
        q.get("tenantId")
            .and_then(Value::as_str)
            .unwrap_or(REQUEST_TENANT)
            .to_string()
    } else {
        REQUEST_TENANT.to_string()
    };
    match mps.registry().get(&guid, None).await {
        Ok(Some(d)) if d.tenant_id == tenant => Json(d.to_full_json()).into_response(),
        Ok(Some(_)) => empty(StatusCode::NO_CONTENT),
        Ok(None) => empty(StatusCode::NOT_FOUND),
        Err(e) => db_failure(e, "device get"),
    }
}

async fn redirect_status(State(mps): State<Mps>, Path(guid): Path<String>) -> Response {
    let mut c = Checks::new();
    check_guid_param(&mut c, &guid);
    if let Err(r) = c.finish() {
        return r.into_response();
    }
    let Some(conn) = mps.connections().get(&guid) else {
        return not_connected(&guid);
    };
    let (kvm, sol, ider) = conn.redirection.snapshot();
    Json(json!({ "isKVMConnected": kvm, "isSOLConnected": sol, "isIDERConnected": ider }))
        .into_response()
}

/// The device body validator of POST and PATCH (spec §4.3.1), checks in the reference's order.
pub(crate) fn validate_device_body(body: &Map<String, Value>) -> Result<(), v::Rejected> {
    let mut c = Checks::new();
    let field = |k: &str| body.get(k);
    let present = |k: &str| matches!(body.get(k), Some(x) if !x.is_null());

    let guid = field("guid");
    c.check(
        v::is_uuid_loose(&v::js_string(guid)),
        Loc::Body,
        "guid",
        guid,
        INVALID,
    );
    c.check(
        matches!(guid, Some(Value::String(_))),
        Loc::Body,
        "guid",
        guid,
        INVALID,
    );

    if present("friendlyName") {
        c.check(
            field("friendlyName").is_some_and(Value::is_string),
            Loc::Body,
            "friendlyName",
            field("friendlyName"),
            INVALID,
        );
    }
    if present("hostname") {
        let h = field("hostname");
        c.check(
            h.is_some_and(Value::is_string),
            Loc::Body,
            "hostname",
            h,
            INVALID,
        );
        c.check(
            v::js_string(h).chars().count() <= 255,
            Loc::Body,
            "hostname",
            h,
            "Hostname must be less than 256 characters",
        );
    }
    if present("dnsSuffix") {
        let d = field("dnsSuffix");
        match d {
            Some(Value::String(s)) => {
                c.check(
                    s.chars().count() <= 255,
                    Loc::Body,
                    "dnsSuffix",
                    d,
                    "dnsSuffix must be less than 256 characters",
                );
                if !s.is_empty() {
                    c.check(
                        v::is_dns_suffix(s),
                        Loc::Body,
                        "dnsSuffix",
                        d,
                        "dnsSuffix must be a valid DNS suffix",
                    );
                }
            }
            _ => c.fail(Loc::Body, "dnsSuffix", d, INVALID),
        }
    }
    if present("mpsusername") {
        c.check(
            field("mpsusername").is_some_and(Value::is_string),
            Loc::Body,
            "mpsusername",
            field("mpsusername"),
            INVALID,
        );
    }
    for k in ["connect", "disconnect"] {
        if present(k) {
            c.check(
                v::is_iso8601(&v::js_string(field(k))),
                Loc::Body,
                k,
                field(k),
                INVALID,
            );
        }
    }
    if let Some(t) = field("tags") {
        const MSG: &str = "tags should be an array of strings";
        match t {
            Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    c.check(
                        item.is_string(),
                        Loc::Body,
                        &format!("tags[{i}]"),
                        Some(item),
                        MSG,
                    );
                }
            }
            _ => c.fail(Loc::Body, "tags", Some(t), MSG),
        }
    }
    if present("deviceInfo") {
        c.check(
            field("deviceInfo").is_some_and(Value::is_object),
            Loc::Body,
            "deviceInfo",
            field("deviceInfo"),
            "deviceInfo should be an object if provided",
        );
    }
    if present("tenantId") {
        let t = field("tenantId");
        c.check(
            t.is_some_and(|x| x.as_str().is_some_and(|s| s.chars().count() <= 36)),
            Loc::Body,
            "tenantId",
            t,
            INVALID,
        );
    }
    c.finish()
}

async fn create(State(mps): State<Mps>, JsonBody(body): JsonBody) -> Response {
    if let Err(r) = validate_device_body(&body) {
        return r.into_response();
    }
    match mps.register_device(&body).await {
        Ok(Registered::Created(d)) => (StatusCode::CREATED, Json(d.to_full_json())).into_response(),
        Ok(Registered::Updated(d)) => Json(d.to_full_json()).into_response(),
        Err(RegistryError::AlreadyExists(g)) => (
            StatusCode::BAD_REQUEST,
            Json(json!({ "error": "Unique key violation", "message": format!("Device ID: {g} already exists") })),
        )
            .into_response(),
        Err(e) => {
            let guid = body.get("guid").and_then(Value::as_str).unwrap_or_default();
            tracing::error!(guid, error = %e, "device create failed");
            (
                StatusCode::INTERNAL_SERVER_ERROR,
                Json(json!({ "error": "Error", "message": format!("Failed to update device: {guid}") })),
            )
                .into_response()
        }
    }
}

async fn update(State(mps): State<Mps>, JsonBody(body): JsonBody) -> Response {
    if let Err(r) = validate_device_body(&body) {
        return r.into_response();
    }
    let guid = body
        .get("guid")
        .and_then(Value::as_str)
        .unwrap_or_default()
        .to_string();
    let reg = mps.registry();
    let row = match reg.get(&guid, Some(REQUEST_TENANT)).await {
        Ok(Some(r)) => r,
        Ok(None) => return device_id_not_found(&guid),
        Err(e) => return db_failure(e, "device update"),
    };
    let merged = match row.merged_with(&body) {
        Ok(m) => crate::registry::Device {
            tenant_id: row.tenant_id.clone(),
            ..m
        },
        Err(_) => return errors::malformed_json(),
    };
    match reg.update(&merged).await {
        Ok(Some(d)) => Json(d.to_full_json()).into_response(),
        Ok(None) => device_id_not_found(&guid),
        Err(e) => db_failure(e, "device update"),
    }
}

async fn remove(
    State(mps): State<Mps>,
    Path(guid): Path<String>,
    Query(q): Query<Vec<(String, String)>>,
) -> Response {
    let q = query_map(q);
    let mut c = Checks::new();
    check_guid_param(&mut c, &guid);
    let flag = q.get("isSecretToBeDeleted");
    if flag.is_some() {
        c.check(
            v::is_boolean_loose(flag),
            Loc::Query,
            "isSecretToBeDeleted",
            flag,
            INVALID,
        );
    }
    if let Err(r) = c.finish() {
        return r.into_response();
    }
    let delete_secret = flag.and_then(Value::as_str) == Some("true");
    match mps
        .remove_device(&guid, REQUEST_TENANT, delete_secret)
        .await
    {
        Ok(true) => empty(StatusCode::NO_CONTENT),
        Ok(false) => device_id_not_found(&guid),
        Err(RemoveError::Secrets(e)) => {
            tracing::error!(guid, error = %e, "device secret delete failed");
            device_id_not_found(&guid)
        }
        Err(e) => db_failure(e, "device delete"),
    }
}

async fn disconnect(State(mps): State<Mps>, Path(guid): Path<String>) -> Response {
    let mut c = Checks::new();
    check_guid_param(&mut c, &guid);
    if let Err(r) = c.finish() {
        return r.into_response();
    }
    let Some(conn) = mps.connections().get(&guid) else {
        return not_connected(&guid);
    };
    conn.disconnect();
    Json(json!({ "success": 200, "description": format!("Device CIRA connection disconnected : {guid}") })).into_response()
}

async fn refresh(State(mps): State<Mps>, Path(guid): Path<String>) -> Response {
    let mut c = Checks::new();
    check_guid_param(&mut c, &guid);
    if let Err(r) = c.finish() {
        return r.into_response();
    }
    match mps.refresh_device(&guid).await {
        Ok(true) => Json(
            json!({ "success": 200, "description": format!("Device info refreshed : {guid}") }),
        )
        .into_response(),
        Ok(false) => empty(StatusCode::NOT_FOUND),
        Err(e) => {
            tracing::error!(guid, error = %e, "device refresh failed");
            empty(StatusCode::INTERNAL_SERVER_ERROR)
        }
    }
}
