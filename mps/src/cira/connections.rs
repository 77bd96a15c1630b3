//! The connection registry: guid → the CIRA tunnel this instance holds for that device, plus a
//! broadcast of connect/disconnect facts for whoever publishes them (the bus, tests).
//!
//! Facts are emitted while the map entry is locked, so for one device they come out in the order
//! the map changed: a tunnel's "disconnected" can never overtake its successor's "connected".

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::{Duration, SystemTime};

use dashmap::DashMap;
use tokio::sync::{broadcast, mpsc, oneshot};
use tokio_util::sync::CancellationToken;

use super::channel::{ChannelError, ChannelStream};
use super::session::SessionCmd;
use super::tls_stream::TlsInfo;
use crate::wsman_client::DeviceWsman;

/// A fact about tunnels, for the bus publisher and for tests.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConnectionEvent {
    Connected {
        guid: String,
        tenant_id: String,
        hostname: Option<String>,
        peer: Option<SocketAddr>,
        /// The tunnel's negotiated TLS protocol and suite.
        tls: TlsInfo,
        at: SystemTime,
    },
    Disconnected {
        guid: String,
        tenant_id: String,
        cause: DisconnectCause,
        /// Human-readable detail (the I/O or protocol error); never a secret.
        detail: String,
        connected_for: Duration,
    },
}

/// Why a tunnel ended (spec §1.9 triggers).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DisconnectCause {
    /// TCP/TLS closed or failed.
    ConnectionLost,
    /// Nothing heard from the device within the idle timeout.
    IdleTimeout,
    /// The same device authenticated on a newer tunnel.
    Replaced,
    /// The device sent APF DISCONNECT.
    DeviceDisconnect,
    /// REST `DELETE /devices/disconnect/:guid`.
    Administrative,
    /// This MPS instance is shutting down.
    Shutdown,
    /// The device broke the APF protocol.
    ProtocolError,
}

/// KVM / SOL / IDER sessions in use (one of each per device), for the redirection relay.
#[derive(Debug, Default)]
pub struct RedirectionFlags {
    pub kvm: AtomicBool,
    pub sol: AtomicBool,
    pub ider: AtomicBool,
}

impl RedirectionFlags {
    pub fn snapshot(&self) -> (bool, bool, bool) {
        (
            self.kvm.load(Ordering::Relaxed),
            self.sol.load(Ordering::Relaxed),
            self.ider.load(Ordering::Relaxed),
        )
    }
}

/// One authenticated CIRA tunnel.
pub struct DeviceConnection {
    pub guid: String,
    pub tenant_id: String,
    /// Random per socket: tells a stale tunnel from its replacement (spec §1.9).
    pub id: u64,
    pub(crate) cmd: mpsc::UnboundedSender<SessionCmd>,
    /// Cancelled the moment the tunnel is gone; in-flight calls watch it to fail at once.
    pub closed: CancellationToken,
    amt_password: RwLock<Option<String>>,
    pub redirection: RedirectionFlags,
    pub(crate) wsman: DeviceWsman,
    /// The device's address as seen on the CIRA socket.
    pub peer: Option<SocketAddr>,
    /// The registry's hostname at connect time.
    pub hostname: Option<String>,
    /// The negotiated TLS protocol and suite.
    pub tls: TlsInfo,
    pub connected_at: SystemTime,
}

impl std::fmt::Debug for DeviceConnection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeviceConnection")
            .field("guid", &self.guid)
            .field("tenant_id", &self.tenant_id)
            .field("id", &self.id)
            .field("amt_password", &"<redacted>")
            .finish_non_exhaustive()
    }
}

impl DeviceConnection {
    pub(crate) fn new(
        guid: String,
        tenant_id: String,
        id: u64,
        cmd: mpsc::UnboundedSender<SessionCmd>,
        closed: CancellationToken,
        amt_password: Option<String>,
        wsman_limit: usize,
    ) -> Self {
        Self {
            guid,
            tenant_id,
            id,
            cmd,
            closed,
            amt_password: RwLock::new(amt_password),
            redirection: RedirectionFlags::default(),
            wsman: DeviceWsman::new(wsman_limit),
            peer: None,
            hostname: None,
            tls: TlsInfo::default(),
            connected_at: SystemTime::now(),
        }
    }

    /// Where the tunnel comes from and the device's registered hostname (for the connect event).
    pub(crate) fn with_origin(
        mut self,
        peer: Option<SocketAddr>,
        hostname: Option<String>,
        tls: TlsInfo,
    ) -> Self {
        self.peer = peer;
        self.hostname = hostname;
        self.tls = tls;
        self
    }

    fn connected_event(&self) -> ConnectionEvent {
        ConnectionEvent::Connected {
            guid: self.guid.clone(),
            tenant_id: self.tenant_id.clone(),
            hostname: self.hostname.clone(),
            peer: self.peer,
            tls: self.tls.clone(),
            at: self.connected_at,
        }
    }

    fn disconnected_event(&self, cause: DisconnectCause, detail: String) -> ConnectionEvent {
        ConnectionEvent::Disconnected {
            guid: self.guid.clone(),
            tenant_id: self.tenant_id.clone(),
            cause,
            detail,
            connected_for: self.connected_at.elapsed().unwrap_or_default(),
        }
    }

    /// Opens an APF channel to `port` on the device (16992 WS-Man, 16994 redirection) and waits
    /// for AMT to confirm it. The stream is a plain byte pipe with APF flow control underneath.
    pub async fn open_channel(&self, port: u16) -> Result<ChannelStream, ChannelError> {
        let (reply, rx) = oneshot::channel();
        self.cmd
            .send(SessionCmd::Open { port, reply })
            .map_err(|_| ChannelError::TunnelClosed)?;
        tokio::select! {
            r = rx => r.map_err(|_| ChannelError::TunnelClosed)?,
            _ = self.closed.cancelled() => Err(ChannelError::TunnelClosed),
        }
    }

    /// The AMT admin password from the secret store (loaded at connect, reloaded by refresh).
    pub fn amt_password(&self) -> Option<String> {
        self.amt_password.read().ok().and_then(|p| p.clone())
    }

    pub fn set_amt_password(&self, password: Option<String>) {
        if let Ok(mut p) = self.amt_password.write() {
            *p = password;
        }
        self.wsman
            .password_generation
            .fetch_add(1, std::sync::atomic::Ordering::AcqRel);
    }

    /// Drops the tunnel (REST disconnect, replacement by a newer tunnel, shutdown).
    pub fn disconnect(&self) {
        let _ = self.cmd.send(SessionCmd::Disconnect);
        self.closed.cancel();
    }

    pub fn is_open(&self) -> bool {
        !self.closed.is_cancelled()
    }
}

pub struct Connections {
    map: DashMap<String, Arc<DeviceConnection>>,
    events: broadcast::Sender<ConnectionEvent>,
    /// The lossless feed of the bus publisher (a broadcast drops events when its reader lags).
    feed: OnceLock<mpsc::UnboundedSender<ConnectionEvent>>,
}

impl Default for Connections {
    fn default() -> Self {
        Self {
            map: DashMap::new(),
            events: broadcast::channel(1024).0,
            feed: OnceLock::new(),
        }
    }
}

impl Connections {
    pub fn get(&self, guid: &str) -> Option<Arc<DeviceConnection>> {
        self.map
            .get(&guid.to_ascii_lowercase())
            .map(|c| c.clone())
            .filter(|c| c.is_open())
    }

    pub fn contains(&self, guid: &str) -> bool {
        self.get(guid).is_some()
    }

    pub fn len(&self) -> usize {
        self.map.len()
    }

    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    pub fn guids(&self) -> Vec<String> {
        self.map.iter().map(|e| e.key().clone()).collect()
    }

    pub fn subscribe(&self) -> broadcast::Receiver<ConnectionEvent> {
        self.events.subscribe()
    }

    /// Every fact from now on, none dropped, in order per device. Only one taker (the bus
    /// publisher); later calls get `None`.
    pub fn take_feed(&self) -> Option<mpsc::UnboundedReceiver<ConnectionEvent>> {
        let (tx, rx) = mpsc::unbounded_channel();
        self.feed.set(tx).ok().map(|()| rx)
    }

    /// Called with the map entry locked.
    fn emit(&self, ev: ConnectionEvent) {
        if let Some(feed) = self.feed.get() {
            let _ = feed.send(ev.clone());
        }
        let _ = self.events.send(ev);
    }

    /// Installs a new tunnel; returns the one it replaces, if any.
    pub(crate) fn insert(&self, conn: Arc<DeviceConnection>) -> Option<Arc<DeviceConnection>> {
        use dashmap::mapref::entry::Entry;
        match self.map.entry(conn.guid.clone()) {
            Entry::Occupied(mut e) => {
                let old = e.insert(conn.clone());
                self.emit(old.disconnected_event(
                    DisconnectCause::Replaced,
                    "a newer tunnel of the same device replaced this one".into(),
                ));
                self.emit(conn.connected_event());
                Some(old)
            }
            Entry::Vacant(e) => {
                e.insert(conn.clone());
                self.emit(conn.connected_event());
                None
            }
        }
    }

    /// Removes the entry only if it is still this socket's (a newer tunnel may have replaced it).
    pub(crate) fn remove_if_current(
        &self,
        guid: &str,
        id: u64,
        cause: DisconnectCause,
        detail: String,
    ) -> bool {
        let mut detail = Some(detail);
        self.map
            .remove_if(guid, |_, c| {
                let current = c.id == id;
                if current {
                    self.emit(c.disconnected_event(cause, detail.take().unwrap_or_default()));
                }
                current
            })
            .is_some()
    }

    pub fn disconnect_all(&self) {
        for e in self.map.iter() {
            e.value().disconnect();
        }
    }
}
