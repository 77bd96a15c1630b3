//! Any event's data as JSON (the protobuf JSON mapping), for people and dashboards: `openamt events --json`.

use std::sync::OnceLock;

use prost_reflect::{DescriptorPool, DynamicMessage};

static DESCRIPTORS: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/descriptors.bin"));

#[derive(Debug, thiserror::Error)]
pub enum JsonError {
    #[error("unknown event type {0:?}")]
    UnknownType(String),
    #[error("payload of {ty} is not a valid {message}: {source}")]
    Decode {
        ty: String,
        message: String,
        source: prost::DecodeError,
    },
    #[error("cannot render {0} as JSON: {1}")]
    Render(String, serde_json::Error),
}

fn pool() -> &'static DescriptorPool {
    static POOL: OnceLock<DescriptorPool> = OnceLock::new();
    POOL.get_or_init(|| {
        // The descriptor set is produced by this crate's build script from the same .proto files the types
        // come from, so decoding it cannot fail unless the build itself is broken.
        DescriptorPool::decode(DESCRIPTORS).expect("descriptor set compiled by build.rs")
    })
}

/// Decodes the payload of an event of CloudEvents type `ty` into its protobuf JSON form.
pub fn to_json(ty: &str, payload: &[u8]) -> Result<serde_json::Value, JsonError> {
    let kind = crate::kind_by_type(ty).ok_or_else(|| JsonError::UnknownType(ty.to_owned()))?;
    let descriptor = pool()
        .get_message_by_name(kind.message)
        .ok_or_else(|| JsonError::UnknownType(ty.to_owned()))?;
    let message =
        DynamicMessage::decode(descriptor, payload).map_err(|source| JsonError::Decode {
            ty: ty.to_owned(),
            message: kind.message.to_owned(),
            source,
        })?;
    // Every field is printed, defaults included, so each event of a type has the same shape.
    let options = prost_reflect::SerializeOptions::new().skip_default_fields(false);
    message
        .serialize_with_options(serde_json::value::Serializer, &options)
        .map_err(|e| JsonError::Render(kind.message.to_owned(), e))
}

/// The descriptor of a message by its full name (for the contract test against asyncapi.yaml).
pub fn message_descriptor(name: &str) -> Option<prost_reflect::MessageDescriptor> {
    pool().get_message_by_name(name)
}

/// Names of every message in the descriptor set.
pub fn message_names() -> Vec<String> {
    pool()
        .all_messages()
        .map(|m| m.full_name().to_owned())
        .collect()
}

#[cfg(test)]
mod tests {
    use prost::Message;

    use super::*;
    use crate::{Event, proto};

    #[test]
    fn every_catalogued_message_is_in_the_descriptor_set() {
        let names = message_names();
        for kind in crate::CATALOG {
            assert!(
                names.iter().any(|n| n == kind.message),
                "{} missing",
                kind.message
            );
        }
    }

    #[test]
    fn renders_an_event_with_the_protobuf_json_mapping() {
        let event = proto::DeviceDisconnected {
            guid: "4c4c4544-004b-4210-8033-b6c04f504633".into(),
            mps_instance: "mps-1".into(),
            reason: proto::DisconnectReason::IdleTimeout as i32,
            connected_for_ms: 1500,
            ..Default::default()
        };
        let json = to_json(proto::DeviceDisconnected::TYPE, &event.encode_to_vec()).unwrap();
        assert_eq!(json["guid"], "4c4c4544-004b-4210-8033-b6c04f504633");
        assert_eq!(json["mpsInstance"], "mps-1");
        assert_eq!(json["reason"], "DISCONNECT_REASON_IDLE_TIMEOUT");
        assert_eq!(json["connectedForMs"], "1500");
    }

    #[test]
    fn garbage_and_unknown_types_are_errors_not_panics() {
        assert!(matches!(
            to_json("io.example.nothing", b""),
            Err(JsonError::UnknownType(_))
        ));
        assert!(matches!(
            to_json(proto::DeviceConnected::TYPE, &[0xff, 0xff, 0xff]),
            Err(JsonError::Decode { .. })
        ));
    }
}
