//! A hand-driven CIRA client for the hostile-network tests: TLS to the MPS, then as much of the APF
//! handshake as the test wants (spec/mps.md §1.5), with the apf crate's encoder and decoder.

use std::{net::SocketAddr, sync::Arc, time::Duration};

use apf::{ApfCodec, AuthMethod, Message, ProtocolVersion, TriggerReason, UserauthRequest};
use bytes::BytesMut;
use rustls::pki_types::ServerName;
use tokio::{
    io::{AsyncReadExt, AsyncWriteExt},
    net::TcpStream,
};
use tokio_rustls::{TlsConnector, client::TlsStream};

/// A TLS connection to the MPS's CIRA port, trusting the MPS root in `root_pem`.
pub async fn connect(addr: SocketAddr, root_pem: &[u8]) -> std::io::Result<TlsStream<TcpStream>> {
    let config = certs::client_config(root_pem).map_err(std::io::Error::other)?;
    let tcp = TcpStream::connect(addr).await?;
    let name = ServerName::try_from("localhost").map_err(std::io::Error::other)?;
    TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await
}

fn encode(messages: &[Message]) -> BytesMut {
    let mut out = BytesMut::new();
    for message in messages {
        apf::encode(message, &mut out).expect("encodable APF message");
    }
    out
}

/// PROTOCOLVERSION for `guid`, as AMT 16 sends it.
pub fn protocol_version(guid: &str) -> Message {
    Message::ProtocolVersion(ProtocolVersion {
        major: 1,
        minor: 0,
        trigger_reason: TriggerReason::USER_INITIATED,
        uuid: apf::guid::from_str(guid).expect("a GUID"),
    })
}

/// The messages of a login attempt: version, auth service, USERAUTH with a password.
pub fn login(guid: &str, username: &str, password: &str) -> Vec<Message> {
    vec![
        protocol_version(guid),
        Message::ServiceRequest {
            service: "auth@amt.intel.com".into(),
        },
        Message::UserauthRequest(UserauthRequest {
            username: username.into(),
            service: "pfwd@amt.intel.com".into(),
            method: AuthMethod::Password(password.into()),
        }),
    ]
}

/// What the MPS answered to a USERAUTH.
#[derive(Debug, PartialEq, Eq)]
pub enum Answer {
    Success,
    Failure,
    /// The connection ended without an answer.
    Closed,
}

/// Sends `messages` and reads until USERAUTH_SUCCESS / _FAILURE or the end of the connection.
pub async fn send_and_await_auth(
    tls: &mut TlsStream<TcpStream>,
    messages: &[Message],
    limit: Duration,
) -> Answer {
    if tls.write_all(&encode(messages)).await.is_err() {
        return Answer::Closed;
    }
    let mut codec = ApfCodec::new();
    let mut buf = BytesMut::new();
    let read = async {
        loop {
            while let Ok(Some(message)) = codec.decode_message(&mut buf) {
                match message {
                    Message::UserauthSuccess => return Answer::Success,
                    Message::UserauthFailure(_) => return Answer::Failure,
                    _ => {}
                }
            }
            match tls.read_buf(&mut buf).await {
                Ok(0) | Err(_) => return Answer::Closed,
                Ok(_) => {}
            }
        }
    };
    tokio::time::timeout(limit, read)
        .await
        .unwrap_or(Answer::Closed)
}

/// Whether the peer has closed the connection: reads until end of stream or `limit`.
pub async fn closed_within<S: AsyncReadExt + Unpin>(stream: &mut S, limit: Duration) -> bool {
    let mut scratch = [0u8; 512];
    tokio::time::timeout(limit, async {
        loop {
            match stream.read(&mut scratch).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await
    .is_ok()
}
