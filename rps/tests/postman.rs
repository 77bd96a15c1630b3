//! The reference's own Postman collection (`openamt-rps/rps.postman_collection.json` and its environment under
//! the reference directory, see `reference_suite`), run by newman against RPS REST in-process on a fresh
//! database — SQLite and Postgres — with the Vault backend pointed at a fake KV v2 (its one direct Vault read,
//! `GET /v1/secret/data/TLS/testTLS`, goes there too). Every assertion must pass. Without the reference
//! artifacts both tests say so in one line and pass; `rest_contract.rs` covers the same behaviours on its own.
//!
//! newman comes from `npm ci --prefix tests/node`. The reference's security collection
//! (`rps_security_api_test`) is not among the reference artifacts; `security.rs` covers its cases.

mod support;

use std::path::PathBuf;
use std::process::Stdio;

use support::{Running, TestDb, VAULT_TOKEN, workspace_root};

fn newman() -> PathBuf {
    workspace_root().join("tests/node/node_modules/.bin/newman")
}

/// The collection and its environment, or `None` (after the skip line) when the reference artifacts are absent.
fn reference_collection(what: &str) -> Option<(PathBuf, PathBuf)> {
    let collection = reference_suite::artifact("openamt-rps/rps.postman_collection.json", what)?;
    let environment = reference_suite::artifact("openamt-rps/rps.postman_environment.json", what)?;
    Some((collection, environment))
}

/// Runs the collection against `rps` and fails the test with every failed assertion listed.
async fn run_collection(
    rps: &Running,
    (collection, environment): &(PathBuf, PathBuf),
    label: &str,
) {
    let newman = newman();
    assert!(
        newman.exists(),
        "{} is missing: run `npm ci --prefix tests/node`",
        newman.display()
    );
    let report_dir = tempfile::tempdir().expect("temp dir");
    let report = report_dir.path().join("report.json");
    let vault_host = rps.vault.addr().to_string();
    let output = tokio::process::Command::new(&newman)
        .arg("run")
        .arg(collection)
        .arg("-e")
        .arg(environment)
        .args(["--env-var", &format!("host={}", rps.addr)])
        .args(["--env-var", "protocol=http"])
        .args(["--env-var", &format!("vaultHost={vault_host}")])
        .args(["--env-var", &format!("vaultToken={VAULT_TOKEN}")])
        .args(["--reporters", "json", "--reporter-json-export"])
        .arg(&report)
        .args(["--timeout-request", "30000", "--color", "off"])
        .stdin(Stdio::null())
        .output()
        .await
        .expect("newman runs");
    let text = std::fs::read_to_string(&report).unwrap_or_else(|e| {
        panic!(
            "[{label}] newman wrote no report ({e}); exit {:?}\nstdout: {}\nstderr: {}",
            output.status.code(),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    });
    let report: serde_json::Value = serde_json::from_str(&text).expect("newman JSON report");
    let stats = &report["run"]["stats"];
    let (requests, assertions, failed) = (
        stats["requests"]["total"].as_u64().unwrap_or(0),
        stats["assertions"]["total"].as_u64().unwrap_or(0),
        stats["assertions"]["failed"].as_u64().unwrap_or(u64::MAX),
    );
    println!("[{label}] newman: {requests} requests, {assertions} assertions, {failed} failed");
    let failures: Vec<String> = report["run"]["failures"]
        .as_array()
        .map(|all| {
            all.iter()
                .map(|f| {
                    format!(
                        "- {} / {}: {}",
                        f["source"]["name"].as_str().unwrap_or("?"),
                        f["error"]["test"]
                            .as_str()
                            .unwrap_or(f["error"]["name"].as_str().unwrap_or("?")),
                        f["error"]["message"].as_str().unwrap_or("?")
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    assert!(
        failures.is_empty() && failed == 0 && output.status.success(),
        "[{label}] {} failures (newman exit {:?}):\n{}",
        failures.len(),
        output.status.code(),
        failures.join("\n")
    );
    assert!(
        requests >= 250 && assertions >= 400,
        "[{label}] the collection ran only partly"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reference_suite_postman_collection_passes_on_sqlite() {
    let Some(files) = reference_collection("the RPS Postman collection on SQLite") else {
        return;
    };
    let db = TestDb::sqlite();
    let rps = Running::start(db.url()).await;
    run_collection(&rps, &files, "sqlite").await;
    rps.stop().await;
}

/// Postgres runs without the read cache, so both the cached and the uncached read paths meet the contract.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reference_suite_postman_collection_passes_on_postgres() {
    let Some(files) = reference_collection("the RPS Postman collection on Postgres") else {
        return;
    };
    let db = TestDb::postgres().await;
    let rps = Running::start_with_cache(db.url(), std::time::Duration::ZERO).await;
    run_collection(&rps, &files, "postgres").await;
    rps.stop().await;
    db.drop_database().await;
}
