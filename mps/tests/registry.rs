//! The registry on an existing reference database: a Postgres `devices` table made the way the
//! reference makes it and filled the way the reference fills it is served as is, and what MPS writes
//! reads back the same way on Postgres and SQLite. The table comes from [`REFERENCE_DEVICES`], our own
//! statement of the reference's schema, and, as a reference suite, from the reference's initMPS.sql
//! itself (see `reference_suite`; skipped in one line when absent).

mod common;

use common::{Db, PgDatabase, TestMps, http, psql_db};
use serde_json::json;

const GUID: &str = "143e4567-e89b-12d3-a456-426614174000";

/// The reference's `devices` table (MPS v2.x): uuid key with the tenant, text[] tags, JSON device info,
/// timestamps with time zone. Written from its documented schema, so this test needs no file beside
/// the checkout.
const REFERENCE_DEVICES: &str = "
CREATE TABLE IF NOT EXISTS devices(
    guid uuid NOT NULL,
    tags text[],
    hostname varchar(256),
    mpsinstance text,
    connectionstatus boolean,
    mpsusername text,
    tenantid varchar(36) NOT NULL,
    friendlyname varchar(256),
    dnssuffix varchar(256),
    lastconnected timestamp with time zone,
    lastseen timestamp with time zone,
    lastdisconnected timestamp with time zone,
    deviceinfo JSON,
    CONSTRAINT device_guid UNIQUE(guid),
    PRIMARY KEY (guid, tenantid)
);";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_existing_reference_shaped_database_is_used_as_is() {
    served_as_is(REFERENCE_DEVICES).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reference_suite_an_existing_reference_database_is_used_as_is() {
    let Some(init) = reference_suite::artifact(
        "openamt-mps/initMPS.sql",
        "MPS on a database made by the reference's initMPS.sql",
    ) else {
        return;
    };
    let sql = std::fs::read_to_string(&init).unwrap_or_else(|e| panic!("{}: {e}", init.display()));
    // The script creates and enters its own database; the table DDL is what matters here.
    let ddl: String = sql
        .lines()
        .filter(|l| !l.starts_with("CREATE DATABASE") && !l.starts_with("\\connect"))
        .collect::<Vec<_>>()
        .join("\n");
    served_as_is(&ddl).await;
}

/// A database whose `devices` table `ddl` made, holding a row written as the reference writes it.
async fn served_as_is(ddl: &str) {
    let pg = PgDatabase::create();
    psql_db(&pg.name, ddl);
    psql_db(
        &pg.name,
        &format!(
            "INSERT INTO devices(guid, hostname, tags, mpsinstance, connectionstatus, mpsusername, tenantid, friendlyname, dnssuffix, lastconnected, deviceinfo) \
             VALUES ('{GUID}', 'legacy-host', ARRAY['acm','lab'], NULL, false, 'ciraUser', '', 'Legacy', 'corp.example', '2024-05-06T07:08:09.123Z', '{{\"fwVersion\":\"16.1.25\"}}')"
        ),
    );
    let url = pg.url();
    let mut mps = TestMps::start_with(Db::Sqlite, |c| c.connection_string = url).await;
    let (s, d) = http("GET", &mps.url(&format!("/api/v1/devices/{GUID}")), None).await;
    assert_eq!(s, 200, "{d}");
    assert_eq!(d["hostname"], "legacy-host");
    assert_eq!(d["tags"], json!(["acm", "lab"]));
    assert_eq!(d["deviceInfo"]["fwVersion"], "16.1.25");
    assert_eq!(d["lastConnected"], "2024-05-06T07:08:09.123Z");
    let (_, tags) = http("GET", &mps.url("/api/v1/devices/tags"), None).await;
    let mut tags: Vec<String> = serde_json::from_value(tags).unwrap();
    tags.sort();
    assert_eq!(tags, ["acm", "lab"]);
    let (_, by_tag) = http(
        "GET",
        &mps.url("/api/v1/devices?tags=lab,zzz&method=OR"),
        None,
    )
    .await;
    assert_eq!(by_tag.as_array().map(Vec::len), Some(1));
    let (_, by_all) = http(
        "GET",
        &mps.url("/api/v1/devices?tags=lab,zzz&method=AND"),
        None,
    )
    .await;
    assert_eq!(by_all.as_array().map(Vec::len), Some(0));
    // An update through REST lands in the reference columns.
    let (s, _) = http(
        "PATCH",
        &mps.url("/api/v1/devices"),
        Some(json!({"guid": GUID, "tags": ["x"]})),
    )
    .await;
    assert_eq!(s, 200);
    mps.stop().await;
    let out = std::process::Command::new("psql")
        .args([
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            "-d",
            &pg.name,
            "-tAc",
            "SELECT tags, hostname FROM devices",
        ])
        .output()
        .unwrap();
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        "{x}|legacy-host"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_backends_store_and_filter_alike() {
    for db in [Db::Sqlite, Db::Postgres] {
        let mut mps = TestMps::start(db).await;
        for (i, tags) in [json!(["a", "b"]), json!(["b"]), json!([])]
            .iter()
            .enumerate()
        {
            let guid = format!("00000000-0000-4000-8000-00000000000{i}");
            let body = json!({"guid": guid, "hostname": format!("h{i}"), "tags": tags, "deviceInfo": {"n": i}});
            let (s, _) = http("POST", &mps.url("/api/v1/devices"), Some(body)).await;
            assert_eq!(s, 201);
        }
        let count = |q: &'static str| {
            let url = mps.url(&format!("/api/v1/devices{q}"));
            async move {
                http("GET", &url, None)
                    .await
                    .1
                    .as_array()
                    .map(Vec::len)
                    .unwrap_or(usize::MAX)
            }
        };
        assert_eq!(count("?tags=a,b&method=AND").await, 1, "{db:?}");
        assert_eq!(count("?tags=a,b").await, 2, "{db:?}");
        assert_eq!(count("?$top=2&$skip=1").await, 2, "{db:?}");
        assert_eq!(count("?hostname=h2").await, 1, "{db:?}");
        let (_, d) = http(
            "GET",
            &mps.url("/api/v1/devices/00000000-0000-4000-8000-000000000001"),
            None,
        )
        .await;
        assert_eq!(d["deviceInfo"], json!({"n": 1}), "{db:?}");
        assert_eq!(d["tags"], json!(["b"]), "{db:?}");
        // The page shape leaves the timestamps out, the detail shape has them.
        let (_, list) = http("GET", &mps.url("/api/v1/devices"), None).await;
        assert!(
            list[0].get("lastSeen").is_none() && d.get("lastSeen").is_some(),
            "{db:?}"
        );
        // Clients cannot set connection state.
        let (_, d) = http(
            "PATCH",
            &mps.url("/api/v1/devices"),
            Some(json!({"guid": "00000000-0000-4000-8000-000000000000", "connectionStatus": true, "mpsInstance": "evil"})),
        )
        .await;
        assert_eq!(
            (d["connectionStatus"].clone(), d["mpsInstance"].clone()),
            (json!(false), json!(null)),
            "{db:?}"
        );
        mps.stop().await;
    }
}
