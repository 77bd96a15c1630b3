//! `openamt bench fleet`: how many simulated devices one process holds connected over CIRA, at
//! what memory and CPU cost, and how fast it connects them (the APF server in a child process,
//! `openamt bench apf-server`).

use std::time::Duration;

use sim::bench::fleet::{AIM_CONNECTS_PER_SECOND, AIM_DEVICES, FleetFigures, FleetOptions};

use super::table::{NO_AIM, Row, thousands};

#[derive(clap::Args)]
pub struct FleetBenchArgs {
    /// Simulated devices.
    #[arg(long, default_value_t = 10_000)]
    pub devices: u64,
    /// TLS handshakes in flight.
    #[arg(long, default_value_t = 200)]
    pub concurrency: usize,
    /// Seconds the connected fleet idles while its CPU is measured (keep-alives every 30 s).
    #[arg(long, default_value_t = 30)]
    pub idle_secs: u64,
}

pub async fn run(args: FleetBenchArgs) -> anyhow::Result<Vec<Row>> {
    let server = sim::bench::ChildCommand::this_executable(["bench", "apf-server"])?;
    let mut options = FleetOptions::new(server);
    options.devices = args.devices;
    options.concurrency = args.concurrency;
    options.idle = Duration::from_secs(args.idle_secs);
    let figures = sim::bench::fleet::run(options).await?;
    println!("{figures}");
    Ok(rows(&figures))
}

fn rows(f: &FleetFigures) -> Vec<Row> {
    vec![
        Row::new(
            "simulator: devices held connected by one process",
            format!(
                "{} of {}",
                thousands(f.held as f64),
                thousands(f.devices as f64)
            ),
            format!(
                "{} (the MPS benchmark's fleet)",
                thousands(AIM_DEVICES as f64)
            ),
        ),
        Row::new(
            "simulator: connects per second",
            format!("{} /s", thousands(f.connects_per_second)),
            format!(
                "> {} /s (MPS's aim: not the bottleneck)",
                thousands(AIM_CONNECTS_PER_SECOND)
            ),
        ),
        Row::new(
            "simulator: RSS per connected device (model + tunnel)",
            format!("{:.1} KiB", f.rss_per_device() / 1024.0),
            NO_AIM,
        ),
        Row::new(
            format!(
                "simulator: idle CPU, 30 s keep-alives ({} s)",
                f.idle.as_secs()
            ),
            format!("{:.2} % of a core", f.idle_core_share() * 100.0),
            NO_AIM,
        ),
    ]
}

/// The child: the APF server the fleet connects to.
pub async fn serve() -> anyhow::Result<()> {
    sim::bench::fleet::serve().await
}
