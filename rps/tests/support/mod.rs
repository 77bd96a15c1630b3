//! Shared by the RPS integration tests: fresh databases (SQLite files, uniquely named Postgres databases on the
//! machine's server), a fake KV v2 "Vault", and RPS REST running in-process on a free port.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;

use rps::{Db, RestServer};
use sea_orm::{ConnectionTrait, Database};
use secrets::test_server::TestVault;
use tokio::sync::oneshot;

pub const VAULT_TOKEN: &str = "myroot";
/// The machine's Postgres (trust auth); every test makes and drops its own database.
pub const POSTGRES_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

pub fn workspace_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// A database that exists for one test.
pub enum TestDb {
    Sqlite {
        _dir: tempfile::TempDir,
        url: String,
    },
    Postgres {
        name: String,
        url: String,
    },
}

impl TestDb {
    pub fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("rps.db").display());
        TestDb::Sqlite { _dir: dir, url }
    }

    /// `CREATE DATABASE rps_<random>` through the `test` database.
    pub async fn postgres() -> TestDb {
        let name = format!("rps_{}", uuid::Uuid::new_v4().simple());
        let admin = Database::connect(POSTGRES_ADMIN_URL)
            .await
            .expect("Postgres at 127.0.0.1:5432 (db test)");
        admin
            .execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await
            .expect("create database");
        admin.close().await.ok();
        TestDb::Postgres {
            url: format!("postgres://postgres@127.0.0.1:5432/{name}"),
            name,
        }
    }

    pub fn url(&self) -> &str {
        match self {
            TestDb::Sqlite { url, .. } | TestDb::Postgres { url, .. } => url,
        }
    }

    /// Drops a Postgres database (connections are closed first by the caller stopping RPS).
    pub async fn drop_database(self) {
        if let TestDb::Postgres { name, .. } = self
            && let Ok(admin) = Database::connect(POSTGRES_ADMIN_URL).await
        {
            {
                let _ = admin
                    .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .await;
                admin.close().await.ok();
            }
        }
    }
}

/// RPS REST running in-process; stops when dropped.
pub struct Running {
    pub addr: SocketAddr,
    pub vault: TestVault,
    pub db: Db,
    stop: Option<oneshot::Sender<()>>,
    task: Option<tokio::task::JoinHandle<std::io::Result<()>>>,
}

impl Running {
    /// Starts RPS on `db_url` with the Vault backend pointed at a fresh fake KV v2.
    pub async fn start(db_url: &str) -> Running {
        Self::start_with_cache(db_url, rps::rest::DEFAULT_CACHE_TTL).await
    }

    /// As [`Running::start`], with the read cache's TTL (zero: no cache).
    pub async fn start_with_cache(db_url: &str, cache_ttl: std::time::Duration) -> Running {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let vault = TestVault::start(VAULT_TOKEN).await.expect("fake KV v2");
        let secrets = secrets::open(&vault.config()).expect("vault backend");
        let db = Db::connect(db_url).await.expect("database");
        let server = RestServer::bind(([127, 0, 0, 1], 0).into(), db.clone(), Arc::clone(&secrets))
            .await
            .expect("bind")
            .cache_ttl(cache_ttl);
        let addr = server.local_addr().expect("address");
        let (stop, stopped) = oneshot::channel::<()>();
        let task = tokio::spawn(server.run(async {
            let _ = stopped.await;
        }));
        Running {
            addr,
            vault,
            db,
            stop: Some(stop),
            task: Some(task),
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.addr, path)
    }

    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
        self.db.conn().clone().close().await.ok();
    }
}

/// A minimal HTTP/1.1 client for the tests (hyper), returning status, headers and body.
pub async fn request(
    method: &str,
    url: &str,
    headers: &[(&str, &str)],
    body: Option<&serde_json::Value>,
) -> (u16, hyper::HeaderMap, Vec<u8>) {
    use http_body_util::{BodyExt, Full};
    use hyper_util::client::legacy::Client;
    use hyper_util::rt::TokioExecutor;

    let client: Client<_, Full<bytes_compat::Bytes>> =
        Client::builder(TokioExecutor::new()).build_http::<Full<bytes_compat::Bytes>>();
    let mut builder = hyper::Request::builder().method(method).uri(url);
    for (k, v) in headers {
        builder = builder.header(*k, *v);
    }
    let payload = match body {
        Some(b) => {
            builder = builder.header("content-type", "application/json");
            serde_json::to_vec(b).expect("json")
        }
        None => Vec::new(),
    };
    let request = builder
        .body(Full::new(bytes_compat::Bytes::from(payload)))
        .expect("request");
    let response = client.request(request).await.expect("response");
    let status = response.status().as_u16();
    let headers = response.headers().clone();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes()
        .to_vec();
    (status, headers, body)
}

/// hyper's body types use the `bytes` crate, reached through axum's re-export.
pub mod bytes_compat {
    pub use axum::body::Bytes;
}

/// A `POST /api/v1/admin/domains` body carrying `chain` (generated with `certs::provisioning`), stored `raw`.
pub fn domain_body(
    name: &str,
    suffix: &str,
    chain: &certs::provisioning::ProvisioningChain,
) -> serde_json::Value {
    serde_json::json!({"profileName": name, "domainSuffix": suffix, "provisioningCert": chain.pfx_base64(),
                       "provisioningCertStorageFormat": "raw", "provisioningCertPassword": chain.password})
}
