//! WS-Man over CIRA: one APF channel to port 16992 per call, HTTP digest with the device's AMT
//! admin password, a deadline on every call, and a per-device concurrency limit (no fixed spacing
//! between calls: the limit alone protects the firmware).
//!
//! A call fails at once when the tunnel drops: the channel's stream ends, and waits on a channel
//! open also watch the tunnel's cancellation token.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{Mutex, Semaphore};
use wsman::digest::{Challenge, DigestClient};
use wsman::http::{Limits, RequestFraming, ResponseReader};
use wsman::{Call, MessageIds, ParseOptions};

use crate::cira::{ChannelError, DeviceConnection};

/// The AMT user MPS authenticates as (the reference hard-codes it).
pub const AMT_USER: &str = "admin";
/// 401 answers tolerated per call before giving up (the reference's limit).
const AUTH_RETRIES: usize = 3;

#[derive(Debug, thiserror::Error)]
pub enum WsmanError {
    #[error("CIRA channel: {0}")]
    Channel(#[from] ChannelError),
    #[error("no AMT password is stored for this device")]
    NoPassword,
    #[error("WS-Man call timed out after {0:?}")]
    Timeout(Duration),
    #[error("Unable to authenticate with AMT. Exceeded Retry Attempts")]
    AuthFailed,
    #[error("HTTP framing: {0}")]
    Http(#[from] wsman::http::HttpError),
    #[error("channel I/O: {0}")]
    Io(#[from] std::io::Error),
    #[error("AMT answered HTTP {0}")]
    Status(u16),
    #[error("{0}")]
    Response(#[from] wsman::ResponseError),
}

impl WsmanError {
    /// The WS-Man fault, when AMT answered with one.
    pub fn fault(&self) -> Option<&wsman::Fault> {
        match self {
            WsmanError::Response(wsman::ResponseError::Fault { fault, .. }) => Some(fault),
            _ => None,
        }
    }
}

/// Per-device WS-Man state shared by every call to that device.
pub(crate) struct DeviceWsman {
    limit: Arc<Semaphore>,
    /// The digest client and the password generation it was made with.
    digest: Mutex<Option<(u64, DigestClient)>>,
    ids: MessageIds,
    /// Bumped whenever the AMT password is replaced (refresh after RPS changed it).
    pub(crate) password_generation: AtomicU64,
}

impl DeviceWsman {
    pub(crate) fn new(limit: usize) -> Self {
        Self {
            limit: Arc::new(Semaphore::new(limit.max(1))),
            digest: Mutex::new(None),
            ids: MessageIds::new(),
            password_generation: AtomicU64::new(0),
        }
    }
}

impl DeviceConnection {
    /// Sends one WS-Man call and parses the answer (xml2js conventions of the reference).
    pub async fn wsman(
        &self,
        call: &Call,
        timeout: Duration,
    ) -> Result<wsman::Response, WsmanError> {
        let work = async {
            let _permit = self
                .wsman
                .limit
                .acquire()
                .await
                .map_err(|_| ChannelError::TunnelClosed)?;
            let xml = call.to_xml(self.wsman.ids.next());
            self.exchange(xml.as_bytes()).await
        };
        tokio::select! {
            r = tokio::time::timeout(timeout, work) => r.map_err(|_| WsmanError::Timeout(timeout))?,
            _ = self.closed.cancelled() => Err(ChannelError::TunnelClosed.into()),
        }
    }

    async fn exchange(&self, body: &[u8]) -> Result<wsman::Response, WsmanError> {
        let host = wsman::http::host(&self.guid, apf::consts::PORT_WSMAN);
        for _ in 0..=AUTH_RETRIES {
            // The first request to a device goes unauthenticated to learn the challenge; requests
            // arriving meanwhile wait for it by holding the lock until a challenge is known.
            let mut guard = self.wsman.digest.lock().await;
            let generation = self.wsman.password_generation.load(Ordering::Acquire);
            match guard.as_mut() {
                Some((g, client)) if *g != generation => {
                    client.set_password(self.amt_password().ok_or(WsmanError::NoPassword)?);
                    *g = generation;
                }
                Some(_) => {}
                None => {
                    let password = self.amt_password().ok_or(WsmanError::NoPassword)?;
                    *guard = Some((generation, DigestClient::new(AMT_USER, password)));
                }
            }
            let authorization = guard
                .as_mut()
                .and_then(|(_, d)| d.authorization("POST", "/wsman"));
            // Authenticated requests run concurrently; the unauthenticated probe keeps the lock.
            let mut held = if authorization.is_some() {
                drop(guard);
                None
            } else {
                Some(guard)
            };
            let request = wsman::http::encode_request(
                RequestFraming::ContentLength,
                &host,
                authorization.as_deref(),
                body,
            );
            let response = self.round_trip(&request).await?;
            match response.status {
                200 => {
                    return Ok(wsman::parse_response(
                        &response.body_text(),
                        ParseOptions::MPS,
                    )?);
                }
                401 => {
                    let challenge = response
                        .www_authenticate()
                        .and_then(|h| Challenge::parse(h).ok())
                        .ok_or(WsmanError::Status(401))?;
                    let mut guard = match held.take() {
                        Some(g) => g,
                        None => self.wsman.digest.lock().await,
                    };
                    if let Some((_, d)) = guard.as_mut() {
                        d.set_challenge(challenge);
                    }
                }
                // AMT answers faults with 400/500 and a SOAP body.
                400 | 500 if !response.body.is_empty() => {
                    return match wsman::parse_response(&response.body_text(), ParseOptions::MPS) {
                        Ok(_) => Err(WsmanError::Status(response.status)),
                        Err(e) => Err(e.into()),
                    };
                }
                other => return Err(WsmanError::Status(other)),
            }
        }
        Err(WsmanError::AuthFailed)
    }

    /// One HTTP request/response on a fresh channel to 16992.
    async fn round_trip(&self, request: &[u8]) -> Result<wsman::http::Response, WsmanError> {
        let mut stream = self.open_channel(apf::consts::PORT_WSMAN).await?;
        stream.write_all(request).await?;
        let mut reader = ResponseReader::new(Limits::default());
        let mut buf = vec![0u8; 8192];
        loop {
            if let Some(r) = reader.next_response()? {
                return Ok(r);
            }
            let n = stream.read(&mut buf).await?;
            if n == 0 {
                return reader
                    .finish()?
                    .ok_or(WsmanError::Channel(ChannelError::TunnelClosed));
            }
            reader.push(&buf[..n]);
        }
    }
}
