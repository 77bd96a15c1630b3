//! The dashboard's view of the fleet: a subscriber on every device event, as user `dashboard`,
//! counting `connected` and `disconnected` events and timing each `connected` one.
//!
//! The time of a `connected` event is its receipt here minus its `connected_at`, MPS's clock
//! when it installed the authenticated tunnel (after the credential check, before the database
//! row is marked). It covers: the connection feed → MPS's publisher task → the bus client's
//! outbox (MPS's own database) → MQTT over TLS to Mosquitto → Mosquitto → MQTT over TLS to this
//! subscriber → its decoding and duplicate filter. Both clocks are this process's, so there is
//! no skew.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};

use broker::Bus;
use schemas::{Event, proto};
use tokio::task::JoinHandle;

#[derive(Default)]
struct Seen {
    connected: usize,
    disconnected: usize,
    connect_lag: Vec<Duration>,
}

/// A running dashboard subscriber.
pub(crate) struct Dashboard {
    seen: Arc<Mutex<Seen>>,
    task: JoinHandle<()>,
}

impl Dashboard {
    /// Subscribes before anything connects, so no event is missed.
    pub async fn start(bus: &Bus) -> anyhow::Result<Dashboard> {
        let mut sub = bus.subscribe(&bus.topics().all_device_events()).await?;
        let seen = Arc::new(Mutex::new(Seen::default()));
        let task = {
            let seen = seen.clone();
            tokio::spawn(async move {
                while let Some(d) = sub.next().await {
                    let received = SystemTime::now();
                    let ty = d.event.as_ref().map(|e| e.ty.as_str()).unwrap_or("");
                    let mut s = seen.lock().unwrap_or_else(|e| e.into_inner());
                    if ty == proto::DeviceConnected::TYPE {
                        s.connected += 1;
                        if let Ok(e) = d.decode::<proto::DeviceConnected>()
                            && let Some(at) = e.connected_at.as_ref().and_then(system_time)
                        {
                            s.connect_lag
                                .push(received.duration_since(at).unwrap_or_default());
                        }
                    } else if ty == proto::DeviceDisconnected::TYPE {
                        s.disconnected += 1;
                    }
                }
            })
        };
        Ok(Dashboard { seen, task })
    }

    fn with<T>(&self, f: impl FnOnce(&Seen) -> T) -> T {
        f(&self.seen.lock().unwrap_or_else(|e| e.into_inner()))
    }

    pub fn connected(&self) -> usize {
        self.with(|s| s.connected)
    }

    pub fn disconnected(&self) -> usize {
        self.with(|s| s.disconnected)
    }

    /// Receipt minus `connected_at` of every `connected` event so far.
    pub fn connect_lags(&self) -> Vec<Duration> {
        self.with(|s| s.connect_lag.clone())
    }
}

impl Drop for Dashboard {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn system_time(t: &prost_types::Timestamp) -> Option<SystemTime> {
    let secs = u64::try_from(t.seconds).ok()?;
    let nanos = u32::try_from(t.nanos).ok()?;
    SystemTime::UNIX_EPOCH.checked_add(Duration::new(secs, nanos))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn protobuf_timestamps_become_system_times() {
        let now = SystemTime::now();
        let t = schemas::timestamp(time::OffsetDateTime::from(now));
        let back = system_time(&t).unwrap();
        let diff = now.duration_since(back).unwrap_or_else(|e| e.duration());
        assert!(diff < Duration::from_micros(1), "{diff:?}");
        assert_eq!(
            system_time(&prost_types::Timestamp {
                seconds: -1,
                nanos: 0
            }),
            None
        );
    }
}
