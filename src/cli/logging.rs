//! Logs go to stderr with structured fields; `RUST_LOG` overrides the default levels.

use tracing_subscriber::EnvFilter;

/// Quiet by default about libraries that narrate every connection.
const DEFAULT_FILTER: &str =
    "info,rumqttd=off,rumqttc=warn,sqlx=warn,sqlx::pool=error,sea_orm=warn,hyper=warn";

pub fn init(format: &str) {
    let filter =
        EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = if format == "json" {
        builder.json().try_init()
    } else {
        builder.try_init()
    };
}
