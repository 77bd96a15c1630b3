//! The gateway: `kong/kong.yaml` (the declarative, DB-less Kong configuration of the production stack)
//! and the embedded gateway that serves that same file in `openamt up`, with Kong's route precedence,
//! path handling, JWT and CORS behaviour and Kong's exact error bodies.
//!
//! - [`start`] / [`serve`]: the gateway itself ([`GatewayConfig`]).
//! - [`forward`], [`listener`], [`http`]: the HTTP forwarding core (keep-alive pools per upstream,
//!   WebSocket pass-through, graceful stop) that the MPS router shares.
//! - [`secrets::generate`]: the certificates, broker passwords and JWT secret compose.yaml needs.

pub mod cors;
pub mod declarative;
pub mod errors;
pub mod forward;
pub mod http;
pub mod jwt;
pub mod listener;
pub mod mosquitto_passwd;
pub mod path;
pub mod probe;
pub mod routes;
pub mod secrets;
mod server;
pub mod tls;
pub mod transform;
pub mod vault_ref;

pub use declarative::{ConfigError, Declarative};
pub use server::{GatewayConfig, GatewayError, RunningGateway, serve, start};
pub use vault_ref::Resolver;

/// The `Server` header of responses the gateway makes itself.
pub const SERVER: &str = "openamt-gateway";

/// kong.yaml as shipped, for callers that run the embedded gateway without a file on disk.
pub const KONG_YAML: &str = include_str!("../kong.yaml");
