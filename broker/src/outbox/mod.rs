//! The durable outbox: every event is stored before it is published and removed only once the broker has
//! acknowledged it, so events survive a broker outage and a restart of the publishing service, and leave
//! in the order they were made. A file in embedded mode, a table in the service's database in production.

mod database;
mod file;
mod record;

use std::{path::PathBuf, sync::Mutex};

pub use database::DatabaseOutbox;
pub use file::FileOutbox;
pub use record::OutboxRecord;

#[derive(Debug, thiserror::Error)]
pub enum OutboxError {
    #[error("outbox file {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("outbox table: {0}")]
    Database(#[from] sea_orm::DbErr),
    #[error("outbox record {0} is corrupt")]
    Corrupt(u64),
}

/// Where undelivered events wait.
pub enum OutboxConfig {
    /// An append-only file (the embedded default).
    File(PathBuf),
    /// The `openamt_outbox` table of the service's own database (SQLite or Postgres); rows are the bus
    /// client id's own.
    Database(sea_orm::DatabaseConnection),
    /// Memory only: for clients that publish nothing worth keeping, such as `openamt events`.
    Memory,
}

impl std::fmt::Debug for OutboxConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OutboxConfig::File(path) => write!(f, "File({})", path.display()),
            OutboxConfig::Database(_) => f.write_str("Database"),
            OutboxConfig::Memory => f.write_str("Memory"),
        }
    }
}

/// Storage for undelivered records, numbered by an increasing sequence.
#[async_trait::async_trait]
pub trait OutboxStore: Send + Sync {
    /// Stores a record and returns its sequence number.
    async fn append(&self, record: &OutboxRecord) -> Result<u64, OutboxError>;
    /// Every record not yet acknowledged, in sequence order (read once at start).
    async fn pending(&self) -> Result<Vec<(u64, OutboxRecord)>, OutboxError>;
    /// Forgets every record up to and including `through`.
    async fn acknowledge(&self, through: u64) -> Result<(), OutboxError>;
}

pub(crate) async fn open(
    config: OutboxConfig,
    owner: &str,
) -> Result<Box<dyn OutboxStore>, OutboxError> {
    Ok(match config {
        OutboxConfig::File(path) => Box::new(FileOutbox::open(&path)?),
        OutboxConfig::Database(db) => Box::new(DatabaseOutbox::open(db, owner).await?),
        OutboxConfig::Memory => Box::new(MemoryOutbox::default()),
    })
}

/// Numbers records but keeps nothing: delivery is still in order and retried while the process lives.
#[derive(Default)]
pub struct MemoryOutbox {
    next: Mutex<u64>,
}

#[async_trait::async_trait]
impl OutboxStore for MemoryOutbox {
    async fn append(&self, _record: &OutboxRecord) -> Result<u64, OutboxError> {
        let mut next = self.next.lock().unwrap_or_else(|e| e.into_inner());
        *next += 1;
        Ok(*next)
    }

    async fn pending(&self) -> Result<Vec<(u64, OutboxRecord)>, OutboxError> {
        Ok(Vec::new())
    }

    async fn acknowledge(&self, _through: u64) -> Result<(), OutboxError> {
        Ok(())
    }
}
