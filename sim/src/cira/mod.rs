//! The CIRA client of a simulated AMT device: it keeps the device's tunnel to its MPS up (TLS,
//! the APF handshake of real AMT, keep-alives, reconnects with backoff) and serves the channels the
//! MPS opens with the device's services.

pub mod backoff;
pub mod channel;
pub mod generation;
pub mod session;
pub mod tls;
pub mod verify;

use std::fmt;
use std::sync::Arc;
use std::time::Duration;
use thiserror::Error;
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::device::{CiraSettings, Device};
pub use backoff::{Backoff, BackoffConfig};
pub use channel::ChannelStream;
pub use generation::Generation;
pub use session::{SessionConfig, SessionEnd, run_session};
pub use tls::{Connector, TlsConfigs, TlsSetupError, read_ca_file};

/// Why a tunnel could not be set up or was lost, in categories a fleet summary can count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureKind {
    TcpConnect,
    TlsHandshake,
    AuthFailed,
    HandshakeTimeout,
    ClosedDuringHandshake,
    Protocol,
    KeepaliveTimeout,
    ConnectionLost,
}

impl fmt::Display for FailureKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            FailureKind::TcpConnect => "TCP connect failed",
            FailureKind::TlsHandshake => "TLS handshake failed",
            FailureKind::AuthFailed => "authentication failed",
            FailureKind::HandshakeTimeout => "handshake timed out",
            FailureKind::ClosedDuringHandshake => "closed by the MPS during the handshake",
            FailureKind::Protocol => "APF protocol error",
            FailureKind::KeepaliveTimeout => "keep-alive timeout",
            FailureKind::ConnectionLost => "connection lost",
        })
    }
}

/// A tunnel failure with its category and detail.
#[derive(Debug, Clone, Error)]
#[error("{kind}: {detail}")]
pub struct SessionError {
    pub kind: FailureKind,
    pub detail: String,
}

impl SessionError {
    pub fn new(kind: FailureKind, detail: impl Into<String>) -> SessionError {
        SessionError {
            kind,
            detail: detail.into(),
        }
    }
}

/// The services behind the ports a device forwards. The MPS opens a channel to a port; the client
/// asks `accepts` (else CHANNEL_OPEN_FAILURE, reason CONNECT_FAILED) and hands the stream to `spawn`.
pub trait ChannelServices: Send + Sync + 'static {
    fn accepts(&self, port: u32) -> bool;
    /// Starts serving `stream` in its own task.
    fn spawn(&self, port: u32, device: Device, stream: ChannelStream);
}

/// What a simulated AMT serves over CIRA: WS-Man on 16992/16993, redirection on 16994/16995.
pub struct AmtServices;

impl ChannelServices for AmtServices {
    fn accepts(&self, port: u32) -> bool {
        matches!(port, 16992..=16995)
    }

    fn spawn(&self, port: u32, device: Device, stream: ChannelStream) {
        tokio::spawn(async move {
            let guid = device.guid();
            let result = match port {
                16992 | 16993 => crate::wsman_server::serve(device, stream).await,
                _ => crate::redirection::serve(device, stream).await,
            };
            if let Err(e) = result {
                tracing::debug!(%guid, port, error = %e, "channel service ended with an error");
            }
        });
    }
}

/// What a device's tunnel went through, for whoever watches a fleet.
#[derive(Debug, Clone)]
pub enum CiraEvent {
    /// The handshake completed (all tcpip-forwards acknowledged) after `handshake` from the start
    /// of the TCP connect.
    Connected { handshake: Duration },
    /// An attempt failed before the tunnel was up.
    Failed(SessionError),
    /// An established tunnel was lost.
    Disconnected(SessionError),
}

/// Receives the events of many devices (called from their tasks: keep it cheap).
pub trait CiraObserver: Send + Sync + 'static {
    fn on_event(&self, device: &Device, event: &CiraEvent);
}

/// Ignores everything.
pub struct NoObserver;
impl CiraObserver for NoObserver {
    fn on_event(&self, _: &Device, _: &CiraEvent) {}
}

/// Everything the devices of one client share.
pub struct CiraClient {
    pub tls: TlsConfigs,
    pub session: SessionConfig,
    pub backoff: BackoffConfig,
    pub services: Arc<dyn ChannelServices>,
    pub observer: Arc<dyn CiraObserver>,
    /// Bounds the handshakes in flight (TCP + TLS + APF) across all devices.
    pub handshake_slots: Arc<Semaphore>,
}

/// How one device's run ended.
#[derive(Debug, Clone, Default)]
pub struct DeviceOutcome {
    pub ever_connected: bool,
    pub connected_at_end: bool,
    /// Tunnels established (first connect and reconnects).
    pub connects: u32,
    /// The last failure, if the device was not connected at the end.
    pub last_failure: Option<FailureKind>,
}

impl CiraClient {
    /// Keeps `device`'s tunnel up for as long as its `cira()` settings say so, until `cancel`.
    /// A device without settings waits (activation may configure CIRA later); new settings end
    /// the current tunnel and start one to the new target; `None` closes it.
    pub async fn run_device(
        self: Arc<Self>,
        device: Device,
        cancel: CancellationToken,
    ) -> DeviceOutcome {
        let mut settings_rx = device.cira();
        let mut outcome = DeviceOutcome::default();
        let mut backoff = Backoff::new(self.backoff);
        loop {
            // Wait for a target.
            let settings: CiraSettings = loop {
                let current = settings_rx.borrow_and_update().clone();
                if let Some(s) = current {
                    break s;
                }
                tokio::select! {
                    _ = cancel.cancelled() => return outcome,
                    changed = settings_rx.changed() => if changed.is_err() { return outcome },
                }
            };
            let end = self
                .attempt(&device, &settings, &mut settings_rx, &cancel, &mut outcome)
                .await;
            match end {
                Attempt::Stopped => return outcome,
                Attempt::NewSettings => {
                    backoff.reset();
                    continue;
                }
                Attempt::Failed { was_connected } => {
                    if was_connected {
                        backoff.reset();
                    }
                    let delay = backoff.next_delay();
                    tokio::select! {
                        _ = cancel.cancelled() => return outcome,
                        _ = tokio::time::sleep(delay) => {}
                        // New settings are worth trying at once.
                        changed = settings_rx.changed() => if changed.is_err() { return outcome },
                    }
                }
            }
        }
    }

    async fn attempt(
        &self,
        device: &Device,
        settings: &CiraSettings,
        settings_rx: &mut tokio::sync::watch::Receiver<Option<CiraSettings>>,
        cancel: &CancellationToken,
        outcome: &mut DeviceOutcome,
    ) -> Attempt {
        let tls = match self.tls.for_root(settings.root_cert_der.as_deref()) {
            Ok(t) => t,
            Err(e) => {
                let err = SessionError::new(FailureKind::TlsHandshake, e.to_string());
                outcome.last_failure = Some(err.kind);
                self.observer.on_event(device, &CiraEvent::Failed(err));
                return Attempt::Failed {
                    was_connected: false,
                };
            }
        };
        let permit = tokio::select! {
            _ = cancel.cancelled() => return Attempt::Stopped,
            p = self.handshake_slots.clone().acquire_owned() => match p {
                Ok(p) => Some(p),
                Err(_) => return Attempt::Stopped,
            },
        };
        let session_cancel = cancel.child_token();
        let started = Instant::now();
        let mut permit = permit;
        let mut connected = false;
        let observer = self.observer.clone();
        let mut on_connected = || {
            connected = true;
            permit.take();
            observer.on_event(
                device,
                &CiraEvent::Connected {
                    handshake: started.elapsed(),
                },
            );
        };
        let result = {
            let session = run_session(
                device,
                settings,
                tls,
                &self.session,
                &self.services,
                &session_cancel,
                &mut on_connected,
            );
            tokio::pin!(session);
            let mut new_settings = false;
            loop {
                tokio::select! {
                    r = &mut session => break r.map(|end| (end, new_settings)),
                    changed = settings_rx.changed(), if !new_settings => {
                        let same = changed.is_ok() && settings_rx.borrow().as_ref() == Some(settings);
                        if !same {
                            new_settings = true;
                            session_cancel.cancel();
                        }
                    }
                }
            }
        };
        if connected {
            outcome.ever_connected = true;
            outcome.connects += 1;
        }
        match result {
            Ok((SessionEnd::Cancelled, new_settings)) => {
                outcome.connected_at_end = connected && !new_settings;
                if new_settings {
                    Attempt::NewSettings
                } else {
                    Attempt::Stopped
                }
            }
            Err(err) => {
                tracing::debug!(guid = %device.guid(), error = %err, "CIRA tunnel failed");
                outcome.last_failure = Some(err.kind);
                outcome.connected_at_end = false;
                let event = if connected {
                    CiraEvent::Disconnected(err)
                } else {
                    CiraEvent::Failed(err)
                };
                self.observer.on_event(device, &event);
                Attempt::Failed {
                    was_connected: connected,
                }
            }
        }
    }
}

enum Attempt {
    Stopped,
    NewSettings,
    Failed { was_connected: bool },
}
