//! `/api/v1/admin/proxyconfigs` (rps.md §1.9): HTTP proxies AMT can use. No version, no secrets.

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
use super::addresses::{PROXY_FQDN, PROXY_IPV4, PROXY_IPV6, info_format};
use super::common::{db_failure, int, now, text};
use super::error::{ApiError, json_response};
use super::http::parse_body;
use super::page::{Listing, Page};
use super::validate::{FieldError, Validator, js_string};
use crate::db::entities::profiles_proxyconfigs;
use crate::db::entities::proxyconfigs::{self, Column, Entity as Proxies};
use crate::db::{Violation, violation};

static ALNUM: LazyLock<Regex> =
    LazyLock::new(|| Regex::new("^[a-zA-Z0-9]+$").expect("valid regex"));

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct ProxyView {
    name: String,
    address: String,
    info_format: i32,
    port: i32,
    network_dns_suffix: Option<String>,
    tenant_id: String,
}

impl From<proxyconfigs::Model> for ProxyView {
    fn from(m: proxyconfigs::Model) -> Self {
        ProxyView {
            name: m.proxy_config_name,
            address: m.address,
            info_format: m.info_format,
            port: m.port,
            network_dns_suffix: m.network_dns_suffix,
            tenant_id: m.tenant_id,
        }
    }
}

pub fn validate(body: &Value, patch: bool) -> Result<Map<String, Value>, Vec<FieldError>> {
    let mut v = Validator::body(body);
    if !patch {
        v.check("name")
            .not_empty()
            .with_message("Proxy profile name is required")
            .matches(&ALNUM)
            .with_message("Proxy profile name should be alphanumeric")
            .is_length(None, Some(32))
            .with_message("Proxy profile name maximum length is 32");
    }
    v.check("address")
        .not_empty()
        .with_message("Server address is required")
        .custom(|value| {
            let address = js_string(value);
            if PROXY_IPV4.is_match(&address)
                || PROXY_IPV6.is_match(&address)
                || PROXY_FQDN.is_match(&address)
            {
                Ok(())
            } else {
                Err("Server address must be a valid IPv4, IPv6, or FQDN".into())
            }
        });
    v.check("port")
        .exists()
        .is_port()
        .with_message("Port value should range between 1 and 65535");
    v.check("networkDnsSuffix")
        .not_empty()
        .with_message("Domain name of the network is required")
        .is_fqdn()
        .with_message(
            "Domain name of the network should contain alphanumeric and hyphens in the middle",
        )
        .is_length(None, Some(192))
        .with_message("Domain name of the network maximum length is 192");
    v.finish()
}

async fn find(state: &AppState, name: &str) -> Result<Option<proxyconfigs::Model>, sea_orm::DbErr> {
    Proxies::find()
        .filter(Column::ProxyConfigName.eq(name))
        .filter(Column::TenantId.eq(&*state.tenant))
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
    let rows = Proxies::find()
        .filter(Column::TenantId.eq(&*state.tenant))
        .order_by_asc(Column::ProxyConfigName)
        .limit(page.top)
        .offset(page.skip)
        .all(state.db.conn())
        .await;
    let rows: Vec<ProxyView> = match rows {
        Ok(rows) => rows.into_iter().map(ProxyView::from).collect(),
        Err(e) => return db_failure("GET", "", e).into_response(),
    };
    let listing = if page.count {
        match Proxies::find()
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
        Ok(Some(row)) => json_response(StatusCode::OK, &ProxyView::from(row)),
        Ok(None) => ApiError::not_found("Proxy", &name).into_response(),
        Err(e) => db_failure("GET", &name, e).into_response(),
    }
}

fn duplicate_or_failure(name: &str, e: &sea_orm::DbErr, duplicate_is_named: bool) -> ApiError {
    if duplicate_is_named && violation(e) == Some(Violation::Unique) {
        return ApiError::rejected(
            "Unique key violation",
            format!("Proxy profile {name} already exists"),
        );
    }
    tracing::error!(proxy = %name, error = %e, "writing proxy config failed");
    ApiError::rejected(
        "Error",
        format!("Operation failed for Proxy profile: {name}"),
    )
    .or_unavailable(e)
}

pub async fn create(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    let result = async {
        let body = parse_body(&headers, &body)?;
        let body = validate(&body, false).map_err(ApiError::Validation)?;
        let name = text(&body, "name").unwrap_or_default();
        let address = text(&body, "address").unwrap_or_default();
        let row = proxyconfigs::ActiveModel {
            proxy_config_name: Set(name.clone()),
            info_format: Set(info_format(&address)),
            address: Set(address),
            port: Set(int(&body, "port").unwrap_or_default()),
            network_dns_suffix: Set(text(&body, "networkDnsSuffix")),
            creation_date: Set(Some(now())),
            tenant_id: Set(state.tenant.to_string()),
        };
        Proxies::insert(row)
            .exec_without_returning(state.db.conn())
            .await
            .map_err(|e| duplicate_or_failure(&name, &e, true))?;
        match find(&state, &name).await {
            Ok(Some(row)) => Ok(ProxyView::from(row)),
            Ok(None) => Err(ApiError::unexpected(
                "POST",
                "proxyConfig.name",
                "proxy vanished after insert",
            )),
            Err(e) => Err(db_failure("POST", "proxyConfig.name", e)),
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
        let name = text(&body, "name").unwrap_or_default();
        let old = match find(&state, &name).await {
            Ok(Some(old)) => old,
            Ok(None) => return Err(ApiError::not_found("Proxy", &name)),
            Err(e) => return Err(db_failure("PATCH", "proxyConfigAccessInfo", e)),
        };
        let address = text(&body, "address").unwrap_or_else(|| old.address.clone());
        let mut row = old.clone().into_active_model();
        row.info_format = Set(info_format(&address));
        row.address = Set(address);
        row.network_dns_suffix =
            Set(text(&body, "networkDnsSuffix").or(old.network_dns_suffix.clone()));
        row.port = Set(int(&body, "port").unwrap_or(old.port));
        Proxies::update_many()
            .set(row)
            .filter(Column::ProxyConfigName.eq(&name))
            .filter(Column::TenantId.eq(&*state.tenant))
            .exec(state.db.conn())
            .await
            .map_err(|e| duplicate_or_failure(&name, &e, false))?;
        match find(&state, &name).await {
            Ok(Some(row)) => Ok(ProxyView::from(row)),
            Ok(None) => Err(ApiError::not_found("Proxy", &name)),
            Err(e) => Err(db_failure("PATCH", "proxyConfigAccessInfo", e)),
        }
    }
    .await;
    match result {
        Ok(view) => json_response(StatusCode::OK, &view),
        Err(e) => e.into_response(),
    }
}

pub async fn delete(State(state): State<AppState>, Path(name): Path<String>) -> Response {
    match find(&state, &name).await {
        Ok(Some(_)) => {}
        Ok(None) => return ApiError::not_found("Proxy", &name).into_response(),
        Err(e) => return db_failure("DELETE", "deleteProxyProfile", e).into_response(),
    }
    let used = profiles_proxyconfigs::Entity::find()
        .filter(profiles_proxyconfigs::Column::ProxyConfigName.eq(&name))
        .filter(profiles_proxyconfigs::Column::TenantId.eq(&*state.tenant))
        .count(state.db.conn())
        .await;
    match used {
        Ok(0) => {}
        Ok(_) => {
            return ApiError::rejected(
                "Foreign key violation",
                format!("Proxy profile: {name} is associated with an AMT Profile."),
            )
            .into_response();
        }
        Err(e) => return db_failure("DELETE", "deleteProxyProfile", e).into_response(),
    }
    let deleted = Proxies::delete_many()
        .filter(Column::ProxyConfigName.eq(&name))
        .filter(Column::TenantId.eq(&*state.tenant))
        .exec(state.db.conn())
        .await;
    match deleted {
        Ok(_) => StatusCode::NO_CONTENT.into_response(),
        Err(e) => {
            tracing::error!(proxy = %name, error = %e, "deleting proxy config failed");
            ApiError::rejected(
                "Error",
                format!("Operation failed: Delete proxy configuration : {name}"),
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
    fn post_rules_and_messages() {
        assert!(
            validate(
                &json!({"name": "p1", "address": "proxy.example.com", "port": 3128,
                                  "networkDnsSuffix": "example.com"}),
                false
            )
            .is_ok()
        );
        let got = messages(validate(
            &json!({"name": "", "address": "not a host", "networkDnsSuffix": "-bad-.com"}),
            false,
        ));
        let want = [
            ("name", "Proxy profile name is required"),
            ("name", "Proxy profile name should be alphanumeric"),
            (
                "address",
                "Server address must be a valid IPv4, IPv6, or FQDN",
            ),
            ("port", "Invalid value"),
            ("port", "Port value should range between 1 and 65535"),
            (
                "networkDnsSuffix",
                "Domain name of the network should contain alphanumeric and hyphens in the middle",
            ),
        ];
        assert_eq!(got, want.map(|(p, m)| (p.to_owned(), m.to_owned())));
        let got = messages(validate(
            &json!({"address": "10.0.0.1", "port": 70000, "networkDnsSuffix": "example.com"}),
            true,
        ));
        assert_eq!(
            got,
            vec![(
                "port".to_owned(),
                "Port value should range between 1 and 65535".to_owned()
            )]
        );
    }
}
