//! Activations in flight, kept in the RPS database while they run (table `openamt_activations_in_flight`,
//! not a reference table), so that one cut short by the death of RPS (kill -9, a crash, a lost machine)
//! still ends with a `failed` event: the instance that started it publishes that event at its next
//! start, with a reason a user can act on, and forgets the row.
//!
//! Rows are keyed by the instance name (`instance_name`, unique per replica) and the device: replicas
//! sharing a database only ever close their own activations. A replica that never starts again leaves
//! its rows behind.

use sea_orm::{ConnectionTrait, DbErr, Statement, Value};

use super::events::ActivationFacts;
use crate::db::Db;

/// The `reason` of the `failed` event of an activation RPS did not live to finish.
pub const INTERRUPTED: &str = "RPS stopped during the activation (it was restarted before the activation finished); \
     the device may be partly configured: run the activation again (a device already activated needs its AMT password)";

const CREATE: &str = "CREATE TABLE IF NOT EXISTS openamt_activations_in_flight (
    instance TEXT NOT NULL,
    guid TEXT NOT NULL,
    profile TEXT NOT NULL,
    tenant_id TEXT NOT NULL,
    hostname TEXT NOT NULL,
    dns_suffix TEXT NOT NULL,
    started_at TEXT NOT NULL,
    PRIMARY KEY (instance, guid)
)";

/// An activation a previous run of this instance started and never finished.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Interrupted {
    pub guid: String,
    pub profile: String,
    pub tenant_id: String,
    pub hostname: String,
    pub dns_suffix: String,
    /// RFC 3339, as recorded.
    pub started_at: String,
}

/// The in-flight activations of one RPS instance.
#[derive(Clone, Debug)]
pub struct InFlight {
    db: Db,
    instance: String,
}

impl InFlight {
    /// Uses the table (creating it when absent) for the activations of `instance`.
    pub async fn open(db: Db, instance: &str) -> Result<InFlight, DbErr> {
        db.conn().execute_unprepared(CREATE).await?;
        Ok(InFlight {
            db,
            instance: instance.to_owned(),
        })
    }

    fn statement(&self, sql: &str, values: Vec<Value>) -> Statement {
        Statement::from_sql_and_values(self.db.backend(), sql, values)
    }

    /// An activation of `facts.guid` starts (a new attempt replaces an older row of the same device).
    pub async fn started(&self, facts: &ActivationFacts) -> Result<(), DbErr> {
        let Some(guid) = facts.guid else {
            return Ok(());
        };
        let now = time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        let sql = "INSERT INTO openamt_activations_in_flight \
            (instance, guid, profile, tenant_id, hostname, dns_suffix, started_at) \
            VALUES ($1, $2, $3, $4, $5, $6, $7) \
            ON CONFLICT (instance, guid) DO UPDATE SET profile = excluded.profile, \
            tenant_id = excluded.tenant_id, hostname = excluded.hostname, \
            dns_suffix = excluded.dns_suffix, started_at = excluded.started_at";
        let values = vec![
            self.instance.clone().into(),
            guid.to_string().into(),
            facts.profile.clone().into(),
            facts.tenant_id.clone().into(),
            facts.hostname.clone().into(),
            facts.dns_suffix.clone().into(),
            now.into(),
        ];
        self.db
            .conn()
            .execute_raw(self.statement(sql, values))
            .await?;
        Ok(())
    }

    /// The activation of `guid` ended (succeeded or failed, its event published).
    pub async fn ended(&self, guid: &str) -> Result<(), DbErr> {
        let sql = "DELETE FROM openamt_activations_in_flight WHERE instance = $1 AND guid = $2";
        let values = vec![self.instance.clone().into(), guid.into()];
        self.db
            .conn()
            .execute_raw(self.statement(sql, values))
            .await?;
        Ok(())
    }

    /// What an earlier run of this instance left open, oldest first.
    pub async fn interrupted(&self) -> Result<Vec<Interrupted>, DbErr> {
        let sql = "SELECT guid, profile, tenant_id, hostname, dns_suffix, started_at \
            FROM openamt_activations_in_flight WHERE instance = $1 ORDER BY started_at, guid";
        let rows = self
            .db
            .conn()
            .query_all_raw(self.statement(sql, vec![self.instance.clone().into()]))
            .await?;
        rows.iter()
            .map(|row| {
                Ok(Interrupted {
                    guid: row.try_get("", "guid")?,
                    profile: row.try_get("", "profile")?,
                    tenant_id: row.try_get("", "tenant_id")?,
                    hostname: row.try_get("", "hostname")?,
                    dns_suffix: row.try_get("", "dns_suffix")?,
                    started_at: row.try_get("", "started_at")?,
                })
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn facts(guid: &str, profile: &str) -> ActivationFacts {
        ActivationFacts {
            guid: Some(guid.parse().unwrap()),
            profile: profile.into(),
            tenant_id: "t1".into(),
            hostname: "host-1".into(),
            dns_suffix: "example.com".into(),
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn keeps_each_instances_open_activations_until_they_end() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}?mode=rwc", dir.path().join("rps.db").display());
        let db = Db::connect(&url).await.unwrap();
        let a = InFlight::open(db.clone(), "rps-a").await.unwrap();
        let b = InFlight::open(db.clone(), "rps-b").await.unwrap();
        let g1 = "4c4c4544-004b-4210-8033-b6c04f504633";
        let g2 = "d162b380-c330-11e3-82a5-40a8f0a2a536";
        a.started(&facts(g1, "ccm")).await.unwrap();
        a.started(&facts(g1, "acm")).await.unwrap(); // a retry replaces the row
        a.started(&facts(g2, "ccm")).await.unwrap();
        b.started(&facts(g2, "other")).await.unwrap();
        a.ended(g2).await.unwrap();

        // The next run of rps-a (a new connection, as after a restart) finds what it left open.
        let again = InFlight::open(Db::connect(&url).await.unwrap(), "rps-a")
            .await
            .unwrap();
        let open = again.interrupted().await.unwrap();
        assert_eq!(open.len(), 1, "{open:?}");
        assert_eq!(open[0].guid, g1);
        assert_eq!(open[0].profile, "acm");
        assert_eq!(open[0].tenant_id, "t1");
        assert_eq!(open[0].hostname, "host-1");
        assert_eq!(b.interrupted().await.unwrap()[0].profile, "other");
        again.ended(g1).await.unwrap();
        assert!(again.interrupted().await.unwrap().is_empty());
    }
}
