//! MPS's REST contract, stated here: the paths, status codes, validation messages and bodies that
//! REST clients of the reference rely on (the behaviours its Postman collection checks), on a fresh
//! database, SQLite then Postgres. Needs nothing beside the checkout; the reference's own collection
//! runs as an extra in `postman.rs`.

mod common;

use common::{ADMIN_PASSWORD, ADMIN_USER, Db, TestMps, http};
use serde_json::{Value, json};

const FIRST: &str = "143e4567-e89b-12d3-a456-426614174000";
const SECOND: &str = "d12428be-9fa1-4226-9784-54b2038beab6";
const THIRD: &str = "d12428be-9fa1-4226-9784-54b2038beab7";
const SHORT: &str = "143e4567-e89b-12d3-a456-426614174";
const NOT_CONNECTED: &str = "Device not found/connected. Please connect again using CIRA.";

/// One request against `mps`; asserts the status and returns the body.
async fn call(mps: &TestMps, method: &str, path: &str, body: Option<Value>, status: u16) -> Value {
    let (got, value) = http(method, &mps.url(path), body).await;
    assert_eq!(got, status, "{method} {path}: {value}");
    value
}

/// `POST /api/v1/devices` with `body` (create or update); asserts the status.
async fn post_device(mps: &TestMps, body: Value, status: u16) -> Value {
    call(mps, "POST", "/api/v1/devices", Some(body), status).await
}

/// The express-validator error the reference answers with, as the first of `errors`.
fn first_error(body: &Value) -> &Value {
    &body["errors"][0]
}

fn assert_invalid(body: &Value, path: &str, location: &str, msg: &str) {
    let error = first_error(body);
    assert_eq!(error["path"], path, "{body}");
    assert_eq!(error["location"], location, "{body}");
    assert_eq!(error["msg"], msg, "{body}");
}

fn assert_device(body: &Value, guid: &str, hostname: &str, tags: &[&str]) {
    assert_eq!(body["guid"], guid, "{body}");
    assert_eq!(body["hostname"], hostname, "{body}");
    assert_eq!(body["tags"], json!(tags), "{body}");
    assert_eq!(body["mpsInstance"], Value::Null, "{body}");
    assert_eq!(body["connectionStatus"], false, "{body}");
}

async fn empty_fleet(mps: &TestMps) {
    let pem = call(mps, "GET", "/api/v1/ciracert", None, 200).await;
    let pem = pem.as_str().expect("the CIRA root certificate as text");
    assert!(pem.contains("-----BEGIN CERTIFICATE-----"), "{pem}");
    assert!(pem.contains("-----END CERTIFICATE-----"), "{pem}");

    assert_eq!(
        call(mps, "GET", "/api/v1/devices", None, 200).await,
        json!([])
    );
    assert_eq!(
        call(mps, "GET", "/api/v1/devices/stats", None, 200).await,
        json!({"totalCount": 0, "connectedCount": 0, "disconnectedCount": 0})
    );
    assert_eq!(
        call(mps, "GET", "/api/v1/devices/tags", None, 200).await,
        json!([])
    );
}

async fn creation_is_validated(mps: &TestMps) {
    let post = async |body: Value| post_device(mps, body, 400).await;

    let body = post(json!({"guid": SHORT, "hostname": "hostname", "tags": []})).await;
    assert_invalid(&body, "guid", "body", "Invalid value");
    assert_eq!(first_error(&body)["value"], SHORT);

    let body = post(json!({"guid": [], "hostname": "hostname", "tags": []})).await;
    assert_invalid(&body, "guid", "body", "Invalid value");

    let body = post(json!({"guid": SECOND, "hostname": "hostname", "tags": "test"})).await;
    assert_invalid(&body, "tags", "body", "tags should be an array of strings");
    assert_eq!(first_error(&body)["value"], "test");

    let body =
        post(json!({"guid": FIRST, "hostname": "h", "tags": [], "deviceInfo": "not an object"}))
            .await;
    assert_eq!(first_error(&body)["value"], "not an object", "{body}");
    assert_eq!(first_error(&body)["path"], "deviceInfo", "{body}");

    for suffix in [json!("None?injected_query_string=123"), json!("a b.com")] {
        let body =
            post(json!({"guid": FIRST, "hostname": "h", "tags": [], "dnsSuffix": suffix})).await;
        assert_invalid(
            &body,
            "dnsSuffix",
            "body",
            "dnsSuffix must be a valid DNS suffix",
        );
    }
    let body = post(json!({"guid": FIRST, "hostname": "h", "tags": [], "dnsSuffix": {}})).await;
    assert_eq!(first_error(&body)["path"], "dnsSuffix", "{body}");

    let long = "x".repeat(300);
    let body = post(json!({"guid": FIRST, "hostname": long, "tags": []})).await;
    assert_eq!(
        first_error(&body)["msg"],
        "Hostname must be less than 256 characters",
        "{body}"
    );
    // Nothing was stored by a refused request.
    assert_eq!(
        call(mps, "GET", "/api/v1/devices", None, 200).await,
        json!([])
    );
}

async fn devices_are_created_read_and_updated(mps: &TestMps) {
    let created = post_device(
        mps,
        json!({
            "guid": FIRST, "friendlyName": "friendlyName", "hostname": "hostname", "tags": [],
            "mpsusername": "admin", "dnsSuffix": "test.com",
            "deviceInfo": {"fwVersion": "16.1.25", "fwBuild": "2128", "fwSku": "16392",
                           "currentMode": "0", "features": "AMT Pro Corporate ", "ipAddress": ""}
        }),
        201,
    )
    .await;
    assert_device(&created, FIRST, "hostname", &[]);
    assert_eq!(created["friendlyName"], "friendlyName");
    assert_eq!(created["dnsSuffix"], "test.com");
    assert_eq!(created["deviceInfo"]["fwVersion"], "16.1.25");

    // Posting a known GUID again updates it and answers 200.
    let again = call(
        mps,
        "POST",
        "/api/v1/devices",
        Some(
            json!({"guid": FIRST, "friendlyName": "friendlyName", "hostname": "hostname",
                    "tags": [], "mpsusername": "admin", "dnsSuffix": "test.com"}),
        ),
        200,
    )
    .await;
    assert_device(&again, FIRST, "hostname", &[]);

    let read = call(mps, "GET", &format!("/api/v1/devices/{FIRST}"), None, 200).await;
    assert_device(&read, FIRST, "hostname", &[]);
    // Another tenant does not see it: 204, no body.
    let (status, _) = http(
        "GET",
        &mps.url(&format!("/api/v1/devices/{FIRST}?tenantId=123")),
        None,
    )
    .await;
    assert_eq!(status, 204);
    let body = call(mps, "GET", &format!("/api/v1/devices/{SHORT}"), None, 400).await;
    assert_invalid(&body, "guid", "params", "Invalid value");
    assert_eq!(first_error(&body)["value"], SHORT);

    let renamed = post_device(
        mps,
        json!({"guid": FIRST, "hostname": "DESKTOP-2T73VQK", "tags": ["acm"]}),
        200,
    )
    .await;
    assert_device(&renamed, FIRST, "DESKTOP-2T73VQK", &["acm"]);

    let patch = async |body: Value, status: u16| {
        call(mps, "PATCH", "/api/v1/devices", Some(body), status).await
    };
    let body = patch(
        json!({"guid": FIRST, "hostname": "hostname", "dnsSuffix": "None?injected_query_string=123", "tags": ["acm"]}),
        400,
    )
    .await;
    assert_invalid(
        &body,
        "dnsSuffix",
        "body",
        "dnsSuffix must be a valid DNS suffix",
    );
    let body = patch(
        json!({"guid": FIRST, "hostname": "hostname", "dnsSuffix": "a".repeat(300), "tags": ["acm"]}),
        400,
    )
    .await;
    assert_invalid(
        &body,
        "dnsSuffix",
        "body",
        "dnsSuffix must be less than 256 characters",
    );

    let missing = "143e4567-e89b-12d3-a456-426614174001";
    let body = patch(
        json!({"guid": missing, "hostname": "hostname", "tags": ["acm"]}),
        404,
    )
    .await;
    assert_eq!(body["error"], "NOT FOUND");
    assert_eq!(body["message"], format!("Device ID {missing} not found"));

    let updated = patch(
        json!({"guid": FIRST, "hostname": "hostname", "dnsSuffix": "os.suffix.com", "tags": ["acm"]}),
        200,
    )
    .await;
    assert_device(&updated, FIRST, "hostname", &["acm"]);
    assert_eq!(updated["dnsSuffix"], "os.suffix.com");
    // What the reference accepts as a suffix: empty, null, a trailing dot, a single label.
    for suffix in [
        json!(""),
        Value::Null,
        json!("os.suffix.com."),
        json!("localdomain"),
    ] {
        let body = patch(
            json!({"guid": FIRST, "hostname": "hostname", "dnsSuffix": suffix, "tags": ["acm"]}),
            200,
        )
        .await;
        assert_eq!(body["dnsSuffix"], suffix, "{body}");
    }
    // The last write is what a read returns.
    let read = call(mps, "GET", &format!("/api/v1/devices/{FIRST}"), None, 200).await;
    assert_eq!(read["dnsSuffix"], "localdomain");
    assert_eq!(read["friendlyName"], "friendlyName");

    // Refreshing a device that has no tunnel.
    call(
        mps,
        "DELETE",
        &format!("/api/v1/devices/refresh/{missing}"),
        None,
        404,
    )
    .await;
}

async fn the_fleet_is_listed_and_filtered(mps: &TestMps) {
    let second = post_device(
        mps,
        json!({"guid": SECOND, "hostname": "hostname", "tags": ["ccm"]}),
        201,
    )
    .await;
    assert_device(&second, SECOND, "hostname", &["ccm"]);
    let token = call(
        mps,
        "GET",
        &format!("/api/v1/authorize/redirection/{SECOND}"),
        None,
        200,
    )
    .await;
    assert!(
        token["token"]
            .as_str()
            .is_some_and(|t| t.split('.').count() == 3),
        "{token}"
    );
    let body = call(mps, "GET", "/api/v1/authorize/redirection/1", None, 400).await;
    assert_invalid(&body, "guid", "params", "Invalid value");

    let mut tags: Vec<String> =
        serde_json::from_value(call(mps, "GET", "/api/v1/devices/tags", None, 200).await).unwrap();
    tags.sort();
    assert_eq!(tags, ["acm", "ccm"]);

    let list =
        async |query: &str| call(mps, "GET", &format!("/api/v1/devices{query}"), None, 200).await;
    let guids = |body: &Value| -> Vec<String> {
        body.as_array()
            .expect("a list")
            .iter()
            .map(|d| d["guid"].as_str().unwrap_or_default().to_owned())
            .collect()
    };
    let acm = list("?tags=acm").await;
    assert_eq!(guids(&acm), [FIRST]);
    assert_device(&acm[0], FIRST, "hostname", &["acm"]);
    assert_eq!(guids(&list("?status=1").await), Vec::<String>::new());
    let mut offline = guids(&list("?status=0").await);
    offline.sort();
    assert_eq!(offline, [FIRST, SECOND]);
    let named = list("?friendlyName=friendlyName").await;
    assert_eq!(guids(&named), [FIRST]);
    assert_eq!(named[0]["friendlyName"], "friendlyName");
    assert_eq!(guids(&list("?hostname=hostname").await).len(), 2);

    let counted = list("?$top=10&$skip=0&$count=true").await;
    assert_eq!(counted["totalCount"], 2, "{counted}");
    assert_eq!(counted["data"].as_array().map(Vec::len), Some(2));
    let uncounted = list("?$top=10&$skip=0&$count=false").await;
    assert_eq!(uncounted.as_array().map(Vec::len), Some(2), "{uncounted}");
    let page = list("?$top=1&$skip=1&$count=true").await;
    assert_eq!(page["totalCount"], 2);
    assert_eq!(page["data"].as_array().map(Vec::len), Some(1));

    assert_eq!(
        call(mps, "GET", "/api/v1/devices/stats", None, 200).await,
        json!({"totalCount": 2, "connectedCount": 0, "disconnectedCount": 2})
    );
}

async fn devices_are_deleted(mps: &TestMps) {
    let body = call(
        mps,
        "DELETE",
        &format!("/api/v1/devices/{SHORT}"),
        None,
        400,
    )
    .await;
    assert_invalid(&body, "guid", "params", "Invalid value");

    post_device(
        mps,
        json!({"guid": THIRD, "hostname": "hostname", "tags": ["acm"]}),
        201,
    )
    .await;
    let body = call(
        mps,
        "DELETE",
        &format!("/api/v1/devices/{THIRD}?isSecretToBeDeleted=t"),
        None,
        400,
    )
    .await;
    assert_invalid(&body, "isSecretToBeDeleted", "query", "Invalid value");
    assert_eq!(first_error(&body)["value"], "t");
    call(mps, "GET", &format!("/api/v1/devices/{THIRD}"), None, 200).await;
    call(
        mps,
        "DELETE",
        &format!("/api/v1/devices/{THIRD}?isSecretToBeDeleted=false"),
        None,
        204,
    )
    .await;

    let missing = "143e4567-e89b-12d3-a456-426614174002";
    let body = call(
        mps,
        "DELETE",
        &format!("/api/v1/devices/{missing}"),
        None,
        404,
    )
    .await;
    assert_eq!(body["error"], "NOT FOUND");
    assert_eq!(body["message"], format!("Device ID {missing} not found"));

    call(
        mps,
        "DELETE",
        &format!("/api/v1/devices/{FIRST}"),
        None,
        204,
    )
    .await;
    let body = call(
        mps,
        "DELETE",
        &format!("/api/v1/devices/disconnect/{SECOND}"),
        None,
        404,
    )
    .await;
    assert_eq!(body["error"], NOT_CONNECTED);
    assert_eq!(body["errorDescription"], format!("guid : {SECOND}"));
    let body = call(
        mps,
        "GET",
        &format!("/api/v1/devices/redirectstatus/{SECOND}"),
        None,
        404,
    )
    .await;
    assert_eq!(body["error"], NOT_CONNECTED);
    call(
        mps,
        "DELETE",
        &format!("/api/v1/devices/{SECOND}"),
        None,
        204,
    )
    .await;

    // Gone means gone: not read, not listed, not counted.
    for guid in [FIRST, SECOND, THIRD] {
        let (status, _) = http("GET", &mps.url(&format!("/api/v1/devices/{guid}")), None).await;
        assert_ne!(status, 200, "{guid} still readable");
    }
    assert_eq!(
        call(mps, "GET", "/api/v1/devices", None, 200).await,
        json!([])
    );
    assert_eq!(
        call(mps, "GET", "/api/v1/devices/stats", None, 200).await,
        json!({"totalCount": 0, "connectedCount": 0, "disconnectedCount": 0})
    );
}

/// Every AMT call on a device without a tunnel answers 404 with the reference's message naming the
/// GUID as given, whatever its shape; body validation that needs no device comes first.
async fn amt_calls_need_a_tunnel(mps: &TestMps) {
    let consent = json!({"consentCode": 556249});
    let power = json!({"action": 8, "useSOL": false});
    let boot = json!({"action": 100, "useSOL": false});
    let features =
        json!({"userConsent": "none", "enableSOL": false, "enableIDER": false, "enableKVM": false});
    let link = json!({"linkPreference": 1, "timeout": 300});
    let wifi = json!({"profileName": "home", "ssid": "home-ssid", "priority": 1,
        "authenticationMethod": "WPA2PSK", "encryptionMethod": "CCMP", "password": "superSecret"});
    let calls: Vec<(&str, &str, Option<Value>)> = vec![
        ("GET", "/api/v1/amt/log/audit/{}?startIndex=0", None),
        ("GET", "/api/v1/amt/log/event/{}", None),
        ("GET", "/api/v1/amt/userConsentCode/{}", None),
        ("POST", "/api/v1/amt/userConsentCode/{}", Some(consent)),
        ("GET", "/api/v1/amt/userConsentCode/cancel/{}", None),
        ("GET", "/api/v1/amt/hardwareInfo/{}", None),
        ("GET", "/api/v1/amt/certificates/{}", None),
        ("DELETE", "/api/v1/amt/certificates/{}/some-handle", None),
        ("GET", "/api/v1/amt/generalSettings/{}", None),
        ("GET", "/api/v1/amt/power/capabilities/{}", None),
        ("GET", "/api/v1/amt/power/state/{}", None),
        ("POST", "/api/v1/amt/power/action/{}", Some(power)),
        ("POST", "/api/v1/amt/power/bootoptions/{}", Some(boot)),
        ("GET", "/api/v1/amt/features/{}", None),
        ("POST", "/api/v1/amt/features/{}", Some(features)),
        ("GET", "/api/v1/amt/version/{}", None),
        ("POST", "/api/v1/amt/network/linkPreference/{}", Some(link)),
        ("GET", "/api/v1/amt/networkSettings/{}", None),
        ("GET", "/api/v1/amt/networkSettings/wired/{}", None),
        (
            "PATCH",
            "/api/v1/amt/networkSettings/wired/{}",
            Some(json!({"dhcpEnabled": true})),
        ),
        ("GET", "/api/v1/amt/networkSettings/wireless/state/{}", None),
        (
            "POST",
            "/api/v1/amt/networkSettings/wireless/state/{}",
            Some(json!({"state": "WifiEnabledS0SxAC"})),
        ),
        (
            "GET",
            "/api/v1/amt/networkSettings/wireless/profileSync/{}",
            None,
        ),
        (
            "POST",
            "/api/v1/amt/networkSettings/wireless/profileSync/{}",
            Some(json!({"localProfileSync": true, "uefiProfileSync": false})),
        ),
        (
            "GET",
            "/api/v1/amt/networkSettings/wireless/profile/{}",
            None,
        ),
        (
            "POST",
            "/api/v1/amt/networkSettings/wireless/profile/{}",
            Some(wifi.clone()),
        ),
        (
            "PATCH",
            "/api/v1/amt/networkSettings/wireless/profile/{}",
            Some(wifi),
        ),
        (
            "DELETE",
            "/api/v1/amt/networkSettings/wireless/profile/{}/home",
            None,
        ),
        ("DELETE", "/api/v1/amt/deactivate/{}", None),
    ];
    for guid in ["1", "test-guid-123", FIRST] {
        for (method, path, body) in &calls {
            let path = path.replace("{}", guid);
            let answer = call(mps, method, &path, body.clone(), 404).await;
            assert_eq!(answer["error"], NOT_CONNECTED, "{method} {path}: {answer}");
            assert_eq!(
                answer["errorDescription"],
                format!("guid : {guid}"),
                "{method} {path}"
            );
        }
    }

    let add =
        async |body: Value| call(mps, "POST", "/api/v1/amt/certificates/1", Some(body), 400).await;
    let body = add(json!({"cert": "", "isTrusted": true})).await;
    assert_eq!(
        first_error(&body)["msg"],
        "Certificate is required",
        "{body}"
    );
    let body = add(json!({"cert": "dummy", "isTrusted": "notbool"})).await;
    assert_eq!(
        first_error(&body)["msg"],
        "Invalid certificate format (not valid DER or PEM)",
        "{body}"
    );
}

async fn login_and_service_status(mps: &TestMps) {
    let login = async |body: Value, status: u16| {
        call(mps, "POST", "/api/v1/authorize", Some(body), status).await
    };
    let token = login(
        json!({"username": ADMIN_USER, "password": ADMIN_PASSWORD}),
        200,
    )
    .await;
    assert!(
        token["token"]
            .as_str()
            .is_some_and(|t| t.split('.').count() == 3),
        "{token}"
    );
    login(json!({"username": ADMIN_USER, "password": "wrong"}), 401).await;

    let body = login(json!({"password": ADMIN_PASSWORD}), 400).await;
    assert_eq!(
        body["errors"],
        json!([
            {"type": "field", "msg": "Invalid value", "path": "username", "location": "body"},
            {"type": "field", "msg": "User name is required", "path": "username", "location": "body"}
        ])
    );
    let body = login(json!({"username": ADMIN_USER}), 400).await;
    assert_invalid(&body, "password", "body", "Password is required");

    let health = call(mps, "GET", "/api/v1/health", None, 200).await;
    assert_eq!(health["db"]["status"], "OK", "{health}");
    assert_eq!(
        health["secretStore"]["status"]["initialized"], true,
        "{health}"
    );
    assert_eq!(health["secretStore"]["status"]["sealed"], false, "{health}");
    let version = call(mps, "GET", "/api/v1/version", None, 200).await;
    assert!(
        version["serviceVersion"]
            .as_str()
            .is_some_and(|v| !v.is_empty()),
        "{version}"
    );
}

async fn contract(db: Db) {
    let mut mps = TestMps::start(db).await;
    empty_fleet(&mps).await;
    creation_is_validated(&mps).await;
    devices_are_created_read_and_updated(&mps).await;
    the_fleet_is_listed_and_filtered(&mps).await;
    devices_are_deleted(&mps).await;
    amt_calls_need_a_tunnel(&mps).await;
    login_and_service_status(&mps).await;
    mps.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rest_contract_holds_on_sqlite() {
    contract(Db::Sqlite).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_rest_contract_holds_on_postgres() {
    contract(Db::Postgres).await;
}
