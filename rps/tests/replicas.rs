//! Two RPS replicas on one Postgres database, each with its read cache on (the default): a write that
//! has returned through one is seen by the very next read through the other, for every kind of write
//! (create, edit, delete) and for lists and single objects. The caches are warmed first, so a stale
//! answer would be served if any could be.

mod support;

use serde_json::{Value, json};
use support::{Running, TestDb, request};

async fn get(rps: &Running, path: &str) -> (u16, Value) {
    let (status, _, body) = request("GET", &rps.url(path), &[], None).await;
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

async fn send(rps: &Running, method: &str, path: &str, body: Value) -> (u16, Value) {
    let (status, _, body) = request(method, &rps.url(path), &[], Some(&body)).await;
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_write_through_one_replica_is_seen_at_once_through_the_other() {
    let db = TestDb::postgres().await;
    let a = Running::start(db.url()).await;
    let b = Running::start(db.url()).await;
    let list = "/api/v1/admin/proxyconfigs?$count=true";
    let one = "/api/v1/admin/proxyconfigs/office";

    // Warm both caches on the empty list and the missing object.
    for _ in 0..3 {
        assert_eq!(get(&a, list).await.1["totalCount"], 0);
        assert_eq!(get(&b, list).await.1["totalCount"], 0);
        assert_eq!(get(&b, one).await.0, 404);
    }

    let proxy = json!({"name": "office", "address": "proxy.example.com", "infoFormat": 201,
                       "port": 8080, "networkDnsSuffix": "example.com"});
    let (status, created) = send(&a, "POST", "/api/v1/admin/proxyconfigs", proxy.clone()).await;
    assert_eq!(status, 201, "{created}");
    let (status, seen) = get(&b, one).await;
    assert_eq!(status, 200, "B served a stale 404 after A's create: {seen}");
    assert_eq!(seen["port"], 8080);
    assert_eq!(get(&b, list).await.1["totalCount"], 1);

    // An edit through B, read through A (whose cache holds the old object).
    assert_eq!(get(&a, one).await.1["port"], 8080);
    let mut edit = proxy.clone();
    edit["port"] = json!(3128);
    edit["version"] = seen["version"].clone();
    let (status, edited) = send(&b, "PATCH", "/api/v1/admin/proxyconfigs", edit).await;
    assert_eq!(status, 200, "{edited}");
    assert_eq!(get(&a, one).await.1["port"], 3128, "A served the old port");

    // A delete through A, read through B.
    assert_eq!(get(&b, list).await.1["totalCount"], 1);
    let (status, _, _) = request("DELETE", &a.url(one), &[], None).await;
    assert_eq!(status, 204);
    assert_eq!(get(&b, one).await.0, 404, "B served a deleted object");
    assert_eq!(get(&b, list).await.1["totalCount"], 0);

    // A write that bypasses RPS altogether (SQL by hand) is seen too.
    assert_eq!(get(&a, list).await.1["totalCount"], 0);
    b.db.execute(
        "INSERT INTO proxyconfigs (proxy_config_name, address, info_format, port, tenant_id) \
             VALUES ('by-hand', 'p2.example.com', 201, 80, '')",
        vec![],
    )
    .await
    .expect("insert by hand");
    assert_eq!(get(&a, list).await.1["totalCount"], 1);

    a.stop().await;
    b.stop().await;
    db.drop_database().await;
}
