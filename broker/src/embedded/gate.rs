//! The TLS front door of the embedded broker. rumqttd's own TLS listener finishes one handshake before it
//! accepts the next socket, so one silent client stalls everybody (spec/crates.md); here every connection
//! gets its own task with a handshake deadline. The gate also authenticates each CONNECT and enforces the
//! ACL on PUBLISH and SUBSCRIBE, answering refusals in the client's protocol version, then relays whole
//! MQTT packets to rumqttd on a loopback port.

use std::{collections::HashMap, net::SocketAddr, sync::Arc, time::Duration};

use bytes::{Bytes, BytesMut};
use tokio::{
    io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufWriter},
    net::{TcpListener, TcpStream},
    sync::mpsc,
};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use super::packet::{self, PacketError, Refusal};
use crate::{Access, Acl, Credentials};

const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

pub(crate) struct Gate {
    pub acceptor: TlsAcceptor,
    pub backend: SocketAddr,
    pub credentials: Credentials,
    pub acl: Acl,
}

#[derive(Debug, thiserror::Error)]
enum GateError {
    #[error("TLS handshake: {0}")]
    Handshake(std::io::Error),
    #[error("TLS handshake timed out")]
    HandshakeTimeout,
    #[error("no CONNECT within {0:?}")]
    ConnectTimeout(Duration),
    #[error(transparent)]
    Packet(#[from] PacketError),
    #[error("I/O: {0}")]
    Io(#[from] std::io::Error),
}

/// Accepts connections until `shutdown`, then closes every connection it relays.
pub(crate) async fn serve(listener: TcpListener, gate: Arc<Gate>, shutdown: CancellationToken) {
    loop {
        let (tcp, peer) = tokio::select! {
            _ = shutdown.cancelled() => return,
            accepted = listener.accept() => match accepted {
                Ok(conn) => conn,
                Err(error) => {
                    // Out of file descriptors and the like: back off instead of spinning.
                    tracing::warn!(%error, "broker gate cannot accept");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let gate = gate.clone();
        let shutdown = shutdown.clone();
        tokio::spawn(async move {
            tokio::select! {
                _ = shutdown.cancelled() => {}
                result = relay(&gate, tcp, peer) => if let Err(error) = result {
                    tracing::debug!(%peer, %error, "broker connection ended");
                }
            }
        });
    }
}

async fn read_frame<R: AsyncRead + Unpin>(
    reader: &mut R,
    buf: &mut BytesMut,
) -> Result<Option<Bytes>, GateError> {
    loop {
        if let Some(frame) = packet::next_frame(buf)? {
            return Ok(Some(frame));
        }
        if reader.read_buf(buf).await? == 0 {
            return Ok(None);
        }
    }
}

async fn relay(gate: &Gate, tcp: TcpStream, peer: SocketAddr) -> Result<(), GateError> {
    let _ = tcp.set_nodelay(true);
    let tls = tokio::time::timeout(HANDSHAKE_TIMEOUT, gate.acceptor.accept(tcp))
        .await
        .map_err(|_| GateError::HandshakeTimeout)?
        .map_err(GateError::Handshake)?;
    let (mut client_rd, mut client_wr) = tokio::io::split(tls);

    let mut buf = BytesMut::with_capacity(4096);
    let Some(first) = tokio::time::timeout(CONNECT_TIMEOUT, read_frame(&mut client_rd, &mut buf))
        .await
        .map_err(|_| GateError::ConnectTimeout(CONNECT_TIMEOUT))??
    else {
        return Ok(());
    };
    let connect = packet::parse_connect(&first)?;
    let user = connect.username.clone();
    let authenticated = match (&user, &connect.password) {
        (Some(user), Some(password)) => gate.credentials.verify(user, password),
        _ => false,
    };
    if !authenticated {
        tracing::warn!(%peer, %connect, "refused MQTT connection: bad user name or password");
        return refuse(
            &mut client_wr,
            packet::connack_refusal(connect.is_v5(), Refusal::BadCredentials),
        )
        .await;
    }
    if let Some(will) = &connect.will_topic
        && !gate
            .acl
            .check_topic(user.as_deref(), &connect.client_id, will, Access::Write)
    {
        tracing::warn!(%peer, %connect, will, "refused MQTT connection: last will topic not allowed");
        return refuse(
            &mut client_wr,
            packet::connack_refusal(connect.is_v5(), Refusal::NotAuthorized),
        )
        .await;
    }

    let backend = TcpStream::connect(gate.backend).await?;
    let _ = backend.set_nodelay(true);
    let (mut broker_rd, broker_wr) = backend.into_split();
    let mut broker_wr = BufWriter::new(broker_wr);
    broker_wr.write_all(&first).await?;
    broker_wr.flush().await?;

    // One writer owns the client side, so packets the gate answers itself never split broker packets.
    let (to_client, mut client_queue) = mpsc::channel::<Bytes>(256);
    let writer = async move {
        while let Some(frame) = client_queue.recv().await {
            client_wr.write_all(&frame).await?;
            while let Ok(more) = client_queue.try_recv() {
                client_wr.write_all(&more).await?;
            }
            client_wr.flush().await?;
        }
        client_wr.shutdown().await
    };
    let from_broker = {
        let to_client = to_client.clone();
        async move {
            let mut buf = BytesMut::with_capacity(4096);
            while let Some(frame) = read_frame(&mut broker_rd, &mut buf).await? {
                if to_client.send(frame).await.is_err() {
                    break;
                }
            }
            Ok::<_, GateError>(())
        }
    };
    let from_client = async move {
        let v5 = connect.is_v5();
        let mut aliases: HashMap<u16, String> = HashMap::new();
        loop {
            let Some(frame) = read_frame(&mut client_rd, &mut buf).await? else {
                break;
            };
            let mut next = Some(frame);
            // Everything that already arrived goes to the broker in one write.
            while let Some(frame) = next {
                match police(gate, &connect, user.as_deref(), v5, &mut aliases, &frame)? {
                    Verdict::Forward => broker_wr.write_all(&frame).await?,
                    Verdict::Drop(Some(answer)) => {
                        let _ = to_client.send(Bytes::from(answer)).await;
                    }
                    Verdict::Drop(None) => {}
                }
                next = packet::next_frame(&mut buf)?;
            }
            broker_wr.flush().await?;
        }
        broker_wr.shutdown().await?;
        Ok::<_, GateError>(())
    };
    tokio::select! {
        result = from_client => result,
        result = from_broker => result,
        result = writer => result.map_err(GateError::from),
    }
}

async fn refuse<W: AsyncWrite + Unpin>(writer: &mut W, answer: Vec<u8>) -> Result<(), GateError> {
    writer.write_all(&answer).await?;
    writer.flush().await?;
    writer.shutdown().await?;
    Ok(())
}

/// What the gate does with a packet from a client.
enum Verdict {
    Forward,
    /// Drop it, answering the client with this packet, if any.
    Drop(Option<Vec<u8>>),
}

fn police(
    gate: &Gate,
    connect: &packet::Connect,
    user: Option<&str>,
    v5: bool,
    aliases: &mut HashMap<u16, String>,
    frame: &[u8],
) -> Result<Verdict, GateError> {
    match packet::packet_type(frame) {
        packet::PUBLISH => {
            let publish = packet::parse_publish(frame, v5)?;
            let topic = match (publish.topic, publish.topic_alias) {
                ("", Some(alias)) => aliases.get(&alias).map(String::as_str).unwrap_or(""),
                (topic, Some(alias)) => {
                    aliases.insert(alias, topic.to_owned());
                    topic
                }
                (topic, None) => topic,
            };
            if gate
                .acl
                .check_topic(user, &connect.client_id, topic, Access::Write)
            {
                return Ok(Verdict::Forward);
            }
            tracing::warn!(%connect, topic, "refused MQTT publish: not allowed by the ACL");
            let answer = publish
                .packet_id
                .and_then(|id| packet::publish_refusal(v5, publish.qos, id));
            Ok(Verdict::Drop(answer))
        }
        packet::SUBSCRIBE => {
            let (packet_id, filters) = packet::parse_subscribe(frame, v5)?;
            let denied: Vec<&str> = filters
                .iter()
                .copied()
                .filter(|f| !gate.acl.check_subscription(user, &connect.client_id, f))
                .collect();
            if denied.is_empty() {
                return Ok(Verdict::Forward);
            }
            tracing::warn!(%connect, ?denied, "refused MQTT subscription: not allowed by the ACL");
            Ok(Verdict::Drop(Some(packet::suback_refusal(
                v5,
                packet_id,
                filters.len(),
            ))))
        }
        _ => Ok(Verdict::Forward),
    }
}
