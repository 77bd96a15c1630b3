//! One CIRA tunnel of one device: TCP + TLS to the MPS, the APF handshake of real AMT
//! (spec/mps.md §1.5), keep-alives, and the channels the MPS opens.
//!
//! A single task owns the connection and multiplexes with `select!`: socket reads, messages queued
//! by channel streams, socket writes, timers and cancellation. Reads go through a stack buffer, so
//! an idle device holds no read buffer of its own; the write buffer is dropped whenever it empties.

use apf::consts::{AMT_FORWARDED_PORTS, CHANNEL_FORWARDED_TCPIP, SERVICE_AUTH, SERVICE_PFWD};
use apf::{
    ApfCodec, AuthMethod, ChannelOpenConfirmation, ChannelOpenFailure, ChannelOpenFailureReason,
    Disconnect, DisconnectReason, Message, Password, ProtocolVersion, TriggerReason,
    UserauthRequest,
};
use bytes::BytesMut;
use rustls::pki_types::ServerName;
use std::collections::HashMap;
use std::future::poll_fn;
use std::io;
use std::mem::MaybeUninit;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Poll, ready};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, AsyncWriteExt, ReadBuf};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::channel::{ChannelHandle, Outbox};
use super::tls::Connector;
use super::{ChannelServices, FailureKind, SessionError};
use crate::device::{CiraSettings, Device};

/// Tunables of a session (defaults follow real AMT / the reference MPS where known).
#[derive(Debug, Clone)]
pub struct SessionConfig {
    /// Our receive window per channel (the initial window in CHANNEL_OPEN_CONFIRMATION).
    pub receive_window: u32,
    /// TCP connect + TLS + APF handshake must finish within this.
    pub handshake_timeout: Duration,
    /// Keep-alive interval until the MPS sends KEEPALIVE_OPTIONS_REQUEST.
    pub default_keepalive: Duration,
    /// PROTOCOLVERSION trigger reason.
    pub trigger_reason: TriggerReason,
    /// Channels open at once per tunnel; more are refused with RESOURCE_SHORTAGE.
    pub max_channels: usize,
}

impl Default for SessionConfig {
    fn default() -> Self {
        SessionConfig {
            receive_window: 32 * 1024,
            handshake_timeout: Duration::from_secs(30),
            default_keepalive: Duration::from_secs(30),
            trigger_reason: TriggerReason::PERIODIC,
            max_channels: 32,
        }
    }
}

/// How a session ended without an error.
#[derive(Debug, PartialEq, Eq)]
pub enum SessionEnd {
    /// We were asked to stop (shutdown or new CIRA settings): DISCONNECT was sent.
    Cancelled,
}

/// Where the handshake stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    AwaitAuthAccept,
    AwaitUserauth,
    AwaitPfwdAccept,
    /// Waiting for the reply to the tcpip-forward of `AMT_FORWARDED_PORTS[i]`.
    Forwarding(usize),
    Connected,
}

/// Runs one tunnel until it fails or `cancel` fires. `on_connected` is called once, when the last
/// tcpip-forward is acknowledged.
pub async fn run_session(
    device: &Device,
    settings: &CiraSettings,
    tls: Connector,
    config: &SessionConfig,
    services: &Arc<dyn ChannelServices>,
    cancel: &CancellationToken,
    on_connected: &mut (dyn FnMut() + Send),
) -> Result<SessionEnd, SessionError> {
    let deadline = Instant::now() + config.handshake_timeout;
    let server_name = ServerName::try_from(settings.server.clone()).map_err(|e| {
        SessionError::new(
            FailureKind::TlsHandshake,
            format!("invalid server name {:?}: {e}", settings.server),
        )
    })?;
    let handshake_failed = |e: String| SessionError::new(FailureKind::TlsHandshake, e);
    let connect = async {
        let tcp = TcpStream::connect((settings.server.as_str(), settings.port))
            .await
            .map_err(|e| SessionError::new(FailureKind::TcpConnect, e.to_string()))?;
        let _ = tcp.set_nodelay(true);
        match tls {
            Connector::Rustls(config) => tokio_rustls::TlsConnector::from(config)
                .connect(server_name, tcp)
                .await
                .map(|s| Box::new(s) as Box<dyn TlsTransport>)
                .map_err(|e| handshake_failed(e.to_string())),
            Connector::OpenSsl(connector) => {
                let ssl = connector
                    .configure()
                    .and_then(|c| c.into_ssl(&settings.server))
                    .map_err(|e| handshake_failed(e.to_string()))?;
                let mut stream = tokio_openssl::SslStream::new(ssl, tcp)
                    .map_err(|e| handshake_failed(e.to_string()))?;
                std::pin::Pin::new(&mut stream)
                    .connect()
                    .await
                    .map_err(|e| handshake_failed(e.to_string()))?;
                Ok(Box::new(stream) as Box<dyn TlsTransport>)
            }
        }
    };
    let tls_stream = tokio::select! {
        _ = cancel.cancelled() => return Ok(SessionEnd::Cancelled),
        r = tokio::time::timeout_at(deadline, connect) => match r {
            Ok(r) => r?,
            Err(_) => return Err(SessionError::new(FailureKind::HandshakeTimeout, "TCP/TLS connect timed out")),
        },
    };
    let (rd, wr) = tokio::io::split(tls_stream);
    let mut conn = Connection::new(device.clone(), settings, config, services.clone());
    conn.run(rd, wr, deadline, cancel, on_connected).await
}

/// A device's TLS stream, from rustls or OpenSSL.
trait TlsTransport: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send {}
impl<T: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send> TlsTransport for T {}

/// The APF state of one tunnel.
struct Connection<'a> {
    device: Device,
    settings: &'a CiraSettings,
    config: &'a SessionConfig,
    services: Arc<dyn ChannelServices>,
    codec: ApfCodec,
    wbuf: BytesMut,
    outbox: Arc<Outbox>,
    channels: Channels,
    next_channel_id: u32,
    phase: Phase,
    keepalive_interval: Duration,
    /// Silence after which the MPS is considered gone.
    dead_after: Duration,
    next_keepalive: Instant,
    cookie: u32,
}

/// The open channels; dropping it tells every stream that the tunnel is gone.
#[derive(Default)]
struct Channels(HashMap<u32, ChannelHandle>);

impl Drop for Channels {
    fn drop(&mut self) {
        for ch in self.0.values() {
            ch.on_connection_gone();
        }
    }
}

impl<'a> Connection<'a> {
    fn new(
        device: Device,
        settings: &'a CiraSettings,
        config: &'a SessionConfig,
        services: Arc<dyn ChannelServices>,
    ) -> Self {
        Connection {
            device,
            settings,
            config,
            services,
            codec: ApfCodec::new(),
            wbuf: BytesMut::new(),
            outbox: Arc::new(Outbox::default()),
            channels: Channels::default(),
            next_channel_id: 1,
            phase: Phase::AwaitAuthAccept,
            keepalive_interval: config.default_keepalive,
            dead_after: config.default_keepalive * 3,
            next_keepalive: Instant::now(),
            cookie: 0,
        }
    }

    fn send(&mut self, msg: &Message) -> Result<(), SessionError> {
        self.codec.encode_message(msg, &mut self.wbuf).map_err(|e| {
            SessionError::new(
                FailureKind::Protocol,
                format!("encoding {:?}: {e}", msg.message_type()),
            )
        })
    }

    async fn run<R, W>(
        &mut self,
        mut rd: R,
        mut wr: W,
        handshake_deadline: Instant,
        cancel: &CancellationToken,
        on_connected: &mut (dyn FnMut() + Send),
    ) -> Result<SessionEnd, SessionError>
    where
        R: AsyncRead + Unpin,
        W: AsyncWrite + Unpin,
    {
        // Real AMT sends its version and the auth service request back to back.
        self.send(&Message::ProtocolVersion(ProtocolVersion {
            major: 1,
            minor: 0,
            trigger_reason: self.config.trigger_reason,
            uuid: self.device.uuid_bytes(),
        }))?;
        self.send(&Message::ServiceRequest {
            service: SERVICE_AUTH.into(),
        })?;
        let mut rbuf = BytesMut::new();
        let mut last_rx = Instant::now();
        let mut unflushed = false;
        loop {
            let timer = if self.phase == Phase::Connected {
                self.next_keepalive.min(last_rx + self.dead_after)
            } else {
                handshake_deadline
            };
            let write_pending = !self.wbuf.is_empty() || unflushed;
            tokio::select! {
                biased;
                _ = cancel.cancelled() => {
                    self.goodbye(&mut wr).await;
                    return Ok(SessionEnd::Cancelled);
                }
                r = write_all(&mut wr, &mut self.wbuf), if write_pending => {
                    r.map_err(|e| SessionError::new(FailureKind::ConnectionLost, format!("write: {e}")))?;
                    unflushed = false;
                    // Nothing buffered: give the allocation back while idle.
                    self.wbuf = BytesMut::new();
                }
                r = read_some(&mut rd, &mut rbuf) => {
                    let n = r.map_err(|e| SessionError::new(self.lost_kind(), format!("read: {e}")))?;
                    if n == 0 {
                        return Err(SessionError::new(self.lost_kind(), "the MPS closed the connection"));
                    }
                    last_rx = Instant::now();
                    while let Some(msg) = self.codec.decode_message(&mut rbuf)
                        .map_err(|e| SessionError::new(FailureKind::Protocol, e.to_string()))?
                    {
                        self.handle(msg, on_connected)?;
                    }
                    if rbuf.is_empty() {
                        rbuf = BytesMut::new();
                    }
                }
                _ = self.outbox.notified() => {
                    for msg in self.outbox.take() {
                        self.send(&msg)?;
                    }
                }
                _ = tokio::time::sleep_until(timer) => {
                    let now = Instant::now();
                    if self.phase != Phase::Connected {
                        return Err(SessionError::new(FailureKind::HandshakeTimeout, format!("APF handshake stuck in {:?}", self.phase)));
                    }
                    if now >= last_rx + self.dead_after {
                        return Err(SessionError::new(FailureKind::KeepaliveTimeout, format!("no data from the MPS for {:?}", self.dead_after)));
                    }
                    if now >= self.next_keepalive {
                        self.cookie = self.cookie.wrapping_add(1);
                        let cookie = self.cookie;
                        self.send(&Message::KeepaliveRequest { cookie })?;
                        self.next_keepalive = now + self.keepalive_interval;
                    }
                }
            }
            if !self.wbuf.is_empty() {
                unflushed = true;
            }
            self.channels.0.retain(|_, ch| !ch.is_finished());
        }
    }

    fn lost_kind(&self) -> FailureKind {
        if self.phase == Phase::Connected {
            FailureKind::ConnectionLost
        } else {
            FailureKind::ClosedDuringHandshake
        }
    }

    /// DISCONNECT (by application), then a TLS close, bounded in time.
    async fn goodbye<W: AsyncWrite + Unpin>(&mut self, wr: &mut W) {
        let _ = self.send(&Message::Disconnect(Disconnect {
            reason: DisconnectReason::BY_APPLICATION,
            reserved: 0,
        }));
        let _ = tokio::time::timeout(Duration::from_secs(2), async {
            write_all(wr, &mut self.wbuf).await?;
            wr.shutdown().await
        })
        .await;
    }

    fn handle(
        &mut self,
        msg: Message,
        on_connected: &mut (dyn FnMut() + Send),
    ) -> Result<(), SessionError> {
        match msg {
            Message::ServiceAccept { service } => match self.phase {
                Phase::AwaitAuthAccept if service == SERVICE_AUTH => {
                    self.send(&Message::UserauthRequest(UserauthRequest {
                        username: self.settings.username.as_str().into(),
                        service: SERVICE_PFWD.into(),
                        method: AuthMethod::Password(Password::from(
                            self.settings.password.as_str(),
                        )),
                    }))?;
                    self.phase = Phase::AwaitUserauth;
                }
                Phase::AwaitPfwdAccept if service == SERVICE_PFWD => self.forward(0)?,
                phase => {
                    tracing::debug!(guid = %self.device.guid(), %service, ?phase, "unexpected SERVICE_ACCEPT ignored")
                }
            },
            Message::UserauthSuccess if self.phase == Phase::AwaitUserauth => {
                self.send(&Message::ServiceRequest {
                    service: SERVICE_PFWD.into(),
                })?;
                self.phase = Phase::AwaitPfwdAccept;
            }
            Message::UserauthFailure(_) => {
                return Err(SessionError::new(
                    FailureKind::AuthFailed,
                    "the MPS rejected the CIRA user name or password",
                ));
            }
            Message::RequestSuccess { .. } | Message::RequestFailure => {
                if let Phase::Forwarding(i) = self.phase {
                    if matches!(msg, Message::RequestFailure) {
                        tracing::warn!(guid = %self.device.guid(), port = AMT_FORWARDED_PORTS[i], "tcpip-forward refused");
                    }
                    if i + 1 < AMT_FORWARDED_PORTS.len() {
                        self.forward(i + 1)?;
                    } else {
                        self.phase = Phase::Connected;
                        self.next_keepalive = Instant::now() + jittered(self.keepalive_interval);
                        on_connected();
                    }
                }
            }
            Message::KeepaliveRequest { cookie } => {
                self.send(&Message::KeepaliveReply { cookie })?
            }
            Message::KeepaliveReply { .. } => {}
            Message::KeepaliveOptionsRequest {
                interval_seconds,
                timeout_seconds,
            } => {
                self.send(&Message::KeepaliveOptionsReply {
                    interval_seconds,
                    timeout_seconds,
                })?;
                if interval_seconds > 0 {
                    self.keepalive_interval = Duration::from_secs(interval_seconds.into());
                    self.next_keepalive = Instant::now() + jittered(self.keepalive_interval);
                }
                self.dead_after = if timeout_seconds > 0 {
                    Duration::from_secs(timeout_seconds.into())
                } else {
                    self.keepalive_interval * 3
                };
            }
            Message::ChannelOpen(open) => self.on_channel_open(open)?,
            Message::ChannelWindowAdjust {
                recipient_channel,
                bytes_to_add,
            } => match self.channels.0.get(&recipient_channel) {
                Some(ch) => ch.on_window_adjust(bytes_to_add),
                None => tracing::debug!(
                    channel = recipient_channel,
                    "WINDOW_ADJUST for an unknown channel"
                ),
            },
            Message::ChannelData {
                recipient_channel,
                data,
            } => match self.channels.0.get(&recipient_channel) {
                Some(ch) => ch.on_data(data).map_err(|e| {
                    SessionError::new(
                        FailureKind::Protocol,
                        format!("channel {recipient_channel}: {e:?}"),
                    )
                })?,
                None => tracing::debug!(
                    channel = recipient_channel,
                    "CHANNEL_DATA for an unknown channel"
                ),
            },
            Message::ChannelClose { recipient_channel } => {
                match self.channels.0.remove(&recipient_channel) {
                    Some(ch) => {
                        if ch.on_peer_close() {
                            self.send(&Message::ChannelClose {
                                recipient_channel: ch.peer_id,
                            })?;
                        }
                    }
                    None => tracing::debug!(
                        channel = recipient_channel,
                        "CHANNEL_CLOSE for an unknown channel"
                    ),
                }
            }
            Message::Disconnect(d) => {
                return Err(SessionError::new(
                    self.lost_kind(),
                    format!("the MPS sent DISCONNECT {}", d.reason),
                ));
            }
            Message::GlobalRequest(g) if g.want_reply => self.send(&Message::RequestFailure)?,
            other => {
                tracing::debug!(guid = %self.device.guid(), kind = ?other.message_type(), phase = ?self.phase, "unexpected APF message ignored");
            }
        }
        Ok(())
    }

    fn forward(&mut self, i: usize) -> Result<(), SessionError> {
        let host = self.device.hostname();
        self.send(&Message::tcpip_forward(
            host.as_str(),
            AMT_FORWARDED_PORTS[i].into(),
        ))?;
        self.phase = Phase::Forwarding(i);
        Ok(())
    }

    fn on_channel_open(&mut self, open: apf::ChannelOpen) -> Result<(), SessionError> {
        let refuse = |reason: ChannelOpenFailureReason| {
            Message::ChannelOpenFailure(ChannelOpenFailure {
                recipient_channel: open.sender_channel,
                reason,
                reserved: 0,
                reserved2: 0,
            })
        };
        let authenticated = !matches!(self.phase, Phase::AwaitAuthAccept | Phase::AwaitUserauth);
        let reply = if open.channel_type != CHANNEL_FORWARDED_TCPIP {
            refuse(ChannelOpenFailureReason::UNKNOWN_CHANNEL_TYPE)
        } else if !authenticated {
            refuse(ChannelOpenFailureReason::ADMINISTRATIVELY_PROHIBITED)
        } else if !self.services.accepts(open.target_port) {
            refuse(ChannelOpenFailureReason::CONNECT_FAILED)
        } else if self.channels.0.len() >= self.config.max_channels {
            refuse(ChannelOpenFailureReason::RESOURCE_SHORTAGE)
        } else {
            let id = self.next_channel_id;
            self.next_channel_id = self.next_channel_id.wrapping_add(1).max(1);
            let window = self.config.receive_window;
            let (handle, stream) = ChannelHandle::open(
                open.sender_channel,
                window,
                open.initial_window,
                self.outbox.clone(),
            );
            self.channels.0.insert(id, handle);
            // The confirmation is queued before anything the service writes, so order holds.
            self.send(&Message::ChannelOpenConfirmation(ChannelOpenConfirmation {
                recipient_channel: open.sender_channel,
                sender_channel: id,
                initial_window: window,
                reserved: 0,
            }))?;
            tracing::debug!(guid = %self.device.guid(), port = open.target_port, channel = id, "channel opened by the MPS");
            self.services
                .spawn(open.target_port, self.device.clone(), stream);
            return Ok(());
        };
        tracing::debug!(guid = %self.device.guid(), port = open.target_port, "channel refused");
        self.send(&reply)
    }
}

/// The first keep-alive comes at a random point of the interval, so a fleet that connected
/// together does not send its keep-alives in lockstep.
fn jittered(interval: Duration) -> Duration {
    Duration::from_millis(rand::random_range(0..=interval.as_millis() as u64))
}

/// Reads whatever is available into `acc` through a stack buffer (nothing is held while waiting).
async fn read_some<R: AsyncRead + Unpin>(rd: &mut R, acc: &mut BytesMut) -> io::Result<usize> {
    poll_fn(|cx| {
        let mut tmp = [MaybeUninit::<u8>::uninit(); 8192];
        let mut buf = ReadBuf::uninit(&mut tmp);
        ready!(Pin::new(&mut *rd).poll_read(cx, &mut buf))?;
        acc.extend_from_slice(buf.filled());
        Poll::Ready(Ok(buf.filled().len()))
    })
    .await
}

/// Writes and flushes everything buffered. Cancel safe: progress is kept in `buf`.
async fn write_all<W: AsyncWrite + Unpin>(wr: &mut W, buf: &mut BytesMut) -> io::Result<()> {
    if !buf.is_empty() {
        wr.write_all_buf(buf).await?;
    }
    wr.flush().await
}
