//! The CIRA TLS listener on 4433: accept, handshake with a deadline, hand the stream to a session.

use std::sync::Arc;
use std::time::Duration;

use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use super::session::Session;
use crate::service::Mps;

pub async fn run(
    listener: TcpListener,
    tls: Arc<rustls::ServerConfig>,
    mps: Mps,
    shutdown: CancellationToken,
) {
    let acceptor = TlsAcceptor::from(tls);
    let handshake_timeout = Duration::from_secs(mps.config().tls_handshake_timeout_secs.max(1));
    let sessions = tokio_util::task::TaskTracker::new();
    loop {
        let (tcp, peer) = tokio::select! {
            r = listener.accept() => match r {
                Ok(x) => x,
                Err(e) => {
                    // Out of descriptors and the like: back off instead of spinning.
                    tracing::warn!(error = %e, "CIRA: accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = shutdown.cancelled() => break,
        };
        let _ = tcp.set_nodelay(true);
        let acceptor = acceptor.clone();
        let mps = mps.clone();
        let shutdown = shutdown.clone();
        let tracker = sessions.clone();
        let fut = async move {
            match tokio::time::timeout(handshake_timeout, Box::pin(acceptor.accept(tcp))).await {
                // The session gets its own task: the handshake task's state is freed, and the
                // idle tunnel's task holds only the session itself.
                Ok(Ok(tls)) => {
                    tracker.spawn(Session::new(mps, tls).run(shutdown));
                }
                Ok(Err(e)) => tracing::debug!(%peer, error = %e, "CIRA: TLS handshake failed"),
                Err(_) => tracing::debug!(%peer, "CIRA: TLS handshake timed out"),
            }
        };
        sessions.spawn(fut);
    }
    sessions.close();
    let _ = tokio::time::timeout(Duration::from_secs(5), sessions.wait()).await;
}
