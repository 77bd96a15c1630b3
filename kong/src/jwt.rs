//! Kong's `jwt` plugin (3.9), check for check and message for message: where it finds the token, the
//! order of its checks, and the 401 bodies clients depend on (the web UI logs out on any 401 and shows
//! "session timed out" when the body is `{"exp":"token expired"}`).

use std::collections::HashMap;

use base64::{
    Engine,
    engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig},
};
use hmac::{Hmac, KeyInit, Mac};
use hyper::HeaderMap;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use crate::{
    declarative::{ConfigError, Declarative},
    vault_ref::Resolver,
};

/// The plugin's configuration, with Kong's defaults.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtConfig {
    #[serde(default = "default_uri_params")]
    pub uri_param_names: Vec<String>,
    #[serde(default)]
    pub cookie_names: Vec<String>,
    #[serde(default = "default_header_names")]
    pub header_names: Vec<String>,
    #[serde(default)]
    pub claims_to_verify: Vec<String>,
    #[serde(default = "default_key_claim")]
    pub key_claim_name: String,
    #[serde(default)]
    pub secret_is_base64: bool,
    #[serde(default)]
    pub anonymous: Option<String>,
    #[serde(default = "default_true")]
    pub run_on_preflight: bool,
    #[serde(default)]
    pub maximum_expiration: f64,
    #[serde(default)]
    pub realm: Option<String>,
}

fn default_uri_params() -> Vec<String> {
    vec!["jwt".into()]
}
fn default_header_names() -> Vec<String> {
    vec!["authorization".into()]
}
fn default_key_claim() -> String {
    "iss".into()
}
fn default_true() -> bool {
    true
}

impl JwtConfig {
    pub fn from_yaml(config: Option<&serde_yaml::Value>) -> Result<JwtConfig, ConfigError> {
        let config: JwtConfig = match config {
            Some(value) => serde_yaml::from_value(value.clone())?,
            None => serde_yaml::from_str("{}")?,
        };
        if config.anonymous.is_some() {
            return Err(ConfigError::Invalid(
                "jwt: anonymous consumers are not supported".into(),
            ));
        }
        if let Some(claim) = config
            .claims_to_verify
            .iter()
            .find(|c| !matches!(c.as_str(), "exp" | "nbf"))
        {
            return Err(ConfigError::Invalid(format!(
                "jwt: claims_to_verify may hold exp and nbf, not {claim:?}"
            )));
        }
        Ok(config)
    }
}

/// One consumer's credential.
#[derive(Clone)]
pub struct Credential {
    pub consumer: String,
    pub key: String,
    secret: Vec<u8>,
    algorithm: String,
}

/// Every JWT credential of the configuration, by `key`.
#[derive(Clone, Default)]
pub struct Credentials(HashMap<String, Credential>);

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

impl Credentials {
    pub fn from_config(config: &Declarative, resolver: &Resolver) -> Result<Self, ConfigError> {
        let mut all = HashMap::new();
        for (consumer, secret) in config.all_jwt_secrets() {
            if !matches!(secret.algorithm.as_str(), "HS256" | "HS384" | "HS512") {
                return Err(ConfigError::Invalid(format!(
                    "jwt_secrets key {:?}: algorithm {} is not supported (HS256, HS384, HS512)",
                    secret.key, secret.algorithm
                )));
            }
            let value = secret.secret.as_deref().unwrap_or("");
            let value = resolver.resolve(value)?;
            if value.is_empty() {
                // Kong would generate a random secret nobody knows; say so instead.
                return Err(ConfigError::Invalid(format!(
                    "jwt_secrets key {:?} has no secret",
                    secret.key
                )));
            }
            let credential = Credential {
                consumer,
                key: secret.key.clone(),
                secret: value.into_bytes(),
                algorithm: secret.algorithm.clone(),
            };
            if all.insert(secret.key.clone(), credential).is_some() {
                return Err(ConfigError::Invalid(format!(
                    "jwt_secrets key {:?} is declared twice",
                    secret.key
                )));
            }
        }
        Ok(Credentials(all))
    }
}

/// Why a request was turned away: the status is always 401 in Kong 3.x.
#[derive(Debug, Clone, PartialEq)]
pub struct Rejection {
    pub body: Value,
    pub www_authenticate: String,
}

/// Who the token belongs to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Authenticated {
    pub consumer: String,
    pub key: String,
}

/// What the plugin reads of a request.
pub struct RequestView<'a> {
    pub headers: &'a HeaderMap,
    pub query: Option<&'a str>,
}

/// Base64url as Kong decodes it: padding optional.
const LENIENT_URL: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

pub fn authenticate(
    config: &JwtConfig,
    credentials: &Credentials,
    request: &RequestView<'_>,
    now: f64,
) -> Result<Authenticated, Rejection> {
    let base = match &config.realm {
        Some(realm) => format!("Bearer realm=\"{realm}\""),
        None => "Bearer".to_owned(),
    };
    let with_error = format!("{base} error=\"invalid_token\"");
    let reject = |message: &str, www: &str| Rejection {
        body: json!({ "message": message }),
        www_authenticate: www.to_owned(),
    };

    let mut tokens = retrieve_tokens(config, request);
    let token = match tokens.len() {
        0 => return Err(reject("Unauthorized", &base)),
        1 => tokens.remove(0),
        _ => return Err(reject("Multiple tokens provided", &with_error)),
    };

    let jwt = Decoded::parse(&token)
        .map_err(|reason| reject(&format!("Bad token; {reason}"), &with_error))?;

    let key_claim = &config.key_claim_name;
    let key = jwt
        .claims
        .get(key_claim)
        .filter(|v| !v.is_null())
        .or_else(|| jwt.header.get(key_claim).filter(|v| !v.is_null()));
    let key = match key {
        None => {
            return Err(reject(
                &format!("No mandatory '{key_claim}' in claims"),
                &with_error,
            ));
        }
        Some(Value::String(s)) if s.is_empty() => {
            return Err(reject(
                &format!("Invalid '{key_claim}' in claims"),
                &with_error,
            ));
        }
        Some(Value::String(s)) => s.clone(),
        Some(other) => other.to_string(),
    };
    let Some(credential) = credentials.0.get(&key) else {
        return Err(reject(
            &format!("No credentials found for given '{key_claim}'"),
            &with_error,
        ));
    };
    if jwt.header.get("alg").and_then(Value::as_str) != Some(credential.algorithm.as_str()) {
        return Err(reject("Invalid algorithm", &with_error));
    }
    let secret = if config.secret_is_base64 {
        match LENIENT_URL.decode(&credential.secret) {
            Ok(secret) => secret,
            Err(_) => return Err(reject("Invalid key/secret", &with_error)),
        }
    } else {
        credential.secret.clone()
    };
    if !jwt.signature_matches(&credential.algorithm, &secret) {
        return Err(reject("Invalid signature", &with_error));
    }

    let mut errors = Map::new();
    for claim in &config.claims_to_verify {
        match jwt.claims.get(claim).and_then(Value::as_f64) {
            None => {
                errors.insert(claim.clone(), json!("must be a number"));
            }
            Some(exp) if claim == "exp" && exp <= now => {
                errors.insert(claim.clone(), json!("token expired"));
            }
            Some(nbf) if claim == "nbf" && nbf > now => {
                errors.insert(claim.clone(), json!("token not valid yet"));
            }
            Some(_) => {}
        }
    }
    if !errors.is_empty() {
        return Err(Rejection {
            body: Value::Object(errors),
            www_authenticate: with_error,
        });
    }
    if config.maximum_expiration > 0.0 {
        let too_far = match jwt.claims.get("exp").and_then(Value::as_f64) {
            None => true,
            Some(exp) => exp - now > config.maximum_expiration,
        };
        if too_far {
            return Err(Rejection {
                body: json!({ "exp": "exceeds maximum allowed expiration" }),
                www_authenticate: with_error,
            });
        }
    }
    Ok(Authenticated {
        consumer: credential.consumer.clone(),
        key: credential.key.clone(),
    })
}

/// Distinct non-empty tokens from the query, the cookies and the headers, in Kong's order.
fn retrieve_tokens(config: &JwtConfig, request: &RequestView<'_>) -> Vec<String> {
    let mut tokens: Vec<String> = Vec::new();
    let mut add = |token: String| {
        if !token.is_empty() && !tokens.contains(&token) {
            tokens.push(token);
        }
    };
    if let Some(query) = request.query {
        for pair in query.split('&') {
            let (name, value) = pair.split_once('=').unwrap_or((pair, ""));
            if config
                .uri_param_names
                .iter()
                .any(|n| *n == percent_decode(name))
            {
                add(percent_decode(value));
            }
        }
    }
    for cookie_name in &config.cookie_names {
        for header in request.headers.get_all(hyper::header::COOKIE) {
            let Ok(header) = header.to_str() else {
                continue;
            };
            for cookie in header.split(';') {
                if let Some((name, value)) = cookie.trim().split_once('=')
                    && name == cookie_name
                {
                    add(value.to_owned());
                }
            }
        }
    }
    for name in &config.header_names {
        let Some(value) = request
            .headers
            .get(name.as_str())
            .and_then(|v| v.to_str().ok())
        else {
            continue;
        };
        if let Some(token) = bearer(value) {
            add(token.to_owned());
        }
    }
    tokens
}

/// Kong's `\s*[Bb]earer\s+(.+)`, unanchored.
fn bearer(value: &str) -> Option<&str> {
    static BEARER: std::sync::OnceLock<regex::Regex> = std::sync::OnceLock::new();
    let re = BEARER.get_or_init(|| regex::Regex::new(r"\s*[Bb]earer\s+(.+)").expect("valid regex"));
    re.captures(value)
        .and_then(|c| c.get(1))
        .map(|m| m.as_str())
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
                match (hex(bytes[i + 1]), hex(bytes[i + 2])) {
                    (Some(high), Some(low)) => {
                        out.push(high << 4 | low);
                        i += 2;
                    }
                    _ => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A token split and decoded the way Kong's jwt_parser does.
struct Decoded {
    signing_input: String,
    header: Map<String, Value>,
    claims: Map<String, Value>,
    signature: Vec<u8>,
}

const ALGORITHMS: &[&str] = &[
    "HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "ES256", "ES384", "ES512", "PS256",
    "PS384", "PS512", "EdDSA",
];

impl Decoded {
    fn parse(token: &str) -> Result<Decoded, &'static str> {
        // Kong takes the first two dots; whatever follows is the signature.
        let mut parts = token.splitn(3, '.');
        let (Some(header_64), Some(claims_64), Some(signature_64)) =
            (parts.next(), parts.next(), parts.next())
        else {
            return Err("invalid JSON");
        };
        let decode_json = |part: &str| -> Result<Map<String, Value>, &'static str> {
            let bytes = LENIENT_URL.decode(part).map_err(|_| "invalid JSON")?;
            match serde_json::from_slice(&bytes) {
                Ok(Value::Object(map)) => Ok(map),
                _ => Err("invalid JSON"),
            }
        };
        let header = decode_json(header_64)?;
        let claims = decode_json(claims_64)?;
        let signature = LENIENT_URL
            .decode(signature_64)
            .map_err(|_| "invalid JSON")?;
        match header.get("alg").and_then(Value::as_str) {
            Some(alg) if ALGORITHMS.contains(&alg) => {}
            _ => return Err("invalid alg"),
        }
        Ok(Decoded {
            signing_input: format!("{header_64}.{claims_64}"),
            header,
            claims,
            signature,
        })
    }

    fn signature_matches(&self, algorithm: &str, secret: &[u8]) -> bool {
        fn verify<M: Mac + KeyInit>(secret: &[u8], input: &[u8], signature: &[u8]) -> bool {
            let Ok(mut mac) = <M as KeyInit>::new_from_slice(secret) else {
                return false;
            };
            mac.update(input);
            mac.verify_slice(signature).is_ok()
        }
        let input = self.signing_input.as_bytes();
        match algorithm {
            "HS256" => verify::<Hmac<sha2::Sha256>>(secret, input, &self.signature),
            "HS384" => verify::<Hmac<sha2::Sha384>>(secret, input, &self.signature),
            "HS512" => verify::<Hmac<sha2::Sha512>>(secret, input, &self.signature),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sign(header: &Value, claims: &Value, secret: &[u8]) -> String {
        let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let input = format!(
            "{}.{}",
            engine.encode(header.to_string()),
            engine.encode(claims.to_string())
        );
        let mut mac = <Hmac<sha2::Sha256> as KeyInit>::new_from_slice(secret).unwrap();
        mac.update(input.as_bytes());
        format!("{input}.{}", engine.encode(mac.finalize().into_bytes()))
    }

    fn credentials() -> Credentials {
        let config = Declarative::parse(
            "_format_version: '3.0'\nconsumers:\n- username: admin\njwt_secrets:\n- consumer: admin\n  key: issuer\n  secret: s3cret\n",
        )
        .unwrap();
        Credentials::from_config(&config, &Resolver::default()).unwrap()
    }

    fn config() -> JwtConfig {
        JwtConfig::from_yaml(Some(
            &serde_yaml::from_str("claims_to_verify: [exp]").unwrap(),
        ))
        .unwrap()
    }

    fn check(headers: &[(&str, &str)], query: Option<&str>) -> Result<Authenticated, Rejection> {
        let mut map = HeaderMap::new();
        for (k, v) in headers {
            map.append(
                hyper::header::HeaderName::from_bytes(k.as_bytes()).unwrap(),
                v.parse().unwrap(),
            );
        }
        authenticate(
            &config(),
            &credentials(),
            &RequestView {
                headers: &map,
                query,
            },
            1_000.0,
        )
    }

    fn message(result: Result<Authenticated, Rejection>) -> Value {
        result.unwrap_err().body
    }

    #[test]
    fn accepts_a_good_token_from_the_header_or_the_query() {
        let token = sign(
            &json!({"alg":"HS256","typ":"JWT"}),
            &json!({"iss":"issuer","exp":2000,"tenantId":"","deviceId":"*"}),
            b"s3cret",
        );
        let ok = check(&[("authorization", &format!("Bearer {token}"))], None).unwrap();
        assert_eq!(ok.consumer, "admin");
        assert!(check(&[], Some(&format!("a=1&jwt={token}"))).is_ok());
        assert!(check(&[("authorization", &format!("bearer   {token}"))], None).is_ok());
    }

    #[test]
    fn kongs_messages_in_kongs_order() {
        let good = json!({"alg":"HS256","typ":"JWT"});
        let bearer = |t: &str| format!("Bearer {t}");
        assert_eq!(message(check(&[], None)), json!({"message":"Unauthorized"}));
        assert_eq!(
            check(&[], None).unwrap_err().www_authenticate,
            "Bearer",
            "no token: no error attribute"
        );
        assert_eq!(
            message(check(&[("authorization", "Basic abc")], None)),
            json!({"message":"Unauthorized"})
        );
        let a = sign(&good, &json!({"iss":"issuer","exp":2000}), b"s3cret");
        let b = sign(&good, &json!({"iss":"issuer","exp":3000}), b"s3cret");
        assert_eq!(
            message(check(
                &[("authorization", &bearer(&a))],
                Some(&format!("jwt={b}"))
            )),
            json!({"message":"Multiple tokens provided"})
        );
        assert_eq!(
            message(check(&[("authorization", "Bearer not.a.token")], None)),
            json!({"message":"Bad token; invalid JSON"})
        );
        assert_eq!(
            message(check(&[("authorization", "Bearer onlyonepart")], None)),
            json!({"message":"Bad token; invalid JSON"})
        );
        let none = sign(&json!({"alg":"none"}), &json!({"iss":"issuer"}), b"x");
        assert_eq!(
            message(check(&[("authorization", &bearer(&none))], None)),
            json!({"message":"Bad token; invalid alg"})
        );
        let no_iss = sign(&good, &json!({"exp":2000}), b"s3cret");
        assert_eq!(
            message(check(&[("authorization", &bearer(&no_iss))], None)),
            json!({"message":"No mandatory 'iss' in claims"})
        );
        let empty_iss = sign(&good, &json!({"iss":"","exp":2000}), b"s3cret");
        assert_eq!(
            message(check(&[("authorization", &bearer(&empty_iss))], None)),
            json!({"message":"Invalid 'iss' in claims"})
        );
        let stranger = sign(&good, &json!({"iss":"someone","exp":2000}), b"s3cret");
        assert_eq!(
            message(check(&[("authorization", &bearer(&stranger))], None)),
            json!({"message":"No credentials found for given 'iss'"})
        );
        let hs512 = {
            let engine = base64::engine::general_purpose::URL_SAFE_NO_PAD;
            let input = format!(
                "{}.{}",
                engine.encode(json!({"alg":"HS512"}).to_string()),
                engine.encode(json!({"iss":"issuer","exp":2000}).to_string())
            );
            format!("{input}.{}", engine.encode([0u8; 64]))
        };
        assert_eq!(
            message(check(&[("authorization", &bearer(&hs512))], None)),
            json!({"message":"Invalid algorithm"})
        );
        let forged = sign(&good, &json!({"iss":"issuer","exp":2000}), b"wrong");
        assert_eq!(
            message(check(&[("authorization", &bearer(&forged))], None)),
            json!({"message":"Invalid signature"})
        );
        let expired = sign(&good, &json!({"iss":"issuer","exp":1000}), b"s3cret");
        assert_eq!(
            message(check(&[("authorization", &bearer(&expired))], None)),
            json!({"exp":"token expired"})
        );
        assert_eq!(
            check(&[("authorization", &bearer(&expired))], None)
                .unwrap_err()
                .www_authenticate,
            "Bearer error=\"invalid_token\""
        );
        let no_exp = sign(&good, &json!({"iss":"issuer"}), b"s3cret");
        assert_eq!(
            message(check(&[("authorization", &bearer(&no_exp))], None)),
            json!({"exp":"must be a number"})
        );
        let text_exp = sign(&good, &json!({"iss":"issuer","exp":"2000"}), b"s3cret");
        assert_eq!(
            message(check(&[("authorization", &bearer(&text_exp))], None)),
            json!({"exp":"must be a number"})
        );
    }

    #[test]
    fn the_secret_never_shows_in_debug_output() {
        assert!(!format!("{:?}", credentials()).contains("s3cret"));
    }
}
