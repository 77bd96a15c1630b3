//! The whole RPS: the REST API (8081) and the activation WebSocket (8080) over one database, one secret store
//! and one bus connection. [`start`] binds both (port 0 works, for tests) and returns the addresses; [`serve`]
//! runs until the shutdown token fires.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use broker::Bus;
use secrets::SecretStore;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::activation::{self, ActivationServer, Events, Store, Timings, inflight::InFlight};
use crate::{Db, RestServer, RpsConfig};

/// What RPS is given rather than opening itself.
#[derive(Clone)]
pub struct RpsDeps {
    pub db: Db,
    pub secrets: Arc<dyn SecretStore>,
    /// The bus for activation events; `None` publishes nothing (and every device counts as unknown to MPS).
    pub bus: Option<Bus>,
}

/// A started RPS.
pub struct RunningRps {
    pub rest_addr: SocketAddr,
    pub activation_addr: SocketAddr,
    pub events: Events,
    task: JoinHandle<anyhow::Result<()>>,
}

impl RunningRps {
    /// Waits until both listeners stopped (after the shutdown token fired).
    pub async fn wait(self) -> anyhow::Result<()> {
        self.task.await.context("RPS task panicked")?
    }
}

/// The activation context from the configuration: timings, reference keys, events on the bus.
pub async fn activation_context(config: &RpsConfig, deps: &RpsDeps) -> activation::Context {
    let events = match &deps.bus {
        Some(bus) => {
            let events = Events::start(bus.clone(), !config.mqtt_address.is_empty()).await;
            match InFlight::open(deps.db.clone(), &config.instance_name).await {
                Ok(in_flight) => events.with_in_flight(in_flight).await,
                Err(error) => {
                    tracing::error!(%error, "cannot keep activations in flight in the database; one cut short by a crash gets no failed event");
                    events
                }
            }
        }
        None => Events::disabled(),
    };
    activation::Context {
        store: Store::new(deps.db.clone(), Arc::clone(&deps.secrets)),
        events,
        timings: Timings::from_config(config),
        disable_cira_domain_name: config.disable_cira_domain_name.clone(),
        prevent_orphaned_devices: config.prevent_orphaned_devices,
    }
}

/// Binds the REST and activation listeners on `config.web_host` and returns once both accept.
pub async fn start(
    config: &RpsConfig,
    deps: RpsDeps,
    shutdown: CancellationToken,
) -> anyhow::Result<RunningRps> {
    tracing::info!(config = ?config, "starting RPS");
    let rest = RestServer::bind(
        SocketAddr::new(config.web_host, config.web_port),
        deps.db.clone(),
        Arc::clone(&deps.secrets),
    )
    .await
    .context("binding the REST port")?
    .cache_ttl(Duration::from_millis(config.rest_cache_ttl_ms));
    let ctx = activation_context(config, &deps).await;
    let events = ctx.events.clone();
    let ws = ActivationServer::bind(SocketAddr::new(config.web_host, config.websocketport), ctx)
        .await
        .context("binding the activation WebSocket port")?;
    let rest_addr = rest.local_addr()?;
    let activation_addr = ws.local_addr()?;
    if let Some(bus) = &deps.bus {
        // Retained ONLINE; the bus's last will (see [`crate::bus::bus_config`]) turns it OFFLINE.
        let status = crate::bus::status(
            &config.instance_name,
            &rest_addr.to_string(),
            schemas::proto::ServiceState::Online,
        );
        match crate::bus::status_topic(bus.topics(), &config.instance_name) {
            Ok(topic) => {
                if let Err(error) = bus.publish(&topic, &status).await {
                    tracing::warn!(%error, "publishing the ONLINE status failed");
                }
            }
            Err(error) => tracing::warn!(%error, "instance_name cannot name a status topic"),
        }
    }
    let rest_task = tokio::spawn(rest.run(shutdown.clone().cancelled_owned()));
    let ws_task = tokio::spawn(ws.run(shutdown.cancelled_owned()));
    let task = tokio::spawn(async move {
        let (rest, ws) = tokio::join!(rest_task, ws_task);
        rest.context("REST task panicked")?
            .context("REST listener")?;
        ws.context("activation task panicked")?
            .context("activation listener")?;
        Ok(())
    });
    Ok(RunningRps {
        rest_addr,
        activation_addr,
        events,
        task,
    })
}

/// Runs RPS until `shutdown` is cancelled.
pub async fn serve(
    config: &RpsConfig,
    deps: RpsDeps,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    start(config, deps, shutdown).await?.wait().await
}
