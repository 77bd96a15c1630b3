//! `openamt secrets`: makes what compose.yaml's services need and nobody commits: certificates, the
//! Mosquitto password file, broker credentials, the JWT secret and database passwords.

use std::path::PathBuf;

#[derive(clap::Args)]
pub struct SecretsArgs {
    /// Directory to write (a volume shared by the services); existing values are kept.
    #[arg(long, env = "OPENAMT_SECRETS_DIR")]
    pub out: PathBuf,
    /// Name clients reach the system by (the gateway certificate's CN).
    #[arg(long, env = "MPS_COMMON_NAME", default_value = "localhost")]
    pub common_name: String,
    /// The declarative Kong file to fill in for Kong [default: the built-in kong/kong.yaml].
    #[arg(long, env = "OPENAMT_KONG_YAML")]
    pub kong_yaml: Option<PathBuf>,
    /// The Postgres user the services' database URLs name.
    #[arg(long, env = "POSTGRES_USER", default_value = "postgresadmin")]
    pub postgres_user: String,
}

pub fn run(args: SecretsArgs) -> anyhow::Result<()> {
    let mut options = gateway::secrets::SecretsOptions::for_compose(&args.common_name);
    if let Some(path) = &args.kong_yaml {
        options.kong_yaml = std::fs::read_to_string(path)?;
    }
    options.postgres_user = args.postgres_user;
    let generated = gateway::secrets::generate(&args.out, &options)?;
    // Paths only: the values never leave the files.
    for file in generated.files {
        println!("{}", file.display());
    }
    Ok(())
}
