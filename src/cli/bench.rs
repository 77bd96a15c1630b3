//! `openamt bench ...`: committed benchmarks that print their figures.

use std::{net::SocketAddr, time::Duration};

use anyhow::Context;
use broker::{BusConfig, Credentials, EmbeddedBroker, EmbeddedBrokerConfig};

#[derive(clap::Subcommand)]
pub enum BenchCommand {
    /// QoS 1 publish rate and publish→receive latency through the embedded broker and Mosquitto.
    Bus(BusBenchArgs),
}

#[derive(clap::Args)]
pub struct BusBenchArgs {
    /// Events for the sustained-rate run.
    #[arg(long, default_value_t = 100_000)]
    pub events: usize,
    /// Rate of the latency run, events per second.
    #[arg(long, default_value_t = 1000)]
    pub rate: u32,
    /// Length of the latency run, seconds.
    #[arg(long, default_value_t = 20)]
    pub seconds: u64,
    /// Skip Mosquitto (Debian's mosquitto package runs it with broker/mosquitto/mosquitto.conf).
    #[arg(long)]
    pub no_mosquitto: bool,
}

pub async fn run(command: BenchCommand) -> anyhow::Result<()> {
    match command {
        BenchCommand::Bus(args) => bus(args).await,
    }
}

fn client(url: &str, ca: &str, credentials: &Credentials, user: &str) -> anyhow::Result<BusConfig> {
    let password = credentials.password(user).context("bench credentials")?;
    let mut config = BusConfig::new(
        url.parse()?,
        user,
        password,
        &format!("bench-{user}"),
        "/openamt/bench",
    );
    config.ca_pem = Some(ca.as_bytes().to_vec());
    Ok(config)
}

async fn bus(args: BusBenchArgs) -> anyhow::Result<()> {
    let dir = tempfile::tempdir()?;
    println!(
        "bus benchmark: {} events as fast as the bus takes them, then {}/s for {} s; QoS 1, file outbox, TLS",
        args.events, args.rate, args.seconds
    );

    let mut config = EmbeddedBrokerConfig::new(&dir.path().join("embedded"));
    config.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    let embedded = EmbeddedBroker::start(config).await?;
    let figures = broker::bench::measure(
        "embedded",
        client(
            &embedded.url(),
            embedded.ca_pem(),
            embedded.credentials(),
            "mps",
        )?,
        client(
            &embedded.url(),
            embedded.ca_pem(),
            embedded.credentials(),
            "dashboard",
        )?,
        &dir.path().join("outbox-embedded"),
        args.events,
        args.rate,
        Duration::from_secs(args.seconds),
    )
    .await?;
    println!("{figures}");
    embedded.close();

    if !args.no_mosquitto {
        let port = std::net::TcpListener::bind("127.0.0.1:0")?
            .local_addr()?
            .port();
        let mosquitto = broker::mosquitto::Mosquitto::start(&dir.path().join("mosquitto"), port)?;
        let broker_cpu_before = broker::bench::cpu_time(mosquitto.pid());
        let figures = broker::bench::measure(
            "mosquitto",
            client(
                &mosquitto.url(),
                &mosquitto.ca_pem,
                &mosquitto.credentials,
                "mps",
            )?,
            client(
                &mosquitto.url(),
                &mosquitto.ca_pem,
                &mosquitto.credentials,
                "dashboard",
            )?,
            &dir.path().join("outbox-mosquitto"),
            args.events,
            args.rate,
            Duration::from_secs(args.seconds),
        )
        .await?;
        let broker_cpu = broker::bench::cpu_time(mosquitto.pid()).saturating_sub(broker_cpu_before);
        let total = args.events as f64 + f64::from(args.rate) * args.seconds as f64;
        println!(
            "{figures} | mosquitto CPU {:.1} µs/event",
            broker_cpu.as_secs_f64() * 1e6 / total
        );
    }
    Ok(())
}
