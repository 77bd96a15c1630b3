//! Turns the connection registry's facts into bus events: `connected` / `disconnected` and the
//! retained presence that tells the router (and everyone else) which instance holds a device.
//!
//! Rules:
//! - a replaced tunnel gets a `disconnected` event (reason REPLACED) but never takes the
//!   device's presence offline: its successor, on this instance, holds the device;
//! - a tunnel that ends after the device moved to another instance does not take the presence
//!   offline either (the newest presence names the other instance, see [`FleetView`]);
//! - at shutdown every device still held here is published offline (reason SHUTDOWN), even if
//!   its session did not finish in time to report it;
//! - the devices of an instance that died without a goodbye are reported here too, when this
//!   instance is the one to do it ([`super::takeover`]), in order with this instance's tunnels;
//! - when the broker wrongly declared this instance dead, its status and the devices others took
//!   offline are announced again ([`super::reassert`]).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::SystemTime;

use broker::Bus;
use schemas::{DeviceEvent, Guid, Topic, proto};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::reference::{Kind, ReferenceEvents};
use super::takeover::{self, Orphaned};
use super::view::FleetView;
use crate::cira::{ConnectionEvent, DisconnectCause};
use crate::registry::lastseen::LastSeen;

pub fn reason(cause: DisconnectCause) -> proto::DisconnectReason {
    use proto::DisconnectReason as R;
    match cause {
        DisconnectCause::ConnectionLost => R::ConnectionLost,
        DisconnectCause::IdleTimeout => R::IdleTimeout,
        DisconnectCause::Replaced => R::Replaced,
        DisconnectCause::DeviceDisconnect => R::DeviceDisconnect,
        DisconnectCause::Administrative => R::Administrative,
        DisconnectCause::Shutdown => R::Shutdown,
        DisconnectCause::ProtocolError => R::ProtocolError,
    }
}

fn timestamp(at: SystemTime) -> prost_types::Timestamp {
    schemas::timestamp(time::OffsetDateTime::from(at))
}

struct Held {
    tenant_id: String,
    since: SystemTime,
    /// The `connected` event as published, for announcing it again.
    event: proto::DeviceConnected,
}

/// Devices of a dead instance reported per turn: between turns this instance's own tunnels come
/// first, so thousands of reports never hold up the presence of devices failing over to it.
const ORPHANS_PER_TURN: usize = 64;

/// Work for the publisher besides the tunnels' own facts.
#[derive(Debug)]
pub enum Job {
    /// A dead instance's devices to report.
    Orphans(Orphaned),
    /// The broker published this instance's OFFLINE status while it runs: publish ONLINE again and
    /// announce every device held here that the newest presence no longer shows here.
    Reassert,
    /// Another instance published `guid` offline while it is held here: announce it again (if held).
    Reannounce(String),
    /// RPS deactivated `guid` at `at`: its presence is cleared rather than taken offline, now if
    /// no instance holds it, or when the tunnel held here (closed by [`super::forget`]) ends. A
    /// tunnel that began after `at` belongs to a new activation and is left alone.
    Forget { guid: String, at: SystemTime },
}

pub struct Publisher {
    bus: Bus,
    view: Arc<FleetView>,
    instance: String,
    address: String,
    reference: ReferenceEvents,
    /// This run's ONLINE status, published again by [`Job::Reassert`].
    online: proto::ServiceStatus,
    /// Re-announced devices get their rows written again with the next batch.
    last_seen: LastSeen,
    /// Devices this instance has published as connected here.
    held: HashMap<String, Held>,
    /// Jobs taken and not done yet, in small pieces (see [`ORPHANS_PER_TURN`]).
    backlog: VecDeque<Job>,
    /// Deactivated devices held here: their presence is cleared when their tunnel ends.
    forgotten: HashSet<String>,
}

impl Publisher {
    pub fn new(
        bus: Bus,
        view: Arc<FleetView>,
        online: proto::ServiceStatus,
        last_seen: LastSeen,
        reference: ReferenceEvents,
    ) -> Self {
        Self {
            bus,
            view,
            instance: online.instance.clone(),
            address: online.address.clone(),
            reference,
            online,
            last_seen,
            held: HashMap::new(),
            backlog: VecDeque::new(),
            forgotten: HashSet::new(),
        }
    }

    /// Queues the event and moves on: a connect storm's events are stored in a few outbox writes, in
    /// order. (Awaiting each one cost a write per event: 10,000 connects took seconds to be heard.)
    /// The outbox writer logs a write that fails.
    async fn publish<E: schemas::Event>(&self, topic: Topic, event: &E) {
        if let Err(error) = self.bus.publish_queued(&topic, event) {
            tracing::error!(%error, topic = ?topic, "event not published");
        }
    }

    async fn presence(&self, guid: Guid, presence: proto::DevicePresence) {
        self.view.record_presence(&presence);
        self.publish(Topic::Presence(guid), &presence).await;
    }

    fn connected_presence(
        &self,
        g: &Guid,
        tenant_id: &str,
        since: SystemTime,
    ) -> proto::DevicePresence {
        proto::DevicePresence {
            guid: g.to_string(),
            connected: true,
            mps_instance: self.instance.clone(),
            mps_address: self.address.clone(),
            tenant_id: tenant_id.to_owned(),
            since: Some(timestamp(since)),
        }
    }

    pub async fn handle(&mut self, event: ConnectionEvent) {
        match event {
            ConnectionEvent::Connected {
                guid,
                tenant_id,
                hostname,
                peer,
                tls,
                at,
            } => {
                let Ok(g) = guid.parse::<Guid>() else {
                    tracing::error!(guid, "connected device has no valid GUID; not published");
                    return;
                };
                let connected = proto::DeviceConnected {
                    guid: g.to_string(),
                    mps_instance: self.instance.clone(),
                    mps_address: self.address.clone(),
                    tenant_id: tenant_id.clone(),
                    hostname: hostname.unwrap_or_default(),
                    remote_address: peer.map(|p| p.to_string()).unwrap_or_default(),
                    connected_at: Some(timestamp(at)),
                    tls_protocol: tls.protocol,
                    tls_cipher: tls.cipher,
                };
                self.publish(Topic::DeviceEvent(g, DeviceEvent::Connected), &connected)
                    .await;
                let presence = self.connected_presence(&g, &tenant_id, at);
                self.presence(g, presence).await;
                self.held.insert(
                    g.to_string(),
                    Held {
                        tenant_id,
                        since: at,
                        event: connected,
                    },
                );
                self.reference
                    .publish(
                        Kind::Success,
                        "CIRA_Connected",
                        "CIRA Connection Established",
                        Some(&g.to_string()),
                    )
                    .await;
            }
            ConnectionEvent::Disconnected {
                guid,
                tenant_id,
                cause,
                detail,
                connected_for,
            } => {
                let Ok(g) = guid.parse::<Guid>() else {
                    tracing::error!(guid, "disconnected device has no valid GUID; not published");
                    return;
                };
                self.disconnected(
                    g,
                    tenant_id,
                    cause,
                    detail,
                    connected_for.as_millis() as u64,
                )
                .await;
            }
        }
    }

    async fn disconnected(
        &mut self,
        g: Guid,
        tenant_id: String,
        cause: DisconnectCause,
        detail: String,
        connected_for_ms: u64,
    ) {
        let now = SystemTime::now();
        let event = proto::DeviceDisconnected {
            guid: g.to_string(),
            mps_instance: self.instance.clone(),
            tenant_id: tenant_id.clone(),
            reason: reason(cause) as i32,
            detail,
            disconnected_at: Some(timestamp(now)),
            connected_for_ms,
        };
        self.publish(Topic::DeviceEvent(g, DeviceEvent::Disconnected), &event)
            .await;
        if cause == DisconnectCause::Replaced {
            // The successor tunnel's "connected" follows and keeps the presence.
            return;
        }
        let guid = g.to_string();
        self.held.remove(&guid);
        if self.forgotten.remove(&guid) {
            self.clear_presence(g).await;
            return;
        }
        if !self.view.may_mark_offline(&guid) {
            tracing::info!(
                guid,
                holder = ?self.view.holder(&guid),
                "device moved to another instance; its presence stays"
            );
            return;
        }
        let presence = proto::DevicePresence {
            guid: guid.clone(),
            connected: false,
            mps_instance: String::new(),
            mps_address: String::new(),
            tenant_id,
            since: Some(timestamp(now)),
        };
        self.presence(g, presence).await;
    }

    /// A deactivated device leaves no presence: the retained message is removed.
    async fn clear_presence(&self, g: Guid) {
        let guid = g.to_string();
        self.view.forget(&guid);
        match self.bus.clear_retained_queued(&Topic::Presence(g)) {
            Ok(_) => tracing::info!(guid, "deactivated device: presence cleared"),
            Err(error) => tracing::error!(%error, guid, "clearing the presence failed"),
        }
    }

    fn forget(&mut self, guid: String, at: SystemTime) -> Option<Guid> {
        match self.held.get(&guid) {
            Some(held) if held.since <= at => {
                self.forgotten.insert(guid);
                None
            }
            Some(_) => {
                tracing::info!(
                    guid,
                    "deactivated device is connected again since: presence kept"
                );
                None
            }
            None => match self.view.holder(&guid) {
                Some(holder) if holder != self.instance => None,
                _ => guid.parse().ok(),
            },
        }
    }

    /// A presence an earlier run of this instance left connected goes offline, unless the device
    /// has a tunnel here again (its newer "connected" came first, or will come next).
    pub async fn clear_stale(&mut self, stale: proto::DevicePresence) {
        let Ok(g) = stale.guid.parse::<Guid>() else {
            return;
        };
        if self.held.contains_key(&g.to_string()) {
            return;
        }
        tracing::info!(guid = %g, "presence left connected by an earlier run of this instance: now offline");
        let presence = proto::DevicePresence {
            guid: g.to_string(),
            connected: false,
            mps_instance: String::new(),
            mps_address: String::new(),
            tenant_id: stale.tenant_id,
            since: Some(timestamp(SystemTime::now())),
        };
        self.presence(g, presence).await;
    }

    /// The devices of a dead instance: each one's `disconnected` event, and its presence offline
    /// unless it is held here now or the newest presence names another instance.
    pub async fn take_over(&mut self, orphaned: Orphaned) {
        for device in &orphaned.devices {
            let Ok(g) = device.guid.parse::<Guid>() else {
                continue;
            };
            let event = takeover::disconnected_event(&orphaned, device, &self.instance);
            self.publish(Topic::DeviceEvent(g, DeviceEvent::Disconnected), &event)
                .await;
            let held_here = self.held.contains_key(&g.to_string());
            let holder = self.view.holder(&device.guid);
            if takeover::presence_goes_offline(held_here, holder.as_deref(), &orphaned.instance) {
                self.presence(g, takeover::offline_presence(&orphaned, device))
                    .await;
            } else {
                tracing::debug!(guid = %g, ?holder, held_here, "device of the offline instance is connected again; its presence stays");
            }
        }
    }

    /// ONLINE again now; every device held here whose newest presence no longer says so is
    /// announced again, one per turn (see [`super::reassert`]).
    pub async fn reassert(&mut self) {
        tracing::warn!(
            instance = %self.instance,
            "the broker declared this instance offline while it runs: announcing it and its devices again"
        );
        match self
            .bus
            .topics()
            .status(schemas::Service::Mps, &self.instance)
        {
            Ok(topic) => self.publish(topic, &self.online.clone()).await,
            Err(error) => tracing::error!(%error, "status topic"),
        }
        let guids: Vec<String> = self
            .held
            .keys()
            .filter(|g| self.view.holder(g).as_deref() != Some(self.instance.as_str()))
            .cloned()
            .collect();
        self.backlog.extend(guids.into_iter().map(Job::Reannounce));
    }

    /// A device held here that the fleet was told is offline: its `connected` event again (as first
    /// published) and its presence, stamped now so it is newer than the report it corrects. Its
    /// row follows with the next keep-alive batch.
    pub async fn reannounce(&mut self, guid: &str) {
        let Some(held) = self.held.get(guid) else {
            return;
        };
        let Ok(g) = guid.parse::<Guid>() else {
            return;
        };
        let event = held.event.clone();
        let presence = self.connected_presence(&g, &held.tenant_id, SystemTime::now());
        tracing::info!(guid, "device held here announced again");
        self.publish(Topic::DeviceEvent(g, DeviceEvent::Connected), &event)
            .await;
        self.presence(g, presence).await;
        self.last_seen.seen(guid);
    }

    /// Takes a job: big ones are cut into pieces for [`Publisher::work`].
    pub async fn accept(&mut self, job: Job) {
        match job {
            Job::Orphans(o) => {
                let mut devices = o.devices.into_iter();
                loop {
                    let piece: Vec<_> = devices.by_ref().take(ORPHANS_PER_TURN).collect();
                    if piece.is_empty() {
                        break;
                    }
                    self.backlog.push_back(Job::Orphans(Orphaned {
                        instance: o.instance.clone(),
                        detected: o.detected,
                        retained: o.retained,
                        devices: piece,
                    }));
                }
            }
            Job::Reassert => self.reassert().await,
            job @ Job::Reannounce(_) => self.backlog.push_back(job),
            Job::Forget { guid, at } => {
                if let Some(g) = self.forget(guid.to_ascii_lowercase(), at) {
                    self.clear_presence(g).await;
                }
            }
        }
    }

    pub fn has_work(&self) -> bool {
        !self.backlog.is_empty()
    }

    /// Does one piece of the backlog.
    pub async fn work(&mut self) {
        match self.backlog.pop_front() {
            Some(Job::Orphans(o)) => self.take_over(o).await,
            Some(Job::Reannounce(guid)) => self.reannounce(&guid).await,
            Some(job @ (Job::Reassert | Job::Forget { .. })) => self.accept(job).await,
            None => {}
        }
    }

    /// Every device still held here goes offline (shutdown).
    pub async fn release_all(&mut self) {
        let held: Vec<(String, String, SystemTime)> = self
            .held
            .iter()
            .map(|(g, h)| (g.clone(), h.tenant_id.clone(), h.since))
            .collect();
        for (guid, tenant, since) in held {
            let Ok(g) = guid.parse::<Guid>() else {
                continue;
            };
            let up = since.elapsed().unwrap_or_default().as_millis() as u64;
            self.disconnected(g, tenant, DisconnectCause::Shutdown, String::new(), up)
                .await;
        }
    }
}

/// Publishes every fact from `feed` (takes `stale` presences offline, and does the other `jobs`,
/// piece by piece, whenever no tunnel fact waits) until `stop`, then what is still queued, then
/// releases the devices still held. The publisher is the only writer
/// of this instance's presences, so they never contradict the order of its tunnels.
pub async fn run(
    mut publisher: Publisher,
    mut feed: mpsc::UnboundedReceiver<ConnectionEvent>,
    mut stale: mpsc::UnboundedReceiver<proto::DevicePresence>,
    mut jobs: mpsc::UnboundedReceiver<Job>,
    stop: CancellationToken,
) {
    loop {
        tokio::select! {
            biased;
            ev = feed.recv() => match ev {
                Some(ev) => publisher.handle(ev).await,
                None => break,
            },
            Some(p) = stale.recv() => publisher.clear_stale(p).await,
            Some(job) = jobs.recv() => publisher.accept(job).await,
            _ = std::future::ready(()), if publisher.has_work() => publisher.work().await,
            _ = stop.cancelled() => break,
        }
    }
    while let Ok(ev) = feed.try_recv() {
        publisher.handle(ev).await;
    }
    // Reports taken on are finished (each device of a dead instance is reported once).
    while publisher.has_work() {
        publisher.work().await;
    }
    publisher.release_all().await;
}
