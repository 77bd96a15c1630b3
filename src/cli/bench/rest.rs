//! `openamt bench rest`: RPS REST under keep-alive load, a read route and a write route; RPS
//! runs in a child process (`openamt bench rps-server`).

use std::time::Duration;

use rps::bench::rest::{
    AIM_REQUESTS_PER_SECOND, REFERENCE_REQUESTS_PER_SECOND, RestFigures, RestOptions, RouteRun,
};

use super::table::{Row, ms, thousands};

#[derive(clap::Args)]
pub struct RestBenchArgs {
    /// Keep-alive connections.
    #[arg(long, default_value_t = 50)]
    pub connections: usize,
    /// Seconds per route.
    #[arg(long, default_value_t = 10)]
    pub seconds: u64,
    /// Profiles in the listed table.
    #[arg(long, default_value_t = 25)]
    pub profiles: usize,
    /// RPS's read cache lifetime in ms (0: every GET reads the database).
    #[arg(long, default_value_t = 1000)]
    pub cache_ttl_ms: u64,
    /// A Postgres server for RPS's database (a scratch database is made and dropped); SQLite otherwise.
    #[arg(long)]
    pub postgres: Option<String>,
}

pub async fn run(args: RestBenchArgs) -> anyhow::Result<Vec<Row>> {
    let server = sim::bench::ChildCommand::this_executable(["bench", "rps-server"])?;
    let mut options = RestOptions::new(server);
    options.connections = args.connections;
    options.run_for = Duration::from_secs(args.seconds);
    options.profiles = args.profiles;
    options.cache_ttl = Duration::from_millis(args.cache_ttl_ms);
    options.postgres = args.postgres;
    let figures = rps::bench::rest::run(options).await?;
    println!("{figures}");
    Ok(rows(&figures))
}

fn rows(f: &RestFigures) -> Vec<Row> {
    let aim = format!(
        "≥ {} req/s (10× reference {})",
        thousands(AIM_REQUESTS_PER_SECOND),
        thousands(REFERENCE_REQUESTS_PER_SECOND)
    );
    let route = |run: &RouteRun| {
        let failed = match run.failures {
            0 => String::new(),
            n => format!(", {n} non-2xx"),
        };
        Row::new(
            format!("RPS REST: {} ({})", run.route, f.database),
            format!(
                "{} req/s (p50 / p99 {} / {} ms{failed})",
                thousands(run.per_second()),
                ms(run.p50),
                ms(run.p99)
            ),
            aim.clone(),
        )
    };
    vec![
        route(&f.get),
        route(&f.post),
        Row::new(
            "RPS REST: CPU per GET",
            format!("{:.1} µs", f.get.cpu_per_request().as_secs_f64() * 1e6),
            "— (reference 0.6–0.7 ms)",
        ),
    ]
}

/// The child: RPS as the activation and REST benchmarks need it.
pub async fn serve(args: rps::bench::ServerArgs) -> anyhow::Result<()> {
    rps::bench::serve(args).await
}
