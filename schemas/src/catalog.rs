//! Every kind of message on the bus: its CloudEvents type, protobuf message, topic and retention.
//! `asyncapi.yaml` documents exactly this list; a test compares the two.

use crate::{
    Event,
    proto::{
        ActivationEvent, CommandReply, DeviceConnected, DeviceDeactivated, DeviceDisconnected,
        DevicePresence, DeviceUpdated, PowerActionRequest, ServiceStatus,
    },
};

/// One kind of message on the bus.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EventKind {
    /// CloudEvents `type`.
    pub ty: &'static str,
    /// Fully qualified protobuf message name.
    pub message: &'static str,
    /// Topic under the root, with `{guid}`, `{service}`, `{instance}` or `{client}` placeholders.
    pub topic: &'static str,
    pub retained: bool,
}

macro_rules! kind {
    ($message:ident, $topic:literal, $retained:literal) => {
        EventKind {
            ty: <$message as Event>::TYPE,
            message: concat!("openamt.v1.", stringify!($message)),
            topic: $topic,
            retained: $retained,
        }
    };
}

pub const CATALOG: &[EventKind] = &[
    kind!(DevicePresence, "devices/{guid}/presence", true),
    kind!(DeviceConnected, "events/devices/{guid}/connected", false),
    kind!(
        DeviceDisconnected,
        "events/devices/{guid}/disconnected",
        false
    ),
    kind!(ActivationEvent, "events/devices/{guid}/activation", false),
    kind!(DeviceUpdated, "events/devices/{guid}/updated", false),
    kind!(
        DeviceDeactivated,
        "events/devices/{guid}/deactivated",
        false
    ),
    kind!(ServiceStatus, "{service}/{instance}/status", true),
    kind!(PowerActionRequest, "commands/devices/{guid}/power", false),
    kind!(CommandReply, "replies/{client}", false),
];

/// The kind with this CloudEvents type.
pub fn kind_by_type(ty: &str) -> Option<&'static EventKind> {
    CATALOG.iter().find(|kind| kind.ty == ty)
}
