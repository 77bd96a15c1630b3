//! One publish waiting in the outbox, and its binary form in the outbox file.

use bytes::{Buf, BufMut, Bytes, BytesMut};

/// Everything needed to publish one message again after a restart.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OutboxRecord {
    pub topic: String,
    pub retain: bool,
    /// MQTT 5 user properties (the CloudEvents attributes).
    pub properties: Vec<(String, String)>,
    pub content_type: String,
    pub response_topic: Option<String>,
    pub correlation: Option<Bytes>,
    pub payload: Bytes,
}

fn put_str(buf: &mut BytesMut, s: &str) {
    put_bytes(buf, s.as_bytes());
}

fn put_bytes(buf: &mut BytesMut, b: &[u8]) {
    buf.put_u32(b.len() as u32);
    buf.put_slice(b);
}

fn get_bytes(buf: &mut &[u8]) -> Option<Bytes> {
    if buf.remaining() < 4 {
        return None;
    }
    let len = buf.get_u32() as usize;
    if buf.remaining() < len {
        return None;
    }
    let value = Bytes::copy_from_slice(&buf[..len]);
    buf.advance(len);
    Some(value)
}

fn get_str(buf: &mut &[u8]) -> Option<String> {
    String::from_utf8(get_bytes(buf)?.to_vec()).ok()
}

fn get_opt<T>(buf: &mut &[u8], get: impl Fn(&mut &[u8]) -> Option<T>) -> Option<Option<T>> {
    if !buf.has_remaining() {
        return None;
    }
    match buf.get_u8() {
        0 => Some(None),
        _ => get(buf).map(Some),
    }
}

impl OutboxRecord {
    /// Appends the record body (sequence number first) to `buf`.
    pub(crate) fn encode(&self, seq: u64, buf: &mut BytesMut) {
        buf.put_u64(seq);
        buf.put_u8(self.retain.into());
        put_str(buf, &self.topic);
        buf.put_u32(self.properties.len() as u32);
        for (name, value) in &self.properties {
            put_str(buf, name);
            put_str(buf, value);
        }
        put_str(buf, &self.content_type);
        match &self.response_topic {
            Some(topic) => {
                buf.put_u8(1);
                put_str(buf, topic);
            }
            None => buf.put_u8(0),
        }
        match &self.correlation {
            Some(data) => {
                buf.put_u8(1);
                put_bytes(buf, data);
            }
            None => buf.put_u8(0),
        }
        put_bytes(buf, &self.payload);
    }

    /// Reads a record body; `None` when it is malformed.
    pub(crate) fn decode(mut buf: &[u8]) -> Option<(u64, OutboxRecord)> {
        let buf = &mut buf;
        if buf.remaining() < 9 {
            return None;
        }
        let seq = buf.get_u64();
        let retain = buf.get_u8() != 0;
        let topic = get_str(buf)?;
        if buf.remaining() < 4 {
            return None;
        }
        let count = buf.get_u32() as usize;
        let mut properties = Vec::with_capacity(count.min(64));
        for _ in 0..count {
            properties.push((get_str(buf)?, get_str(buf)?));
        }
        let content_type = get_str(buf)?;
        let response_topic = get_opt(buf, get_str)?;
        let correlation = get_opt(buf, get_bytes)?;
        let payload = get_bytes(buf)?;
        buf.is_empty().then_some((
            seq,
            OutboxRecord {
                topic,
                retain,
                properties,
                content_type,
                response_topic,
                correlation,
                payload,
            },
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_truncation() {
        let record = OutboxRecord {
            topic: "openamt/v1/devices/x/presence".into(),
            retain: true,
            properties: vec![("id".into(), "1".into()), ("type".into(), "t".into())],
            content_type: "application/protobuf".into(),
            response_topic: Some("r".into()),
            correlation: Some(Bytes::from_static(b"c")),
            payload: Bytes::from_static(b"\x01\x02"),
        };
        let mut buf = BytesMut::new();
        record.encode(42, &mut buf);
        assert_eq!(OutboxRecord::decode(&buf), Some((42, record)));
        for cut in 0..buf.len() {
            assert_eq!(OutboxRecord::decode(&buf[..cut]), None, "cut at {cut}");
        }
    }
}
