//! The one place bus events meet browsers: a single subscription to the broker fans out to every
//! open stream, and the hub remembers what a browser opening a page later must know at once — each
//! device's presence (retained on the broker, so delivered to us once), each service's status, and
//! the latest activation step of recently activated devices.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard};

use broker::{Bus, BusError, Delivery, Subscription};
use serde_json::{Map, Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

use super::translate::{Kind, LiveEvent, translate};

/// Messages a slow browser may fall behind by before it is told to resynchronise.
const FANOUT_CAPACITY: usize = 4096;

/// One message, serialised once for every stream.
#[derive(Debug)]
pub struct Frame {
    /// The CloudEvents id, used as the SSE event id.
    pub id: Option<String>,
    pub json: String,
}

/// The hub's subscription: the whole tree, in one subscription. One, because the broker expects
/// acknowledgements in the order it delivered (rumqttd drops a client that acknowledges out of
/// order), and messages read from several subscriptions at once would be acknowledged out of order.
/// Commands and replies arrive too and are dropped unread (`translate` ignores them).
pub struct Feed {
    topics: schemas::Topics,
    everything: Subscription,
}

impl Feed {
    /// Subscribes; a broker that refuses (e.g. a user the ACL does not let read the tree) is an error.
    pub async fn subscribe(bus: &Bus) -> Result<Feed, BusError> {
        let topics = bus.topics().clone();
        let everything = bus.subscribe(&topics.everything()).await?;
        tracing::info!(root = %topics.root(), "web UI subscribed to the fleet's events");
        Ok(Feed { topics, everything })
    }
}

#[derive(Clone)]
pub struct LiveHub {
    inner: Arc<Inner>,
}

struct Inner {
    tx: broadcast::Sender<Arc<Frame>>,
    state: Mutex<State>,
    recent_activations: usize,
}

#[derive(Default)]
struct State {
    /// guid → `{connected, mpsInstance, since}`.
    presence: HashMap<String, Value>,
    /// `service/instance` → the status event.
    services: BTreeMap<String, Value>,
    /// guid → its latest activation event, oldest first in `activation_order`.
    activations: HashMap<String, Value>,
    activation_order: VecDeque<String>,
    /// Events seen, for the stream's diagnostics.
    events: u64,
}

impl LiveHub {
    pub fn new(recent_activations: usize) -> LiveHub {
        LiveHub {
            inner: Arc::new(Inner {
                tx: broadcast::channel(FANOUT_CAPACITY).0,
                state: Mutex::new(State::default()),
                recent_activations: recent_activations.max(1),
            }),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.inner.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A new stream: the current picture and every event after it. Both are taken under the lock
    /// `publish` holds, so nothing falls between them and nothing is in both.
    pub fn join(&self) -> (Value, broadcast::Receiver<Arc<Frame>>) {
        let state = self.state();
        let rx = self.inner.tx.subscribe();
        (snapshot(&state), rx)
    }

    /// Streams open right now.
    pub fn streams(&self) -> usize {
        self.inner.tx.receiver_count()
    }

    /// Records an event and sends it to every stream.
    pub fn publish(&self, event: LiveEvent) {
        let mut state = self.state();
        state.events += 1;
        remember(&mut state, &event, self.inner.recent_activations);
        let frame = Arc::new(Frame {
            id: event.id.clone(),
            json: event.json.to_string(),
        });
        // No receivers is fine: nobody is watching.
        let _ = self.inner.tx.send(frame);
    }

    /// Feeds the hub from the bus until `shutdown` or until the bus closes.
    pub async fn run(self, mut feed: Feed, shutdown: CancellationToken) {
        loop {
            let delivery = tokio::select! {
                _ = shutdown.cancelled() => return,
                d = feed.everything.next() => d,
            };
            let Some(delivery) = delivery else {
                tracing::info!("the bus closed; the live stream stops");
                return;
            };
            self.accept(&feed.topics, &delivery);
            // Dropping the delivery acknowledges it, now that the hub has it.
        }
    }

    fn accept(&self, topics: &schemas::Topics, d: &Delivery) {
        match translate(topics, &d.topic, d.event.as_ref(), &d.payload, d.retained) {
            Ok(Some(event)) => self.publish(event),
            Ok(None) => {}
            Err(error) => {
                tracing::warn!(topic = %d.topic, %error, "skipping a message the UI cannot show")
            }
        }
    }
}

fn remember(state: &mut State, event: &LiveEvent, keep: usize) {
    let data = &event.json["data"];
    let cleared = event.json["cleared"] == true;
    match (event.kind, &event.guid, &event.service) {
        (Kind::Presence, Some(guid), _) if cleared => {
            state.presence.remove(guid);
        }
        (Kind::Presence, Some(guid), _) => {
            set_presence(
                state,
                guid,
                data["connected"] == true,
                &data["mpsInstance"],
                &data["since"],
            );
        }
        (Kind::Connected, Some(guid), _) => {
            set_presence(
                state,
                guid,
                true,
                &data["mpsInstance"],
                &data["connectedAt"],
            );
        }
        (Kind::Disconnected, Some(guid), _) => {
            set_presence(state, guid, false, &json!(""), &data["disconnectedAt"]);
        }
        (Kind::Activation, Some(guid), _) => {
            if state
                .activations
                .insert(guid.clone(), event.json.clone())
                .is_some()
            {
                state.activation_order.retain(|g| g != guid);
            }
            state.activation_order.push_back(guid.clone());
            while state.activation_order.len() > keep {
                if let Some(oldest) = state.activation_order.pop_front() {
                    state.activations.remove(&oldest);
                }
            }
        }
        (Kind::Status, _, Some((service, instance))) => {
            let key = format!("{service}/{instance}");
            if cleared {
                state.services.remove(&key);
            } else {
                state.services.insert(key, event.json.clone());
            }
        }
        _ => {}
    }
}

/// Keeps the newer of what we know and what arrived: a retained presence delivered late must not
/// undo a connect we already saw.
fn set_presence(state: &mut State, guid: &str, connected: bool, instance: &Value, since: &Value) {
    if let Some(known) = state.presence.get(guid)
        && let (Some(old), Some(new)) = (parse_time(&known["since"]), parse_time(since))
        && new < old
    {
        return;
    }
    state.presence.insert(
        guid.to_owned(),
        json!({"connected": connected, "mpsInstance": instance, "since": since}),
    );
}

fn parse_time(v: &Value) -> Option<OffsetDateTime> {
    OffsetDateTime::parse(v.as_str()?, &Rfc3339).ok()
}

fn snapshot(state: &State) -> Value {
    let presence: Map<String, Value> = state
        .presence
        .iter()
        .map(|(g, p)| (g.clone(), p.clone()))
        .collect();
    let activations: Vec<Value> = state
        .activation_order
        .iter()
        .rev()
        .filter_map(|g| state.activations.get(g).cloned())
        .collect();
    json!({
        "kind": "snapshot",
        "presence": presence,
        "services": state.services.values().cloned().collect::<Vec<_>>(),
        "activations": activations,
        "eventsSeen": state.events,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "4c4c4544-004b-4210-8033-b6c04f504633";

    fn device_event(kind: Kind, guid: &str, data: Value) -> LiveEvent {
        LiveEvent {
            kind,
            guid: Some(guid.into()),
            service: None,
            id: Some(format!("id-{}", data)),
            json: json!({"kind": kind.as_str(), "guid": guid, "data": data}),
        }
    }

    #[tokio::test]
    async fn a_stream_gets_the_picture_then_every_later_event() {
        let hub = LiveHub::new(10);
        hub.publish(device_event(
            Kind::Presence,
            A,
            json!({"connected": true, "mpsInstance": "mps-1", "since": "2026-01-01T00:00:00Z"}),
        ));
        let (snap, mut rx) = hub.join();
        assert_eq!(snap["presence"][A]["connected"], true);
        assert_eq!(snap["presence"][A]["mpsInstance"], "mps-1");
        hub.publish(device_event(
            Kind::Disconnected,
            A,
            json!({"disconnectedAt": "2026-01-01T00:01:00Z"}),
        ));
        let frame = rx.recv().await.unwrap();
        assert!(frame.json.contains("disconnected"));
        assert_eq!(hub.join().0["presence"][A]["connected"], false);
    }

    #[test]
    fn a_late_older_presence_does_not_undo_a_newer_connect() {
        let hub = LiveHub::new(10);
        hub.publish(device_event(
            Kind::Connected,
            A,
            json!({"mpsInstance": "mps-2", "connectedAt": "2026-01-01T00:05:00.5Z"}),
        ));
        hub.publish(device_event(
            Kind::Presence,
            A,
            json!({"connected": false, "since": "2026-01-01T00:05:00Z"}),
        ));
        let (snap, _) = hub.join();
        assert_eq!(snap["presence"][A]["connected"], true);
        assert_eq!(snap["presence"][A]["mpsInstance"], "mps-2");
    }

    #[test]
    fn keeps_the_latest_activation_of_the_most_recent_devices() {
        let hub = LiveHub::new(2);
        let guids = [
            "00000000-0000-0000-0000-000000000001",
            "00000000-0000-0000-0000-000000000002",
            "00000000-0000-0000-0000-000000000003",
        ];
        for g in guids {
            hub.publish(device_event(
                Kind::Activation,
                g,
                json!({"phase": "ACTIVATION_PHASE_STARTED"}),
            ));
        }
        hub.publish(device_event(
            Kind::Activation,
            guids[1],
            json!({"phase": "ACTIVATION_PHASE_SUCCEEDED"}),
        ));
        let (snap, _) = hub.join();
        let list = snap["activations"].as_array().unwrap();
        assert_eq!(list.len(), 2);
        assert_eq!(list[0]["guid"], guids[1]);
        assert_eq!(list[0]["data"]["phase"], "ACTIVATION_PHASE_SUCCEEDED");
        assert_eq!(list[1]["guid"], guids[2]);
    }

    #[test]
    fn statuses_are_kept_per_instance_and_cleared() {
        let hub = LiveHub::new(2);
        let status = |cleared: bool| LiveEvent {
            kind: Kind::Status,
            guid: None,
            service: Some(("mps".into(), "mps-1".into())),
            id: None,
            json: json!({"kind": "status", "cleared": cleared, "data": {"state": "SERVICE_STATE_ONLINE"}}),
        };
        hub.publish(status(false));
        assert_eq!(hub.join().0["services"].as_array().unwrap().len(), 1);
        hub.publish(status(true));
        assert_eq!(hub.join().0["services"].as_array().unwrap().len(), 0);
    }
}
