//! The Management Presence Server: CIRA tunnels from AMT devices, WS-Man over them, the device
//! registry and the Open AMT REST API.
//!
//! - [`serve`] runs an instance until its shutdown token fires; [`start`] binds (port 0 works) and
//!   returns the addresses, for tests and the embedded `openamt up`.
//! - [`Mps`] is the shared core: REST and the bus call the same functions.
//! - [`cira::Connections::subscribe`] is the feed of connect/disconnect facts for the bus publisher.
//! - [`events`] puts the instance on the bus when [`MpsDeps::bus`] is given; [`relay`] is the
//!   KVM/SOL/IDER WebSocket relay at `/relay/webrelay.ashx`.
//! - `bench` (feature `bench`) measures an instance against a simulated fleet in another process.

pub mod amt;
#[cfg(feature = "bench")]
pub mod bench;
pub mod cira;
pub mod config;
pub mod events;
pub mod registry;
pub mod relay;
pub mod rest;
mod server;
mod service;
pub mod throttle;
pub mod tls;
pub mod wsman_client;

pub use config::{GlobalCiraCredentials, MpsConfig};
pub use server::{MpsDeps, RunningMps, serve, start};
pub use service::{Mps, PowerError, Registered, RemoveError};

/// Compares secrets in time that depends on their length only, not on where they differ.
fn constant_time_eq(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}
