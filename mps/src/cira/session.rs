//! The APF session of one CIRA connection (spec §1.5–1.9): authentication against the registry
//! and the secret store, tcpip-forward replies, keep-alives, and the channels MPS opens.
//!
//! One task owns the TLS stream and all APF state, so nothing here needs a lock. It waits on three
//! things: bytes from the device, commands from the rest of MPS (open/write/close a channel,
//! disconnect), and the idle deadline. While idle it holds no read buffer (spec/limits.md: the
//! per-connection buffer is the one cost that is ours to avoid).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use apf::{ApfCodec, ApfError, ChannelOpenFailureReason, GlobalRequestKind, Message};
use bytes::{BufMut, Bytes, BytesMut};
use futures::FutureExt;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::channel::{ChannelError, ChannelStream};
use super::connections::{DeviceConnection, DisconnectCause};
use super::tls_stream::CiraStream;
use crate::constant_time_eq;
use crate::registry::Device;
use crate::service::Mps;

/// What the rest of MPS asks of a session task.
pub(crate) enum SessionCmd {
    Open {
        port: u16,
        reply: oneshot::Sender<Result<ChannelStream, ChannelError>>,
    },
    Data {
        id: u32,
        data: Bytes,
    },
    Consumed {
        id: u32,
        n: u32,
    },
    Close {
        id: u32,
    },
    Disconnect,
}

/// The reply to a plain HTTP request on the CIRA port (the reference's probe page).
const HTTP_PROBE_REPLY: &[u8] = b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nConnection: close\r\n\r\n<!DOCTYPE html><html><head><meta charset=\"utf-8\"></head><body>Intel Management Presence Server (MPS). Intel\xc2\xae AMT computers must connect here using CIRA.</body></html>";

/// Keep-alive interval MPS asks AMT for, and the timeout it announces (the reference's 30 / 0).
const KEEPALIVE_INTERVAL: u32 = 30;
const KEEPALIVE_TIMEOUT: u32 = 0;
/// After this many tcpip-forward requests the keep-alive options go out even without port 5900.
const KEEPALIVE_OPTIONS_AFTER: u32 = 7;
/// USERAUTH refusal reasons (logged; only the first counts as a guess).
const WRONG_CREDENTIALS: &str = "wrong CIRA credentials";
const NOTHING_ON_RECORD: &str = "no CIRA credentials on record for this device";
const SECRETS_UNAVAILABLE: &str = "secret store unavailable";
/// Read chunk; allocated only while bytes are arriving.
const READ_CHUNK: usize = 4096;

#[derive(PartialEq, Eq)]
enum ChanState {
    Opening,
    Open,
    Closing,
}

struct Chan {
    state: ChanState,
    amt_id: u32,
    credits: u32,
    send_buf: BytesMut,
    consumed: u32,
    close_pending: bool,
    inbound: mpsc::UnboundedSender<Bytes>,
    /// The stream end handed to the opener once AMT confirms.
    stream: Option<(
        ChannelStream,
        oneshot::Sender<Result<ChannelStream, ChannelError>>,
    )>,
}

/// Why a session ended (logged once).
#[derive(Debug)]
enum End {
    PeerClosed,
    Idle,
    Protocol(ApfError),
    Io(std::io::Error),
    NotAllowed,
    AuthFailed,
    /// A message out of the handshake's order.
    Unexpected(&'static str),
    /// No successful USERAUTH within the authentication timeout.
    AuthTimeout,
    Replaced,
    Shutdown,
    DeviceDisconnect,
    HttpProbe,
}

pub(crate) struct Session {
    mps: Mps,
    tls: CiraStream,
    codec: ApfCodec,
    acc: BytesMut,
    out: BytesMut,
    guid: Option<String>,
    /// The registry row (boxed: an idle tunnel should not carry it inline).
    row: Option<Box<Device>>,
    conn: Option<Arc<DeviceConnection>>,
    id: u64,
    cmd_tx: mpsc::UnboundedSender<SessionCmd>,
    cmd_rx: mpsc::UnboundedReceiver<SessionCmd>,
    channels: HashMap<u32, Chan>,
    next_channel: u32,
    next_source_port: u32,
    forwards: u32,
    keepalive_options_sent: bool,
    window: u32,
    seen_any: bool,
    closed: CancellationToken,
}

impl Session {
    pub(crate) fn new(mps: Mps, tls: CiraStream) -> Self {
        let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
        let window = mps.config().effective_window();
        Self {
            mps,
            tls,
            codec: ApfCodec::new(),
            acc: BytesMut::new(),
            out: BytesMut::new(),
            guid: None,
            row: None,
            conn: None,
            id: rand::random(),
            cmd_tx,
            cmd_rx,
            channels: HashMap::new(),
            next_channel: 4,
            next_source_port: 0,
            forwards: 0,
            keepalive_options_sent: false,
            window,
            seen_any: false,
            closed: CancellationToken::new(),
        }
    }

    /// Runs until the device goes away, misbehaves, idles out, or MPS drops the tunnel.
    pub(crate) async fn run(mut self, shutdown: CancellationToken) {
        let peer = self.tls.tcp().peer_addr().ok();
        let end = Box::pin(self.event_loop(&shutdown)).await;
        let guid = self.guid.clone().unwrap_or_default();
        match &end {
            End::Protocol(e) => {
                tracing::warn!(guid, peer = ?peer, error = %e, "CIRA: closing connection on bad APF input")
            }
            End::Io(e) => tracing::info!(guid, peer = ?peer, error = %e, "CIRA: connection error"),
            End::NotAllowed => {
                tracing::warn!(guid, peer = ?peer, "CIRA: device is not allowed to connect")
            }
            End::AuthFailed => {
                tracing::warn!(guid, peer = ?peer, "CIRA: closing connection after failed authentication")
            }
            End::AuthTimeout => {
                tracing::warn!(guid, peer = ?peer, "CIRA: closing connection that did not authenticate in time")
            }
            End::Unexpected(what) => {
                tracing::warn!(guid, peer = ?peer, what, "CIRA: closing connection on a message out of order")
            }
            other => tracing::info!(guid, peer = ?peer, reason = ?other, "CIRA: connection closed"),
        }
        let (cause, detail) = disconnect_cause(&end, &shutdown);
        Box::pin(self.teardown(cause, detail)).await;
    }

    async fn event_loop(&mut self, shutdown: &CancellationToken) -> End {
        let idle = Duration::from_secs(self.mps.config().cira_idle_timeout_secs.max(1));
        let mut deadline = Instant::now() + idle;
        // A client that finished TLS but never authenticates holds a socket and a task: it gets a
        // fixed time to do so, however chatty it is meanwhile.
        let auth_deadline =
            Instant::now() + Duration::from_secs(self.mps.config().cira_auth_timeout_secs.max(1));
        // The TLS handshake may have read the device's first APF bytes along with its last
        // handshake record: they wait in the TLS layer, and the socket may never turn readable for
        // them. So the loop starts with a read.
        let mut maybe_buffered = true;
        loop {
            // Read what is there without blocking: the TLS layer may hold decrypted bytes.
            if maybe_buffered || !self.acc.is_empty() {
                match self.try_read() {
                    Ok(Some(0)) => return End::PeerClosed,
                    Ok(Some(n)) => {
                        deadline = Instant::now() + idle;
                        maybe_buffered = n == READ_CHUNK;
                        if let Some(end) = self.process_input().await {
                            return end;
                        }
                        if let Err(e) = self.flush_out().await {
                            return End::Io(e);
                        }
                        continue;
                    }
                    Ok(None) => maybe_buffered = false,
                    Err(e) => return End::Io(e),
                }
            }
            if self.acc.is_empty() {
                // Give the idle connection's buffer back.
                self.acc = BytesMut::new();
            }
            tokio::select! {
                r = self.tls.tcp().readable() => {
                    if let Err(e) = r {
                        return End::Io(e);
                    }
                    maybe_buffered = true;
                }
                cmd = self.cmd_rx.recv() => {
                    // The session holds a sender itself, so recv never yields None.
                    if let Some(cmd) = cmd {
                        if let Some(end) = self.command(cmd) {
                            let _ = self.flush_out().await;
                            return end;
                        }
                        while let Ok(cmd) = self.cmd_rx.try_recv() {
                            if let Some(end) = self.command(cmd) {
                                let _ = self.flush_out().await;
                                return end;
                            }
                        }
                        if let Err(e) = self.flush_out().await {
                            return End::Io(e);
                        }
                        deadline = Instant::now() + idle;
                    }
                }
                _ = tokio::time::sleep_until(deadline) => return End::Idle,
                _ = tokio::time::sleep_until(auth_deadline), if self.conn.is_none() => {
                    return End::AuthTimeout;
                }
                _ = self.closed.cancelled() => return End::Replaced,
                _ = shutdown.cancelled() => return End::Shutdown,
            }
        }
    }

    /// One non-blocking read into the accumulator: `Ok(None)` when nothing is ready.
    fn try_read(&mut self) -> std::io::Result<Option<usize>> {
        if self.acc.capacity() - self.acc.len() < READ_CHUNK {
            self.acc.reserve(READ_CHUNK);
        }
        let before = self.acc.len();
        let spare = (self.acc.capacity() - before).min(READ_CHUNK);
        let mut limited = (&mut self.acc).limit(spare);
        match self.tls.read_buf(&mut limited).now_or_never() {
            None => Ok(None),
            Some(Ok(n)) => Ok(Some(n)),
            Some(Err(e)) => Err(e),
        }
    }

    /// Decodes and handles every complete message in the accumulator.
    async fn process_input(&mut self) -> Option<End> {
        if !self.seen_any {
            let probe = b"GET";
            let n = self.acc.len().min(3);
            if self.acc[..n] == probe[..n] {
                if n < 3 {
                    return None;
                }
                let _ = self.tls.write_all(HTTP_PROBE_REPLY).await;
                return Some(End::HttpProbe);
            }
            self.seen_any = true;
        }
        loop {
            let msg = match self.codec.decode_message(&mut self.acc) {
                Ok(Some(m)) => m,
                Ok(None) => return None,
                Err(e) => {
                    if let ApfError::UnknownGlobalRequest {
                        want_reply: true, ..
                    } = &e
                    {
                        self.send(&Message::RequestFailure);
                        let _ = self.flush_out().await;
                    }
                    return Some(End::Protocol(e));
                }
            };
            if let Some(end) = Box::pin(self.message(msg)).await {
                return Some(end);
            }
        }
    }

    fn send(&mut self, msg: &Message) {
        if let Err(e) = apf::encode(msg, &mut self.out) {
            tracing::error!(error = %e, "CIRA: APF encode failed");
        }
    }

    async fn flush_out(&mut self) -> std::io::Result<()> {
        if self.out.is_empty() {
            return Ok(());
        }
        // Take the whole buffer so that an idle tunnel keeps no spare capacity.
        let out = std::mem::take(&mut self.out).freeze();
        self.tls.write_all(&out).await?;
        self.tls.flush().await?;
        Ok(())
    }

    async fn message(&mut self, msg: Message) -> Option<End> {
        // Before USERAUTH succeeds a device may only introduce itself and authenticate.
        if self.conn.is_none()
            && !matches!(
                msg,
                Message::ProtocolVersion(_)
                    | Message::ServiceRequest { .. }
                    | Message::UserauthRequest(_)
                    | Message::KeepaliveRequest { .. }
                    | Message::KeepaliveReply { .. }
                    | Message::Disconnect(_)
            )
        {
            return Some(End::Unexpected("message before authentication"));
        }
        match msg {
            Message::ProtocolVersion(pv) => {
                let guid = pv.guid();
                tracing::debug!(
                    guid,
                    major = pv.major,
                    minor = pv.minor,
                    "CIRA: protocol version"
                );
                match self.mps.registry().get(&guid, None).await {
                    Ok(Some(row)) => self.row = Some(Box::new(row)),
                    Ok(None) if self.mps.config().global_cira_credentials.is_some() => {
                        self.row = None
                    }
                    Ok(None) => {
                        self.guid = Some(guid);
                        return Some(End::NotAllowed);
                    }
                    Err(e) => {
                        tracing::error!(guid, error = %e, "CIRA: device lookup failed");
                        self.guid = Some(guid);
                        return Some(End::NotAllowed);
                    }
                }
                self.guid = Some(guid);
            }
            Message::ServiceRequest { service } => {
                if service == apf::consts::SERVICE_AUTH || service == apf::consts::SERVICE_PFWD {
                    self.send(&Message::ServiceAccept { service });
                } else {
                    tracing::debug!(service = %service, "CIRA: unknown service request ignored");
                }
            }
            Message::UserauthRequest(req) => {
                if self.conn.is_some() {
                    return Some(End::Unexpected("second USERAUTH"));
                }
                // Guessing from one address is slowed down: past a few failures its attempts
                // wait their turn, longer with each failure.
                let mps = self.mps.clone();
                let peer = self.tls.tcp().peer_addr().ok()?.ip();
                let admission = match mps.cira_throttle().admit(peer).await {
                    Ok(admission) => admission,
                    Err(e) => {
                        tracing::warn!(%peer, error = %e, "CIRA: authentication attempt refused");
                        return Some(End::AuthFailed);
                    }
                };
                let ok = self.authenticate(&req).await;
                match ok {
                    Ok(conn) => {
                        admission.succeeded();
                        self.conn = Some(conn);
                        self.send(&Message::UserauthSuccess);
                    }
                    Err(reason) => {
                        let failures = if reason == WRONG_CREDENTIALS {
                            admission.failed()
                        } else {
                            // A store that cannot answer, or a device not registered yet, is
                            // no guess.
                            drop(admission);
                            0
                        };
                        tracing::warn!(
                            guid = self.guid.as_deref().unwrap_or(""),
                            %peer,
                            reason,
                            failures,
                            "CIRA: authentication failed"
                        );
                        // The reference's 15-byte failure, then the connection ends: AMT
                        // reconnects and retries on its own schedule.
                        self.send(&Message::UserauthFailure(Default::default()));
                        let _ = self.flush_out().await;
                        return Some(End::AuthFailed);
                    }
                }
            }
            Message::GlobalRequest(req) => match req.request {
                GlobalRequestKind::TcpipForward { port, .. } => {
                    self.send(&Message::RequestSuccess { port: Some(port) });
                    self.forwards += 1;
                    if !self.keepalive_options_sent
                        && (port == u32::from(apf::consts::PORT_VNC)
                            || self.forwards >= KEEPALIVE_OPTIONS_AFTER)
                    {
                        self.keepalive_options_sent = true;
                        self.send(&Message::KeepaliveOptionsRequest {
                            interval_seconds: KEEPALIVE_INTERVAL,
                            timeout_seconds: KEEPALIVE_TIMEOUT,
                        });
                    }
                }
                GlobalRequestKind::CancelTcpipForward { .. } => {
                    self.send(&Message::RequestSuccess { port: None })
                }
                GlobalRequestKind::UdpSendTo { .. } => {}
            },
            Message::ChannelOpen(open) => {
                // MPS never accepts channels opened by AMT.
                self.send(&Message::ChannelOpenFailure(apf::ChannelOpenFailure {
                    recipient_channel: open.sender_channel,
                    reason: ChannelOpenFailureReason(3),
                    reserved: 0,
                    reserved2: 0,
                }));
            }
            Message::ChannelOpenConfirmation(c) => self.on_confirm(c),
            Message::ChannelOpenFailure(f) => match self.channels.remove(&f.recipient_channel) {
                Some(mut ch) => {
                    if let Some((_, reply)) = ch.stream.take() {
                        let _ = reply.send(Err(ChannelError::Refused(f.reason.0)));
                    }
                }
                None => tracing::debug!(
                    channel = f.recipient_channel,
                    "CIRA: open failure for unknown channel"
                ),
            },
            Message::ChannelWindowAdjust {
                recipient_channel,
                bytes_to_add,
            } => {
                if let Some(ch) = self.channels.get_mut(&recipient_channel) {
                    ch.credits = ch.credits.saturating_add(bytes_to_add);
                    let mut out = std::mem::take(&mut self.out);
                    flush_channel(ch, &mut out);
                    self.out = out;
                } else {
                    tracing::debug!(
                        channel = recipient_channel,
                        "CIRA: window adjust for unknown channel"
                    );
                }
            }
            Message::ChannelData {
                recipient_channel,
                data,
            } => match self.channels.get(&recipient_channel) {
                Some(ch) => {
                    let _ = ch.inbound.send(data);
                }
                None => tracing::debug!(
                    channel = recipient_channel,
                    "MPS Error in CHANNEL_DATA: Unable to find channelId"
                ),
            },
            Message::ChannelClose { recipient_channel } => {
                if let Some(ch) = self.channels.remove(&recipient_channel) {
                    if ch.state != ChanState::Closing {
                        self.send(&Message::ChannelClose {
                            recipient_channel: ch.amt_id,
                        });
                    }
                } else {
                    tracing::debug!(
                        channel = recipient_channel,
                        "CIRA: close for unknown channel"
                    );
                }
            }
            Message::KeepaliveRequest { cookie } => {
                self.send(&Message::KeepaliveReply { cookie });
                if let Some(conn) = &self.conn
                    && self.mps.config().cira_last_seen
                {
                    self.mps.last_seen().seen(&conn.guid);
                }
            }
            Message::Disconnect(d) => {
                tracing::info!(
                    guid = self.guid.as_deref().unwrap_or(""),
                    reason = d.reason.0,
                    "CIRA: device sent DISCONNECT"
                );
                return Some(End::DeviceDisconnect);
            }
            Message::KeepaliveReply { .. } | Message::KeepaliveOptionsReply { .. } => {}
            other => {
                tracing::debug!(kind = ?other.message_type(), "CIRA: unexpected message from device ignored")
            }
        }
        None
    }

    /// Checks USERAUTH against the registry row and `MPS_PASSWORD` (or the global enrolment
    /// credentials) and installs the tunnel. Errors are log reasons, never secrets.
    async fn authenticate(
        &mut self,
        req: &apf::UserauthRequest,
    ) -> Result<Arc<DeviceConnection>, &'static str> {
        let Some(guid) = self.guid.clone() else {
            return Err("USERAUTH before PROTOCOLVERSION");
        };
        let apf::AuthMethod::Password(password) = &req.method else {
            return Err("method other than password");
        };
        let username = req.username.as_bytes();
        let secrets = self
            .mps
            .device_secrets(&guid)
            .await
            .map_err(|_| SECRETS_UNAVAILABLE)?;
        let by_row = match (
            &self.row,
            secrets.as_ref().and_then(|s| s.mps_password.as_deref()),
        ) {
            (Some(row), Some(expected)) => {
                row.mpsusername.as_deref().map(str::as_bytes) == Some(username)
                    && constant_time_eq(expected.as_bytes(), password.expose())
            }
            _ => false,
        };
        let by_global = !by_row
            && self
                .mps
                .config()
                .global_cira_credentials
                .as_ref()
                .is_some_and(|g| {
                    constant_time_eq(g.username.as_bytes(), username)
                        && constant_time_eq(g.password.as_bytes(), password.expose())
                });
        if !by_row && !by_global {
            // Only a guess at credentials that exist counts against the address: a device RPS has
            // just activated may connect before MPS has registered it, and a whole NAT'd fleet of
            // those must not be slowed down for it.
            let row_has_password =
                self.row.is_some() && secrets.as_ref().is_some_and(|s| s.mps_password.is_some());
            let global_username = self
                .mps
                .config()
                .global_cira_credentials
                .as_ref()
                .is_some_and(|g| constant_time_eq(g.username.as_bytes(), username));
            return Err(if row_has_password || global_username {
                WRONG_CREDENTIALS
            } else {
                NOTHING_ON_RECORD
            });
        }
        let mut amt_password = secrets.as_ref().and_then(|s| s.amt_password.clone());
        if by_global && self.row.is_none() {
            let row = self
                .enrol(&guid, &String::from_utf8_lossy(username))
                .await?;
            self.row = Some(Box::new(row));
        }
        if by_global && amt_password.is_none() {
            amt_password = self.store_global_amt_password(&guid).await;
        }
        let tenant = self
            .row
            .as_ref()
            .map(|r| r.tenant_id.clone())
            .unwrap_or_default();
        let conn = Arc::new(
            DeviceConnection::new(
                guid.clone(),
                tenant,
                self.id,
                self.cmd_tx.clone(),
                self.closed.clone(),
                amt_password,
                self.mps.config().wsman_max_concurrent,
            )
            .with_origin(
                self.tls.tcp().peer_addr().ok(),
                self.row.as_ref().and_then(|r| r.hostname.clone()),
                self.tls.info(),
            ),
        );
        if let Some(old) = self.mps.connections().insert(conn.clone()) {
            tracing::info!(guid, "CIRA: new tunnel replaces the previous one");
            old.disconnect();
        }
        match self
            .mps
            .registry()
            .mark_connected(&guid, self.mps.instance())
            .await
        {
            Ok(true) => {
                let tls = self.tls.info();
                tracing::info!(
                    guid,
                    tls_protocol = tls.protocol,
                    tls_cipher = tls.cipher,
                    "CIRA Connection Established"
                )
            }
            Ok(false) => tracing::warn!(guid, "CIRA Connection Failed: no device row to update"),
            Err(e) => tracing::error!(guid, error = %e, "CIRA: recording the connection failed"),
        }
        Ok(conn)
    }

    /// Enrolment without RPS: a device that presented the global credentials is managed with the
    /// global AMT password, when one is configured, which is stored as its own so WS-Man and the relay
    /// can reach it like any device RPS activated.
    async fn store_global_amt_password(&self, guid: &str) -> Option<String> {
        let password = self
            .mps
            .config()
            .global_cira_credentials
            .as_ref()?
            .amt_password
            .clone()?;
        let path = format!("devices/{guid}");
        let store = self.mps.secrets();
        let mut stored = store.get(&path).await.ok().flatten().unwrap_or_default();
        let mut device = secrets::DeviceSecrets::from_map(&stored);
        device.amt_password = Some(password.clone());
        device.apply_to(&mut stored);
        match store.put(&path, stored).await {
            Ok(()) => Some(password),
            Err(error) => {
                tracing::error!(guid, %error, "CIRA: storing the enrolled device's AMT password failed");
                None
            }
        }
    }

    /// Enrolment without RPS: registers a device that presented the global credentials.
    async fn enrol(&self, guid: &str, username: &str) -> Result<Device, &'static str> {
        let mut body = serde_json::Map::new();
        body.insert("guid".into(), Value::String(guid.into()));
        body.insert("mpsusername".into(), Value::String(username.into()));
        body.insert("tags".into(), Value::Array(vec![]));
        match self.mps.register_device(&body).await {
            Ok(crate::service::Registered::Created(d) | crate::service::Registered::Updated(d)) => {
                tracing::info!(
                    guid,
                    "CIRA: device enrolled with the global CIRA credentials"
                );
                Ok(d)
            }
            Err(e) => {
                tracing::error!(guid, error = %e, "CIRA: enrolment failed");
                Err("enrolment failed")
            }
        }
    }

    fn on_confirm(&mut self, c: apf::ChannelOpenConfirmation) {
        let Some(ch) = self.channels.get_mut(&c.recipient_channel) else {
            tracing::debug!(
                channel = c.recipient_channel,
                "CIRA: confirmation for unknown channel"
            );
            return;
        };
        ch.amt_id = c.sender_channel;
        ch.credits = c.initial_window;
        if ch.close_pending {
            ch.state = ChanState::Closing;
            ch.stream = None;
            let amt = ch.amt_id;
            self.send(&Message::ChannelClose {
                recipient_channel: amt,
            });
            return;
        }
        ch.state = ChanState::Open;
        if let Some((stream, reply)) = ch.stream.take()
            && let Err(Ok(stream)) = reply.send(Ok(stream))
        {
            // The opener gave up waiting; dropping the stream closes the channel.
            drop(stream);
        }
        let mut out = std::mem::take(&mut self.out);
        if let Some(ch) = self.channels.get_mut(&c.recipient_channel) {
            flush_channel(ch, &mut out);
        }
        self.out = out;
    }

    /// Handles one command; `Some` ends the session.
    fn command(&mut self, cmd: SessionCmd) -> Option<End> {
        match cmd {
            SessionCmd::Open { port, reply } => {
                if self.conn.is_none() {
                    let _ = reply.send(Err(ChannelError::TunnelClosed));
                    return None;
                }
                let id = self.next_channel;
                self.next_channel = self.next_channel.wrapping_add(1).max(4);
                let source_port = (self.next_source_port % 30000) + 1024;
                self.next_source_port = self.next_source_port.wrapping_add(1);
                let (tx, rx) = mpsc::unbounded_channel();
                let stream = ChannelStream::new(id, rx, self.cmd_tx.clone());
                self.channels.insert(
                    id,
                    Chan {
                        state: ChanState::Opening,
                        amt_id: 0,
                        credits: 0,
                        send_buf: BytesMut::new(),
                        consumed: 0,
                        close_pending: false,
                        inbound: tx,
                        stream: Some((stream, reply)),
                    },
                );
                let window = self.window;
                self.send(&Message::forwarded_tcpip_open(
                    id,
                    window,
                    ("", u32::from(port)),
                    ("1.2.3.4", source_port),
                ));
            }
            SessionCmd::Data { id, data } => {
                if let Some(ch) = self.channels.get_mut(&id) {
                    ch.send_buf.extend_from_slice(&data);
                    let mut out = std::mem::take(&mut self.out);
                    flush_channel(ch, &mut out);
                    self.out = out;
                }
            }
            SessionCmd::Consumed { id, n } => {
                let half = self.window / 2;
                if let Some(ch) = self.channels.get_mut(&id) {
                    ch.consumed = ch.consumed.saturating_add(n);
                    if ch.state == ChanState::Open && ch.consumed > half {
                        let msg = Message::ChannelWindowAdjust {
                            recipient_channel: ch.amt_id,
                            bytes_to_add: ch.consumed,
                        };
                        ch.consumed = 0;
                        self.send(&msg);
                    }
                }
            }
            SessionCmd::Close { id } => {
                if let Some(ch) = self.channels.get_mut(&id) {
                    match ch.state {
                        ChanState::Opening => ch.close_pending = true,
                        ChanState::Open => {
                            ch.state = ChanState::Closing;
                            let amt = ch.amt_id;
                            self.send(&Message::ChannelClose {
                                recipient_channel: amt,
                            });
                        }
                        ChanState::Closing => {}
                    }
                }
            }
            SessionCmd::Disconnect => return Some(End::Replaced),
        }
        None
    }

    async fn teardown(mut self, cause: DisconnectCause, detail: String) {
        self.closed.cancel();
        // Dropping the channel table ends every stream (EOF) and fails every pending open.
        self.channels.clear();
        if let Some(conn) = self.conn.take()
            && self
                .mps
                .connections()
                .remove_if_current(&conn.guid, self.id, cause, detail)
            && let Err(e) = self.mps.registry().mark_disconnected(&conn.guid).await
        {
            tracing::error!(guid = conn.guid, error = %e, "CIRA: recording the disconnect failed");
        }
        let _ = tokio::time::timeout(Duration::from_secs(2), self.tls.shutdown()).await;
    }
}

/// The §1.9 trigger behind a session's end, for the disconnect event (a replaced tunnel never
/// gets this far: its successor already owns the registry entry).
fn disconnect_cause(end: &End, shutdown: &CancellationToken) -> (DisconnectCause, String) {
    match end {
        End::Idle => (DisconnectCause::IdleTimeout, String::new()),
        End::Protocol(e) => (DisconnectCause::ProtocolError, e.to_string()),
        End::Io(e) => (DisconnectCause::ConnectionLost, e.to_string()),
        End::DeviceDisconnect => (DisconnectCause::DeviceDisconnect, String::new()),
        End::Shutdown => (DisconnectCause::Shutdown, String::new()),
        // An explicit drop: the REST disconnect route, or every tunnel at shutdown.
        End::Replaced if shutdown.is_cancelled() => (DisconnectCause::Shutdown, String::new()),
        End::Replaced => (DisconnectCause::Administrative, String::new()),
        End::Unexpected(what) => (DisconnectCause::ProtocolError, (*what).to_owned()),
        End::PeerClosed | End::NotAllowed | End::AuthFailed | End::AuthTimeout | End::HttpProbe => {
            (DisconnectCause::ConnectionLost, String::new())
        }
    }
}

/// Sends as much buffered data as the channel's credits allow (one CHANNEL_DATA if it all fits).
fn flush_channel(ch: &mut Chan, out: &mut BytesMut) {
    while ch.state == ChanState::Open && ch.credits > 0 && !ch.send_buf.is_empty() {
        let n = ch.send_buf.len().min(ch.credits as usize);
        let data = ch.send_buf.split_to(n).freeze();
        ch.credits -= n as u32;
        if let Err(e) = apf::encode(
            &Message::ChannelData {
                recipient_channel: ch.amt_id,
                data,
            },
            out,
        ) {
            tracing::error!(error = %e, "CIRA: APF encode failed");
        }
    }
    if ch.send_buf.is_empty() && ch.send_buf.capacity() > 0 {
        ch.send_buf = BytesMut::new();
    }
}
