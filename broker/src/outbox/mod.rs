//! The durable outbox: every event is stored before it is published and removed only once the broker has
//! acknowledged it, so events survive a broker outage and a restart of the publishing service, and leave
//! in the order they were made. A file in embedded mode, a table in the service's database in production.

mod database;
mod file;
mod record;

use std::{path::PathBuf, sync::Arc};

pub use database::{DatabaseOutbox, database_unavailable};

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
    /// Any other store (tests use one that fails on demand).
    Custom(Box<dyn OutboxStore>),
}

impl std::fmt::Debug for OutboxConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            OutboxConfig::File(path) => write!(f, "File({})", path.display()),
            OutboxConfig::Database(_) => f.write_str("Database"),
            OutboxConfig::Memory => f.write_str("Memory"),
            OutboxConfig::Custom(_) => f.write_str("Custom"),
        }
    }
}

/// What an outbox held when it was opened.
pub struct Backlog {
    /// Every record not yet acknowledged, in sequence order.
    pub records: Vec<(u64, OutboxRecord)>,
    /// The first sequence number free for new records.
    pub next_seq: u64,
}

/// Storage for undelivered records, numbered by an increasing sequence the bus assigns. The bus
/// appends in batches (a burst of events costs one write or one INSERT, not one each) from a single
/// writer, in sequence order.
#[async_trait::async_trait]
pub trait OutboxStore: Send + Sync {
    /// What is stored (read once, at start).
    async fn backlog(&self) -> Result<Backlog, OutboxError>;
    /// Stores records under their (new, increasing) sequence numbers; they are durable when it returns.
    async fn append(&self, records: &[(u64, Arc<OutboxRecord>)]) -> Result<(), OutboxError>;
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
        OutboxConfig::Memory => Box::new(MemoryOutbox),
        OutboxConfig::Custom(store) => store,
    })
}

/// Keeps nothing: delivery is still in order and retried while the process lives.
#[derive(Default)]
pub struct MemoryOutbox;

#[async_trait::async_trait]
impl OutboxStore for MemoryOutbox {
    async fn backlog(&self) -> Result<Backlog, OutboxError> {
        Ok(Backlog {
            records: Vec::new(),
            next_seq: 1,
        })
    }

    async fn append(&self, _records: &[(u64, Arc<OutboxRecord>)]) -> Result<(), OutboxError> {
        Ok(())
    }

    async fn acknowledge(&self, _through: u64) -> Result<(), OutboxError> {
        Ok(())
    }
}
