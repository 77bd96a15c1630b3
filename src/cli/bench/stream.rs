//! `openamt bench stream`: browsers on the web UI's live event stream while device events are
//! published: deliveries per second, publish → browser latency, memory per stream.

use webui::bench::{StreamFigures, StreamOptions};

use super::table::{NO_AIM, Row, ms, thousands};

#[derive(clap::Args)]
pub struct StreamBenchArgs {
    /// Browsers on the stream.
    #[arg(long, default_value_t = 200)]
    pub streams: usize,
    /// Events published.
    #[arg(long, default_value_t = 10_000)]
    pub events: u64,
    /// Events per second (0: one burst).
    #[arg(long, default_value_t = 500)]
    pub rate: u64,
}

pub async fn run(args: StreamBenchArgs) -> anyhow::Result<Vec<Row>> {
    let figures = webui::bench::run(StreamOptions {
        streams: args.streams,
        events: args.events,
        rate: args.rate,
    })
    .await?;
    println!("{figures}");
    Ok(rows(&figures))
}

fn rows(f: &StreamFigures) -> Vec<Row> {
    let pace = if f.rate > 0 {
        format!("{}/s", thousands(f.rate as f64))
    } else {
        "one burst".to_owned()
    };
    vec![
        Row::new(
            format!(
                "live stream: deliveries ({} browsers, events at {pace})",
                f.streams
            ),
            format!(
                "{} of {} ({} /s, {} resyncs)",
                thousands(f.delivered as f64),
                thousands(f.expected as f64),
                thousands(f.deliveries_per_second()),
                f.resyncs
            ),
            NO_AIM,
        ),
        Row::new(
            "live stream: publish → browser p50 / p99",
            format!("{} / {} ms", ms(f.p50), ms(f.p99)),
            NO_AIM,
        ),
        Row::new(
            "live stream: memory per open stream (both ends)",
            format!("{:.1} KiB", f.kib_per_stream()),
            NO_AIM,
        ),
    ]
}
