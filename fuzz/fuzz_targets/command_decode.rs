//! What MPS makes of an MQTT publish from the broker: the bus turns topic, user properties and payload
//! into a `Delivery` (`Delivery::received`, CloudEvents attributes from the user properties), the
//! command consumer parses the topic (`Topics::parse`) and decodes the power command
//! (`requested_power_action`: CloudEvents type check, protobuf decode, action check). The other
//! messages MPS consumes from the bus (presence, service status, activation events) go through the
//! same `Delivery::decode`, so each is decoded too.
//!
//! Topic and attributes can be generated well-formed (a command topic with some GUID, a complete
//! attribute set of a type MPS consumes) with fuzzed properties after them (later ones win), so the
//! fuzzer spends its time in the protobuf payload and in the edges of each parser rather than on
//! guessing `io.openamt.command.power.v1`.
//!
//! Checks beyond "no panic": a parsed topic renders back to a topic that parses to the same value;
//! attributes the bus accepted survive a trip through user properties; a delivery carries attributes
//! exactly when its properties hold `specversion` and parse; a decoded message re-encodes to itself and
//! only under its own CloudEvents type; an accepted power command is a valid power action, and a
//! refused one gets an INVALID reply with a reason.
#![no_main]

use broker::Delivery;
use bytes::Bytes;
use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use mps::events::commands::{is_power_action, requested_power_action};
use schemas::proto::{
    ActivationEvent, DeviceDeactivated, DevicePresence, DeviceUpdated, PowerActionRequest,
    ServiceStatus, command_reply::Status,
};
use schemas::{CloudEvent, Event, Guid, Topic, Topics};

#[derive(Arbitrary, Debug)]
enum TopicInput<'a> {
    /// Any bytes as the MQTT topic.
    Raw(&'a [u8]),
    /// `{root}/commands/devices/{guid}/{command}`, the GUID in upper or lower case.
    Command {
        guid: [u8; 16],
        upper_case: bool,
        command: &'a str,
    },
}

/// The event types MPS consumes from the bus.
#[derive(Arbitrary, Debug, Clone, Copy)]
enum Kind {
    PowerAction,
    Presence,
    ServiceStatus,
    Activation,
    Deactivated,
    Updated,
}

impl Kind {
    fn event_type(self) -> &'static str {
        match self {
            Kind::PowerAction => PowerActionRequest::TYPE,
            Kind::Presence => DevicePresence::TYPE,
            Kind::ServiceStatus => ServiceStatus::TYPE,
            Kind::Activation => ActivationEvent::TYPE,
            Kind::Deactivated => DeviceDeactivated::TYPE,
            Kind::Updated => DeviceUpdated::TYPE,
        }
    }
}

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    topic: TopicInput<'a>,
    /// A complete, valid attribute set of this type before the fuzzed properties.
    attributes: Option<Kind>,
    user_properties: Vec<(String, String)>,
    payload: &'a [u8],
}

fuzz_target!(|input: Input<'_>| {
    let topics = Topics::default();
    let topic = match input.topic {
        TopicInput::Raw(bytes) => bytes.to_vec(),
        TopicInput::Command {
            guid,
            upper_case,
            command,
        } => {
            let mut guid = Guid::from_uuid(uuid::Uuid::from_bytes(guid)).to_string();
            if upper_case {
                guid.make_ascii_uppercase();
            }
            format!("{}/commands/devices/{guid}/{command}", topics.root()).into_bytes()
        }
    };
    let mut properties: Vec<(String, String)> = match input.attributes {
        Some(kind) => CloudEvent::new("/openamt/fuzz/1", kind.event_type())
            .with_subject("4c4c4544-004b-4210-8033-b6c04f504633")
            .to_user_properties(),
        None => Vec::new(),
    };
    properties.extend(input.user_properties);

    let delivery = Delivery::received(&topic, &properties, Bytes::copy_from_slice(input.payload));
    check_attributes(&delivery, &properties);
    check_topic(&topics, &delivery.topic);
    check_power_command(&delivery);

    // The other events MPS consumes decode through the same path.
    check_decode::<DevicePresence>(&delivery);
    check_decode::<ServiceStatus>(&delivery);
    check_decode::<ActivationEvent>(&delivery);
    check_decode::<DeviceDeactivated>(&delivery);
    check_decode::<DeviceUpdated>(&delivery);
});

fn check_attributes(delivery: &Delivery, properties: &[(String, String)]) {
    let parsed =
        CloudEvent::from_user_properties(properties.iter().map(|(k, v)| (k.as_str(), v.as_str())));
    let has_spec = properties.iter().any(|(k, _)| k == "specversion");
    assert_eq!(delivery.event.is_some(), has_spec && parsed.is_ok());
    if let Some(event) = &delivery.event {
        let again = CloudEvent::from_user_properties(
            event
                .to_user_properties()
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str())),
        );
        assert_eq!(
            again.as_ref(),
            Ok(event),
            "attributes changed in a round trip"
        );
    }
}

fn check_topic(topics: &Topics, topic: &str) {
    let Ok(parsed) = topics.parse(topic) else {
        return;
    };
    let rendered = topics.render(&parsed);
    assert_eq!(
        topics.parse(&rendered),
        Ok(parsed.clone()),
        "{topic} → {rendered}"
    );
    // A power command's topic names a device, which is all MPS takes from it.
    if let Topic::Command(guid, schemas::Command::Power) = parsed {
        assert!(topic.eq_ignore_ascii_case(&rendered));
        assert_eq!(guid.to_string().parse::<Guid>(), Ok(guid));
    }
}

fn check_power_command(delivery: &Delivery) {
    match requested_power_action(delivery) {
        Ok(action) => {
            assert!(is_power_action(action));
            let request =
                check_decode::<PowerActionRequest>(delivery).expect("accepted command decodes");
            assert_eq!(i64::from(request.action), action);
        }
        Err(reply) => {
            assert_eq!(reply.status, Status::Invalid as i32);
            assert!(!reply.error.is_empty());
        }
    }
}

/// Decodes the delivery as `E` the way every consumer does, checking that a success means the right
/// CloudEvents type and a message that re-encodes to itself.
fn check_decode<E: Event + PartialEq + std::fmt::Debug>(delivery: &Delivery) -> Option<E> {
    let message = delivery.decode::<E>().ok()?;
    assert_eq!(
        delivery.event.as_ref().map(|e| e.ty.as_str()),
        Some(E::TYPE)
    );
    let again = E::decode(message.encode_to_vec().as_slice()).expect("re-encoded message decodes");
    assert_eq!(again, message);
    Some(message)
}
