//! The outbox as the `openamt_outbox` table of the service's own database, so an event and the state
//! change it reports can share one database (SQLite or Postgres through sea-orm). Each row names its
//! owner (the bus client id): replicas sharing a database keep separate outboxes in one table.

use std::sync::Arc;

use bytes::Bytes;
use sea_orm::{
    ColumnTrait, ConnectionTrait, DatabaseConnection, EntityTrait, QueryFilter, QueryOrder, Schema,
    Set,
};

use super::{Backlog, OutboxError, OutboxRecord, OutboxStore};

mod row {
    use sea_orm::entity::prelude::*;

    #[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
    #[sea_orm(table_name = "openamt_outbox")]
    pub struct Model {
        #[sea_orm(primary_key, auto_increment = false)]
        pub owner: String,
        /// Numbered by the bus, per owner.
        #[sea_orm(primary_key, auto_increment = false)]
        pub seq: i64,
        pub topic: String,
        pub retain: bool,
        /// MQTT 5 user properties as a JSON array of [name, value] pairs.
        #[sea_orm(column_type = "Text")]
        pub properties: String,
        pub content_type: String,
        pub response_topic: Option<String>,
        pub correlation: Option<Vec<u8>>,
        pub payload: Vec<u8>,
    }

    #[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
    pub enum Relation {}

    impl ActiveModelBehavior for ActiveModel {}
}

pub struct DatabaseOutbox {
    db: DatabaseConnection,
    owner: String,
}

impl DatabaseOutbox {
    /// Uses the table (creating it when absent) for the records of `owner`.
    pub async fn open(db: DatabaseConnection, owner: &str) -> Result<DatabaseOutbox, OutboxError> {
        let schema = Schema::new(db.get_database_backend());
        let mut create = schema.create_table_from_entity(row::Entity);
        create.if_not_exists();
        db.execute(&create).await?;
        Ok(DatabaseOutbox {
            db,
            owner: owner.to_owned(),
        })
    }
}

fn to_record(row: row::Model) -> Result<(u64, OutboxRecord), OutboxError> {
    let seq = row.seq as u64;
    let properties =
        serde_json::from_str(&row.properties).map_err(|_| OutboxError::Corrupt(seq))?;
    Ok((
        seq,
        OutboxRecord {
            topic: row.topic,
            retain: row.retain,
            properties,
            content_type: row.content_type,
            response_topic: row.response_topic,
            correlation: row.correlation.map(Bytes::from),
            payload: Bytes::from(row.payload),
        },
    ))
}

#[async_trait::async_trait]
impl OutboxStore for DatabaseOutbox {
    async fn backlog(&self) -> Result<Backlog, OutboxError> {
        let records: Vec<(u64, OutboxRecord)> = row::Entity::find()
            .filter(row::Column::Owner.eq(&self.owner))
            .order_by_asc(row::Column::Seq)
            .all(&self.db)
            .await?
            .into_iter()
            .map(to_record)
            .collect::<Result<_, _>>()?;
        // Acknowledged rows are deleted, so numbering may start over once everything was delivered.
        let next_seq = records.last().map_or(1, |(seq, _)| seq + 1);
        Ok(Backlog { records, next_seq })
    }

    async fn append(&self, records: &[(u64, Arc<OutboxRecord>)]) -> Result<(), OutboxError> {
        // One multi-row INSERT per batch (a statement is atomic), in chunks well under the databases'
        // limits on bound parameters. A batch is stored again after a failure that may have kept some
        // of its chunks: rows already there are left as they are.
        for chunk in records.chunks(500) {
            let rows = chunk.iter().map(|(seq, record)| row::ActiveModel {
                owner: Set(self.owner.clone()),
                seq: Set(*seq as i64),
                topic: Set(record.topic.clone()),
                retain: Set(record.retain),
                properties: Set(serde_json::to_string(&record.properties).unwrap_or_default()),
                content_type: Set(record.content_type.clone()),
                response_topic: Set(record.response_topic.clone()),
                correlation: Set(record.correlation.as_ref().map(|c| c.to_vec())),
                payload: Set(record.payload.to_vec()),
            });
            row::Entity::insert_many(rows)
                .on_conflict_do_nothing_on([row::Column::Owner, row::Column::Seq])
                .exec_without_returning(&self.db)
                .await?;
        }
        Ok(())
    }

    async fn acknowledge(&self, through: u64) -> Result<(), OutboxError> {
        row::Entity::delete_many()
            .filter(row::Column::Owner.eq(&self.owner))
            .filter(row::Column::Seq.lte(through as i64))
            .exec(&self.db)
            .await?;
        Ok(())
    }
}

/// Whether `err` is the database being unreachable (down, restarting, no connection to be had) rather
/// than a refused statement: trying again later may work. Every service on a database asks this.
pub fn database_unavailable(err: &sea_orm::DbErr) -> bool {
    use sea_orm::{DbErr, RuntimeErr, sqlx};
    match err {
        DbErr::ConnectionAcquire(_) | DbErr::Conn(_) => true,
        DbErr::Exec(RuntimeErr::SqlxError(e)) | DbErr::Query(RuntimeErr::SqlxError(e)) => {
            match &**e {
                sqlx::Error::Io(_)
                | sqlx::Error::PoolTimedOut
                | sqlx::Error::PoolClosed
                | sqlx::Error::WorkerCrashed
                | sqlx::Error::Tls(_)
                | sqlx::Error::Protocol(_) => true,
                // Postgres shutting down or starting up (SQLSTATE class 57, operator intervention;
                // 08, connection exception).
                sqlx::Error::Database(db) => db
                    .code()
                    .is_some_and(|code| code.starts_with("57") || code.starts_with("08")),
                _ => false,
            }
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn keeps_each_owners_unacknowledged_rows_in_order_on_sqlite() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!(
            "sqlite://{}?mode=rwc",
            dir.path().join("db.sqlite").display()
        );
        let record = |n: u8| OutboxRecord {
            topic: format!("t/{n}"),
            retain: n.is_multiple_of(2),
            properties: vec![("id".into(), n.to_string())],
            content_type: "application/protobuf".into(),
            response_topic: None,
            correlation: Some(Bytes::from_static(b"c")),
            payload: Bytes::from(vec![n]),
        };
        {
            let db = sea_orm::Database::connect(&url).await.unwrap();
            let outbox = DatabaseOutbox::open(db.clone(), "mps-a").await.unwrap();
            let other = DatabaseOutbox::open(db, "mps-b").await.unwrap();
            assert_eq!(outbox.backlog().await.unwrap().next_seq, 1);
            outbox.append(&[(1, Arc::new(record(1)))]).await.unwrap();
            other.append(&[(1, Arc::new(record(9)))]).await.unwrap();
            let batch = [(2, Arc::new(record(2))), (3, Arc::new(record(3)))];
            outbox.append(&batch).await.unwrap();
            // Stored again after a failure that kept part of it: no error, no second row.
            outbox.append(&batch).await.unwrap();
            outbox.acknowledge(1).await.unwrap();
        }
        let db = sea_orm::Database::connect(&url).await.unwrap();
        let other = DatabaseOutbox::open(db.clone(), "mps-b").await.unwrap();
        assert_eq!(
            other.backlog().await.unwrap().records.len(),
            1,
            "another owner's record"
        );
        let outbox = DatabaseOutbox::open(db, "mps-a").await.unwrap();
        let backlog = outbox.backlog().await.unwrap();
        assert_eq!(backlog.next_seq, 4);
        let pending = backlog.records;
        assert_eq!(pending.len(), 2);
        assert_eq!(pending[0].1, record(2));
        assert_eq!(pending[1].1, record(3));
        assert_eq!((pending[0].0, pending[1].0), (2, 3));
    }
}
