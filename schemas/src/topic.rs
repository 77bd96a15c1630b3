//! The MQTT topic tree (DESIGN.md), built and parsed in one place so no service spells a topic by hand.
//!
//! ```text
//! {root}/devices/{guid}/presence                          retained DevicePresence
//! {root}/events/devices/{guid}/connected|disconnected     DeviceConnected / DeviceDisconnected
//! {root}/events/devices/{guid}/activation|deactivated     ActivationEvent / DeviceDeactivated
//! {root}/events/devices/{guid}/updated                    DeviceUpdated
//! {root}/{service}/{instance}/status                      retained ServiceStatus, OFFLINE as last will
//! {root}/commands/devices/{guid}/{command}                PowerActionRequest, ... (MQTT 5 request/response)
//! {root}/replies/{client}                                 CommandReply, to the requester's response topic
//! ```

use std::{fmt, str::FromStr};

use crate::guid::Guid;

/// Events published about one device.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DeviceEvent {
    Connected,
    Disconnected,
    Activation,
    Deactivated,
    Updated,
}

/// Services that publish a retained status.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Service {
    Mps,
    Rps,
    Router,
    Webui,
}

/// Commands a device's MPS executes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Command {
    Power,
}

/// One concrete topic.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Topic {
    Presence(Guid),
    DeviceEvent(Guid, DeviceEvent),
    Status { service: Service, instance: String },
    Command(Guid, Command),
    Reply { client: String },
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TopicError {
    #[error("topic {0:?} is not under the root {1:?}")]
    OutsideRoot(String, String),
    #[error("topic {0:?} is not part of the openamt topic tree")]
    Unknown(String),
    #[error("topic {topic:?} names a bad device: {source}")]
    BadGuid {
        topic: String,
        source: crate::guid::GuidError,
    },
    #[error("{0:?} cannot be one topic level (empty, or contains '/', '+', '#' or NUL)")]
    BadLevel(String),
}

macro_rules! names {
    ($ty:ident { $($variant:ident = $name:literal),* $(,)? }) => {
        impl $ty {
            pub const ALL: &'static [$ty] = &[$($ty::$variant),*];

            pub fn as_str(self) -> &'static str {
                match self { $($ty::$variant => $name),* }
            }
        }

        impl FromStr for $ty {
            type Err = ();
            fn from_str(s: &str) -> Result<Self, ()> {
                match s { $($name => Ok($ty::$variant),)* _ => Err(()) }
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

names!(DeviceEvent { Connected = "connected", Disconnected = "disconnected", Activation = "activation", Deactivated = "deactivated", Updated = "updated" });
names!(Service { Mps = "mps", Rps = "rps", Router = "router", Webui = "webui" });
names!(Command { Power = "power" });

/// Builds and parses topics under one root (`openamt/v1` unless configured otherwise).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Topics {
    root: String,
}

impl Default for Topics {
    fn default() -> Self {
        Topics {
            root: Topics::DEFAULT_ROOT.to_owned(),
        }
    }
}

/// Checks that `s` can stand as one topic level.
pub(crate) fn check_level(s: &str) -> Result<(), TopicError> {
    if s.is_empty() || s.contains(['/', '+', '#', '\0']) {
        Err(TopicError::BadLevel(s.to_owned()))
    } else {
        Ok(())
    }
}

impl Topics {
    pub const DEFAULT_ROOT: &'static str = "openamt/v1";

    /// A root of one or more levels without wildcards, e.g. `openamt/v1` or `site-a/openamt/v1`.
    pub fn new(root: &str) -> Result<Self, TopicError> {
        root.split('/').try_for_each(check_level)?;
        Ok(Topics {
            root: root.to_owned(),
        })
    }

    pub fn root(&self) -> &str {
        &self.root
    }

    /// The topic string. Instance and client names must be valid levels; `Topic` values built by `parse`
    /// always are, and `status`/`reply` below check theirs.
    pub fn render(&self, topic: &Topic) -> String {
        let root = &self.root;
        match topic {
            Topic::Presence(guid) => format!("{root}/devices/{guid}/presence"),
            Topic::DeviceEvent(guid, event) => format!("{root}/events/devices/{guid}/{event}"),
            Topic::Status { service, instance } => format!("{root}/{service}/{instance}/status"),
            Topic::Command(guid, command) => format!("{root}/commands/devices/{guid}/{command}"),
            Topic::Reply { client } => format!("{root}/replies/{client}"),
        }
    }

    /// The status topic of a service instance, checking the instance name.
    pub fn status(&self, service: Service, instance: &str) -> Result<Topic, TopicError> {
        check_level(instance)?;
        Ok(Topic::Status {
            service,
            instance: instance.to_owned(),
        })
    }

    /// The reply topic of a requesting client, checking the client name.
    pub fn reply(&self, client: &str) -> Result<Topic, TopicError> {
        check_level(client)?;
        Ok(Topic::Reply {
            client: client.to_owned(),
        })
    }

    /// Parses a topic received from the broker. Anything outside the tree is an error, never a guess.
    pub fn parse(&self, topic: &str) -> Result<Topic, TopicError> {
        let rest = topic
            .strip_prefix(self.root.as_str())
            .and_then(|rest| rest.strip_prefix('/'))
            .ok_or_else(|| TopicError::OutsideRoot(topic.to_owned(), self.root.clone()))?;
        let unknown = || TopicError::Unknown(topic.to_owned());
        let guid = |s: &str| {
            s.parse::<Guid>().map_err(|source| TopicError::BadGuid {
                topic: topic.to_owned(),
                source,
            })
        };
        let levels: Vec<&str> = rest.split('/').collect();
        match levels.as_slice() {
            ["devices", g, "presence"] => Ok(Topic::Presence(guid(g)?)),
            ["events", "devices", g, event] => {
                let event = event.parse().map_err(|_| unknown())?;
                Ok(Topic::DeviceEvent(guid(g)?, event))
            }
            ["commands", "devices", g, command] => {
                let command = command.parse().map_err(|_| unknown())?;
                Ok(Topic::Command(guid(g)?, command))
            }
            ["replies", client] => {
                check_level(client)?;
                Ok(Topic::Reply {
                    client: (*client).to_owned(),
                })
            }
            [service, instance, "status"] => {
                let service = service.parse().map_err(|_| unknown())?;
                check_level(instance)?;
                Ok(Topic::Status {
                    service,
                    instance: (*instance).to_owned(),
                })
            }
            _ => Err(unknown()),
        }
    }

    /// Every device event of every device.
    pub fn all_device_events(&self) -> String {
        format!("{}/events/devices/+/+", self.root)
    }

    /// One kind of device event for every device.
    pub fn device_events(&self, event: DeviceEvent) -> String {
        format!("{}/events/devices/+/{event}", self.root)
    }

    /// The retained presence of every device.
    pub fn all_presence(&self) -> String {
        format!("{}/devices/+/presence", self.root)
    }

    /// The retained status of every instance of one service.
    pub fn all_status(&self, service: Service) -> String {
        format!("{}/{service}/+/status", self.root)
    }

    /// One command for every device.
    pub fn all_commands(&self, command: Command) -> String {
        format!("{}/commands/devices/+/{command}", self.root)
    }

    /// The whole tree.
    pub fn everything(&self) -> String {
        format!("{}/#", self.root)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GUID: &str = "4c4c4544-004b-4210-8033-b6c04f504633";

    fn every_topic() -> Vec<Topic> {
        let guid: Guid = GUID.parse().unwrap();
        let mut topics = vec![Topic::Presence(guid)];
        topics.extend(
            DeviceEvent::ALL
                .iter()
                .map(|e| Topic::DeviceEvent(guid, *e)),
        );
        topics.extend(Service::ALL.iter().map(|s| Topic::Status {
            service: *s,
            instance: "mps-1".into(),
        }));
        topics.extend(Command::ALL.iter().map(|c| Topic::Command(guid, *c)));
        topics.push(Topic::Reply {
            client: "rps-7f".into(),
        });
        topics
    }

    #[test]
    fn every_topic_round_trips() {
        for topics in [Topics::default(), Topics::new("site-a/openamt/v1").unwrap()] {
            for topic in every_topic() {
                let rendered = topics.render(&topic);
                assert_eq!(topics.parse(&rendered), Ok(topic), "{rendered}");
            }
        }
    }

    #[test]
    fn renders_the_documented_strings() {
        let topics = Topics::default();
        let guid: Guid = GUID.parse().unwrap();
        assert_eq!(
            topics.render(&Topic::Presence(guid)),
            format!("openamt/v1/devices/{GUID}/presence")
        );
        assert_eq!(
            topics.render(&Topic::DeviceEvent(guid, DeviceEvent::Connected)),
            format!("openamt/v1/events/devices/{GUID}/connected")
        );
        assert_eq!(
            topics.render(&topics.status(Service::Mps, "mps-a").unwrap()),
            "openamt/v1/mps/mps-a/status"
        );
        assert_eq!(
            topics.render(&Topic::Command(guid, Command::Power)),
            format!("openamt/v1/commands/devices/{GUID}/power")
        );
    }

    #[test]
    fn guids_in_topics_are_normalised_to_lower_case() {
        let topics = Topics::default();
        let upper = format!("openamt/v1/devices/{}/presence", GUID.to_uppercase());
        let parsed = topics.parse(&upper).unwrap();
        assert_eq!(
            topics.render(&parsed),
            format!("openamt/v1/devices/{GUID}/presence")
        );
    }

    #[test]
    fn rejects_bad_guids_and_unknown_topics() {
        let topics = Topics::default();
        assert!(matches!(
            topics.parse("openamt/v1/devices/not-a-guid/presence"),
            Err(TopicError::BadGuid { .. })
        ));
        assert!(matches!(
            topics.parse(&format!("openamt/v1/events/devices/{GUID}/exploded")),
            Err(TopicError::Unknown(_))
        ));
        assert!(matches!(
            topics.parse("openamt/v1/kettle/k1/status"),
            Err(TopicError::Unknown(_))
        ));
        assert!(matches!(
            topics.parse(&format!("openamt/v1/devices/{GUID}/presence/extra")),
            Err(TopicError::Unknown(_))
        ));
        assert!(matches!(
            topics.parse(&format!("other/v1/devices/{GUID}/presence")),
            Err(TopicError::OutsideRoot(..))
        ));
        assert!(matches!(
            topics.parse("openamt/v1"),
            Err(TopicError::OutsideRoot(..))
        ));
        assert!(topics.parse("openamt/v1/mps//status").is_err());
    }

    #[test]
    fn rejects_names_that_are_not_one_level() {
        let topics = Topics::default();
        for bad in ["", "a/b", "+", "#", "x+y"] {
            assert!(topics.status(Service::Mps, bad).is_err(), "{bad:?}");
            assert!(topics.reply(bad).is_err(), "{bad:?}");
        }
        assert!(Topics::new("openamt/+").is_err());
        assert!(Topics::new("/openamt").is_err());
    }
}
