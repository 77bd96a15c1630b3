//! The reference Postman collection (the executable REST contract) run with newman against our MPS
//! on a fresh database: SQLite, then Postgres. Secrets live on the fake Vault KV v2 test server.
//! The collection expects an empty devices table and a working secret store. The collection lives
//! in the reference directory (see `reference_suite`); without it these tests say so and skip.

mod common;

use std::path::Path;
use std::process::Command;

use common::{Db, TestMps, repo_root};
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
    let what = format!("the MPS Postman collection on {db:?}");
    let Some(collection) =
        reference_suite::artifact("openamt-mps/MPS.postman_collection.json", &what)
    else {
        return;
    };
    let Some(environment) =
        reference_suite::artifact("openamt-mps/MPS.postman_environment.json", &what)
    else {
        return;
    };
    let mut mps = TestMps::start(db).await;
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
    mps.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reference_suite_postman_collection_passes_on_sqlite() {
    run_collection(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reference_suite_postman_collection_passes_on_postgres() {
    run_collection(Db::Postgres).await;
}
