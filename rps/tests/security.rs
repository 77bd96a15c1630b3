//! The reference's security collection (`rps_security_api_test`, one data-driven request over eight rows) is not
//! among the reference artifacts; these are its rows: the right verbs work, the wrong ones get Express's
//! 404, an empty body is a validation error, and a bearer token is ignored (Kong checks JWTs, not RPS).

mod support;

use serde_json::json;
use support::{Running, TestDb, domain_body, request};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn verbs_and_bodies_of_the_security_collection() {
    let db = TestDb::sqlite();
    let rps = Running::start(db.url()).await;
    let auth = [("authorization", "Bearer ")];
    let wifi = json!({"profileName": "homeWifiConfig", "authenticationMethod": 4, "encryptionMethod": 4,
                      "ssid": "home", "pskPassphrase": "P@ssw0rd"});
    let cira = json!({"configName": "ciraconfig", "mpsServerAddress": "192.168.8.50", "mpsPort": 4433,
                      "username": "mpsname", "password": "G@ppm0ym", "commonName": "192.168.8.50",
                      "serverAddressFormat": 3, "authMethod": 2, "mpsRootCertificate": "U3dhZ2dlciByb2Nrcw==",
                      "proxyDetails": ""});
    let junk_domain = json!({"profileName": "NewDomain3n", "domainSuffix": "NewDomain3n.com",
                             "provisioningCertStorageFormat": "string", "provisioningCert": "U3dhZ2dlciByb2Nrcw==",
                             "provisioningCertPassword": "G@ppm0ym"});
    let chain =
        certs::provisioning::provisioning_chain("test.test.com", "Intel123!").expect("chain");
    let domain = domain_body("NewDomain", "test.com", &chain);
    let cases = [
        ("GET", "/api/v1/admin/domains", json!({}), 200),
        ("POST", "/api/v1/admin/domains", json!({}), 400),
        ("POST", "/api/v1/admin/wirelessconfigs", wifi.clone(), 201),
        ("PUT", "/api/v1/admin/wirelessconfigs", wifi, 404),
        ("POST", "/api/v1/admin/ciraconfigs", cira, 201),
        (
            "DELETE",
            "/api/v1/admin/ciraconfigs",
            junk_domain.clone(),
            404,
        ),
        ("POST", "/api/v1/admin/domains", domain, 201),
        ("COPY", "/api/v1/admin/domains", junk_domain, 404),
    ];
    for (verb, path, body, expected) in cases {
        let (status, headers, text) = request(verb, &rps.url(path), &auth, Some(&body)).await;
        assert_eq!(
            status,
            expected,
            "{verb} {path}: {}",
            String::from_utf8_lossy(&text)
        );
        if expected == 404 {
            let page = String::from_utf8_lossy(&text);
            assert!(
                page.contains(&format!("Cannot {verb} {path}")),
                "Express's 404 page: {page}"
            );
            assert!(
                headers["content-type"]
                    .to_str()
                    .unwrap()
                    .starts_with("text/html")
            );
        }
    }
    // Malformed JSON is a 400 from the body parser, never a 500 or a dropped connection.
    let (status, _, _) = request(
        "POST",
        &rps.url("/api/v1/admin/profiles"),
        &[("content-type", "application/json")],
        None,
    )
    .await;
    assert_eq!(
        status, 400,
        "an empty JSON body reads as {{}} and fails validation"
    );
    rps.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cors_preflight_and_headers_as_the_reference() {
    let db = TestDb::sqlite();
    let rps = Running::start(db.url()).await;
    let (status, headers, _) = request(
        "OPTIONS",
        &rps.url("/api/v1/admin/profiles"),
        &[
            ("origin", "https://ui.example"),
            ("access-control-request-method", "PATCH"),
            ("access-control-request-headers", "content-type,if-match"),
        ],
        None,
    )
    .await;
    assert!(
        status == 200 || status == 204,
        "preflight answered {status}"
    );
    assert_eq!(headers["access-control-allow-origin"], "*");
    assert!(
        headers["access-control-allow-methods"]
            .to_str()
            .unwrap()
            .contains("PATCH")
    );
    assert!(
        headers["access-control-allow-headers"]
            .to_str()
            .unwrap()
            .contains("if-match")
    );
    let (_, headers, _) = request(
        "GET",
        &rps.url("/API/V1/Admin/Version/"),
        &[("origin", "https://ui.example")],
        None,
    )
    .await;
    assert_eq!(headers["access-control-allow-origin"], "*");
    rps.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_and_oversized_bodies_get_clear_errors() {
    let db = TestDb::sqlite();
    let rps = Running::start(db.url()).await;
    let url = rps.url("/api/v1/admin/profiles");
    let raw = |body: &'static str| {
        let url = url.clone();
        async move {
            use http_body_util::{BodyExt, Full};
            use hyper_util::client::legacy::Client;
            let client: Client<_, Full<axum::body::Bytes>> =
                Client::builder(hyper_util::rt::TokioExecutor::new()).build_http();
            let request = hyper::Request::post(url)
                .header("content-type", "application/json")
                .body(Full::new(axum::body::Bytes::from(body)))
                .unwrap();
            let response = client.request(request).await.unwrap();
            let status = response.status().as_u16();
            let _ = response.into_body().collect().await;
            status
        }
    };
    assert_eq!(raw("{\"profileName\": ").await, 400, "truncated JSON");
    assert_eq!(
        raw("\"just a string\"").await,
        400,
        "JSON that is not an object"
    );
    let huge: &'static str =
        Box::leak(format!("{{\"tags\": [\"{}\"]}}", "x".repeat(200 * 1024)).into_boxed_str());
    assert_eq!(
        raw(huge).await,
        413,
        "bodies over 100 kB, as express.json()"
    );
    // The server is still fine afterwards.
    let (status, _, _) = request("GET", &rps.url("/api/v1/admin/profiles"), &[], None).await;
    assert_eq!(status, 200);
    rps.stop().await;
}
