//! The MPS router (port 8003): an HTTP- and WebSocket-aware proxy in front of several MPS instances.
//!
//! It finds the device GUID in each request ([`target`]), learns which instance holds the device from
//! the bus's retained presence and instance status ([`learn`], [`table`]; no database lookup), and
//! forwards there. Requests that name no device go to any online instance, round robin. A device held
//! nowhere gets the reference MPS's 404; an instance whose last will (OFFLINE) arrives stops receiving
//! traffic at once.
//!
//! [`start`] binds (port 0 works) and returns the address; [`serve`] runs until shutdown.

#[cfg(feature = "bench")]
pub mod bench;
pub mod learn;
mod server;
pub mod table;
pub mod target;

pub use server::{RouterConfig, RouterError, RunningRouter, last_will, serve, start};
pub use table::{Holder, RoutingTable, Summary};
pub use target::{Target, classify};
