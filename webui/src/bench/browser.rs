//! One simulated browser on `/events/stream`: reads the server-sent events, timing each
//! `connected` event from its `connectedAt`.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::sync::Mutex;

/// What every browser saw, together.
#[derive(Default)]
pub(crate) struct Tally {
    pub delivered: AtomicU64,
    pub resyncs: AtomicU64,
    /// Failed to open or ended with an error.
    pub failed: AtomicU64,
    pub latencies: Mutex<Vec<Duration>>,
}

/// Reads the stream at `url` until it ends; says so on `ready` once the snapshot arrived.
pub(crate) async fn browser(url: String, tally: Arc<Tally>, ready: tokio::sync::mpsc::Sender<()>) {
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<Empty<Bytes>>();
    let Ok(uri) = url.parse::<hyper::Uri>() else {
        tally.failed.fetch_add(1, Ordering::Relaxed);
        return;
    };
    let response = match client.get(uri).await {
        Ok(response) => response,
        Err(error) => {
            tracing::warn!(%error, "a stream failed to open");
            tally.failed.fetch_add(1, Ordering::Relaxed);
            return;
        }
    };
    let mut body = response.into_body();
    let mut buffer = String::new();
    let mut latencies = Vec::new();
    let mut announced = false;
    while let Some(frame) = body.frame().await {
        let Ok(frame) = frame else {
            tally.failed.fetch_add(1, Ordering::Relaxed);
            break;
        };
        let Ok(data) = frame.into_data() else {
            continue;
        };
        buffer.push_str(&String::from_utf8_lossy(&data));
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            if block.contains("event: snapshot") && !announced {
                announced = true;
                let _ = ready.send(()).await;
            } else if block.contains("event: resync") {
                tally.resyncs.fetch_add(1, Ordering::Relaxed);
            } else if let Some(lag) = connected_lag(&block) {
                latencies.extend(lag);
                tally.delivered.fetch_add(1, Ordering::Relaxed);
            }
        }
        // Handing over in batches keeps the shared lock off the per-event path.
        if latencies.len() >= 256 {
            tally.latencies.lock().await.append(&mut latencies);
        }
    }
    tally.latencies.lock().await.append(&mut latencies);
}

/// For a `connected` event block: `Some(lag since connectedAt)`, or `Some(None)` when it carries
/// no readable time; `None` for any other block.
fn connected_lag(block: &str) -> Option<Option<Duration>> {
    let line = block
        .lines()
        .find(|l| l.starts_with("data: {\"kind\":\"connected\""))?;
    let now = OffsetDateTime::now_utc();
    let json: serde_json::Value = serde_json::from_str(&line["data: ".len()..]).unwrap_or_default();
    Some(
        json["data"]["connectedAt"]
            .as_str()
            .and_then(|t| OffsetDateTime::parse(t, &Rfc3339).ok())
            .and_then(|at| (now - at).try_into().ok()),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_connected_events_are_timed() {
        let at = (OffsetDateTime::now_utc() - time::Duration::milliseconds(5))
            .format(&Rfc3339)
            .unwrap();
        let block = format!(
            "event: device\ndata: {{\"kind\":\"connected\",\"data\":{{\"connectedAt\":\"{at}\"}}}}\n\n"
        );
        let lag = connected_lag(&block).unwrap().unwrap();
        assert!(lag >= Duration::from_millis(5));
        assert_eq!(
            connected_lag("event: device\ndata: {\"kind\":\"connected\",\"data\":{}}\n\n"),
            Some(None)
        );
        assert_eq!(
            connected_lag("event: device\ndata: {\"kind\":\"disconnected\"}\n\n"),
            None
        );
    }
}
