//! Command-line interface. Every flag has an environment-variable fallback (shown in `--help`).

mod bench;
mod events;
pub mod logging;
mod mqtt;
mod sim;
mod up;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "openamt",
    version,
    about = "Open AMT Cloud Toolkit, event-driven: MPS, RPS, router, gateway, web UI and an AMT simulator"
)]
pub struct Cli {
    /// Log format on stderr: "text" or "json".
    #[arg(
        long,
        env = "OPENAMT_LOG_FORMAT",
        default_value = "text",
        global = true
    )]
    pub log_format: String,

    #[command(subcommand)]
    command: Command,
}

/// Where `openamt up` keeps its state and where the other commands look for it.
#[derive(clap::Args, Clone, Debug)]
pub struct DataDir {
    /// Data directory: certificates, credentials, database, secrets, outbox.
    #[arg(
        long = "data-dir",
        env = "OPENAMT_DATA_DIR",
        default_value = "openamt-data"
    )]
    pub path: PathBuf,
}

#[derive(Subcommand)]
enum Command {
    /// Run everything in one process on embedded defaults.
    Up(up::UpArgs),
    /// Print the events published on the broker, one line each.
    Events(events::EventsArgs),
    /// Simulated Intel AMT devices.
    #[command(subcommand)]
    Sim(sim::SimCommand),
    /// Measure a part of the system and print the figures.
    #[command(subcommand)]
    Bench(bench::BenchCommand),
}

impl Cli {
    pub async fn run(self) -> anyhow::Result<()> {
        match self.command {
            Command::Up(args) => up::run(args).await,
            Command::Events(args) => events::run(args).await,
            Command::Sim(command) => sim::run(command).await,
            Command::Bench(command) => bench::run(command).await,
        }
    }
}
