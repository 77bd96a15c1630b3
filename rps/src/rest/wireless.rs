//! `/api/v1/admin/wirelessconfigs` (rps.md §1.7). The PSK passphrase lives in the secret store at
//! `Wireless/<profileName>` as `{PSK_PASSPHRASE}`; the table holds the placeholder `PSK_PASSPHRASE`.

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
use super::common::{db_failure, if_match, int, non_empty, now, text};
use super::error::{ApiError, json_response};
use super::http::parse_body;
use super::page::{Listing, Page};
use super::validate::{FieldError, Validator, js_integer};
use crate::db::entities::wirelessconfigs::{Column, Entity as Wireless};
use crate::db::entities::{ieee8021xconfigs, profiles_wirelessconfigs, wirelessconfigs};
use crate::db::{IntArray, Versioned, Violation, select_versioned, version_matches, violation};

static ALNUM: LazyLock<Regex> =
    LazyLock::new(|| Regex::new("^[a-zA-Z0-9]+$").expect("valid regex"));
const LINK_POLICIES: [i64; 4] = [1, 14, 16, 224];

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct WirelessView {
    profile_name: String,
    authentication_method: Option<i32>,
    encryption_method: Option<i32>,
    ssid: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    psk_value: Option<Option<i32>>,
    link_policy: Option<Vec<i32>>,
    /// The reference's list query leaks its window count into every row, as a string.
    #[serde(rename = "total_count", skip_serializing_if = "Option::is_none")]
    total_count: Option<String>,
    tenant_id: String,
    ieee8021x_profile_name: Option<String>,
    version: String,
}

impl WirelessView {
    fn new(row: Versioned<wirelessconfigs::Model>, with_psk_value: bool) -> Self {
        let m = row.model;
        WirelessView {
            profile_name: m.wireless_profile_name,
            authentication_method: m.authentication_method,
            encryption_method: m.encryption_method,
            ssid: m.ssid,
            psk_value: with_psk_value.then_some(m.psk_value),
            link_policy: m.link_policy.into_items(),
            total_count: None,
            tenant_id: m.tenant_id,
            ieee8021x_profile_name: m.ieee8021x_profile_name,
            version: row.version,
        }
    }
}

fn is_psk(method: Option<&Value>) -> bool {
    method.is_some_and(|m| m.is_number() && matches!(js_integer(Some(m)), Some(4 | 6)))
}

fn is_8021x(method: Option<&Value>) -> bool {
    method.is_some_and(|m| m.is_number() && matches!(js_integer(Some(m)), Some(5 | 7)))
}

/// Facts from the database the 802.1x rule needs: whether the named profile exists and is for wired ports.
pub(crate) async fn ieee_profile(
    state: &AppState,
    body: &Value,
) -> Result<Option<bool>, sea_orm::DbErr> {
    let Some(name) = body.get("ieee8021xProfileName").and_then(Value::as_str) else {
        return Ok(None);
    };
    let row = ieee8021xconfigs::Entity::find()
        .filter(ieee8021xconfigs::Column::ProfileName.eq(name))
        .filter(ieee8021xconfigs::Column::TenantId.eq(&*state.tenant))
        .one(state.db.conn())
        .await?;
    Ok(row.map(|r| r.wired_interface))
}

/// POST (and, with `version` required, PATCH) validation. `ieee_wired`: the named 802.1x profile's
/// `wiredInterface`, `None` when it does not exist.
pub fn validate(
    body: &Value,
    ieee_wired: Option<bool>,
    patch: bool,
) -> Result<Map<String, Value>, Vec<FieldError>> {
    let raw = body.as_object().cloned().unwrap_or_default();
    let method = raw.get("authenticationMethod");
    let mut v = Validator::body(body);
    v.check("profileName")
        .not_empty()
        .with_message("Wireless profile name is required")
        .matches(&ALNUM)
        .with_message("Wireless profile name should be alphanumeric")
        .is_length(None, Some(32))
        .with_message("Wireless profile name maximum length is 32");
    v.check("authenticationMethod")
        .not_empty()
        .with_message("Authentication method is required")
        .is_in(&["4", "5", "6", "7"])
        .with_message("Authentication method must be one of 4:WPA PSK, 5:WPA IEEE 802.1x, 6:WPA2 PSK, 7:WPA2 IEEE 802.1x");
    v.check("encryptionMethod")
        .not_empty()
        .with_message("Encryption method is required")
        .is_in(&["3", "4"])
        .with_message("Encryption method must be one of 3:TKIP, 4:CCMP");
    v.check("ssid")
        .not_empty()
        .with_message("SSID is required")
        .is_length(None, Some(32))
        .with_message("Maximum length is 32");
    v.check("pskPassphrase")
        .when(is_psk(method))
        .is_length(Some(8), Some(63))
        .with_message("PSK Passphrase length should be greater than or equal to 8 and less than or equal to 63");
    v.check("ieee8021xProfileName")
        .when(is_8021x(method))
        .not_empty()
        .with_message("ieee8021xProfileName is required");
    v.check("ieee8021xProfileName")
        .when(!is_8021x(method))
        .is_empty()
        .with_message(
            "ieee8021xProfileName can not be specified with the provided authenticationMethod",
        );
    v.check("ieee8021xProfileName")
        .optional_nullable()
        .custom(|value| {
            let name = super::validate::js_string(value);
            match ieee_wired {
                None => Err(format!("Ieee8021x profile {name} does not exist in db")),
                Some(true) => Err(format!("Ieee8021x profile {name} is for wired interfaces")),
                Some(false) => Ok(()),
            }
        });
    v.check("linkPolicy")
        .optional()
        .is_array()
        .with_message("LinkPolicy should be an array of integers")
        .custom(|value| {
            let Some(items) = value.and_then(Value::as_array) else {
                return Err("value.every is not a function".into());
            };
            let ints: Vec<Option<i64>> = items.iter().map(|i| if i.is_number() { js_integer(Some(i)) } else { None }).collect();
            if ints.iter().any(Option::is_none) {
                return Err("Array does not contain integers".into());
            }
            if !ints.iter().flatten().all(|i| LINK_POLICIES.contains(i)) {
                return Err("Array values should be either 1: available on S0 AC, 14: available on Sx AC, 16: available on S0 DC, 224: available on Sx DC".into());
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

fn link_policy(body: &Map<String, Value>) -> Option<Vec<i32>> {
    body.get("linkPolicy")?
        .as_array()?
        .iter()
        .map(|i| js_integer(Some(i)).and_then(|n| i32::try_from(n).ok()))
        .collect()
}

async fn find(
    state: &AppState,
    name: &str,
) -> Result<Option<Versioned<wirelessconfigs::Model>>, sea_orm::DbErr> {
    select_versioned::<Wireless>()
        .filter(Column::WirelessProfileName.eq(name))
        .filter(Column::TenantId.eq(&*state.tenant))
        .into_model::<Versioned<wirelessconfigs::Model>>()
        .one(state.db.conn())
        .await
}

fn passphrase_secret(passphrase: &str) -> Map<String, Value> {
    json!({ "PSK_PASSPHRASE": passphrase })
        .as_object()
        .cloned()
        .unwrap_or_default()
}

pub async fn list(
    State(state): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let page = match Page::from_query(&query) {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let rows = select_versioned::<Wireless>()
        .filter(Column::TenantId.eq(&*state.tenant))
        .order_by_asc(Column::WirelessProfileName)
        .limit(page.top)
        .offset(page.skip)
        .into_model::<Versioned<wirelessconfigs::Model>>()
        .all(state.db.conn())
        .await;
    let rows = match rows {
        Ok(rows) => rows,
        Err(e) => return db_failure("GET", "", e).into_response(),
    };
    let total = match Wireless::find()
        .filter(Column::TenantId.eq(&*state.tenant))
        .count(state.db.conn())
        .await
    {
        Ok(n) => n,
        Err(e) => return db_failure("GET", "", e).into_response(),
    };
    let views: Vec<WirelessView> = rows
        .into_iter()
        .map(|r| WirelessView {
            total_count: Some(total.to_string()),
            ..WirelessView::new(r, true)
        })
        .collect();
    let listing = if page.count {
        Listing::Counted {
            data: views,
            total_count: total,
        }
    } else {
        Listing::Plain(views)
    };
    json_response(StatusCode::OK, &listing)
}

pub async fn get(State(state): State<AppState>, Path(name): Path<String>) -> Response {
    match find(&state, &name).await {
        Ok(Some(row)) => json_response(StatusCode::OK, &WirelessView::new(row, true)),
        Ok(None) => ApiError::not_found("Wireless", &name).into_response(),
        Err(e) => db_failure("GET", &name, e).into_response(),
    }
}

pub async fn create(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let result = async {
        let body = parse_body(&headers, &body)?;
        let ieee = ieee_profile(&state, &body).await.map_err(|e| db_failure("POST", "", e))?;
        let body = validate(&body, ieee, false).map_err(ApiError::Validation)?;
        let name = text(&body, "profileName").unwrap_or_default();
        let row = wirelessconfigs::ActiveModel {
            wireless_profile_name: Set(name.clone()),
            authentication_method: Set(int(&body, "authenticationMethod")),
            encryption_method: Set(int(&body, "encryptionMethod")),
            ssid: Set(text(&body, "ssid")),
            psk_value: Set(int(&body, "pskValue")),
            psk_passphrase: Set(Some("PSK_PASSPHRASE".into())),
            link_policy: Set(IntArray::new(link_policy(&body), state.db.backend())),
            creation_date: Set(Some(now())),
            created_by: Set(None),
            tenant_id: Set(state.tenant.to_string()),
            ieee8021x_profile_name: Set(text(&body, "ieee8021xProfileName")),
        };
        if let Err(e) = Wireless::insert(row).exec_without_returning(state.db.conn()).await {
            return Err(match violation(&e) {
                Some(Violation::Unique) => {
                    ApiError::rejected("Unique key violation", format!("Wireless profile {name} already exists"))
                }
                _ => {
                    tracing::error!(wireless = %name, error = %e, "inserting wireless profile failed");
                    ApiError::rejected("Error", format!("Operation failed for Wireless profile: {name}"))
                        .or_unavailable(&e)
                }
            });
        }
        if body.get("ieee8021xProfileName").is_none_or(Value::is_null)
            && let Some(passphrase) = text(&body, "pskPassphrase")
        {
            state
                .secrets
                .put(&format!("Wireless/{name}"), passphrase_secret(&passphrase))
                .await
                .map_err(|e| ApiError::unexpected("POST", &name, e))?;
        }
        tracing::info!(wireless = %name, "created wireless profile");
        match find(&state, &name).await {
            Ok(Some(row)) => Ok(WirelessView::new(row, true)),
            Ok(None) => Err(ApiError::unexpected("POST", &name, "wireless profile vanished after insert")),
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
        let ieee = ieee_profile(&state, &body)
            .await
            .map_err(|e| db_failure("PATCH", "", e))?;
        let body = validate(&body, ieee, true).map_err(ApiError::Validation)?;
        let name = text(&body, "profileName").unwrap_or_default();
        let old = match find(&state, &name).await {
            Ok(Some(old)) => old,
            Ok(None) => return Err(ApiError::not_found("Wireless", &name)),
            Err(e) => return Err(db_failure("PATCH", &name, e)),
        };
        let passphrase = non_empty(&body, "pskPassphrase");
        if let Some(passphrase) = &passphrase {
            state
                .secrets
                .put(
                    &format!("Wireless/{}", old.model.wireless_profile_name),
                    passphrase_secret(passphrase),
                )
                .await
                .map_err(|e| ApiError::unexpected("PATCH", &name, e))?;
        }
        // The body overrides the stored row field by field; the passphrase itself never reaches the table.
        let has = |field: &str| body.contains_key(field);
        let mut row = old.model.clone().into_active_model();
        if has("authenticationMethod") {
            row.authentication_method = Set(int(&body, "authenticationMethod"));
        }
        if has("encryptionMethod") {
            row.encryption_method = Set(int(&body, "encryptionMethod"));
        }
        if has("ssid") {
            row.ssid = Set(text(&body, "ssid"));
        }
        if has("pskValue") {
            row.psk_value = Set(int(&body, "pskValue"));
        }
        if passphrase.is_some() {
            row.psk_passphrase = Set(Some("PSK_PASSPHRASE".into()));
        }
        if has("linkPolicy") {
            row.link_policy = Set(IntArray::new(link_policy(&body), state.db.backend()));
        }
        if has("ieee8021xProfileName") {
            row.ieee8021x_profile_name = Set(text(&body, "ieee8021xProfileName"));
        }
        let sent_version = text(&body, "version").unwrap_or_default();
        let update = Wireless::update_many()
            .set(row)
            .filter(Column::WirelessProfileName.eq(&name))
            .filter(Column::TenantId.eq(&*state.tenant))
            .filter(version_matches(&sent_version))
            .exec(state.db.conn())
            .await;
        let updated = match update {
            Ok(r) => r.rows_affected,
            Err(e) => {
                tracing::error!(wireless = %name, error = %e, "updating wireless profile failed");
                return Err(ApiError::rejected(
                    "Error",
                    format!("Operation failed for Wireless profile: {name}"),
                )
                .or_unavailable(&e));
            }
        };
        let current = find(&state, &name)
            .await
            .map_err(|e| db_failure("PATCH", &name, e))?;
        let Some(current) = current else {
            return Err(ApiError::not_found("Wireless", &name));
        };
        if updated == 0 {
            let version = current.version.clone();
            let view =
                serde_json::to_value(WirelessView::new(current, true)).unwrap_or(Value::Null);
            return Err(ApiError::Concurrency {
                current: view,
                version,
                if_match: if_match(&headers).is_some(),
            });
        }
        Ok(WirelessView::new(current, false))
    }
    .await;
    match result {
        Ok(view) => json_response(StatusCode::OK, &view),
        Err(e) => e.into_response(),
    }
}

pub async fn delete(State(state): State<AppState>, Path(name): Path<String>) -> Response {
    let used = profiles_wirelessconfigs::Entity::find()
        .filter(profiles_wirelessconfigs::Column::WirelessProfileName.eq(&name))
        .filter(profiles_wirelessconfigs::Column::TenantId.eq(&*state.tenant))
        .count(state.db.conn())
        .await;
    match used {
        Ok(0) => {}
        Ok(_) => {
            return ApiError::rejected(
                "Foreign key violation",
                format!("Wireless profile: {name} is associated with an AMT Profile."),
            )
            .into_response();
        }
        Err(e) => return db_failure("DELETE", &name, e).into_response(),
    }
    let deleted = Wireless::delete_many()
        .filter(Column::WirelessProfileName.eq(&name))
        .filter(Column::TenantId.eq(&*state.tenant))
        .exec(state.db.conn())
        .await;
    match deleted {
        Ok(r) if r.rows_affected > 0 => {
            if let Err(e) = state.secrets.delete(&format!("Wireless/{name}")).await {
                return ApiError::unexpected("DELETE", &name, e).into_response();
            }
            StatusCode::NO_CONTENT.into_response()
        }
        Ok(_) => ApiError::not_found("Wireless", &name).into_response(),
        Err(e) => {
            tracing::error!(wireless = %name, error = %e, "deleting wireless profile failed");
            ApiError::rejected(
                "Error",
                format!("Operation failed: Delete wireless configuration : {name}"),
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

    #[test]
    fn psk_and_8021x_rules() {
        let psk = json!({"profileName": "home", "authenticationMethod": 6, "encryptionMethod": 4, "ssid": "net",
                         "pskPassphrase": "short"});
        assert_eq!(
            messages(validate(&psk, None, false)),
            pairs([(
                "pskPassphrase",
                "PSK Passphrase length should be greater than or equal to 8 and less than or equal to 63"
            )])
        );
        let dot1x = json!({"profileName": "corp", "authenticationMethod": 7, "encryptionMethod": 4, "ssid": "net"});
        assert_eq!(
            messages(validate(&dot1x, None, false)),
            pairs([("ieee8021xProfileName", "ieee8021xProfileName is required")])
        );
        let mut wired = dot1x.clone();
        wired["ieee8021xProfileName"] = json!("wiredProf");
        assert_eq!(
            messages(validate(&wired, Some(true), false)),
            pairs([(
                "ieee8021xProfileName",
                "Ieee8021x profile wiredProf is for wired interfaces"
            )])
        );
        assert!(validate(&wired, Some(false), false).is_ok());
        let mut psk_with_profile = psk.clone();
        psk_with_profile["pskPassphrase"] = json!("Passphrase1");
        psk_with_profile["ieee8021xProfileName"] = json!("wl");
        assert_eq!(
            messages(validate(&psk_with_profile, Some(false), false)),
            pairs([(
                "ieee8021xProfileName",
                "ieee8021xProfileName can not be specified with the provided authenticationMethod"
            )])
        );
    }

    #[test]
    fn enums_lengths_link_policy_and_version() {
        let body = json!({"profileName": "bad-name", "authenticationMethod": 9, "encryptionMethod": 1,
                          "ssid": "s".repeat(33), "linkPolicy": [1, 2]});
        assert_eq!(
            messages(validate(&body, None, true)),
            pairs([
                (
                    "profileName",
                    "Wireless profile name should be alphanumeric"
                ),
                (
                    "authenticationMethod",
                    "Authentication method must be one of 4:WPA PSK, 5:WPA IEEE 802.1x, 6:WPA2 PSK, 7:WPA2 IEEE 802.1x"
                ),
                (
                    "encryptionMethod",
                    "Encryption method must be one of 3:TKIP, 4:CCMP"
                ),
                ("ssid", "Maximum length is 32"),
                (
                    "linkPolicy",
                    "Array values should be either 1: available on S0 AC, 14: available on Sx AC, 16: available on S0 DC, 224: available on Sx DC"
                ),
                ("version", "Version is required to patch/update a record."),
            ])
        );
        let floats = json!({"profileName": "a", "authenticationMethod": 6, "encryptionMethod": 4, "ssid": "n",
                            "pskPassphrase": "Passphrase1", "linkPolicy": [1.5]});
        assert_eq!(
            messages(validate(&floats, None, false)),
            pairs([("linkPolicy", "Array does not contain integers")])
        );
    }
}
