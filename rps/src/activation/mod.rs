//! Device activation over WebSocket (rps.md §3): the device agent (rpc-go, or the simulator's agent) connects
//! on port 8080, sends one command (activate, deactivate, maintenance) with the device's facts, then relays the
//! WS-Man requests RPS sends to AMT and returns AMT's answers. One socket = one job.
//!
//! Module map: [`envelope`] (the JSON messages), [`request`] (first message: command line and payload),
//! [`validate`] (checks before any WS-Man), [`relay`] (WS-Man through the agent, digest auth, timeouts and
//! retries), [`activate`] (the activation state machine), [`configure`] with [`unconfigure`], [`network`],
//! [`features`], [`cira`] and [`tls`] (profile configuration), [`deactivate`], [`maintenance`], [`status`]
//! (the terminal status JSON), [`events`] (the bus), [`inflight`] (activations running, for a `failed` event after a crash), [`store`] (database and secrets), [`session`] (one
//! socket) and [`server`] (the listener).

pub mod activate;
pub mod cira;
pub mod configure;
pub mod deactivate;
pub mod envelope;
pub mod events;
pub mod features;
pub mod inflight;
pub mod job;
pub mod maintenance;
pub mod network;
pub mod passwords;
pub mod provisioning_cert;
pub mod relay;
pub mod request;
pub mod server;
pub mod session;
pub mod settings;
pub mod status;
pub mod store;
pub mod tls;
pub mod unconfigure;
pub mod validate;

pub use events::{Events, KnownDevice};
pub use job::Context;
pub use server::{ActivationServer, serve_activation};
pub use settings::Timings;
pub use store::Store;
