//! The backbone: the MQTT broker `openamt up` embeds, the Mosquitto configuration production uses
//! (`broker/mosquitto/`), and the bus client every service publishes and subscribes with.

pub mod acl;
pub mod bench;
mod bus;
pub mod credentials;
pub mod embedded;
pub mod mosquitto;
pub mod outbox;
pub mod topic_filter;

pub use acl::{Access, Acl};
pub use bus::{
    BrokerUrl, BrokerUrlError, Bus, BusConfig, BusError, Delivery, DeliveryError, LastWill, Stored,
    Subscription,
};
pub use credentials::{Credentials, CredentialsError};
pub use embedded::{BrokerError, EmbeddedBroker, EmbeddedBrokerConfig};
pub use outbox::{OutboxConfig, OutboxRecord, database_unavailable};
