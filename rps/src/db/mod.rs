//! Storage: sea-orm on the reference `rpsdb` tables, on Postgres or SQLite.

pub mod entities;
mod schema;
mod types;

use std::time::Duration;

use sea_orm::sea_query::{Expr, ExprTrait, SimpleExpr};
use sea_orm::sqlx::sqlite::{SqliteJournalMode, SqliteSynchronous};
use sea_orm::{
    ConnectOptions, ConnectionTrait, Database, DatabaseConnection, DbBackend, DbErr, EntityTrait,
    FromQueryResult, QueryResult, Select, SqlErr, Statement,
};

pub use types::{IntArray, TextArray};

/// How long a health check waits for the database.
const PING_TIMEOUT: Duration = Duration::from_secs(2);

/// A connection pool on the RPS database, with the tables in place.
#[derive(Clone, Debug)]
pub struct Db {
    conn: DatabaseConnection,
}

impl Db {
    /// Connects to `postgres://…` or `sqlite://…?mode=rwc` (or `sqlite::memory:`) and creates the tables when absent.
    /// A database made by the reference `init.sql` is used as it is.
    pub async fn connect(url: &str) -> Result<Db, DbErr> {
        let sqlite = url.starts_with("sqlite:");
        let in_memory = url.contains(":memory:") || url.contains("mode=memory");
        let mut options = ConnectOptions::new(url.to_owned());
        options
            .sqlx_logging(false)
            .connect_timeout(Duration::from_secs(10))
            .acquire_timeout(Duration::from_secs(10))
            // An in-memory SQLite database exists per connection: one connection keeps one database.
            .max_connections(if in_memory {
                1
            } else if sqlite {
                8
            } else {
                16
            });
        if sqlite {
            options.map_sqlx_sqlite_opts(|o| {
                o.journal_mode(SqliteJournalMode::Wal)
                    .synchronous(SqliteSynchronous::Normal)
                    .busy_timeout(Duration::from_secs(5))
                    .foreign_keys(true)
            });
        }
        let conn = Database::connect(options).await?;
        let db = Db { conn };
        db.create_tables().await?;
        Ok(db)
    }

    /// The pool, for sea-orm queries.
    pub fn conn(&self) -> &DatabaseConnection {
        &self.conn
    }

    pub fn backend(&self) -> DbBackend {
        self.conn.get_database_backend()
    }

    /// The name the health route reports, as the reference's `db_provider` upper-cased.
    pub fn provider_name(&self) -> &'static str {
        match self.backend() {
            DbBackend::Postgres => "POSTGRES",
            DbBackend::Sqlite => "SQLITE",
            _ => "UNKNOWN",
        }
    }

    /// `SELECT 1` within 2 s, for health checks: they answer promptly even while the database is down
    /// (a query would wait for the pool's 10 s acquire timeout).
    pub async fn ping(&self) -> Result<(), DbErr> {
        match tokio::time::timeout(PING_TIMEOUT, self.conn.execute_unprepared("SELECT 1")).await {
            Ok(result) => result.map(|_| ()),
            Err(_) => Err(DbErr::ConnectionAcquire(sea_orm::ConnAcquireErr::Timeout)),
        }
    }

    async fn create_tables(&self) -> Result<(), DbErr> {
        match self.backend() {
            DbBackend::Postgres => {
                for ddl in schema::POSTGRES {
                    self.conn.execute_unprepared(ddl).await?;
                }
            }
            DbBackend::Sqlite => {
                for ddl in schema::sqlite() {
                    self.conn.execute_unprepared(&ddl).await?;
                }
            }
            other => {
                return Err(DbErr::Custom(format!(
                    "unsupported database backend {other:?}"
                )));
            }
        }
        Ok(())
    }

    /// The configuration generation: a counter that moves, in the writing transaction, with every
    /// write to a configuration table by anyone on this database. An answer computed while it read
    /// `g` is still right as long as it reads `g`.
    pub async fn config_generation(&self) -> Result<i64, DbErr> {
        let row = self
            .conn
            .query_one_raw(Statement::from_string(
                self.backend(),
                match self.backend() {
                    DbBackend::Postgres => {
                        "SELECT generation FROM openamt.config_generation WHERE id = 1"
                    }
                    _ => "SELECT generation FROM openamt_config_generation WHERE id = 1",
                },
            ))
            .await?
            .ok_or_else(|| DbErr::RecordNotFound("openamt_config_generation".into()))?;
        row.try_get_by_index(0)
    }

    /// Runs a statement with values, for the few queries the entity API does not express.
    pub async fn execute(&self, sql: &str, values: Vec<sea_orm::Value>) -> Result<u64, DbErr> {
        let stmt = Statement::from_sql_and_values(self.backend(), sql, values);
        Ok(self.conn.execute_raw(stmt).await?.rows_affected())
    }
}

/// The row version: `xmin` (the Postgres system column the reference exposes as `version`, or the SQLite column
/// that stands in for it) rendered as text.
pub fn version_expr() -> SimpleExpr {
    Expr::cust("CAST(xmin AS TEXT)")
}

/// `xmin` equals the version a client sent.
pub fn version_matches(version: &str) -> SimpleExpr {
    version_expr().eq(version)
}

/// A row with its version.
#[derive(Clone, Debug, PartialEq)]
pub struct Versioned<M> {
    pub model: M,
    pub version: String,
}

impl<M: FromQueryResult> FromQueryResult for Versioned<M> {
    fn from_query_result(res: &QueryResult, pre: &str) -> Result<Self, DbErr> {
        Ok(Self {
            model: M::from_query_result(res, pre)?,
            version: res.try_get(pre, "version")?,
        })
    }
}

/// `SELECT <columns>, CAST(xmin AS TEXT) AS version FROM <entity>`.
pub fn select_versioned<E: EntityTrait>() -> Select<E> {
    sea_orm::QuerySelect::expr_as(E::find(), version_expr(), "version")
}

/// What a failed write ran into.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Violation {
    Unique,
    ForeignKey,
}

pub fn violation(err: &DbErr) -> Option<Violation> {
    match err.sql_err() {
        Some(SqlErr::UniqueConstraintViolation(_)) => Some(Violation::Unique),
        Some(SqlErr::ForeignKeyConstraintViolation(_)) => Some(Violation::ForeignKey),
        _ => None,
    }
}
