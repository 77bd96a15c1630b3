//! MPS on the bus (DESIGN.md "coordinate through topics"): what this instance publishes and what
//! it consumes.
//!
//! - [`publisher`]: `connected` / `disconnected` events and the retained presence of every device
//!   whose tunnel this instance holds, from the connection registry's lossless feed.
//! - this instance's retained `online` status; its `offline` form is the bus's last will
//!   ([`bus_config`]) and is published by [`Events::finish`] at a clean shutdown.
//! - [`activation`]: RPS's "activation succeeded" registers the device, "deactivated" removes it
//!   (one replica handles each, through a shared subscription).
//! - [`forget`]: every replica closes a deactivated device's tunnel and clears its presence.
//! - [`commands`]: power actions on `commands/devices/{guid}/power`, answered on the MQTT 5
//!   response topic by the replica holding the device.
//! - [`reference`]: the reference's JSON events on `mps/events`, behind `reference_events`.
//! - [`takeover`]: the devices of an instance that died without a goodbye (its last will) are
//!   reported disconnected by one survivor;
//! - [`reassert`]: an instance the broker wrongly declared dead announces itself and its devices
//!   again.
//!
//! [`view::FleetView`] is what this instance knows of the others (retained presence and status).

pub mod activation;
pub mod commands;
pub mod forget;
pub mod publisher;
pub mod reassert;
pub mod reference;
pub mod takeover;
pub mod view;

use std::sync::Arc;
use std::time::Duration;

use broker::{BrokerUrl, Bus, BusConfig, LastWill};
use schemas::{Service, Topic, TopicError, Topics, proto};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::config::MpsConfig;
use crate::service::Mps;

pub use reference::ReferenceEvents;
pub use view::FleetView;

/// The CloudEvents `source` of everything this instance publishes.
pub fn source(instance: &str) -> String {
    format!("/openamt/mps/{instance}")
}

/// The MQTT client id of this instance (also names its reply topic): unique per replica as long
/// as `instance_name` is.
pub fn client_id(instance: &str) -> String {
    format!("mps-{instance}")
}

/// This instance's status topic.
pub fn status_topic(topics: &Topics, instance: &str) -> Result<Topic, TopicError> {
    topics.status(Service::Mps, instance)
}

/// The status this instance publishes (ONLINE at start) and leaves as its last will (OFFLINE).
pub fn status(instance: &str, address: &str, state: proto::ServiceState) -> proto::ServiceStatus {
    proto::ServiceStatus {
        service: Service::Mps.as_str().to_owned(),
        instance: instance.to_owned(),
        state: state as i32,
        address: address.to_owned(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        started_at: Some(schemas::now()),
    }
}

/// The bus configuration MPS needs: its client id, source, and the retained OFFLINE status as
/// last will, so a crashed instance is noticed. The caller adds the CA, the outbox and the topic
/// root, then passes the connected [`Bus`] in [`crate::MpsDeps`].
pub fn bus_config(
    config: &MpsConfig,
    url: BrokerUrl,
    username: &str,
    password: &str,
) -> Result<BusConfig, TopicError> {
    let instance = config.effective_instance_name();
    let mut bus = BusConfig::new(
        url,
        username,
        password,
        &client_id(&instance),
        &source(&instance),
    );
    let will = status(
        &instance,
        &config.instance_address,
        proto::ServiceState::Offline,
    );
    bus.last_will = Some(LastWill::new(
        status_topic(&bus.topics, &instance)?,
        &source(&instance),
        &will,
    ));
    Ok(bus)
}

/// The bus side of a running instance.
pub struct Events {
    bus: Bus,
    stop: CancellationToken,
    publisher: JoinHandle<()>,
    consumers: Vec<JoinHandle<()>>,
    reference: ReferenceEvents,
}

impl Events {
    /// Starts publishing and consuming. Must run before the CIRA listener accepts anything, so
    /// the publisher sees every tunnel. `address` is what the router should dial for this
    /// instance (REST and relay).
    pub async fn start(mps: Mps, bus: Bus, address: String) -> Events {
        let instance = mps.instance().to_owned();
        let view = Arc::new(FleetView::new(instance.clone()));
        let reference = ReferenceEvents::new(bus.clone(), mps.config().reference_events);
        let stop = CancellationToken::new();
        let started = std::time::SystemTime::now();
        let (stale_tx, stale_rx) = tokio::sync::mpsc::unbounded_channel();
        // Instances gone OFFLINE: view consumer → takeover decision → publisher jobs; this
        // instance's own OFFLINE: view consumer → publisher jobs.
        let (orphaned_tx, orphaned_rx) = tokio::sync::mpsc::unbounded_channel();
        let (jobs_tx, jobs_rx) = tokio::sync::mpsc::unbounded_channel();
        let online = status(&instance, &address, proto::ServiceState::Online);

        // The feed is taken first: from here on no connect or disconnect goes unpublished.
        let feed = mps.connections().take_feed();
        let publisher = match feed {
            Some(feed) => tokio::spawn(publisher::run(
                publisher::Publisher::new(
                    bus.clone(),
                    view.clone(),
                    online.clone(),
                    mps.last_seen().clone(),
                    reference.clone(),
                ),
                feed,
                stale_rx,
                jobs_rx,
                stop.clone(),
            )),
            None => {
                tracing::error!(
                    "connection feed already taken: connection events are not published"
                );
                tokio::spawn(async {})
            }
        };

        view.record_status(&online);
        match status_topic(bus.topics(), &instance) {
            Ok(topic) => {
                if let Err(error) = bus.publish(&topic, &online).await {
                    tracing::error!(%error, "publishing this instance's online status failed");
                }
            }
            Err(error) => {
                tracing::error!(%error, instance, "instance name cannot be a topic level; status not published")
            }
        }

        let mut consumers = Vec::new();
        consumers.push(view::run(
            bus.clone(),
            view.clone(),
            stale_tx,
            orphaned_tx,
            jobs_tx.clone(),
            started,
            stop.clone(),
        ));
        consumers.push(takeover::run(
            mps.clone(),
            view.clone(),
            orphaned_rx,
            jobs_tx.clone(),
            stop.clone(),
        ));
        match bus
            .subscribe(
                &bus.topics()
                    .device_events(schemas::DeviceEvent::Deactivated),
            )
            .await
        {
            Ok(sub) => consumers.push(tokio::spawn(forget::run(
                mps.clone(),
                bus.topics().clone(),
                sub,
                jobs_tx,
                stop.clone(),
            ))),
            Err(error) => tracing::error!(%error, "cannot follow deactivations"),
        }
        consumers.extend(activation::spawn(mps.clone(), bus.clone(), stop.clone()).await);
        consumers
            .extend(commands::spawn(mps.clone(), bus.clone(), view.clone(), stop.clone()).await);
        tracing::info!(instance, address, "MPS on the bus");
        Events {
            bus,
            stop,
            publisher,
            consumers,
            reference,
        }
    }

    /// The reference JSON publisher (the relay reports its sessions through it).
    pub fn reference(&self) -> ReferenceEvents {
        self.reference.clone()
    }

    /// At shutdown, after the CIRA listener has ended every tunnel: publishes what is left
    /// (every device still shown as held here goes offline), stops the consumers, then leaves
    /// the bus cleanly, which publishes the OFFLINE status and drains the outbox.
    pub async fn finish(self, timeout: Duration) {
        self.stop.cancel();
        // Consumers finish the message in hand (its broker ack goes when it is done) and stop.
        let consumers = futures::future::join_all(self.consumers);
        let _ = tokio::time::timeout(timeout, consumers).await;
        let _ = tokio::time::timeout(timeout, self.publisher).await;
        self.bus.shutdown(timeout).await;
    }
}
