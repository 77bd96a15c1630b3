//! Small things every resource handler uses.

use axum::http::HeaderMap;
use sea_orm::DbErr;
use serde_json::{Map, Value};
use time::{OffsetDateTime, PrimitiveDateTime};

use super::error::ApiError;
use super::validate::{js_integer, js_string};

/// A field as text, as the reference uses it after validation (numbers and booleans as JavaScript prints
/// them); absent or null is `None`.
pub fn text(body: &Map<String, Value>, field: &str) -> Option<String> {
    match body.get(field) {
        None | Some(Value::Null) => None,
        v => Some(js_string(v)),
    }
}

/// A non-empty text field.
pub fn non_empty(body: &Map<String, Value>, field: &str) -> Option<String> {
    text(body, field).filter(|s| !s.is_empty())
}

/// An integer field (JSON number without fraction, or a string of digits as the reference would store it).
pub fn int(body: &Map<String, Value>, field: &str) -> Option<i32> {
    let v = body.get(field)?;
    js_integer(Some(v))
        .or_else(|| v.as_str().and_then(|s| s.trim().parse::<i64>().ok()))
        .and_then(|i| i32::try_from(i).ok())
}

/// A boolean field: JSON true/false, or the strings the validator accepts.
pub fn boolean(body: &Map<String, Value>, field: &str) -> Option<bool> {
    match body.get(field)? {
        Value::Bool(b) => Some(*b),
        Value::String(s) if s == "true" || s == "1" => Some(true),
        Value::String(s) if s == "false" || s == "0" => Some(false),
        Value::Number(n) => n.as_i64().map(|i| i != 0),
        _ => None,
    }
}

/// The version a client sent: body `version` (number or string), overridden by an `If-Match` header where the
/// reference applies its if-match middleware.
pub fn version(
    body: &Map<String, Value>,
    headers: &HeaderMap,
    honour_if_match: bool,
) -> Option<String> {
    if honour_if_match && let Some(v) = if_match(headers) {
        return Some(v);
    }
    text(body, "version")
}

pub fn if_match(headers: &HeaderMap) -> Option<String> {
    headers
        .get("if-match")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// Now, as the timestamp-without-time-zone columns hold it (UTC).
pub fn now() -> PrimitiveDateTime {
    let t = OffsetDateTime::now_utc();
    PrimitiveDateTime::new(t.date(), t.time())
}

/// A database failure nobody foresaw: logged, answered 500.
pub fn db_failure(method: &str, name: &str, e: DbErr) -> ApiError {
    ApiError::unexpected(method, name, e)
}

/// `timestamp` column → the reference's JSON (`Date` → ISO with milliseconds and Z).
pub fn iso(t: Option<PrimitiveDateTime>) -> Option<String> {
    t.map(|t| crate::pfx::js_iso(t.assume_utc()))
}
