//! The benchmarks' HTTP/1.1 client side: one request on a fresh connection (setup), and a
//! kept-alive connection sending requests back to back (load).

use std::net::SocketAddr;

use anyhow::Context;
use axum::body::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;

/// A kept-alive HTTP/1.1 connection.
pub(crate) struct KeepAlive {
    sender: SendRequest<Full<Bytes>>,
}

impl KeepAlive {
    pub async fn connect(addr: SocketAddr) -> anyhow::Result<KeepAlive> {
        let stream = tokio::net::TcpStream::connect(addr)
            .await
            .with_context(|| format!("connecting to {addr}"))?;
        // Requests are small and answered at once: Nagle would only add delay.
        stream.set_nodelay(true)?;
        let (sender, connection) =
            hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(connection);
        Ok(KeepAlive { sender })
    }

    /// Sends one request (a JSON body when given) and reads the whole answer.
    pub async fn send(
        &mut self,
        method: &str,
        path: &str,
        body: Option<String>,
    ) -> anyhow::Result<(u16, Bytes)> {
        let request = hyper::Request::builder()
            .method(method)
            .uri(path)
            .header("host", "rps")
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body.unwrap_or_default())))?;
        let response = self.sender.send_request(request).await?;
        let status = response.status().as_u16();
        Ok((status, response.into_body().collect().await?.to_bytes()))
    }
}

/// One request on a connection of its own; an error unless it answers 2xx.
pub(crate) async fn post_json(
    addr: SocketAddr,
    path: &str,
    body: &serde_json::Value,
) -> anyhow::Result<Bytes> {
    let mut connection = KeepAlive::connect(addr).await?;
    let (status, answer) = connection
        .send("POST", path, Some(body.to_string()))
        .await?;
    anyhow::ensure!(
        (200..300).contains(&status),
        "POST {path}: {status} {}",
        String::from_utf8_lossy(&answer)
    );
    Ok(answer)
}
