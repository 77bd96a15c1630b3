//! `/api/v1/admin/ciraconfigs` (rps.md §1.5). A static MPS password lives in the secret store at
//! `CIRAConfigs/<configName>` as `{MPS_PASSWORD}`, never in the table and never in a response.

use std::collections::HashMap;
use std::sync::LazyLock;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use regex::Regex;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, EntityTrait, IntoActiveModel, PaginatorTrait, QueryFilter,
    QueryOrder, QuerySelect,
};
use serde::Serialize;
use serde_json::{Map, Value, json};

use super::AppState;
use super::addresses::{CIRA_IPV4, CIRA_IPV6, cira_fqdn};
use super::common::{db_failure, if_match, int, non_empty, text, version};
use super::error::{ApiError, json_response};
use super::http::parse_body;
use super::page::{Listing, Page};
use super::validate::{FieldError, Validator, js_integer};
use crate::db::entities::ciraconfigs::{self, Column, Entity as CiraConfigs};
use crate::db::{Versioned, Violation, select_versioned, version_matches, violation};

static NAME: LazyLock<Regex> =
    LazyLock::new(|| Regex::new("^[a-zA-Z0-9_-]+$").expect("valid regex"));
static ALNUM: LazyLock<Regex> =
    LazyLock::new(|| Regex::new("^[a-zA-Z0-9]+$").expect("valid regex"));

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct CiraView {
    config_name: String,
    mps_server_address: Option<String>,
    mps_port: Option<i32>,
    username: Option<String>,
    common_name: Option<String>,
    server_address_format: Option<i32>,
    auth_method: Option<i32>,
    mps_root_certificate: Option<String>,
    proxy_details: Option<String>,
    tenant_id: String,
    version: String,
}

impl From<Versioned<ciraconfigs::Model>> for CiraView {
    fn from(row: Versioned<ciraconfigs::Model>) -> Self {
        let m = row.model;
        CiraView {
            config_name: m.cira_config_name,
            mps_server_address: m.mps_server_address,
            mps_port: m.mps_port,
            username: m.user_name,
            common_name: m.common_name,
            server_address_format: m.server_address_format,
            auth_method: m.auth_method,
            mps_root_certificate: m.mps_root_certificate,
            proxy_details: m.proxydetails,
            tenant_id: m.tenant_id,
            version: row.version,
        }
    }
}

async fn find(
    state: &AppState,
    name: &str,
) -> Result<Option<Versioned<ciraconfigs::Model>>, sea_orm::DbErr> {
    select_versioned::<CiraConfigs>()
        .filter(Column::CiraConfigName.eq(name))
        .filter(Column::TenantId.eq(&*state.tenant))
        .into_model::<Versioned<ciraconfigs::Model>>()
        .one(state.db.conn())
        .await
}

/// The format rule on `mpsServerAddress`: the address must fit `serverAddressFormat` (3 IPv4 + commonName,
/// 4 IPv6, 201 lower-case FQDN or IPv4). The reference compares the format as a number, strictly.
fn address_fits_format(value: Option<&Value>, body: &Map<String, Value>) -> Result<(), String> {
    let format = body.get("serverAddressFormat").filter(|v| !v.is_null());
    let Some(format) = format else {
        return Err("serverAddressFormat is required".into());
    };
    let Some(value) = value.filter(|v| !v.is_null()) else {
        return Ok(());
    };
    let numeric = if format.is_number() {
        js_integer(Some(format))
    } else {
        None
    };
    let Some(text) = value.as_str() else {
        return match numeric {
            Some(3 | 4 | 201) => Err("value.match is not a function".into()),
            _ => Ok(()),
        };
    };
    match numeric {
        Some(3) if !CIRA_IPV4.is_match(text) => {
            Err("serverAddressFormat 3 requires IPV4 server address".into())
        }
        Some(3) if body.get("commonName").is_none_or(Value::is_null) => {
            Err("commonName is required when serverAddressFormat is 3".into())
        }
        Some(4) if !CIRA_IPV6.is_match(text) => {
            Err("serverAddressFormat 4 requires IPV6 server address".into())
        }
        Some(201) if !cira_fqdn(text) && !CIRA_IPV4.is_match(text) => {
            Err("serverAddressFormat 201 requires FQDN server address".into())
        }
        _ => Ok(()),
    }
}

fn format_is_201(body: &Map<String, Value>) -> bool {
    body.get("serverAddressFormat")
        .is_some_and(|f| f.is_number() && js_integer(Some(f)) == Some(201))
}

pub fn validate_create(body: &Value) -> Result<Map<String, Value>, Vec<FieldError>> {
    let raw = body.as_object().cloned().unwrap_or_default();
    let mut v = Validator::body(body);
    v.check("configName")
        .not_empty()
        .with_message("CIRA profile name is required")
        .matches(&NAME)
        .with_message("CIRA profile name accepts letters, numbers, underscore and hyphen only");
    v.check("serverAddressFormat")
        .not_empty()
        .with_message("MPS server address format is required")
        .is_in(&["3", "4", "201"])
        .with_message("MPS server address format should be either 3(IPV4) , 4(IPV6) or 201(FQDN)");
    v.check("mpsServerAddress")
        .not_empty()
        .with_message("MPS server address is required")
        .custom(|value| address_fits_format(value, &raw));
    v.check("mpsPort")
        .not_empty()
        .with_message("MPS port is required")
        .is_int(Some(1024), Some(49151))
        .with_message("MPS Port value should range between 1024 and 49151");
    v.check("username")
        .not_empty()
        .with_message("MPS user name is required")
        .matches(&ALNUM)
        .with_message("MPS user name should be alphanumeric")
        .is_length(Some(5), Some(16))
        .with_message("MPS user name length should be in between 5 to 16");
    v.check("commonName")
        .when(!format_is_201(&raw))
        .optional()
        .matches(&CIRA_IPV4)
        .with_message("Cert. Hostname(CN) should be an IP address.");
    v.check("authMethod")
        .not_empty()
        .with_message("Authentication method is required")
        .is_in(&["1", "2"])
        .with_message(
            "Authentication method should be either 1 (Mutual Auth) or 2 (username and password)",
        );
    v.check("mpsRootCertificate")
        .not_empty()
        .with_message("MPS public root certificate is required");
    v.finish()
}

pub fn validate_update(body: &Value) -> Result<Map<String, Value>, Vec<FieldError>> {
    let raw = body.as_object().cloned().unwrap_or_default();
    let present = |key: &str| raw.get(key).is_some_and(|v| !v.is_null());
    let (has_address, has_format) = (present("mpsServerAddress"), present("serverAddressFormat"));
    let mut v = Validator::body(body);
    v.check("configName")
        .not_empty()
        .with_message("CIRA profile name is required")
        .matches(&NAME)
        .with_message("CIRA profile name accepts letters, numbers, underscore and hyphen only");
    v.check("serverAddressFormat")
        .optional()
        .is_in(&["3", "4", "201"])
        .with_message("MPS server address format 3(IPV4) , 4(IPV6) or 201(FQDN)")
        .custom(|_| {
            if has_address {
                Ok(())
            } else {
                Err("Server address is required to update".into())
            }
        });
    v.check("mpsServerAddress")
        .optional()
        .custom(|value| address_fits_format(value, &raw));
    v.check("mpsPort").optional().custom(|value| {
        let port = value.filter(|v| v.is_number()).and_then(Value::as_f64);
        match port {
            Some(p) if p > 1024.0 && p < 49151.0 => Ok(()),
            _ => Err("MPS Port value should range between 1024 and 49151".into()),
        }
    });
    v.check("username")
        .optional()
        .matches(&ALNUM)
        .with_message("MPS user name should be alphanumeric")
        .is_length(Some(5), Some(16))
        .with_message("MPS user name length should be in between 5 to 16");
    v.check("commonName")
        .when(!format_is_201(&raw))
        .optional()
        .matches(&CIRA_IPV4)
        .with_message("Cert. Hostname(CN) should be an IP address.")
        .custom(|_| {
            if has_format && has_address {
                Ok(())
            } else {
                Err("serverAddressFormat and mpsServerAddress is required".into())
            }
        });
    v.check("authMethod")
        .optional()
        .is_in(&["1", "2"])
        .with_message(
            "Authentication method accepts either 1 - Mutual Auth or 2 -username/password)",
        );
    v.check("regeneratePassword").optional().is_boolean();
    v.finish()
}

pub async fn list(
    State(state): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let page = match Page::from_query(&query) {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let rows = select_versioned::<CiraConfigs>()
        .filter(Column::TenantId.eq(&*state.tenant))
        .order_by_asc(Column::CiraConfigName)
        .limit(page.top)
        .offset(page.skip)
        .into_model::<Versioned<ciraconfigs::Model>>()
        .all(state.db.conn())
        .await;
    let rows: Vec<CiraView> = match rows {
        Ok(rows) => rows.into_iter().map(CiraView::from).collect(),
        Err(e) => return db_failure("GET", "", e).into_response(),
    };
    let listing = if page.count {
        match CiraConfigs::find()
            .filter(Column::TenantId.eq(&*state.tenant))
            .count(state.db.conn())
            .await
        {
            Ok(total_count) => Listing::Counted {
                data: rows,
                total_count,
            },
            Err(e) => return db_failure("GET", "", e).into_response(),
        }
    } else {
        Listing::Plain(rows)
    };
    json_response(StatusCode::OK, &listing)
}

pub async fn get(State(state): State<AppState>, Path(name): Path<String>) -> Response {
    match find(&state, &name).await {
        Ok(Some(row)) => json_response(StatusCode::OK, &CiraView::from(row)),
        Ok(None) => ApiError::not_found("CIRA", &name).into_response(),
        Err(e) => db_failure("GET", &name, e).into_response(),
    }
}

fn secret(password: &str) -> serde_json::Map<String, Value> {
    json!({ "MPS_PASSWORD": password })
        .as_object()
        .cloned()
        .unwrap_or_default()
}

pub async fn create(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let result = async {
        let body = parse_body(&headers, &body)?;
        let body = validate_create(&body).map_err(ApiError::Validation)?;
        let name = text(&body, "configName").unwrap_or_default();
        if let Some(password) = non_empty(&body, "password") {
            state
                .secrets
                .put(&format!("CIRAConfigs/{name}"), secret(&password))
                .await
                .map_err(|e| ApiError::unexpected("POST", &name, e))?;
        }
        let row = ciraconfigs::ActiveModel {
            cira_config_name: Set(name.clone()),
            mps_server_address: Set(text(&body, "mpsServerAddress")),
            mps_port: Set(int(&body, "mpsPort")),
            user_name: Set(text(&body, "username")),
            password: Set(None),
            common_name: Set(text(&body, "commonName")),
            server_address_format: Set(int(&body, "serverAddressFormat")),
            auth_method: Set(int(&body, "authMethod")),
            mps_root_certificate: Set(text(&body, "mpsRootCertificate")),
            proxydetails: Set(text(&body, "proxyDetails")),
            tenant_id: Set(state.tenant.to_string()),
        };
        if let Err(e) = CiraConfigs::insert(row)
            .exec_without_returning(state.db.conn())
            .await
        {
            return Err(match violation(&e) {
                Some(Violation::Unique) => ApiError::rejected(
                    "Unique key violation",
                    format!("CIRA Config {name} already exists."),
                ),
                _ => {
                    tracing::error!(config = %name, error = %e, "inserting CIRA config failed");
                    ApiError::rejected("Error", format!("Operation failed: {name}"))
                        .or_unavailable(&e)
                }
            });
        }
        tracing::info!(config = %name, "created CIRA config");
        match find(&state, &name).await {
            Ok(Some(row)) => Ok(CiraView::from(row)),
            Ok(None) => Err(ApiError::unexpected(
                "POST",
                &name,
                "CIRA config vanished after insert",
            )),
            Err(e) => Err(db_failure("POST", &name, e)),
        }
    }
    .await;
    match result {
        Ok(view) => json_response(StatusCode::CREATED, &view),
        Err(e) => e.into_response(),
    }
}

pub async fn edit(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let result = async {
        let body = parse_body(&headers, &body)?;
        let body = validate_update(&body).map_err(ApiError::Validation)?;
        let name = text(&body, "configName").unwrap_or_default();
        let old = match find(&state, &name).await {
            Ok(Some(old)) => old,
            Ok(None) => return Err(ApiError::not_found("CIRA", &name)),
            Err(e) => return Err(db_failure("PATCH", &name, e)),
        };
        let sent_version = version(&body, &headers, true).unwrap_or_default();
        let mut row = old.model.clone().into_active_model();
        let merge_text =
            |field: &str, old: &Option<String>| text(&body, field).or_else(|| old.clone());
        let merge_int = |field: &str, old: Option<i32>| int(&body, field).or(old);
        row.mps_server_address = Set(merge_text(
            "mpsServerAddress",
            &old.model.mps_server_address,
        ));
        row.mps_port = Set(merge_int("mpsPort", old.model.mps_port));
        row.user_name = Set(merge_text("username", &old.model.user_name));
        row.common_name = Set(merge_text("commonName", &old.model.common_name));
        row.server_address_format = Set(merge_int(
            "serverAddressFormat",
            old.model.server_address_format,
        ));
        row.mps_root_certificate = Set(merge_text(
            "mpsRootCertificate",
            &old.model.mps_root_certificate,
        ));
        row.proxydetails = Set(merge_text("proxyDetails", &old.model.proxydetails));
        row.auth_method = Set(merge_int("authMethod", old.model.auth_method));
        let update = CiraConfigs::update_many()
            .set(row)
            .filter(Column::CiraConfigName.eq(&name))
            .filter(Column::TenantId.eq(&*state.tenant))
            .filter(version_matches(&sent_version))
            .exec(state.db.conn())
            .await;
        let updated = match update {
            Ok(r) => r.rows_affected,
            Err(e) => {
                tracing::error!(config = %name, error = %e, "updating CIRA config failed");
                return Err(
                    ApiError::rejected("Error", format!("Operation failed: {name}"))
                        .or_unavailable(&e),
                );
            }
        };
        let current = find(&state, &name)
            .await
            .map_err(|e| db_failure("PATCH", &name, e))?;
        let Some(current) = current else {
            return Err(ApiError::not_found("CIRA", &name));
        };
        if updated == 0 {
            let version = current.version.clone();
            let view = serde_json::to_value(CiraView::from(current)).unwrap_or(Value::Null);
            return Err(ApiError::Concurrency {
                current: view,
                version,
                if_match: if_match(&headers).is_some(),
            });
        }
        // A new static password goes to the secret store (the reference wrote it into the table).
        if let Some(password) = non_empty(&body, "password") {
            state
                .secrets
                .put(
                    &format!("CIRAConfigs/{}", old.model.cira_config_name),
                    secret(&password),
                )
                .await
                .map_err(|e| ApiError::unexpected("PATCH", &name, e))?;
        }
        Ok(CiraView::from(current))
    }
    .await;
    match result {
        Ok(view) => json_response(StatusCode::OK, &view),
        Err(e) => e.into_response(),
    }
}

pub async fn delete(State(state): State<AppState>, Path(name): Path<String>) -> Response {
    let deleted = CiraConfigs::delete_many()
        .filter(Column::CiraConfigName.eq(&name))
        .filter(Column::TenantId.eq(&*state.tenant))
        .exec(state.db.conn())
        .await;
    match deleted {
        Ok(r) if r.rows_affected > 0 => {
            if let Err(e) = state.secrets.delete(&format!("CIRAConfigs/{name}")).await {
                return ApiError::unexpected("DELETE", &name, e).into_response();
            }
            StatusCode::NO_CONTENT.into_response()
        }
        Ok(_) => ApiError::not_found("CIRA", &name).into_response(),
        Err(e) if violation(&e) == Some(Violation::ForeignKey) => ApiError::rejected(
            "Foreign key violation",
            format!("CIRA Config: {name} is associated with an AMT profile"),
        )
        .into_response(),
        Err(e) => {
            tracing::error!(config = %name, error = %e, "deleting CIRA config failed");
            ApiError::rejected(
                "Error",
                format!("Operation failed: Delete CIRA config : {name}"),
            )
            .or_unavailable(&e)
            .into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn messages(result: Result<Map<String, Value>, Vec<FieldError>>) -> Vec<(String, String)> {
        result
            .err()
            .unwrap_or_default()
            .into_iter()
            .map(|e| (e.path, e.msg))
            .collect()
    }

    fn pairs<const N: usize>(list: [(&str, &str); N]) -> Vec<(String, String)> {
        list.iter()
            .map(|(p, m)| ((*p).to_owned(), (*m).to_owned()))
            .collect()
    }

    fn valid() -> Value {
        json!({"configName": "cfg", "mpsServerAddress": "192.168.8.50", "mpsPort": 4433, "username": "admin",
               "commonName": "192.168.8.50", "serverAddressFormat": 3, "authMethod": 2, "mpsRootCertificate": "c"})
    }

    #[test]
    fn post_rules_and_messages() {
        assert!(validate_create(&valid()).is_ok());
        assert_eq!(
            messages(validate_create(&json!({}))),
            pairs([
                ("configName", "CIRA profile name is required"),
                (
                    "configName",
                    "CIRA profile name accepts letters, numbers, underscore and hyphen only"
                ),
                (
                    "serverAddressFormat",
                    "MPS server address format is required"
                ),
                (
                    "serverAddressFormat",
                    "MPS server address format should be either 3(IPV4) , 4(IPV6) or 201(FQDN)"
                ),
                ("mpsServerAddress", "MPS server address is required"),
                ("mpsServerAddress", "serverAddressFormat is required"),
                ("mpsPort", "MPS port is required"),
                (
                    "mpsPort",
                    "MPS Port value should range between 1024 and 49151"
                ),
                ("username", "MPS user name is required"),
                ("username", "MPS user name should be alphanumeric"),
                (
                    "username",
                    "MPS user name length should be in between 5 to 16"
                ),
                ("authMethod", "Authentication method is required"),
                (
                    "authMethod",
                    "Authentication method should be either 1 (Mutual Auth) or 2 (username and password)"
                ),
                (
                    "mpsRootCertificate",
                    "MPS public root certificate is required"
                ),
            ])
        );
        let with = |key: &str, value: Value| {
            let mut b = valid();
            b[key] = value;
            messages(validate_create(&b))
        };
        assert_eq!(
            with("serverAddressFormat", json!(4)),
            pairs([(
                "mpsServerAddress",
                "serverAddressFormat 4 requires IPV6 server address"
            )])
        );
        let mut no_cn = valid();
        no_cn.as_object_mut().unwrap().remove("commonName");
        assert_eq!(
            messages(validate_create(&no_cn)),
            pairs([(
                "mpsServerAddress",
                "commonName is required when serverAddressFormat is 3"
            )])
        );
        // `optional()` skips only an absent field: a null commonName is checked (and fails) like an empty one.
        assert_eq!(with("commonName", Value::Null).len(), 2);
        assert_eq!(
            with("commonName", json!("host.example.com")),
            pairs([("commonName", "Cert. Hostname(CN) should be an IP address.")])
        );
        assert_eq!(with("mpsServerAddress", json!("MPS.Example.com")).len(), 1);
        let mut fqdn = valid();
        fqdn["serverAddressFormat"] = json!(201);
        fqdn["mpsServerAddress"] = json!("mps.example.com");
        fqdn["commonName"] = json!("mps.example.com");
        assert!(
            validate_create(&fqdn).is_ok(),
            "201 takes an FQDN and any commonName"
        );
    }

    #[test]
    fn patch_port_is_exclusive_and_numeric() {
        let patch = |port: Value| {
            messages(validate_update(
                &json!({"configName": "cfg", "mpsPort": port}),
            ))
        };
        let msg = pairs([(
            "mpsPort",
            "MPS Port value should range between 1024 and 49151",
        )]);
        assert_eq!(patch(json!(1024)), msg);
        assert_eq!(patch(json!("4433")), msg);
        assert!(patch(json!(4433)).is_empty());
        assert_eq!(
            messages(validate_update(
                &json!({"configName": "cfg", "serverAddressFormat": 3})
            )),
            pairs([(
                "serverAddressFormat",
                "Server address is required to update"
            )])
        );
        assert_eq!(
            messages(validate_update(
                &json!({"configName": "cfg", "commonName": "10.0.0.1"})
            )),
            pairs([(
                "commonName",
                "serverAddressFormat and mpsServerAddress is required"
            )])
        );
    }
}
