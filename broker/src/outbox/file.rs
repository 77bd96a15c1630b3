//! The outbox as an append-only file: `<name>` holds the records, each framed as
//! `u32 length | body | u32 CRC-32 of body`, and `<name>.acked` the last acknowledged sequence number.
//! A record torn by a crash fails its checksum and is cut off on the next open. Records are written
//! with one `write` each, so they survive the process dying at any point; the file is synced on every
//! acknowledgement and can be cut to nothing once everything is delivered.

use std::{
    fs::{File, OpenOptions},
    io::{Read, Seek, Write},
    path::{Path, PathBuf},
    sync::{Arc, Mutex},
};

use bytes::{BufMut, BytesMut};

use super::{Backlog, OutboxError, OutboxRecord, OutboxStore};

/// Compact the file once it holds this much delivered data.
const COMPACT_AT: u64 = 4 << 20;

pub struct FileOutbox {
    path: PathBuf,
    acked_path: PathBuf,
    state: Mutex<State>,
}

struct State {
    file: File,
    len: u64,
    next_seq: u64,
    last_appended: u64,
    pending_at_open: Vec<(u64, OutboxRecord)>,
}

/// One record framed for the file: `u32 length | body | u32 CRC-32 of body`.
fn frame(seq: u64, record: &OutboxRecord, out: &mut BytesMut) {
    let mut body = BytesMut::with_capacity(128 + record.payload.len());
    record.encode(seq, &mut body);
    out.put_u32(body.len() as u32);
    out.put_slice(&body);
    out.put_u32(crc32fast::hash(&body));
}

impl FileOutbox {
    pub fn open(path: &Path) -> Result<FileOutbox, OutboxError> {
        let io = |source| OutboxError::Io {
            path: path.to_path_buf(),
            source,
        };
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(io)?;
        }
        let mut acked_path = path.as_os_str().to_owned();
        acked_path.push(".acked");
        let acked_path = PathBuf::from(acked_path);
        let acked: u64 = std::fs::read_to_string(&acked_path)
            .ok()
            .and_then(|s| s.trim().parse().ok())
            .unwrap_or(0);

        let mut file = OpenOptions::new()
            .read(true)
            .append(true)
            .create(true)
            .open(path)
            .map_err(io)?;
        let mut bytes = Vec::new();
        file.read_to_end(&mut bytes).map_err(io)?;
        let (records, good_len) = read_records(&bytes);
        if good_len < bytes.len() {
            tracing::warn!(
                path = %path.display(),
                kept = good_len,
                dropped = bytes.len() - good_len,
                "outbox file ends in a torn record (a crash while writing); cutting it off"
            );
            file.set_len(good_len as u64).map_err(io)?;
            file.seek(std::io::SeekFrom::End(0)).map_err(io)?;
        }
        let last_in_file = records.last().map_or(0, |(seq, _)| *seq);
        let pending: Vec<_> = records
            .into_iter()
            .filter(|(seq, _)| *seq > acked)
            .collect();
        if !pending.is_empty() {
            tracing::info!(path = %path.display(), count = pending.len(), "outbox holds undelivered events");
        }
        let last = last_in_file.max(acked);
        Ok(FileOutbox {
            path: path.to_path_buf(),
            acked_path,
            state: Mutex::new(State {
                file,
                len: good_len as u64,
                next_seq: last + 1,
                last_appended: last,
                pending_at_open: pending,
            }),
        })
    }

    fn io(&self) -> impl Fn(std::io::Error) -> OutboxError + '_ {
        move |source| OutboxError::Io {
            path: self.path.clone(),
            source,
        }
    }
}

/// Every whole, intact record and the length of the file they fill.
fn read_records(bytes: &[u8]) -> (Vec<(u64, OutboxRecord)>, usize) {
    let mut records = Vec::new();
    let mut at = 0;
    while let Some(len_bytes) = bytes.get(at..at + 4) {
        let len =
            u32::from_be_bytes([len_bytes[0], len_bytes[1], len_bytes[2], len_bytes[3]]) as usize;
        let Some(body) = bytes.get(at + 4..at + 4 + len) else {
            break;
        };
        let Some(crc) = bytes.get(at + 4 + len..at + 8 + len) else {
            break;
        };
        if crc32fast::hash(body).to_be_bytes() != crc {
            break;
        }
        let Some(record) = OutboxRecord::decode(body) else {
            break;
        };
        records.push(record);
        at += 8 + len;
    }
    (records, at)
}

#[async_trait::async_trait]
impl OutboxStore for FileOutbox {
    async fn backlog(&self) -> Result<Backlog, OutboxError> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        Ok(Backlog {
            records: std::mem::take(&mut state.pending_at_open),
            next_seq: state.next_seq,
        })
    }

    async fn append(&self, records: &[(u64, Arc<OutboxRecord>)]) -> Result<(), OutboxError> {
        let mut framed = BytesMut::new();
        for (seq, record) in records {
            frame(*seq, record, &mut framed);
        }
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        // One write for the batch: the process can die after it, not in the middle of a record
        // boundary we cannot detect (a torn tail fails its checksum and is cut off at the next open).
        state.file.write_all(&framed).map_err(self.io())?;
        state.len += framed.len() as u64;
        if let Some((last, _)) = records.last() {
            state.last_appended = *last;
            state.next_seq = last + 1;
        }
        Ok(())
    }

    async fn acknowledge(&self, through: u64) -> Result<(), OutboxError> {
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.file.sync_data().map_err(self.io())?;
        let mut temp = self.acked_path.as_os_str().to_owned();
        temp.push(".tmp");
        std::fs::write(&temp, through.to_string()).map_err(self.io())?;
        std::fs::rename(&temp, &self.acked_path).map_err(self.io())?;
        if through >= state.last_appended && state.len >= COMPACT_AT {
            // Everything is delivered: the records are no longer needed. The acked file keeps the
            // sequence going.
            state.file.set_len(0).map_err(self.io())?;
            state.len = 0;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use bytes::Bytes;

    use super::*;

    /// Appends one record under the next number, as the bus would.
    async fn push(outbox: &FileOutbox, next: &mut u64, record: OutboxRecord) -> u64 {
        let seq = *next;
        outbox.append(&[(seq, Arc::new(record))]).await.unwrap();
        *next += 1;
        seq
    }

    fn record(n: u8) -> OutboxRecord {
        OutboxRecord {
            topic: format!("t/{n}"),
            retain: false,
            properties: vec![("id".into(), n.to_string())],
            content_type: "application/protobuf".into(),
            response_topic: None,
            correlation: None,
            payload: Bytes::from(vec![n; 3]),
        }
    }

    #[tokio::test]
    async fn unacknowledged_records_survive_reopening_in_order() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("outbox");
        {
            let outbox = FileOutbox::open(&path).unwrap();
            let mut next = outbox.backlog().await.unwrap().next_seq;
            assert_eq!(next, 1);
            let batch: Vec<_> = (1..=5u8)
                .map(|n| (u64::from(n), Arc::new(record(n))))
                .collect();
            outbox.append(&batch).await.unwrap();
            next += 5;
            outbox.acknowledge(2).await.unwrap();
            assert_eq!(next, 6);
        }
        let outbox = FileOutbox::open(&path).unwrap();
        let backlog = outbox.backlog().await.unwrap();
        let seqs: Vec<u64> = backlog.records.iter().map(|(s, _)| *s).collect();
        assert_eq!(seqs, [3, 4, 5]);
        assert_eq!(backlog.records[0].1, record(3));
        assert_eq!(backlog.next_seq, 6);
    }

    #[tokio::test]
    async fn a_torn_last_record_is_cut_off() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("outbox");
        {
            let outbox = FileOutbox::open(&path).unwrap();
            let mut next = 1;
            push(&outbox, &mut next, record(1)).await;
            push(&outbox, &mut next, record(2)).await;
        }
        let len = std::fs::metadata(&path).unwrap().len();
        let file = OpenOptions::new().write(true).open(&path).unwrap();
        file.set_len(len - 3).unwrap();
        let outbox = FileOutbox::open(&path).unwrap();
        let backlog = outbox.backlog().await.unwrap();
        assert_eq!(backlog.records.len(), 1);
        let mut next = backlog.next_seq;
        assert_eq!(push(&outbox, &mut next, record(3)).await, 2);
        drop(outbox);
        let reopened = FileOutbox::open(&path).unwrap();
        assert_eq!(reopened.backlog().await.unwrap().records.len(), 2);
    }

    #[tokio::test]
    async fn garbage_file_yields_nothing_and_no_panic() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("outbox");
        std::fs::write(&path, b"\xff\xff\xff\xffnot an outbox at all").unwrap();
        let outbox = FileOutbox::open(&path).unwrap();
        let backlog = outbox.backlog().await.unwrap();
        assert!(backlog.records.is_empty());
        assert_eq!(backlog.next_seq, 1);
    }

    #[tokio::test]
    async fn sequence_continues_after_compaction() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("outbox");
        let outbox = FileOutbox::open(&path).unwrap();
        let big = OutboxRecord {
            payload: Bytes::from(vec![0u8; 1 << 20]),
            ..record(0)
        };
        let mut next = 1;
        for _ in 0..5 {
            push(&outbox, &mut next, big.clone()).await;
        }
        outbox.acknowledge(5).await.unwrap();
        assert_eq!(std::fs::metadata(&path).unwrap().len(), 0);
        drop(outbox);
        let outbox = FileOutbox::open(&path).unwrap();
        assert_eq!(outbox.backlog().await.unwrap().next_seq, 6);
    }
}
