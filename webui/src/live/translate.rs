//! From a bus message to the JSON a browser receives: what happened (`kind`), to which device or
//! service, the CloudEvents attributes, and the event's data in the protobuf JSON mapping
//! (`schemas::to_json`, camelCase fields, enum names, RFC 3339 times).

use schemas::{CloudEvent, DeviceEvent, Topic, Topics};
use serde_json::{Map, Value, json};
use time::format_description::well_known::Rfc3339;

/// What the stream tells browsers about, by topic.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Presence,
    Connected,
    Disconnected,
    Activation,
    Deactivated,
    Updated,
    Status,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Presence => "presence",
            Kind::Connected => "connected",
            Kind::Disconnected => "disconnected",
            Kind::Activation => "activation",
            Kind::Deactivated => "deactivated",
            Kind::Updated => "updated",
            Kind::Status => "status",
        }
    }
}

/// One message for browsers.
#[derive(Debug, Clone, PartialEq)]
pub struct LiveEvent {
    pub kind: Kind,
    /// The device, for device topics.
    pub guid: Option<String>,
    /// `mps/mps-1` style key, for status topics.
    pub service: Option<(String, String)>,
    /// The CloudEvents id (absent for a cleared retained message).
    pub id: Option<String>,
    /// The whole JSON object sent to browsers.
    pub json: Value,
}

#[derive(Debug, thiserror::Error)]
pub enum TranslateError {
    #[error(transparent)]
    Topic(#[from] schemas::TopicError),
    #[error("message on {0} carries no CloudEvents attributes")]
    NotAnEvent(String),
    #[error(transparent)]
    Data(#[from] schemas::JsonError),
}

/// Translates one message; `Ok(None)` for topics browsers are not told about (commands, replies).
pub fn translate(
    topics: &Topics,
    topic: &str,
    event: Option<&CloudEvent>,
    payload: &[u8],
    retained: bool,
) -> Result<Option<LiveEvent>, TranslateError> {
    let (kind, guid, service) = match topics.parse(topic)? {
        Topic::Presence(g) => (Kind::Presence, Some(g.to_string()), None),
        Topic::DeviceEvent(g, e) => {
            let kind = match e {
                DeviceEvent::Connected => Kind::Connected,
                DeviceEvent::Disconnected => Kind::Disconnected,
                DeviceEvent::Activation => Kind::Activation,
                DeviceEvent::Deactivated => Kind::Deactivated,
                DeviceEvent::Updated => Kind::Updated,
            };
            (kind, Some(g.to_string()), None)
        }
        Topic::Status { service, instance } => {
            (Kind::Status, None, Some((service.to_string(), instance)))
        }
        Topic::Command(..) | Topic::Reply { .. } => return Ok(None),
    };
    let mut object = Map::new();
    object.insert("kind".into(), kind.as_str().into());
    object.insert("topic".into(), topic.into());
    if let Some(guid) = &guid {
        object.insert("guid".into(), guid.as_str().into());
    }
    if let Some((service, instance)) = &service {
        object.insert("service".into(), service.as_str().into());
        object.insert("instance".into(), instance.as_str().into());
    }
    object.insert("retained".into(), retained.into());
    let id = match event {
        Some(event) => {
            object.insert("id".into(), event.id.as_str().into());
            object.insert("type".into(), event.ty.as_str().into());
            object.insert("source".into(), event.source.as_str().into());
            let time = event.time.and_then(|t| t.format(&Rfc3339).ok());
            object.insert("time".into(), time.map(Value::from).unwrap_or(Value::Null));
            object.insert("data".into(), schemas::to_json(&event.ty, payload)?);
            Some(event.id.clone())
        }
        // Clearing a retained topic (an empty payload) removes that device's or service's state.
        None if payload.is_empty() && matches!(kind, Kind::Presence | Kind::Status) => {
            object.insert("cleared".into(), true.into());
            object.insert("data".into(), json!(null));
            None
        }
        None => return Err(TranslateError::NotAnEvent(topic.to_owned())),
    };
    Ok(Some(LiveEvent {
        kind,
        guid,
        service,
        id,
        json: Value::Object(object),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use prost::Message;
    use schemas::{Event, proto};

    const GUID: &str = "4c4c4544-004b-4210-8033-b6c04f504633";

    fn event<E: Event>(subject: Option<&str>) -> CloudEvent {
        let mut e = CloudEvent::new("/openamt/mps/mps-1", E::TYPE);
        e.subject = subject.map(str::to_owned);
        e
    }

    #[test]
    fn a_connected_event_becomes_camel_case_json() {
        let topics = Topics::default();
        let data = proto::DeviceConnected {
            guid: GUID.into(),
            mps_instance: "mps-1".into(),
            hostname: "host-7".into(),
            connected_at: Some(schemas::now()),
            ..Default::default()
        };
        let e = event::<proto::DeviceConnected>(Some(GUID));
        let live = translate(
            &topics,
            &format!("openamt/v1/events/devices/{GUID}/connected"),
            Some(&e),
            &data.encode_to_vec(),
            false,
        )
        .unwrap()
        .unwrap();
        assert_eq!(live.kind, Kind::Connected);
        assert_eq!(live.guid.as_deref(), Some(GUID));
        assert_eq!(live.id.as_deref(), Some(e.id.as_str()));
        let j = &live.json;
        assert_eq!(j["kind"], "connected");
        assert_eq!(j["type"], "io.openamt.device.connected.v1");
        assert_eq!(j["data"]["mpsInstance"], "mps-1");
        assert_eq!(j["data"]["hostname"], "host-7");
        assert!(j["data"]["connectedAt"].is_string(), "{j}");
        assert!(j["time"].is_string());
    }

    #[test]
    fn activation_and_status_keep_their_enums_readable() {
        let topics = Topics::default();
        let data = proto::ActivationEvent {
            guid: GUID.into(),
            phase: proto::ActivationPhase::Failed as i32,
            control_mode: proto::ControlMode::Ccm as i32,
            profile: "p1".into(),
            reason: "AMT password is wrong".into(),
            ..Default::default()
        };
        let live = translate(
            &topics,
            &format!("openamt/v1/events/devices/{GUID}/activation"),
            Some(&event::<proto::ActivationEvent>(Some(GUID))),
            &data.encode_to_vec(),
            false,
        )
        .unwrap()
        .unwrap();
        assert_eq!(live.json["data"]["phase"], "ACTIVATION_PHASE_FAILED");
        assert_eq!(live.json["data"]["controlMode"], "CONTROL_MODE_CCM");
        assert_eq!(live.json["data"]["reason"], "AMT password is wrong");

        let status = proto::ServiceStatus {
            service: "mps".into(),
            instance: "mps-1".into(),
            state: proto::ServiceState::Online as i32,
            ..Default::default()
        };
        let live = translate(
            &topics,
            "openamt/v1/mps/mps-1/status",
            Some(&event::<proto::ServiceStatus>(None)),
            &status.encode_to_vec(),
            true,
        )
        .unwrap()
        .unwrap();
        assert_eq!(live.kind, Kind::Status);
        assert_eq!(live.service, Some(("mps".into(), "mps-1".into())));
        assert_eq!(live.json["data"]["state"], "SERVICE_STATE_ONLINE");
        assert_eq!(live.json["retained"], true);
    }

    #[test]
    fn commands_are_not_forwarded_and_garbage_is_an_error() {
        let topics = Topics::default();
        let cmd = proto::PowerActionRequest {
            action: 8,
            use_sol: false,
        };
        assert!(
            translate(
                &topics,
                &format!("openamt/v1/commands/devices/{GUID}/power"),
                Some(&event::<proto::PowerActionRequest>(Some(GUID))),
                &cmd.encode_to_vec(),
                false
            )
            .unwrap()
            .is_none()
        );
        let topic = format!("openamt/v1/devices/{GUID}/presence");
        let e = event::<proto::DevicePresence>(Some(GUID));
        assert!(translate(&topics, &topic, Some(&e), &[0xff, 0xff, 0xff], false).is_err());
        assert!(translate(&topics, &topic, None, b"{}", false).is_err());
        assert!(translate(&topics, "elsewhere/x", Some(&e), &[], false).is_err());
    }

    #[test]
    fn an_empty_retained_payload_clears_presence() {
        let topics = Topics::default();
        let live = translate(
            &topics,
            &format!("openamt/v1/devices/{GUID}/presence"),
            None,
            &[],
            false,
        )
        .unwrap()
        .unwrap();
        assert_eq!(live.json["cleared"], true);
        assert_eq!(live.id, None);
    }
}
