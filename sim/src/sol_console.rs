//! The browser's side of a serial-over-LAN session through the MPS redirection relay
//! (`wss://<gateway>/mps/ws/relay/webrelay.ashx?...&mode=sol`, spec/mps.md §7): what the web UI's
//! terminal does, for tests and demos that drive the relay the way a user would. The relay injects
//! the AMT digest itself, so this side answers the challenge with no password at all.

use std::{sync::Arc, time::Duration};

use futures::{SinkExt, StreamExt};
use md5::{Digest, Md5};
use tokio::net::TcpStream;
use tokio_tungstenite::{
    MaybeTlsStream, WebSocketStream,
    tungstenite::{Message, client::IntoClientRequest, http::HeaderValue},
};

type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

#[derive(Debug, thiserror::Error)]
pub enum SolError {
    #[error("relay refused the WebSocket: {0}")]
    Refused(String),
    #[error("relay WebSocket: {0}")]
    WebSocket(#[from] tokio_tungstenite::tungstenite::Error),
    #[error("the relay closed the session")]
    Closed,
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("AMT answered {what} with status {status}")]
    Refusal { what: &'static str, status: u8 },
    #[error("unexpected redirection message: {0}")]
    Protocol(&'static str),
}

/// An open SOL session.
pub struct SolConsole {
    ws: Ws,
    buf: Vec<u8>,
    seq: u32,
    timeout: Duration,
}

/// The relay URL for `guid` under `base` (e.g. `wss://localhost:8443/mps/ws/relay`).
pub fn relay_url(base: &str, guid: &str) -> String {
    format!(
        "{}/webrelay.ashx?p=2&host={guid}&port=16994&tls=0&tls1only=0&mode=sol",
        base.trim_end_matches('/')
    )
}

fn latin1(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| char::from(b)).collect()
}

fn md5_hex(s: &str) -> String {
    hex::encode(Md5::digest(s.as_bytes()))
}

fn field(out: &mut Vec<u8>, value: &str) {
    out.push(value.len().min(255) as u8);
    out.extend_from_slice(&value.as_bytes()[..value.len().min(255)]);
}

impl SolConsole {
    /// Opens the relay with the redirection token as the WebSocket sub-protocol (as browsers do),
    /// then starts SOL: session, authentication, SOL settings.
    pub async fn open(
        url: &str,
        token: &str,
        tls: Option<Arc<rustls::ClientConfig>>,
    ) -> Result<SolConsole, SolError> {
        let mut request = url.into_client_request()?;
        let protocol = HeaderValue::from_str(token)
            .map_err(|_| SolError::Protocol("token is not a header value"))?;
        request
            .headers_mut()
            .insert("Sec-WebSocket-Protocol", protocol);
        let connector = tls.map(tokio_tungstenite::Connector::Rustls);
        let ws =
            match tokio_tungstenite::connect_async_tls_with_config(request, None, false, connector)
                .await
            {
                Ok((ws, _)) => ws,
                Err(tokio_tungstenite::tungstenite::Error::Http(response)) => {
                    return Err(SolError::Refused(response.status().to_string()));
                }
                Err(error) => return Err(error.into()),
            };
        let mut console = SolConsole {
            ws,
            buf: Vec::new(),
            seq: 0,
            timeout: Duration::from_secs(10),
        };
        console.start().await?;
        Ok(console)
    }

    async fn send(&mut self, bytes: &[u8]) -> Result<(), SolError> {
        // Text frames of latin-1 characters, the reference relay's own encoding.
        Ok(self.ws.send(Message::text(latin1(bytes))).await?)
    }

    async fn fill(&mut self) -> Result<(), SolError> {
        loop {
            let message = tokio::time::timeout(self.timeout, self.ws.next())
                .await
                .map_err(|_| SolError::Timeout(self.timeout))?
                .ok_or(SolError::Closed)??;
            match message {
                Message::Text(text) => {
                    self.buf
                        .extend(text.as_str().chars().map(|c| u32::from(c) as u8));
                    return Ok(());
                }
                Message::Binary(bytes) => {
                    self.buf.extend_from_slice(&bytes);
                    return Ok(());
                }
                Message::Close(_) => return Err(SolError::Closed),
                _ => {}
            }
        }
    }

    async fn read_exact(&mut self, n: usize) -> Result<Vec<u8>, SolError> {
        while self.buf.len() < n {
            self.fill().await?;
        }
        Ok(self.buf.drain(..n).collect())
    }

    /// Reads until `needle`, returning everything up to and including it.
    pub async fn read_until(&mut self, needle: &[u8]) -> Result<Vec<u8>, SolError> {
        loop {
            if let Some(at) = self.buf.windows(needle.len()).position(|w| w == needle) {
                return Ok(self.buf.drain(..at + needle.len()).collect());
            }
            self.fill().await?;
        }
    }

    async fn auth_reply(&mut self) -> Result<(u8, Vec<Vec<u8>>), SolError> {
        let head = self.read_exact(9).await?;
        if head[0] != 0x14 {
            return Err(SolError::Protocol("expected AuthenticateSessionReply"));
        }
        let len = u32::from_le_bytes([head[5], head[6], head[7], head[8]]) as usize;
        let mut data = self.read_exact(len).await?.into_iter();
        let mut fields = Vec::new();
        while let Some(n) = data.next() {
            fields.push(data.by_ref().take(usize::from(n)).collect());
        }
        Ok((head[1], fields))
    }

    async fn start(&mut self) -> Result<(), SolError> {
        // StartRedirectionSession "SOL ".
        self.send(&[0x10, 0, 0, 0, b'S', b'O', b'L', b' ']).await?;
        let head = self.read_exact(4).await?;
        if head[0] != 0x11 {
            return Err(SolError::Protocol("expected StartRedirectionSessionReply"));
        }
        if head[1] != 0 {
            return Err(SolError::Refusal {
                what: "the SOL session",
                status: head[1],
            });
        }
        let rest = self.read_exact(9).await?;
        self.read_exact(usize::from(rest[8])).await?;

        // Digest authentication: an empty request draws the challenge; the relay replaces our answer
        // with one made from the device's AMT password.
        self.send(&[0x13, 0, 0, 0, 4, 0, 0, 0, 0]).await?;
        let (_, challenge) = self.auth_reply().await?;
        let text = |i: usize| {
            String::from_utf8_lossy(challenge.get(i).map_or(&[][..], Vec::as_slice)).into_owned()
        };
        let (realm, nonce, qop) = (text(0), text(1), text(2));
        let (cnonce, nc) = ("0a1b2c3d4e", "00000001");
        let ha1 = md5_hex(&format!("admin:{realm}:"));
        let ha2 = md5_hex("POST:/RedirectionService");
        let response = md5_hex(&format!("{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}"));
        let mut data = Vec::new();
        for value in [
            "admin",
            &realm,
            &nonce,
            "/RedirectionService",
            cnonce,
            nc,
            &response,
            &qop,
        ] {
            field(&mut data, value);
        }
        let mut message = vec![0x13, 0, 0, 0, 4];
        message.extend_from_slice(&(data.len() as u32).to_le_bytes());
        message.extend_from_slice(&data);
        self.send(&message).await?;
        let (status, _) = self.auth_reply().await?;
        if status != 0 {
            return Err(SolError::Refusal {
                what: "authentication",
                status,
            });
        }

        // Start SOL with the web UI's settings.
        let mut settings = vec![0x20, 0, 0, 0, 1, 0, 0, 0];
        for value in [10000u16, 100, 0, 10000, 100, 0] {
            settings.extend_from_slice(&value.to_le_bytes());
        }
        settings.extend_from_slice(&[0, 0, 0, 0]);
        self.send(&settings).await?;
        let reply = self.read_exact(4).await?;
        if reply[..2] != [0x21, 0] {
            return Err(SolError::Refusal {
                what: "SOL settings",
                status: reply[1],
            });
        }
        Ok(())
    }

    /// Types on the console.
    pub async fn type_keys(&mut self, keys: &[u8]) -> Result<(), SolError> {
        self.seq += 1;
        let mut message = vec![0x28, 0, 0, 0];
        message.extend_from_slice(&self.seq.to_le_bytes());
        message.extend_from_slice(&(keys.len() as u16).to_le_bytes());
        message.extend_from_slice(keys);
        self.send(&message).await
    }

    /// Ends the session and closes the WebSocket.
    pub async fn close(mut self) -> Result<(), SolError> {
        self.send(&[0x12, 0, 0, 0]).await?;
        Ok(self.ws.close(None).await?)
    }
}
