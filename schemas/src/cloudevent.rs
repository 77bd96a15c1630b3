//! The CloudEvents MQTT binding in binary content mode: the event's attributes travel as MQTT 5 user
//! properties and its data (a protobuf message) is the PUBLISH payload, with content type
//! `application/protobuf`.

use time::{OffsetDateTime, format_description::well_known::Rfc3339};

pub const SPEC_VERSION: &str = "1.0";
pub const CONTENT_TYPE: &str = "application/protobuf";

/// The attributes of one event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CloudEvent {
    /// Unique per event; consumers drop a second delivery of the same id.
    pub id: String,
    /// Who published it, e.g. `/openamt/mps/mps-1`.
    pub source: String,
    /// What it is, e.g. `io.openamt.device.connected.v1` (see `Event::TYPE`).
    pub ty: String,
    pub time: Option<OffsetDateTime>,
    /// The device GUID for device events.
    pub subject: Option<String>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum EnvelopeError {
    #[error("CloudEvents attribute {0:?} is missing")]
    Missing(&'static str),
    #[error("unsupported CloudEvents specversion {0:?} (expected 1.0)")]
    SpecVersion(String),
    #[error("CloudEvents time {0:?} is not RFC 3339")]
    Time(String),
}

impl CloudEvent {
    /// A new event with a fresh time-ordered id and the current time.
    pub fn new(source: &str, ty: &str) -> Self {
        CloudEvent {
            id: uuid::Uuid::now_v7().to_string(),
            source: source.to_owned(),
            ty: ty.to_owned(),
            time: Some(OffsetDateTime::now_utc()),
            subject: None,
        }
    }

    pub fn with_subject(mut self, subject: impl Into<String>) -> Self {
        self.subject = Some(subject.into());
        self
    }

    /// The MQTT 5 user properties carrying these attributes.
    pub fn to_user_properties(&self) -> Vec<(String, String)> {
        let mut properties = vec![
            ("specversion".to_owned(), SPEC_VERSION.to_owned()),
            ("id".to_owned(), self.id.clone()),
            ("source".to_owned(), self.source.clone()),
            ("type".to_owned(), self.ty.clone()),
        ];
        if let Some(time) = self.time.and_then(|t| t.format(&Rfc3339).ok()) {
            properties.push(("time".to_owned(), time));
        }
        if let Some(subject) = &self.subject {
            properties.push(("subject".to_owned(), subject.clone()));
        }
        properties
    }

    /// Reads the attributes back from user properties; unknown properties are ignored.
    pub fn from_user_properties<'a>(
        properties: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, EnvelopeError> {
        let (mut spec, mut id, mut source, mut ty, mut time, mut subject) =
            (None, None, None, None, None, None);
        for (name, value) in properties {
            let slot = match name {
                "specversion" => &mut spec,
                "id" => &mut id,
                "source" => &mut source,
                "type" => &mut ty,
                "time" => &mut time,
                "subject" => &mut subject,
                _ => continue,
            };
            *slot = Some(value.to_owned());
        }
        match spec {
            None => return Err(EnvelopeError::Missing("specversion")),
            Some(v) if v != SPEC_VERSION => return Err(EnvelopeError::SpecVersion(v)),
            Some(_) => {}
        }
        let time = time
            .map(|t| OffsetDateTime::parse(&t, &Rfc3339).map_err(|_| EnvelopeError::Time(t)))
            .transpose()?;
        Ok(CloudEvent {
            id: id.ok_or(EnvelopeError::Missing("id"))?,
            source: source.ok_or(EnvelopeError::Missing("source"))?,
            ty: ty.ok_or(EnvelopeError::Missing("type"))?,
            time,
            subject,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn borrowed(props: &[(String, String)]) -> Vec<(&str, &str)> {
        props
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }

    #[test]
    fn attributes_round_trip_through_user_properties() {
        let event = CloudEvent::new("/openamt/mps/a", "io.openamt.device.connected.v1")
            .with_subject("4c4c4544-004b-4210-8033-b6c04f504633");
        let props = event.to_user_properties();
        let names: Vec<&str> = props.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(
            names,
            ["specversion", "id", "source", "type", "time", "subject"]
        );
        let back = CloudEvent::from_user_properties(borrowed(&props)).unwrap();
        assert_eq!(back.id, event.id);
        assert_eq!(back.subject, event.subject);
        // RFC 3339 keeps the full precision of the time.
        assert_eq!(back.time, event.time);
    }

    #[test]
    fn ids_are_unique() {
        let a = CloudEvent::new("s", "t");
        let b = CloudEvent::new("s", "t");
        assert_ne!(a.id, b.id);
    }

    #[test]
    fn missing_or_wrong_attributes_are_errors() {
        let full = CloudEvent::new("s", "t").to_user_properties();
        for dropped in ["specversion", "id", "source", "type"] {
            let props: Vec<_> = full.iter().filter(|(k, _)| k != dropped).cloned().collect();
            assert_eq!(
                CloudEvent::from_user_properties(borrowed(&props)),
                Err(EnvelopeError::Missing(dropped))
            );
        }
        let mut old = full.clone();
        old[0].1 = "0.3".into();
        assert!(matches!(
            CloudEvent::from_user_properties(borrowed(&old)),
            Err(EnvelopeError::SpecVersion(_))
        ));
        let mut bad_time = full.clone();
        bad_time[4].1 = "yesterday".into();
        assert!(matches!(
            CloudEvent::from_user_properties(borrowed(&bad_time)),
            Err(EnvelopeError::Time(_))
        ));
    }
}
