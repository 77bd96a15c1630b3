//! `openamt health URL`: exits 0 when the URL answers 2xx (container health checks).

use std::time::Duration;

#[derive(clap::Args)]
pub struct HealthArgs {
    /// E.g. http://localhost:3000/api/v1/health.
    pub url: String,
    /// Seconds to wait for the answer.
    #[arg(long, default_value_t = 2)]
    pub timeout: u64,
}

pub async fn run(args: HealthArgs) -> anyhow::Result<()> {
    let status = gateway::probe::status(&args.url, Duration::from_secs(args.timeout)).await?;
    if (200..300).contains(&status) {
        Ok(())
    } else {
        anyhow::bail!("{} answered {status}", args.url)
    }
}
