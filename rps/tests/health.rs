//! `GET /api/v1/admin/health` in the reference's shape: 200 when the database answers and the secret store is
//! initialised and unsealed, 503 (same shape) otherwise; `version` as the reference.

mod support;

use serde_json::{Value, json};
use support::{Running, TestDb, request};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_follows_the_secret_store_and_version_is_the_reference() {
    let db = TestDb::sqlite();
    let rps = Running::start(db.url()).await;
    let url = rps.url("/api/v1/admin/health");
    let health = || request("GET", &url, &[], None);
    let (status, _, body) = health().await;
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["db"], json!({"name": "SQLITE", "status": "OK"}));
    assert_eq!(body["secretStore"]["name"], "VAULT");
    assert_eq!(body["secretStore"]["status"]["initialized"], true);
    assert_eq!(body["secretStore"]["status"]["sealed"], false);

    rps.vault.set_sealed(true);
    let (status, _, body) = health().await;
    let body: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["secretStore"]["status"]["sealed"], true);
    rps.vault.set_sealed(false);

    let (status, _, body) = request("GET", &rps.url("/api/v1/admin/version/"), &[], None).await;
    assert_eq!(status, 200);
    assert_eq!(
        serde_json::from_slice::<Value>(&body).unwrap(),
        json!({"serviceVersion": "2.40.0", "protocolVersion": "4.0.0"})
    );
    let (status, _, body) = request("GET", &rps.url("/api/v1/admin/"), &[], None).await;
    assert_eq!(
        (status, serde_json::from_slice::<Value>(&body).unwrap()),
        (200, json!({"message": "admin path. use admin/profiles"}))
    );
    rps.stop().await;
}
