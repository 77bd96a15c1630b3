//! "An existing reference database works as is": RPS on a Postgres database made by the reference `init.sql`,
//! and the tables RPS creates itself are the same as the ones that script makes.

mod support;

use sea_orm::{ConnectionTrait, Database, DatabaseConnection, Statement};
use serde_json::{Value, json};
use support::{Running, TestDb, request, shared_dir};

/// The reference script without its cluster-wide statements (CREATE USER, CREATE DATABASE via psql's \gexec),
/// which would change the machine's server rather than the test database.
fn reference_init_sql() -> String {
    let path = shared_dir().join("reference/openamt-rps/init.sql");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines()
        .filter(|l| !l.trim_start().starts_with("CREATE USER") && !l.contains("\\gexec"))
        .collect::<Vec<_>>()
        .join("\n")
}

async fn rows(conn: &DatabaseConnection, sql: &str) -> Vec<Vec<String>> {
    let result = conn
        .query_all_raw(Statement::from_string(conn.get_database_backend(), sql))
        .await
        .expect(sql);
    result
        .iter()
        .map(|row| {
            (0..row.column_names().len())
                .map(|i| {
                    row.try_get_by_index::<Option<String>>(i)
                        .ok()
                        .flatten()
                        .unwrap_or_default()
                })
                .collect()
        })
        .collect()
}

const COLUMNS: &str = "SELECT table_name::text, column_name::text, udt_name::text, is_nullable::text, \
     COALESCE(character_maximum_length::text, '') FROM information_schema.columns \
     WHERE table_schema = 'public' ORDER BY 1, 2";
const CONSTRAINTS: &str = "SELECT tc.table_name::text, tc.constraint_type::text, \
     string_agg(kcu.column_name::text, ',' ORDER BY kcu.ordinal_position) \
     FROM information_schema.table_constraints tc JOIN information_schema.key_column_usage kcu \
     ON tc.constraint_name = kcu.constraint_name AND tc.table_name = kcu.table_name \
     WHERE tc.table_schema = 'public' GROUP BY tc.table_name, tc.constraint_name, tc.constraint_type ORDER BY 1, 2, 3";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tables_rps_creates_match_the_reference_init_sql() {
    let (by_script, by_rps) = (TestDb::postgres().await, TestDb::postgres().await);
    let script = Database::connect(by_script.url()).await.unwrap();
    script
        .execute_unprepared(&reference_init_sql())
        .await
        .expect("reference init.sql applies");
    let _ = rps::Db::connect(by_rps.url())
        .await
        .expect("RPS creates its tables");
    let ours = Database::connect(by_rps.url()).await.unwrap();
    assert_eq!(rows(&ours, COLUMNS).await, rows(&script, COLUMNS).await);
    assert_eq!(
        rows(&ours, CONSTRAINTS).await,
        rows(&script, CONSTRAINTS).await
    );
    assert_eq!(
        rows(&ours, COLUMNS).await.len(),
        83,
        "every reference column"
    );
    script.close().await.ok();
    ours.close().await.ok();
    by_script.drop_database().await;
    by_rps.drop_database().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rps_runs_on_a_database_made_by_the_reference_init_sql() {
    let db = TestDb::postgres().await;
    let conn = Database::connect(db.url()).await.unwrap();
    conn.execute_unprepared(&reference_init_sql())
        .await
        .expect("reference init.sql applies");
    // A row written the way the reference writes it, before RPS ever saw this database.
    conn.execute_unprepared(
        "INSERT INTO ciraconfigs(cira_config_name, mps_server_address, mps_port, user_name, password, common_name, \
         server_address_format, auth_method, mps_root_certificate, proxydetails, tenant_id) \
         VALUES ('LegacyCira', '10.0.0.5', 4433, 'admin', NULL, '10.0.0.5', 3, 2, 'cert', '', '')",
    )
    .await
    .unwrap();
    conn.close().await.ok();

    let rps = Running::start(db.url()).await;
    let (status, _, body) = request(
        "GET",
        &rps.url("/api/v1/admin/ciraconfigs/legacycira"),
        &[],
        None,
    )
    .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let legacy: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(legacy["configName"], "LegacyCira");
    assert!(
        legacy["version"]
            .as_str()
            .is_some_and(|v| v.parse::<u64>().is_ok()),
        "xmin as version: {legacy}"
    );

    let wifi = json!({"profileName": "home", "authenticationMethod": 6, "encryptionMethod": 4, "ssid": "net",
                      "pskPassphrase": "Passphrase1", "linkPolicy": [14, 16]});
    let (status, _, body) = request(
        "POST",
        &rps.url("/api/v1/admin/wirelessconfigs"),
        &[],
        Some(&wifi),
    )
    .await;
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));

    let profile = json!({"profileName": "Legacy-Profile", "activation": "ccmactivate", "generateRandomPassword": false,
                         "amtPassword": "P@ssw0rd", "dhcpEnabled": true, "tags": ["a", "b c"],
                         "ciraConfigName": "legacycira", "wifiConfigs": [{"profileName": "HOME", "priority": 1}]});
    let (status, _, body) = request(
        "POST",
        &rps.url("/api/v1/admin/profiles"),
        &[],
        Some(&profile),
    )
    .await;
    assert_eq!(status, 201, "{}", String::from_utf8_lossy(&body));
    let created: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(created["tags"], json!(["a", "b c"]));
    // Links keep the name as sent, as the reference stores them.
    assert_eq!(
        created["wifiConfigs"],
        json!([{"profileName": "HOME", "priority": 1}])
    );

    let patch = json!({"profileName": "legacy-profile", "activation": "ccmactivate", "dhcpEnabled": true,
                       "tags": ["x"], "ciraConfigName": "LegacyCira", "version": created["version"].clone()});
    let (status, _, body) = request(
        "PATCH",
        &rps.url("/api/v1/admin/profiles"),
        &[],
        Some(&patch),
    )
    .await;
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let patched: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(patched["tags"], json!(["x"]));
    assert_ne!(
        patched["version"], created["version"],
        "an update moves xmin"
    );
    let (status, _, _) = request(
        "PATCH",
        &rps.url("/api/v1/admin/profiles"),
        &[],
        Some(&patch),
    )
    .await;
    assert_eq!(status, 409, "the old version is stale now");

    // What the reference reads from its own tables is what RPS wrote: placeholders only, arrays native.
    let conn = Database::connect(db.url()).await.unwrap();
    let stored = rows(
        &conn,
        "SELECT amt_password, array_to_string(tags, '|'), cira_config_name::text FROM profiles \
         WHERE profile_name = 'legacy-profile'",
    )
    .await;
    assert_eq!(
        stored,
        vec![vec![
            "AMT_PASSWORD".to_owned(),
            "x".to_owned(),
            "LegacyCira".to_owned()
        ]]
    );
    let link = rows(
        &conn,
        "SELECT array_to_string(link_policy, ',') FROM wirelessconfigs",
    )
    .await;
    assert_eq!(link, vec![vec!["14,16".to_owned()]]);
    conn.close().await.ok();
    assert_eq!(
        rps.vault.stored("secret", "profiles/Legacy-Profile"),
        json!({"AMT_PASSWORD": "P@ssw0rd", "MEBX_PASSWORD": ""})
            .as_object()
            .cloned()
    );

    for path in [
        "/api/v1/admin/profiles/LEGACY-PROFILE",
        "/api/v1/admin/wirelessconfigs/home",
    ] {
        let (status, _, body) = request("DELETE", &rps.url(path), &[], None).await;
        assert_eq!(status, 204, "{path}: {}", String::from_utf8_lossy(&body));
    }
    let (status, _, _) = request(
        "DELETE",
        &rps.url("/api/v1/admin/ciraconfigs/LegacyCira"),
        &[],
        None,
    )
    .await;
    assert_eq!(status, 204);
    rps.stop().await;
    db.drop_database().await;
}
