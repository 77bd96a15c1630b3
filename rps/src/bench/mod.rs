//! The RPS benchmarks (feature `bench`), run by `openamt bench activation` and
//! `openamt bench rest`:
//! - [`activation`]: rounds of simulated devices activating at once (CCM with CIRA, the
//!   reference's waits at zero) through the simulator's agent, as rpc-go would: activations per
//!   second, latency, RPS's CPU per activation and its memory;
//! - [`rest`]: keep-alive HTTP/1.1 clients against a read route and a write route: requests per
//!   second, p50/p99, RPS's CPU per request.
//!
//! RPS runs in a child process ([`serve`], this executable again: `openamt bench rps-server`),
//! so its CPU and memory come from /proc/<pid> and are its own; the clients run in this process.

pub mod activation;
mod database;
mod http;
pub mod rest;
mod server;

pub use server::{BROKER_PASSWORD_ENV, Mode, ServerArgs, serve};
