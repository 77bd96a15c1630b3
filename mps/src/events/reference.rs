//! The reference MPS's JSON events on `mps/events` (spec §6), for subscribers written against
//! Open AMT: `{"type","message","methods":[…],"guid"?,"timestamp"}`. Off unless
//! `reference_events` is set; the protobuf events of the topic tree are the real contract.

use broker::Bus;
use serde_json::{Value, json};

/// The reference's topic.
pub const TOPIC: &str = "mps/events";

/// `type` of a reference event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Request,
    Success,
    Fail,
}

impl Kind {
    fn as_str(self) -> &'static str {
        match self {
            Kind::Request => "request",
            Kind::Success => "success",
            Kind::Fail => "fail",
        }
    }
}

/// The reference's payload; `guid` is left out when `None`, as the reference does.
pub fn payload(kind: Kind, method: &str, message: &str, guid: Option<&str>, at_ms: i64) -> Value {
    let mut v = json!({
        "type": kind.as_str(),
        "message": message,
        "methods": [method],
        "timestamp": at_ms,
    });
    if let (Some(g), Value::Object(m)) = (guid, &mut v) {
        m.insert("guid".into(), Value::String(g.to_owned()));
    }
    v
}

/// Publishes reference events when enabled; a no-op otherwise. Cheap to clone.
#[derive(Clone)]
pub struct ReferenceEvents {
    bus: Option<Bus>,
}

impl ReferenceEvents {
    pub fn new(bus: Bus, enabled: bool) -> Self {
        Self {
            bus: enabled.then_some(bus),
        }
    }

    /// A publisher that never publishes (no bus, or the flag is off).
    pub fn disabled() -> Self {
        Self { bus: None }
    }

    pub async fn publish(&self, kind: Kind, method: &str, message: &str, guid: Option<&str>) {
        let Some(bus) = &self.bus else {
            return;
        };
        let now_ms = (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64;
        // Fire and forget, as the reference: a failure is logged, never surfaced.
        if let Err(error) = bus
            .publish_json(TOPIC, &payload(kind, method, message, guid, now_ms))
            .await
        {
            tracing::warn!(%error, method, "reference event not published");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reference_example_payload() {
        // spec §6's example, field for field.
        let v = payload(
            Kind::Success,
            "CIRA_Connected",
            "CIRA Connection Established",
            Some("4c4c4544-004b-4210-8033-b6c04f504633"),
            1723459200000,
        );
        assert_eq!(
            v,
            json!({"type":"success","message":"CIRA Connection Established","methods":["CIRA_Connected"],"guid":"4c4c4544-004b-4210-8033-b6c04f504633","timestamp":1723459200000i64})
        );
        let v = payload(
            Kind::Success,
            "handleConnection",
            "Redirection session started",
            None,
            1,
        );
        assert!(v.get("guid").is_none());
    }
}
