//! `openamt bench mps`: MPS with 10,000 simulated devices in another process (`openamt sim
//! cira`): connects/s, memory per tunnel, idle CPU, connect → event latency, power round trips.

use std::time::Duration;

use mps::bench::{AIM_CONNECTS_PER_SECOND, AIM_POWER_P99, AIM_RSS_PER_CONNECTION_BYTES, Figures};

use super::table::{NO_AIM, Row, ms, thousands};

#[derive(clap::Args)]
pub struct MpsBenchArgs {
    /// Simulated devices.
    #[arg(long, default_value_t = 10_000)]
    pub devices: u64,
    /// TLS handshakes the devices keep in flight.
    #[arg(long, default_value_t = 256)]
    pub handshakes: usize,
    /// Seconds every tunnel idles while MPS's CPU is measured (keep-alives every 30 s).
    #[arg(long, default_value_t = 30)]
    pub idle_secs: u64,
    /// Power actions per transport.
    #[arg(long, default_value_t = 1000)]
    pub power_calls: usize,
    /// Power actions in flight in the concurrent round.
    #[arg(long, default_value_t = 16)]
    pub in_flight: usize,
    /// A Postgres server for MPS's database (a scratch database is made and dropped); SQLite otherwise.
    #[arg(long)]
    pub postgres: Option<String>,
    /// Keep MPS's event outbox in a file instead of its database.
    #[arg(long)]
    pub outbox_file: bool,
}

pub async fn run(args: MpsBenchArgs) -> anyhow::Result<Vec<Row>> {
    // The devices run as `openamt sim cira` in a child process of this very binary.
    let command = mps::bench::DeviceCommand::this_executable(["sim", "cira"])?;
    let mut options = mps::bench::BenchOptions::new(command);
    options.devices = args.devices;
    options.handshakes = args.handshakes;
    options.idle = Duration::from_secs(args.idle_secs);
    options.power_calls = args.power_calls;
    options.in_flight = args.in_flight;
    options.postgres = args.postgres;
    if args.outbox_file {
        options.outbox = mps::bench::Outbox::File;
    }
    let figures = mps::bench::run(options).await?;
    println!("{figures}");
    Ok(rows(&figures))
}

fn rows(f: &Figures) -> Vec<Row> {
    let power = |transport: &str, run: &mps::bench::CallRun, reference: &str| {
        let failed = match run.latencies.failed {
            0 => String::new(),
            n => format!(" ({n} failed)"),
        };
        Row::new(
            format!("MPS: power round trip over {transport}, p50 / p99"),
            format!(
                "{} / {} ms{failed}",
                ms(run.latencies.p50),
                ms(run.latencies.p99)
            ),
            format!("p99 < {} ms{reference}", AIM_POWER_P99.as_millis()),
        )
    };
    let offline = match f.rows_disconnected {
        Some(d) => format!("{:.2} s", d.as_secs_f64()),
        None => format!("{} rows still connected", f.rows_still_connected),
    };
    vec![
        Row::new(
            format!(
                "MPS: CIRA connects per second ({} devices)",
                thousands(f.devices as f64)
            ),
            format!(
                "{} /s ({} of {} connected)",
                thousands(f.connects_per_second()),
                thousands(f.connected as f64),
                thousands(f.devices as f64)
            ),
            format!(
                "≥ {} /s (reference 110–130)",
                thousands(AIM_CONNECTS_PER_SECOND)
            ),
        ),
        Row::new(
            "MPS: RSS per idle tunnel",
            format!("{:.1} KiB", f.rss_per_connection() / 1024.0),
            format!(
                "≤ {:.0} KiB (reference 25–50 KB)",
                AIM_RSS_PER_CONNECTION_BYTES / 1024.0
            ),
        ),
        Row::new(
            format!("MPS: idle CPU, 30 s keep-alives ({} s)", f.idle.as_secs()),
            format!("{:.2} % of a core", f.idle_core_share() * 100.0),
            // spec/limits.md: 10,000 TLS connections with a message every 30 s cost 2.53 % of a
            // core; within twice a floor is good.
            "≤ 5 % (2× the floor at 10,000)",
        ),
        Row::new(
            "MPS: connect → dashboard event, p50 / p99",
            format!(
                "{} / {} ms",
                ms(f.connect_event.p50),
                ms(f.connect_event.p99)
            ),
            NO_AIM,
        ),
        power("REST", &f.rest_serial, " (reference ~750 ms)"),
        power("MQTT", &f.mqtt_serial, ""),
        Row::new(
            "MPS: fleet killed → every row offline",
            offline,
            "every row offline",
        ),
    ]
}
