//! Keeps the routing table in step with the bus: the retained status of every MPS instance and the
//! retained presence of every device. Retained messages arrive on subscription, so a router that
//! (re)starts knows the whole fleet within moments, without a database.

use std::sync::Arc;

use broker::{Bus, BusError, Delivery, Subscription};
use schemas::{
    Service, Topic,
    proto::{DevicePresence, ServiceState, ServiceStatus},
};
use tokio_util::sync::CancellationToken;

use crate::table::RoutingTable;

/// The two subscriptions, made before the router accepts traffic.
pub struct Feeds {
    status: Subscription,
    presence: Subscription,
}

/// Subscribes to instance status first, then presence, so an instance is usually known before its
/// devices (the table copes with either order).
pub async fn subscribe(bus: &Bus) -> Result<Feeds, BusError> {
    let status = bus
        .subscribe(&bus.topics().all_status(Service::Mps))
        .await?;
    let presence = bus.subscribe(&bus.topics().all_presence()).await?;
    Ok(Feeds { status, presence })
}

/// Applies every status and presence message until the bus closes or `shutdown` fires.
pub async fn run(
    bus: Bus,
    mut feeds: Feeds,
    table: Arc<RoutingTable>,
    shutdown: CancellationToken,
) {
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            next = feeds.status.next() => match next {
                Some(delivery) => apply_status(&bus, &table, delivery),
                None => return,
            },
            next = feeds.presence.next() => match next {
                Some(delivery) => apply_presence(&bus, &table, delivery),
                None => return,
            },
        }
    }
}

fn apply_status(bus: &Bus, table: &RoutingTable, delivery: Delivery) {
    let instance = match bus.topics().parse(&delivery.topic) {
        Ok(Topic::Status { instance, .. }) => instance,
        other => {
            tracing::warn!(topic = %delivery.topic, ?other, "not an instance status topic");
            return;
        }
    };
    // An empty retained message clears the status: the instance is gone.
    let status = if delivery.payload.is_empty() {
        ServiceStatus {
            state: ServiceState::Offline as i32,
            ..Default::default()
        }
    } else {
        match delivery.decode::<ServiceStatus>() {
            Ok(status) => status,
            Err(error) => {
                tracing::warn!(%error, "skipping a status message");
                return;
            }
        }
    };
    tracing::debug!(%instance, state = status.state, address = %status.address, "MPS status");
    table.apply_status(&instance, &status);
}

fn apply_presence(bus: &Bus, table: &RoutingTable, delivery: Delivery) {
    let guid = match bus.topics().parse(&delivery.topic) {
        Ok(Topic::Presence(guid)) => guid,
        other => {
            tracing::warn!(topic = %delivery.topic, ?other, "not a presence topic");
            return;
        }
    };
    let presence = if delivery.payload.is_empty() {
        DevicePresence::default()
    } else {
        match delivery.decode::<DevicePresence>() {
            Ok(presence) => presence,
            Err(error) => {
                tracing::warn!(%error, "skipping a presence message");
                return;
            }
        }
    };
    tracing::debug!(%guid, connected = presence.connected, instance = %presence.mps_instance, "presence");
    table.apply_presence(guid, &presence);
}
