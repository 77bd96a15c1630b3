//! HTTP Digest authentication (RFC 2617 / RFC 7616, MD5, `qop=auth`) as AMT speaks it.
//!
//! Client side: parse the `WWW-Authenticate` challenge and build the `Authorization` header with the
//! exact field order and quoting of MPS and RPS (spec/mps.md §2.3, spec/rps.md §3.5):
//! `Digest username="…",realm="…",nonce="…",uri="/wsman",qop="auth",response="…",nc="…",cnonce="…"`.
//!
//! Server side: issue challenges (`realm="Digest:<32 hex>"`), remember nonces, and verify answers
//! against the stored HA1 — AMT itself only keeps MD5(user:realm:password).

use std::collections::VecDeque;
use std::fmt;
use std::time::{Duration, Instant};

use md5::{Digest as _, Md5};
use rand::RngCore;

/// Errors from parsing digest headers.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum DigestError {
    #[error("authentication scheme is not Digest")]
    NotDigest,
    #[error("digest header has no {0}")]
    MissingField(&'static str),
    #[error("malformed digest header: {0}")]
    Malformed(String),
}

/// Hex MD5 of `data`.
pub fn md5_hex(data: &[u8]) -> String {
    hex::encode(Md5::digest(data))
}

/// HA1 = MD5(user:realm:password).
pub fn ha1(username: &str, realm: &str, password: &str) -> [u8; 16] {
    Md5::new()
        .chain_update(username)
        .chain_update(":")
        .chain_update(realm)
        .chain_update(":")
        .chain_update(password)
        .finalize()
        .into()
}

/// The `response` value: MD5(HA1:nonce:nc:cnonce:qop:HA2) with qop, MD5(HA1:nonce:HA2) without (RFC 2069).
pub fn response(
    ha1: &[u8; 16],
    nonce: &str,
    qop: Option<(&str, &str, &str)>,
    method: &str,
    uri: &str,
) -> String {
    let ha1_hex = hex::encode(ha1);
    let ha2_hex = md5_hex(format!("{method}:{uri}").as_bytes());
    let input = match qop {
        Some((nc, cnonce, qop)) => format!("{ha1_hex}:{nonce}:{nc}:{cnonce}:{qop}:{ha2_hex}"),
        None => format!("{ha1_hex}:{nonce}:{ha2_hex}"),
    };
    md5_hex(input.as_bytes())
}

/// Splits `key=value, key="quoted, value"` parameter lists (RFC 7235 auth-param).
fn parse_params(input: &str) -> Result<Vec<(String, String)>, DigestError> {
    let mut params = Vec::new();
    let mut chars = input.char_indices().peekable();
    loop {
        while matches!(chars.peek(), Some((_, c)) if c.is_whitespace() || *c == ',') {
            chars.next();
        }
        let Some(&(start, _)) = chars.peek() else {
            break;
        };
        let mut end = start;
        while let Some(&(i, c)) = chars.peek() {
            if c == '=' || c.is_whitespace() || c == ',' {
                break;
            }
            end = i + c.len_utf8();
            chars.next();
        }
        let key = input[start..end].to_ascii_lowercase();
        while matches!(chars.peek(), Some((_, c)) if c.is_whitespace()) {
            chars.next();
        }
        if !matches!(chars.next(), Some((_, '='))) {
            return Err(DigestError::Malformed(format!(
                "parameter {key} has no value"
            )));
        }
        while matches!(chars.peek(), Some((_, c)) if c.is_whitespace()) {
            chars.next();
        }
        let mut value = String::new();
        if matches!(chars.peek(), Some((_, '"'))) {
            chars.next();
            let mut closed = false;
            while let Some((_, c)) = chars.next() {
                match c {
                    '\\' => {
                        if let Some((_, escaped)) = chars.next() {
                            value.push(escaped);
                        }
                    }
                    '"' => {
                        closed = true;
                        break;
                    }
                    other => value.push(other),
                }
            }
            if !closed {
                return Err(DigestError::Malformed(format!(
                    "unterminated quote in {key}"
                )));
            }
        } else {
            while let Some(&(_, c)) = chars.peek() {
                if c == ',' {
                    break;
                }
                value.push(c);
                chars.next();
            }
            value = value.trim().to_string();
        }
        if key.is_empty() {
            return Err(DigestError::Malformed("empty parameter name".into()));
        }
        params.push((key, value));
    }
    Ok(params)
}

fn strip_scheme(header: &str) -> Result<&str, DigestError> {
    let header = header.trim_start();
    let (scheme, rest) = header.split_at(header.find(char::is_whitespace).unwrap_or(header.len()));
    if !scheme.eq_ignore_ascii_case("Digest") {
        return Err(DigestError::NotDigest);
    }
    Ok(rest)
}

fn quote(value: &str) -> String {
    value.replace('\\', "\\\\").replace('"', "\\\"")
}

/// A `WWW-Authenticate: Digest …` challenge.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Challenge {
    pub realm: String,
    pub nonce: String,
    pub qop: Option<String>,
    pub opaque: Option<String>,
    pub stale: bool,
    pub algorithm: Option<String>,
}

impl Challenge {
    pub fn parse(header: &str) -> Result<Challenge, DigestError> {
        let params = parse_params(strip_scheme(header)?)?;
        let get = |k: &str| {
            params
                .iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.clone())
        };
        Ok(Challenge {
            realm: get("realm").ok_or(DigestError::MissingField("realm"))?,
            nonce: get("nonce").ok_or(DigestError::MissingField("nonce"))?,
            qop: get("qop"),
            opaque: get("opaque"),
            stale: get("stale").is_some_and(|s| s.eq_ignore_ascii_case("true")),
            algorithm: get("algorithm"),
        })
    }

    /// The header value AMT sends: `Digest realm="…", nonce="…", stale="false", qop="auth"`.
    pub fn to_header(&self) -> String {
        let mut header = format!(
            r#"Digest realm="{}", nonce="{}", stale="{}""#,
            quote(&self.realm),
            quote(&self.nonce),
            if self.stale { "true" } else { "false" }
        );
        if let Some(qop) = &self.qop {
            header.push_str(&format!(r#", qop="{}""#, quote(qop)));
        }
        if let Some(opaque) = &self.opaque {
            header.push_str(&format!(r#", opaque="{}""#, quote(opaque)));
        }
        header
    }

    /// The qop the client answers with: the reference clients force `auth` whenever any qop is offered.
    fn client_qop(&self) -> Option<&'static str> {
        self.qop.as_ref().map(|_| "auth")
    }
}

/// What the client proves knowledge of.
#[derive(Clone)]
enum Secret {
    Password(String),
    Ha1([u8; 16]),
}

/// Digest state of one client towards one device: credentials, the last challenge and the nonce count
/// (never reset, like MPS and RPS).
#[derive(Clone)]
pub struct DigestClient {
    username: String,
    secret: Secret,
    challenge: Option<Challenge>,
    nonce_count: u32,
}

impl fmt::Debug for DigestClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DigestClient")
            .field("username", &self.username)
            .field("secret", &"<redacted>")
            .field("challenge", &self.challenge)
            .field("nonce_count", &self.nonce_count)
            .finish()
    }
}

impl DigestClient {
    pub fn new(username: impl Into<String>, password: impl Into<String>) -> DigestClient {
        DigestClient {
            username: username.into(),
            secret: Secret::Password(password.into()),
            challenge: None,
            nonce_count: 0,
        }
    }

    /// A client that knows only HA1 (valid for the realm it was computed with).
    pub fn with_ha1(username: impl Into<String>, ha1: [u8; 16]) -> DigestClient {
        DigestClient {
            username: username.into(),
            secret: Secret::Ha1(ha1),
            challenge: None,
            nonce_count: 0,
        }
    }

    pub fn username(&self) -> &str {
        &self.username
    }

    /// Replaces the credentials, keeping the challenge (used after the AMT password changed).
    pub fn set_password(&mut self, password: impl Into<String>) {
        self.secret = Secret::Password(password.into());
    }

    /// Remembers a challenge from a 401; later requests authenticate against it.
    pub fn set_challenge(&mut self, challenge: Challenge) {
        self.challenge = Some(challenge);
    }

    pub fn challenge(&self) -> Option<&Challenge> {
        self.challenge.as_ref()
    }

    /// The next `Authorization` header value (`None` before any challenge). Increments the nonce count
    /// and draws a fresh cnonce.
    pub fn authorization(&mut self, method: &str, uri: &str) -> Option<String> {
        self.challenge.as_ref()?;
        self.nonce_count = self.nonce_count.wrapping_add(1);
        let mut cnonce = [0u8; 8];
        rand::rng().fill_bytes(&mut cnonce);
        self.authorization_with(method, uri, self.nonce_count, &hex::encode(cnonce))
    }

    /// The header for an explicit nonce count and cnonce (deterministic; for tests and replays).
    pub fn authorization_with(
        &self,
        method: &str,
        uri: &str,
        nonce_count: u32,
        cnonce: &str,
    ) -> Option<String> {
        let challenge = self.challenge.as_ref()?;
        let ha1 = match &self.secret {
            Secret::Password(password) => ha1(&self.username, &challenge.realm, password),
            Secret::Ha1(ha1) => *ha1,
        };
        let nc = format!("{nonce_count:08x}");
        let header = match challenge.client_qop() {
            Some(qop) => {
                let response = response(
                    &ha1,
                    &challenge.nonce,
                    Some((&nc, cnonce, qop)),
                    method,
                    uri,
                );
                format!(
                    r#"Digest username="{}",realm="{}",nonce="{}",uri="{}",qop="{qop}",response="{response}",nc="{nc}",cnonce="{}""#,
                    quote(&self.username),
                    quote(&challenge.realm),
                    quote(&challenge.nonce),
                    quote(uri),
                    quote(cnonce),
                )
            }
            None => {
                let response = response(&ha1, &challenge.nonce, None, method, uri);
                format!(
                    r#"Digest username="{}",realm="{}",nonce="{}",uri="{}",response="{response}""#,
                    quote(&self.username),
                    quote(&challenge.realm),
                    quote(&challenge.nonce),
                    quote(uri),
                )
            }
        };
        Some(match &challenge.opaque {
            Some(opaque) => format!(r#"{header},opaque="{}""#, quote(opaque)),
            None => header,
        })
    }
}

/// A parsed `Authorization: Digest …` header (server side).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Authorization {
    pub username: String,
    pub realm: String,
    pub nonce: String,
    pub uri: String,
    pub response: String,
    pub qop: Option<String>,
    pub nc: Option<String>,
    pub cnonce: Option<String>,
    pub opaque: Option<String>,
    pub algorithm: Option<String>,
}

impl Authorization {
    pub fn parse(header: &str) -> Result<Authorization, DigestError> {
        let params = parse_params(strip_scheme(header)?)?;
        let get = |k: &str| {
            params
                .iter()
                .find(|(key, _)| key == k)
                .map(|(_, v)| v.clone())
        };
        let required = |k: &'static str| get(k).ok_or(DigestError::MissingField(k));
        Ok(Authorization {
            username: required("username")?,
            realm: required("realm")?,
            nonce: required("nonce")?,
            uri: required("uri")?,
            response: required("response")?,
            qop: get("qop"),
            nc: get("nc"),
            cnonce: get("cnonce"),
            opaque: get("opaque"),
            algorithm: get("algorithm"),
        })
    }

    /// Whether `response` proves knowledge of `ha1` for this request `method`.
    pub fn verify(&self, method: &str, ha1: &[u8; 16]) -> bool {
        if self
            .algorithm
            .as_deref()
            .is_some_and(|a| !a.eq_ignore_ascii_case("MD5"))
        {
            return false;
        }
        let expected = match self.qop.as_deref() {
            Some(qop) => {
                let (Some(nc), Some(cnonce)) = (self.nc.as_deref(), self.cnonce.as_deref()) else {
                    return false;
                };
                response(ha1, &self.nonce, Some((nc, cnonce, qop)), method, &self.uri)
            }
            None => response(ha1, &self.nonce, None, method, &self.uri),
        };
        constant_time_eq(
            expected.as_bytes(),
            self.response.to_ascii_lowercase().as_bytes(),
        )
    }
}

fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

/// What the server knows about a nonce a client presented.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum NonceStatus {
    /// Issued by us and still valid.
    Fresh,
    /// Issued by us but expired: answer 401 with `stale="true"`.
    Stale,
    /// Never issued (or forgotten): answer 401 with `stale="false"`.
    Unknown,
}

/// The nonces a device has handed out recently. Bounded so thousands of simulated devices stay small.
#[derive(Debug)]
pub struct NonceStore {
    issued: VecDeque<(String, Instant)>,
    capacity: usize,
    lifetime: Duration,
}

impl NonceStore {
    pub fn new(capacity: usize, lifetime: Duration) -> NonceStore {
        NonceStore {
            issued: VecDeque::with_capacity(capacity.min(16)),
            capacity: capacity.max(1),
            lifetime,
        }
    }

    /// A fresh random nonce (remembered; the oldest is forgotten when full).
    pub fn issue(&mut self) -> String {
        let mut bytes = [0u8; 16];
        rand::rng().fill_bytes(&mut bytes);
        let nonce = hex::encode(bytes);
        if self.issued.len() >= self.capacity {
            self.issued.pop_front();
        }
        self.issued.push_back((nonce.clone(), Instant::now()));
        nonce
    }

    pub fn check(&self, nonce: &str) -> NonceStatus {
        match self.issued.iter().find(|(n, _)| n == nonce) {
            Some((_, at)) if at.elapsed() <= self.lifetime => NonceStatus::Fresh,
            Some(_) => NonceStatus::Stale,
            None => NonceStatus::Unknown,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc2617_section_3_5_example() {
        let ha1 = ha1("Mufasa", "testrealm@host.com", "Circle Of Life");
        let r = response(
            &ha1,
            "dcd98b7102dd2f0e8b11d0f600bfb0c093",
            Some(("00000001", "0a4f113b", "auth")),
            "GET",
            "/dir/index.html",
        );
        assert_eq!(r, "6629fae49393a05397450978507c4ef1");

        let header = r#"Digest username="Mufasa", realm="testrealm@host.com", nonce="dcd98b7102dd2f0e8b11d0f600bfb0c093",
            uri="/dir/index.html", qop=auth, nc=00000001, cnonce="0a4f113b",
            response="6629fae49393a05397450978507c4ef1", opaque="5ccc069c403ebaf9f0171e9517f40e41""#;
        let auth = Authorization::parse(header).unwrap();
        assert!(auth.verify("GET", &ha1));
        assert!(!auth.verify("POST", &ha1));
        assert!(!auth.verify("GET", &super::ha1("Mufasa", "testrealm@host.com", "wrong")));
    }

    #[test]
    fn rfc7616_section_3_9_1_md5_example() {
        let challenge = Challenge::parse(
            r#"Digest realm="http-auth@example.org", qop="auth, auth-int", algorithm=MD5,
               nonce="7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v", opaque="FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS""#,
        )
        .unwrap();
        assert_eq!(challenge.realm, "http-auth@example.org");
        assert_eq!(challenge.algorithm.as_deref(), Some("MD5"));
        let mut client = DigestClient::new("Mufasa", "Circle of Life");
        client.set_challenge(challenge);
        let header = client
            .authorization_with(
                "GET",
                "/dir/index.html",
                1,
                "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ",
            )
            .unwrap();
        assert!(
            header.contains(r#"response="8ca523f5e9506fed4657c9700eebdbec""#),
            "{header}"
        );
        let auth = Authorization::parse(&header).unwrap();
        assert!(auth.verify(
            "GET",
            &ha1("Mufasa", "http-auth@example.org", "Circle of Life")
        ));
        assert_eq!(
            auth.opaque.as_deref(),
            Some("FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS")
        );
    }

    #[test]
    fn header_has_the_reference_field_order_and_quoting() {
        let challenge = Challenge::parse(
            r#"Digest realm="Digest:F3EB554784E729164447A89F60B641C5", nonce="abc", stale="false", qop="auth""#,
        )
        .unwrap();
        let mut client = DigestClient::new("admin", "P@ssw0rd");
        client.set_challenge(challenge.clone());
        let header = client
            .authorization_with("POST", "/wsman", 2, "k3j4h5")
            .unwrap();
        let expected_response = response(
            &ha1(
                "admin",
                "Digest:F3EB554784E729164447A89F60B641C5",
                "P@ssw0rd",
            ),
            "abc",
            Some(("00000002", "k3j4h5", "auth")),
            "POST",
            "/wsman",
        );
        assert_eq!(
            header,
            format!(
                r#"Digest username="admin",realm="Digest:F3EB554784E729164447A89F60B641C5",nonce="abc",uri="/wsman",qop="auth",response="{expected_response}",nc="00000002",cnonce="k3j4h5""#
            )
        );
        assert!(!format!("{client:?}").contains("P@ssw0rd"));
        // The nonce count keeps growing across calls.
        let first = client.authorization("POST", "/wsman").unwrap();
        let second = client.authorization("POST", "/wsman").unwrap();
        assert!(first.contains(r#"nc="00000001""#) && second.contains(r#"nc="00000002""#));
    }

    #[test]
    fn challenge_round_trips_like_amt() {
        let challenge = Challenge {
            realm: "Digest:ABCDEF0123456789ABCDEF0123456789".into(),
            nonce: "n0nce".into(),
            qop: Some("auth".into()),
            opaque: None,
            stale: false,
            algorithm: None,
        };
        assert_eq!(
            challenge.to_header(),
            r#"Digest realm="Digest:ABCDEF0123456789ABCDEF0123456789", nonce="n0nce", stale="false", qop="auth""#
        );
        assert_eq!(Challenge::parse(&challenge.to_header()).unwrap(), challenge);
        assert_eq!(
            Challenge::parse("Basic realm=\"x\""),
            Err(DigestError::NotDigest)
        );
        assert_eq!(
            Challenge::parse("Digest nonce=\"x\""),
            Err(DigestError::MissingField("realm"))
        );
        assert!(Challenge::parse("Digest realm=\"x").is_err());
    }

    #[test]
    fn ha1_only_clients_work() {
        let realm = "Digest:00000000000000000000000000000000";
        let mut client = DigestClient::with_ha1("admin", ha1("admin", realm, "pw"));
        client.set_challenge(
            Challenge::parse(&format!(r#"Digest realm="{realm}", nonce="n", qop="auth""#)).unwrap(),
        );
        let header = client.authorization("POST", "/wsman").unwrap();
        assert!(
            Authorization::parse(&header)
                .unwrap()
                .verify("POST", &ha1("admin", realm, "pw"))
        );
    }

    #[test]
    fn nonce_store_expires_and_forgets() {
        let mut store = NonceStore::new(2, Duration::from_secs(60));
        let a = store.issue();
        assert_eq!(store.check(&a), NonceStatus::Fresh);
        assert_eq!(store.check("other"), NonceStatus::Unknown);
        store.issue();
        store.issue();
        assert_eq!(store.check(&a), NonceStatus::Unknown);
        let mut short = NonceStore::new(2, Duration::ZERO);
        let n = short.issue();
        std::thread::sleep(Duration::from_millis(2));
        assert_eq!(short.check(&n), NonceStatus::Stale);
    }
}
