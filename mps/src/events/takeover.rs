//! A dead instance's devices are reported disconnected.
//!
//! When an MPS instance dies without a goodbye (kill -9, a lost host), the broker publishes its last
//! will, the retained OFFLINE status, and the router stops sending it traffic. But the dead instance
//! cannot say that its devices lost their tunnels: their retained presence would go on naming it,
//! subscribers would never see them disconnect, and their rows would keep `connectionstatus = true`
//! and `mpsinstance = <dead>`. So a survivor says it for the dead:
//!
//! - exactly one survivor acts: the first online instance by name, the rule that already picks who
//!   answers NOT_CONNECTED for commands ([`FleetView::acts_for`]);
//! - the devices are those whose newest presence said connected at the dead instance when its
//!   OFFLINE status arrived (the view takes presence before status, so what the dead instance itself
//!   published before dying is known);
//! - for each: `disconnected` (CONNECTION_LOST, naming the dead instance) and, unless the device has
//!   meanwhile connected elsewhere, its retained presence offline; the events go out through the
//!   publisher, so they are ordered with this instance's own tunnels (a device that reconnects here
//!   is never shown offline after its new presence);
//! - the dead instance's rows are marked disconnected, except those of devices that connected again
//!   after its death was seen.
//!
//! A dead instance that stopped cleanly published its devices offline before its OFFLINE status:
//! nothing is left connected there, so nothing is reported twice (and its rows are already clear).
//!
//! A status replayed from the broker's retained store (at start, or after a reconnect) waits
//! [`RETAINED_GRACE`] first, so the statuses of the other instances, replayed with it, are known
//! before deciding who acts.

use std::sync::Arc;
use std::time::{Duration, SystemTime};

use schemas::{Service, proto};
use tokio::sync::mpsc;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use super::publisher::Job;
use super::view::{FleetView, HeldDevice};
use crate::service::Mps;

/// How long a replayed (retained) OFFLINE status waits before the decision.
pub const RETAINED_GRACE: Duration = Duration::from_secs(1);

/// An instance the broker reported OFFLINE, and the devices presence still showed there then.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Orphaned {
    pub instance: String,
    /// When this instance learned of it: the time of the devices' disconnection as far as anyone
    /// can tell.
    pub detected: SystemTime,
    /// From the broker's retained store rather than live.
    pub retained: bool,
    pub devices: Vec<HeldDevice>,
}

/// What a status message means for the takeover: `Some` when another MPS instance went OFFLINE.
/// `view` (this instance's) must already have recorded `status`.
pub fn orphaned(
    view: &FleetView,
    status: &proto::ServiceStatus,
    retained: bool,
    at: SystemTime,
) -> Option<Orphaned> {
    if status.service != Service::Mps.as_str()
        || status.instance == view.me()
        || status.state != proto::ServiceState::Offline as i32
    {
        return None;
    }
    Some(Orphaned {
        instance: status.instance.clone(),
        detected: at,
        retained,
        devices: view.held_by(&status.instance),
    })
}

fn timestamp(at: SystemTime) -> prost_types::Timestamp {
    schemas::timestamp(time::OffsetDateTime::from(at))
}

fn as_system_time(t: &prost_types::Timestamp) -> Option<SystemTime> {
    let secs = u64::try_from(t.seconds).ok()?;
    let nanos = u32::try_from(t.nanos).ok()?;
    SystemTime::UNIX_EPOCH.checked_add(Duration::new(secs, nanos))
}

/// The `disconnected` event for one device of the dead instance, reported by `reporter`.
pub fn disconnected_event(
    orphaned: &Orphaned,
    device: &HeldDevice,
    reporter: &str,
) -> proto::DeviceDisconnected {
    let connected_for = as_system_time(&device.since)
        .and_then(|since| orphaned.detected.duration_since(since).ok())
        .unwrap_or_default();
    proto::DeviceDisconnected {
        guid: device.guid.clone(),
        mps_instance: orphaned.instance.clone(),
        tenant_id: device.tenant_id.clone(),
        reason: proto::DisconnectReason::ConnectionLost as i32,
        detail: format!(
            "MPS instance {} went offline without a goodbye (its last will); reported by {reporter}",
            orphaned.instance
        ),
        disconnected_at: Some(timestamp(orphaned.detected)),
        connected_for_ms: connected_for.as_millis() as u64,
    }
}

/// The device's retained presence, offline since the death was seen.
pub fn offline_presence(orphaned: &Orphaned, device: &HeldDevice) -> proto::DevicePresence {
    proto::DevicePresence {
        guid: device.guid.clone(),
        connected: false,
        mps_instance: String::new(),
        mps_address: String::new(),
        tenant_id: device.tenant_id.clone(),
        since: Some(timestamp(orphaned.detected)),
    }
}

/// May the device's presence be taken offline? Not when it is connected here now (its newer
/// presence says so), nor when the newest presence no longer names the dead instance (it connected
/// elsewhere, or is already offline).
pub fn presence_goes_offline(held_here: bool, holder: Option<&str>, dead: &str) -> bool {
    !held_here && holder == Some(dead)
}

/// Takes every [`Orphaned`] from the view consumer and, when this instance is the one to act,
/// marks the dead instance's rows disconnected and hands the events to the publisher.
pub fn run(
    mps: Mps,
    view: Arc<FleetView>,
    mut orphans: mpsc::UnboundedReceiver<Orphaned>,
    publisher: mpsc::UnboundedSender<Job>,
    stop: CancellationToken,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        loop {
            let orphaned = tokio::select! {
                _ = stop.cancelled() => return,
                o = orphans.recv() => match o {
                    Some(o) => o,
                    None => return,
                },
            };
            if orphaned.retained {
                // Replayed statuses arrive together: by the end of the grace all are known.
                let waited = orphaned.detected.elapsed().unwrap_or_default();
                if let Some(rest) = RETAINED_GRACE.checked_sub(waited) {
                    tokio::select! {
                        _ = stop.cancelled() => return,
                        _ = tokio::time::sleep(rest) => {}
                    }
                }
            }
            if !view.acts_for(&orphaned.instance) {
                tracing::debug!(
                    instance = %orphaned.instance,
                    "MPS instance offline; another instance reports its devices (or it is back)"
                );
                continue;
            }
            act(&mps, &publisher, orphaned).await;
        }
    })
}

async fn act(mps: &Mps, publisher: &mpsc::UnboundedSender<Job>, orphaned: Orphaned) {
    let rows = match mps
        .registry()
        .release_instance(&orphaned.instance, orphaned.detected)
        .await
    {
        Ok(n) => n,
        Err(error) => {
            tracing::error!(instance = %orphaned.instance, %error, "marking the offline instance's devices disconnected failed");
            0
        }
    };
    if orphaned.devices.is_empty() && rows == 0 {
        tracing::debug!(instance = %orphaned.instance, "MPS instance offline with no device left connected");
        return;
    }
    tracing::info!(
        instance = %orphaned.instance,
        devices = orphaned.devices.len(),
        rows,
        "MPS instance went offline without a goodbye: its devices are reported disconnected"
    );
    if !orphaned.devices.is_empty() && publisher.send(Job::Orphans(orphaned)).is_err() {
        tracing::warn!("publisher gone: the offline instance's devices are not reported");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const G1: &str = "4c4c4544-004b-4210-8033-b6c04f504633";
    const G2: &str = "d162b380-c330-11e3-82a5-40a8f0a2a536";

    fn ts(seconds: i64) -> Option<prost_types::Timestamp> {
        Some(prost_types::Timestamp { seconds, nanos: 0 })
    }

    fn presence(guid: &str, connected: bool, instance: &str, secs: i64) -> proto::DevicePresence {
        proto::DevicePresence {
            guid: guid.into(),
            connected,
            mps_instance: instance.into(),
            tenant_id: "tenant-1".into(),
            since: ts(secs),
            ..Default::default()
        }
    }

    fn status(instance: &str, state: proto::ServiceState) -> proto::ServiceStatus {
        crate::events::status(instance, "", state)
    }

    /// Three instances; `mps-b` dies. What each survivor's view decides.
    fn fleet() -> (FleetView, FleetView) {
        let a = FleetView::new("mps-a".into());
        let c = FleetView::new("mps-c".into());
        for v in [&a, &c] {
            for i in ["mps-a", "mps-b", "mps-c"] {
                v.record_status(&status(i, proto::ServiceState::Online));
            }
            v.record_presence(&presence(G1, true, "mps-b", 100));
            v.record_presence(&presence(G2, true, "mps-c", 100));
        }
        (a, c)
    }

    #[test]
    fn exactly_one_survivor_acts_for_a_dead_instance() {
        let (a, c) = fleet();
        let will = status("mps-b", proto::ServiceState::Offline);
        for v in [&a, &c] {
            v.record_status(&will);
        }
        assert!(a.acts_for("mps-b"), "mps-a is the first online by name");
        assert!(!c.acts_for("mps-b"));
        // Nobody acts for an instance that is online, nor for itself.
        assert!(!a.acts_for("mps-c"));
        assert!(!a.acts_for("mps-a"));
        // mps-a dies too: mps-c is alone and acts for both.
        c.record_status(&status("mps-a", proto::ServiceState::Offline));
        assert!(c.acts_for("mps-a") && c.acts_for("mps-b"));
        // mps-b came back before the decision: nobody acts.
        c.record_status(&status("mps-b", proto::ServiceState::Online));
        assert!(!c.acts_for("mps-b"));
    }

    #[test]
    fn the_orphans_are_the_devices_presence_shows_at_the_dead_instance() {
        let (a, _) = fleet();
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(160);
        let will = status("mps-b", proto::ServiceState::Offline);
        a.record_status(&will);
        let o = orphaned(&a, &will, false, at).expect("an offline instance");
        assert_eq!(o.instance, "mps-b");
        assert_eq!(o.detected, at);
        assert_eq!(
            o.devices,
            vec![HeldDevice {
                guid: G1.into(),
                tenant_id: "tenant-1".into(),
                since: prost_types::Timestamp {
                    seconds: 100,
                    nanos: 0
                },
            }]
        );
        // ONLINE statuses, this instance's own, and other services' are no orphans.
        let online = status("mps-b", proto::ServiceState::Online);
        assert_eq!(orphaned(&a, &online, false, at), None);
        let own = status("mps-a", proto::ServiceState::Offline);
        assert_eq!(orphaned(&a, &own, false, at), None);
        let mut rps = will.clone();
        rps.service = "rps".into();
        assert_eq!(orphaned(&a, &rps, false, at), None);
    }

    #[test]
    fn a_clean_stop_leaves_nothing_to_report() {
        let (a, _) = fleet();
        // mps-b stopped cleanly: its devices' presences went offline before its OFFLINE status.
        a.record_presence(&presence(G1, false, "", 150));
        let will = status("mps-b", proto::ServiceState::Offline);
        a.record_status(&will);
        let o = orphaned(&a, &will, false, SystemTime::now()).unwrap();
        assert!(o.devices.is_empty());
    }

    #[test]
    fn a_device_that_reconnected_elsewhere_keeps_its_presence() {
        let (a, _) = fleet();
        let will = status("mps-b", proto::ServiceState::Offline);
        a.record_status(&will);
        let o = orphaned(&a, &will, false, SystemTime::now()).unwrap();
        assert_eq!(o.devices.len(), 1);
        // Still shown at the dead instance: offline.
        assert!(presence_goes_offline(
            false,
            a.holder(G1).as_deref(),
            "mps-b"
        ));
        // It reconnected here meanwhile.
        assert!(!presence_goes_offline(
            true,
            a.holder(G1).as_deref(),
            "mps-b"
        ));
        // It reconnected to mps-c meanwhile.
        a.record_presence(&presence(G1, true, "mps-c", 170));
        assert!(!presence_goes_offline(
            false,
            a.holder(G1).as_deref(),
            "mps-b"
        ));
        // Already offline.
        assert!(!presence_goes_offline(false, None, "mps-b"));
    }

    #[test]
    fn the_events_name_the_dead_instance_and_the_moment_it_was_seen_dead() {
        let detected = SystemTime::UNIX_EPOCH + Duration::from_millis(160_250);
        let o = Orphaned {
            instance: "mps-b".into(),
            detected,
            retained: false,
            devices: Vec::new(),
        };
        let device = HeldDevice {
            guid: G1.into(),
            tenant_id: "tenant-1".into(),
            since: prost_types::Timestamp {
                seconds: 100,
                nanos: 0,
            },
        };
        let e = disconnected_event(&o, &device, "mps-a");
        assert_eq!(e.guid, G1);
        assert_eq!(e.mps_instance, "mps-b");
        assert_eq!(e.tenant_id, "tenant-1");
        assert_eq!(e.reason, proto::DisconnectReason::ConnectionLost as i32);
        assert!(
            e.detail.contains("mps-b") && e.detail.contains("mps-a"),
            "{}",
            e.detail
        );
        assert_eq!(
            e.disconnected_at,
            Some(prost_types::Timestamp {
                seconds: 160,
                nanos: 250_000_000
            })
        );
        assert_eq!(e.connected_for_ms, 60_250);
        let p = offline_presence(&o, &device);
        assert!(!p.connected);
        assert!(p.mps_instance.is_empty() && p.mps_address.is_empty());
        assert_eq!(p.tenant_id, "tenant-1");
        assert_eq!(p.since, e.disconnected_at);
        // A presence stamped after the death (clock skew) gives no negative duration.
        let later = HeldDevice {
            since: prost_types::Timestamp {
                seconds: 999,
                nanos: 0,
            },
            ..device
        };
        assert_eq!(disconnected_event(&o, &later, "mps-a").connected_for_ms, 0);
    }
}
