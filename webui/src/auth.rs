//! Checks the login token on the event stream the way Kong's `jwt` plugin checks it on `/mps` and
//! `/rps` (spec deploy-ui §2.2): credential by `iss`, HS256 signature with MPS's secret, `exp`, and
//! Kong's exact 401 bodies, so the UI's session handling is the same for every endpoint. The gateway
//! does not protect `/` (the web UI's route), so this server must.
//!
//! One rule beyond Kong: only a login token (`deviceId` `*`) opens the fleet stream; a device's
//! short-lived redirection token, signed with the same secret, does not.

use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde_json::{Value, json};

/// Why a token was refused, with the body Kong sends for it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TokenError {
    #[error("no token")]
    Missing,
    #[error("the token is not a JWT")]
    Malformed,
    #[error("the token has no iss claim")]
    NoIssuer,
    #[error("no credential for the token's issuer")]
    UnknownIssuer,
    #[error("the token's signature does not verify")]
    BadSignature,
    #[error("the token has no numeric exp claim")]
    NoExpiry,
    #[error("the token expired")]
    Expired,
    #[error("the token is not a login token")]
    NotALoginToken,
}

impl TokenError {
    /// Kong's 401 body for this refusal (the UI shows "session timed out" on `{"exp":"token expired"}`).
    pub fn kong_body(&self) -> Value {
        match self {
            TokenError::Missing | TokenError::NotALoginToken => json!({"message": "Unauthorized"}),
            TokenError::Malformed => json!({"message": "Bad token; invalid JSON"}),
            TokenError::NoIssuer => json!({"message": "No mandatory 'iss' in claims"}),
            TokenError::UnknownIssuer => {
                json!({"message": "No credentials found for given 'iss'"})
            }
            TokenError::BadSignature => json!({"message": "Invalid signature"}),
            TokenError::NoExpiry => json!({"exp": "must be a number"}),
            TokenError::Expired => json!({"exp": "token expired"}),
        }
    }
}

/// A token that passed every check.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// Seconds since the epoch at which the token stops being valid.
    pub expires_at: u64,
    pub tenant_id: String,
}

/// Verifies login tokens MPS signed.
#[derive(Clone)]
pub struct TokenVerifier {
    key: DecodingKey,
    issuer: String,
}

impl TokenVerifier {
    /// Fails only for an empty secret, which no token could be checked against.
    pub fn new(secret: &str, issuer: &str) -> Result<TokenVerifier, jsonwebtoken::errors::Error> {
        Ok(TokenVerifier {
            key: DecodingKey::from_secret(secret.as_bytes())?,
            issuer: issuer.to_owned(),
        })
    }

    /// Checks in Kong's order: decodable, `iss` known, signature, `exp`.
    pub fn verify(&self, token: Option<&str>) -> Result<Session, TokenError> {
        self.verify_at(token, now())
    }

    pub fn verify_at(&self, token: Option<&str>, now: u64) -> Result<Session, TokenError> {
        let token = token.map(str::trim).filter(|t| !t.is_empty());
        let token = token.ok_or(TokenError::Missing)?;
        let claims: Value = jsonwebtoken::dangerous::insecure_decode_claims(token)
            .map_err(|_| TokenError::Malformed)?;
        let claims = claims.as_object().ok_or(TokenError::Malformed)?;
        match claims.get("iss") {
            None => return Err(TokenError::NoIssuer),
            Some(Value::String(iss)) if *iss == self.issuer => {}
            Some(_) => return Err(TokenError::UnknownIssuer),
        }
        // The signature alone: exp is judged below with Kong's rules (no leeway, must be a number).
        let mut validation = Validation::new(Algorithm::HS256);
        validation.validate_exp = false;
        validation.validate_aud = false;
        validation.required_spec_claims.clear();
        jsonwebtoken::decode::<Value>(token, &self.key, &validation)
            .map_err(|_| TokenError::BadSignature)?;
        let exp = claims
            .get("exp")
            .and_then(Value::as_f64)
            .ok_or(TokenError::NoExpiry)?;
        if exp <= now as f64 {
            return Err(TokenError::Expired);
        }
        if claims.get("deviceId").and_then(Value::as_str) != Some("*") {
            return Err(TokenError::NotALoginToken);
        }
        Ok(Session {
            expires_at: exp as u64,
            tenant_id: claims
                .get("tenantId")
                .and_then(Value::as_str)
                .unwrap_or_default()
                .to_owned(),
        })
    }
}

pub(crate) fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// The token of a request: `Authorization: Bearer …`, else the `token` (or Kong's `jwt`) query
/// parameter, which is how an `EventSource` (which cannot send headers) presents it.
pub fn token_from(authorization: Option<&str>, query: Option<&str>) -> Option<String> {
    if let Some(value) = authorization
        && let Some((scheme, token)) = value.split_once(' ')
        && scheme.eq_ignore_ascii_case("bearer")
    {
        return Some(token.trim().to_owned());
    }
    let query = query?;
    query.split('&').find_map(|pair| {
        let (name, value) = pair.split_once('=')?;
        matches!(name, "token" | "jwt").then(|| percent_decode(value))
    })
}

/// JWTs are base64url and dots; decoding `%XX` is all a well-formed one could need.
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let escaped = (bytes[i] == b'%' && i + 3 <= bytes.len())
            .then(|| std::str::from_utf8(&bytes[i + 1..i + 3]).ok())
            .flatten()
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match escaped {
            Some(b) => {
                out.push(b);
                i += 3;
            }
            None => {
                out.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{EncodingKey, Header};

    const SECRET: &str = "mpssecret";
    const ISS: &str = crate::config::DEFAULT_JWT_ISSUER;
    const NOW: u64 = 1_800_000_000;

    fn token(claims: Value, secret: &str) -> String {
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            &claims,
            &EncodingKey::from_secret(secret.as_bytes()).unwrap(),
        )
        .unwrap()
    }

    fn login(exp: u64) -> Value {
        json!({"tenantId": "", "iss": ISS, "deviceId": "*", "exp": exp})
    }

    fn verifier() -> TokenVerifier {
        TokenVerifier::new(SECRET, ISS).unwrap()
    }

    #[test]
    fn accepts_an_mps_login_token() {
        let t = token(login(NOW + 60), SECRET);
        assert_eq!(
            verifier().verify_at(Some(&t), NOW),
            Ok(Session {
                expires_at: NOW + 60,
                tenant_id: String::new()
            })
        );
    }

    #[test]
    fn refuses_like_kong_with_kong_bodies() {
        let v = verifier();
        let cases = [
            (
                None,
                TokenError::Missing,
                json!({"message": "Unauthorized"}),
            ),
            (
                Some("not.a.jwt".to_owned()),
                TokenError::Malformed,
                json!({"message": "Bad token; invalid JSON"}),
            ),
            (
                Some(token(json!({"exp": NOW + 60, "deviceId": "*"}), SECRET)),
                TokenError::NoIssuer,
                json!({"message": "No mandatory 'iss' in claims"}),
            ),
            (
                Some(token(
                    json!({"iss": "someone-else", "exp": NOW + 60}),
                    SECRET,
                )),
                TokenError::UnknownIssuer,
                json!({"message": "No credentials found for given 'iss'"}),
            ),
            (
                Some(token(login(NOW + 60), "wrong-secret")),
                TokenError::BadSignature,
                json!({"message": "Invalid signature"}),
            ),
            (
                Some(token(json!({"iss": ISS, "deviceId": "*"}), SECRET)),
                TokenError::NoExpiry,
                json!({"exp": "must be a number"}),
            ),
            (
                Some(token(login(NOW), SECRET)),
                TokenError::Expired,
                json!({"exp": "token expired"}),
            ),
            (
                Some(token(
                    json!({"iss": ISS, "deviceId": "4c4c4544-004b-4210-8033-b6c04f504633", "exp": NOW + 60}),
                    SECRET,
                )),
                TokenError::NotALoginToken,
                json!({"message": "Unauthorized"}),
            ),
        ];
        for (t, error, body) in cases {
            let got = v.verify_at(t.as_deref(), NOW);
            assert_eq!(got, Err(error.clone()), "{t:?}");
            assert_eq!(error.kong_body(), body);
        }
    }

    #[test]
    fn refuses_other_algorithms() {
        // "none" and HS512 tokens with the right secret are not MPS's HS256.
        let hs512 = jsonwebtoken::encode(
            &Header::new(Algorithm::HS512),
            &login(NOW + 60),
            &EncodingKey::from_secret(SECRET.as_bytes()).unwrap(),
        )
        .unwrap();
        assert_eq!(
            verifier().verify_at(Some(&hs512), NOW),
            Err(TokenError::BadSignature)
        );
        let payload = hs512.split('.').nth(1).unwrap();
        let none = format!("eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0.{payload}.");
        assert_eq!(
            verifier().verify_at(Some(&none), NOW),
            Err(TokenError::BadSignature)
        );
    }

    #[test]
    fn finds_the_token_in_the_header_or_the_query() {
        assert_eq!(
            token_from(Some("Bearer abc.def"), None).as_deref(),
            Some("abc.def")
        );
        assert_eq!(
            token_from(Some("bearer  abc"), None).as_deref(),
            Some("abc")
        );
        assert_eq!(
            token_from(None, Some("a=1&token=x.y.z")).as_deref(),
            Some("x.y.z")
        );
        assert_eq!(token_from(None, Some("jwt=x%2Ey")).as_deref(), Some("x.y"));
        assert_eq!(token_from(Some("Basic Zm9v"), Some("b=2")), None);
        assert_eq!(
            token_from(None, Some("token=%zz%4")).as_deref(),
            Some("%zz%4")
        );
    }
}
