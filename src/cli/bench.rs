//! `openamt bench ...`: committed benchmarks that print their figures.

use std::{net::SocketAddr, time::Duration};

use anyhow::Context;
use broker::{BusConfig, Credentials, EmbeddedBroker, EmbeddedBrokerConfig};

#[derive(clap::Subcommand)]
pub enum BenchCommand {
    /// QoS 1 publish rate and publish→receive latency through the embedded broker and Mosquitto.
    Bus(BusBenchArgs),
    /// MPS with simulated devices in another process: connects/s, memory per tunnel, idle CPU,
    /// connect→event latency, power round trips over REST and MQTT.
    Mps(MpsBenchArgs),
}

#[derive(clap::Args)]
pub struct MpsBenchArgs {
    /// Simulated devices.
    #[arg(long, default_value_t = 10_000)]
    pub devices: u64,
    /// TLS handshakes the devices keep in flight.
    #[arg(long, default_value_t = 256)]
    pub handshakes: usize,
    /// Seconds every tunnel idles while MPS's CPU is measured (keep-alives every 30 s).
    #[arg(long, default_value_t = 30)]
    pub idle_secs: u64,
    /// Power actions per transport.
    #[arg(long, default_value_t = 1000)]
    pub power_calls: usize,
    /// Power actions in flight in the concurrent round.
    #[arg(long, default_value_t = 16)]
    pub in_flight: usize,
    /// A Postgres server for MPS's database (a scratch database is made and dropped); SQLite otherwise.
    #[arg(long)]
    pub postgres: Option<String>,
    /// Keep MPS's event outbox in a file instead of its database.
    #[arg(long)]
    pub outbox_file: bool,
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
        BenchCommand::Mps(args) => mps_bench(args).await,
    }
}

async fn mps_bench(args: MpsBenchArgs) -> anyhow::Result<()> {
    // The devices run as `openamt sim cira` in a child process of this very binary.
    let command = mps::bench::DeviceCommand::this_executable(["sim", "cira"])?;
    let mut options = mps::bench::BenchOptions::new(command);
    options.devices = args.devices;
    options.handshakes = args.handshakes;
    options.idle = Duration::from_secs(args.idle_secs);
    options.power_calls = args.power_calls;
    options.in_flight = args.in_flight;
    options.postgres = args.postgres;
    if args.outbox_file {
        options.outbox = mps::bench::Outbox::File;
    }
    println!("{}", mps::bench::run(options).await?);
    Ok(())
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
