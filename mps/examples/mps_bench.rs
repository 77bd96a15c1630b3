//! The MPS benchmark (see `mps::bench`): a simulated fleet in a child process, MPS in this one,
//! Mosquitto with the production configuration; prints one table with the aims beside the figures.
//!
//! `cargo run --release -p mps --example mps_bench -- [--devices 10000] [--handshakes 256]
//! [--idle-secs 30] [--power-calls 1000] [--in-flight 16] [--postgres postgres://user@host/db]
//! [--outbox database|file] [--openamt PATH]`
//!
//! `--postgres` gives MPS a database of its own on that server (dropped at the end) instead of
//! SQLite; `--outbox file` keeps MPS's undelivered events in a file instead of its database.
//!
//! The child is this program again with `--device-process` first, running the fleet exactly as
//! `openamt sim cira` does; with `--openamt PATH` it is `PATH sim cira` itself.

use std::time::Duration;

use anyhow::bail;
use mps::bench::{BenchOptions, DeviceCommand, Outbox};

const DEVICE_PROCESS: &str = "--device-process";

fn arg<T: std::str::FromStr>(name: &str, default: T) -> T {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

async fn bench() -> anyhow::Result<()> {
    let devices = match arg("--openamt", String::new()) {
        path if path.is_empty() => DeviceCommand::this_executable([DEVICE_PROCESS])?,
        path => DeviceCommand::new(path, ["sim", "cira"]),
    };
    let mut options = BenchOptions::new(devices);
    options.devices = arg("--devices", options.devices);
    options.handshakes = arg("--handshakes", options.handshakes);
    options.idle = Duration::from_secs(arg("--idle-secs", options.idle.as_secs()));
    options.power_calls = arg("--power-calls", options.power_calls);
    options.in_flight = arg("--in-flight", options.in_flight);
    options.postgres = Some(arg("--postgres", String::new())).filter(|u| !u.is_empty());
    options.outbox = match arg("--outbox", "database".to_owned()).as_str() {
        "database" => Outbox::Database,
        "file" => Outbox::File,
        other => bail!("--outbox {other:?}: database or file"),
    };
    let figures = mps::bench::run(options).await?;
    println!("{figures}");
    Ok(())
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                // sqlx warns of every slow pool checkout; a fleet dropping at once makes thousands.
                .unwrap_or_else(|_| "warn,sqlx::pool=error,mps::bench=info".into()),
        )
        .with_writer(std::io::stderr)
        .init();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let mut args = std::env::args_os().skip(1).peekable();
    if args.peek().is_some_and(|a| a == DEVICE_PROCESS) {
        runtime.block_on(mps::bench::device_process(args.skip(1)))
    } else {
        runtime.block_on(bench())
    }
}
