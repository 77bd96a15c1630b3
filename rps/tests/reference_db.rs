//! "An existing reference database works as is": RPS on a Postgres database made the way the reference's
//! `init.sql` makes it, and the tables RPS creates itself are the same as the ones that script makes.
//!
//! Each check runs twice. The `reference_suite_…` tests use the reference's own `init.sql` (found through
//! `reference_suite`, skipped in one line when absent). The others use [`REFERENCE_SCHEMA`], our own statement
//! of that schema (tables, columns, types, keys, constraint and index names, as rps.md's storage section and
//! the reference script define them), written here rather than taken from RPS's code so that the comparison
//! is not RPS against itself; `reference_suite_our_reference_schema_is_the_init_sql_schema` keeps the two in
//! step wherever the reference script is at hand.

mod support;

use sea_orm::{ConnectionTrait, Database, DatabaseConnection, Statement};
use serde_json::{Value, json};
use support::{Running, TestDb, request};

/// The database a reference installation has, as SQL of our own. Constraint names are spelled out: they are
/// the ones Postgres gives the reference's unnamed keys, and the reference's named unique constraints.
const REFERENCE_SCHEMA: &str = r#"
CREATE EXTENSION IF NOT EXISTS citext;

CREATE TABLE ciraconfigs (
    cira_config_name      citext        NOT NULL,
    mps_server_address    varchar(256),
    mps_port              integer,
    user_name             varchar(40),
    password              varchar(63),
    common_name           varchar(256),
    server_address_format integer,
    auth_method           integer,
    mps_root_certificate  text,
    proxydetails          text,
    tenant_id             varchar(36)   NOT NULL,
    CONSTRAINT ciraconfigs_pkey PRIMARY KEY (cira_config_name, tenant_id)
);

CREATE TABLE ieee8021xconfigs (
    profile_name     citext        NOT NULL,
    auth_protocol    integer,
    servername       varchar(255),
    domain           varchar(255),
    username         varchar(255),
    password         varchar(255),
    roaming_identity varchar(255),
    active_in_s0     boolean,
    pxe_timeout      integer,
    wired_interface  boolean       NOT NULL,
    tenant_id        varchar(36)   NOT NULL,
    CONSTRAINT ieee8021xconfigs_pkey PRIMARY KEY (profile_name, tenant_id)
);

CREATE TABLE wirelessconfigs (
    wireless_profile_name  citext       NOT NULL,
    authentication_method  integer,
    encryption_method      integer,
    ssid                   varchar(32),
    psk_value              integer,
    psk_passphrase         varchar(63),
    link_policy            integer[],
    creation_date          timestamp without time zone,
    created_by             varchar(40),
    tenant_id              varchar(36)  NOT NULL,
    ieee8021x_profile_name citext,
    CONSTRAINT wirelessconfigs_pkey PRIMARY KEY (wireless_profile_name, tenant_id),
    CONSTRAINT wirelessconfigs_ieee8021x_profile_name_tenant_id_fkey
        FOREIGN KEY (ieee8021x_profile_name, tenant_id) REFERENCES ieee8021xconfigs (profile_name, tenant_id)
);

CREATE TABLE profiles (
    profile_name                  citext       NOT NULL,
    activation                    varchar(20)  NOT NULL,
    amt_password                  varchar(40),
    generate_random_password      boolean      NOT NULL,
    cira_config_name              citext,
    creation_date                 timestamp without time zone,
    created_by                    varchar(40),
    mebx_password                 varchar(40),
    generate_random_mebx_password boolean      NOT NULL,
    tags                          text[],
    dhcp_enabled                  boolean,
    ip_sync_enabled               boolean,
    local_wifi_sync_enabled       boolean,
    tenant_id                     varchar(36)  NOT NULL,
    tls_mode                      integer,
    user_consent                  varchar(7),
    ider_enabled                  boolean,
    kvm_enabled                   boolean,
    sol_enabled                   boolean,
    tls_signing_authority         varchar(40),
    ieee8021x_profile_name        citext,
    uefi_wifi_sync_enabled        boolean,
    CONSTRAINT profiles_pkey PRIMARY KEY (profile_name, tenant_id),
    CONSTRAINT profiles_cira_config_name_tenant_id_fkey
        FOREIGN KEY (cira_config_name, tenant_id) REFERENCES ciraconfigs (cira_config_name, tenant_id),
    CONSTRAINT profiles_ieee8021x_profile_name_tenant_id_fkey
        FOREIGN KEY (ieee8021x_profile_name, tenant_id) REFERENCES ieee8021xconfigs (profile_name, tenant_id)
);

CREATE TABLE profiles_wirelessconfigs (
    wireless_profile_name citext       NOT NULL,
    profile_name          citext       NOT NULL,
    priority              integer      NOT NULL,
    creation_date         timestamp without time zone,
    created_by            varchar(40),
    tenant_id             varchar(36)  NOT NULL,
    CONSTRAINT profiles_wirelessconfigs_pkey
        PRIMARY KEY (wireless_profile_name, profile_name, priority, tenant_id),
    CONSTRAINT profiles_wirelessconfigs_wireless_profile_name_tenant_id_fkey
        FOREIGN KEY (wireless_profile_name, tenant_id) REFERENCES wirelessconfigs (wireless_profile_name, tenant_id),
    CONSTRAINT profiles_wirelessconfigs_profile_name_tenant_id_fkey
        FOREIGN KEY (profile_name, tenant_id) REFERENCES profiles (profile_name, tenant_id)
);

CREATE TABLE domains (
    name                             citext       NOT NULL,
    domain_suffix                    citext       NOT NULL,
    provisioning_cert                text,
    provisioning_cert_storage_format varchar(40),
    provisioning_cert_key            text,
    creation_date                    timestamp without time zone,
    expiration_date                  timestamp without time zone,
    created_by                       varchar(40),
    tenant_id                        varchar(36)  NOT NULL,
    CONSTRAINT domains_pkey PRIMARY KEY (name, domain_suffix, tenant_id),
    CONSTRAINT domainname UNIQUE (name, tenant_id),
    CONSTRAINT domainsuffix UNIQUE (domain_suffix, tenant_id)
);

CREATE TABLE proxyconfigs (
    proxy_config_name  citext       NOT NULL,
    address            citext       NOT NULL,
    info_format        integer      NOT NULL,
    port               integer      NOT NULL,
    network_dns_suffix varchar(192),
    creation_date      timestamp without time zone,
    tenant_id          varchar(36)  NOT NULL,
    CONSTRAINT proxyconfigs_pkey PRIMARY KEY (proxy_config_name, tenant_id),
    CONSTRAINT address_port_tenant_id UNIQUE (address, port, tenant_id)
);

CREATE TABLE profiles_proxyconfigs (
    proxy_config_name citext       NOT NULL,
    profile_name      citext       NOT NULL,
    priority          integer      NOT NULL,
    creation_date     timestamp without time zone,
    created_by        varchar(40),
    tenant_id         varchar(36)  NOT NULL,
    CONSTRAINT profiles_proxyconfigs_pkey PRIMARY KEY (proxy_config_name, profile_name, priority, tenant_id),
    CONSTRAINT profiles_proxyconfigs_proxy_config_name_tenant_id_fkey
        FOREIGN KEY (proxy_config_name, tenant_id) REFERENCES proxyconfigs (proxy_config_name, tenant_id),
    CONSTRAINT profiles_proxyconfigs_profile_name_tenant_id_fkey
        FOREIGN KEY (profile_name, tenant_id) REFERENCES profiles (profile_name, tenant_id)
);
"#;

/// The reference's own script without its cluster-wide statements (CREATE USER, CREATE DATABASE via psql's
/// \gexec), which would change the machine's server rather than the test database.
fn reference_init_sql(what: &str) -> Option<String> {
    let path = reference_suite::artifact("openamt-rps/init.sql", what)?;
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    Some(
        text.lines()
            .filter(|l| !l.trim_start().starts_with("CREATE USER") && !l.contains("\\gexec"))
            .collect::<Vec<_>>()
            .join("\n"),
    )
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
const CONSTRAINTS: &str = "SELECT tc.table_name::text, tc.constraint_name::text, tc.constraint_type::text, \
     string_agg(kcu.column_name::text, ',' ORDER BY kcu.ordinal_position) \
     FROM information_schema.table_constraints tc JOIN information_schema.key_column_usage kcu \
     ON tc.constraint_name = kcu.constraint_name AND tc.table_name = kcu.table_name \
     WHERE tc.table_schema = 'public' GROUP BY tc.table_name, tc.constraint_name, tc.constraint_type ORDER BY 1, 2, 3";
/// What a foreign key points at.
const REFERENCES: &str = "SELECT conrelid::regclass::text, conname::text, pg_get_constraintdef(oid) FROM pg_constraint \
     WHERE contype = 'f' AND connamespace = 'public'::regnamespace ORDER BY 1, 2";
const INDEXES: &str = "SELECT tablename::text, indexname::text, indexdef FROM pg_indexes \
     WHERE schemaname = 'public' ORDER BY 1, 2";
const QUERIES: [&str; 4] = [COLUMNS, CONSTRAINTS, REFERENCES, INDEXES];

/// The reference's tables (the ones RPS keeps too; RPS's own extra tables, such as its event outbox, are not
/// part of the comparison).
const REFERENCE_TABLES: [&str; 8] = [
    "ciraconfigs",
    "domains",
    "ieee8021xconfigs",
    "profiles",
    "profiles_proxyconfigs",
    "profiles_wirelessconfigs",
    "proxyconfigs",
    "wirelessconfigs",
];

/// The rows of `sql` about the reference's tables (the first column names the table).
async fn schema_rows(conn: &DatabaseConnection, sql: &str) -> Vec<Vec<String>> {
    rows(conn, sql)
        .await
        .into_iter()
        .filter(|row| REFERENCE_TABLES.contains(&row[0].as_str()))
        .collect()
}

/// A fresh database with `schema` applied, as the reference's installer leaves it.
async fn database_made_by(schema: &str) -> TestDb {
    let db = TestDb::postgres().await;
    let conn = Database::connect(db.url()).await.unwrap();
    conn.execute_unprepared(schema)
        .await
        .expect("the schema applies to an empty database");
    conn.close().await.ok();
    db
}

/// Every schema query answers the same on both databases.
async fn assert_same_schema(left: &TestDb, right: &TestDb, what: &str) {
    let (l, r) = (
        Database::connect(left.url()).await.unwrap(),
        Database::connect(right.url()).await.unwrap(),
    );
    for sql in QUERIES {
        assert_eq!(
            schema_rows(&l, sql).await,
            schema_rows(&r, sql).await,
            "{what}: {sql}"
        );
    }
    assert_eq!(
        schema_rows(&l, COLUMNS).await.len(),
        83,
        "every reference column"
    );
    l.close().await.ok();
    r.close().await.ok();
}

/// The tables RPS creates on an empty database are the ones `schema` makes.
async fn rps_creates_the_tables_of(schema: &str) {
    let by_schema = database_made_by(schema).await;
    let by_rps = TestDb::postgres().await;
    let _ = rps::Db::connect(by_rps.url())
        .await
        .expect("RPS creates its tables");
    assert_same_schema(&by_rps, &by_schema, "RPS's tables against the reference's").await;
    by_schema.drop_database().await;
    by_rps.drop_database().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tables_rps_creates_match_the_reference_schema() {
    rps_creates_the_tables_of(REFERENCE_SCHEMA).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reference_suite_tables_rps_creates_match_the_reference_init_sql() {
    let Some(init_sql) = reference_init_sql("RPS's tables against the reference's init.sql") else {
        return;
    };
    rps_creates_the_tables_of(&init_sql).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reference_suite_our_reference_schema_is_the_init_sql_schema() {
    let Some(init_sql) =
        reference_init_sql("our copy of the reference schema against its init.sql")
    else {
        return;
    };
    let (ours, theirs) = (
        database_made_by(REFERENCE_SCHEMA).await,
        database_made_by(&init_sql).await,
    );
    assert_same_schema(&ours, &theirs, "REFERENCE_SCHEMA against init.sql").await;
    ours.drop_database().await;
    theirs.drop_database().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rps_runs_on_a_database_made_by_the_reference_schema() {
    rps_runs_on_a_database_made_by(REFERENCE_SCHEMA).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reference_suite_rps_runs_on_a_database_made_by_the_reference_init_sql() {
    let Some(init_sql) = reference_init_sql("RPS on a database made by the reference's init.sql")
    else {
        return;
    };
    rps_runs_on_a_database_made_by(&init_sql).await;
}

/// RPS reads rows the reference wrote, and what it writes is what the reference would read back.
async fn rps_runs_on_a_database_made_by(schema: &str) {
    let db = database_made_by(schema).await;
    let conn = Database::connect(db.url()).await.unwrap();
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
