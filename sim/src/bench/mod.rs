//! The simulator's benchmarks (feature `bench`), run by `openamt bench fleet` and
//! `openamt bench wsman`:
//! - [`fleet`]: how many simulated devices one process holds connected over CIRA, at what memory
//!   and CPU cost, and how fast it connects them (the APF server runs in a child process);
//! - [`wsman`]: the WS-Man responder's memory per device and requests per second.
//!
//! [`ChildCommand`] starts a benchmark's server side as another process (this executable again),
//! so that memory and CPU figures belong to one side only; the RPS benchmarks use it too.

mod acceptor;
mod child;
pub mod fleet;
mod process;
pub mod wsman;

pub use child::{ChildCommand, ChildProcess, ready_line, wait_for_stdin_close};
pub use process::{cpu_time, live_rss_kib, memory_kib, percentile};
