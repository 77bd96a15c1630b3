//! `openamt events [FILTER] [--json]`: the first tool a dashboard builder reaches for.

use std::io::Write;

use broker::Delivery;
use serde_json::{Value, json};
use time::format_description::well_known::Rfc3339;

use super::mqtt::MqttArgs;

#[derive(clap::Args)]
pub struct EventsArgs {
    /// MQTT topic filter [default: the whole openamt/v1 tree].
    pub filter: Option<String>,
    /// Print one JSON object per line (topic, CloudEvents attributes, decoded data).
    #[arg(long, env = "OPENAMT_EVENTS_JSON")]
    pub json: bool,
    /// Exit after this many messages.
    #[arg(long)]
    pub count: Option<usize>,
    #[command(flatten)]
    pub mqtt: MqttArgs,
}

pub async fn run(args: EventsArgs) -> anyhow::Result<()> {
    let bus = args.mqtt.connect("events").await?;
    let filter = args
        .filter
        .clone()
        .unwrap_or_else(|| bus.topics().everything());
    let mut subscription = bus.subscribe(&filter).await?;
    eprintln!(
        "listening on {} for {filter} (Ctrl-C to stop)",
        args.mqtt.url
    );
    let mut printed = 0;
    loop {
        let delivery = tokio::select! {
            _ = tokio::signal::ctrl_c() => break,
            delivery = subscription.next() => match delivery {
                Some(delivery) => delivery,
                None => break,
            },
        };
        let line = if args.json {
            to_json(&delivery).to_string()
        } else {
            readable(&delivery)
        };
        let mut out = std::io::stdout().lock();
        if writeln!(out, "{line}").and_then(|_| out.flush()).is_err() {
            break; // the reader went away (e.g. `| head`)
        }
        printed += 1;
        if args.count.is_some_and(|count| printed >= count) {
            break;
        }
    }
    bus.shutdown(std::time::Duration::from_secs(1)).await;
    Ok(())
}

/// The message's data: the decoded event, a JSON payload as is, or base64 of anything else.
fn data(delivery: &Delivery) -> Value {
    if let Some(event) = &delivery.event {
        return match schemas::to_json(&event.ty, &delivery.payload) {
            Ok(value) => value,
            Err(error) => json!({ "error": error.to_string() }),
        };
    }
    match serde_json::from_slice::<Value>(&delivery.payload) {
        Ok(value) => value,
        Err(_) => {
            use base64::Engine;
            json!({ "base64": base64::engine::general_purpose::STANDARD.encode(&delivery.payload) })
        }
    }
}

fn to_json(delivery: &Delivery) -> Value {
    let event = delivery.event.as_ref();
    json!({
        "topic": delivery.topic,
        "retained": delivery.retained,
        "id": event.map(|e| e.id.clone()),
        "source": event.map(|e| e.source.clone()),
        "type": event.map(|e| e.ty.clone()),
        "time": event.and_then(|e| e.time).and_then(|t| t.format(&Rfc3339).ok()),
        "subject": event.and_then(|e| e.subject.clone()),
        "data": data(delivery),
    })
}

fn readable(delivery: &Delivery) -> String {
    let event = delivery.event.as_ref();
    let time = event
        .and_then(|e| e.time)
        .and_then(|t| t.format(&Rfc3339).ok())
        .unwrap_or_else(|| "-".into());
    let kind = event
        .map(|e| {
            e.ty.trim_start_matches("io.openamt.")
                .trim_end_matches(".v1")
                .to_owned()
        })
        .unwrap_or_else(|| "message".into());
    let retained = if delivery.retained { " (retained)" } else { "" };
    format!(
        "{time} {kind}{retained} {} {}",
        delivery.topic,
        data(delivery)
    )
}
