//! sim

pub mod device;
pub mod cira;
pub mod cli_cira;
pub mod fleet;
pub mod redirection;
pub mod wsman_server;
pub mod agent;
pub mod cli_activate;
