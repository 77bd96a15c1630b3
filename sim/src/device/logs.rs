//! The two logs AMT keeps, stored compactly and encoded on demand in the binary layouts MPS decodes
//! (spec/mps.md §4.4): the security audit log (AMT_AuditLog.ReadRecords) and the platform event log
//! (AMT_MessageLog.GetRecords, 21-byte records).

use std::collections::VecDeque;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

/// Records kept per log; older ones are overwritten (OverwritePolicy 2 "wrap").
pub const LOG_CAPACITY: usize = 128;

/// Who caused an audit event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Initiator {
    /// HTTP digest user (initiator type 0).
    Digest(String),
    /// The local host (initiator type 2).
    Local,
}

/// One security audit record.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AuditRecord {
    /// Application id (16 security admin, 17 remote control, 18 redirection, 20 audit log, 21 time …).
    pub app_id: u16,
    pub event_id: u16,
    pub initiator: Initiator,
    /// Seconds since 1970 (AMT local time).
    pub timestamp: u32,
    /// 0 intranet, 1 MPS (CIRA), 2 local.
    pub location: u8,
    pub net_address: String,
    pub extended: Vec<u8>,
}

impl AuditRecord {
    /// Audit record layout: u16 BE app id, u16 BE event id, u8 initiator type (+ u8 length and user for
    /// digest), u32 BE timestamp, u8 location, u8 length + address, u8 length + extended data.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(24 + self.net_address.len() + self.extended.len());
        out.extend_from_slice(&self.app_id.to_be_bytes());
        out.extend_from_slice(&self.event_id.to_be_bytes());
        match &self.initiator {
            Initiator::Digest(user) => {
                out.push(0);
                let user = truncate(user.as_bytes());
                out.push(user.len() as u8);
                out.extend_from_slice(user);
            }
            Initiator::Local => out.push(2),
        }
        out.extend_from_slice(&self.timestamp.to_be_bytes());
        out.push(self.location);
        let address = truncate(self.net_address.as_bytes());
        out.push(address.len() as u8);
        out.extend_from_slice(address);
        let extended = truncate(&self.extended);
        out.push(extended.len() as u8);
        out.extend_from_slice(extended);
        out
    }

    pub fn encode_base64(&self) -> String {
        STANDARD.encode(self.encode())
    }
}

fn truncate(bytes: &[u8]) -> &[u8] {
    &bytes[..bytes.len().min(255)]
}

/// The audit log, oldest record first (the order AMT returns them in).
#[derive(Clone, Debug, Default)]
pub struct AuditLog {
    pub records: VecDeque<AuditRecord>,
}

impl AuditLog {
    pub fn push(&mut self, record: AuditRecord) {
        if self.records.len() >= LOG_CAPACITY {
            self.records.pop_front();
        }
        self.records.push_back(record);
    }

    /// ReadRecords: up to 10 records starting at the 1-based `start_index`.
    pub fn read(&self, start_index: usize) -> Vec<String> {
        let start = start_index.max(1) - 1;
        self.records
            .iter()
            .skip(start)
            .take(10)
            .map(AuditRecord::encode_base64)
            .collect()
    }

    pub fn last_timestamp(&self) -> Option<u32> {
        self.records.back().map(|r| r.timestamp)
    }
}

/// One platform event record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EventRecord {
    pub timestamp: u32,
    pub device_address: u8,
    pub sensor_type: u8,
    pub event_type: u8,
    pub event_offset: u8,
    pub source_type: u8,
    pub severity: u8,
    pub sensor_number: u8,
    pub entity: u8,
    pub entity_instance: u8,
    pub data: [u8; 8],
}

impl EventRecord {
    /// 21 bytes: u32 LE timestamp, nine single-byte fields, eight bytes of event data.
    pub fn encode(&self) -> [u8; 21] {
        let mut out = [0u8; 21];
        out[..4].copy_from_slice(&self.timestamp.to_le_bytes());
        out[4] = self.device_address;
        out[5] = self.sensor_type;
        out[6] = self.event_type;
        out[7] = self.event_offset;
        out[8] = self.source_type;
        out[9] = self.severity;
        out[10] = self.sensor_number;
        out[11] = self.entity;
        out[12] = self.entity_instance;
        out[13..].copy_from_slice(&self.data);
        out
    }

    /// A "system firmware progress" event (sensor type 15, offset 2) from the BIOS (entity 34),
    /// e.g. progress code 0x13 "Starting operating system boot process".
    pub fn firmware_progress(timestamp: u32, progress: u8) -> EventRecord {
        EventRecord {
            timestamp,
            device_address: 255,
            sensor_type: 15,
            event_type: 111,
            event_offset: 2,
            source_type: 104,
            severity: 1,
            sensor_number: 255,
            entity: 34,
            entity_instance: 0,
            data: [0x40, progress, 0, 0, 0, 0, 0, 0],
        }
    }
}

/// The platform event log, oldest first.
#[derive(Clone, Debug, Default)]
pub struct EventLog {
    pub records: VecDeque<EventRecord>,
}

impl EventLog {
    pub fn push(&mut self, record: EventRecord) {
        if self.records.len() >= LOG_CAPACITY {
            self.records.pop_front();
        }
        self.records.push_back(record);
    }

    /// GetRecords from the 1-based `iteration` position: (records, next iteration id, no more records).
    pub fn read(&self, iteration: usize, max: usize) -> (Vec<String>, usize, bool) {
        let start = iteration.max(1) - 1;
        let records: Vec<String> = self
            .records
            .iter()
            .skip(start)
            .take(max)
            .map(|r| STANDARD.encode(r.encode()))
            .collect();
        let next = start + records.len() + 1;
        (records, next, next > self.records.len())
    }
}

/// Current time as AMT stores it (seconds since 1970; the simulator runs its clock in UTC).
pub fn now() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| u32::try_from(d.as_secs()).unwrap_or(u32::MAX))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audit_layout_matches_the_decoder_of_mps() {
        let record = AuditRecord {
            app_id: 17,
            event_id: 0,
            initiator: Initiator::Digest("admin".into()),
            timestamp: 1_700_000_000,
            location: 0,
            net_address: String::new(),
            extended: Vec::new(),
        };
        let bytes = record.encode();
        assert_eq!(&bytes[..4], &[0, 17, 0, 0]);
        assert_eq!(bytes[4], 0);
        assert_eq!(bytes[5], 5);
        assert_eq!(&bytes[6..11], b"admin");
        assert_eq!(&bytes[11..15], &1_700_000_000u32.to_be_bytes());
        assert_eq!(&bytes[15..], &[0, 0, 0]);

        // The reference answer's first record decodes with the same layout: app 19, local initiator.
        let reference = STANDARD
            .decode("ABMAAAI/9M1uAgAQAAwAAAAoBZkADAAAACQFlA==")
            .unwrap();
        let local = AuditRecord {
            app_id: 19,
            event_id: 0,
            initiator: Initiator::Local,
            timestamp: u32::from_be_bytes([0x3f, 0xf4, 0xcd, 0x6e]),
            location: 2,
            net_address: String::new(),
            extended: reference[12..].to_vec(),
        };
        assert_eq!(local.encode(), reference);
    }

    #[test]
    fn event_records_are_21_bytes_little_endian_time() {
        let reference = STANDARD.decode("IgYBZf8PbwJoAf8iAEAHAAAAAAAA").unwrap();
        let record =
            EventRecord::firmware_progress(u32::from_le_bytes([0x22, 0x06, 0x01, 0x65]), 0x07);
        assert_eq!(record.encode().to_vec(), reference);
    }

    #[test]
    fn logs_page_and_wrap() {
        let mut log = EventLog::default();
        for i in 0..5 {
            log.push(EventRecord::firmware_progress(i, 1));
        }
        let (first, next, done) = log.read(1, 3);
        assert_eq!((first.len(), next, done), (3, 4, false));
        let (rest, _, done) = log.read(next, 3);
        assert_eq!((rest.len(), done), (2, true));
        let mut audit = AuditLog::default();
        for i in 0..(LOG_CAPACITY as u32 + 5) {
            audit.push(AuditRecord {
                app_id: 17,
                event_id: 0,
                initiator: Initiator::Local,
                timestamp: i,
                location: 2,
                net_address: String::new(),
                extended: Vec::new(),
            });
        }
        assert_eq!(audit.records.len(), LOG_CAPACITY);
        assert_eq!(audit.read(1).len(), 10);
        assert_eq!(audit.records.front().map(|r| r.timestamp), Some(5));
    }
}
