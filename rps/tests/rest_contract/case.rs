//! A contract case is one request and the answer it must get: method, path, body, status, and the body
//! expected back (exactly; [`VERSION`] stands for the row version the server picks), or the validation
//! errors, or the error object. A suite is a list of cases run in order against one RPS on a fresh
//! database, so later cases see what earlier ones made, as a client would.

use std::collections::HashMap;
use std::panic::Location;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::support::{Running, TestDb, VAULT_TOKEN, request};

/// In an expected body: any row version (the server's, a string of digits).
pub const VERSION: &str = "<version>";
/// In an expected body: any value at all (what another component decides, such as the secret store's status).
pub const ANY: &str = "<any>";
const STARTS_WITH: &str = "<starts with>";

/// In an expected body: any text that begins with `prefix` (for messages that end with the database's words).
pub fn starting_with(prefix: &str) -> String {
    format!("{STARTS_WITH}{prefix}")
}

/// What the answer's body must be.
pub enum Expect {
    /// This JSON, exactly (with [`VERSION`] standing for any version).
    Body(Value),
    /// `{"errors": [...]}`: these validation errors, all of them, in this order.
    Invalid(Vec<FieldError>),
    /// `{"errors": [...]}` beginning with these; used only where the reference itself answers more than
    /// a client can rely on (a JavaScript exception's text, say).
    InvalidFirst(Vec<FieldError>),
    /// `{"error": <error>, "message": <message>}`.
    Refused(String, String),
    /// A JSON object with at least these fields: for what another component writes (the secret store's
    /// answers, its health status passed on by RPS), never for RPS's own records.
    Including(Value),
    /// No body at all (204, 304).
    Empty,
    /// Express's HTML 404 page saying `Cannot <METHOD> <path>`.
    Page(String),
}

/// One entry of a validation answer.
pub struct FieldError {
    path: &'static str,
    msg: String,
    location: &'static str,
    /// The rejected value the answer must echo; `None` leaves it unchecked.
    value: Option<Value>,
}

/// A body field failing `msg`.
pub fn field(path: &'static str, msg: impl Into<String>) -> FieldError {
    FieldError {
        path,
        msg: msg.into(),
        location: "body",
        value: None,
    }
}

/// A query parameter failing `msg`.
pub fn query(path: &'static str, msg: &str) -> FieldError {
    FieldError {
        location: "query",
        ..field(path, msg)
    }
}

impl FieldError {
    /// The answer echoes the rejected `value`.
    pub fn value(mut self, value: Value) -> FieldError {
        self.value = Some(value);
        self
    }
}

pub fn body(value: Value) -> Expect {
    Expect::Body(value)
}

pub fn invalid(errors: Vec<FieldError>) -> Expect {
    Expect::Invalid(errors)
}

pub fn including(value: Value) -> Expect {
    Expect::Including(value)
}

pub fn invalid_first(errors: Vec<FieldError>) -> Expect {
    Expect::InvalidFirst(errors)
}

pub fn refused(error: impl Into<String>, message: impl Into<String>) -> Expect {
    Expect::Refused(error.into(), message.into())
}

pub fn empty() -> Expect {
    Expect::Empty
}

/// Express's `Cannot <METHOD> <path>` page.
pub fn no_route(method: &str, path: &str) -> Expect {
    Expect::Page(format!("Cannot {method} {path}"))
}

/// The three query errors every list route gives for `$top=ten&$skip=zero&$count=notboolean`.
pub fn bad_paging() -> Expect {
    invalid(vec![
        query(
            "$top",
            "The number of items to return should be a positive integer",
        ),
        query(
            "$skip",
            "The number of items to skip before starting to collect the result set should be a positive integer",
        ),
        query(
            "$count",
            "To return total number of records in result set should be boolean",
        ),
    ])
}

/// Which server a case talks to.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Target {
    Rps,
    /// The secret store RPS was given (the reference's collection reads one secret there directly).
    Vault,
}

pub struct Case {
    target: Target,
    method: &'static str,
    path: String,
    headers: Vec<(&'static str, String)>,
    body: Option<Value>,
    /// Put the current version of the record the body names into `version` before sending.
    current_version: bool,
    /// Send `If-None-Match` with the ETag of the previous answer.
    revalidate: bool,
    /// Send `If-Match` with the current version of the record the body names.
    if_match_current: bool,
    status: u16,
    expect: Expect,
    /// Where the case is written, for failure messages.
    line: u32,
}

#[track_caller]
fn case(method: &'static str, path: &str, body: Option<Value>) -> Case {
    Case {
        target: Target::Rps,
        method,
        path: path.to_owned(),
        headers: Vec::new(),
        body,
        current_version: false,
        revalidate: false,
        if_match_current: false,
        status: 0,
        expect: Expect::Empty,
        line: Location::caller().line(),
    }
}

#[track_caller]
pub fn get(path: &str) -> Case {
    case("GET", path, None)
}

#[track_caller]
pub fn post(path: &str, body: Value) -> Case {
    case("POST", path, Some(body))
}

#[track_caller]
pub fn patch(path: &str, body: Value) -> Case {
    case("PATCH", path, Some(body))
}

#[track_caller]
pub fn delete(path: &str) -> Case {
    case("DELETE", path, None)
}

/// Any other method (PUT, COPY, …), with an optional body.
#[track_caller]
pub fn call(method: &'static str, path: &str, body: Option<Value>) -> Case {
    case(method, path, body)
}

/// `GET /v1/secret/data/<path>` on the secret store (KV v2) with its token.
#[track_caller]
pub fn secret(path: &str) -> Case {
    Case {
        target: Target::Vault,
        ..case("GET", &format!("/v1/secret/data/{path}"), None)
    }
}

impl Case {
    pub fn header(mut self, name: &'static str, value: &str) -> Case {
        self.headers.push((name, value.to_owned()));
        self
    }

    /// Sends the version the server last gave for the record this body names (`profileName`, `configName`
    /// or `name`), as a client that read it first would.
    pub fn with_current_version(mut self) -> Case {
        self.current_version = true;
        self
    }

    /// Sends `If-Match` with the version the server last gave for the record this body names.
    pub fn if_match_current(mut self) -> Case {
        self.if_match_current = true;
        self
    }

    /// Asks again with `If-None-Match: <ETag of the previous answer>`.
    pub fn revalidating(mut self) -> Case {
        self.revalidate = true;
        self
    }

    pub fn answers(mut self, status: u16, expect: Expect) -> Case {
        self.status = status;
        self.expect = expect;
        self
    }
}

/// Where a suite runs.
#[derive(Clone, Copy, Debug)]
pub enum Backend {
    Sqlite,
    /// Postgres without the read cache, as the reference Postman run there, so every read meets the database.
    Postgres,
}

/// Runs `cases` in order against a fresh RPS on `backend` and fails with every case that did not hold.
pub async fn run(suite: &str, backend: Backend, cases: Vec<Case>) {
    let started = Instant::now();
    let db = match backend {
        Backend::Sqlite => TestDb::sqlite(),
        Backend::Postgres => TestDb::postgres().await,
    };
    let rps = match backend {
        Backend::Sqlite => Running::start(db.url()).await,
        Backend::Postgres => Running::start_with_cache(db.url(), Duration::ZERO).await,
    };
    let mut session = Session {
        rps: &rps,
        versions: HashMap::new(),
        last_etag: None,
    };
    let mut failures = Vec::new();
    let count = cases.len();
    for (i, case) in cases.into_iter().enumerate() {
        if let Err(why) = session.check(&case).await {
            let mut sent = case.body.as_ref().map(Value::to_string).unwrap_or_default();
            if sent.len() > 300 {
                sent.truncate(sent.floor_char_boundary(300));
                sent.push('…');
            }
            failures.push(format!(
                "#{} (line {}) {} {} {sent}\n    {why}",
                i + 1,
                case.line,
                case.method,
                case.path
            ));
        }
    }
    rps.stop().await;
    db.drop_database().await;
    println!(
        "[{suite} on {backend:?}] {count} cases, {} failed, {:.1} s",
        failures.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        failures.is_empty(),
        "[{suite} on {backend:?}] {} of {count} cases failed:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

struct Session<'a> {
    rps: &'a Running,
    /// (resource, lower-case name) → the version last answered for that record.
    versions: HashMap<(String, String), String>,
    last_etag: Option<String>,
}

impl Session<'_> {
    async fn check(&mut self, case: &Case) -> Result<(), String> {
        let resource = resource_of(&case.path);
        let mut body = case.body.clone();
        let current = || {
            let name = body
                .as_ref()
                .and_then(Value::as_object)
                .and_then(record_name)
                .unwrap_or_default();
            self.versions
                .get(&(resource.clone(), name.clone()))
                .cloned()
                .ok_or_else(|| format!("no version seen yet for {resource}/{name}"))
        };
        let mut headers: Vec<(&str, String)> = case.headers.clone();
        if case.if_match_current {
            headers.push(("if-match", current()?));
        }
        if case.current_version {
            let version = current()?;
            if let Some(Value::Object(fields)) = body.as_mut() {
                fields.insert("version".into(), json!(version));
            }
        }
        if case.revalidate {
            let etag = self
                .last_etag
                .clone()
                .ok_or("the previous answer had no ETag")?;
            headers.push(("if-none-match", etag));
        }
        let url = match case.target {
            Target::Rps => self.rps.url(&case.path),
            Target::Vault => {
                headers.push(("x-vault-token", VAULT_TOKEN.to_owned()));
                format!("http://{}{}", self.rps.vault.addr(), case.path)
            }
        };
        let headers: Vec<(&str, &str)> = headers.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let (status, answer_headers, bytes) =
            request(case.method, &url, &headers, body.as_ref()).await;
        self.last_etag = answer_headers
            .get("etag")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let text = String::from_utf8_lossy(&bytes).into_owned();
        let json: Option<Value> = serde_json::from_slice(&bytes).ok();
        if let Some(json) = &json {
            self.remember_versions(&resource, json);
        }
        if status != case.status {
            return Err(format!("status {status}, expected {}: {text}", case.status));
        }
        // A version conflict names the current version in its ETag too.
        if matches!(status, 409 | 412) {
            let version = json
                .as_ref()
                .and_then(|j| j.get("version"))
                .and_then(Value::as_str);
            if version.is_none() || version != self.last_etag.as_deref() {
                return Err(format!(
                    "a conflict's ETag is {:?}, its body's version {version:?}",
                    self.last_etag
                ));
            }
        }
        match &case.expect {
            Expect::Empty if bytes.is_empty() => Ok(()),
            Expect::Empty => Err(format!("expected no body, got {text}")),
            Expect::Page(line) => {
                let html = answer_headers
                    .get("content-type")
                    .and_then(|v| v.to_str().ok())
                    .is_some_and(|t| t.starts_with("text/html"));
                if html && text.contains(&format!("<pre>{line}</pre>")) {
                    Ok(())
                } else {
                    Err(format!("expected the page {line:?}, got {text}"))
                }
            }
            Expect::Including(fields) => {
                let actual = json.ok_or_else(|| format!("not JSON: {text}"))?;
                includes(fields, &actual, "body").map_err(|why| format!("{why}\n    got {actual}"))
            }
            Expect::InvalidFirst(first) => {
                let actual = json.ok_or_else(|| format!("not JSON: {text}"))?;
                let mut errors = actual["errors"].as_array().cloned().unwrap_or_default();
                errors.truncate(first.len());
                let expected = expected_errors(first);
                matches(&expected, &json!({"errors": errors}), "body")
                    .map_err(|why| format!("{why}\n    got {actual}"))
            }
            expect => {
                let actual = json.ok_or_else(|| format!("not JSON: {text}"))?;
                let expected = expected_json(expect);
                matches(&expected, &actual, "body")
                    .map_err(|why| format!("{why}\n    got {actual}"))
            }
        }
    }

    fn remember_versions(&mut self, resource: &str, json: &Value) {
        let rows: Vec<&Value> = match json {
            Value::Array(rows) => rows.iter().collect(),
            Value::Object(o) => match o.get("data") {
                Some(Value::Array(rows)) => rows.iter().collect(),
                _ => vec![json],
            },
            _ => Vec::new(),
        };
        for row in rows {
            if let (Some(fields), Some(Value::String(version))) =
                (row.as_object(), row.get("version"))
                && let Some(name) = record_name(fields)
            {
                self.versions
                    .insert((resource.to_owned(), name), version.clone());
            }
        }
    }
}

/// `/api/v1/admin/<resource>/...` → `<resource>`, lower case.
fn resource_of(path: &str) -> String {
    path.split(['/', '?'])
        .nth(4)
        .unwrap_or_default()
        .to_ascii_lowercase()
}

/// The key of a record in a body or an answer, lower case (names are case-insensitive).
fn record_name(fields: &serde_json::Map<String, Value>) -> Option<String> {
    ["profileName", "configName", "name"]
        .iter()
        .find_map(|key| fields.get(*key).and_then(Value::as_str))
        .map(str::to_lowercase)
}

fn expected_json(expect: &Expect) -> Value {
    match expect {
        Expect::Body(value) | Expect::Including(value) => value.clone(),
        Expect::Refused(error, message) => json!({"error": error, "message": message}),
        Expect::Invalid(errors) | Expect::InvalidFirst(errors) => expected_errors(errors),
        Expect::Empty | Expect::Page(_) => Value::Null,
    }
}

fn expected_errors(errors: &[FieldError]) -> Value {
    json!({"errors": errors.iter().map(|e| {
        let mut entry = json!({"type": "field", "msg": e.msg, "path": e.path, "location": e.location});
        if let Some(value) = &e.value {
            entry["value"] = value.clone();
        }
        entry
    }).collect::<Vec<_>>()})
}

/// Every field of `expected` is in `actual` with that value (recursively for objects); others may be there too.
fn includes(expected: &Value, actual: &Value, at: &str) -> Result<(), String> {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            e.iter().try_for_each(|(key, value)| match a.get(key) {
                Some(actual) => includes(value, actual, &format!("{at}.{key}")),
                None => Err(format!("{at}.{key} is missing")),
            })
        }
        _ => matches(expected, actual, at),
    }
}

/// `actual` equals `expected`, where [`VERSION`] matches any version, [`ANY`] anything, [`starting_with`]
/// a prefix, and a validation error without an expected `value` may carry any.
fn matches(expected: &Value, actual: &Value, at: &str) -> Result<(), String> {
    match (expected, actual) {
        (Value::String(w), _) if w == ANY => Ok(()),
        (Value::String(w), Value::String(v)) if w.starts_with(STARTS_WITH) => {
            let prefix = &w[STARTS_WITH.len()..];
            if v.starts_with(prefix) {
                Ok(())
            } else {
                Err(format!(
                    "{at} is {v:?}, expected it to start with {prefix:?}"
                ))
            }
        }
        (Value::String(w), Value::String(v)) if w == VERSION => {
            if !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()) {
                Ok(())
            } else {
                Err(format!("{at}: {v:?} is not a version"))
            }
        }
        (Value::Object(e), Value::Object(a)) => {
            let is_field_error = e.get("type") == Some(&json!("field"));
            for (key, value) in e {
                match a.get(key) {
                    Some(actual) => matches(value, actual, &format!("{at}.{key}"))?,
                    None => return Err(format!("{at}.{key} is missing")),
                }
            }
            for key in a.keys() {
                let echoed_value = is_field_error && key == "value";
                if !e.contains_key(key) && !echoed_value {
                    return Err(format!("{at}.{key} is not expected"));
                }
            }
            Ok(())
        }
        (Value::Array(e), Value::Array(a)) => {
            if e.len() != a.len() {
                return Err(format!("{at}: {} entries, expected {}", a.len(), e.len()));
            }
            e.iter()
                .zip(a)
                .enumerate()
                .try_for_each(|(i, (e, a))| matches(e, a, &format!("{at}[{i}]")))
        }
        (e, a) if e == a => Ok(()),
        (e, a) => Err(format!("{at} is {a}, expected {e}")),
    }
}

/// `base` with the fields of `changes` set (added or replaced).
pub fn with(mut base: Value, changes: Value) -> Value {
    if let (Some(fields), Value::Object(changes)) = (base.as_object_mut(), changes) {
        fields.extend(changes);
    }
    base
}

/// `base` without `keys`.
pub fn without(mut base: Value, keys: &[&str]) -> Value {
    if let Some(fields) = base.as_object_mut() {
        for key in keys {
            fields.remove(*key);
        }
    }
    base
}
