//! The CIRA server: TLS listener on 4433, APF sessions, channels, and the connection registry.

pub mod channel;
pub mod client_hello;
pub mod connections;
pub(crate) mod listener;
pub(crate) mod session;
pub mod tls_stream;

pub use channel::{ChannelError, ChannelStream};
pub use connections::{
    ConnectionEvent, Connections, DeviceConnection, DisconnectCause, RedirectionFlags,
};
pub use tls_stream::{CiraStream, TlsInfo};
