//! The device agent (rpc-go's role): talks to RPS over a WebSocket and relays RPS's WS-Man requests
//! to the simulated AMT, so a simulated device can be activated, configured, deactivated and
//! maintained by a real RPS (spec/rps.md §3 and §7).
//!
//! Protocol: the first text frame carries the command line and the device facts; then every `wsman`
//! message (base64 HTTP request) is answered with a `response` (base64 of the raw HTTP answer),
//! `heartbeat_request` is echoed, and `success` / `error` end the job.

pub mod payload;
pub mod relay;
pub mod tls;

use std::path::PathBuf;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio_tungstenite::tungstenite::Message;

use crate::device::Device;
pub use payload::{AgentOptions, Command};

/// rpc-go closes the socket itself; RPS may stay silent for its 12 s post-activation wait and
/// longer with retries, so the agent waits this long for the next message.
pub const MESSAGE_TIMEOUT: Duration = Duration::from_secs(120);
/// Largest frame RPS accepts (and the agent expects).
pub const MAX_FRAME: usize = 102_400;

/// Where RPS is and how to reach it.
#[derive(Clone, Debug)]
pub struct Connection {
    /// `wss://host/activate` through the gateway, or `ws://rps:8080` directly.
    pub url: String,
    /// Extra trusted CA (PEM) for `wss://`.
    pub ca_file: Option<PathBuf>,
    /// Accept any server certificate (rpc-go `-n`).
    pub insecure: bool,
}

/// How a job ended.
#[derive(Clone, Debug, PartialEq)]
pub struct Outcome {
    /// The `message` of the terminal `success`: RPS's status JSON as text.
    pub message: String,
    /// That status parsed, when it is JSON (`{"Status": …, "Network": …, "CIRAConnection": …}`).
    pub status: Option<Value>,
    /// WS-Man exchanges relayed.
    pub exchanges: u32,
}

/// Why a job failed.
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("cannot build the first message: {0}")]
    Payload(#[from] payload::PayloadError),
    #[error("TLS setup failed: {0}")]
    Tls(anyhow::Error),
    #[error("cannot connect to RPS: {0}")]
    Connect(#[source] tokio_tungstenite::tungstenite::Error),
    #[error("WebSocket failed: {0}")]
    WebSocket(#[source] tokio_tungstenite::tungstenite::Error),
    #[error("RPS sent an unusable message: {0}")]
    Protocol(String),
    #[error("RPS reported an error: {message}")]
    Rps {
        message: String,
        status: Option<Value>,
    },
    #[error("no message from RPS for {0:?}")]
    Timeout(Duration),
    #[error("rps connection closed unexpectedly")]
    Closed,
}

/// Runs one job (activate, deactivate or maintenance) for `device` against RPS.
pub async fn run(
    device: &Device,
    connection: &Connection,
    options: &AgentOptions,
) -> Result<Outcome, AgentError> {
    let first = payload::first_message(device, options)?;
    let connector = if connection.url.starts_with("wss://") {
        let config = tls::client_config(connection.ca_file.as_deref(), connection.insecure)
            .map_err(AgentError::Tls)?;
        Some(tokio_tungstenite::Connector::Rustls(config))
    } else {
        Some(tokio_tungstenite::Connector::Plain)
    };
    let (mut socket, _) = tokio_tungstenite::connect_async_tls_with_config(
        connection.url.as_str(),
        None,
        true,
        connector,
    )
    .await
    .map_err(AgentError::Connect)?;
    tracing::info!(guid = %device.guid(), command = ?options.command, url = %connection.url, "agent connected to RPS");
    socket
        .send(Message::Text(first.to_string().into()))
        .await
        .map_err(AgentError::WebSocket)?;

    let mut exchanges = 0u32;
    let result = loop {
        let next = match tokio::time::timeout(MESSAGE_TIMEOUT, socket.next()).await {
            Err(_) => break Err(AgentError::Timeout(MESSAGE_TIMEOUT)),
            Ok(None) => break Err(AgentError::Closed),
            Ok(Some(Err(error))) => break Err(AgentError::WebSocket(error)),
            Ok(Some(Ok(message))) => message,
        };
        let text = match next {
            Message::Text(text) => text,
            Message::Ping(_) | Message::Pong(_) | Message::Frame(_) => continue,
            Message::Close(_) => break Err(AgentError::Closed),
            Message::Binary(_) => break Err(AgentError::Protocol("binary frame".into())),
        };
        if text.len() > MAX_FRAME {
            break Err(AgentError::Protocol(format!(
                "frame of {} bytes",
                text.len()
            )));
        }
        let message: Value = match serde_json::from_str(text.as_str()) {
            Ok(value) => value,
            Err(error) => break Err(AgentError::Protocol(format!("not JSON: {error}"))),
        };
        match message["method"].as_str().unwrap_or_default() {
            "wsman" => {
                let request = match message["payload"].as_str().map(|p| STANDARD.decode(p)) {
                    Some(Ok(bytes)) => bytes,
                    _ => {
                        break Err(AgentError::Protocol(
                            "wsman message without a base64 payload".into(),
                        ));
                    }
                };
                let answer = match relay::exchange(device, &request).await {
                    Ok(raw) => raw,
                    Err(error) => {
                        // rpc-go sends nothing when LMS is silent; RPS's timer then fires.
                        tracing::warn!(guid = %device.guid(), %error, "WS-Man exchange failed");
                        continue;
                    }
                };
                exchanges += 1;
                let response = reply(&message, "response", "ok", &STANDARD.encode(answer));
                if let Err(error) = socket
                    .send(Message::Text(response.to_string().into()))
                    .await
                {
                    break Err(AgentError::WebSocket(error));
                }
            }
            "heartbeat_request" => {
                let response = reply(&message, "heartbeat_response", "success", "");
                if let Err(error) = socket
                    .send(Message::Text(response.to_string().into()))
                    .await
                {
                    break Err(AgentError::WebSocket(error));
                }
            }
            "success" => {
                let text = message["message"].as_str().unwrap_or_default().to_string();
                let status = serde_json::from_str(&text).ok();
                break Ok(Outcome {
                    message: text,
                    status,
                    exchanges,
                });
            }
            "error" => {
                let text = message["message"].as_str().unwrap_or_default().to_string();
                let status = serde_json::from_str(&text).ok();
                break Err(AgentError::Rps {
                    message: text,
                    status,
                });
            }
            "progress" => {
                tracing::info!(guid = %device.guid(), progress = %message["message"], "RPS progress")
            }
            other => {
                break Err(AgentError::Protocol(format!(
                    "method {other:?} is not supported (AMT 19+ TLS tunnelling is not simulated)"
                )));
            }
        }
    };
    // rpc-go closes the socket after the terminal message.
    let _ = socket.close(None).await;
    match &result {
        Ok(outcome) => {
            tracing::info!(guid = %device.guid(), exchanges = outcome.exchanges, "RPS job succeeded")
        }
        Err(error) => tracing::warn!(guid = %device.guid(), %error, "RPS job failed"),
    }
    result
}

/// A message back to RPS in the envelope of rpc-go.
fn reply(request: &Value, method: &str, status: &str, payload: &str) -> Value {
    json!({
        "method": method,
        "apiKey": "key",
        "appVersion": payload::AGENT_VERSION,
        "protocolVersion": payload::PROTOCOL_VERSION,
        "status": status,
        "message": if method == "heartbeat_response" { request["message"].clone() } else { json!("ok") },
        "fqdn": "",
        "payload": payload,
        "tenantId": "",
    })
}
