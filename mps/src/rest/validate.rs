//! Request validation with express-validator's error shape, which the reference's clients and the
//! Postman contract read: `{"errors":[{"type":"field","value":…,"msg":…,"path":…,"location":…}]}`.
//! Every failing check of a field is listed, in the order the reference declares them.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

pub const INVALID: &str = "Invalid value";

#[derive(Clone, Copy)]
pub enum Loc {
    Body,
    Params,
    Query,
}

impl Loc {
    fn as_str(self) -> &'static str {
        match self {
            Loc::Body => "body",
            Loc::Params => "params",
            Loc::Query => "query",
        }
    }
}

#[derive(Default)]
pub struct Checks {
    errors: Vec<Value>,
}

impl Checks {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn fail(&mut self, loc: Loc, path: &str, value: Option<&Value>, msg: &str) {
        let mut e = Map::new();
        e.insert("type".into(), "field".into());
        // express-validator leaves `value` out when the field is absent.
        if let Some(v) = value {
            e.insert("value".into(), v.clone());
        }
        e.insert("msg".into(), msg.into());
        e.insert("path".into(), path.into());
        e.insert("location".into(), loc.as_str().into());
        self.errors.push(Value::Object(e));
    }

    /// Runs `ok`; on false records `msg`.
    pub fn check(&mut self, ok: bool, loc: Loc, path: &str, value: Option<&Value>, msg: &str) {
        if !ok {
            self.fail(loc, path, value, msg);
        }
    }

    pub fn is_empty(&self) -> bool {
        self.errors.is_empty()
    }

    /// Ok when nothing failed, else the 400 to answer.
    pub fn finish(self) -> Result<(), Rejected> {
        if self.errors.is_empty() {
            Ok(())
        } else {
            Err(Rejected(self.errors))
        }
    }
}

/// Failed validation: answers 400 `{"errors":[…]}`.
#[derive(Debug)]
pub struct Rejected(Vec<Value>);

impl IntoResponse for Rejected {
    fn into_response(self) -> Response {
        (StatusCode::BAD_REQUEST, Json(json!({ "errors": self.0 }))).into_response()
    }
}

/// validator.js sees every value as a string; this is express-validator's conversion.
pub fn js_string(v: Option<&Value>) -> String {
    match v {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Bool(b)) => b.to_string(),
        Some(Value::Number(n)) => n.to_string(),
        Some(Value::Array(a)) => a
            .iter()
            .map(|x| js_string(Some(x)))
            .collect::<Vec<_>>()
            .join(","),
        Some(Value::Object(_)) => "[object Object]".into(),
    }
}

/// `isUUID('loose')`: 8-4-4-4-12 hex digits, any version, any case.
pub fn is_uuid_loose(s: &str) -> bool {
    let b = s.as_bytes();
    b.len() == 36
        && b.iter().enumerate().all(|(i, c)| match i {
            8 | 13 | 18 | 23 => *c == b'-',
            _ => c.is_ascii_hexdigit(),
        })
}

/// `isBoolean()` (non-strict): "true", "false", "1", "0".
pub fn is_boolean_loose(v: Option<&Value>) -> bool {
    matches!(js_string(v).as_str(), "true" | "false" | "1" | "0")
}

/// `isNumeric()`: optional sign, digits, optional fraction.
pub fn is_numeric(v: Option<&Value>) -> bool {
    let s = js_string(v);
    let s = s.strip_prefix(['+', '-']).unwrap_or(&s);
    let mut parts = s.splitn(2, '.');
    let int = parts.next().unwrap_or("");
    let frac = parts.next();
    let digits = |p: &str| p.bytes().all(|c| c.is_ascii_digit());
    match frac {
        None => !int.is_empty() && digits(int),
        Some(f) => (!int.is_empty() || !f.is_empty()) && digits(int) && digits(f) && !f.is_empty(),
    }
}

/// `isInt({min, max})`.
pub fn int_in(v: Option<&Value>, min: Option<i64>, max: Option<i64>) -> bool {
    let s = js_string(v);
    let t = s.strip_prefix('+').unwrap_or(&s);
    if t.is_empty() || (t.len() > 1 && t.starts_with('0')) {
        return t == "0";
    }
    match t.parse::<i64>() {
        Ok(n) => min.is_none_or(|m| n >= m) && max.is_none_or(|m| n <= m),
        Err(_) => false,
    }
}

/// `isIn(list)` for numbers: compares the string forms, as validator.js does.
pub fn in_numbers(v: Option<&Value>, list: &[i64]) -> bool {
    let s = js_string(v);
    list.iter().any(|n| n.to_string() == s)
}

/// A JSON number or numeric string as i64 (after validation).
pub fn as_i64(v: Option<&Value>) -> Option<i64> {
    match v? {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Value::String(s) => s.trim().parse::<f64>().ok().map(|f| f as i64),
        Value::Bool(b) => Some(*b as i64),
        _ => None,
    }
}

/// `toBoolean()` after `isBoolean()`: "true"/"1"/true are true.
pub fn as_bool(v: Option<&Value>) -> bool {
    matches!(js_string(v).as_str(), "true" | "1")
}

/// A DNS suffix: labels of letters, digits and hyphens (no hyphen at either end, ≤63 each),
/// a trailing dot allowed, a single label allowed (no TLD required).
pub fn is_dns_suffix(s: &str) -> bool {
    let s = s.strip_suffix('.').unwrap_or(s);
    !s.is_empty()
        && s.split('.').all(|l| {
            !l.is_empty()
                && l.len() <= 63
                && !l.starts_with('-')
                && !l.ends_with('-')
                && l.bytes().all(|c| c.is_ascii_alphanumeric() || c == b'-')
        })
}

/// `isISO8601()`: a date, optionally with a time and offset.
pub fn is_iso8601(s: &str) -> bool {
    use time::format_description::well_known::Iso8601;
    time::OffsetDateTime::parse(s, &Iso8601::DEFAULT).is_ok()
        || time::PrimitiveDateTime::parse(s, &Iso8601::DEFAULT).is_ok()
        || time::Date::parse(s, &Iso8601::DEFAULT).is_ok()
}

/// `isIP(4)`.
pub fn is_ipv4(s: &str) -> bool {
    s.parse::<std::net::Ipv4Addr>().is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn uuid_loose_accepts_any_version_and_case() {
        assert!(is_uuid_loose("143e4567-e89b-12d3-a456-426614174000"));
        assert!(is_uuid_loose("D12428BE-9FA1-4226-9784-54B2038BEAB6"));
        assert!(!is_uuid_loose("143e4567-e89b-12d3-a456-426614174"));
        assert!(!is_uuid_loose("1"));
    }

    #[test]
    fn dns_suffix_rules_of_the_contract() {
        assert!(is_dns_suffix("os.suffix.com"));
        assert!(is_dns_suffix("os.suffix.com."));
        assert!(is_dns_suffix("localdomain"));
        assert!(!is_dns_suffix("None?injected_query_string=123"));
        assert!(!is_dns_suffix("-bad.com"));
        assert!(!is_dns_suffix(&"a".repeat(64)));
    }

    #[test]
    fn validator_js_conversions() {
        assert!(is_boolean_loose(Some(&json!("false"))));
        assert!(is_boolean_loose(Some(&json!(true))));
        assert!(!is_boolean_loose(Some(&json!("t"))));
        assert!(is_numeric(Some(&json!(8))));
        assert!(is_numeric(Some(&json!("8"))));
        assert!(!is_numeric(Some(&json!("eight"))));
        assert!(int_in(Some(&json!("10")), Some(0), None));
        assert!(!int_in(Some(&json!("-1")), Some(0), None));
        assert!(!int_in(Some(&json!("1.5")), Some(0), None));
        assert!(in_numbers(Some(&json!(8)), &[2, 8]));
        assert!(!in_numbers(Some(&json!(9)), &[2, 8]));
        assert!(is_iso8601("2024-01-01T00:00:00Z"));
        assert!(is_iso8601("2024-01-01"));
        assert!(!is_iso8601("yesterday"));
    }

    #[test]
    fn absent_values_are_left_out_of_the_error() {
        let mut c = Checks::new();
        c.fail(Loc::Body, "username", None, INVALID);
        c.fail(Loc::Params, "guid", Some(&json!("1")), INVALID);
        let Err(rejected) = c.finish() else {
            panic!("expected errors")
        };
        let resp = rejected.into_response();
        assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    }
}
