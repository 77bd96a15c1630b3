//! TCP in between, for failover tests: a [`Link`] that can be cut like a pulled cable (every
//! connection through it closes at once, new ones are refused) or flap (the connections close, new
//! ones pass), and a [`Balancer`] that spreads new
//! connections round robin over the backends that accept them, as Kong's stream proxy spreads CIRA
//! over the MPS replicas in compose.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use tokio::net::{TcpListener, TcpStream};
use tokio_util::sync::CancellationToken;

/// Relays one connection until either side closes or `cut` fires (then both sockets just close,
/// with no goodbye at any protocol level above TCP).
async fn relay(mut client: TcpStream, mut server: TcpStream, cut: CancellationToken) {
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    tokio::select! {
        _ = cut.cancelled() => {}
        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
    }
}

/// A cuttable TCP link to one address.
pub struct Link {
    pub addr: SocketAddr,
    cut: CancellationToken,
    /// Ends the connections made so far (a child of `cut`).
    current: Arc<Mutex<CancellationToken>>,
}

impl Link {
    pub async fn to(target: SocketAddr) -> Link {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind a link");
        let addr = listener.local_addr().expect("link address");
        let cut = CancellationToken::new();
        let current = Arc::new(Mutex::new(cut.child_token()));
        let (token, generation) = (cut.clone(), current.clone());
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    // Dropping the listener makes new connections fail (refused).
                    _ = token.cancelled() => return,
                    a = listener.accept() => a,
                };
                let Ok((client, _)) = accepted else { continue };
                let ends = generation.lock().unwrap().clone();
                tokio::spawn(async move {
                    if let Ok(server) = TcpStream::connect(target).await {
                        relay(client, server, ends).await;
                    }
                });
            }
        });
        Link { addr, cut, current }
    }

    /// Closes every connection through the link and refuses new ones, for good.
    pub fn cut(&self) {
        self.cut.cancel();
    }

    /// Closes every connection through the link; new ones pass.
    pub fn flap(&self) {
        let fresh = self.cut.child_token();
        std::mem::replace(&mut *self.current.lock().unwrap(), fresh).cancel();
    }
}

impl Drop for Link {
    fn drop(&mut self) {
        self.cut.cancel();
    }
}

/// Round robin over the backends that accept a connection.
pub struct Balancer {
    pub addr: SocketAddr,
    stop: CancellationToken,
}

impl Balancer {
    pub async fn start(backends: Vec<SocketAddr>) -> Balancer {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the balancer");
        let addr = listener.local_addr().expect("balancer address");
        let stop = CancellationToken::new();
        let token = stop.clone();
        let backends = Arc::new(backends);
        let next = Arc::new(AtomicUsize::new(0));
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    _ = token.cancelled() => return,
                    a = listener.accept() => a,
                };
                let Ok((client, _)) = accepted else { continue };
                let (backends, next, token) = (backends.clone(), next.clone(), token.clone());
                tokio::spawn(async move {
                    let first = next.fetch_add(1, Ordering::Relaxed);
                    for i in 0..backends.len() {
                        let backend = backends[(first + i) % backends.len()];
                        if let Ok(server) = TcpStream::connect(backend).await {
                            relay(client, server, token).await;
                            return;
                        }
                    }
                    // No live backend: the client sees its connection close and retries later.
                });
            }
        });
        Balancer { addr, stop }
    }
}

impl Drop for Balancer {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}
