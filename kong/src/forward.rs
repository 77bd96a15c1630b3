//! Forwarding one request to an upstream `host:port`: ordinary requests over a keep-alive pool (one pool
//! per upstream address, so each MPS instance has its own), upgrades (WebSocket) over a fresh connection
//! whose two halves are then spliced together byte for byte.
//!
//! The routing decision is made per request by the caller, never per TCP connection, which is why
//! pooling toward the router is safe here (unlike the reference router, which needed Kong's
//! `upstream_keepalive_pool_size=0`).

use std::{io, time::Duration};

use hyper::{
    Request, Response, StatusCode, Uri,
    body::Incoming,
    header::{self, HeaderValue},
};
use hyper_util::{
    client::legacy::{Client, connect::HttpConnector},
    rt::{TokioExecutor, TokioIo},
};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

use crate::http::{Body, is_upgrade, strip_hop_by_hop};

#[derive(Debug, thiserror::Error)]
pub enum ForwardError {
    #[error("{0:?} is not a host:port upstream")]
    BadUpstream(String),
    #[error("cannot connect to {upstream}: {reason}")]
    Connect { upstream: String, reason: String },
    #[error("{upstream} did not answer within {timeout:?}")]
    Timeout { upstream: String, timeout: Duration },
    #[error("{upstream} failed: {reason}")]
    Upstream { upstream: String, reason: String },
}

/// Timeouts toward upstreams (Kong's defaults are 60 s each).
#[derive(Clone, Copy, Debug)]
pub struct Timeouts {
    pub connect: Duration,
    /// From sending the request to receiving the response head.
    pub response: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            connect: Duration::from_secs(60),
            response: Duration::from_secs(60),
        }
    }
}

/// Sends requests upstream. Clone it freely: clones share the connection pools.
#[derive(Clone)]
pub struct Forwarder {
    client: Client<HttpConnector, Incoming>,
    timeouts: Timeouts,
    /// Ends the spliced upgrade tunnels when the server shuts down.
    shutdown: CancellationToken,
}

impl Forwarder {
    pub fn new(timeouts: Timeouts, shutdown: CancellationToken) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_connect_timeout(Some(timeouts.connect));
        connector.set_nodelay(true);
        let client = Client::builder(TokioExecutor::new())
            .pool_idle_timeout(Duration::from_secs(60))
            .build(connector);
        Forwarder {
            client,
            timeouts,
            shutdown,
        }
    }

    /// Sends `request` (path and query already the upstream's) to `upstream` (`host:port`). Hop-by-hop
    /// headers are dropped; an upgrade request is passed through and, when the upstream switches
    /// protocols, both connections are spliced until either side closes.
    pub async fn forward(
        &self,
        upstream: &str,
        mut request: Request<Incoming>,
    ) -> Result<Response<Body>, ForwardError> {
        let path_and_query = request
            .uri()
            .path_and_query()
            .map(|pq| pq.as_str().to_owned())
            .unwrap_or_else(|| "/".to_owned());
        let upgrade = is_upgrade(request.headers());
        strip_hop_by_hop(request.headers_mut(), upgrade);
        if !request.headers().contains_key(header::HOST)
            && let Ok(host) = HeaderValue::from_str(upstream)
        {
            request.headers_mut().insert(header::HOST, host);
        }
        if upgrade {
            *request.uri_mut() = path_and_query
                .parse()
                .map_err(|_| ForwardError::BadUpstream(upstream.to_owned()))?;
            return self.forward_upgrade(upstream, request).await;
        }
        let uri: Uri = format!("http://{upstream}{path_and_query}")
            .parse()
            .map_err(|_| ForwardError::BadUpstream(upstream.to_owned()))?;
        *request.uri_mut() = uri;
        *request.version_mut() = hyper::Version::HTTP_11;

        let response = tokio::time::timeout(self.timeouts.response, self.client.request(request))
            .await
            .map_err(|_| ForwardError::Timeout {
                upstream: upstream.to_owned(),
                timeout: self.timeouts.response,
            })?
            .map_err(|error| {
                if error.is_connect() {
                    ForwardError::Connect {
                        upstream: upstream.to_owned(),
                        reason: error_chain(&error),
                    }
                } else {
                    ForwardError::Upstream {
                        upstream: upstream.to_owned(),
                        reason: error_chain(&error),
                    }
                }
            })?;
        let (mut parts, body) = response.into_parts();
        strip_hop_by_hop(&mut parts.headers, false);
        Ok(Response::from_parts(
            parts,
            http_body_util::BodyExt::boxed(body),
        ))
    }

    async fn forward_upgrade(
        &self,
        upstream: &str,
        mut request: Request<Incoming>,
    ) -> Result<Response<Body>, ForwardError> {
        let connect_error = |reason: String| ForwardError::Connect {
            upstream: upstream.to_owned(),
            reason,
        };
        let client_side = hyper::upgrade::on(&mut request);
        let stream = tokio::time::timeout(self.timeouts.connect, TcpStream::connect(upstream))
            .await
            .map_err(|_| {
                connect_error(format!("no connection within {:?}", self.timeouts.connect))
            })?
            .map_err(|e| connect_error(e.to_string()))?;
        let _ = stream.set_nodelay(true);
        let (mut sender, connection) =
            hyper::client::conn::http1::handshake::<_, Incoming>(TokioIo::new(stream))
                .await
                .map_err(|e| connect_error(e.to_string()))?;
        tokio::spawn(async move {
            if let Err(error) = connection.with_upgrades().await {
                tracing::debug!(%error, "upstream connection of an upgrade ended");
            }
        });
        let mut response =
            tokio::time::timeout(self.timeouts.response, sender.send_request(request))
                .await
                .map_err(|_| ForwardError::Timeout {
                    upstream: upstream.to_owned(),
                    timeout: self.timeouts.response,
                })?
                .map_err(|e| ForwardError::Upstream {
                    upstream: upstream.to_owned(),
                    reason: e.to_string(),
                })?;
        if response.status() == StatusCode::SWITCHING_PROTOCOLS {
            let upstream_side = hyper::upgrade::on(&mut response);
            let shutdown = self.shutdown.clone();
            let upstream = upstream.to_owned();
            tokio::spawn(async move {
                tokio::select! {
                    result = splice(client_side, upstream_side) => match result {
                        Ok((up, down)) => tracing::debug!(%upstream, up, down, "upgraded connection closed"),
                        Err(error) => tracing::debug!(%upstream, %error, "upgraded connection ended"),
                    },
                    _ = shutdown.cancelled() => {}
                }
            });
        } else {
            strip_hop_by_hop(response.headers_mut(), false);
        }
        Ok(response.map(http_body_util::BodyExt::boxed))
    }
}

/// Copies bytes both ways between the two upgraded connections until both directions finish.
async fn splice(
    client: hyper::upgrade::OnUpgrade,
    upstream: hyper::upgrade::OnUpgrade,
) -> io::Result<(u64, u64)> {
    let (client, upstream) = tokio::try_join!(client, upstream).map_err(io::Error::other)?;
    let mut client = TokioIo::new(client);
    let mut upstream = TokioIo::new(upstream);
    tokio::io::copy_bidirectional(&mut client, &mut upstream).await
}

/// An error with its causes, for logs and error bodies.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}
