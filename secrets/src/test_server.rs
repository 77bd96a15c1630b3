//! An in-process fake Vault KV v2 HTTP server, written from Vault's published HTTP API, for tests that need
//! "Vault" where no Vault can run. Tests that use it say "against a fake KV v2", never "against Vault".
//!
//! What it serves (KV v2 engine at every configured mount, root token only):
//! - `GET /v1/sys/health` (no token needed): the sys/health JSON; 200, or 503 while [`TestVault::set_sealed`];
//! - `POST|PUT /v1/<mount>/data/<path>` `{"data":{..},"options":{"cas":n}}` → 200 `{"data":<version metadata>}`;
//! - `GET /v1/<mount>/data/<path>[?version=n]` → `{"data":{"data":{..},"metadata":{..}}}`;
//! - `DELETE /v1/<mount>/data/<path>`: soft-deletes the newest version;
//! - `GET /v1/<mount>/metadata/<path>`, `LIST /v1/<mount>/metadata/<path>` (or `GET ...?list=true`),
//!   `DELETE /v1/<mount>/metadata/<path>` (every version, 204 even when missing);
//! - 403 `{"errors":["permission denied"]}` on a missing or wrong `X-Vault-Token`;
//! - 404 `{"errors":[]}` for a missing secret; 404 with a "no handler" message for an unknown mount.
//!
//! Known gaps against a real Vault: no policies, leases, namespaces, token TTLs, `delete_version_after`,
//! `max_versions`, or custom metadata writes.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::sync::oneshot;

use crate::{SecretMap, SecretStoreConfig};

/// A running fake KV v2 server bound to 127.0.0.1 on a free port. Stops when dropped.
pub struct TestVault {
    addr: SocketAddr,
    token: String,
    state: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    served: Option<tokio::task::JoinHandle<()>>,
}

impl TestVault {
    /// Starts the server with the KV v2 engine at mount "secret" (the reference's mount).
    pub async fn start(token: &str) -> std::io::Result<TestVault> {
        Self::start_with_mounts(token, &["secret"]).await
    }

    /// Starts the server with a KV v2 engine at each of `mounts`.
    pub async fn start_with_mounts(token: &str, mounts: &[&str]) -> std::io::Result<TestVault> {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await?;
        let addr = listener.local_addr()?;
        let state = Arc::new(Shared {
            token: token.to_owned(),
            mounts: mounts.iter().map(|m| (*m).to_owned()).collect(),
            kv: Mutex::new(HashMap::new()),
            sealed: Mutex::new(false),
        });
        let (stop, served) = serve(listener, Arc::clone(&state));
        Ok(TestVault {
            addr,
            token: token.to_owned(),
            state,
            stop: Some(stop),
            served: Some(served),
        })
    }

    /// Stops answering, as a Vault that went down: the port is closed and open connections end. What it
    /// stored is kept for [`TestVault::resume`].
    pub async fn stop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(served) = self.served.take() {
            let _ = tokio::time::timeout(std::time::Duration::from_secs(5), served).await;
        }
    }

    /// Answers again on the same address, with what it stored before [`TestVault::stop`].
    pub async fn resume(&mut self) -> std::io::Result<()> {
        if self.stop.is_some() {
            return Ok(());
        }
        let listener = tokio::net::TcpListener::bind(self.addr).await?;
        let (stop, served) = serve(listener, Arc::clone(&self.state));
        self.stop = Some(stop);
        self.served = Some(served);
        Ok(())
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// "http://127.0.0.1:<port>", the form Vault addresses take in configuration.
    pub fn address(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn token(&self) -> &str {
        &self.token
    }

    /// A configuration for the Vault backend pointed at this server, mount "secret" (secrets_path "secret/data/").
    pub fn config(&self) -> SecretStoreConfig {
        SecretStoreConfig::Vault {
            address: self.address(),
            token: self.token.clone(),
            secrets_path: "secret/data/".into(),
        }
    }

    /// Makes sys/health report a sealed Vault (503, `sealed: true`) and every other route answer 503, as a
    /// sealed Vault does.
    pub fn set_sealed(&self, sealed: bool) {
        *lock(&self.state.sealed) = sealed;
    }

    /// The newest live version at `<mount>/data/<path>`, read directly: lets tests check what a service wrote.
    pub fn stored(&self, mount: &str, path: &str) -> Option<SecretMap> {
        let kv = lock(&self.state.kv);
        kv.get(&(mount.to_owned(), path.to_owned()))
            .and_then(|s| s.live(None))
            .map(|v| v.data.clone())
    }

    /// Every path that holds a secret (live or not) under `mount`, sorted.
    pub fn paths(&self, mount: &str) -> Vec<String> {
        let kv = lock(&self.state.kv);
        let mut paths: Vec<String> = kv
            .keys()
            .filter(|(m, _)| m == mount)
            .map(|(_, p)| p.clone())
            .collect();
        paths.sort();
        paths
    }
}

fn serve(
    listener: tokio::net::TcpListener,
    state: Arc<Shared>,
) -> (oneshot::Sender<()>, tokio::task::JoinHandle<()>) {
    let app = Router::new().fallback(handle).with_state(state);
    let (stop, stopped) = oneshot::channel::<()>();
    let served = tokio::spawn(async move {
        let served = axum::serve(listener, app).with_graceful_shutdown(async {
            let _ = stopped.await;
        });
        if let Err(e) = served.await {
            tracing::warn!(error = %e, "fake KV v2 server stopped with an error");
        }
    });
    (stop, served)
}

impl Drop for TestVault {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

struct Shared {
    token: String,
    mounts: BTreeSet<String>,
    kv: Mutex<HashMap<(String, String), Secret>>,
    sealed: Mutex<bool>,
}

/// A poisoned lock only means another test thread panicked; the map itself is still consistent.
fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

struct Version {
    data: SecretMap,
    created_time: String,
    deletion_time: String,
}

#[derive(Default)]
struct Secret {
    versions: BTreeMap<u64, Version>,
    current: u64,
    created_time: String,
    updated_time: String,
}

impl Secret {
    fn live(&self, version: Option<u64>) -> Option<&Version> {
        let v = version.filter(|v| *v != 0).unwrap_or(self.current);
        self.versions.get(&v).filter(|v| v.deletion_time.is_empty())
    }

    fn version_metadata(&self, n: u64) -> Value {
        let v = self.versions.get(&n);
        json!({
            "created_time": v.map(|v| v.created_time.as_str()).unwrap_or(""),
            "custom_metadata": null,
            "deletion_time": v.map(|v| v.deletion_time.as_str()).unwrap_or(""),
            "destroyed": false,
            "version": n,
        })
    }

    fn metadata(&self) -> Value {
        let versions: serde_json::Map<String, Value> = self
            .versions
            .iter()
            .map(|(n, v)| {
                let meta = json!({"created_time": v.created_time, "deletion_time": v.deletion_time, "destroyed": false});
                (n.to_string(), meta)
            })
            .collect();
        json!({
            "cas_required": false,
            "created_time": self.created_time,
            "current_version": self.current,
            "custom_metadata": null,
            "delete_version_after": "0s",
            "max_versions": 0,
            "oldest_version": self.versions.keys().next().copied().unwrap_or(0),
            "updated_time": self.updated_time,
            "versions": versions,
        })
    }
}

fn now() -> String {
    OffsetDateTime::now_utc()
        .format(&Rfc3339)
        .unwrap_or_default()
}

fn reply(status: StatusCode, body: Value) -> Response {
    (
        status,
        [("content-type", "application/json")],
        body.to_string(),
    )
        .into_response()
}

fn errors(status: StatusCode, messages: &[&str]) -> Response {
    reply(status, json!({ "errors": messages }))
}

/// The envelope Vault wraps every logical response in.
fn envelope(data: Value) -> Value {
    json!({
        "request_id": uuid::Uuid::new_v4().to_string(),
        "lease_id": "",
        "renewable": false,
        "lease_duration": 0,
        "data": data,
        "wrap_info": null,
        "warnings": null,
        "auth": null,
        "mount_type": "kv",
    })
}

fn query_param<'a>(uri: &'a Uri, key: &str) -> Option<&'a str> {
    uri.query()?
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == key)
        .map(|(_, v)| v)
}

async fn handle(
    State(state): State<Arc<Shared>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    // As Vault (Go's net/http) reads it: percent-escapes decoded.
    let decoded = percent_encoding::percent_decode_str(uri.path()).decode_utf8_lossy();
    let path = decoded.as_ref();
    let sealed = *lock(&state.sealed);
    if path == "/v1/sys/health" && method == Method::GET {
        return health(sealed);
    }
    if sealed {
        return errors(StatusCode::SERVICE_UNAVAILABLE, &["Vault is sealed"]);
    }
    let token_ok =
        headers.get("x-vault-token").and_then(|v| v.to_str().ok()) == Some(state.token.as_str());
    if !token_ok {
        return errors(StatusCode::FORBIDDEN, &["permission denied"]);
    }
    let Some(rest) = path.strip_prefix("/v1/") else {
        return errors(StatusCode::NOT_FOUND, &[]);
    };
    let Some((mount, rest)) = rest.split_once('/') else {
        return no_handler(path);
    };
    if !state.mounts.contains(mount) {
        return no_handler(path);
    }
    let (kind, secret_path) = match rest.split_once('/') {
        Some((kind, p)) => (kind, p.trim_end_matches('/')),
        None => (rest, ""),
    };
    let key = (mount.to_owned(), secret_path.to_owned());
    let listing = method.as_str() == "LIST"
        || (method == Method::GET && query_param(&uri, "list") == Some("true"));
    match (kind, &method) {
        ("metadata", _) if listing => list(&state, mount, secret_path),
        ("data", m) if (*m == Method::POST || *m == Method::PUT) && !secret_path.is_empty() => {
            write(&state, key, &body)
        }
        ("data", &Method::GET) if !secret_path.is_empty() => {
            let version = query_param(&uri, "version").map(str::parse::<u64>);
            match version {
                Some(Err(_)) => errors(StatusCode::BAD_REQUEST, &["invalid version"]),
                Some(Ok(v)) => read(&state, &key, Some(v)),
                None => read(&state, &key, None),
            }
        }
        ("data", &Method::DELETE) if !secret_path.is_empty() => {
            if let Some(secret) = lock(&state.kv).get_mut(&key) {
                let current = secret.current;
                if let Some(v) = secret.versions.get_mut(&current) {
                    v.deletion_time = now();
                }
            }
            StatusCode::NO_CONTENT.into_response()
        }
        ("metadata", &Method::GET) if !secret_path.is_empty() => match lock(&state.kv).get(&key) {
            Some(secret) => reply(StatusCode::OK, envelope(secret.metadata())),
            None => errors(StatusCode::NOT_FOUND, &[]),
        },
        ("metadata", &Method::DELETE) if !secret_path.is_empty() => {
            lock(&state.kv).remove(&key);
            StatusCode::NO_CONTENT.into_response()
        }
        _ => errors(
            StatusCode::METHOD_NOT_ALLOWED,
            &["1 error occurred:\n\t* unsupported operation\n\n"],
        ),
    }
}

fn no_handler(path: &str) -> Response {
    let route = path.trim_start_matches("/v1/");
    let message = format!("no handler for route \"{route}\". route entry not found.");
    errors(StatusCode::NOT_FOUND, &[message.as_str()])
}

fn health(sealed: bool) -> Response {
    let status = if sealed {
        StatusCode::SERVICE_UNAVAILABLE
    } else {
        StatusCode::OK
    };
    let unix = OffsetDateTime::now_utc().unix_timestamp();
    reply(
        status,
        json!({
            "initialized": true,
            "sealed": sealed,
            "standby": false,
            "performance_standby": false,
            "replication_performance_mode": "disabled",
            "replication_dr_mode": "disabled",
            "server_time_utc": unix,
            "version": "1.17.0+fake-kv2",
            "enterprise": false,
            "cluster_name": "openamt-test",
            "cluster_id": "00000000-0000-0000-0000-000000000000",
            "echo_duration_ms": 0,
            "clock_skew_ms": 0,
        }),
    )
}

fn write(state: &Shared, key: (String, String), body: &[u8]) -> Response {
    let Ok(request) = serde_json::from_slice::<Value>(body) else {
        return errors(StatusCode::BAD_REQUEST, &["error parsing JSON"]);
    };
    let Some(data) = request.get("data").and_then(Value::as_object).cloned() else {
        return errors(StatusCode::BAD_REQUEST, &["no data provided"]);
    };
    let cas = request
        .get("options")
        .and_then(|o| o.get("cas"))
        .and_then(Value::as_u64);
    let mut kv = lock(&state.kv);
    let current = kv.get(&key).map_or(0, |s| s.current);
    if cas.is_some_and(|cas| cas != current) {
        return errors(
            StatusCode::BAD_REQUEST,
            &["check-and-set parameter did not match the current version"],
        );
    }
    let stamp = now();
    let secret = kv.entry(key).or_insert_with(|| Secret {
        created_time: stamp.clone(),
        ..Secret::default()
    });
    secret.current += 1;
    secret.updated_time = stamp.clone();
    let n = secret.current;
    secret.versions.insert(
        n,
        Version {
            data,
            created_time: stamp,
            deletion_time: String::new(),
        },
    );
    reply(StatusCode::OK, envelope(secret.version_metadata(n)))
}

fn read(state: &Shared, key: &(String, String), version: Option<u64>) -> Response {
    let kv = lock(&state.kv);
    let Some(secret) = kv.get(key) else {
        return errors(StatusCode::NOT_FOUND, &[]);
    };
    let n = version.filter(|v| *v != 0).unwrap_or(secret.current);
    match secret.live(Some(n)) {
        Some(v) => reply(
            StatusCode::OK,
            envelope(json!({"data": v.data, "metadata": secret.version_metadata(n)})),
        ),
        // Vault answers a deleted or unknown version with 404 and the version's metadata.
        None => reply(
            StatusCode::NOT_FOUND,
            envelope(json!({"data": null, "metadata": secret.version_metadata(n)})),
        ),
    }
}

fn list(state: &Shared, mount: &str, folder: &str) -> Response {
    let prefix = if folder.is_empty() {
        String::new()
    } else {
        format!("{folder}/")
    };
    let kv = lock(&state.kv);
    let keys: BTreeSet<String> = kv
        .keys()
        .filter(|(m, _)| m == mount)
        .filter_map(|(_, p)| p.strip_prefix(prefix.as_str()))
        .map(|rest| match rest.split_once('/') {
            Some((dir, _)) => format!("{dir}/"),
            None => rest.to_owned(),
        })
        .collect();
    if keys.is_empty() {
        return errors(StatusCode::NOT_FOUND, &[]);
    }
    reply(StatusCode::OK, envelope(json!({ "keys": keys })))
}
