//! RPS's database for a benchmark run: SQLite in the work directory, or a database of the
//! benchmark's own on a Postgres server, dropped at the end.

use anyhow::Context;
use broker::bench::ScratchDatabase;

pub(crate) struct BenchDatabase {
    pub url: String,
    scratch: Option<ScratchDatabase>,
}

impl BenchDatabase {
    /// `postgres`: the URL of a Postgres server (any database on it) to make the database on.
    pub async fn create(
        postgres: Option<&str>,
        dir: &std::path::Path,
    ) -> anyhow::Result<BenchDatabase> {
        let Some(server) = postgres else {
            return Ok(BenchDatabase {
                url: format!("sqlite://{}?mode=rwc", dir.join("rps.db").display()),
                scratch: None,
            });
        };
        let scratch = ScratchDatabase::create(server, "openamt_rps_bench")
            .await
            .context("making a scratch database on the --postgres server")?;
        Ok(BenchDatabase {
            url: scratch.url.clone(),
            scratch: Some(scratch),
        })
    }

    /// "SQLite" or "Postgres", for the report.
    pub fn kind(&self) -> &'static str {
        if self.scratch.is_some() {
            "Postgres"
        } else {
            "SQLite"
        }
    }

    /// Drops a scratch database (SQLite's file goes with the work directory).
    pub async fn drop(self) -> anyhow::Result<()> {
        if let Some(scratch) = self.scratch {
            scratch
                .drop()
                .await
                .context("dropping the scratch database")?;
        }
        Ok(())
    }
}
