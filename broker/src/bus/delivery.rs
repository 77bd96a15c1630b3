//! What subscribers receive: one message with its CloudEvents attributes, acknowledged to the broker
//! only when the consumer is done with it (when the `Delivery` is dropped), so a consumer that dies
//! mid-way gets the message again instead of losing it. Acknowledgements leave in delivery order
//! (see `acks`).

use std::{
    collections::{HashSet, VecDeque},
    sync::Arc,
};

use bytes::Bytes;
use tokio::sync::mpsc;

use super::acks::Slot;

/// One received message.
#[derive(Clone)]
pub struct Delivery {
    pub topic: String,
    /// The CloudEvents attributes; `None` when the message carries none (e.g. reference JSON events).
    pub event: Option<schemas::CloudEvent>,
    pub payload: Bytes,
    pub content_type: Option<String>,
    pub retained: bool,
    pub response_topic: Option<String>,
    pub correlation: Option<Bytes>,
    pub(crate) ack: Option<Arc<Slot>>,
}

impl std::fmt::Debug for Delivery {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Delivery")
            .field("topic", &self.topic)
            .field("event", &self.event)
            .field("payload_len", &self.payload.len())
            .field("retained", &self.retained)
            .finish_non_exhaustive()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DeliveryError {
    #[error("message on {topic} is not a CloudEvent")]
    NotAnEvent { topic: String },
    #[error("message on {topic} is a {actual}, not a {expected}")]
    WrongType {
        topic: String,
        expected: &'static str,
        actual: String,
    },
    #[error("message on {topic} does not decode as {expected}: {source}")]
    Decode {
        topic: String,
        expected: &'static str,
        source: prost::DecodeError,
    },
}

impl Delivery {
    /// A message as subscribers receive it from an MQTT publish, before the bus ties it to the broker's
    /// acknowledgement: the topic as text (invalid UTF-8 replaced) and the CloudEvents attributes read
    /// from the user properties. A message without `specversion` carries none (e.g. reference JSON
    /// events); one with broken attributes is logged and delivered without them, so `decode` refuses it
    /// rather than the bus dropping it. The other MQTT 5 properties are left for the caller to set.
    /// Kept apart from the bus's dispatch so this decoding of untrusted input can be fuzzed on its own.
    pub fn received(
        topic: &[u8],
        user_properties: &[(String, String)],
        payload: Bytes,
    ) -> Delivery {
        let topic = String::from_utf8_lossy(topic).into_owned();
        let has_attributes = user_properties.iter().any(|(k, _)| k == "specversion");
        let event = if has_attributes {
            match schemas::CloudEvent::from_user_properties(
                user_properties
                    .iter()
                    .map(|(k, v)| (k.as_str(), v.as_str())),
            ) {
                Ok(event) => Some(event),
                Err(error) => {
                    tracing::warn!(%topic, %error, "message with broken CloudEvents attributes");
                    None
                }
            }
        } else {
            None
        };
        Delivery {
            topic,
            event,
            payload,
            content_type: None,
            retained: false,
            response_topic: None,
            correlation: None,
            ack: None,
        }
    }

    /// The payload as the protobuf message `E`, checking the CloudEvents type first.
    pub fn decode<E: schemas::Event>(&self) -> Result<E, DeliveryError> {
        let event = self
            .event
            .as_ref()
            .ok_or_else(|| DeliveryError::NotAnEvent {
                topic: self.topic.clone(),
            })?;
        if event.ty != E::TYPE {
            return Err(DeliveryError::WrongType {
                topic: self.topic.clone(),
                expected: E::TYPE,
                actual: event.ty.clone(),
            });
        }
        E::decode(self.payload.clone()).map_err(|source| DeliveryError::Decode {
            topic: self.topic.clone(),
            expected: E::TYPE,
            source,
        })
    }

    /// Done with this copy now instead of when it is dropped. The broker's acknowledgement leaves once
    /// every copy and every earlier delivery is done (MQTT acknowledges in order): hold a delivery only
    /// as long as acting on it takes, and spawn long work after taking what it needs.
    pub fn ack(&mut self) {
        self.ack = None;
    }

    /// Gives the message back instead of acknowledging it, for a consumer that stops before it could act
    /// on it (its database is down at shutdown): the broker sends it again on the next session of this
    /// client. Every later message stays unacknowledged on this connection too (MQTT acknowledges in
    /// order), so this is for stopping only.
    pub fn leave_unacknowledged(mut self) {
        if let Some(slot) = self.ack.take() {
            slot.keep_unacknowledged();
        }
    }
}

/// Messages matching one topic filter, without duplicates (by event id).
pub struct Subscription {
    pub(crate) filter: String,
    pub(crate) rx: mpsc::Receiver<Delivery>,
    pub(super) bus: std::sync::Weak<super::Inner>,
}

impl Subscription {
    /// The next message; `None` once the bus has shut down.
    pub async fn next(&mut self) -> Option<Delivery> {
        self.rx.recv().await
    }

    /// The next message that decodes as `E`, with its delivery. Anything else on the topic (a broken
    /// payload, another event type) is logged and skipped, so one bad publisher cannot stop a consumer.
    pub async fn next_event<E: schemas::Event>(&mut self) -> Option<(Delivery, E)> {
        loop {
            let delivery = self.rx.recv().await?;
            match delivery.decode::<E>() {
                Ok(event) => return Some((delivery, event)),
                Err(error) => tracing::warn!(%error, "skipping a message"),
            }
        }
    }

    pub fn filter(&self) -> &str {
        &self.filter
    }
}

impl Drop for Subscription {
    /// Messages already received for this subscription but never read go back to the bus's unclaimed
    /// messages: a subscription made soon after gets them, and if the process ends first they were never
    /// acknowledged, so the broker sends them again (to a persistent session).
    fn drop(&mut self) {
        self.rx.close();
        let Some(inner) = self.bus.upgrade() else {
            return;
        };
        let mut state = inner.state();
        while let Ok(delivery) = self.rx.try_recv() {
            state.keep_unclaimed(delivery);
        }
    }
}

/// The last N event ids one subscription saw.
pub(crate) struct SeenIds {
    order: VecDeque<String>,
    ids: HashSet<String>,
    capacity: usize,
}

impl SeenIds {
    pub fn new(capacity: usize) -> Self {
        SeenIds {
            order: VecDeque::with_capacity(capacity.min(1024)),
            ids: HashSet::new(),
            capacity,
        }
    }

    /// True the first time an id is offered.
    pub fn first_time(&mut self, id: &str) -> bool {
        if self.ids.contains(id) {
            return false;
        }
        if self.order.len() == self.capacity
            && let Some(oldest) = self.order.pop_front()
        {
            self.ids.remove(&oldest);
        }
        self.order.push_back(id.to_owned());
        self.ids.insert(id.to_owned());
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remembers_the_last_ids_only() {
        let mut seen = SeenIds::new(2);
        assert!(seen.first_time("a"));
        assert!(!seen.first_time("a"));
        assert!(seen.first_time("b"));
        assert!(seen.first_time("c"));
        assert!(seen.first_time("a"), "a was forgotten after two newer ids");
    }
}
