//! Start-up and shutdown of one MPS instance: database, secret store, TLS material, the CIRA
//! listener and the REST listener.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use secrets::{SecretStore, SecretStoreConfig};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt as _;

use crate::cira::{self, Connections};
use crate::config::MpsConfig;
use crate::registry::Registry;
use crate::registry::lastseen::LastSeen;
use crate::service::Mps;

/// What MPS is given rather than opening itself.
#[derive(Clone)]
pub struct MpsDeps {
    pub secrets: Arc<dyn SecretStore>,
    /// The bus, made with [`crate::events::bus_config`] (its last will is this instance's
    /// OFFLINE status). `None`: REST and CIRA only, nothing published or consumed.
    pub bus: Option<broker::Bus>,
}

impl MpsDeps {
    /// Opens the secret store named by the configuration (`vault`, or `local` under `data_dir/secrets`).
    pub fn from_config(config: &MpsConfig) -> anyhow::Result<Self> {
        let store_config = match config.secrets_provider.as_str() {
            "vault" => SecretStoreConfig::Vault {
                address: config.vault_address.clone(),
                token: config.vault_token.clone(),
                secrets_path: config.secrets_path.clone(),
            },
            _ => SecretStoreConfig::Local {
                dir: config.data_dir.join("secrets"),
            },
        };
        let secrets = secrets::open(&store_config).context("opening the secret store")?;
        Ok(Self { secrets, bus: None })
    }
}

/// A started MPS: its bound addresses and the shared core.
pub struct RunningMps {
    pub rest_addr: SocketAddr,
    pub cira_addr: SocketAddr,
    pub mps: Mps,
    task: JoinHandle<anyhow::Result<()>>,
}

impl RunningMps {
    /// Waits until the instance has shut down (after `shutdown` was cancelled).
    pub async fn wait(self) -> anyhow::Result<()> {
        self.task.await.context("MPS task panicked")?
    }
}

/// Runs MPS until `shutdown` is cancelled.
pub async fn serve(
    config: MpsConfig,
    deps: MpsDeps,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    start(config, deps, shutdown).await?.wait().await
}

/// Binds both listeners (port 0 picks free ports, for tests) and returns once they accept.
pub async fn start(
    config: MpsConfig,
    deps: MpsDeps,
    shutdown: CancellationToken,
) -> anyhow::Result<RunningMps> {
    config.validate().map_err(anyhow::Error::msg)?;
    tracing::info!(config = ?config, "starting MPS");
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating {}", config.data_dir.display()))?;

    let registry = connect_with_backoff(&config.database_url()).await?;
    wait_for_secret_store(&deps.secrets).await;
    let certs = crate::tls::load_or_create(
        &deps.secrets,
        &config.common_name,
        2048,
        config.generate_certificates,
    )
    .await
    .context("loading the CIRA TLS material")?;
    let tls = Arc::new(crate::tls::CiraTls::new(
        &certs,
        &config.cira_tls_min_version,
    )?);

    let connections = Arc::new(Connections::default());
    let instance = config.effective_instance_name();
    let still_here = {
        let c = connections.clone();
        Arc::new(move |g: &str| c.contains(g)) as Arc<dyn Fn(&str) -> bool + Send + Sync>
    };
    let last_seen = LastSeen::spawn(
        registry.clone(),
        instance.clone(),
        Duration::from_millis(config.lastseen_flush_ms.max(10)),
        still_here,
        shutdown.clone(),
    );
    let mps = Mps::new(
        config.clone(),
        registry.clone(),
        deps.secrets.clone(),
        connections.clone(),
        Some(certs),
        last_seen,
    );

    let bind = |port: u16| format!("{}:{}", config.bind_address, port);
    let web_bind = match config.web_bind_address.as_str() {
        "" => bind(config.web_port),
        address => format!("{address}:{}", config.web_port),
    };
    let rest_listener = TcpListener::bind(web_bind)
        .await
        .context("binding the web port")?;
    let cira_listener = listen(&bind(config.port), config.cira_listen_backlog)
        .await
        .context("binding the CIRA port")?;
    let rest_addr = rest_listener.local_addr()?;
    let cira_addr = cira_listener.local_addr()?;
    tracing::info!(%rest_addr, %cira_addr, instance = %instance, "MPS listening");

    // On the bus before the CIRA listener accepts: the publisher must see every tunnel.
    let events = match deps.bus.clone() {
        Some(bus) => {
            // Port 0 in the advertised address means "the port the web listener got".
            let address = if config.instance_address.is_empty() {
                format!("{instance}:{}", rest_addr.port())
            } else if let Some(host) = config.instance_address.strip_suffix(":0") {
                format!("{host}:{}", rest_addr.port())
            } else {
                config.instance_address.clone()
            };
            Some(crate::events::Events::start(mps.clone(), bus, address).await)
        }
        None => None,
    };
    let reference = events
        .as_ref()
        .map(|e| e.reference())
        .unwrap_or_else(crate::events::ReferenceEvents::disabled);

    let app = crate::rest::router(mps.clone())
        .merge(crate::relay::router(mps.clone(), reference))
        .map_request(crate::rest::normalize_request);
    let rest_shutdown = shutdown.clone();
    let rest = tokio::spawn(async move {
        axum::serve(
            rest_listener,
            // The peer address: the login throttle counts failures per client.
            axum::ServiceExt::<axum::extract::Request>::into_make_service_with_connect_info::<
                std::net::SocketAddr,
            >(app),
        )
        .with_graceful_shutdown(rest_shutdown.cancelled_owned())
        .await
    });
    let cira_task = tokio::spawn(cira::listener::run(
        cira_listener,
        tls,
        mps.clone(),
        shutdown.clone(),
    ));

    let task = {
        let mps = mps.clone();
        tokio::spawn(async move {
            shutdown.cancelled().await;
            mps.connections().disconnect_all();
            let _ = cira_task.await;
            let _ = tokio::time::timeout(Duration::from_secs(5), rest).await;
            match mps.registry().clear_instance(mps.instance()).await {
                Ok(n) => tracing::info!(
                    devices = n,
                    "MPS stopped; devices of this instance marked disconnected"
                ),
                Err(e) => tracing::warn!(error = %e, "clearing this instance's devices failed"),
            }
            if let Some(events) = events {
                events.finish(Duration::from_secs(5)).await;
            }
            Ok(())
        })
    };
    Ok(RunningMps {
        rest_addr,
        cira_addr,
        mps,
        task,
    })
}

/// The reference waits for Vault's health (with back-off) before loading its certificates; a store
/// that stays unready is reported and start-up goes on (loading MPSCerts then says why it failed).
async fn wait_for_secret_store(store: &Arc<dyn SecretStore>) {
    let mut delay = Duration::from_millis(200);
    for attempt in 1..=6 {
        match store.health().await {
            Ok(h) if h.ready => return,
            Ok(h) => tracing::warn!(attempt, store = %h.name, "secret store not ready, retrying"),
            Err(e) => tracing::warn!(attempt, error = %e, "secret store unreachable, retrying"),
        }
        tokio::time::sleep(delay).await;
        delay *= 2;
    }
}

/// The reference retries the database with exponential back-off at start-up.
async fn connect_with_backoff(url: &str) -> anyhow::Result<Registry> {
    let mut delay = Duration::from_millis(200);
    for attempt in 1..=6 {
        match Registry::connect(url).await {
            Ok(r) => return Ok(r),
            Err(e) if attempt < 6 => {
                tracing::warn!(attempt, error = %e, url = %crate::config::redact_url(url), "database not ready, retrying");
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
            Err(e) => return Err(e).context("connecting to the database"),
        }
    }
    unreachable!("the last attempt returns")
}

/// A listener on `address` with an accept queue of `backlog` (tokio's `bind` fixes it at 128, too
/// short for a fleet reconnecting at once).
async fn listen(address: &str, backlog: u32) -> std::io::Result<TcpListener> {
    let mut last = None;
    for addr in tokio::net::lookup_host(address).await? {
        let socket = if addr.is_ipv4() {
            tokio::net::TcpSocket::new_v4()?
        } else {
            tokio::net::TcpSocket::new_v6()?
        };
        // As std's bind does on Unix: a restarted MPS rebinds while old connections linger.
        socket.set_reuseaddr(true)?;
        match socket.bind(addr).and_then(|()| socket.listen(backlog)) {
            Ok(listener) => return Ok(listener),
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| {
        std::io::Error::new(
            std::io::ErrorKind::AddrNotAvailable,
            format!("{address}: no address"),
        )
    }))
}
