//! SQL text for the two backends. Postgres keeps the reference schema untouched (uuid, text[],
//! timestamptz, json); SQLite stores the same values as text (tags and deviceinfo as JSON text,
//! timestamps as ISO-8601 with milliseconds). Values cross the boundary as strings in both cases,
//! so the repository code above this module does not care which backend it talks to.

use sea_orm::DbBackend;

/// The reference DDL (initMPS.sql), run only when the table is missing.
pub const POSTGRES_DDL: &str = "CREATE TABLE IF NOT EXISTS devices(
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
      PRIMARY KEY (guid,tenantid)
    )";

pub const SQLITE_DDL: &str = "CREATE TABLE IF NOT EXISTS devices(
      guid TEXT NOT NULL,
      tags TEXT,
      hostname VARCHAR(256),
      mpsinstance TEXT,
      connectionstatus BOOLEAN,
      mpsusername TEXT,
      tenantid VARCHAR(36) NOT NULL,
      friendlyname VARCHAR(256),
      dnssuffix VARCHAR(256),
      lastconnected TEXT,
      lastseen TEXT,
      lastdisconnected TEXT,
      deviceinfo TEXT,
      CONSTRAINT device_guid UNIQUE(guid),
      PRIMARY KEY (guid, tenantid)
    )";

/// Backend-specific expressions; `n` is the 1-based placeholder number.
#[derive(Clone, Copy)]
pub struct Dialect(pub DbBackend);

impl Dialect {
    fn pg(self) -> bool {
        self.0 == DbBackend::Postgres
    }

    /// The columns of the full record, aliased to the names `row_to_device` reads.
    pub fn select_full(self) -> String {
        if self.pg() {
            "guid::text AS guid, array_to_json(tags)::text AS tags, hostname, mpsinstance, connectionstatus, \
             mpsusername, tenantid, friendlyname, dnssuffix, \
             to_char(lastconnected AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') AS lastconnected, \
             to_char(lastseen AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') AS lastseen, \
             to_char(lastdisconnected AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"') AS lastdisconnected, \
             deviceinfo::text AS deviceinfo"
                .into()
        } else {
            "guid, tags, hostname, mpsinstance, connectionstatus, mpsusername, tenantid, friendlyname, dnssuffix, \
             lastconnected, lastseen, lastdisconnected, deviceinfo"
                .into()
        }
    }

    pub fn guid(self, n: usize) -> String {
        if self.pg() {
            format!("${n}::uuid")
        } else {
            format!("${n}")
        }
    }

    /// A JSON array of strings bound as text, written into the tags column.
    pub fn tags_value(self, n: usize) -> String {
        if self.pg() {
            format!(
                "CASE WHEN ${n}::text IS NULL THEN NULL ELSE ARRAY(SELECT json_array_elements_text(${n}::json)) END"
            )
        } else {
            format!("${n}")
        }
    }

    pub fn json_value(self, n: usize) -> String {
        if self.pg() {
            format!("${n}::json")
        } else {
            format!("${n}")
        }
    }

    pub fn timestamp_value(self, n: usize) -> String {
        if self.pg() {
            format!("${n}::timestamptz")
        } else {
            format!("${n}")
        }
    }

    /// Tag filter: OR = any tag shared, AND = every requested tag present.
    pub fn tags_filter(self, n: usize, all: bool) -> String {
        match (self.pg(), all) {
            (true, true) => format!("tags @> ARRAY(SELECT json_array_elements_text(${n}::json))"),
            (true, false) => format!("tags && ARRAY(SELECT json_array_elements_text(${n}::json))"),
            (false, true) => format!(
                "NOT EXISTS (SELECT 1 FROM json_each(${n}) q WHERE q.value NOT IN \
                 (SELECT t.value FROM json_each(devices.tags) t))"
            ),
            (false, false) => format!(
                "EXISTS (SELECT 1 FROM json_each(devices.tags) t WHERE t.value IN \
                 (SELECT q.value FROM json_each(${n}) q))"
            ),
        }
    }

    pub fn distinct_tags(self) -> &'static str {
        if self.pg() {
            "SELECT DISTINCT unnest(tags) AS tag FROM devices WHERE tenantid = $1"
        } else {
            "SELECT DISTINCT t.value AS tag FROM devices, json_each(devices.tags) t WHERE devices.tenantid = $1"
        }
    }

    /// `guid` in a JSON array of guids bound as text.
    pub fn guid_in_json(self, n: usize) -> String {
        if self.pg() {
            format!("guid = ANY(ARRAY(SELECT json_array_elements_text(${n}::json))::uuid[])")
        } else {
            format!("guid IN (SELECT value FROM json_each(${n}))")
        }
    }
}
