//! `openamt bench bus`: QoS 1 publish rate and publish → receive latency through the bus client
//! (outbox included), via the embedded broker and via Mosquitto.

use std::{net::SocketAddr, time::Duration};

use anyhow::Context;
use broker::bench::BusFigures;
use broker::{BusConfig, Credentials, EmbeddedBroker, EmbeddedBrokerConfig};

use super::table::{Row, ms, thousands};

/// Issue 2's aims on this 2-core machine.
const AIM_RATE: &str = "≥ 10,000 events/s";
const AIM_P99: &str = "p99 < 5 ms";

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

pub async fn run(args: BusBenchArgs) -> anyhow::Result<Vec<Row>> {
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
    let mut rows = rows("embedded broker", &figures);

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
        rows.extend(self::rows("Mosquitto", &figures));
    }
    Ok(rows)
}

fn rows(broker: &str, f: &BusFigures) -> Vec<Row> {
    vec![
        Row::new(
            format!("bus via {broker}: sustained QoS 1 rate"),
            format!("{} events/s", thousands(f.rate)),
            AIM_RATE,
        ),
        Row::new(
            format!(
                "bus via {broker}: publish → receive p50 / p99 at {}/s",
                thousands(f64::from(f.paced_rate))
            ),
            format!("{} / {} ms", ms(f.latency_p50), ms(f.latency_p99)),
            AIM_P99,
        ),
    ]
}
