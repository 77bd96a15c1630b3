//! The CIRA TLS listener on 4433: accept, read the ClientHello, handshake with the TLS stack that
//! serves it (with a deadline), hand the stream to a session.

use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use super::client_hello::{self, Offer, Peek};
use super::session::Session;
use super::tls_stream::CiraStream;
use crate::service::Mps;
use crate::tls::CiraTls;

pub async fn run(listener: TcpListener, tls: Arc<CiraTls>, mps: Mps, shutdown: CancellationToken) {
    let rustls = TlsAcceptor::from(tls.rustls.clone());
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
        let rustls = rustls.clone();
        let tls = tls.clone();
        let mps = mps.clone();
        let shutdown = shutdown.clone();
        let tracker = sessions.clone();
        let fut = async move {
            let handshake = handshake(tcp, peer, &rustls, &tls);
            match tokio::time::timeout(handshake_timeout, Box::pin(handshake)).await {
                // The session gets its own task: the handshake task's state is freed, and the
                // idle tunnel's task holds only the session itself.
                Ok(Some(stream)) => {
                    tracker.spawn(Session::new(mps, stream).run(shutdown));
                }
                Ok(None) => {}
                Err(_) => tracing::debug!(%peer, "CIRA: TLS handshake timed out"),
            }
        };
        sessions.spawn(fut);
    }
    sessions.close();
    let _ = tokio::time::timeout(Duration::from_secs(5), sessions.wait()).await;
}

/// Reads the ClientHello without consuming it and runs the handshake on the stack that serves
/// the device; `None` after logging why a device was refused.
async fn handshake(
    tcp: TcpStream,
    peer: SocketAddr,
    rustls: &TlsAcceptor,
    tls: &CiraTls,
) -> Option<CiraStream> {
    let offer = match peek_hello(&tcp).await {
        Ok(offer) => offer,
        Err(e) => {
            tracing::debug!(%peer, error = %e, "CIRA: connection closed before its ClientHello");
            return None;
        }
    };
    // What rustls can serve goes there; OpenSSL takes the rest (and whatever we could not read,
    // so its alert, not ours, tells the client why).
    if let Some(offer) = &offer
        && offer.fits_rustls()
        && offer.max_version >= tls.min_version
    {
        return match rustls.accept(tcp).await {
            Ok(s) => Some(CiraStream::Rustls(Box::new(s))),
            Err(e) => {
                tracing::debug!(%peer, error = %e, "CIRA: TLS handshake failed");
                None
            }
        };
    }
    match openssl_accept(tcp, &tls.openssl).await {
        Ok(s) => Some(CiraStream::OpenSsl(Box::new(s))),
        Err(e) => {
            // A device turned away by the TLS policy is worth a line an IT team can act on.
            let offered = offer.as_ref().map(Offer::to_string).unwrap_or_default();
            tracing::warn!(
                %peer,
                offered,
                minimum = client_hello::version_name(tls.min_version),
                error = %e,
                "CIRA: TLS handshake refused"
            );
            None
        }
    }
}

async fn openssl_accept(
    tcp: TcpStream,
    acceptor: &openssl::ssl::SslAcceptor,
) -> Result<tokio_openssl::SslStream<TcpStream>, String> {
    let ssl = openssl::ssl::Ssl::new(acceptor.context()).map_err(|e| e.to_string())?;
    let mut stream = tokio_openssl::SslStream::new(ssl, tcp).map_err(|e| e.to_string())?;
    Pin::new(&mut stream)
        .accept()
        .await
        .map_err(|e| match e.ssl_error() {
            Some(stack) => stack.to_string(),
            None => e.to_string(),
        })?;
    Ok(stream)
}

/// Peeks at the socket until the first TLS record is whole. `Ok(None)`: the bytes are not a
/// ClientHello we can read.
async fn peek_hello(tcp: &TcpStream) -> std::io::Result<Option<Offer>> {
    let mut buf = vec![0u8; 512];
    loop {
        let n = tcp.peek(&mut buf).await?;
        if n == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        match client_hello::peek(&buf[..n]) {
            Peek::Hello(offer) => return Ok(Some(offer)),
            Peek::NotHello => return Ok(None),
            Peek::NeedMore(total) => {
                if n < buf.len() {
                    // peek returns what is there at once; wait for more to arrive.
                    tcp.readable().await?;
                    tokio::time::sleep(Duration::from_millis(2)).await;
                }
                if buf.len() < total {
                    buf.resize(total.min(client_hello::MAX_RECORD), 0);
                }
            }
        }
    }
}
