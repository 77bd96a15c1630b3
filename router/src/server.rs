//! The router's HTTP side: every request is routed on its own (so clients and the gateway may keep
//! connections alive), to the instance holding the device or to any online instance, over a connection
//! pool per instance; WebSocket upgrades (the KVM/SOL/IDER relay) are spliced through.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use broker::{Bus, BusError};
use gateway::{
    forward::{ForwardError, Forwarder, Timeouts},
    http::{Body, append_forwarded_for, full},
};
use hyper::{Method, Request, Response, StatusCode, body::Incoming, header};
use schemas::{
    Service,
    proto::{ServiceState, ServiceStatus},
};
use serde_json::json;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::{
    learn,
    table::RoutingTable,
    target::{Target, classify},
};

/// How the router runs.
#[derive(Debug, Clone)]
pub struct RouterConfig {
    /// `0.0.0.0:8003` in production; port 0 picks a free one (tests).
    pub listen: SocketAddr,
    /// The router's own name in `openamt/v1/router/{instance}/status`; empty publishes no status.
    pub instance: String,
    /// `host:port` others reach the router at, for its status (defaults to the bound address).
    pub advertise: Option<String>,
    pub timeouts: Timeouts,
}

impl RouterConfig {
    pub fn new(listen: SocketAddr) -> Self {
        RouterConfig {
            listen,
            instance: String::new(),
            advertise: None,
            timeouts: Timeouts {
                connect: Duration::from_secs(5),
                response: Duration::from_secs(60),
            },
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum RouterError {
    #[error("cannot listen on {address}: {source}")]
    Bind {
        address: SocketAddr,
        source: std::io::Error,
    },
    #[error("the router's subscriptions: {0}")]
    Bus(#[from] BusError),
}

/// A started router.
pub struct RunningRouter {
    pub address: SocketAddr,
    pub table: Arc<RoutingTable>,
    task: tokio::task::JoinHandle<()>,
}

impl RunningRouter {
    /// Waits until the router has stopped (after its shutdown token fired).
    pub async fn wait(self) {
        let _ = self.task.await;
    }
}

/// Subscribes to the fleet's presence and the MPS instances' status, binds (port 0 works) and serves
/// until `shutdown` fires.
pub async fn start(
    config: RouterConfig,
    bus: Bus,
    shutdown: CancellationToken,
) -> Result<RunningRouter, RouterError> {
    let table = Arc::new(RoutingTable::default());
    let feeds = learn::subscribe(&bus).await?;
    tokio::spawn(learn::run(
        bus.clone(),
        feeds,
        table.clone(),
        shutdown.clone(),
    ));

    let listener = TcpListener::bind(config.listen)
        .await
        .map_err(|source| RouterError::Bind {
            address: config.listen,
            source,
        })?;
    let address = listener.local_addr().map_err(|source| RouterError::Bind {
        address: config.listen,
        source,
    })?;
    let advertise = config
        .advertise
        .clone()
        .unwrap_or_else(|| address.to_string());
    publish_status(&bus, &config.instance, &advertise, ServiceState::Online).await;
    tracing::info!(%address, instance = %config.instance, "MPS router listening");

    let router = Arc::new(Router {
        table: table.clone(),
        bus: bus.clone(),
        forwarder: Forwarder::new(config.timeouts, shutdown.clone()),
    });
    let handler = move |request, peer| {
        let router = router.clone();
        async move { router.handle(request, peer).await }
    };
    let task = tokio::spawn(async move {
        gateway::listener::serve(listener, None, handler, shutdown).await;
        publish_status(&bus, &config.instance, &advertise, ServiceState::Offline).await;
    });
    Ok(RunningRouter {
        address,
        table,
        task,
    })
}

/// Runs the router until `shutdown` fires.
pub async fn serve(
    config: RouterConfig,
    bus: Bus,
    shutdown: CancellationToken,
) -> Result<(), RouterError> {
    start(config, bus, shutdown).await?.wait().await;
    Ok(())
}

/// The last will to put in the router's `BusConfig`: its OFFLINE status, published by the broker if the
/// router's connection dies without a goodbye.
pub fn last_will(
    topics: &schemas::Topics,
    instance: &str,
    source: &str,
) -> Result<broker::LastWill, schemas::TopicError> {
    let topic = topics.status(Service::Router, instance)?;
    let status = ServiceStatus {
        service: Service::Router.as_str().to_owned(),
        instance: instance.to_owned(),
        state: ServiceState::Offline as i32,
        ..Default::default()
    };
    Ok(broker::LastWill::new(topic, source, &status))
}

async fn publish_status(bus: &Bus, instance: &str, address: &str, state: ServiceState) {
    if instance.is_empty() {
        return;
    }
    let topic = match bus.topics().status(Service::Router, instance) {
        Ok(topic) => topic,
        Err(error) => {
            tracing::warn!(%error, "the router's instance name cannot be a topic level");
            return;
        }
    };
    let status = ServiceStatus {
        service: Service::Router.as_str().to_owned(),
        instance: instance.to_owned(),
        state: state as i32,
        address: address.to_owned(),
        version: env!("CARGO_PKG_VERSION").to_owned(),
        started_at: Some(schemas::now()),
    };
    if let Err(error) = bus.publish(&topic, &status).await {
        tracing::warn!(%error, "cannot publish the router's status");
    }
}

struct Router {
    table: Arc<RoutingTable>,
    bus: Bus,
    forwarder: Forwarder,
}

fn json_response(status: StatusCode, body: serde_json::Value) -> Response<Body> {
    let text = body.to_string();
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "application/json; charset=utf-8")
        .header(header::CONTENT_LENGTH, text.len())
        .body(full(text))
        .unwrap_or_else(|_| Response::new(gateway::http::empty()))
}

impl Router {
    async fn handle(&self, mut request: Request<Incoming>, peer: SocketAddr) -> Response<Body> {
        let path = request.uri().path();
        if path == "/healthz" && request.method() == Method::GET {
            return self.health();
        }
        let target = classify(path, request.uri().query());
        let holder = match &target {
            Target::Device {
                guid,
                as_given,
                needs_tunnel,
            } => match self.table.holder(guid) {
                Some(holder) => Some(holder),
                None if *needs_tunnel => {
                    // The reference MPS's own answer for a device it does not hold.
                    return json_response(
                        StatusCode::NOT_FOUND,
                        json!({
                            "error": "Device not found/connected. Please connect again using CIRA.",
                            "errorDescription": format!("guid : {as_given}"),
                        }),
                    );
                }
                None => self.table.any_online(),
            },
            Target::Any => self.table.any_online(),
        };
        let Some(holder) = holder else {
            return json_response(
                StatusCode::SERVICE_UNAVAILABLE,
                json!({
                    "error": "Service Unavailable",
                    "errorDescription": "no MPS instance is online",
                }),
            );
        };
        append_forwarded_for(request.headers_mut(), peer.ip());
        match self.forwarder.forward(&holder.address, request).await {
            Ok(response) => response,
            Err(error) => {
                tracing::warn!(instance = %holder.instance, address = %holder.address, %error, "MPS did not answer");
                let status = match error {
                    ForwardError::Timeout { .. } => StatusCode::GATEWAY_TIMEOUT,
                    _ => StatusCode::BAD_GATEWAY,
                };
                json_response(
                    status,
                    json!({
                        "error": status.canonical_reason().unwrap_or("Bad Gateway"),
                        "errorDescription": format!("MPS instance {} did not answer", holder.instance),
                    }),
                )
            }
        }
    }

    fn health(&self) -> Response<Body> {
        let summary = self.table.summary();
        let connected = self.bus.is_connected();
        json_response(
            if connected {
                StatusCode::OK
            } else {
                StatusCode::SERVICE_UNAVAILABLE
            },
            json!({
                "status": if connected { "OK" } else { "broker unreachable" },
                "mpsOnline": summary.instances_online,
                "devices": summary.devices,
            }),
        )
    }
}
