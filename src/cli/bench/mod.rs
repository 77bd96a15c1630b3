//! `openamt bench ...`: committed benchmarks that print their figures, each with a summary of
//! figure, value and aim; `openamt bench all` runs every one and prints one table.
//!
//! The measuring code lives in the crates, behind their `bench` features (`mps::bench`,
//! `sim::bench`, `rps::bench`, `router::bench`, `webui::bench`, `apf::bench`,
//! `broker::bench`); these modules size them from flags and turn their figures into rows.

mod activation;
mod all;
mod apf;
mod bus;
mod fleet;
mod hops;
mod mps;
mod rest;
mod stream;
mod table;
mod wsman;

use std::path::PathBuf;

#[derive(clap::Args)]
pub struct BenchArgs {
    /// Write the summary rows as JSON to this file instead of printing the table (how
    /// `openamt bench all` collects them).
    #[arg(long, global = true, hide = true)]
    rows_out: Option<PathBuf>,
    #[command(subcommand)]
    command: BenchCommand,
}

#[derive(clap::Subcommand)]
pub enum BenchCommand {
    /// Every benchmark in sequence (about 4 minutes; --quick: about 1), then one table:
    /// figure, value, aim.
    All(all::AllArgs),
    /// QoS 1 publish rate and publish→receive latency through the embedded broker and Mosquitto.
    Bus(bus::BusBenchArgs),
    /// MPS with simulated devices in another process: connects/s, memory per tunnel, idle CPU,
    /// connect→event latency, power round trips over REST and MQTT.
    Mps(mps::MpsBenchArgs),
    /// Simulated devices in one process: how many it holds, RSS per device, connects/s, idle CPU.
    Fleet(fleet::FleetBenchArgs),
    /// The simulated AMT's WS-Man responder: memory per device, requests per second.
    Wsman(wsman::WsmanBenchArgs),
    /// RPS activating simulated devices at once: activations/s, latency, CPU, memory.
    Activation(activation::ActivationBenchArgs),
    /// RPS REST under keep-alive load: requests/s, p50/p99, CPU per request.
    Rest(rest::RestBenchArgs),
    /// Requests/s and p99 straight to MPS and RPS, through the router and the gateway (needs wrk).
    Hops(hops::HopsBenchArgs),
    /// Browsers on the web UI's live event stream: deliveries/s, latency, memory per stream.
    Stream(stream::StreamBenchArgs),
    /// APF codec decode throughput.
    Apf(apf::ApfBenchArgs),
    /// The fleet benchmark's APF server (run by `openamt bench fleet` in a child process).
    #[command(hide = true)]
    ApfServer,
    /// RPS for the activation and REST benchmarks (run by them in a child process).
    #[command(hide = true)]
    RpsServer(rps::bench::ServerArgs),
}

pub async fn run(args: BenchArgs) -> anyhow::Result<()> {
    let rows = match args.command {
        BenchCommand::All(all) => return all::run(all).await,
        BenchCommand::ApfServer => return fleet::serve().await,
        BenchCommand::RpsServer(server) => return rest::serve(server).await,
        BenchCommand::Bus(a) => bus::run(a).await?,
        BenchCommand::Mps(a) => mps::run(a).await?,
        BenchCommand::Fleet(a) => fleet::run(a).await?,
        BenchCommand::Wsman(a) => wsman::run(a).await?,
        BenchCommand::Activation(a) => activation::run(a).await?,
        BenchCommand::Rest(a) => rest::run(a).await?,
        BenchCommand::Hops(a) => hops::run(a).await?,
        BenchCommand::Stream(a) => stream::run(a).await?,
        BenchCommand::Apf(a) => apf::run(a)?,
    };
    match args.rows_out {
        Some(path) => table::write(&path, &rows),
        None => {
            println!();
            print!("{}", table::markdown(&rows));
            Ok(())
        }
    }
}
