//! sim

pub mod agent;
#[cfg(feature = "bench")]
pub mod bench;
pub mod cira;
pub mod cli_activate;
pub mod cli_cira;
pub mod device;
pub mod fleet;
pub mod kvm;
pub mod redirection;
pub mod sol_console;
pub mod wsman_server;
