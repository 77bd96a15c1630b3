//! The activation listener (port 8080, plain WebSocket; TLS ends at the gateway). Any URL path is accepted:
//! `/activate`, `/deactivate` and `/maintenance` are the gateway's routes, the command is in the message.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;
use axum::extract::{State, WebSocketUpgrade};
use axum::response::Response;
use tokio::net::TcpListener;

use super::job::Context;
use super::session;

/// A bound activation listener: bind first (port 0 in tests), read the address, then run.
pub struct ActivationServer {
    listener: TcpListener,
    ctx: Arc<Context>,
}

/// Frames above this never reach the size check of the session (which closes at 100 KiB).
const TRANSPORT_LIMIT: usize = 1024 * 1024;

async fn upgrade(State(ctx): State<Arc<Context>>, ws: WebSocketUpgrade) -> Response {
    ws.max_message_size(TRANSPORT_LIMIT)
        .max_frame_size(TRANSPORT_LIMIT)
        .on_upgrade(move |socket| session::handle(socket, ctx))
}

impl ActivationServer {
    pub async fn bind(addr: SocketAddr, ctx: Context) -> std::io::Result<ActivationServer> {
        Ok(ActivationServer {
            listener: TcpListener::bind(addr).await?,
            ctx: Arc::new(ctx),
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    /// Serves until `shutdown` completes. Jobs already running finish on their own.
    pub async fn run(
        self,
        shutdown: impl Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let addr = self.listener.local_addr()?;
        tracing::info!(%addr, "RPS activation WebSocket listening");
        let app = Router::new().fallback(upgrade).with_state(self.ctx);
        axum::serve(self.listener, app)
            .with_graceful_shutdown(shutdown)
            .await
    }
}

/// Serves the activation WebSocket on `config.web_host:config.websocketport` until `shutdown` completes.
pub async fn serve_activation(
    config: &crate::RpsConfig,
    ctx: Context,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let addr = SocketAddr::new(config.web_host, config.websocketport);
    let server = ActivationServer::bind(addr, ctx)
        .await
        .map_err(|e| anyhow::anyhow!("binding {addr}: {e}"))?;
    server.run(shutdown).await?;
    Ok(())
}
