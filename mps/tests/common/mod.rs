//! Test harness: an MPS on free ports with a fresh SQLite file or a fresh Postgres database, and
//! secrets on the in-process fake Vault KV v2 server.
#![allow(dead_code)]

pub mod device;

use std::path::PathBuf;
use std::process::Command;

use mps::{MpsConfig, MpsDeps, RunningMps};
use secrets::test_server::TestVault;
use tokio_util::sync::CancellationToken;

pub const ADMIN_USER: &str = "standalone";
pub const ADMIN_PASSWORD: &str = "G@ppm0ym";
pub const JWT_SECRET: &str = "mpssecret";
pub const VAULT_TOKEN: &str = "myroot";

#[derive(Clone, Copy, Debug)]
pub enum Db {
    Sqlite,
    Postgres,
}

/// A database `mps_<random>` on the machine's Postgres, dropped with this value.
pub struct PgDatabase {
    pub name: String,
}

impl PgDatabase {
    pub fn create() -> Self {
        let name = format!("mps_{:016x}", rand::random::<u64>());
        psql(&format!("CREATE DATABASE {name}"));
        Self { name }
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:5432/{}", self.name)
    }
}

impl Drop for PgDatabase {
    fn drop(&mut self) {
        psql(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ));
    }
}

/// Runs `sql` in database `db`.
pub fn psql_db(db: &str, sql: &str) {
    let out = Command::new("psql")
        .args([
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            "-d",
            db,
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            sql,
        ])
        .output()
        .expect("psql must be installed to run the Postgres tests");
    assert!(
        out.status.success(),
        "psql {sql:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

pub fn psql(sql: &str) {
    let out = Command::new("psql")
        .args([
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            "-d",
            "test",
            "-v",
            "ON_ERROR_STOP=1",
            "-c",
            sql,
        ])
        .output()
        .expect("psql must be installed to run the Postgres tests");
    assert!(
        out.status.success(),
        "psql {sql:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

pub struct TestMps {
    pub running: Option<RunningMps>,
    pub rest: String,
    pub cira: std::net::SocketAddr,
    pub vault: TestVault,
    pub shutdown: CancellationToken,
    pub dir: tempfile::TempDir,
    pub pg: Option<PgDatabase>,
    pub mps: mps::Mps,
}

/// Installs ring as the process's TLS provider and, when `RUST_LOG` is set, a log subscriber.
pub fn init_tracing() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
    }
}

/// One HTTP/1.1 request; returns the status and the body (JSON when it parses, else a string).
pub async fn http(
    method: &str,
    url: &str,
    body: Option<serde_json::Value>,
) -> (u16, serde_json::Value) {
    use http_body_util::{BodyExt, Full};
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Full<bytes::Bytes>>();
    let mut req = hyper::Request::builder().method(method).uri(url);
    let payload = match body {
        Some(b) => {
            req = req.header("content-type", "application/json");
            bytes::Bytes::from(b.to_string())
        }
        None => bytes::Bytes::new(),
    };
    let resp = client
        .request(req.body(Full::new(payload)).expect("request"))
        .await
        .expect("HTTP request");
    let status = resp.status().as_u16();
    let bytes = resp.into_body().collect().await.expect("body").to_bytes();
    let v = serde_json::from_slice(&bytes).unwrap_or_else(|_| {
        serde_json::Value::String(String::from_utf8_lossy(&bytes).into_owned())
    });
    (status, v)
}

pub fn base_config(dir: &std::path::Path, vault: &TestVault) -> MpsConfig {
    MpsConfig {
        port: 0,
        web_port: 0,
        bind_address: "127.0.0.1".into(),
        jwt_secret: JWT_SECRET.into(),
        web_admin_user: ADMIN_USER.into(),
        web_admin_password: ADMIN_PASSWORD.into(),
        secrets_provider: "vault".into(),
        vault_address: vault.address(),
        vault_token: VAULT_TOKEN.into(),
        secrets_path: "secret/data/".into(),
        data_dir: dir.to_path_buf(),
        instance_name: "mps-test".into(),
        lastseen_flush_ms: 200,
        ..Default::default()
    }
}

impl TestMps {
    pub async fn start(db: Db) -> Self {
        Self::start_with(db, |_| {}).await
    }

    pub async fn start_with(db: Db, tweak: impl FnOnce(&mut MpsConfig)) -> Self {
        init_tracing();
        let vault = TestVault::start(VAULT_TOKEN)
            .await
            .expect("fake KV v2 server");
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = base_config(dir.path(), &vault);
        let pg = match db {
            Db::Sqlite => None,
            Db::Postgres => {
                let pg = PgDatabase::create();
                config.connection_string = pg.url();
                Some(pg)
            }
        };
        tweak(&mut config);
        let deps = MpsDeps::from_config(&config).expect("secret store");
        let shutdown = CancellationToken::new();
        let running = mps::start(config, deps, shutdown.clone())
            .await
            .expect("MPS starts");
        let rest = format!("127.0.0.1:{}", running.rest_addr.port());
        let cira = running.cira_addr;
        let mps = running.mps.clone();
        Self {
            running: Some(running),
            rest,
            cira,
            vault,
            shutdown,
            dir,
            pg,
            mps,
        }
    }

    pub async fn stop(&mut self) {
        self.shutdown.cancel();
        if let Some(r) = self.running.take() {
            r.wait().await.expect("MPS stops cleanly");
        }
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{}", self.rest, path)
    }
}

/// Polls `f` every 50 ms until it holds or `secs` pass (state changes after a socket event are
/// asynchronous).
pub async fn eventually(what: &str, secs: u64, mut f: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(secs);
    while tokio::time::Instant::now() < deadline {
        if f().await {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for: {what}");
}

/// The repository root (mps/..).
pub fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}
