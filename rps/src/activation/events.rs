//! What RPS tells the rest of the system (rps.md §4–5, DESIGN.md): `ActivationEvent` started / succeeded /
//! failed and `DeviceDeactivated` on the device's event topics, optionally the reference's JSON on
//! `rps/events`. MPS registers a device from the succeeded event and removes it on deactivated — these replace
//! the reference's REST calls from RPS to MPS.
//!
//! The tenant and orphan checks the reference makes with `GET /api/v1/devices/<guid>` read the retained device
//! presence instead: every RPS instance follows `devices/+/presence` and keeps the latest state per device.

use std::sync::Arc;

use broker::Bus;
use dashmap::DashMap;
use schemas::proto::{self, ActivationPhase, ControlMode, DevicePresence};
use schemas::{DeviceEvent, Guid, Topic};
use serde_json::json;

use super::inflight::{self, InFlight};

/// What a device's activation events carry besides their phase.
#[derive(Clone, Debug, Default)]
pub struct ActivationFacts {
    pub guid: Option<Guid>,
    pub profile: String,
    pub tenant_id: String,
    pub hostname: String,
    pub dns_suffix: String,
    pub friendly_name: String,
    pub tags: Vec<String>,
    pub control_mode: Option<ControlMode>,
    pub mps_username: String,
    pub device_info: Option<proto::DeviceInfo>,
}

/// A device MPS knows about, as its retained presence says.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KnownDevice {
    pub tenant_id: String,
    pub connected: bool,
}

/// The publisher of one RPS instance (no bus: nothing is published, every device is unknown).
#[derive(Clone, Default)]
pub struct Events {
    bus: Option<Bus>,
    reference_json: bool,
    known: Arc<DashMap<Guid, KnownDevice>>,
    /// Where activations are recorded while they run (see [`InFlight`]).
    in_flight: Option<InFlight>,
}

impl Events {
    /// Publishes nothing (tests of the protocol alone, or a deployment without a broker).
    pub fn disabled() -> Events {
        Events::default()
    }

    /// Publishes on `bus`, and starts following the retained presence of every device.
    pub async fn start(bus: Bus, reference_json: bool) -> Events {
        let known: Arc<DashMap<Guid, KnownDevice>> = Arc::default();
        let filter = format!("{}/devices/+/presence", bus.topics().root());
        match bus.subscribe(&filter).await {
            Ok(mut subscription) => {
                let known = Arc::clone(&known);
                let topics = bus.topics().clone();
                tokio::spawn(async move {
                    while let Some(delivery) = subscription.next().await {
                        let Ok(Topic::Presence(guid)) = topics.parse(&delivery.topic) else {
                            continue;
                        };
                        if delivery.payload.is_empty() {
                            // A cleared retained message: MPS forgot the device.
                            known.remove(&guid);
                            continue;
                        }
                        match delivery.decode::<DevicePresence>() {
                            Ok(p) => {
                                known.insert(
                                    guid,
                                    KnownDevice {
                                        tenant_id: p.tenant_id,
                                        connected: p.connected,
                                    },
                                );
                            }
                            Err(error) => tracing::debug!(%error, "presence message skipped"),
                        }
                    }
                });
            }
            Err(error) => {
                tracing::warn!(%error, "cannot follow device presence; tenant checks allow every device")
            }
        }
        Events {
            bus: Some(bus),
            reference_json,
            known,
            in_flight: None,
        }
    }

    /// Records activations in `in_flight` while they run, after closing those an earlier run of this
    /// instance left open: each gets its `failed` event ([`inflight::INTERRUPTED`]).
    pub async fn with_in_flight(mut self, in_flight: InFlight) -> Events {
        match in_flight.interrupted().await {
            Ok(open) => {
                for activation in open {
                    let Ok(guid) = activation.guid.parse::<Guid>() else {
                        tracing::warn!(guid = %activation.guid, "interrupted activation of an unreadable GUID; forgotten");
                        let _ = in_flight.ended(&activation.guid).await;
                        continue;
                    };
                    tracing::warn!(
                        guid = %guid,
                        profile = %activation.profile,
                        started_at = %activation.started_at,
                        "an activation was cut short by the end of the previous run of RPS; reporting it failed"
                    );
                    let facts = ActivationFacts {
                        guid: Some(guid),
                        profile: activation.profile,
                        tenant_id: activation.tenant_id,
                        hostname: activation.hostname,
                        dns_suffix: activation.dns_suffix,
                        ..Default::default()
                    };
                    self.publish_activation(ActivationPhase::Failed, &facts, inflight::INTERRUPTED)
                        .await;
                    if let Err(error) = in_flight.ended(&activation.guid).await {
                        tracing::warn!(guid = %guid, %error, "cannot forget the interrupted activation; it is reported again at the next start");
                    }
                }
            }
            Err(error) => {
                tracing::error!(%error, "cannot read the activations a previous run left open; they get no failed event")
            }
        }
        self.in_flight = Some(in_flight);
        self
    }

    /// What MPS last said about a device, if anything.
    pub fn known_device(&self, guid: &Guid) -> Option<KnownDevice> {
        self.known.get(guid).map(|k| k.clone())
    }

    async fn publish<E: schemas::Event>(&self, topic: Topic, event: &E) {
        if let Some(bus) = &self.bus
            && let Err(error) = bus.publish(&topic, event).await
        {
            tracing::error!(%error, "publishing an event failed");
        }
    }

    /// The reference's `rps/events` JSON (`type` request/success/fail, `methods`, `message`, `guid`).
    pub async fn reference(
        &self,
        kind: &str,
        methods: &[&str],
        message: &str,
        guid: Option<&Guid>,
    ) {
        let Some(bus) = self.bus.as_ref().filter(|_| self.reference_json) else {
            return;
        };
        let mut event = json!({
            "type": kind,
            "message": message,
            "methods": methods,
            "timestamp": time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000,
        });
        if let Some(g) = guid {
            event["guid"] = json!(g.to_string());
        }
        if let Err(error) = bus.publish_json("rps/events", &event).await {
            tracing::warn!(%error, "publishing the reference event failed");
        }
    }

    /// Publishes an activation's phase. A started activation is recorded as in flight first, and
    /// forgotten once its end is published, so a crash of RPS in between still ends it with a `failed`
    /// event at the next start ([`Events::with_in_flight`]).
    pub async fn activation(&self, phase: ActivationPhase, facts: &ActivationFacts, reason: &str) {
        let Some(guid) = facts.guid else {
            return;
        };
        let Some(in_flight) = &self.in_flight else {
            self.publish_activation(phase, facts, reason).await;
            return;
        };
        if phase == ActivationPhase::Started
            && let Err(error) = in_flight.started(facts).await
        {
            tracing::warn!(guid = %guid, %error, "cannot record the activation as in flight; if RPS dies before it ends, it gets no failed event");
        }
        self.publish_activation(phase, facts, reason).await;
        if matches!(phase, ActivationPhase::Succeeded | ActivationPhase::Failed)
            && let Err(error) = in_flight.ended(&guid.to_string()).await
        {
            tracing::warn!(guid = %guid, %error, "cannot forget the finished activation; the next start reports it failed");
        }
    }

    async fn publish_activation(
        &self,
        phase: ActivationPhase,
        facts: &ActivationFacts,
        reason: &str,
    ) {
        let Some(guid) = facts.guid else {
            return;
        };
        let event = proto::ActivationEvent {
            guid: guid.to_string(),
            phase: phase as i32,
            control_mode: facts.control_mode.unwrap_or(ControlMode::Unspecified) as i32,
            profile: facts.profile.clone(),
            tenant_id: facts.tenant_id.clone(),
            reason: reason.to_owned(),
            hostname: facts.hostname.clone(),
            dns_suffix: facts.dns_suffix.clone(),
            friendly_name: facts.friendly_name.clone(),
            tags: facts.tags.clone(),
            mps_username: facts.mps_username.clone(),
            device_info: facts.device_info.clone(),
            at: Some(schemas::now()),
        };
        tracing::info!(guid = %guid, phase = ?phase, profile = %facts.profile, "activation event");
        self.publish(Topic::DeviceEvent(guid, DeviceEvent::Activation), &event)
            .await;
    }

    pub async fn deactivated(&self, guid: Guid, tenant_id: &str) {
        // This instance no longer counts the device as known, whatever MPS does with its presence.
        self.known.remove(&guid);
        let event = proto::DeviceDeactivated {
            guid: guid.to_string(),
            tenant_id: tenant_id.to_owned(),
            at: Some(schemas::now()),
        };
        tracing::info!(guid = %guid, "deactivation event");
        self.publish(Topic::DeviceEvent(guid, DeviceEvent::Deactivated), &event)
            .await;
    }

    /// Something MPS keeps about an activated device changed during maintenance (replaces the
    /// reference's PATCH /api/v1/devices and DELETE /api/v1/devices/refresh calls to MPS).
    pub async fn updated(&self, event: proto::DeviceUpdated) {
        let Ok(guid) = event.guid.parse::<Guid>() else {
            return;
        };
        tracing::info!(guid = %guid, credentials_rotated = event.credentials_rotated, "device update event");
        self.publish(Topic::DeviceEvent(guid, DeviceEvent::Updated), &event)
            .await;
    }

    /// Records a device as known (tests, and a device this instance just registered through its event).
    pub fn remember(&self, guid: Guid, device: KnownDevice) {
        self.known.insert(guid, device);
    }
}
