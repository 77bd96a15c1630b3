//! What this instance knows of the rest of the fleet: the newest retained presence of every
//! device and which MPS instances are online (their retained status, OFFLINE by last will).
//!
//! Three decisions need it:
//! - a tunnel that ends here must not mark the device offline if the device has meanwhile moved
//!   to another instance (the newest presence names that instance);
//! - a command for a device no instance holds must get exactly one NOT_CONNECTED answer: the
//!   online instance with the smallest name gives it (see `commands`);
//! - the devices of an instance that died without a goodbye are reported disconnected by exactly
//!   one survivor, chosen by the same rule (see `takeover`).

use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::SystemTime;

use broker::Bus;
use schemas::{Service, Topic, proto};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::publisher::Job;
use super::reassert::Reassertion;
use super::takeover::{self, Orphaned};

#[derive(Debug, Clone, PartialEq, Eq)]
struct Holder {
    connected: bool,
    instance: String,
    tenant_id: String,
    /// (seconds, nanos) of the presence's `since`.
    since: (i64, i32),
}

/// A device the newest presence shows connected at some instance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HeldDevice {
    pub guid: String,
    pub tenant_id: String,
    /// When it connected there, per that presence.
    pub since: prost_types::Timestamp,
}

#[derive(Default)]
struct State {
    presence: HashMap<String, Holder>,
    /// Online MPS instances other than this one, ordered by name.
    online: BTreeSet<String>,
}

pub struct FleetView {
    me: String,
    state: Mutex<State>,
}

fn since(t: &Option<prost_types::Timestamp>) -> (i64, i32) {
    t.as_ref().map(|t| (t.seconds, t.nanos)).unwrap_or((0, 0))
}

impl FleetView {
    pub fn new(me: String) -> Self {
        Self {
            me,
            state: Mutex::new(State::default()),
        }
    }

    /// This instance's name.
    pub fn me(&self) -> &str {
        &self.me
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes a presence unless an equally new or newer one is already known.
    pub fn record_presence(&self, p: &proto::DevicePresence) {
        let guid = p.guid.to_ascii_lowercase();
        let new = Holder {
            connected: p.connected,
            instance: p.mps_instance.clone(),
            tenant_id: p.tenant_id.clone(),
            since: since(&p.since),
        };
        let mut state = self.state();
        match state.presence.get(&guid) {
            Some(old) if old.since > new.since => {}
            _ => {
                state.presence.insert(guid, new);
            }
        }
    }

    /// Forgets a device whose presence was cleared (it was deactivated): no instance holds it.
    pub fn forget(&self, guid: &str) {
        self.state().presence.remove(&guid.to_ascii_lowercase());
    }

    /// Statuses of other instances, in arrival order (the broker's last will comes after the
    /// instance's own messages). This instance's own status is never in doubt here.
    pub fn record_status(&self, s: &proto::ServiceStatus) {
        if s.service != Service::Mps.as_str() || s.instance == self.me {
            return;
        }
        let mut state = self.state();
        if s.state == proto::ServiceState::Online as i32 {
            state.online.insert(s.instance.clone());
        } else {
            state.online.remove(&s.instance);
        }
    }

    /// The instance the newest presence says holds `guid`, if it says connected.
    pub fn holder(&self, guid: &str) -> Option<String> {
        self.state()
            .presence
            .get(&guid.to_ascii_lowercase())
            .filter(|h| h.connected)
            .map(|h| h.instance.clone())
    }

    /// A presence left by an earlier run of this instance (it crashed, or stopped before it could
    /// publish it offline): it names this instance, says connected, and predates `started`.
    pub fn is_stale_own(&self, p: &proto::DevicePresence, started: SystemTime) -> bool {
        let started = schemas::timestamp(time::OffsetDateTime::from(started));
        p.connected
            && p.mps_instance == self.me
            && since(&p.since) < (started.seconds, started.nanos)
    }

    /// May this instance publish `guid` offline after its tunnel here ended? Not when a newer
    /// presence shows the device connected at another instance.
    pub fn may_mark_offline(&self, guid: &str) -> bool {
        self.holder(guid).is_none_or(|h| h == self.me)
    }

    /// Should this instance answer NOT_CONNECTED for `guid`, which it does not hold? Only if no
    /// online instance holds it per presence, and this instance is the first online one by name.
    pub fn answers_for_unheld(&self, guid: &str) -> bool {
        let state = self.state();
        let held_elsewhere = state
            .presence
            .get(&guid.to_ascii_lowercase())
            .is_some_and(|h| {
                h.connected && h.instance != self.me && state.online.contains(&h.instance)
            });
        !held_elsewhere && self.first_online(&state)
    }

    /// Is this instance the first online MPS instance by name? (It is online to itself.)
    fn first_online(&self, state: &State) -> bool {
        state
            .online
            .iter()
            .next()
            .is_none_or(|first| self.me.as_str() < first.as_str())
    }

    /// Should this instance report the devices of `dead`, which went OFFLINE without a goodbye?
    /// Only while `dead` is still offline (it did not come back meanwhile), and only if this
    /// instance is the first online one by name, so exactly one survivor acts.
    pub fn acts_for(&self, dead: &str) -> bool {
        let state = self.state();
        dead != self.me && !state.online.contains(dead) && self.first_online(&state)
    }

    /// Every device whose newest presence says connected at `instance`, by GUID.
    pub fn held_by(&self, instance: &str) -> Vec<HeldDevice> {
        let state = self.state();
        let mut held: Vec<HeldDevice> = state
            .presence
            .iter()
            .filter(|(_, h)| h.connected && h.instance == instance)
            .map(|(guid, h)| HeldDevice {
                guid: guid.clone(),
                tenant_id: h.tenant_id.clone(),
                since: prost_types::Timestamp {
                    seconds: h.since.0,
                    nanos: h.since.1,
                },
            })
            .collect();
        held.sort_by(|a, b| a.guid.cmp(&b.guid));
        held
    }
}

/// Feeds the view from the retained presence and status topics until `stop`. Presences an
/// earlier run of this instance left connected go to `stale`, for the publisher to take offline;
/// other instances gone OFFLINE go to `orphans`, with the devices presence showed there; this
/// instance's own OFFLINE status, and others' offline reports in the window after it, become
/// publisher `jobs` ([`super::reassert`]).
///
/// Presence is taken before status: an instance that stops cleanly publishes its devices offline
/// before its OFFLINE status, and the view must know that when the status arrives.
pub fn run(
    bus: Bus,
    view: Arc<FleetView>,
    stale: mpsc::UnboundedSender<proto::DevicePresence>,
    orphans: mpsc::UnboundedSender<Orphaned>,
    jobs: mpsc::UnboundedSender<Job>,
    started: SystemTime,
    stop: CancellationToken,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let topics = bus.topics().clone();
        let mut reassertion = Reassertion::new(view.me(), bus.source());
        let mut presence = match bus.subscribe(&topics.all_presence()).await {
            Ok(s) => s,
            Err(error) => {
                tracing::error!(%error, "cannot follow device presence");
                return;
            }
        };
        let mut status = match bus.subscribe(&topics.all_status(Service::Mps)).await {
            Ok(s) => s,
            Err(error) => {
                tracing::error!(%error, "cannot follow MPS instance status");
                return;
            }
        };
        loop {
            tokio::select! {
                biased;
                _ = stop.cancelled() => return,
                d = presence.next() => match d {
                    // A cleared presence (empty retained message): the device was deactivated.
                    Some(delivery) if delivery.payload.is_empty() => match topics.parse(&delivery.topic) {
                        Ok(Topic::Presence(g)) => view.forget(&g.to_string()),
                        _ => tracing::warn!(topic = %delivery.topic, "cleared presence on another topic ignored"),
                    },
                    Some(delivery) => {
                        let p = match delivery.decode::<proto::DevicePresence>() {
                            Ok(p) => p,
                            Err(error) => {
                                tracing::warn!(%error, "skipping a presence message");
                                continue;
                            }
                        };
                        // The topic names the device; a payload naming another one is ignored.
                        match topics.parse(&delivery.topic) {
                            Ok(Topic::Presence(g)) if g.to_string().eq_ignore_ascii_case(&p.guid) => {
                                view.record_presence(&p);
                                let source = delivery.event.as_ref().map(|e| e.source.as_str());
                                if let Some(job) = reassertion.on_presence(&p, source, std::time::Instant::now()) {
                                    let _ = jobs.send(job);
                                }
                                if view.is_stale_own(&p, started) {
                                    let _ = stale.send(p);
                                }
                            }
                            _ => tracing::warn!(topic = %delivery.topic, "presence whose payload does not match its topic ignored"),
                        }
                    }
                    None => return,
                },
                s = status.next_event::<proto::ServiceStatus>() => match s {
                    Some((delivery, s)) => {
                        // The topic names the instance; a payload naming another one is ignored.
                        match topics.parse(&delivery.topic) {
                            Ok(Topic::Status { instance, .. }) if instance == s.instance => {
                                view.record_status(&s);
                                if let Some(job) = reassertion.on_status(&s, std::time::Instant::now()) {
                                    let _ = jobs.send(job);
                                }
                                let now = SystemTime::now();
                                if let Some(o) = takeover::orphaned(&view, &s, delivery.retained, now) {
                                    let _ = orphans.send(o);
                                }
                            }
                            _ => tracing::warn!(topic = %delivery.topic, "status whose payload does not match its topic ignored"),
                        }
                    }
                    None => return,
                },
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn presence(guid: &str, connected: bool, instance: &str, secs: i64) -> proto::DevicePresence {
        proto::DevicePresence {
            guid: guid.into(),
            connected,
            mps_instance: instance.into(),
            since: Some(prost_types::Timestamp {
                seconds: secs,
                nanos: 0,
            }),
            ..Default::default()
        }
    }

    fn status(instance: &str, online: bool) -> proto::ServiceStatus {
        let state = if online {
            proto::ServiceState::Online
        } else {
            proto::ServiceState::Offline
        };
        crate::events::status(instance, "", state)
    }

    const G: &str = "4c4c4544-004b-4210-8033-b6c04f504633";

    #[test]
    fn a_device_that_moved_on_is_not_marked_offline() {
        let view = FleetView::new("mps-a".into());
        view.record_presence(&presence(G, true, "mps-a", 100));
        assert!(view.may_mark_offline(G));
        // The device reconnected to B later; A's old tunnel times out afterwards.
        view.record_presence(&presence(G, true, "mps-b", 200));
        assert!(!view.may_mark_offline(G));
        // A stale message (older than what is known) changes nothing.
        view.record_presence(&presence(&G.to_uppercase(), true, "mps-a", 150));
        assert_eq!(view.holder(G).as_deref(), Some("mps-b"));
        view.record_presence(&presence(G, false, "", 300));
        assert!(view.may_mark_offline(G));
        assert_eq!(view.holder(G), None);
    }

    #[test]
    fn presences_of_an_earlier_run_are_stale() {
        let view = FleetView::new("mps-a".into());
        let started = std::time::UNIX_EPOCH + std::time::Duration::from_secs(1000);
        assert!(view.is_stale_own(&presence(G, true, "mps-a", 999), started));
        assert!(!view.is_stale_own(&presence(G, true, "mps-a", 1000), started));
        assert!(!view.is_stale_own(&presence(G, false, "", 10), started));
        assert!(!view.is_stale_own(&presence(G, true, "mps-b", 10), started));
    }

    #[test]
    fn exactly_one_online_instance_answers_for_an_unheld_device() {
        let a = FleetView::new("mps-a".into());
        let b = FleetView::new("mps-b".into());
        for v in [&a, &b] {
            v.record_status(&status("mps-a", true));
            v.record_status(&status("mps-b", true));
        }
        assert!(a.answers_for_unheld(G));
        assert!(!b.answers_for_unheld(G));
        // Held by B per presence: B answers itself, A stays silent.
        for v in [&a, &b] {
            v.record_presence(&presence(G, true, "mps-b", 10));
        }
        assert!(!a.answers_for_unheld(G));
        // B crashed (its last will): its stale presence no longer counts, and A is first again.
        a.record_status(&status("mps-b", false));
        assert!(a.answers_for_unheld(G));
        // A alone in the fleet answers for everything it does not hold.
        let lone = FleetView::new("mps-z".into());
        assert!(lone.answers_for_unheld(G));
        // Statuses of other services are not MPS instances.
        let mut rps = status("aaa", true);
        rps.service = "rps".into();
        lone.record_status(&rps);
        assert!(lone.answers_for_unheld(G));
    }
}
