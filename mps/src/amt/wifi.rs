//! Wireless profile routes: input checks.

use serde_json::{Map, Value};

use crate::rest::validate::{self as v, Checks, Loc};

fn alnum(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|c| c.is_ascii_alphanumeric())
}

/// The reference's wireless profile validator (POST and PATCH).
pub fn validate_profile(body: &Map<String, Value>, c: &mut Checks) {
    let b = |k: &str| body.get(k);
    let name = b("profileName");
    c.check(
        name.is_some_and(Value::is_string),
        Loc::Body,
        "profileName",
        name,
        v::INVALID,
    );
    c.check(
        name.and_then(Value::as_str).is_some_and(alnum),
        Loc::Body,
        "profileName",
        name,
        "profileName is required and must be alphanumeric",
    );
    for (k, msg) in [
        ("ssid", "ssid is required"),
        ("authenticationMethod", "authenticationMethod is required"),
        ("encryptionMethod", "encryptionMethod is required"),
    ] {
        c.check(
            b(k).is_some_and(Value::is_string),
            Loc::Body,
            k,
            b(k),
            v::INVALID,
        );
        c.check(
            b(k).and_then(Value::as_str).is_some_and(|s| !s.is_empty()),
            Loc::Body,
            k,
            b(k),
            msg,
        );
    }
    c.check(
        v::int_in(b("priority"), Some(1), Some(255)),
        Loc::Body,
        "priority",
        b("priority"),
        "priority must be between 1 and 255",
    );
    if let Some(p) = b("password")
        .filter(|p| !matches!(p, Value::Null | Value::Bool(false)) && p.as_str() != Some(""))
    {
        // The value itself is a secret: never echoed back.
        c.check(p.is_string(), Loc::Body, "password", None, v::INVALID);
    }
    if let Some(x) = b("ieee8021x") {
        c.check(
            x.is_object(),
            Loc::Body,
            "ieee8021x",
            Some(x),
            "ieee8021x must be an object",
        );
        let u = x.get("username");
        c.check(
            u.and_then(Value::as_str).is_some_and(|s| !s.is_empty()),
            Loc::Body,
            "ieee8021x.username",
            u,
            "ieee8021x.username is required",
        );
        let p = x.get("authenticationProtocol");
        c.check(
            v::int_in(p, Some(0), Some(2)),
            Loc::Body,
            "ieee8021x.authenticationProtocol",
            p,
            "ieee8021x.authenticationProtocol must be 0 (EAP-TLS) or 2 (PEAP)",
        );
    }
}
