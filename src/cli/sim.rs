//! `openamt sim ...`: simulated Intel AMT devices, thousands per process.

#[derive(clap::Subcommand)]
pub enum SimCommand {
    /// Connect already-activated simulated devices to an MPS over CIRA and keep them connected.
    Cira(sim::cli_cira::CiraArgs),
    /// Activate simulated devices through RPS (the device agent's side of the protocol).
    Activate(sim::cli_activate::ActivateArgs),
}

pub async fn run(command: SimCommand) -> anyhow::Result<()> {
    match command {
        SimCommand::Cira(args) => {
            let summary = sim::cli_cira::run(args).await?;
            println!("{summary}");
        }
        SimCommand::Activate(args) => {
            let summary = sim::cli_activate::run(args).await?;
            println!("{}", serde_json::to_string_pretty(&summary)?);
        }
    }
    Ok(())
}
