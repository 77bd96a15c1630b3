//! Secrets go to the secret store at the reference's paths and nowhere else: no response carries a password,
//! passphrase, certificate or private key, and the tables hold only placeholders.

mod support;

use sea_orm::{ConnectionTrait, Statement};
use serde_json::{Value, json};
use support::{Running, TestDb, domain_body, request};

const SECRETS: [&str; 8] = [
    "Amt!Secret1",
    "Amt!Secret2",
    "Mebx!Secret1",
    "Mps!Secret1",
    "Mps!Secret2",
    "Psk!Secret1",
    "Psk!Secret2",
    "P@ssw0rd",
];

async fn call(
    rps: &Running,
    seen: &mut Vec<String>,
    verb: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let (status, _, bytes) = request(verb, &rps.url(path), &[], body.as_ref()).await;
    let text = String::from_utf8_lossy(&bytes).into_owned();
    seen.push(format!("{verb} {path} -> {status}: {text}"));
    (status, serde_json::from_str(&text).unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_response_and_no_table_holds_a_secret() {
    let db = TestDb::sqlite();
    let rps = Running::start(db.url()).await;
    let mut seen = Vec::new();
    let chain =
        certs::provisioning::provisioning_chain("intel.vprodemo.com", "P@ssw0rd").expect("chain");
    let domain = domain_body("vprodemo", "vprodemo.com", &chain);
    let pfx = chain.pfx_base64();

    let admin = "/api/v1/admin";
    let (s, created) = call(
        &rps,
        &mut seen,
        "POST",
        &format!("{admin}/domains"),
        Some(domain.clone()),
    )
    .await;
    assert_eq!(s, 201, "{created}");
    let mut patch = domain.clone();
    patch["version"] = created["version"].clone();
    assert_eq!(
        call(
            &rps,
            &mut seen,
            "PATCH",
            &format!("{admin}/domains"),
            Some(patch)
        )
        .await
        .0,
        200
    );

    let cira = json!({"configName": "cira1", "mpsServerAddress": "10.0.0.5", "mpsPort": 4433, "username": "admin",
                      "password": "Mps!Secret1", "commonName": "10.0.0.5", "serverAddressFormat": 3,
                      "authMethod": 2, "mpsRootCertificate": "cert", "proxyDetails": ""});
    let (s, created) = call(
        &rps,
        &mut seen,
        "POST",
        &format!("{admin}/ciraconfigs"),
        Some(cira),
    )
    .await;
    assert_eq!(s, 201, "{created}");
    let patch = json!({"configName": "cira1", "password": "Mps!Secret2", "version": created["version"].clone()});
    assert_eq!(
        call(
            &rps,
            &mut seen,
            "PATCH",
            &format!("{admin}/ciraconfigs"),
            Some(patch)
        )
        .await
        .0,
        200
    );

    let wifi = json!({"profileName": "wifi1", "authenticationMethod": 6, "encryptionMethod": 4, "ssid": "net",
                      "pskPassphrase": "Psk!Secret1"});
    let (s, created) = call(
        &rps,
        &mut seen,
        "POST",
        &format!("{admin}/wirelessconfigs"),
        Some(wifi.clone()),
    )
    .await;
    assert_eq!(s, 201, "{created}");
    let mut patch = wifi;
    patch["pskPassphrase"] = json!("Psk!Secret2");
    patch["version"] = created["version"].clone();
    assert_eq!(
        call(
            &rps,
            &mut seen,
            "PATCH",
            &format!("{admin}/wirelessconfigs"),
            Some(patch)
        )
        .await
        .0,
        200
    );

    let profile = json!({"profileName": "acm1", "activation": "acmactivate", "generateRandomPassword": false,
                         "amtPassword": "Amt!Secret1", "generateRandomMEBxPassword": false,
                         "mebxPassword": "Mebx!Secret1", "dhcpEnabled": true, "tlsMode": 1});
    let (s, created) = call(
        &rps,
        &mut seen,
        "POST",
        &format!("{admin}/profiles"),
        Some(profile),
    )
    .await;
    assert_eq!(s, 201, "{created}");
    let patch = json!({"profileName": "acm1", "activation": "acmactivate", "amtPassword": "Amt!Secret2",
                       "dhcpEnabled": true, "tlsMode": 1, "version": created["version"].clone()});
    let (s, patched) = call(
        &rps,
        &mut seen,
        "PATCH",
        &format!("{admin}/profiles"),
        Some(patch),
    )
    .await;
    assert_eq!(s, 200, "{patched}");

    for resource in ["domains", "ciraconfigs", "wirelessconfigs", "profiles"] {
        call(&rps, &mut seen, "GET", &format!("{admin}/{resource}"), None).await;
        call(
            &rps,
            &mut seen,
            "GET",
            &format!("{admin}/{resource}?$count=true"),
            None,
        )
        .await;
    }
    for item in [
        "domains/vprodemo",
        "ciraconfigs/cira1",
        "wirelessconfigs/wifi1",
        "profiles/acm1",
    ] {
        assert_eq!(
            call(&rps, &mut seen, "GET", &format!("{admin}/{item}"), None)
                .await
                .0,
            200
        );
    }

    let pfx_sample = &pfx[100..160];
    for response in &seen {
        for secret in SECRETS.iter().copied().chain([
            pfx_sample,
            "PRIVATE KEY",
            "CERT_PASSWORD",
            "PSK_PASSPHRASE",
        ]) {
            assert!(
                !response.contains(secret),
                "a response carries {secret:?}: {response}"
            );
        }
    }

    // Every text cell of every table.
    let conn = rps.db.conn();
    for table in [
        "domains",
        "ciraconfigs",
        "wirelessconfigs",
        "profiles",
        "ieee8021xconfigs",
        "proxyconfigs",
    ] {
        let rows = conn
            .query_all_raw(Statement::from_string(
                conn.get_database_backend(),
                format!("SELECT * FROM {table}"),
            ))
            .await
            .unwrap();
        for row in rows {
            for i in 0..row.column_names().len() {
                if let Ok(Some(cell)) = row.try_get_by_index::<Option<String>>(i) {
                    for secret in SECRETS.iter().copied().chain([pfx_sample]) {
                        assert!(!cell.contains(secret), "{table} stores {secret:?}");
                    }
                }
            }
        }
    }

    // And the secret store holds them where the reference keeps them.
    let stored = |path: &str| {
        rps.vault
            .stored("secret", path)
            .unwrap_or_else(|| panic!("nothing at {path}"))
    };
    assert_eq!(stored("certs/vprodemo")["CERT"], pfx.as_str());
    assert_eq!(stored("certs/vprodemo")["CERT_PASSWORD"], "P@ssw0rd");
    assert_eq!(stored("CIRAConfigs/cira1")["MPS_PASSWORD"], "Mps!Secret2");
    assert_eq!(stored("Wireless/wifi1")["PSK_PASSPHRASE"], "Psk!Secret2");
    assert_eq!(
        stored("profiles/acm1"),
        json!({"AMT_PASSWORD": "Amt!Secret2", "MEBX_PASSWORD": "Mebx!Secret1"})
            .as_object()
            .cloned()
            .unwrap()
    );
    let tls = stored("TLS/acm1");
    assert!(
        tls["ROOT_CERTIFICATE"]["certbin"]
            .as_str()
            .is_some_and(|c| !c.is_empty())
    );
    assert!(
        tls["ISSUED_CERTIFICATE"]["privateKeyBin"]
            .as_str()
            .is_some_and(|k| k.contains("PRIVATE KEY"))
    );

    // Deleting removes the secrets too.
    for item in [
        "profiles/acm1",
        "wirelessconfigs/wifi1",
        "ciraconfigs/cira1",
        "domains/vprodemo",
    ] {
        assert_eq!(
            call(&rps, &mut seen, "DELETE", &format!("{admin}/{item}"), None)
                .await
                .0,
            204,
            "{item}"
        );
    }
    assert_eq!(rps.vault.paths("secret"), Vec::<String>::new());
    rps.stop().await;
}
