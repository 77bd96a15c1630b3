//! A small MPS-like APF acceptor for tests and the fleet benchmark: TLS (an rcgen ECDSA
//! certificate for `localhost`), the server half of the CIRA handshake (service accepts, password
//! check, tcpip-forward replies, KEEPALIVE_OPTIONS_REQUEST after port 5900, keep-alive replies)
//! and MPS-opened channels with credit-based flow control. It records what each device sent.

#![allow(dead_code)]

use apf::consts::{SERVICE_AUTH, SERVICE_PFWD};
use apf::{
    ApfCodec, AuthMethod, ChannelOpenFailureReason, GlobalRequestKind, Message, UserauthFailure,
};
use bytes::BytesMut;
use sim::cira::channel::{ChannelHandle, ChannelStream, Outbox};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{mpsc, oneshot};

/// A CA and a `localhost` server certificate it signed.
pub struct TestPki {
    pub ca_der: Vec<u8>,
    pub server_config: Arc<rustls::ServerConfig>,
}

impl TestPki {
    pub fn new() -> TestPki {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let ca_key = rcgen::KeyPair::generate().expect("CA key");
        let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("CA params");
        ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        ca_params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "test MPS root");
        let ca = rcgen::CertifiedIssuer::self_signed(ca_params, ca_key).expect("CA cert");
        let key = rcgen::KeyPair::generate().expect("server key");
        let params =
            rcgen::CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
                .expect("params");
        let cert = params.signed_by(&key, &ca).expect("server cert");
        let server_config = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(
                vec![cert.der().clone(), ca.der().clone()],
                rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
            )
            .expect("server config");
        TestPki {
            ca_der: ca.der().to_vec(),
            server_config: Arc::new(server_config),
        }
    }
}

#[derive(Clone)]
pub struct ServerConfig {
    pub username: String,
    pub password: String,
    /// Sent after the tcpip-forward for 5900, as MPS does.
    pub keepalive_options: Option<(u32, u32)>,
    /// Keep every message each device sends (tests); off for the benchmark.
    pub record: bool,
    /// Receive window this server grants per channel.
    pub window: u32,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            username: "ciraUser".into(),
            password: "Cira!Pass1".into(),
            keepalive_options: Some((30, 0)),
            record: true,
            window: 81920,
        }
    }
}

enum Cmd {
    Open {
        port: u32,
        window: u32,
        reply: oneshot::Sender<Result<ChannelStream, u32>>,
    },
    Drop,
}

/// One device connection as the server sees it.
#[derive(Clone)]
pub struct Conn {
    pub guid: Arc<Mutex<Option<String>>>,
    pub received: Arc<Mutex<Vec<Message>>>,
    cmd: mpsc::UnboundedSender<Cmd>,
}

impl Conn {
    /// Opens a channel to `port` on the device, as MPS does for WS-Man/redirection.
    pub async fn open_channel(&self, port: u32, window: u32) -> Result<ChannelStream, u32> {
        let (tx, rx) = oneshot::channel();
        self.cmd
            .send(Cmd::Open {
                port,
                window,
                reply: tx,
            })
            .map_err(|_| 0u32)?;
        rx.await.map_err(|_| 0u32)?
    }

    /// Drops the TCP connection without any goodbye (an MPS crash).
    pub fn kill(&self) {
        let _ = self.cmd.send(Cmd::Drop);
    }

    pub fn received(&self) -> Vec<Message> {
        self.received.lock().unwrap().clone()
    }
}

#[derive(Default)]
pub struct Counters {
    pub accepted: AtomicU64,
    pub authenticated: AtomicU64,
    pub auth_failures: AtomicU64,
}

pub struct ApfServer {
    pub addr: SocketAddr,
    pub conns: Arc<Mutex<Vec<Conn>>>,
    pub counters: Arc<Counters>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ApfServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl ApfServer {
    pub async fn start(pki: &TestPki, config: ServerConfig) -> ApfServer {
        Self::start_on("127.0.0.1:0", pki, config).await
    }

    pub async fn start_on(addr: &str, pki: &TestPki, config: ServerConfig) -> ApfServer {
        let listener = TcpListener::bind(addr).await.expect("bind test APF server");
        let addr = listener.local_addr().expect("local addr");
        let acceptor = tokio_rustls::TlsAcceptor::from(pki.server_config.clone());
        let conns: Arc<Mutex<Vec<Conn>>> = Arc::default();
        let counters: Arc<Counters> = Arc::default();
        let (c2, k2) = (conns.clone(), counters.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                k2.accepted.fetch_add(1, Ordering::Relaxed);
                let (tx, rx) = mpsc::unbounded_channel();
                let conn = Conn {
                    guid: Arc::default(),
                    received: Arc::default(),
                    cmd: tx,
                };
                if config.record {
                    c2.lock().unwrap().push(conn.clone());
                }
                let (acceptor, config, counters) = (acceptor.clone(), config.clone(), k2.clone());
                tokio::spawn(async move {
                    let _ = serve_conn(acceptor, tcp, conn, rx, config, counters).await;
                });
            }
        });
        ApfServer {
            addr,
            conns,
            counters,
            task,
        }
    }

    /// Waits for the `n`th connection (0-based) to exist.
    pub async fn conn(&self, n: usize) -> Conn {
        for _ in 0..500 {
            if let Some(c) = self.conns.lock().unwrap().get(n) {
                return c.clone();
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("connection {n} never arrived");
    }
}

async fn serve_conn(
    acceptor: tokio_rustls::TlsAcceptor,
    tcp: TcpStream,
    conn: Conn,
    mut cmds: mpsc::UnboundedReceiver<Cmd>,
    config: ServerConfig,
    counters: Arc<Counters>,
) -> std::io::Result<()> {
    let tls = acceptor.accept(tcp).await?;
    let (mut rd, mut wr) = tokio::io::split(tls);
    let mut codec = ApfCodec::new();
    let outbox = Arc::new(Outbox::default());
    let mut channels: HashMap<u32, ChannelHandle> = HashMap::new();
    let mut pending: HashMap<u32, (u32, oneshot::Sender<Result<ChannelStream, u32>>)> =
        HashMap::new();
    let mut next_id = 4u32; // MPS starts its channel ids at 4
    let mut rbuf = BytesMut::new();
    let mut tmp = vec![0u8; 16384];
    loop {
        let mut out = BytesMut::new();
        tokio::select! {
            n = rd.read(&mut tmp) => {
                let n = n?;
                if n == 0 { break; }
                rbuf.extend_from_slice(&tmp[..n]);
                while let Some(msg) = codec.decode_message(&mut rbuf).map_err(std::io::Error::other)? {
                    if config.record { conn.received.lock().unwrap().push(msg.clone()); }
                    let mut reply = |m: Message| codec_encode(&m, &mut out);
                    match msg {
                        Message::ProtocolVersion(v) => *conn.guid.lock().unwrap() = Some(v.guid()),
                        Message::ServiceRequest { service } if service == SERVICE_AUTH || service == SERVICE_PFWD => {
                            reply(Message::ServiceAccept { service })
                        }
                        Message::UserauthRequest(u) => {
                            let ok = u.username == config.username.as_str()
                                && matches!(&u.method, AuthMethod::Password(p) if p.expose() == config.password.as_bytes());
                            if ok {
                                counters.authenticated.fetch_add(1, Ordering::Relaxed);
                                reply(Message::UserauthSuccess)
                            } else {
                                counters.auth_failures.fetch_add(1, Ordering::Relaxed);
                                reply(Message::UserauthFailure(UserauthFailure::default()))
                            }
                        }
                        Message::GlobalRequest(g) => match g.request {
                            GlobalRequestKind::TcpipForward { port, .. } => {
                                reply(Message::RequestSuccess { port: Some(port) });
                                if port == 5900 && let Some((i, t)) = config.keepalive_options {
                                    reply(Message::KeepaliveOptionsRequest { interval_seconds: i, timeout_seconds: t });
                                }
                            }
                            GlobalRequestKind::CancelTcpipForward { .. } => reply(Message::RequestSuccess { port: None }),
                            GlobalRequestKind::UdpSendTo { .. } => {}
                        },
                        Message::KeepaliveRequest { cookie } => reply(Message::KeepaliveReply { cookie }),
                        Message::ChannelOpenConfirmation(c) => {
                            if let Some((window, tx)) = pending.remove(&c.recipient_channel) {
                                let (handle, stream) = ChannelHandle::open(c.sender_channel, window, c.initial_window, outbox.clone());
                                channels.insert(c.recipient_channel, handle);
                                let _ = tx.send(Ok(stream));
                            }
                        }
                        Message::ChannelOpenFailure(f) => {
                            if let Some((_, tx)) = pending.remove(&f.recipient_channel) {
                                let _ = tx.send(Err(f.reason.0));
                            }
                        }
                        Message::ChannelData { recipient_channel, data } => {
                            if let Some(ch) = channels.get(&recipient_channel) {
                                ch.on_data(data).map_err(|e| std::io::Error::other(format!("device overran our window: {e:?}")))?;
                            }
                        }
                        Message::ChannelWindowAdjust { recipient_channel, bytes_to_add } => {
                            if let Some(ch) = channels.get(&recipient_channel) { ch.on_window_adjust(bytes_to_add); }
                        }
                        Message::ChannelClose { recipient_channel } => {
                            if let Some(ch) = channels.remove(&recipient_channel) && ch.on_peer_close() {
                                reply(Message::ChannelClose { recipient_channel: ch.peer_id });
                            }
                        }
                        _ => {}
                    }
                }
            }
            _ = outbox.notified() => {
                for m in outbox.take() { codec_encode(&m, &mut out); }
            }
            cmd = cmds.recv() => match cmd {
                Some(Cmd::Open { port, window, reply }) => {
                    let id = next_id;
                    next_id += 1;
                    pending.insert(id, (window, reply));
                    codec_encode(&Message::forwarded_tcpip_open(id, window, ("", port), ("1.2.3.4", 1024)), &mut out);
                }
                Some(Cmd::Drop) | None => break,
            },
        }
        if !out.is_empty() {
            wr.write_all(&out).await?;
            wr.flush().await?;
        }
    }
    for ch in channels.values() {
        ch.on_connection_gone();
    }
    Ok(())
}

fn codec_encode(m: &Message, out: &mut BytesMut) {
    apf::encode(m, out).expect("test server messages encode");
}

/// The reason code of CHANNEL_OPEN_FAILURE CONNECT_FAILED, for assertions.
pub const CONNECT_FAILED: u32 = ChannelOpenFailureReason::CONNECT_FAILED.0;
