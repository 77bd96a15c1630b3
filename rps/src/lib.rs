//! RPS, the Remote Provisioning Server: the Open AMT compatible REST API (port 8081), its storage, and device
//! activation over WebSocket (port 8080).
//!
//! - [`db`]: sea-orm on the reference `rpsdb` tables, Postgres or SQLite;
//! - [`rest`]: the `/api/v1/admin/...` routes with the reference's validation, errors, paging, ETags and
//!   optimistic concurrency;
//! - [`activation`]: the device agent protocol: CCM/ACM activation, profile configuration, deactivation and
//!   maintenance, with activation events on the bus;
//! - [`serve`] / [`start`]: both listeners together;
//! - secrets (passwords, provisioning certificates, TLS material) live in the secret store at the reference's
//!   Vault paths, never in the database and never in a response.

pub mod activation;
#[cfg(feature = "bench")]
pub mod bench;
pub mod bus;
pub mod config;
pub mod db;
pub mod pfx;
pub mod rest;
mod service;
pub mod tls_certs;

pub use config::RpsConfig;
pub use db::Db;
pub use rest::{RestServer, serve_rest};
pub use service::{RpsDeps, RunningRps, activation_context, serve, start};

/// The reference release whose API this implements.
pub const SERVICE_VERSION: &str = "2.40.0";
/// The device protocol version RPS and rpc-go agree on.
pub const PROTOCOL_VERSION: &str = "4.0.0";
