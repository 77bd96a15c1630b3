//! `/api/v1/admin/domains`: ACM provisioning certificates (rps.md §1.4). The PFX and its password live in the
//! secret store at `certs/<profileName>`; the table holds the placeholders `CERT` / `CERT_PASSWORD`.

use std::collections::HashMap;

use axum::body::Bytes;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use regex::Regex;
use sea_orm::sea_query::{Expr, ExprTrait};
use sea_orm::{
    ActiveValue::Set, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect,
};
use serde::Serialize;
use serde_json::{Map, Value, json};
use std::sync::LazyLock;
use time::{OffsetDateTime, PrimitiveDateTime};

use super::AppState;
use super::common::{db_failure, if_match, iso, non_empty, text, version};
use super::error::{ApiError, json_response};
use super::http::parse_body;
use super::page::{Listing, Page};
use super::validate::Validator;
use crate::db::entities::domains::{self, Column, Entity as Domains};
use crate::db::{Versioned, Violation, select_versioned, version_matches, violation};
use crate::pfx::Pfx;

static NAME: LazyLock<Regex> =
    LazyLock::new(|| Regex::new("^[a-zA-Z0-9_-]+$").expect("valid regex"));

/// What a domain looks like to clients: never the certificate or its password.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct DomainView {
    profile_name: String,
    domain_suffix: String,
    provisioning_cert_storage_format: Option<String>,
    expiration_date: Option<String>,
    tenant_id: String,
    version: String,
}

impl From<Versioned<domains::Model>> for DomainView {
    fn from(row: Versioned<domains::Model>) -> Self {
        let m = row.model;
        DomainView {
            profile_name: m.name,
            domain_suffix: m.domain_suffix,
            provisioning_cert_storage_format: m.provisioning_cert_storage_format,
            expiration_date: iso(m.expiration_date),
            tenant_id: m.tenant_id,
            version: row.version,
        }
    }
}

fn duplicate(name: &str) -> ApiError {
    ApiError::rejected(
        "Unique key violation",
        format!("Domain {name} ID or Suffix already exists"),
    )
}

fn to_naive(t: OffsetDateTime) -> PrimitiveDateTime {
    PrimitiveDateTime::new(t.date(), t.time())
}

async fn find(
    state: &AppState,
    name: &str,
) -> Result<Option<Versioned<domains::Model>>, sea_orm::DbErr> {
    select_versioned::<Domains>()
        .filter(Column::Name.eq(name))
        .filter(Column::TenantId.eq(&*state.tenant))
        .into_model::<Versioned<domains::Model>>()
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
    let rows = select_versioned::<Domains>()
        .filter(Column::TenantId.eq(&*state.tenant))
        .order_by_asc(Column::Name)
        .limit(page.top)
        .offset(page.skip)
        .into_model::<Versioned<domains::Model>>()
        .all(state.db.conn())
        .await;
    let rows = match rows {
        Ok(rows) => rows.into_iter().map(DomainView::from).collect::<Vec<_>>(),
        Err(e) => return db_failure("GET", "", e).into_response(),
    };
    let listing = if page.count {
        match Domains::find()
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
        Ok(Some(row)) => json_response(StatusCode::OK, &DomainView::from(row)),
        Ok(None) => ApiError::not_found("Domain", &name).into_response(),
        Err(e) => db_failure("GET", &name, e).into_response(),
    }
}

/// POST validation, in the reference's order, with the PFX checks on `provisioningCert`.
pub fn validate_create(
    body: &Value,
    now: OffsetDateTime,
) -> Result<Map<String, Value>, Vec<super::validate::FieldError>> {
    let mut v = Validator::body(body);
    v.check("profileName")
        .not_empty()
        .with_message("AMT Domain profile name is required")
        .matches(&NAME)
        .with_message(
            "AMT Domain profile name accepts letters, numbers, hyphens (-), and underscores (_)",
        );
    v.check("provisioningCertPassword")
        .not_empty()
        .with_message("Provisioning Cert Password is required")
        .is_length(None, Some(64))
        .with_message("Password should not exceed 64 characters in length");
    v.check("domainSuffix")
        .not_empty()
        .with_message("Domain suffix name is required");
    let password = v.get("provisioningCertPassword").cloned();
    let suffix = v.get("domainSuffix").cloned();
    v.check("provisioningCert")
        .not_empty()
        .with_message("Provisioning certificate is required")
        .custom(|cert| {
            let as_text = |x: Option<&Value>| super::validate::js_string(x);
            let (cert, password) = (as_text(cert), as_text(password.as_ref()));
            if cert.is_empty() || password.is_empty() {
                return Ok(());
            }
            let pfx = Pfx::open(&cert, &password)?;
            pfx.check(&as_text(suffix.as_ref()), now)
        });
    v.check("provisioningCertStorageFormat")
        .not_empty()
        .with_message("Provisioning Cert Storage Format is required")
        .is_in(&["raw", "string"])
        .with_message("Provisioning Cert Storage Format should be either 'raw' or 'string'");
    v.finish()
}

pub async fn create(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    match create_domain(&state, &headers, &body).await {
        Ok(view) => json_response(StatusCode::CREATED, &view),
        Err(e) => e.into_response(),
    }
}

async fn create_domain(
    state: &AppState,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<DomainView, ApiError> {
    let body = parse_body(headers, body)?;
    let body = validate_create(&body, OffsetDateTime::now_utc()).map_err(ApiError::Validation)?;
    let name = text(&body, "profileName").unwrap_or_default();
    let cert = text(&body, "provisioningCert").unwrap_or_default();
    let password = text(&body, "provisioningCertPassword").unwrap_or_default();
    let expiration = Pfx::open(&cert, &password)
        .map(|p| to_naive(p.expiration()))
        .map_err(|e| ApiError::unexpected("POST", &name, e))?;
    let row = domains::ActiveModel {
        name: Set(name.clone()),
        domain_suffix: Set(text(&body, "domainSuffix").unwrap_or_default()),
        provisioning_cert: Set(Some("CERT".into())),
        provisioning_cert_storage_format: Set(text(&body, "provisioningCertStorageFormat")),
        provisioning_cert_key: Set(Some("CERT_PASSWORD".into())),
        creation_date: Set(None),
        expiration_date: Set(Some(expiration)),
        created_by: Set(None),
        tenant_id: Set(state.tenant.to_string()),
    };
    if let Err(e) = Domains::insert(row)
        .exec_without_returning(state.db.conn())
        .await
    {
        return Err(match violation(&e) {
            Some(Violation::Unique) => duplicate(&name),
            _ => {
                tracing::error!(domain = %name, error = %e, "inserting domain failed");
                ApiError::rejected("Error", format!("Operation failed: {name}")).or_unavailable(&e)
            }
        });
    }
    let secret = json!({"CERT": cert, "CERT_PASSWORD": password});
    let secret = secret.as_object().cloned().unwrap_or_default();
    if let Err(e) = state.secrets.put(&format!("certs/{name}"), secret).await {
        // Undo the row: a domain without its certificate cannot activate anything.
        let undo = Domains::delete_many()
            .filter(Column::Name.eq(&name))
            .filter(Column::TenantId.eq(&*state.tenant))
            .exec(state.db.conn())
            .await;
        if let Err(u) = undo {
            tracing::error!(domain = %name, error = %u, "undoing domain insert failed");
        }
        return Err(ApiError::unexpected("POST", &name, e));
    }
    tracing::info!(domain = %name, "created domain");
    match find(state, &name).await {
        Ok(Some(row)) => Ok(row.into()),
        Ok(None) => Err(ApiError::unexpected(
            "POST",
            &name,
            "domain vanished after insert",
        )),
        Err(e) => Err(db_failure("POST", &name, e)),
    }
}

pub fn validate_update(
    body: &Value,
) -> Result<Map<String, Value>, Vec<super::validate::FieldError>> {
    let mut v = Validator::body(body);
    v.check("profileName")
        .not_empty()
        .with_message("AMT Domain profile name is required")
        .matches(&NAME)
        .with_message(
            "AMT Domain profile name accepts letters, numbers, hyphens (-), and underscores (_)",
        );
    v.check("provisioningCertStorageFormat")
        .is_in(&["raw", "string"])
        .with_message("Provisioning Cert Storage Format is either \"raw\" or \"string\"");
    v.check("provisioningCertPassword")
        .is_length(None, Some(64))
        .with_message("Password should not exceed 64 characters in length");
    v.finish()
}

pub async fn edit(State(state): State<AppState>, headers: HeaderMap, body: Bytes) -> Response {
    match edit_domain(&state, &headers, &body).await {
        Ok(view) => json_response(StatusCode::OK, &view),
        Err(e) => e.into_response(),
    }
}

async fn edit_domain(
    state: &AppState,
    headers: &HeaderMap,
    body: &Bytes,
) -> Result<DomainView, ApiError> {
    let body = parse_body(headers, body)?;
    let body = validate_update(&body).map_err(ApiError::Validation)?;
    let name = text(&body, "profileName").unwrap_or_default();
    let old = match find(state, &name).await {
        Ok(Some(old)) => old,
        Ok(None) => return Err(ApiError::not_found("Domain", &name)),
        Err(e) => return Err(db_failure("PATCH", &name, e)),
    };
    let new_cert = non_empty(&body, "provisioningCert");
    let new_password = non_empty(&body, "provisioningCertPassword");
    let secret_path = format!("certs/{}", old.model.name);
    let stored = if new_cert.is_some() || new_password.is_some() {
        state
            .secrets
            .get(&secret_path)
            .await
            .map_err(|e| ApiError::unexpected("PATCH", &name, e))?
    } else {
        None
    };
    let stored_text = |key: &str| {
        stored
            .as_ref()
            .and_then(|s| s.get(key))
            .and_then(Value::as_str)
            .map(str::to_owned)
    };
    let password = new_password
        .clone()
        .or_else(|| stored_text("CERT_PASSWORD"));
    let expiration = match &new_cert {
        // No content checks on PATCH (the reference accepts an expired PFX here); it must still open.
        Some(cert) => Some(to_naive(
            Pfx::open(cert, password.as_deref().unwrap_or_default())
                .map_err(|e| ApiError::unexpected("PATCH", &name, e))?
                .expiration(),
        )),
        None => old.model.expiration_date,
    };
    let sent_version = version(&body, headers, false).unwrap_or_default();
    let update = Domains::update_many()
        .col_expr(
            Column::DomainSuffix,
            Expr::val(
                text(&body, "domainSuffix").unwrap_or_else(|| old.model.domain_suffix.clone()),
            )
            .cast_as("citext"),
        )
        .col_expr(Column::ProvisioningCert, Expr::val("CERT"))
        .col_expr(
            Column::ProvisioningCertStorageFormat,
            Expr::val(
                text(&body, "provisioningCertStorageFormat")
                    .or(old.model.provisioning_cert_storage_format.clone()),
            ),
        )
        .col_expr(Column::ProvisioningCertKey, Expr::val("CERT_PASSWORD"))
        .col_expr(Column::ExpirationDate, Expr::val(expiration))
        .filter(Column::Name.eq(&name))
        .filter(Column::TenantId.eq(&*state.tenant))
        .filter(version_matches(&sent_version))
        .exec(state.db.conn())
        .await;
    let updated = match update {
        Ok(r) => r.rows_affected,
        Err(e) if violation(&e) == Some(Violation::Unique) => return Err(duplicate(&name)),
        Err(e) => {
            tracing::error!(domain = %name, error = %e, "updating domain failed");
            return Err(
                ApiError::rejected("Error", format!("Operation failed: {name}")).or_unavailable(&e),
            );
        }
    };
    let current = find(state, &name)
        .await
        .map_err(|e| db_failure("PATCH", &name, e))?;
    let Some(current) = current else {
        return Err(ApiError::not_found("Domain", &name));
    };
    if updated == 0 {
        let version = current.version.clone();
        let view = serde_json::to_value(DomainView::from(current)).unwrap_or(Value::Null);
        return Err(ApiError::Concurrency {
            current: view,
            version,
            if_match: if_match(headers).is_some(),
        });
    }
    if new_cert.is_some() || new_password.is_some() {
        let cert = new_cert.or_else(|| stored_text("CERT")).unwrap_or_default();
        let secret = json!({"CERT": cert, "CERT_PASSWORD": password.unwrap_or_default()});
        if let Err(e) = state
            .secrets
            .put(
                &secret_path,
                secret.as_object().cloned().unwrap_or_default(),
            )
            .await
        {
            return Err(ApiError::unexpected("PATCH", &name, e));
        }
    }
    Ok(current.into())
}

pub async fn delete(State(state): State<AppState>, Path(name): Path<String>) -> Response {
    let row = match find(&state, &name).await {
        Ok(Some(row)) => row,
        Ok(None) => return ApiError::not_found("Domain", &name).into_response(),
        Err(e) => return db_failure("DELETE", &name, e).into_response(),
    };
    let deleted = Domains::delete_many()
        .filter(Column::Name.eq(&name))
        .filter(Column::TenantId.eq(&*state.tenant))
        .exec(state.db.conn())
        .await;
    if let Err(e) = deleted {
        return db_failure("DELETE", &name, e).into_response();
    }
    if let Err(e) = state
        .secrets
        .delete(&format!("certs/{}", row.model.name))
        .await
    {
        return ApiError::unexpected("DELETE", &name, e).into_response();
    }
    StatusCode::NO_CONTENT.into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    use certs::provisioning::{ChainOptions, Pkcs12Encryption, ProvisioningChain};
    use time::macros::datetime;

    /// A POST body carrying a chain made with `options`.
    fn body_for(options: ChainOptions, suffix: &str) -> Value {
        let chain = ProvisioningChain::generate(&options).expect("provisioning chain");
        json!({"profileName": "vprodemo", "domainSuffix": suffix, "provisioningCert": chain.pfx_base64(),
               "provisioningCertStorageFormat": "raw", "provisioningCertPassword": chain.password})
    }

    /// A chain for `leaf_cn` valid from 2024-01-01 to 2034-01-01.
    fn options(leaf_cn: &str) -> ChainOptions {
        ChainOptions::new(leaf_cn, "P@ssw0rd").valid(
            datetime!(2024-01-01 00:00:00 UTC),
            datetime!(2034-01-01 00:00:00 UTC),
        )
    }

    fn messages(
        result: Result<Map<String, Value>, Vec<super::super::validate::FieldError>>,
    ) -> Vec<(String, String)> {
        result
            .err()
            .unwrap_or_default()
            .into_iter()
            .map(|e| (e.path, e.msg))
            .collect()
    }

    fn at(year: i32) -> OffsetDateTime {
        OffsetDateTime::new_utc(
            time::Date::from_ordinal_date(year, 100).unwrap(),
            time::Time::MIDNIGHT,
        )
    }

    #[test]
    fn empty_post_lists_every_rule_in_order() {
        assert_eq!(
            messages(validate_create(&json!({}), at(2026))),
            [
                ("profileName", "AMT Domain profile name is required"),
                ("profileName", "AMT Domain profile name accepts letters, numbers, hyphens (-), and underscores (_)"),
                ("provisioningCertPassword", "Provisioning Cert Password is required"),
                ("domainSuffix", "Domain suffix name is required"),
                ("provisioningCert", "Provisioning certificate is required"),
                ("provisioningCertStorageFormat", "Provisioning Cert Storage Format is required"),
                ("provisioningCertStorageFormat", "Provisioning Cert Storage Format should be either 'raw' or 'string'"),
            ]
            .map(|(p, m)| (p.to_owned(), m.to_owned()))
        );
    }

    #[test]
    fn generated_pfx_files_pass_or_fail_the_create_checks() {
        let valid = body_for(options("intel.vprodemo.com"), "vprodemo.com");
        assert!(validate_create(&valid, at(2026)).is_ok());
        // Legacy (3DES, SHA-1 MAC) files, as most CAs export them, open too.
        let legacy = body_for(
            options("test.test.com").encryption(Pkcs12Encryption::Legacy),
            "test.com",
        );
        assert!(validate_create(&legacy, at(2026)).is_ok());

        let cert_error = |body: Value, now| {
            messages(validate_create(&body, now))
                .first()
                .map(|e| e.1.clone())
        };
        let mut wrong_password = valid.clone();
        wrong_password["provisioningCertPassword"] = json!("Wr0ng!pass");
        assert_eq!(
            cert_error(wrong_password, at(2026)).as_deref(),
            Some(crate::pfx::DECRYPT_FAILED)
        );
        let mut other_suffix = valid.clone();
        other_suffix["domainSuffix"] = json!("example.org");
        assert_eq!(
            cert_error(other_suffix, at(2026)).as_deref(),
            Some("FQDN not associated with provisioning certificate")
        );
        // The suffix compares the last two labels only.
        let mut deeper = valid.clone();
        deeper["domainSuffix"] = json!("a.b.vprodemo.com");
        assert!(validate_create(&deeper, at(2026)).is_ok());
        assert_eq!(
            cert_error(valid.clone(), at(2040)).as_deref(),
            Some("Uploaded certificate has expired")
        );
        assert_eq!(
            cert_error(valid, at(2000)).as_deref(),
            Some(
                "Uploaded certificate is not yet valid: notBefore date 2024-01-01T00:00:00.000Z is in the future"
            )
        );
        assert_eq!(
            cert_error(
                body_for(options("intel.vprodemo.com").without_root(), "vprodemo.com"),
                at(2026)
            )
            .as_deref(),
            Some("Provisioning certificate does not contain a root certificate")
        );
        assert_eq!(
            cert_error(
                body_for(
                    options("intel.vprodemo.com").without_amt_eku(),
                    "vprodemo.com"
                ),
                at(2026)
            )
            .as_deref(),
            Some(
                "Leaf certificate is missing the Intel AMT Activation EKU OID (2.16.840.1.113741.1.2.3)"
            )
        );
        // An expired PFX is refused on POST and accepted on PATCH (no content checks there).
        let expired = body_for(
            options("intel.vprodemo.com").valid(
                datetime!(2020-01-01 00:00:00 UTC),
                datetime!(2023-06-30 00:00:00 UTC),
            ),
            "vprodemo.com",
        );
        assert_eq!(
            cert_error(expired.clone(), at(2026)).as_deref(),
            Some("Uploaded certificate has expired")
        );
        assert!(validate_update(&expired).is_ok());
    }

    #[test]
    fn patch_rules() {
        assert_eq!(
            messages(validate_update(&json!({"profileName": "bad name", "provisioningCertStorageFormat": "pem",
                                              "provisioningCertPassword": "x".repeat(65)}))),
            [
                ("profileName", "AMT Domain profile name accepts letters, numbers, hyphens (-), and underscores (_)"),
                ("provisioningCertStorageFormat", "Provisioning Cert Storage Format is either \"raw\" or \"string\""),
                ("provisioningCertPassword", "Password should not exceed 64 characters in length"),
            ]
            .map(|(p, m)| (p.to_owned(), m.to_owned()))
        );
    }
}
