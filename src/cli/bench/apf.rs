//! `openamt bench apf`: decode throughput of the APF codec on one core.

use super::table::{NO_AIM, Row, thousands};

#[derive(clap::Args)]
pub struct ApfBenchArgs {
    /// Multiplies the rounds (1 takes about a second).
    #[arg(long, default_value_t = 1)]
    pub scale: usize,
}

pub fn run(args: ApfBenchArgs) -> anyhow::Result<Vec<Row>> {
    let runs = apf::bench::run(args.scale)?;
    for run in &runs {
        println!("{run}");
    }
    Ok(runs
        .iter()
        .map(|run| {
            Row::new(
                format!("APF decode: {}", run.name),
                format!(
                    "{} msgs/s ({} MB/s)",
                    thousands(run.messages_per_second()),
                    thousands(run.megabytes_per_second())
                ),
                NO_AIM,
            )
        })
        .collect())
}
