//! The reference Postman collection (the executable REST contract) run with newman against our MPS
//! on a fresh database: SQLite, then Postgres. Secrets live on the fake Vault KV v2 test server.
//! The collection expects an empty devices table and a working secret store.

mod common;

use std::path::Path;
use std::process::Command;

use common::{Db, TestMps, repo_root, shared_dir};
use serde_json::Value;

/// Runs newman with `collection` against `host`; returns (assertions, failed) after printing every
/// failure readably.
fn newman(collection: &Path, environment: Option<&Path>, host: &str, out_dir: &Path) -> (u64, u64) {
    let bin = repo_root().join("tests/node/node_modules/.bin/newman");
    assert!(
        bin.exists(),
        "newman is missing: run `npm ci --prefix tests/node` first ({})",
        bin.display()
    );
    let report = out_dir.join("newman.json");
    let mut cmd = Command::new(&bin);
    cmd.arg("run").arg(collection);
    if let Some(env) = environment {
        cmd.arg("-e").arg(env);
    }
    cmd.args([
        "--env-var",
        &format!("host={host}"),
        "--env-var",
        "protocol=http",
    ])
    .args(["--reporters", "cli,json", "--reporter-json-export"])
    .arg(&report)
    .arg("--disable-unicode")
    .arg("--color")
    .arg("off");
    let out = cmd.output().expect("running newman");
    let report: Value =
        serde_json::from_slice(&std::fs::read(&report).expect("newman JSON report"))
            .expect("report JSON");
    let stats = &report["run"]["stats"]["assertions"];
    let total = stats["total"].as_u64().unwrap_or(0);
    let failed = stats["failed"].as_u64().unwrap_or(u64::MAX);
    if failed != 0 {
        eprintln!("{}", String::from_utf8_lossy(&out.stdout));
        for f in report["run"]["failures"].as_array().into_iter().flatten() {
            eprintln!(
                "FAILED: {} / {}: {}",
                f["source"]["name"].as_str().unwrap_or("?"),
                f["error"]["test"].as_str().unwrap_or("?"),
                f["error"]["message"].as_str().unwrap_or("?")
            );
        }
    }
    (total, failed)
}

async fn run_collection(db: Db) {
    let mut mps = TestMps::start(db).await;
    let reference = shared_dir().join("reference/openamt-mps");
    let collection = reference.join("MPS.postman_collection.json");
    let environment = reference.join("MPS.postman_environment.json");
    let host = mps.rest.clone();
    let out_dir = mps.dir.path().to_path_buf();
    let (total, failed) = tokio::task::spawn_blocking(move || {
        newman(&collection, Some(&environment), &host, &out_dir)
    })
    .await
    .unwrap();
    println!("{db:?}: {total} assertions, {failed} failed");
    assert!(total > 100, "the collection ran only {total} assertions");
    assert_eq!(
        failed, 0,
        "{failed} of {total} Postman assertions failed on {db:?}"
    );

    // The security collection, when the reference directory carries it.
    let security = reference.join("mps_security_api_test_postman_collection.json");
    if security.exists() {
        let data = reference.join("data/mps_security_api_test_data.json");
        let host = mps.rest.clone();
        let out_dir = mps.dir.path().to_path_buf();
        let (total, failed) = tokio::task::spawn_blocking(move || {
            let mut args_env = None;
            if data.exists() {
                args_env = Some(data);
            }
            let _ = args_env;
            newman(&security, None, &host, &out_dir)
        })
        .await
        .unwrap();
        assert_eq!(
            failed, 0,
            "{failed} of {total} security assertions failed on {db:?}"
        );
    } else {
        println!(
            "security collection not present in {}: skipped",
            reference.display()
        );
    }
    mps.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reference_postman_collection_passes_on_sqlite() {
    run_collection(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reference_postman_collection_passes_on_postgres() {
    run_collection(Db::Postgres).await;
}
