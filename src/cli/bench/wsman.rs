//! `openamt bench wsman`: the simulated AMT's WS-Man responder: memory per device and requests
//! per second with digest auth over in-memory pipes.

use std::time::Duration;

use sim::bench::wsman::{WsmanFigures, WsmanOptions};

use super::table::{NO_AIM, Row, ms, thousands};

#[derive(clap::Args)]
pub struct WsmanBenchArgs {
    /// Simulated devices.
    #[arg(long, default_value_t = 10_000)]
    pub devices: u64,
    /// Keep-alive connections sending requests back to back.
    #[arg(long, default_value_t = 8)]
    pub connections: usize,
    /// Seconds per request kind.
    #[arg(long, default_value_t = 5)]
    pub seconds: u64,
}

pub async fn run(args: WsmanBenchArgs) -> anyhow::Result<Vec<Row>> {
    let figures = sim::bench::wsman::run(WsmanOptions {
        devices: args.devices,
        connections: args.connections,
        run_for: Duration::from_secs(args.seconds),
    })
    .await?;
    println!("{figures}");
    Ok(rows(&figures))
}

fn rows(f: &WsmanFigures) -> Vec<Row> {
    let mut rows = vec![Row::new(
        "WS-Man responder: memory per device after a request",
        format!(
            "{} B ({} B idle)",
            thousands(f.used_bytes_per_device),
            thousands(f.idle_bytes_per_device)
        ),
        NO_AIM,
    )];
    rows.extend(f.runs.iter().map(|run| {
        Row::new(
            format!("WS-Man responder: {}", run.label),
            format!(
                "{} req/s (p99 {} ms)",
                thousands(run.per_second()),
                ms(run.p99)
            ),
            NO_AIM,
        )
    }));
    rows
}
