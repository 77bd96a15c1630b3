//! `POST /api/v1/authorize` (the login JWT) and `GET /api/v1/authorize/redirection/:guid` (the
//! short-lived token the redirection relay accepts), with the reference's claims.

use std::net::{IpAddr, SocketAddr};
use std::time::{SystemTime, UNIX_EPOCH};

use axum::extract::{ConnectInfo, Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Extension, Json, Router};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use super::JsonBody;
use super::devices::REQUEST_TENANT;
use super::errors::empty;
use super::validate::{self as v, Checks, INVALID, Loc};
use crate::config::MpsConfig;
use crate::service::Mps;

pub fn routes() -> Router<Mps> {
    Router::new()
        .route("/api/v1/authorize", post(login))
        .route("/api/v1/authorize/redirection/{guid}", get(redirection))
}

/// The reference's claims, in its order: no `iat`, no `sub`.
#[derive(Debug, Serialize, Deserialize)]
pub struct RedirectionClaims {
    #[serde(rename = "tenantId")]
    pub tenant_id: String,
    pub iss: String,
    #[serde(rename = "deviceId")]
    pub device_id: String,
    pub exp: u64,
}

fn sign(
    config: &MpsConfig,
    tenant: &str,
    device: &str,
    minutes: u64,
) -> Result<String, jsonwebtoken::errors::Error> {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let claims = RedirectionClaims {
        tenant_id: tenant.into(),
        iss: config.jwt_issuer.clone(),
        device_id: device.into(),
        exp: now + minutes * 60,
    };
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(config.jwt_secret.as_bytes())?,
    )
}

/// What the relay checks on `Sec-WebSocket-Protocol`: HS256 with `jwt_secret`, not expired, and
/// `deviceId` naming the device the relay is asked for.
pub fn verify_redirection_token(
    config: &MpsConfig,
    token: &str,
    guid: &str,
) -> Option<RedirectionClaims> {
    let key = DecodingKey::from_secret(config.jwt_secret.as_bytes()).ok()?;
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_required_spec_claims(&["exp"]);
    validation.leeway = 0;
    let data = jsonwebtoken::decode::<RedirectionClaims>(token, &key, &validation).ok()?;
    data.claims
        .device_id
        .eq_ignore_ascii_case(guid)
        .then_some(data.claims)
}

/// The address a login came from: the one the nearest proxy (Kong, the gateway) appended to
/// `X-Forwarded-For`, else the TCP peer. Only proxies reach MPS's REST port in a deployment, so the
/// header's last entry is the proxy's own observation, not the client's claim.
fn client_address(headers: &HeaderMap, peer: Option<SocketAddr>) -> Option<IpAddr> {
    headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .next_back()
        .and_then(|last| last.trim().parse().ok())
        .or(peer.map(|p| p.ip()))
}

async fn login(
    State(mps): State<Mps>,
    // Absent when the router is driven without a listener (tests).
    peer: Option<Extension<ConnectInfo<SocketAddr>>>,
    headers: HeaderMap,
    JsonBody(body): JsonBody,
) -> Response {
    let mut c = Checks::new();
    let user = body.get("username");
    c.check(
        user.is_some_and(Value::is_string),
        Loc::Body,
        "username",
        user,
        INVALID,
    );
    c.check(
        !v::js_string(user).is_empty(),
        Loc::Body,
        "username",
        user,
        "User name is required",
    );
    let pass = body.get("password");
    c.check(
        !v::js_string(pass).is_empty(),
        Loc::Body,
        "password",
        pass,
        "Password is required",
    );
    if let Err(r) = c.finish() {
        return r.into_response();
    }
    let cfg = mps.config();
    if !cfg.web_auth_enabled {
        return (
            StatusCode::METHOD_NOT_ALLOWED,
            Json(json!({ "message": "Authentication disabled on MPS" })),
        )
            .into_response();
    }
    let user = v::js_string(user);
    let pass = v::js_string(pass);
    // Guessing is slowed down per client address: past a few failures each attempt waits its turn.
    let address = client_address(&headers, peer.map(|Extension(ConnectInfo(p))| p))
        .unwrap_or(IpAddr::V6(std::net::Ipv6Addr::UNSPECIFIED));
    let admission = match mps.login_throttle().admit(address).await {
        Ok(admission) => admission,
        Err(e) => {
            tracing::warn!(%address, error = %e, "login refused: too many failed attempts");
            let retry_after = e.retry_after.as_secs().max(1);
            return (
                StatusCode::TOO_MANY_REQUESTS,
                [(header::RETRY_AFTER, retry_after.to_string())],
                Json(json!({
                    "message": format!("Too many failed login attempts. Try again in {retry_after} seconds.")
                })),
            )
                .into_response();
        }
    };
    let right_user = user.eq_ignore_ascii_case(&cfg.web_admin_user);
    let right_password =
        crate::constant_time_eq(pass.as_bytes(), cfg.web_admin_password.as_bytes());
    if !right_user || !right_password {
        let failures = admission.failed();
        tracing::info!(username = %user, %address, failures, "login refused");
        return (
            StatusCode::UNAUTHORIZED,
            Json(json!({ "message": "Incorrect Username and/or Password!" })),
        )
            .into_response();
    }
    admission.succeeded();
    match sign(cfg, "", "*", cfg.jwt_expiration) {
        Ok(token) => Json(json!({ "token": token })).into_response(),
        Err(e) => {
            tracing::error!(error = %e, "login token signing failed");
            empty(StatusCode::INTERNAL_SERVER_ERROR)
        }
    }
}

async fn redirection(State(mps): State<Mps>, Path(guid): Path<String>) -> Response {
    let mut c = Checks::new();
    c.check(
        v::is_uuid_loose(&guid),
        Loc::Params,
        "guid",
        Some(&Value::String(guid.clone())),
        INVALID,
    );
    if let Err(r) = c.finish() {
        return r.into_response();
    }
    match mps.registry().get(&guid, Some(REQUEST_TENANT)).await {
        Ok(Some(d)) => match sign(
            mps.config(),
            &d.tenant_id,
            &d.guid,
            mps.config().redirection_expiration_time,
        ) {
            Ok(token) => Json(json!({ "token": token })).into_response(),
            Err(e) => {
                tracing::error!(error = %e, "redirection token signing failed");
                empty(StatusCode::INTERNAL_SERVER_ERROR)
            }
        },
        Ok(None) => empty(StatusCode::NOT_FOUND),
        Err(e) => {
            tracing::error!(guid, error = %e, "redirection token lookup failed");
            empty(StatusCode::INTERNAL_SERVER_ERROR)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redirection_token_round_trip_and_device_binding() {
        let cfg = MpsConfig {
            jwt_secret: "mpssecret".into(),
            ..Default::default()
        };
        let guid = "d12428be-9fa1-4226-9784-54b2038beab6";
        let t = sign(&cfg, "", guid, 5).unwrap();
        let c = verify_redirection_token(&cfg, &t, guid).unwrap();
        assert_eq!(c.iss, cfg.jwt_issuer);
        assert!(
            verify_redirection_token(&cfg, &t, "143e4567-e89b-12d3-a456-426614174000").is_none()
        );
        let other = MpsConfig {
            jwt_secret: "other".into(),
            ..Default::default()
        };
        assert!(verify_redirection_token(&other, &t, guid).is_none());
        // The payload carries exactly the reference's four claims.
        let payload = t.split('.').nth(1).unwrap();
        use base64::Engine;
        let json: Value = serde_json::from_slice(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(payload)
                .unwrap(),
        )
        .unwrap();
        let keys: Vec<&String> = json.as_object().unwrap().keys().collect();
        assert_eq!(keys.len(), 4);
        assert_eq!(json["deviceId"], guid);
        assert_eq!(json["tenantId"], "");
    }
}
