//! `/api/v1/admin/profiles` (rps.md §1.6): AMT profiles with their WiFi and proxy links.
//!
//! Passwords live in the secret store at `profiles/<name>` as `{AMT_PASSWORD, MEBX_PASSWORD}` ("" when random);
//! the table holds the placeholders `AMT_PASSWORD` / `MEBX_PASSWORD` (or NULL when random). Self-signed TLS
//! material for TLS profiles lives at `TLS/<name>`.

use std::collections::{HashMap, HashSet};
use std::sync::LazyLock;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use regex::Regex;
use sea_orm::{
    ActiveValue::Set, ColumnTrait, ConnectionTrait, DbBackend, DbErr, EntityTrait, IntoActiveModel,
    PaginatorTrait, QueryFilter, QueryOrder, QuerySelect, TransactionTrait,
};
use serde::Serialize;
use serde_json::{Map, Value, json};

use super::AppState;
use super::common::{boolean, db_failure, if_match, int, now, text, version};
use super::error::{ApiError, json_response};
use super::http::parse_body;
use super::page::{Listing, Page};
use super::validate::{FieldError, Validator, js_integer, js_string};
use crate::db::entities::profiles::{self, Column, Entity as Profiles};
use crate::db::entities::{
    ieee8021xconfigs, profiles_proxyconfigs, profiles_wirelessconfigs, proxyconfigs,
    wirelessconfigs,
};
use crate::db::{TextArray, Versioned, Violation, select_versioned, version_matches, violation};

const ACM: &str = "acmactivate";
const CCM: &str = "ccmactivate";
const SELF_SIGNED: &str = "SelfSigned";

static PROFILE_NAME: LazyLock<Regex> =
    LazyLock::new(|| Regex::new("^[a-zA-Z0-9$@$!%*#?&-_~^]+$").expect("valid regex"));
static PASSWORD_CHARS: LazyLock<Regex> =
    LazyLock::new(|| Regex::new("^[a-zA-Z0-9$@$!%*#?&-_~^]{8,32}$").expect("valid regex"));

const AMT_PASSWORD_RULE: &str = "AMT password is required field should contains at least one lowercase letter, one uppercase letter, one numeric digit,and one special character and password length should be in between 8 to 32.";
const MEBX_PASSWORD_RULE: &str = "MEBx password is required field should contains at least one lowercase letter, one uppercase letter, one numeric digit,and one special character and password length should be in between 8 to 32.";
const ACTIVATION_RULE: &str = "Activation accepts either acmactivate (admin control activation) or ccmactivate (client control mode activation)";
const TLS_MODE_RULE: &str = "tlsMode must be set to one of these values: 1 (Server Authentication Only), 2 (Server and Non-TLS Authentication), 3 (Mutual TLS only), 4 (Mutual and Non-TLS authentication)";

/// The reference's password pattern: a digit, one of `!@#$%^&*`, a lower- and an upper-case letter, 8–32 of
/// the allowed characters.
pub fn strong_password(p: &str) -> bool {
    p.chars().any(|c| c.is_ascii_digit())
        && p.chars().any(|c| "!@#$%^&*".contains(c))
        && p.chars().any(|c| c.is_ascii_lowercase())
        && p.chars().any(|c| c.is_ascii_uppercase())
        && PASSWORD_CHARS.is_match(p)
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

fn is_null(v: Option<&Value>) -> bool {
    matches!(v, None | Some(Value::Null))
}

fn is_true(v: Option<&Value>) -> bool {
    v == Some(&Value::Bool(true))
}

/// What the validators need from the database: which linked configurations exist.
#[derive(Default)]
pub struct Known {
    /// Lower-cased names of wireless profiles that exist.
    pub wifi: HashSet<String>,
    /// Lower-cased names of proxy configs that exist.
    pub proxies: HashSet<String>,
    /// The named 802.1x profile's `wiredInterface`, if it exists.
    pub ieee_wired: Option<bool>,
}

async fn known(state: &AppState, body: &Value) -> Result<Known, DbErr> {
    let names = |list: &str, key: &str| -> Vec<String> {
        body.get(list)
            .and_then(Value::as_array)
            .map(|items| {
                items
                    .iter()
                    .filter_map(|i| i.get(key))
                    .map(|v| js_string(Some(v)))
                    .collect()
            })
            .unwrap_or_default()
    };
    let tenant = &*state.tenant;
    let mut k = Known::default();
    let wifi = names("wifiConfigs", "profileName");
    if !wifi.is_empty() {
        let rows = wirelessconfigs::Entity::find()
            .filter(wirelessconfigs::Column::TenantId.eq(tenant))
            .filter(wirelessconfigs::Column::WirelessProfileName.is_in(wifi))
            .all(state.db.conn())
            .await?;
        k.wifi = rows
            .into_iter()
            .map(|r| r.wireless_profile_name.to_lowercase())
            .collect();
    }
    let proxies = names("proxyConfigs", "name");
    if !proxies.is_empty() {
        let rows = proxyconfigs::Entity::find()
            .filter(proxyconfigs::Column::TenantId.eq(tenant))
            .filter(proxyconfigs::Column::ProxyConfigName.is_in(proxies))
            .all(state.db.conn())
            .await?;
        k.proxies = rows
            .into_iter()
            .map(|r| r.proxy_config_name.to_lowercase())
            .collect();
    }
    if let Some(name) = body.get("ieee8021xProfileName").filter(|v| !v.is_null()) {
        let row = ieee8021xconfigs::Entity::find()
            .filter(ieee8021xconfigs::Column::ProfileName.eq(js_string(Some(name))))
            .filter(ieee8021xconfigs::Column::TenantId.eq(tenant))
            .one(state.db.conn())
            .await?;
        k.ieee_wired = row.map(|r| r.wired_interface);
    }
    Ok(k)
}

/// The shared rule on `wifiConfigs` / `proxyConfigs` items: count, priority range, existence.
fn links_rule(
    value: Option<&Value>,
    max: usize,
    kind: &str,
    name_key: &str,
    existing: &HashSet<String>,
) -> Result<(), String> {
    let items = value.and_then(Value::as_array).cloned().unwrap_or_default();
    if items.len() > max {
        let plural = if kind == "wifi" { "wifi" } else { "proxy" };
        return Err(format!(
            "A maximum of {max} {plural} profiles can be stored at a time."
        ));
    }
    for item in &items {
        let priority = item
            .get("priority")
            .filter(|p| p.is_number())
            .and_then(|p| js_integer(Some(p)));
        if priority.is_some_and(|p| !(1..=255).contains(&p)) {
            return Err(format!(
                "{kind} config priority should be an integer and between 1 and 255"
            ));
        }
    }
    let missing: Vec<String> = items
        .iter()
        .map(|i| js_string(i.get(name_key)))
        .filter(|n| !existing.contains(&n.to_lowercase()))
        .collect();
    if !missing.is_empty() {
        return Err(format!(
            "{kind} configs {} does not exists in db",
            missing.join(",")
        ));
    }
    Ok(())
}

fn user_consent_rule(value: Option<&Value>, body: &Map<String, Value>) -> Result<(), String> {
    if body.get("activation").and_then(Value::as_str) == Some(CCM)
        && value.and_then(Value::as_str) != Some("All")
    {
        return Err("User consent is required for all the actions in client control mode".into());
    }
    Ok(())
}

/// POST validation (`amtProfileValidator`), in the reference's order.
pub fn validate_create(body: &Value, known: &Known) -> Result<Map<String, Value>, Vec<FieldError>> {
    let raw = body.as_object().cloned().unwrap_or_default();
    let mut v = Validator::body(body);
    v.check("profileName")
        .not_empty()
        .with_message("AMT profile name is required")
        .matches(&PROFILE_NAME)
        .with_message(
            "AMT profile name accepts letters, numbers, special characters and no spaces",
        );
    v.check("activation")
        .not_empty()
        .with_message("Activation is required")
        .is_in(&[ACM, CCM])
        .with_message(ACTIVATION_RULE)
        .custom(|value| {
            if is_null(raw.get("amtPassword")) && !js_truthy(raw.get("generateRandomPassword")) {
                return Err(
                    "Either generateRandomPassword should be enabled or provide amtPassword".into(),
                );
            }
            if value.and_then(Value::as_str) == Some(ACM)
                && is_null(raw.get("mebxPassword"))
                && !js_truthy(raw.get("generateRandomMEBxPassword"))
            {
                return Err(format!("MEBx Password is required for {ACM}"));
            }
            Ok(())
        });
    v.check("amtPassword")
        .when(raw.get("generateRandomPassword") == Some(&Value::Bool(false)))
        .optional()
        .custom(|value| {
            if strong_password(&js_string(value)) {
                Ok(())
            } else {
                Err(AMT_PASSWORD_RULE.into())
            }
        });
    v.check("generateRandomPassword")
        .default(Value::Bool(false))
        .is_boolean()
        .with_message("Generate random AMT password must be a boolean true or false")
        .custom(|value| {
            let has_password = !is_null(raw.get("amtPassword"));
            match (is_true(value), has_password) {
                (true, true) => Err("Either generate Random AMT Password should be enabled or should provide AMT Password but not both".into()),
                (false, false) => Err("If generate random AMT password is disabled, amtPassword is mandatory".into()),
                _ => Ok(()),
            }
        });
    v.check("mebxPassword").optional_nullable().custom(|value| {
        if strong_password(&js_string(value)) {
            Ok(())
        } else {
            Err(MEBX_PASSWORD_RULE.into())
        }
    });
    v.check("generateRandomMEBxPassword")
        .default(Value::Bool(false))
        .is_boolean()
        .with_message("Generate random MEBx password must be a boolean true or false")
        .custom(|value| {
            if raw.get("activation").and_then(Value::as_str) != Some(ACM) {
                return Ok(());
            }
            let has_password = !is_null(raw.get("mebxPassword"));
            match (is_true(value), has_password) {
                (true, true) => Err("Either generate MEBx password should be enabled or should provide MEBx password, but not both".into()),
                (false, false) => Err("If generate random MEBx password is disabled, mebxPassword is mandatory".into()),
                _ => Ok(()),
            }
        });
    common_rules(&mut v, &raw, known, false);
    v.finish()
}

/// PATCH validation (`profileUpdateValidator`).
pub fn validate_update(body: &Value, known: &Known) -> Result<Map<String, Value>, Vec<FieldError>> {
    let raw = body.as_object().cloned().unwrap_or_default();
    let mut v = Validator::body(body);
    v.check("profileName")
        .not_empty()
        .with_message("AMT profile name is required")
        .matches(&PROFILE_NAME)
        .with_message(
            "AMT profile name accepts letters, numbers, special characters and no spaces",
        );
    v.check("activation")
        .is_in(&[ACM, CCM])
        .with_message(ACTIVATION_RULE);
    v.check("amtPassword").optional_nullable().custom(|value| {
        if strong_password(&js_string(value)) {
            Ok(())
        } else {
            Err(AMT_PASSWORD_RULE.into())
        }
    });
    v.check("generateRandomPassword")
        .optional()
        .is_boolean()
        .with_message("Generate random AMT password must be a boolean true or false")
        .custom(|value| {
            if is_true(value) && !is_null(raw.get("amtPassword")) {
                return Err("Either generate Random AMT Password should be enabled or should provide AMT Password but not both".into());
            }
            Ok(())
        });
    v.check("mebxPassword").optional_nullable().custom(|value| {
        if strong_password(&js_string(value)) {
            Ok(())
        } else {
            Err(MEBX_PASSWORD_RULE.into())
        }
    });
    v.check("generateRandomMEBxPassword")
        .optional()
        .is_boolean()
        .with_message("Generate random MEBx password must be a boolean true or false")
        .custom(|value| {
            if raw.get("activation").and_then(Value::as_str) == Some(ACM)
                && is_true(value)
                && !is_null(raw.get("mebxPassword"))
            {
                return Err("Either generate MEBx password should be enabled or should provide MEBx password, but not both".into());
            }
            Ok(())
        });
    common_rules(&mut v, &raw, known, true);
    v.check("version")
        .not_empty()
        .with_message("Version is required to patch/update a record.");
    v.finish()
}

fn common_rules(v: &mut Validator, raw: &Map<String, Value>, known: &Known, patch: bool) {
    v.check("tlsMode")
        .optional_nullable()
        .is_int(Some(1), Some(4))
        .with_message(TLS_MODE_RULE);
    v.check("tlsSigningAuthority")
        .optional_nullable()
        .is_in(&[SELF_SIGNED, "MicrosoftCA"])
        .with_message("TLS Signing Authority must be one of SelfSigned,MicrosoftCA");
    v.check("ciraConfigName").optional_nullable().custom(|_| {
        if is_null(raw.get("tlsMode")) {
            Ok(())
        } else {
            Err("CIRA cannot be configured if TLS is enabled".into())
        }
    });
    v.check("tags").optional_nullable().is_array();
    if patch {
        v.check("dhcpEnabled")
            .optional()
            .is_boolean()
            .with_message("DHCP enabled must be a boolean");
    } else {
        v.check("dhcpEnabled")
            .not_empty()
            .is_boolean()
            .with_message("DHCP enabled must be a boolean");
    }
    v.check("ipSyncEnabled")
        .optional_nullable()
        .is_boolean()
        .with_message("ipSyncEnabled must be a boolean");
    v.check("localWifiSyncEnabled")
        .optional_nullable()
        .is_boolean()
        .with_message("localWifiSyncEnabled must be a boolean");
    v.check("uefiWifiSyncEnabled")
        .optional_nullable()
        .is_boolean()
        .with_message("uefiWifiSyncEnabled must be a boolean");
    v.check("wifiConfigs")
        .optional_nullable()
        .is_array()
        .custom(|value| {
            let count = value.and_then(Value::as_array).map_or(0, Vec::len);
            if patch && count > 0 && is_null(raw.get("dhcpEnabled")) {
                return Err("DHCP enabled should be true".into());
            }
            if count > 0 && !js_truthy(raw.get("dhcpEnabled")) {
                return Err("Wifi supports only DHCP in AMT".into());
            }
            links_rule(value, 8, "wifi", "profileName", &known.wifi)
        });
    v.check("proxyConfigs")
        .optional_nullable()
        .is_array()
        .custom(|value| links_rule(value, 15, "proxy", "name", &known.proxies));
    v.check("ieee8021xProfileName")
        .optional_nullable()
        .custom(|value| {
            let name = js_string(value);
            match (known.ieee_wired, patch) {
                (None, false) => Err(format!("Ieee8021x profile {name} does not exist in db")),
                (None, true) => Err(format!("IEEEProfile config {name} does not exists in db")),
                (Some(false), false) => Err(format!(
                    "Ieee8021x profile {name} is for wireless interfaces"
                )),
                _ => Ok(()),
            }
        });
    v.check("userConsent")
        .optional_nullable()
        .is_in(&["None", "All", "KVM"])
        .with_message("User consent must be one of None,All,KVM")
        .custom(|value| user_consent_rule(value, raw));
    v.check("iderEnabled")
        .optional_nullable()
        .is_boolean()
        .with_message("IDER enabled must be a boolean");
    v.check("kvmEnabled")
        .optional_nullable()
        .is_boolean()
        .with_message("KVM enabled must be a boolean");
    v.check("solEnabled")
        .optional_nullable()
        .is_boolean()
        .with_message("Serial Over Lan (sol) enabled must be a boolean");
}

#[derive(Serialize, Clone)]
#[serde(rename_all = "camelCase")]
pub struct WifiLink {
    profile_name: String,
    priority: i32,
}

#[derive(Serialize, Clone)]
pub struct ProxyLink {
    name: String,
    priority: i32,
}

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ProfileView {
    profile_name: String,
    activation: String,
    cira_config_name: Option<String>,
    generate_random_password: bool,
    #[serde(rename = "generateRandomMEBxPassword")]
    generate_random_mebx_password: bool,
    tags: Option<Vec<String>>,
    dhcp_enabled: Option<bool>,
    tls_mode: Option<i32>,
    user_consent: Option<String>,
    ider_enabled: Option<bool>,
    kvm_enabled: Option<bool>,
    sol_enabled: Option<bool>,
    tenant_id: String,
    tls_signing_authority: Option<String>,
    version: String,
    #[serde(rename = "ieee8021xProfileName")]
    ieee8021x_profile_name: Option<String>,
    wifi_configs: Vec<WifiLink>,
    ip_sync_enabled: Option<bool>,
    local_wifi_sync_enabled: Option<bool>,
    uefi_wifi_sync_enabled: Option<bool>,
    proxy_configs: Vec<ProxyLink>,
}

impl ProfileView {
    fn new(row: Versioned<profiles::Model>, wifi: Vec<WifiLink>, proxies: Vec<ProxyLink>) -> Self {
        let m = row.model;
        ProfileView {
            profile_name: m.profile_name,
            activation: m.activation,
            cira_config_name: m.cira_config_name,
            generate_random_password: m.generate_random_password,
            generate_random_mebx_password: m.generate_random_mebx_password,
            tags: m.tags.into_items(),
            dhcp_enabled: m.dhcp_enabled,
            tls_mode: m.tls_mode,
            user_consent: m.user_consent,
            ider_enabled: m.ider_enabled,
            kvm_enabled: m.kvm_enabled,
            sol_enabled: m.sol_enabled,
            tenant_id: m.tenant_id,
            tls_signing_authority: m.tls_signing_authority,
            version: row.version,
            ieee8021x_profile_name: m.ieee8021x_profile_name,
            wifi_configs: wifi,
            ip_sync_enabled: m.ip_sync_enabled,
            local_wifi_sync_enabled: m.local_wifi_sync_enabled,
            uefi_wifi_sync_enabled: m.uefi_wifi_sync_enabled,
            proxy_configs: proxies,
        }
    }
}

/// A profile row with its links aggregated by the database as JSON text, so a page of profiles is one query.
struct ProfileRow {
    row: Versioned<profiles::Model>,
    wifi_json: String,
    proxy_json: String,
}

impl sea_orm::FromQueryResult for ProfileRow {
    fn from_query_result(res: &sea_orm::QueryResult, pre: &str) -> Result<Self, DbErr> {
        Ok(ProfileRow {
            row: Versioned::from_query_result(res, pre)?,
            wifi_json: res
                .try_get::<Option<String>>(pre, "wifi_json")?
                .unwrap_or_default(),
            proxy_json: res
                .try_get::<Option<String>>(pre, "proxy_json")?
                .unwrap_or_default(),
        })
    }
}

/// `(SELECT <JSON array of {a: col_a, b: col_b}> FROM <table> WHERE it links to the outer profile)`.
fn links_json(backend: DbBackend, table: &str, name_key: &str, name_col: &str) -> String {
    let link = "l.profile_name = \"profiles\".\"profile_name\" AND l.tenant_id = \"profiles\".\"tenant_id\"";
    match backend {
        DbBackend::Postgres => format!(
            "(SELECT COALESCE(json_agg(json_build_object('{name_key}', l.{name_col}, 'priority', l.priority)), \
             '[]'::json)::text FROM {table} l WHERE {link})"
        ),
        _ => format!(
            "(SELECT json_group_array(json_object('{name_key}', l.{name_col}, 'priority', l.priority)) \
             FROM {table} l WHERE {link})"
        ),
    }
}

/// `SELECT profiles.*, version, wifi_json, proxy_json FROM profiles`.
fn select_profiles(state: &AppState) -> sea_orm::Select<Profiles> {
    let backend = state.db.backend();
    let wifi = links_json(
        backend,
        "profiles_wirelessconfigs",
        "profileName",
        "wireless_profile_name",
    );
    let proxies = links_json(
        backend,
        "profiles_proxyconfigs",
        "name",
        "proxy_config_name",
    );
    select_versioned::<Profiles>()
        .expr_as(sea_orm::sea_query::Expr::cust(wifi), "wifi_json")
        .expr_as(sea_orm::sea_query::Expr::cust(proxies), "proxy_json")
}

/// WiFi links by priority then name, proxy links by name then priority, as the reference's aggregate orders them.
fn view(p: ProfileRow) -> ProfileView {
    #[derive(serde::Deserialize)]
    struct Link {
        #[serde(alias = "profileName")]
        name: Option<String>,
        priority: Option<i32>,
    }
    let parse = |text: &str| -> Vec<(String, i32)> {
        serde_json::from_str::<Vec<Link>>(text)
            .unwrap_or_default()
            .into_iter()
            .filter_map(|l| Some((l.name?, l.priority.unwrap_or_default())))
            .collect()
    };
    let mut wifi = parse(&p.wifi_json);
    wifi.sort_by(|a, b| a.1.cmp(&b.1).then_with(|| a.0.cmp(&b.0)));
    let mut proxies = parse(&p.proxy_json);
    proxies.sort();
    ProfileView::new(
        p.row,
        wifi.into_iter()
            .map(|(profile_name, priority)| WifiLink {
                profile_name,
                priority,
            })
            .collect(),
        proxies
            .into_iter()
            .map(|(name, priority)| ProxyLink { name, priority })
            .collect(),
    )
}

async fn find_row(
    state: &AppState,
    name: &str,
) -> Result<Option<Versioned<profiles::Model>>, DbErr> {
    select_versioned::<Profiles>()
        .filter(Column::ProfileName.eq(name))
        .filter(Column::TenantId.eq(&*state.tenant))
        .into_model::<Versioned<profiles::Model>>()
        .one(state.db.conn())
        .await
}

async fn find_view(state: &AppState, name: &str) -> Result<Option<ProfileView>, DbErr> {
    let row = select_profiles(state)
        .filter(Column::ProfileName.eq(name))
        .filter(Column::TenantId.eq(&*state.tenant))
        .into_model::<ProfileRow>()
        .one(state.db.conn())
        .await?;
    Ok(row.map(view))
}

pub async fn list(
    State(state): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
) -> Response {
    let page = match Page::from_query(&query) {
        Ok(p) => p,
        Err(e) => return e.into_response(),
    };
    let rows = select_profiles(&state)
        .filter(Column::TenantId.eq(&*state.tenant))
        .order_by_asc(Column::ProfileName)
        .limit(page.top)
        .offset(page.skip)
        .into_model::<ProfileRow>()
        .all(state.db.conn())
        .await;
    let views: Vec<ProfileView> = match rows {
        Ok(rows) => rows.into_iter().map(view).collect(),
        Err(e) => return db_failure("GET", "", e).into_response(),
    };
    let listing = if page.count {
        match Profiles::find()
            .filter(Column::TenantId.eq(&*state.tenant))
            .count(state.db.conn())
            .await
        {
            Ok(total_count) => Listing::Counted {
                data: views,
                total_count,
            },
            Err(e) => return db_failure("GET", "", e).into_response(),
        }
    } else {
        Listing::Plain(views)
    };
    json_response(StatusCode::OK, &listing)
}

pub async fn get(State(state): State<AppState>, Path(name): Path<String>) -> Response {
    match find_view(&state, &name).await {
        Ok(Some(view)) => json_response(StatusCode::OK, &view),
        Ok(None) => ApiError::not_found("AMT", &name).into_response(),
        Err(e) => db_failure("GET", &name, e).into_response(),
    }
}

fn wifi_links(body: &Map<String, Value>) -> Vec<(String, i32)> {
    links(body, "wifiConfigs", "profileName")
}

fn proxy_links(body: &Map<String, Value>) -> Vec<(String, i32)> {
    links(body, "proxyConfigs", "name")
}

fn links(body: &Map<String, Value>, list: &str, key: &str) -> Vec<(String, i32)> {
    body.get(list)
        .and_then(Value::as_array)
        .map(|items| {
            items
                .iter()
                .map(|i| {
                    let priority = js_integer(i.get("priority"))
                        .and_then(|p| i32::try_from(p).ok())
                        .unwrap_or(0);
                    (js_string(i.get(key)), priority)
                })
                .collect()
        })
        .unwrap_or_default()
}

async fn insert_links<C: ConnectionTrait>(
    conn: &C,
    profile: &str,
    tenant: &str,
    wifi: &[(String, i32)],
    proxies: &[(String, i32)],
) -> Result<(), DbErr> {
    if !wifi.is_empty() {
        let rows = wifi
            .iter()
            .map(|(name, priority)| profiles_wirelessconfigs::ActiveModel {
                wireless_profile_name: Set(name.clone()),
                profile_name: Set(profile.to_owned()),
                priority: Set(*priority),
                creation_date: Set(None),
                created_by: Set(None),
                tenant_id: Set(tenant.to_owned()),
            });
        profiles_wirelessconfigs::Entity::insert_many(rows)
            .exec_without_returning(conn)
            .await?;
    }
    if !proxies.is_empty() {
        let rows = proxies
            .iter()
            .map(|(name, priority)| profiles_proxyconfigs::ActiveModel {
                proxy_config_name: Set(name.clone()),
                profile_name: Set(profile.to_owned()),
                priority: Set(*priority),
                creation_date: Set(None),
                created_by: Set(None),
                tenant_id: Set(tenant.to_owned()),
            });
        profiles_proxyconfigs::Entity::insert_many(rows)
            .exec_without_returning(conn)
            .await?;
    }
    Ok(())
}

fn credentials(amt: &str, mebx: &str) -> Map<String, Value> {
    json!({"AMT_PASSWORD": amt, "MEBX_PASSWORD": mebx})
        .as_object()
        .cloned()
        .unwrap_or_default()
}

/// Writes fresh self-signed TLS material for `profile` to `TLS/<profile>`.
async fn store_tls(state: &AppState, profile: &str) -> Result<(), String> {
    let name = profile.to_owned();
    let material = tokio::task::spawn_blocking(move || crate::tls_certs::generate(&name))
        .await
        .map_err(|e| e.to_string())?
        .map_err(|e| e.to_string())?;
    let material = material.as_object().cloned().unwrap_or_default();
    state
        .secrets
        .put(&format!("TLS/{profile}"), material)
        .await
        .map_err(|e| e.to_string())
}

pub async fn create(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    match create_profile(&state, &headers, &body).await {
        Ok(view) => json_response(StatusCode::CREATED, &view),
        Err(e) => e.into_response(),
    }
}

async fn create_profile(
    state: &AppState,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<ProfileView, ApiError> {
    let body = parse_body(headers, body)?;
    let facts = known(state, &body)
        .await
        .map_err(|e| db_failure("POST", "", e))?;
    let body = validate_create(&body, &facts).map_err(ApiError::Validation)?;
    let name = text(&body, "profileName").unwrap_or_default();
    let activation = text(&body, "activation").unwrap_or_default();
    let random_amt = boolean(&body, "generateRandomPassword").unwrap_or(false);
    let random_mebx = boolean(&body, "generateRandomMEBxPassword").unwrap_or(false);
    let acm = activation == ACM;
    let tls_mode = int(&body, "tlsMode");
    let tls_authority = match (tls_mode, text(&body, "tlsSigningAuthority")) {
        (Some(m), None) if m != 0 => Some(SELF_SIGNED.to_owned()),
        (Some(m), authority) if m != 0 => authority,
        _ => None,
    };
    let user_consent =
        text(&body, "userConsent").unwrap_or_else(|| if acm { "KVM" } else { "All" }.to_owned());
    let tags = body
        .get("tags")
        .and_then(Value::as_array)
        .map(|t| t.iter().map(|v| js_string(Some(v))).collect());
    let row = profiles::ActiveModel {
        profile_name: Set(name.clone()),
        activation: Set(activation.clone()),
        amt_password: Set((!random_amt).then(|| "AMT_PASSWORD".to_owned())),
        generate_random_password: Set(random_amt),
        cira_config_name: Set(text(&body, "ciraConfigName")),
        creation_date: Set(Some(now())),
        created_by: Set(None),
        mebx_password: Set((!random_mebx && acm).then(|| "MEBX_PASSWORD".to_owned())),
        generate_random_mebx_password: Set(random_mebx),
        tags: Set(TextArray::new(tags, state.db.backend())),
        dhcp_enabled: Set(boolean(&body, "dhcpEnabled")),
        ip_sync_enabled: Set(boolean(&body, "ipSyncEnabled")),
        local_wifi_sync_enabled: Set(boolean(&body, "localWifiSyncEnabled")),
        tenant_id: Set(state.tenant.to_string()),
        tls_mode: Set(tls_mode),
        user_consent: Set(Some(user_consent)),
        ider_enabled: Set(Some(boolean(&body, "iderEnabled").unwrap_or(false))),
        kvm_enabled: Set(Some(boolean(&body, "kvmEnabled").unwrap_or(true))),
        sol_enabled: Set(Some(boolean(&body, "solEnabled").unwrap_or(false))),
        tls_signing_authority: Set(tls_authority.clone()),
        ieee8021x_profile_name: Set(text(&body, "ieee8021xProfileName")),
        uefi_wifi_sync_enabled: Set(boolean(&body, "uefiWifiSyncEnabled")),
    };
    let tenant = state.tenant.to_string();
    let (wifi, proxies) = (wifi_links(&body), proxy_links(&body));
    let inserted: Result<(), DbErr> = async {
        let txn = state.db.conn().begin().await?;
        Profiles::insert(row).exec_without_returning(&txn).await?;
        insert_links(&txn, &name, &tenant, &wifi, &proxies).await?;
        txn.commit().await
    }
    .await;
    if let Err(e) = inserted {
        return Err(match violation(&e) {
            Some(Violation::Unique) => ApiError::rejected(
                "Unique key violation",
                format!("AMT profile {name} already exists"),
            ),
            Some(Violation::ForeignKey) => ApiError::rejected(
                &format!("Foreign key constraint violation: {e}"),
                format!(
                    "Referenced constraint {} doesn't exist",
                    text(&body, "ciraConfigName").unwrap_or_default()
                ),
            ),
            None => {
                tracing::error!(profile = %name, error = %e, "inserting profile failed");
                ApiError::rejected("Error", format!("Operation failed: {name}")).or_unavailable(&e)
            }
        });
    }
    if !random_amt || !random_mebx {
        let amt = if random_amt {
            String::new()
        } else {
            text(&body, "amtPassword").unwrap_or_default()
        };
        let mebx = if random_mebx {
            String::new()
        } else {
            text(&body, "mebxPassword").unwrap_or_default()
        };
        if let Err(e) = state
            .secrets
            .put(&format!("profiles/{name}"), credentials(&amt, &mebx))
            .await
        {
            // A profile whose password cannot be stored would activate with a placeholder: undo it.
            if let Err(u) = delete_rows(state, &name).await {
                tracing::error!(profile = %name, error = %u, "undoing profile insert failed");
            }
            return Err(ApiError::unexpected("POST", &name, e));
        }
    }
    if tls_mode.is_some() && tls_authority.as_deref().is_none_or(|a| a == SELF_SIGNED) {
        store_tls(state, &name)
            .await
            .map_err(|e| ApiError::unexpected("POST", &name, e))?;
    }
    tracing::info!(profile = %name, "created profile");
    match find_view(state, &name).await {
        Ok(Some(view)) => Ok(view),
        Ok(None) => Err(ApiError::unexpected(
            "POST",
            &name,
            "profile vanished after insert",
        )),
        Err(e) => Err(db_failure("POST", &name, e)),
    }
}

async fn delete_rows(state: &AppState, name: &str) -> Result<u64, DbErr> {
    let tenant = &*state.tenant;
    let txn = state.db.conn().begin().await?;
    profiles_wirelessconfigs::Entity::delete_many()
        .filter(profiles_wirelessconfigs::Column::ProfileName.eq(name))
        .filter(profiles_wirelessconfigs::Column::TenantId.eq(tenant))
        .exec(&txn)
        .await?;
    profiles_proxyconfigs::Entity::delete_many()
        .filter(profiles_proxyconfigs::Column::ProfileName.eq(name))
        .filter(profiles_proxyconfigs::Column::TenantId.eq(tenant))
        .exec(&txn)
        .await?;
    let deleted = Profiles::delete_many()
        .filter(Column::ProfileName.eq(name))
        .filter(Column::TenantId.eq(tenant))
        .exec(&txn)
        .await?
        .rows_affected;
    txn.commit().await?;
    Ok(deleted)
}

pub async fn edit(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    match edit_profile(&state, &headers, &body).await {
        Ok(view) => json_response(StatusCode::OK, &view),
        Err(e) => e.into_response(),
    }
}

/// Why a PATCH's database step stopped.
enum EditStop {
    Stale,
    Db(DbErr),
}

async fn edit_profile(
    state: &AppState,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<ProfileView, ApiError> {
    let body = parse_body(headers, body)?;
    let facts = known(state, &body)
        .await
        .map_err(|e| db_failure("PATCH", "", e))?;
    let body = validate_update(&body, &facts).map_err(ApiError::Validation)?;
    let name = text(&body, "profileName").unwrap_or_default();
    let old = match find_row(state, &name).await {
        Ok(Some(old)) => old.model,
        Ok(None) => return Err(ApiError::not_found("AMT", &name)),
        Err(e) => return Err(db_failure("PATCH", &name, e)),
    };
    let sent_version = version(&body, headers, true).unwrap_or_default();

    // Password modes (the reference's merge): a new password makes the mode static, `generateRandom*: true`
    // makes it random, neither keeps the old mode and the stored secret.
    let new_amt = text(&body, "amtPassword");
    let new_mebx = text(&body, "mebxPassword");
    let random_amt = if js_truthy(body.get("generateRandomPassword")) {
        true
    } else if new_amt.is_none() {
        old.generate_random_password
    } else {
        false
    };
    let mut random_mebx = if js_truthy(body.get("generateRandomMEBxPassword")) {
        true
    } else if new_mebx.is_none() {
        old.generate_random_mebx_password
    } else {
        false
    };
    let activation = text(&body, "activation").unwrap_or_else(|| old.activation.clone());
    let acm = activation == ACM;
    if !acm {
        random_mebx = false;
    }
    let stored_amt = !old.generate_random_password;
    let stored_mebx = !old.generate_random_mebx_password && old.activation == ACM;
    if acm && !random_mebx && new_mebx.is_none() && !stored_mebx {
        return Err(ApiError::rejected(
            "Error",
            format!("MEBx password is required for {ACM}"),
        ));
    }
    let needs_amt = new_amt.is_none() && !random_amt && stored_amt;
    let needs_mebx = new_mebx.is_none() && !random_mebx && stored_mebx && acm;
    let mut amt_secret = new_amt.clone().unwrap_or_default();
    let mut mebx_secret = new_mebx.clone().unwrap_or_default();
    if needs_amt || needs_mebx {
        let refuse = |what: &str| {
            ApiError::rejected(
                "Error",
                format!(
                    "Operation failed: {what} for profile {}; refusing to overwrite secret with placeholder",
                    old.profile_name
                ),
            )
        };
        let stored = state
            .secrets
            .get(&format!("profiles/{}", old.profile_name))
            .await
            .map_err(|e| ApiError::unexpected("PATCH", &name, e))?
            .ok_or_else(|| refuse("reading stored credentials"))?;
        let key = |k: &str| stored.get(k).and_then(Value::as_str).map(str::to_owned);
        if needs_amt {
            amt_secret = key("AMT_PASSWORD")
                .ok_or_else(|| refuse("stored credentials are missing AMT_PASSWORD"))?;
        }
        if needs_mebx {
            mebx_secret = key("MEBX_PASSWORD")
                .ok_or_else(|| refuse("stored credentials are missing MEBX_PASSWORD"))?;
        }
    }

    let tls_mode = int(&body, "tlsMode");
    let mut tls_authority =
        text(&body, "tlsSigningAuthority").or(old.tls_signing_authority.clone());
    if tls_mode.is_some_and(|m| m != 0) && tls_authority.is_none() {
        tls_authority = Some(SELF_SIGNED.to_owned());
    }
    if tls_mode.is_none_or(|m| m == 0) {
        tls_authority = None;
    }
    let mut row = old.clone().into_active_model();
    row.activation = Set(activation.clone());
    row.amt_password = Set((!random_amt).then(|| "AMT_PASSWORD".to_owned()));
    row.generate_random_password = Set(random_amt);
    row.mebx_password = Set((!random_mebx && acm).then(|| "MEBX_PASSWORD".to_owned()));
    row.generate_random_mebx_password = Set(random_mebx);
    row.cira_config_name = Set(text(&body, "ciraConfigName"));
    if let Some(tags) = body.get("tags").and_then(Value::as_array) {
        let tags = tags.iter().map(|v| js_string(Some(v))).collect();
        row.tags = Set(TextArray::new(Some(tags), state.db.backend()));
    } else {
        row.tags = Set(TextArray::new(
            old.tags.items().map(<[String]>::to_vec),
            state.db.backend(),
        ));
    }
    let keep = |field: &str, old: Option<bool>| boolean(&body, field).or(old);
    row.dhcp_enabled = Set(keep("dhcpEnabled", old.dhcp_enabled));
    row.ip_sync_enabled = Set(keep("ipSyncEnabled", old.ip_sync_enabled));
    row.local_wifi_sync_enabled = Set(keep("localWifiSyncEnabled", old.local_wifi_sync_enabled));
    row.uefi_wifi_sync_enabled = Set(keep("uefiWifiSyncEnabled", old.uefi_wifi_sync_enabled));
    row.tls_mode = Set(tls_mode);
    row.user_consent = Set(text(&body, "userConsent").or(old.user_consent.clone()));
    row.ider_enabled = Set(keep("iderEnabled", old.ider_enabled));
    row.kvm_enabled = Set(keep("kvmEnabled", old.kvm_enabled));
    row.sol_enabled = Set(keep("solEnabled", old.sol_enabled));
    row.tls_signing_authority = Set(tls_authority.clone());
    row.ieee8021x_profile_name = Set(text(&body, "ieee8021xProfileName"));

    // WiFi links follow the body's dhcpEnabled as the reference does; proxy links are always replaced.
    let new_dhcp = js_truthy(body.get("dhcpEnabled"));
    let old_dhcp = old.dhcp_enabled.unwrap_or(false);
    // The reference deletes the links when DHCP goes off and replaces them when it is on.
    let replace_wifi = old_dhcp || new_dhcp;
    let wifi = if new_dhcp {
        wifi_links(&body)
    } else {
        Vec::new()
    };
    let proxies = proxy_links(&body);
    let tenant = state.tenant.to_string();
    let outcome: Result<(), EditStop> = async {
        let txn = state.db.conn().begin().await.map_err(EditStop::Db)?;
        if replace_wifi {
            profiles_wirelessconfigs::Entity::delete_many()
                .filter(profiles_wirelessconfigs::Column::ProfileName.eq(&name))
                .filter(profiles_wirelessconfigs::Column::TenantId.eq(&tenant))
                .exec(&txn)
                .await
                .map_err(EditStop::Db)?;
        }
        profiles_proxyconfigs::Entity::delete_many()
            .filter(profiles_proxyconfigs::Column::ProfileName.eq(&name))
            .filter(profiles_proxyconfigs::Column::TenantId.eq(&tenant))
            .exec(&txn)
            .await
            .map_err(EditStop::Db)?;
        let updated = Profiles::update_many()
            .set(row)
            .filter(Column::ProfileName.eq(&name))
            .filter(Column::TenantId.eq(&tenant))
            .filter(version_matches(&sent_version))
            .exec(&txn)
            .await
            .map_err(EditStop::Db)?;
        if updated.rows_affected == 0 {
            // Dropping the transaction rolls back the link changes too.
            return Err(EditStop::Stale);
        }
        insert_links(&txn, &name, &tenant, &wifi, &proxies)
            .await
            .map_err(EditStop::Db)?;
        txn.commit().await.map_err(EditStop::Db)
    }
    .await;
    match outcome {
        Ok(()) => {}
        Err(EditStop::Stale) => {
            let current = find_view(state, &name)
                .await
                .map_err(|e| db_failure("PATCH", &name, e))?;
            let Some(current) = current else {
                return Err(ApiError::not_found("AMT", &name));
            };
            let version = current.version.clone();
            let body = serde_json::to_value(current).unwrap_or(Value::Null);
            return Err(ApiError::Concurrency {
                current: body,
                version,
                if_match: if_match(headers).is_some(),
            });
        }
        Err(EditStop::Db(e)) => {
            return Err(match violation(&e) {
                Some(Violation::ForeignKey) => ApiError::rejected(
                    "Foreign key constraint violation",
                    format!(
                        "Referenced config {} doesn't exist",
                        text(&body, "ciraConfigName").unwrap_or_default()
                    ),
                ),
                _ => {
                    tracing::error!(profile = %name, error = %e, "updating profile failed");
                    ApiError::rejected("Error", format!("Operation failed: {name}"))
                        .or_unavailable(&e)
                }
            });
        }
    }

    if tls_authority.as_deref() == Some(SELF_SIGNED) {
        let existing = state
            .secrets
            .get(&format!("TLS/{}", old.profile_name))
            .await
            .map_err(|e| ApiError::unexpected("PATCH", &name, e))?;
        if existing.is_none() {
            store_tls(state, &old.profile_name)
                .await
                .map_err(|e| ApiError::unexpected("PATCH", &name, e))?;
        }
    }
    let secret_path = format!("profiles/{}", old.profile_name);
    let stored = async {
        state.secrets.delete(&secret_path).await?;
        if !random_amt || !random_mebx {
            let amt = if random_amt {
                String::new()
            } else {
                amt_secret
            };
            let mebx = if random_mebx {
                String::new()
            } else {
                mebx_secret
            };
            state
                .secrets
                .put(&secret_path, credentials(&amt, &mebx))
                .await?;
        }
        Ok::<(), secrets::SecretError>(())
    }
    .await;
    stored.map_err(|e| ApiError::unexpected("PATCH", &name, e))?;
    tracing::info!(profile = %name, "updated profile");
    match find_view(state, &name).await {
        Ok(Some(view)) => Ok(view),
        Ok(None) => Err(ApiError::not_found("AMT", &name)),
        Err(e) => Err(db_failure("PATCH", &name, e)),
    }
}

pub async fn delete(State(state): State<AppState>, Path(name): Path<String>) -> Response {
    let row = match find_row(&state, &name).await {
        Ok(Some(row)) => row.model,
        Ok(None) => return ApiError::not_found("AMT", &name).into_response(),
        Err(e) => return db_failure("DELETE", &name, e).into_response(),
    };
    match delete_rows(&state, &name).await {
        Ok(0) => {
            return ApiError::rejected("Error", "Operation failed: Error deleting profile")
                .into_response();
        }
        Ok(_) => {}
        Err(e) => return db_failure("DELETE", &name, e).into_response(),
    }
    let cleanup = async {
        if !row.generate_random_password || !row.generate_random_mebx_password {
            state
                .secrets
                .delete(&format!("profiles/{}", row.profile_name))
                .await?;
        }
        state
            .secrets
            .delete(&format!("TLS/{}", row.profile_name))
            .await
    }
    .await;
    if let Err(e) = cleanup {
        return ApiError::unexpected("DELETE", &name, e).into_response();
    }
    StatusCode::NO_CONTENT.into_response()
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

    fn known(wifi: &[&str], proxies: &[&str], ieee_wired: Option<bool>) -> Known {
        Known {
            wifi: wifi.iter().map(|s| s.to_lowercase()).collect(),
            proxies: proxies.iter().map(|s| s.to_lowercase()).collect(),
            ieee_wired,
        }
    }

    #[test]
    fn post_password_rules() {
        let none = known(&[], &[], None);
        assert!(validate_create(&json!({"profileName": "p", "activation": "ccmactivate", "generateRandomPassword": true,
                                        "dhcpEnabled": true}), &none).is_ok());
        assert_eq!(
            messages(validate_create(
                &json!({"profileName": "p", "activation": "ccmactivate", "dhcpEnabled": true}),
                &none
            )),
            pairs([
                (
                    "activation",
                    "Either generateRandomPassword should be enabled or provide amtPassword"
                ),
                (
                    "generateRandomPassword",
                    "If generate random AMT password is disabled, amtPassword is mandatory"
                ),
            ])
        );
        assert_eq!(
            messages(validate_create(
                &json!({"profileName": "p", "activation": "acmactivate", "generateRandomPassword": false,
                                             "amtPassword": "weak", "dhcpEnabled": true}),
                &none
            )),
            pairs([
                ("activation", "MEBx Password is required for acmactivate"),
                ("amtPassword", AMT_PASSWORD_RULE),
                (
                    "generateRandomMEBxPassword",
                    "If generate random MEBx password is disabled, mebxPassword is mandatory"
                ),
            ])
        );
        assert_eq!(
            messages(validate_create(
                &json!({"profileName": "p", "activation": "ccmactivate", "generateRandomPassword": true,
                                             "amtPassword": "P@ssw0rd", "dhcpEnabled": true}),
                &none
            )),
            pairs([(
                "generateRandomPassword",
                "Either generate Random AMT Password should be enabled or should provide AMT Password but not both"
            )])
        );
    }

    #[test]
    fn post_options_links_and_consent() {
        let base = |extra: Value| {
            let mut b = json!({"profileName": "p", "activation": "ccmactivate", "generateRandomPassword": true});
            for (k, v) in extra.as_object().unwrap() {
                b[k] = v.clone();
            }
            b
        };
        let none = known(&[], &[], None);
        assert_eq!(
            messages(validate_create(&base(json!({})), &none)),
            pairs([
                ("dhcpEnabled", "Invalid value"),
                ("dhcpEnabled", "DHCP enabled must be a boolean")
            ])
        );
        assert_eq!(
            messages(validate_create(
                &base(
                    json!({"dhcpEnabled": false, "tlsMode": 4, "ciraConfigName": "c",
                                                    "wifiConfigs": [{"profileName": "home", "priority": 1}]})
                ),
                &none
            )),
            pairs([
                (
                    "ciraConfigName",
                    "CIRA cannot be configured if TLS is enabled"
                ),
                ("wifiConfigs", "Wifi supports only DHCP in AMT"),
            ])
        );
        let links =
            json!({"dhcpEnabled": true, "wifiConfigs": [{"profileName": "home", "priority": 256}]});
        assert_eq!(
            messages(validate_create(&base(links), &known(&["home"], &[], None))),
            pairs([(
                "wifiConfigs",
                "wifi config priority should be an integer and between 1 and 255"
            )])
        );
        let links = json!({"dhcpEnabled": true, "wifiConfigs": [{"profileName": "Home", "priority": 1},
                           {"profileName": "gone", "priority": 2}, {"profileName": "lost", "priority": 3}],
                           "proxyConfigs": [{"name": "px", "priority": 1}], "ieee8021xProfileName": "wl"});
        assert_eq!(
            messages(validate_create(
                &base(links),
                &known(&["home"], &[], Some(false))
            )),
            pairs([
                (
                    "wifiConfigs",
                    "wifi configs gone,lost does not exists in db"
                ),
                ("proxyConfigs", "proxy configs px does not exists in db"),
                (
                    "ieee8021xProfileName",
                    "Ieee8021x profile wl is for wireless interfaces"
                ),
            ])
        );
        assert_eq!(
            messages(validate_create(
                &base(
                    json!({"dhcpEnabled": true, "userConsent": "KVM", "tlsSigningAuthority": "Other"})
                ),
                &none
            )),
            pairs([
                (
                    "tlsSigningAuthority",
                    "TLS Signing Authority must be one of SelfSigned,MicrosoftCA"
                ),
                (
                    "userConsent",
                    "User consent is required for all the actions in client control mode"
                ),
            ])
        );
    }

    #[test]
    fn patch_needs_version_and_dhcp_for_wifi() {
        let none = known(&[], &[], None);
        assert_eq!(
            messages(validate_update(
                &json!({"profileName": "p", "activation": "ccmactivate",
                                             "wifiConfigs": [{"profileName": "home", "priority": 1}]}),
                &known(&["home"], &[], None)
            )),
            pairs([
                ("wifiConfigs", "DHCP enabled should be true"),
                ("version", "Version is required to patch/update a record."),
            ])
        );
        assert_eq!(
            messages(validate_update(
                &json!({"profileName": "p", "activation": "x", "version": 1,
                                             "ieee8021xProfileName": "none"}),
                &none
            )),
            pairs([
                ("activation", ACTIVATION_RULE),
                (
                    "ieee8021xProfileName",
                    "IEEEProfile config none does not exists in db"
                )
            ])
        );
    }

    #[test]
    fn password_rule_matches_the_reference_pattern() {
        assert!(strong_password("P@ssw0rd"));
        assert!(strong_password("Intel123!"));
        assert!(!strong_password("password"));
        assert!(!strong_password("P@ssw0r"));
        assert!(!strong_password("Passw0rd"), "needs one of !@#$%^&*");
        assert!(!strong_password(&format!("P@ssw0rd{}", "a".repeat(25))));
        assert!(!strong_password("P@ss w0rd"));
    }
}
