//! The event contract of openamt: protobuf messages, the MQTT topic tree and the CloudEvents envelope.
//!
//! Every service publishes and consumes through these types, and `asyncapi.yaml` beside this crate documents
//! the same contract for outside subscribers (a test keeps the two in step).

mod catalog;
mod cloudevent;
mod guid;
mod json;
mod topic;

/// Types generated from `proto/openamt/v1/*.proto`.
pub mod proto {
    include!(concat!(env!("OUT_DIR"), "/openamt.v1.rs"));
}

pub use catalog::{CATALOG, EventKind, kind_by_type};
pub use cloudevent::{CONTENT_TYPE, CloudEvent, EnvelopeError, SPEC_VERSION};
pub use guid::{Guid, GuidError};
pub use json::{JsonError, message_descriptor, message_names, to_json};
pub use topic::{Command, DeviceEvent, Service, Topic, TopicError, Topics};

/// A protobuf message that travels as the data of a CloudEvent of one fixed type.
pub trait Event: prost::Message + Default {
    /// The CloudEvents `type` attribute.
    const TYPE: &'static str;
}

macro_rules! event_types {
    ($($message:ident => $ty:literal),* $(,)?) => {
        $(impl Event for proto::$message { const TYPE: &'static str = $ty; })*
    };
}

event_types! {
    DevicePresence => "io.openamt.device.presence.v1",
    DeviceConnected => "io.openamt.device.connected.v1",
    DeviceDisconnected => "io.openamt.device.disconnected.v1",
    ActivationEvent => "io.openamt.device.activation.v1",
    DeviceDeactivated => "io.openamt.device.deactivated.v1",
    DeviceUpdated => "io.openamt.device.updated.v1",
    ServiceStatus => "io.openamt.service.status.v1",
    PowerActionRequest => "io.openamt.command.power.v1",
    CommandReply => "io.openamt.command.reply.v1",
}

/// Converts a time to the protobuf well-known Timestamp.
pub fn timestamp(at: time::OffsetDateTime) -> prost_types::Timestamp {
    prost_types::Timestamp {
        seconds: at.unix_timestamp(),
        nanos: at.nanosecond() as i32,
    }
}

/// The protobuf Timestamp of this instant.
pub fn now() -> prost_types::Timestamp {
    timestamp(time::OffsetDateTime::now_utc())
}
