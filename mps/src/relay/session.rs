//! One relay session (spec §7.2): an APF channel to the device's redirection port, the
//! interceptor in between, and the WebSocket.
//!
//! Browser → AMT: binary frames as they are; text frames as latin-1 (each character one byte, as
//! the reference's `toString('binary')`). AMT → browser: text frames whose characters are the
//! byte values U+0000–U+00FF, as the reference sends them (the ui-toolkit reads both kinds).
//! Either side closing closes the other; the mode flag is released when the session ends.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::ws::{CloseFrame, Message, WebSocket, close_code};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::interceptor::{AMT_USER, Interceptor};
use super::{Mode, ModeGuard, RelayParams};
use crate::cira::DeviceConnection;
use crate::events::reference::{Kind, ReferenceEvents};
use crate::service::Mps;

const READ_CHUNK: usize = 16 * 1024;

/// Bytes as the reference's text frames carry them: one character per byte.
pub fn latin1_text(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| char::from(b)).collect()
}

/// A text frame back to bytes: each character's low byte (Node's `binary` encoding).
pub fn latin1_bytes(text: &str) -> Vec<u8> {
    text.chars().map(|c| (u32::from(c) & 0xFF) as u8).collect()
}

/// How a session ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum End {
    /// The browser closed the WebSocket (or it broke).
    Browser,
    /// AMT closed the channel, or the tunnel went away.
    Device,
    /// The redirection stream broke §7.3 before authentication.
    Protocol,
}

/// The AMT password for the interceptor: the secret store's current value (the reference reads
/// it per session), the one loaded at connect time if the store cannot be reached.
async fn amt_password(mps: &Mps, conn: &DeviceConnection) -> Option<String> {
    match mps.device_secrets(&conn.guid).await {
        Ok(Some(s)) if s.amt_password.is_some() => s.amt_password,
        Ok(_) => None,
        Err(error) => {
            tracing::warn!(guid = conn.guid, %error, "secret store unavailable; using the AMT password loaded at connect");
            conn.amt_password()
        }
    }
}

async fn close(ws: &mut WebSocket, code: u16, reason: &'static str) {
    let _ = ws
        .send(Message::Close(Some(CloseFrame {
            code,
            reason: reason.into(),
        })))
        .await;
}

pub async fn run(
    mut ws: WebSocket,
    mps: Mps,
    conn: Arc<DeviceConnection>,
    params: RelayParams,
    guard: ModeGuard,
    reference: ReferenceEvents,
) {
    let guid = conn.guid.clone();
    reference
        .publish(
            Kind::Success,
            "handleConnection",
            "Redirection session started",
            None,
        )
        .await;
    let mut interceptor = if params.p == 2 {
        match amt_password(&mps, &conn).await {
            Some(pw) => Some(Interceptor::new(AMT_USER, &pw)),
            None => {
                tracing::warn!(
                    guid,
                    "no AMT password stored; relaying without credential injection"
                );
                None
            }
        }
    } else {
        None
    };
    let channel = match conn.open_channel(params.port).await {
        Ok(c) => c,
        Err(error) => {
            tracing::warn!(guid, port = params.port, %error, "relay: channel to the device not opened");
            close(&mut ws, close_code::ERROR, "device channel not opened").await;
            finish(&reference, &guid, guard, End::Device).await;
            return;
        }
    };
    let (mut from_amt, mut to_amt) = tokio::io::split(channel);
    let mut buf = vec![0u8; READ_CHUNK];
    let end = loop {
        tokio::select! {
            msg = ws.recv() => {
                let bytes = match msg {
                    Some(Ok(Message::Binary(b))) => b.to_vec(),
                    Some(Ok(Message::Text(t))) => latin1_bytes(t.as_str()),
                    Some(Ok(Message::Ping(_) | Message::Pong(_))) => continue,
                    Some(Ok(Message::Close(_))) | None | Some(Err(_)) => break End::Browser,
                };
                let out = match interceptor.as_mut().map(|i| i.from_browser(&bytes)) {
                    None => bytes,
                    Some(Ok(out)) => out,
                    Some(Err(error)) => {
                        tracing::warn!(guid, %error, "relay: closing on a bad redirection stream");
                        close(&mut ws, close_code::POLICY, "redirection protocol error").await;
                        break End::Protocol;
                    }
                };
                if !out.is_empty() && to_amt.write_all(&out).await.is_err() {
                    tracing::info!(guid, "Attempted to write to a closed CIRA Channel.");
                    close(&mut ws, close_code::NORMAL, "").await;
                    break End::Device;
                }
            }
            n = from_amt.read(&mut buf) => {
                let n = match n {
                    Ok(0) | Err(_) => {
                        close(&mut ws, close_code::NORMAL, "").await;
                        break End::Device;
                    }
                    Ok(n) => n,
                };
                let out = match interceptor.as_mut().map(|i| i.from_amt(&buf[..n])) {
                    None => buf[..n].to_vec(),
                    Some(Ok(out)) => out,
                    Some(Err(error)) => {
                        tracing::warn!(guid, %error, "relay: closing on a bad redirection stream from the device");
                        close(&mut ws, close_code::POLICY, "redirection protocol error").await;
                        break End::Protocol;
                    }
                };
                if !out.is_empty() && ws.send(Message::Text(latin1_text(&out).into())).await.is_err() {
                    break End::Browser;
                }
            }
        }
    };
    // Closing the channel (CHANNEL_CLOSE to AMT) happens when both halves go.
    drop(from_amt);
    drop(to_amt);
    if end != End::Browser {
        // Wait briefly for the browser's close reply so the close is clean both ways.
        let _ = tokio::time::timeout(Duration::from_secs(2), async {
            while let Some(Ok(m)) = ws.recv().await {
                if matches!(m, Message::Close(_)) {
                    break;
                }
            }
        })
        .await;
    }
    finish(&reference, &guid, guard, end).await;
}

async fn finish(reference: &ReferenceEvents, guid: &str, guard: ModeGuard, end: End) {
    let mode = guard.mode();
    // Released first: the device is free for a new session of this mode right away.
    drop(guard);
    tracing::info!(guid, mode = ?mode, end = ?end, "relay session ended");
    if mode == Some(Mode::Kvm) {
        let (kind, message) = match end {
            End::Browser => (Kind::Success, "KVM session closed by web (state: 2)"),
            End::Device => (Kind::Success, "KVM session closed by device (state: 0)"),
            End::Protocol => (Kind::Fail, "KVM session closed unexpectedly (state: 2)"),
        };
        reference
            .publish(kind, "logKvmCloseSource", message, Some(guid))
            .await;
    }
    reference
        .publish(
            Kind::Success,
            "handleClose",
            "Redirection session ended",
            None,
        )
        .await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latin1_round_trip_of_every_byte() {
        let all: Vec<u8> = (0..=255).collect();
        let text = latin1_text(&all);
        assert_eq!(text.chars().count(), 256);
        // On the wire this is UTF-8: U+0080..U+00FF take two bytes each.
        assert_eq!(text.len(), 128 + 2 * 128);
        assert_eq!(latin1_bytes(&text), all);
        // Characters above U+00FF keep their low byte, as Node's 'binary' does.
        assert_eq!(latin1_bytes("\u{0141}A"), vec![0x41, 0x41]);
    }
}
