//! Command-line interface. Every flag has an environment-variable fallback (shown in `--help`).

mod bench;
mod events;
mod gateway;
mod health;
mod layered;
pub mod logging;
mod mps;
mod mqtt;
mod router;
mod rps;
pub mod secret_files;
mod secrets_cmd;
mod service;
mod sim;
mod up;
mod webui;

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
    /// Run the MPS alone: CIRA server (4433), REST and redirection relay (3000).
    Mps(mps::MpsArgs),
    /// Run the RPS alone: activation WebSocket (8080) and REST (8081).
    Rps(rps::RpsArgs),
    /// Run the MPS router (8003).
    Router(router::RouterArgs),
    /// Run the API gateway (8443) serving kong/kong.yaml.
    Gateway(gateway::GatewayArgs),
    /// Run the web UI (80) with its live event stream.
    Webui(webui::WebuiArgs),
    /// Make the certificates and secrets compose.yaml's services need.
    Secrets(secrets_cmd::SecretsArgs),
    /// Exit 0 when a URL answers 2xx (for container health checks).
    Health(health::HealthArgs),
    /// Print the events published on the broker, one line each.
    Events(events::EventsArgs),
    /// Simulated Intel AMT devices.
    #[command(subcommand)]
    Sim(sim::SimCommand),
    /// Measure a part of the system and print the figures (`openamt bench all`: every one).
    Bench(bench::BenchArgs),
}

impl Cli {
    pub async fn run(self) -> anyhow::Result<()> {
        match self.command {
            Command::Up(args) => up::run(args).await,
            Command::Mps(args) => mps::run(args).await,
            Command::Rps(args) => rps::run(args).await,
            Command::Router(args) => router::run(args).await,
            Command::Gateway(args) => gateway::run(args).await,
            Command::Webui(args) => webui::run(args).await,
            Command::Secrets(args) => secrets_cmd::run(args),
            Command::Health(args) => health::run(args).await,
            Command::Events(args) => events::run(args).await,
            Command::Sim(command) => sim::run(command).await,
            Command::Bench(args) => bench::run(args).await,
        }
    }
}
