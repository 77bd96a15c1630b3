//! What the router knows, learned only from the bus: which MPS instances are online (retained
//! `openamt/v1/mps/+/status`, OFFLINE being an instance's last will) and which instance holds each device
//! (retained `openamt/v1/devices/+/presence`).
//!
//! A device is routable only while its instance is ONLINE, and only if its presence is not older than
//! the instance's current start: a restarted instance does not resurrect presence left over from its
//! previous life.

use std::{
    collections::HashMap,
    sync::{
        RwLock,
        atomic::{AtomicUsize, Ordering},
    },
};

use prost_types::Timestamp;
use schemas::{
    Guid,
    proto::{DevicePresence, ServiceState, ServiceStatus},
};

#[derive(Debug, Clone)]
struct Instance {
    address: String,
    online: bool,
    started_at: Option<Timestamp>,
}

#[derive(Debug, Clone)]
struct Location {
    instance: String,
    address: String,
    since: Option<Timestamp>,
}

#[derive(Default)]
struct State {
    instances: HashMap<String, Instance>,
    devices: HashMap<Guid, Location>,
    /// ONLINE instance names, sorted, for round robin.
    online: Vec<String>,
}

/// Where a device can be reached.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holder {
    pub instance: String,
    pub address: String,
}

/// Counts, for health and logs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Summary {
    pub instances_online: usize,
    pub devices: usize,
}

#[derive(Default)]
pub struct RoutingTable {
    state: RwLock<State>,
    next: AtomicUsize,
}

fn earlier(a: &Timestamp, b: &Timestamp) -> bool {
    (a.seconds, a.nanos) < (b.seconds, b.nanos)
}

impl RoutingTable {
    fn read(&self) -> std::sync::RwLockReadGuard<'_, State> {
        self.state.read().unwrap_or_else(|e| e.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, State> {
        self.state.write().unwrap_or_else(|e| e.into_inner())
    }

    /// Applies an instance's retained status. OFFLINE (its last will, or a clean stop) removes the
    /// instance and forgets every device it held, at once.
    pub fn apply_status(&self, instance: &str, status: &ServiceStatus) {
        let mut state = self.write();
        let online = status.state == ServiceState::Online as i32 && !status.address.is_empty();
        if online {
            state.instances.insert(
                instance.to_owned(),
                Instance {
                    address: status.address.clone(),
                    online: true,
                    started_at: status.started_at,
                },
            );
            // Presence from before this start belongs to a previous life of the instance.
            if let Some(started) = status.started_at {
                state.devices.retain(|_, l| {
                    l.instance != instance || l.since.is_none_or(|since| !earlier(&since, &started))
                });
            }
        } else {
            let before = state.devices.len();
            state.devices.retain(|_, l| l.instance != instance);
            let forgotten = before - state.devices.len();
            state.instances.insert(
                instance.to_owned(),
                Instance {
                    address: String::new(),
                    online: false,
                    started_at: status.started_at,
                },
            );
            tracing::info!(%instance, forgotten, "MPS instance offline: no more traffic to it");
        }
        let mut names: Vec<String> = state
            .instances
            .iter()
            .filter(|(_, i)| i.online)
            .map(|(n, _)| n.clone())
            .collect();
        names.sort();
        state.online = names;
    }

    /// Applies a device's retained presence.
    pub fn apply_presence(&self, guid: Guid, presence: &DevicePresence) {
        let mut state = self.write();
        if presence.connected && !presence.mps_instance.is_empty() {
            if let Some(instance) = state.instances.get(&presence.mps_instance) {
                let stale = !instance.online
                    || matches!((presence.since, instance.started_at), (Some(since), Some(started)) if earlier(&since, &started));
                if stale {
                    // The instance is gone or was restarted since: the device is not there.
                    state.devices.remove(&guid);
                    return;
                }
            }
            state.devices.insert(
                guid,
                Location {
                    instance: presence.mps_instance.clone(),
                    address: presence.mps_address.clone(),
                    since: presence.since,
                },
            );
        } else {
            // A disconnect reported by one instance must not undo a newer connect to another.
            let other_holder = state.devices.get(&guid).is_some_and(|l| {
                !presence.mps_instance.is_empty() && l.instance != presence.mps_instance
            });
            if !other_holder {
                state.devices.remove(&guid);
            }
        }
    }

    /// The instance holding `guid`, if it is online.
    pub fn holder(&self, guid: &Guid) -> Option<Holder> {
        let state = self.read();
        let location = state.devices.get(guid)?;
        match state.instances.get(&location.instance) {
            Some(instance) if instance.online => Some(Holder {
                instance: location.instance.clone(),
                address: if instance.address.is_empty() {
                    location.address.clone()
                } else {
                    instance.address.clone()
                },
            }),
            // Status not heard yet: trust the presence's own address.
            None if !location.address.is_empty() => Some(Holder {
                instance: location.instance.clone(),
                address: location.address.clone(),
            }),
            _ => None,
        }
    }

    /// Any ONLINE instance, round robin.
    pub fn any_online(&self) -> Option<Holder> {
        let state = self.read();
        if state.online.is_empty() {
            return None;
        }
        let name = &state.online[self.next.fetch_add(1, Ordering::Relaxed) % state.online.len()];
        state.instances.get(name).map(|i| Holder {
            instance: name.clone(),
            address: i.address.clone(),
        })
    }

    pub fn summary(&self) -> Summary {
        let state = self.read();
        Summary {
            instances_online: state.online.len(),
            devices: state.devices.len(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: &str = "4c4c4544-004b-4210-8033-b6c04f504633";

    fn ts(seconds: i64) -> Option<Timestamp> {
        Some(Timestamp { seconds, nanos: 0 })
    }

    fn online(address: &str, started: i64) -> ServiceStatus {
        ServiceStatus {
            service: "mps".into(),
            instance: String::new(),
            state: ServiceState::Online as i32,
            address: address.into(),
            version: String::new(),
            started_at: ts(started),
        }
    }

    fn offline() -> ServiceStatus {
        ServiceStatus {
            state: ServiceState::Offline as i32,
            ..online("", 0)
        }
    }

    fn connected(instance: &str, address: &str, since: i64) -> DevicePresence {
        DevicePresence {
            guid: A.into(),
            connected: true,
            mps_instance: instance.into(),
            mps_address: address.into(),
            tenant_id: String::new(),
            since: ts(since),
        }
    }

    fn disconnected(instance: &str) -> DevicePresence {
        DevicePresence {
            connected: false,
            mps_instance: instance.into(),
            mps_address: String::new(),
            ..connected("", "", 0)
        }
    }

    #[test]
    fn offline_forgets_the_instance_and_its_devices_at_once() {
        let table = RoutingTable::default();
        let guid: Guid = A.parse().unwrap();
        table.apply_status("mps-1", &online("10.0.0.1:3000", 100));
        table.apply_presence(guid, &connected("mps-1", "10.0.0.1:3000", 150));
        assert_eq!(table.holder(&guid).unwrap().address, "10.0.0.1:3000");
        table.apply_status("mps-1", &offline());
        assert_eq!(table.holder(&guid), None);
        assert_eq!(table.any_online(), None);
        // Retained presence replayed after the will (e.g. the router restarted) stays dead.
        table.apply_presence(guid, &connected("mps-1", "10.0.0.1:3000", 150));
        assert_eq!(table.holder(&guid), None);
    }

    #[test]
    fn a_restarted_instance_does_not_resurrect_old_presence() {
        let table = RoutingTable::default();
        let guid: Guid = A.parse().unwrap();
        table.apply_status("mps-1", &online("a:3000", 100));
        table.apply_presence(guid, &connected("mps-1", "a:3000", 150));
        table.apply_status("mps-1", &online("a:3000", 200));
        assert_eq!(
            table.holder(&guid),
            None,
            "presence from before the restart"
        );
        table.apply_presence(guid, &connected("mps-1", "a:3000", 150));
        assert_eq!(table.holder(&guid), None, "the same stale presence again");
        table.apply_presence(guid, &connected("mps-1", "a:3000", 250));
        assert!(
            table.holder(&guid).is_some(),
            "reconnected after the restart"
        );
    }

    #[test]
    fn a_late_disconnect_from_the_old_instance_does_not_undo_the_move() {
        let table = RoutingTable::default();
        let guid: Guid = A.parse().unwrap();
        table.apply_status("mps-1", &online("a:3000", 1));
        table.apply_status("mps-2", &online("b:3000", 1));
        table.apply_presence(guid, &connected("mps-1", "a:3000", 10));
        table.apply_presence(guid, &connected("mps-2", "b:3000", 20));
        table.apply_presence(guid, &disconnected("mps-1"));
        assert_eq!(table.holder(&guid).unwrap().instance, "mps-2");
        table.apply_presence(guid, &disconnected("mps-2"));
        assert_eq!(table.holder(&guid), None);
        table.apply_presence(guid, &connected("mps-2", "b:3000", 30));
        table.apply_presence(guid, &disconnected(""));
        assert_eq!(
            table.holder(&guid),
            None,
            "an anonymous disconnect always counts"
        );
    }

    #[test]
    fn round_robin_over_online_instances() {
        let table = RoutingTable::default();
        table.apply_status("mps-1", &online("a:3000", 1));
        table.apply_status("mps-2", &online("b:3000", 1));
        let picks: Vec<String> = (0..4)
            .map(|_| table.any_online().unwrap().instance)
            .collect();
        assert_eq!(picks, ["mps-1", "mps-2", "mps-1", "mps-2"]);
        table.apply_status("mps-2", &offline());
        assert!((0..3).all(|_| table.any_online().unwrap().instance == "mps-1"));
        assert_eq!(
            table.summary(),
            Summary {
                instances_online: 1,
                devices: 0
            }
        );
    }
}
