//! The web UI: a live fleet dashboard and the Open AMT management pages.
//!
//! - [`serve`] runs the server until its shutdown token fires; [`start`] binds (port 0 works) and
//!   returns the address, for tests and the embedded `openamt up`.
//! - The UI itself is plain ES modules and CSS under `webui/ui/`, compiled into the binary
//!   ([`assets`]); it talks to MPS and RPS through the gateway on the same origin, exactly as the
//!   reference Sample Web UI does (login JWT as `Authorization: Bearer`, `If-Match` from `version`).
//! - Dashboards are live: one bus subscription ([`live::LiveHub`]) feeds server-sent events at
//!   `/events/stream` to every browser; the stream checks MPS's login token like the gateway does
//!   ([`auth`]).

pub mod assets;
pub mod auth;
#[cfg(feature = "bench")]
pub mod bench;
pub mod config;
pub mod live;
mod server;

pub use config::{DEFAULT_JWT_ISSUER, WebuiConfig};
pub use server::{RunningWebui, WebuiError, last_will, serve, start};
