//! schemas/asyncapi.yaml documents the code's contract; this test fails as soon as the two disagree: a topic,
//! a message, a CloudEvents type, retention, or any field or enum value of a payload.

use prost_reflect::{Kind, MessageDescriptor};
use serde_yaml::Value;

fn document() -> Value {
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/asyncapi.yaml");
    let text = std::fs::read_to_string(path).expect("asyncapi.yaml beside the crate");
    serde_yaml::from_str(&text).expect("asyncapi.yaml is YAML")
}

/// Follows a local `$ref` such as `#/components/messages/DevicePresence`.
fn resolve<'a>(doc: &'a Value, value: &'a Value) -> &'a Value {
    let Some(reference) = value.get("$ref").and_then(Value::as_str) else {
        return value;
    };
    let path = reference.strip_prefix("#/").expect("local reference");
    let target = path.split('/').fold(doc, |node, key| &node[key]);
    assert!(!target.is_null(), "dangling reference {reference}");
    target
}

fn channels(doc: &Value) -> Vec<(&str, &Value)> {
    doc["channels"]
        .as_mapping()
        .expect("channels")
        .iter()
        .map(|(name, channel)| (name.as_str().expect("channel name"), channel))
        .collect()
}

#[test]
fn the_document_is_asyncapi_3() {
    assert_eq!(document()["asyncapi"].as_str(), Some("3.0.0"));
}

#[test]
fn every_catalogued_kind_is_documented_with_its_type_message_and_retention() {
    let doc = document();
    for kind in schemas::CATALOG {
        let address = format!("{}/{}", schemas::Topics::DEFAULT_ROOT, kind.topic);
        let (name, channel) = channels(&doc)
            .into_iter()
            .find(|(_, c)| c["address"].as_str() == Some(address.as_str()))
            .unwrap_or_else(|| panic!("no channel documents {address}"));
        let messages = channel["messages"].as_mapping().expect("channel messages");
        assert_eq!(messages.len(), 1, "{name} should carry one message");
        let message = resolve(&doc, messages.values().next().unwrap());
        assert_eq!(
            message["x-cloudevents-type"].as_str(),
            Some(kind.ty),
            "{name}"
        );
        assert_eq!(
            message["x-protobuf-message"].as_str(),
            Some(kind.message),
            "{name}"
        );
        assert_eq!(
            message["contentType"].as_str(),
            Some(schemas::CONTENT_TYPE),
            "{name}"
        );

        let channel_ref = format!("#/channels/{name}");
        let operation = doc["operations"]
            .as_mapping()
            .expect("operations")
            .values()
            .find(|op| {
                op["channel"]["$ref"].as_str() == Some(channel_ref.as_str())
                    && op["bindings"]["mqtt"].is_mapping()
            })
            .unwrap_or_else(|| panic!("no operation with an mqtt binding on {name}"));
        assert_eq!(
            operation["bindings"]["mqtt"]["retain"].as_bool(),
            Some(kind.retained),
            "retention of {name}"
        );
        assert_eq!(
            operation["bindings"]["mqtt"]["qos"].as_u64(),
            Some(1),
            "{name}"
        );
    }
}

#[test]
fn every_documented_openamt_channel_is_in_the_catalog() {
    let doc = document();
    let prefix = format!("{}/", schemas::Topics::DEFAULT_ROOT);
    for (name, channel) in channels(&doc) {
        let address = channel["address"].as_str().expect("address");
        match address.strip_prefix(&prefix) {
            Some(topic) => assert!(
                schemas::CATALOG.iter().any(|k| k.topic == topic),
                "channel {name} ({address}) is documented but the code has no such topic"
            ),
            // Only the reference's JSON compatibility topics live outside the root.
            None => assert!(["mps/events", "rps/events"].contains(&address), "{address}"),
        }
    }
}

/// Checks a documented payload schema against the protobuf message, field by field.
fn check_schema(doc: &Value, schema: &Value, descriptor: &MessageDescriptor) {
    let properties = schema["properties"]
        .as_mapping()
        .unwrap_or_else(|| panic!("{} has no properties", descriptor.full_name()));
    let documented: Vec<&str> = properties.keys().filter_map(Value::as_str).collect();
    let fields: Vec<String> = descriptor
        .fields()
        .map(|f| f.json_name().to_owned())
        .collect();
    assert_eq!(
        documented,
        fields,
        "fields of {} (document vs .proto)",
        descriptor.full_name()
    );
    for field in descriptor.fields() {
        let property = resolve(doc, &properties[field.json_name()]);
        match field.kind() {
            Kind::Enum(enumeration) => {
                let values: Vec<&str> = property["enum"]
                    .as_sequence()
                    .unwrap_or_else(|| panic!("{} lists no enum values", field.full_name()))
                    .iter()
                    .filter_map(Value::as_str)
                    .collect();
                let names: Vec<String> =
                    enumeration.values().map(|v| v.name().to_owned()).collect();
                assert_eq!(values, names, "values of {}", field.full_name());
            }
            Kind::Message(nested) if nested.full_name() == "google.protobuf.Timestamp" => {
                assert_eq!(
                    property["format"].as_str(),
                    Some("date-time"),
                    "{}",
                    field.full_name()
                );
            }
            Kind::Message(nested) if !field.is_map() => {
                assert_eq!(
                    property["x-protobuf-message"].as_str(),
                    Some(nested.full_name()),
                    "{}",
                    field.full_name()
                );
                check_schema(doc, property, &nested);
            }
            _ => {}
        }
    }
}

#[test]
fn every_payload_documents_exactly_the_fields_of_its_protobuf_message() {
    let doc = document();
    let messages = doc["components"]["messages"]
        .as_mapping()
        .expect("components.messages");
    let mut checked = 0;
    for message in messages.values() {
        let Some(name) = message["x-protobuf-message"].as_str() else {
            continue;
        };
        let descriptor = schemas::message_descriptor(name)
            .unwrap_or_else(|| panic!("{name} is documented but not defined in the .proto files"));
        check_schema(&doc, &message["payload"], &descriptor);
        checked += 1;
    }
    assert_eq!(checked, schemas::CATALOG.len());
}
