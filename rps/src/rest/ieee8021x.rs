//! `/api/v1/admin/ieee8021xconfigs` (rps.md §1.8). No secrets: EAP credentials come from the Enterprise
//! Assistant at activation.

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
use serde_json::{Map, Value};

use super::AppState;
use super::common::{boolean, db_failure, if_match, int, text};
use super::error::{ApiError, json_response};
use super::http::parse_body;
use super::page::{Listing, Page};
use super::validate::{FieldError, Validator, js_integer, js_string};
use crate::db::entities::ieee8021xconfigs::{self, Column, Entity as Ieee8021x};
use crate::db::entities::{profiles, wirelessconfigs};
use crate::db::{Versioned, Violation, select_versioned, version_matches, violation};

static ALNUM: LazyLock<Regex> =
    LazyLock::new(|| Regex::new("^[a-zA-Z0-9]+$").expect("valid regex"));

const WIRED: &[(i64, &str)] = &[
    (0, "EAP-TLS"),
    (3, "PEAPv1/EAP-GTC"),
    (5, "EAP-FAST/GTC"),
    (10, "EAP-FAST/TLS"),
    (2, "PEAPv0/EAP-MSCHAPv2"),
];
const WIRELESS: &[(i64, &str)] = &[(0, "EAP-TLS"), (2, "PEAPv0/EAP-MSCHAPv2")];

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct IeeeView {
    profile_name: String,
    authentication_protocol: Option<i32>,
    pxe_timeout: Option<i32>,
    wired_interface: bool,
    tenant_id: String,
    version: String,
}

impl From<Versioned<ieee8021xconfigs::Model>> for IeeeView {
    fn from(row: Versioned<ieee8021xconfigs::Model>) -> Self {
        let m = row.model;
        IeeeView {
            profile_name: m.profile_name,
            authentication_protocol: m.auth_protocol,
            pxe_timeout: m.pxe_timeout,
            wired_interface: m.wired_interface,
            tenant_id: m.tenant_id,
            version: row.version,
        }
    }
}

fn js_truthy(v: Option<&Value>) -> bool {
    match v {
        None | Some(Value::Null) => false,
        Some(Value::Bool(b)) => *b,
        Some(Value::Number(n)) => n.as_f64().is_some_and(|f| f != 0.0),
        Some(Value::String(s)) => !s.is_empty(),
        Some(_) => true,
    }
}

pub fn validate(body: &Value, patch: bool) -> Result<Map<String, Value>, Vec<FieldError>> {
    let raw = body.as_object().cloned().unwrap_or_default();
    let wired = js_truthy(raw.get("wiredInterface"));
    let wired_text_true = js_string(raw.get("wiredInterface")).eq_ignore_ascii_case("true");
    let mut v = Validator::body(body);
    v.check("profileName")
        .not_empty()
        .with_message("802.1x profile name is required")
        .matches(&ALNUM)
        .with_message("802.1x profile name should be alphanumeric")
        .is_length(None, Some(32))
        .with_message("802.1x profile name maximum length is 32");
    v.check("wiredInterface")
        .not_empty()
        .with_message("Wired interface flag is required");
    v.check("authenticationProtocol")
        .not_empty()
        .with_message("Authentication protocol is required")
        .custom(|value| {
            let allowed = if wired { WIRED } else { WIRELESS };
            let protocol = value
                .filter(|v| v.is_number())
                .and_then(|v| js_integer(Some(v)));
            if protocol.is_some_and(|p| allowed.iter().any(|(n, _)| *n == p)) {
                Ok(())
            } else {
                let list: Vec<String> = allowed
                    .iter()
                    .map(|(n, label)| format!("{n}:{label}"))
                    .collect();
                Err(format!(
                    "Authentication protocol must be one of {}",
                    list.join(", ")
                ))
            }
        });
    v.check("pxeTimeout")
        .when(wired_text_true)
        .not_empty()
        .with_message("PXE Timeout is required")
        .custom(|value| {
            let Some(n) = value.filter(|v| v.is_number()).and_then(Value::as_f64) else {
                return Err("PXE Timeout must be number".into());
            };
            if !(0.0..=86400.0).contains(&n) {
                return Err("PXE Timeout value should be 0 - 86400".into());
            }
            Ok(())
        });
    if patch {
        v.check("version")
            .not_empty()
            .with_message("Version is required to patch/update a record.");
    }
    v.finish()
}

async fn find(
    state: &AppState,
    name: &str,
) -> Result<Option<Versioned<ieee8021xconfigs::Model>>, sea_orm::DbErr> {
    select_versioned::<Ieee8021x>()
        .filter(Column::ProfileName.eq(name))
        .filter(Column::TenantId.eq(&*state.tenant))
        .into_model::<Versioned<ieee8021xconfigs::Model>>()
        .one(state.db.conn())
        .await
}

pub async fn list(
    State(state): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let page = match Page::from_query(&query) {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let rows = select_versioned::<Ieee8021x>()
        .filter(Column::TenantId.eq(&*state.tenant))
        .order_by_asc(Column::ProfileName)
        .limit(page.top)
        .offset(page.skip)
        .into_model::<Versioned<ieee8021xconfigs::Model>>()
        .all(state.db.conn())
        .await;
    let rows: Vec<IeeeView> = match rows {
        Ok(rows) => rows.into_iter().map(IeeeView::from).collect(),
        Err(e) => return db_failure("GET", "", e).into_response(),
    };
    let listing = if page.count {
        match Ieee8021x::find()
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
        Ok(Some(row)) => json_response(StatusCode::OK, &IeeeView::from(row)),
        Ok(None) => ApiError::not_found("802.1x", &name).into_response(),
        Err(e) => db_failure("GET", &name, e).into_response(),
    }
}

pub async fn create(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let result = async {
        let body = parse_body(&headers, &body)?;
        let body = validate(&body, false).map_err(ApiError::Validation)?;
        let name = text(&body, "profileName").unwrap_or_default();
        let row = ieee8021xconfigs::ActiveModel {
            profile_name: Set(name.clone()),
            auth_protocol: Set(int(&body, "authenticationProtocol")),
            servername: Set(None),
            domain: Set(None),
            username: Set(None),
            password: Set(None),
            roaming_identity: Set(None),
            active_in_s0: Set(None),
            pxe_timeout: Set(Some(int(&body, "pxeTimeout").unwrap_or(120))),
            wired_interface: Set(boolean(&body, "wiredInterface").unwrap_or(false)),
            tenant_id: Set(state.tenant.to_string()),
        };
        if let Err(e) = Ieee8021x::insert(row)
            .exec_without_returning(state.db.conn())
            .await
        {
            return Err(match violation(&e) {
                Some(Violation::Unique) => ApiError::rejected(
                    "Unique key violation",
                    format!("802.1x config: {name} already exists"),
                ),
                _ => {
                    tracing::error!(profile = %name, error = %e, "inserting 802.1x config failed");
                    ApiError::rejected("Error", format!("802.1x insertion failed for {name}"))
                        .or_unavailable(&e)
                }
            });
        }
        match find(&state, &name).await {
            Ok(Some(row)) => Ok(IeeeView::from(row)),
            Ok(None) => Err(ApiError::unexpected(
                "POST",
                &name,
                "802.1x config vanished after insert",
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
        let body = validate(&body, true).map_err(ApiError::Validation)?;
        let name = text(&body, "profileName").unwrap_or_default();
        let old = match find(&state, &name).await {
            Ok(Some(old)) => old,
            Ok(None) => return Err(ApiError::not_found("802.1x", &name)),
            Err(e) => return Err(db_failure("PATCH", &name, e)),
        };
        let has = |field: &str| body.contains_key(field);
        let mut row = old.model.clone().into_active_model();
        if has("authenticationProtocol") {
            row.auth_protocol = Set(int(&body, "authenticationProtocol"));
        }
        if has("pxeTimeout") {
            row.pxe_timeout = Set(int(&body, "pxeTimeout"));
        }
        if let Some(wired) = boolean(&body, "wiredInterface") {
            row.wired_interface = Set(wired);
        }
        row.servername = Set(text(&body, "serverName"));
        row.domain = Set(text(&body, "domain"));
        row.username = Set(text(&body, "username"));
        row.roaming_identity = Set(text(&body, "roamingIdentity"));
        row.active_in_s0 = Set(boolean(&body, "activeInS0"));
        let sent_version = text(&body, "version").unwrap_or_default();
        let update = Ieee8021x::update_many()
            .set(row)
            .filter(Column::ProfileName.eq(&name))
            .filter(Column::TenantId.eq(&*state.tenant))
            .filter(version_matches(&sent_version))
            .exec(state.db.conn())
            .await;
        let updated = match update {
            Ok(r) => r.rows_affected,
            Err(e) => {
                tracing::error!(profile = %name, error = %e, "updating 802.1x config failed");
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
            return Err(ApiError::not_found("802.1x", &name));
        };
        if updated == 0 {
            let version = current.version.clone();
            let view = serde_json::to_value(IeeeView::from(current)).unwrap_or(Value::Null);
            return Err(ApiError::Concurrency {
                current: view,
                version,
                if_match: if_match(&headers).is_some(),
            });
        }
        Ok(IeeeView::from(current))
    }
    .await;
    match result {
        Ok(view) => json_response(StatusCode::OK, &view),
        Err(e) => e.into_response(),
    }
}

pub async fn delete(State(state): State<AppState>, Path(name): Path<String>) -> Response {
    let tenant = &*state.tenant;
    let by_profiles = profiles::Entity::find()
        .filter(profiles::Column::Ieee8021xProfileName.eq(&name))
        .filter(profiles::Column::TenantId.eq(tenant))
        .count(state.db.conn())
        .await;
    let by_wireless = wirelessconfigs::Entity::find()
        .filter(wirelessconfigs::Column::Ieee8021xProfileName.eq(&name))
        .filter(wirelessconfigs::Column::TenantId.eq(tenant))
        .count(state.db.conn())
        .await;
    match (by_profiles, by_wireless) {
        (Ok(p), _) if p > 0 => {
            return ApiError::rejected(
                "Error",
                format!("802.1x config: {name} is associated with an AMT Profile."),
            )
            .into_response();
        }
        (Ok(_), Ok(w)) if w > 0 => {
            return ApiError::rejected(
                "Error",
                format!("802.1x config: {name} is associated with a wireless profile."),
            )
            .into_response();
        }
        (Err(e), _) | (_, Err(e)) => return db_failure("DELETE", &name, e).into_response(),
        _ => {}
    }
    let deleted = Ieee8021x::delete_many()
        .filter(Column::ProfileName.eq(&name))
        .filter(Column::TenantId.eq(tenant))
        .exec(state.db.conn())
        .await;
    match deleted {
        Ok(r) if r.rows_affected > 0 => StatusCode::NO_CONTENT.into_response(),
        Ok(_) => ApiError::not_found("802.1x", &name).into_response(),
        Err(e) if violation(&e) == Some(Violation::ForeignKey) => ApiError::rejected(
            "Error",
            format!("802.1x config: {name} is associated with an AMT Profile."),
        )
        .into_response(),
        Err(e) => {
            tracing::error!(profile = %name, error = %e, "deleting 802.1x config failed");
            ApiError::rejected(
                "Error",
                format!("Operation failed: Delete 802.1x configuration : {name}"),
            )
            .or_unavailable(&e)
            .into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn messages(result: Result<Map<String, Value>, Vec<FieldError>>) -> Vec<(String, String)> {
        result
            .err()
            .unwrap_or_default()
            .into_iter()
            .map(|e| (e.path, e.msg))
            .collect()
    }

    #[test]
    fn protocols_depend_on_the_interface_and_pxe_timeout_on_wired() {
        let wired = json!({"profileName": "w", "wiredInterface": true, "authenticationProtocol": 1, "pxeTimeout": 90000});
        assert_eq!(
            messages(validate(&wired, false)),
            vec![
                ("authenticationProtocol".to_owned(), "Authentication protocol must be one of 0:EAP-TLS, 3:PEAPv1/EAP-GTC, 5:EAP-FAST/GTC, 10:EAP-FAST/TLS, 2:PEAPv0/EAP-MSCHAPv2".to_owned()),
                ("pxeTimeout".to_owned(), "PXE Timeout value should be 0 - 86400".to_owned()),
            ]
        );
        let wireless =
            json!({"profileName": "wl", "wiredInterface": false, "authenticationProtocol": 3});
        assert_eq!(
            messages(validate(&wireless, false)),
            vec![(
                "authenticationProtocol".to_owned(),
                "Authentication protocol must be one of 0:EAP-TLS, 2:PEAPv0/EAP-MSCHAPv2"
                    .to_owned()
            )]
        );
        let text_timeout = json!({"profileName": "w", "wiredInterface": true, "authenticationProtocol": 0, "pxeTimeout": "120"});
        assert_eq!(
            messages(validate(&text_timeout, false)),
            vec![(
                "pxeTimeout".to_owned(),
                "PXE Timeout must be number".to_owned()
            )]
        );
        assert_eq!(
            messages(validate(
                &json!({"profileName": "n", "wiredInterface": true, "authenticationProtocol": 0}),
                true
            )),
            vec![
                (
                    "pxeTimeout".to_owned(),
                    "PXE Timeout is required".to_owned()
                ),
                (
                    "pxeTimeout".to_owned(),
                    "PXE Timeout must be number".to_owned()
                ),
                (
                    "version".to_owned(),
                    "Version is required to patch/update a record.".to_owned()
                ),
            ]
        );
    }
}
