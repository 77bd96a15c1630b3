//! `GET /events/stream`: server-sent events for one browser. The first event (`snapshot`) is the
//! hub's current picture; then every bus event as a `message` with its CloudEvents id. A browser
//! that falls too far behind gets `resync` (reload the picture); when its login token expires the
//! stream says `expired` and ends, so a dashboard left open does not outlive its session.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::response::sse::{Event, KeepAlive, Sse};
use futures::Stream;
use serde_json::{Value, json};
use tokio::sync::broadcast::{self, error::RecvError};
use tokio_util::sync::CancellationToken;

use super::hub::Frame;

/// How long a browser waits before reconnecting after the stream ends.
const RETRY: Duration = Duration::from_secs(3);

enum Phase {
    Snapshot(Value),
    Live,
    Done,
}

struct Cursor {
    phase: Phase,
    rx: broadcast::Receiver<Arc<Frame>>,
    expires: tokio::time::Instant,
    shutdown: CancellationToken,
}

/// The event stream of one browser, ending at `valid_for` from now or when the server shuts down
/// (an endless response would hold the graceful shutdown forever).
pub fn events(
    snapshot: Value,
    rx: broadcast::Receiver<Arc<Frame>>,
    valid_for: Duration,
    shutdown: CancellationToken,
) -> impl Stream<Item = Result<Event, Infallible>> + Send + 'static {
    let cursor = Cursor {
        phase: Phase::Snapshot(snapshot),
        rx,
        expires: tokio::time::Instant::now() + valid_for,
        shutdown,
    };
    futures::stream::unfold(cursor, |mut cursor| async move {
        let event = match std::mem::replace(&mut cursor.phase, Phase::Live) {
            Phase::Done => return None,
            Phase::Snapshot(snapshot) => Event::default()
                .event("snapshot")
                .retry(RETRY)
                .data(snapshot.to_string()),
            Phase::Live => next_live(&mut cursor).await?,
        };
        Some((Ok(event), cursor))
    })
}

async fn next_live(cursor: &mut Cursor) -> Option<Event> {
    let received = tokio::select! {
        _ = cursor.shutdown.cancelled() => return None,
        _ = tokio::time::sleep_until(cursor.expires) => {
            cursor.phase = Phase::Done;
            return Some(Event::default().event("expired").data(json!({"exp": "token expired"}).to_string()));
        }
        received = cursor.rx.recv() => received,
    };
    match received {
        Ok(frame) => {
            let mut event = Event::default().data(&frame.json);
            // An id must be one line of text; ids from a misbehaving publisher are left off.
            if let Some(id) = frame
                .id
                .as_deref()
                .filter(|id| !id.contains(['\r', '\n', '\0']))
            {
                event = event.id(id);
            }
            Some(event)
        }
        Err(RecvError::Lagged(missed)) => {
            tracing::warn!(
                missed,
                "a browser fell behind the event stream; asking it to resynchronise"
            );
            Some(
                Event::default()
                    .event("resync")
                    .data(json!({"missed": missed}).to_string()),
            )
        }
        Err(RecvError::Closed) => None,
    }
}

/// Wraps a stream as the SSE response, with keep-alive comments.
pub fn response<S>(stream: S, keep_alive: Duration) -> Sse<axum::response::sse::KeepAliveStream<S>>
where
    S: Stream<Item = Result<Event, Infallible>> + Send + 'static,
{
    Sse::new(stream).keep_alive(KeepAlive::new().interval(keep_alive).text("keep-alive"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;

    fn frame(id: Option<&str>, json: &str) -> Arc<Frame> {
        Arc::new(Frame {
            id: id.map(str::to_owned),
            json: json.into(),
        })
    }

    /// The wire text of an event.
    async fn text(stream: &mut (impl Stream<Item = Result<Event, Infallible>> + Unpin)) -> String {
        use axum::response::IntoResponse;
        let event = stream.next().await.expect("an event").unwrap();
        let body = Sse::new(futures::stream::iter([Ok::<_, Infallible>(event)])).into_response();
        let bytes = axum::body::to_bytes(body.into_body(), 1 << 20)
            .await
            .unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn snapshot_first_then_events_with_ids() {
        let (tx, rx) = broadcast::channel(8);
        let mut s = Box::pin(events(
            json!({"kind": "snapshot"}),
            rx,
            Duration::from_secs(60),
            CancellationToken::new(),
        ));
        let first = text(&mut s).await;
        assert!(first.contains("event: snapshot"), "{first}");
        assert!(first.contains("retry: 3000"), "{first}");
        tx.send(frame(Some("e-1"), r#"{"kind":"connected"}"#))
            .unwrap();
        tx.send(frame(Some("bad\nid"), r#"{"kind":"disconnected"}"#))
            .unwrap();
        let second = text(&mut s).await;
        assert!(
            second.contains("id: e-1") && second.contains(r#"data: {"kind":"connected"}"#),
            "{second}"
        );
        let third = text(&mut s).await;
        assert!(
            !third.contains("id:") && third.contains("disconnected"),
            "{third}"
        );
    }

    #[tokio::test]
    async fn a_slow_browser_is_told_to_resync() {
        let (tx, rx) = broadcast::channel(2);
        let mut s = Box::pin(events(
            json!({}),
            rx,
            Duration::from_secs(60),
            CancellationToken::new(),
        ));
        let _ = text(&mut s).await;
        for i in 0..5 {
            tx.send(frame(None, &format!("{{\"n\":{i}}}"))).unwrap();
        }
        let next = text(&mut s).await;
        assert!(
            next.contains("event: resync") && next.contains("\"missed\":3"),
            "{next}"
        );
    }

    #[tokio::test]
    async fn the_stream_ends_when_the_token_expires() {
        let (_tx, rx) = broadcast::channel::<Arc<Frame>>(2);
        let mut s = Box::pin(events(
            json!({}),
            rx,
            Duration::from_millis(200),
            CancellationToken::new(),
        ));
        let _ = text(&mut s).await;
        let expired = text(&mut s).await;
        assert!(
            expired.contains("event: expired") && expired.contains("token expired"),
            "{expired}"
        );
        assert!(s.next().await.is_none());
    }

    #[tokio::test]
    async fn the_stream_ends_at_shutdown() {
        let (_tx, rx) = broadcast::channel::<Arc<Frame>>(2);
        let shutdown = CancellationToken::new();
        let mut s = Box::pin(events(
            json!({}),
            rx,
            Duration::from_secs(60),
            shutdown.clone(),
        ));
        let _ = text(&mut s).await;
        shutdown.cancel();
        assert!(s.next().await.is_none());
    }
}
