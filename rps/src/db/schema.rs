//! The tables, created when absent.
//!
//! Postgres gets the reference `init.sql` table DDL statement for statement (citext names, native arrays,
//! the same keys and constraint names), without its CREATE USER / CREATE DATABASE lines: a database made by the
//! reference script is used as it is. SQLite gets the equivalent: NOCASE names for citext, JSON text for arrays,
//! and an `xmin` column bumped by a trigger on every update, standing in for the Postgres system column the
//! reference uses as the optimistic-concurrency `version`.
//!
//! Both also get one table of our own (Postgres: `openamt.config_generation`, in a schema of its own so
//! the reference's `public` tables stay exactly as its script makes them; SQLite:
//! `openamt_config_generation`), whose single counter triggers on every configuration table move with
//! each write: the REST read cache checks it (see `rest::cache`).

pub(crate) const POSTGRES: &[&str] = &[
    "CREATE EXTENSION IF NOT EXISTS citext",
    "CREATE TABLE IF NOT EXISTS ciraconfigs(
  cira_config_name citext NOT NULL,
  mps_server_address varchar(256),
  mps_port integer,
  user_name varchar(40),
  password varchar(63),
  common_name varchar(256),
  server_address_format integer,
  auth_method integer,
  mps_root_certificate text,
  proxydetails text,
  tenant_id varchar(36) NOT NULL,
  PRIMARY KEY (cira_config_name, tenant_id)
)",
    "CREATE TABLE IF NOT EXISTS ieee8021xconfigs(
  profile_name citext,
  auth_protocol integer,
  servername VARCHAR(255),
  domain VARCHAR(255),
  username VARCHAR(255),
  password VARCHAR(255),
  roaming_identity VARCHAR(255),
  active_in_s0 BOOLEAN,
  pxe_timeout integer,
  wired_interface BOOLEAN NOT NULL,
  tenant_id varchar(36) NOT NULL,
  PRIMARY KEY (profile_name, tenant_id)
)",
    "CREATE TABLE IF NOT EXISTS wirelessconfigs(
  wireless_profile_name citext NOT NULL,
  authentication_method integer,
  encryption_method integer,
  ssid varchar(32),
  psk_value integer,
  psk_passphrase varchar(63),
  link_policy int[],
  creation_date timestamp,
  created_by varchar(40),
  tenant_id varchar(36) NOT NULL,
  ieee8021x_profile_name citext,
  FOREIGN KEY (ieee8021x_profile_name,tenant_id) REFERENCES ieee8021xconfigs(profile_name,tenant_id),
  PRIMARY KEY (wireless_profile_name, tenant_id)
)",
    "CREATE TABLE IF NOT EXISTS profiles(
  profile_name citext NOT NULL,
  activation varchar(20) NOT NULL,
  amt_password varchar(40),
  generate_random_password BOOLEAN NOT NULL,
  cira_config_name citext,
  FOREIGN KEY (cira_config_name,tenant_id) REFERENCES ciraconfigs(cira_config_name,tenant_id),
  creation_date timestamp,
  created_by varchar(40),
  mebx_password varchar(40),
  generate_random_mebx_password BOOLEAN NOT NULL,
  tags text[],
  dhcp_enabled BOOLEAN,
  ip_sync_enabled BOOLEAN NULL,
  local_wifi_sync_enabled BOOLEAN NULL,
  tenant_id varchar(36) NOT NULL,
  tls_mode integer NULL,
  user_consent varchar(7) NULL,
  ider_enabled BOOLEAN NULL,
  kvm_enabled BOOLEAN NULL,
  sol_enabled BOOLEAN NULL,
  tls_signing_authority varchar(40) NULL,
  ieee8021x_profile_name citext,
  uefi_wifi_sync_enabled BOOLEAN NULL,
  FOREIGN KEY (ieee8021x_profile_name,tenant_id) REFERENCES ieee8021xconfigs(profile_name,tenant_id),
  PRIMARY KEY (profile_name, tenant_id)
)",
    "CREATE TABLE IF NOT EXISTS profiles_wirelessconfigs(
  wireless_profile_name citext,
  profile_name citext,
  FOREIGN KEY (wireless_profile_name,tenant_id) REFERENCES wirelessconfigs(wireless_profile_name,tenant_id),
  FOREIGN KEY (profile_name,tenant_id) REFERENCES profiles(profile_name,tenant_id),
  priority integer,
  creation_date timestamp,
  created_by varchar(40),
  tenant_id varchar(36) NOT NULL,
  PRIMARY KEY (wireless_profile_name, profile_name, priority, tenant_id)
)",
    "CREATE TABLE IF NOT EXISTS domains(
  name citext NOT NULL,
  domain_suffix citext NOT NULL,
  provisioning_cert text,
  provisioning_cert_storage_format varchar(40),
  provisioning_cert_key text,
  creation_date timestamp,
  expiration_date timestamp,
  created_by varchar(40),
  tenant_id varchar(36) NOT NULL,
  CONSTRAINT domainname UNIQUE (name, tenant_id),
  CONSTRAINT domainsuffix UNIQUE (domain_suffix, tenant_id),
  PRIMARY KEY (name, domain_suffix, tenant_id)
)",
    "CREATE TABLE IF NOT EXISTS proxyconfigs(
  proxy_config_name citext,
  address citext NOT NULL,
  info_format integer NOT NULL,
  port integer NOT NULL,
  network_dns_suffix varchar(192),
  creation_date timestamp,
  tenant_id varchar(36),
  CONSTRAINT address_port_tenant_id UNIQUE (address, port, tenant_id),
  PRIMARY KEY (proxy_config_name, tenant_id)
)",
    "CREATE TABLE IF NOT EXISTS profiles_proxyconfigs(
  proxy_config_name citext,
  profile_name citext,
  FOREIGN KEY (proxy_config_name,tenant_id) REFERENCES proxyconfigs(proxy_config_name,tenant_id),
  FOREIGN KEY (profile_name,tenant_id) REFERENCES profiles(profile_name,tenant_id),
  priority integer,
  creation_date timestamp,
  created_by varchar(40),
  tenant_id varchar(36),
  PRIMARY KEY (proxy_config_name, profile_name, priority, tenant_id)
)",
    // The configuration generation (see `Db::config_generation`): bumped in the same transaction as
    // every write to a configuration table, whoever writes (another replica, the reference RPS, SQL
    // by hand). An advisory lock keeps replicas starting together from racing on the DDL.
    "DO $$
DECLARE t text;
BEGIN
  PERFORM pg_advisory_xact_lock(7402713);
  CREATE SCHEMA IF NOT EXISTS openamt;
  CREATE TABLE IF NOT EXISTS openamt.config_generation(
    id integer PRIMARY KEY CHECK (id = 1),
    generation bigint NOT NULL
  );
  INSERT INTO openamt.config_generation VALUES (1, 0) ON CONFLICT (id) DO NOTHING;
  CREATE OR REPLACE FUNCTION openamt.bump_config_generation() RETURNS trigger LANGUAGE plpgsql AS $f$
  BEGIN
    UPDATE openamt.config_generation SET generation = generation + 1 WHERE id = 1;
    RETURN NULL;
  END $f$;
  FOR t IN SELECT unnest(ARRAY['ciraconfigs', 'ieee8021xconfigs', 'wirelessconfigs', 'profiles', 'profiles_wirelessconfigs', 'domains', 'proxyconfigs', 'profiles_proxyconfigs']) LOOP
    IF NOT EXISTS (SELECT 1 FROM pg_trigger WHERE tgname = 'openamt_config_changed' AND tgrelid = t::regclass) THEN
      EXECUTE format('CREATE TRIGGER openamt_config_changed AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON %I '
                     'FOR EACH STATEMENT EXECUTE FUNCTION openamt.bump_config_generation()', t);
    END IF;
  END LOOP;
END $$",
];

/// Tables whose rows carry a `version`; each gets an `xmin` column and a bump trigger on SQLite.
/// The tables of the REST resources: a write to any of them moves the configuration generation.
pub(crate) const CONFIG_TABLES: &[&str] = &[
    "ciraconfigs",
    "ieee8021xconfigs",
    "wirelessconfigs",
    "profiles",
    "profiles_wirelessconfigs",
    "domains",
    "proxyconfigs",
    "profiles_proxyconfigs",
];

const VERSIONED: &[&str] = &[
    "ciraconfigs",
    "ieee8021xconfigs",
    "wirelessconfigs",
    "profiles",
    "domains",
];

pub(crate) fn sqlite() -> Vec<String> {
    let mut statements: Vec<String> = [
        "CREATE TABLE IF NOT EXISTS ciraconfigs(
  cira_config_name TEXT NOT NULL COLLATE NOCASE,
  mps_server_address VARCHAR(256),
  mps_port INTEGER,
  user_name VARCHAR(40),
  password VARCHAR(63),
  common_name VARCHAR(256),
  server_address_format INTEGER,
  auth_method INTEGER,
  mps_root_certificate TEXT,
  proxydetails TEXT,
  tenant_id VARCHAR(36) NOT NULL,
  xmin INTEGER NOT NULL DEFAULT 1,
  PRIMARY KEY (cira_config_name, tenant_id)
)",
        "CREATE TABLE IF NOT EXISTS ieee8021xconfigs(
  profile_name TEXT COLLATE NOCASE,
  auth_protocol INTEGER,
  servername VARCHAR(255),
  domain VARCHAR(255),
  username VARCHAR(255),
  password VARCHAR(255),
  roaming_identity VARCHAR(255),
  active_in_s0 BOOLEAN,
  pxe_timeout INTEGER,
  wired_interface BOOLEAN NOT NULL,
  tenant_id VARCHAR(36) NOT NULL,
  xmin INTEGER NOT NULL DEFAULT 1,
  PRIMARY KEY (profile_name, tenant_id)
)",
        "CREATE TABLE IF NOT EXISTS wirelessconfigs(
  wireless_profile_name TEXT NOT NULL COLLATE NOCASE,
  authentication_method INTEGER,
  encryption_method INTEGER,
  ssid VARCHAR(32),
  psk_value INTEGER,
  psk_passphrase VARCHAR(63),
  link_policy TEXT,
  creation_date TIMESTAMP,
  created_by VARCHAR(40),
  tenant_id VARCHAR(36) NOT NULL,
  ieee8021x_profile_name TEXT COLLATE NOCASE,
  xmin INTEGER NOT NULL DEFAULT 1,
  FOREIGN KEY (ieee8021x_profile_name, tenant_id) REFERENCES ieee8021xconfigs(profile_name, tenant_id),
  PRIMARY KEY (wireless_profile_name, tenant_id)
)",
        "CREATE TABLE IF NOT EXISTS profiles(
  profile_name TEXT NOT NULL COLLATE NOCASE,
  activation VARCHAR(20) NOT NULL,
  amt_password VARCHAR(40),
  generate_random_password BOOLEAN NOT NULL,
  cira_config_name TEXT COLLATE NOCASE,
  creation_date TIMESTAMP,
  created_by VARCHAR(40),
  mebx_password VARCHAR(40),
  generate_random_mebx_password BOOLEAN NOT NULL,
  tags TEXT,
  dhcp_enabled BOOLEAN,
  ip_sync_enabled BOOLEAN NULL,
  local_wifi_sync_enabled BOOLEAN NULL,
  tenant_id VARCHAR(36) NOT NULL,
  tls_mode INTEGER NULL,
  user_consent VARCHAR(7) NULL,
  ider_enabled BOOLEAN NULL,
  kvm_enabled BOOLEAN NULL,
  sol_enabled BOOLEAN NULL,
  tls_signing_authority VARCHAR(40) NULL,
  ieee8021x_profile_name TEXT COLLATE NOCASE,
  uefi_wifi_sync_enabled BOOLEAN NULL,
  xmin INTEGER NOT NULL DEFAULT 1,
  FOREIGN KEY (cira_config_name, tenant_id) REFERENCES ciraconfigs(cira_config_name, tenant_id),
  FOREIGN KEY (ieee8021x_profile_name, tenant_id) REFERENCES ieee8021xconfigs(profile_name, tenant_id),
  PRIMARY KEY (profile_name, tenant_id)
)",
        "CREATE TABLE IF NOT EXISTS profiles_wirelessconfigs(
  wireless_profile_name TEXT COLLATE NOCASE,
  profile_name TEXT COLLATE NOCASE,
  priority INTEGER,
  creation_date TIMESTAMP,
  created_by VARCHAR(40),
  tenant_id VARCHAR(36) NOT NULL,
  FOREIGN KEY (wireless_profile_name, tenant_id) REFERENCES wirelessconfigs(wireless_profile_name, tenant_id),
  FOREIGN KEY (profile_name, tenant_id) REFERENCES profiles(profile_name, tenant_id),
  PRIMARY KEY (wireless_profile_name, profile_name, priority, tenant_id)
)",
        "CREATE TABLE IF NOT EXISTS domains(
  name TEXT NOT NULL COLLATE NOCASE,
  domain_suffix TEXT NOT NULL COLLATE NOCASE,
  provisioning_cert TEXT,
  provisioning_cert_storage_format VARCHAR(40),
  provisioning_cert_key TEXT,
  creation_date TIMESTAMP,
  expiration_date TIMESTAMP,
  created_by VARCHAR(40),
  tenant_id VARCHAR(36) NOT NULL,
  xmin INTEGER NOT NULL DEFAULT 1,
  CONSTRAINT domainname UNIQUE (name, tenant_id),
  CONSTRAINT domainsuffix UNIQUE (domain_suffix, tenant_id),
  PRIMARY KEY (name, domain_suffix, tenant_id)
)",
        "CREATE TABLE IF NOT EXISTS proxyconfigs(
  proxy_config_name TEXT COLLATE NOCASE,
  address TEXT NOT NULL COLLATE NOCASE,
  info_format INTEGER NOT NULL,
  port INTEGER NOT NULL,
  network_dns_suffix VARCHAR(192),
  creation_date TIMESTAMP,
  tenant_id VARCHAR(36),
  CONSTRAINT address_port_tenant_id UNIQUE (address, port, tenant_id),
  PRIMARY KEY (proxy_config_name, tenant_id)
)",
        "CREATE TABLE IF NOT EXISTS profiles_proxyconfigs(
  proxy_config_name TEXT COLLATE NOCASE,
  profile_name TEXT COLLATE NOCASE,
  priority INTEGER,
  creation_date TIMESTAMP,
  created_by VARCHAR(40),
  tenant_id VARCHAR(36),
  FOREIGN KEY (proxy_config_name, tenant_id) REFERENCES proxyconfigs(proxy_config_name, tenant_id),
  FOREIGN KEY (profile_name, tenant_id) REFERENCES profiles(profile_name, tenant_id),
  PRIMARY KEY (proxy_config_name, profile_name, priority, tenant_id)
)",
    ]
    .iter()
    .map(|s| (*s).to_owned())
    .collect();
    // Recursive triggers are off by default, so the trigger's own UPDATE does not fire it again.
    for table in VERSIONED {
        statements.push(format!(
            "CREATE TRIGGER IF NOT EXISTS {table}_version AFTER UPDATE ON {table} FOR EACH ROW \
             BEGIN UPDATE {table} SET xmin = OLD.xmin + 1 WHERE rowid = NEW.rowid; END"
        ));
    }
    statements.push(
        "CREATE TABLE IF NOT EXISTS openamt_config_generation(
  id INTEGER PRIMARY KEY CHECK (id = 1),
  generation INTEGER NOT NULL
)"
        .into(),
    );
    statements.push("INSERT OR IGNORE INTO openamt_config_generation VALUES (1, 0)".into());
    for table in CONFIG_TABLES {
        for (name, event) in [
            ("insert", "INSERT"),
            ("update", "UPDATE"),
            ("delete", "DELETE"),
        ] {
            statements.push(format!(
                "CREATE TRIGGER IF NOT EXISTS {table}_config_{name} AFTER {event} ON {table} FOR EACH ROW \
                 BEGIN UPDATE openamt_config_generation SET generation = generation + 1 WHERE id = 1; END"
            ));
        }
    }
    statements
}
