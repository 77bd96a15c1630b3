//! `openamt`: the whole Open AMT stack in one command (see `openamt --help`).

mod cli;

use clap::Parser;

fn main() -> std::process::ExitCode {
    // Ring is the only crypto provider built in; installing it first means no library can find two.
    let _ = rustls::crypto::ring::default_provider().install_default();
    if let Err(error) = cli::secret_files::load() {
        eprintln!("openamt: {error:#}");
        return std::process::ExitCode::FAILURE;
    }
    let cli = cli::Cli::parse();
    cli::logging::init(&cli.log_format);
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("openamt: cannot start the async runtime: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    match runtime.block_on(cli.run()) {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("openamt: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}
