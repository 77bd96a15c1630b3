//! The MPS benchmark (see `mps::bench`): a simulated fleet in a child process, MPS in this one,
//! Mosquitto with the production configuration; prints one table with the aims beside the figures.
//!
//! `cargo run --release -p mps --example mps_bench -- [--devices 10000] [--handshakes 256]
//! [--idle-secs 30] [--power-calls 1000] [--in-flight 16]`
//!
//! The child is this program again with `--device-process` first, running the fleet exactly as
//! `openamt sim cira` does.

use std::time::Duration;

use mps::bench::{BenchOptions, DeviceCommand};

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
    let mut options = BenchOptions::new(DeviceCommand::this_executable([DEVICE_PROCESS])?);
    options.devices = arg("--devices", options.devices);
    options.handshakes = arg("--handshakes", options.handshakes);
    options.idle = Duration::from_secs(arg("--idle-secs", options.idle.as_secs()));
    options.power_calls = arg("--power-calls", options.power_calls);
    options.in_flight = arg("--in-flight", options.in_flight);
    let figures = mps::bench::run(options).await?;
    println!("{figures}");
    Ok(())
}

fn main() -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "warn,mps::bench=info".into()),
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
