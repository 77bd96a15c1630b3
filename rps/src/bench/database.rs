//! RPS's database for a benchmark run: SQLite in the work directory, or a database of the
//! benchmark's own on a Postgres server, dropped at the end.

use anyhow::{Context, bail};
use sea_orm::ConnectionTrait;

pub(crate) struct BenchDatabase {
    pub url: String,
    scratch: Option<(String, String)>,
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
        let name = format!(
            "openamt_rps_bench_{}",
            hex::encode(rand::random::<[u8; 6]>())
        );
        let Some(url) = with_database(server, &name) else {
            bail!("--postgres is not a postgres:// URL");
        };
        let admin = sea_orm::Database::connect(server)
            .await
            .context("connecting to the Postgres server")?;
        admin
            .execute_unprepared(&format!("CREATE DATABASE {name}"))
            .await?;
        admin.close().await?;
        Ok(BenchDatabase {
            url,
            scratch: Some((server.to_owned(), name)),
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
        if let Some((server, name)) = self.scratch {
            let admin = sea_orm::Database::connect(&server).await?;
            admin
                .execute_unprepared(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .await?;
            admin.close().await?;
        }
        Ok(())
    }
}

/// The URL of database `name` on the server of a `postgres://` URL (its query kept).
fn with_database(url: &str, name: &str) -> Option<String> {
    let rest = url
        .strip_prefix("postgres://")
        .or_else(|| url.strip_prefix("postgresql://"))?;
    let scheme = &url[..url.len() - rest.len()];
    let (path_and_more, query) = match rest.split_once('?') {
        Some((p, q)) => (p, format!("?{q}")),
        None => (rest, String::new()),
    };
    let server = path_and_more
        .split_once('/')
        .map_or(path_and_more, |(s, _)| s);
    (!server.is_empty()).then(|| format!("{scheme}{server}/{name}{query}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scratch_database_lives_on_the_given_server() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/test", "b1").as_deref(),
            Some("postgres://postgres@127.0.0.1:5432/b1")
        );
        assert_eq!(
            with_database("postgresql://u:p@db/x?sslmode=disable", "b1").as_deref(),
            Some("postgresql://u:p@db/b1?sslmode=disable")
        );
        assert_eq!(with_database("sqlite://x.db", "b1"), None);
    }
}
