//! `openamt bench activation`: simulated devices activating at once through RPS (CCM with CIRA,
//! the waits at zero); RPS runs in a child process (`openamt bench rps-server`).

use rps::bench::activation::{
    AIM_ACTIVATIONS_PER_SECOND, ActivationFigures, ActivationOptions, REFERENCE_ACTIVATION,
};

use super::table::{NO_AIM, Row, ms, thousands};

#[derive(clap::Args)]
pub struct ActivationBenchArgs {
    /// Devices activating at once in each round.
    #[arg(long, default_value_t = 100)]
    pub devices: u64,
    #[arg(long, default_value_t = 5)]
    pub rounds: u64,
    /// A Postgres server for RPS's database (a scratch database is made and dropped); SQLite otherwise.
    #[arg(long)]
    pub postgres: Option<String>,
    /// No activation events (otherwise through Mosquitto, which must be installed).
    #[arg(long)]
    pub no_bus: bool,
}

pub async fn run(args: ActivationBenchArgs) -> anyhow::Result<Vec<Row>> {
    let server = sim::bench::ChildCommand::this_executable(["bench", "rps-server"])?;
    let mut options = ActivationOptions::new(server);
    options.devices = args.devices;
    options.rounds = args.rounds;
    options.postgres = args.postgres;
    options.bus = !args.no_bus;
    let figures = rps::bench::activation::run(options).await?;
    println!("{figures}");
    Ok(rows(&figures))
}

fn rows(f: &ActivationFigures) -> Vec<Row> {
    let (rss, peak) = f.rss_kib();
    let failed = match f.failed {
        0 => String::new(),
        n => format!(", {n} failed"),
    };
    vec![
        Row::new(
            format!(
                "RPS: activations per second ({} at once, waits 0)",
                f.devices
            ),
            format!(
                "{:.1} /s ({} activated{failed})",
                f.per_second(),
                thousands(f.activated() as f64)
            ),
            format!(
                "≥ {AIM_ACTIVATIONS_PER_SECOND:.0} /s (reference {:.2} s for one)",
                REFERENCE_ACTIVATION.as_secs_f64()
            ),
        ),
        Row::new(
            "RPS: activation latency p50 / p99",
            format!("{} / {} ms", ms(f.p50), ms(f.p99)),
            format!("— (reference {:.2} s)", REFERENCE_ACTIVATION.as_secs_f64()),
        ),
        Row::new(
            "RPS: CPU per activation",
            format!("{} ms", ms(f.rps_cpu_per_activation())),
            NO_AIM,
        ),
        Row::new(
            "RPS: RSS after the activations (peak)",
            format!(
                "{:.1} MiB ({:.1} MiB)",
                rss as f64 / 1024.0,
                peak as f64 / 1024.0
            ),
            NO_AIM,
        ),
    ]
}
