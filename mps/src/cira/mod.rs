//! The CIRA server: TLS listener on 4433, APF sessions, channels, and the connection registry.

pub mod channel;
pub mod connections;
pub(crate) mod listener;
pub(crate) mod session;

pub use channel::{ChannelError, ChannelStream};
pub use connections::{
    ConnectionEvent, Connections, DeviceConnection, DisconnectCause, RedirectionFlags,
};
