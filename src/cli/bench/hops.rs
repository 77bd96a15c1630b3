//! `openamt bench hops`: requests per second and p99 (wrk) straight to MPS and RPS, through the
//! router, and through the gateway, so the cost of each hop is visible.

use router::bench::{HopsFigures, HopsOptions};

use super::table::{NO_AIM, Row, ms, thousands};

#[derive(clap::Args)]
pub struct HopsBenchArgs {
    /// Seconds per wrk run.
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// wrk's keep-alive connections.
    #[arg(long, default_value_t = 50)]
    pub connections: u64,
    /// Devices in MPS's inventory.
    #[arg(long, default_value_t = 25)]
    pub devices: usize,
    /// Profiles in RPS.
    #[arg(long, default_value_t = 25)]
    pub profiles: usize,
}

pub async fn run(args: HopsBenchArgs) -> anyhow::Result<Vec<Row>> {
    let figures = router::bench::run(HopsOptions {
        seconds: args.seconds,
        connections: args.connections,
        devices: args.devices,
        profiles: args.profiles,
    })
    .await?;
    println!("{figures}");
    Ok(rows(&figures))
}

fn rows(f: &HopsFigures) -> Vec<Row> {
    f.hops
        .iter()
        .map(|hop| {
            Row::new(
                format!("hops: {}, {}", hop.request, hop.path),
                format!(
                    "{} req/s (p99 {} ms)",
                    thousands(hop.result.requests_per_second),
                    ms(hop.result.p99)
                ),
                NO_AIM,
            )
        })
        .collect()
}
