//! The MPS side that the fleet benchmark's devices connect to, as lean as it can be so that the
//! simulator is what is measured: TLS with an ECDSA P-256 certificate (cheap handshakes), the
//! server half of the CIRA handshake (service accepts, password check, tcpip-forward replies,
//! keep-alive options 30/0 after port 5900), and keep-alive replies. It opens no channels.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context;
use apf::consts::{SERVICE_AUTH, SERVICE_PFWD};
use apf::{ApfCodec, AuthMethod, GlobalRequestKind, Message, UserauthFailure};
use bytes::BytesMut;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The credentials the benchmark's devices present.
pub const USERNAME: &str = "benchUser";
pub const PASSWORD: &str = "Bench-Cira-1";
/// What MPS sends after the last tcpip-forward: a keep-alive every 30 s, no timeout.
const KEEPALIVE: (u32, u32) = (30, 0);

/// A listening acceptor and the CA (DER) the devices must trust.
pub struct Acceptor {
    pub addr: SocketAddr,
    pub ca_der: Vec<u8>,
    listener: TcpListener,
    tls: tokio_rustls::TlsAcceptor,
}

impl Acceptor {
    pub async fn bind() -> anyhow::Result<Acceptor> {
        let (ca_der, config) = pki()?;
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        Ok(Acceptor {
            addr: listener.local_addr()?,
            ca_der,
            listener,
            tls: tokio_rustls::TlsAcceptor::from(Arc::new(config)),
        })
    }

    /// Accepts and serves devices until the task is dropped.
    pub async fn serve(self) {
        loop {
            let tcp = match self.listener.accept().await {
                Ok((tcp, _)) => tcp,
                Err(error) => {
                    // Out of descriptors, most likely: wait for some to be closed.
                    tracing::warn!(%error, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            };
            let tls = self.tls.clone();
            tokio::spawn(async move {
                if let Err(error) = serve_device(tls, tcp).await {
                    tracing::debug!(%error, "a device connection ended");
                }
            });
        }
    }
}

/// A CA and a `localhost` server certificate it signed, as a rustls server configuration.
fn pki() -> anyhow::Result<(Vec<u8>, rustls::ServerConfig)> {
    let mut ca_params = rcgen::CertificateParams::new(Vec::<String>::new())?;
    ca_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    ca_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "fleet bench root");
    let ca = rcgen::CertifiedIssuer::self_signed(ca_params, rcgen::KeyPair::generate()?)?;
    let key = rcgen::KeyPair::generate()?;
    let cert = rcgen::CertificateParams::new(vec!["localhost".to_owned()])?.signed_by(&key, &ca)?;
    let config = rustls::ServerConfig::builder()
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone(), ca.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        )
        .context("the fleet bench's server certificate")?;
    Ok((ca.der().to_vec(), config))
}

async fn serve_device(tls: tokio_rustls::TlsAcceptor, tcp: TcpStream) -> anyhow::Result<()> {
    let mut stream = tls.accept(tcp).await?;
    let mut codec = ApfCodec::new();
    let mut incoming = BytesMut::new();
    let mut read = vec![0u8; 4096];
    loop {
        let n = stream.read(&mut read).await?;
        if n == 0 {
            return Ok(());
        }
        incoming.extend_from_slice(&read[..n]);
        let mut out = BytesMut::new();
        while let Some(message) = codec.decode_message(&mut incoming)? {
            if let Some(reply) = answer(message) {
                for m in reply {
                    apf::encode(&m, &mut out)?;
                }
            }
        }
        if !out.is_empty() {
            stream.write_all(&out).await?;
            stream.flush().await?;
        }
    }
}

/// The replies to one device message.
fn answer(message: Message) -> Option<Vec<Message>> {
    match message {
        Message::ServiceRequest { service }
            if service == SERVICE_AUTH || service == SERVICE_PFWD =>
        {
            Some(vec![Message::ServiceAccept { service }])
        }
        Message::UserauthRequest(u) => {
            let ok = u.username == USERNAME
                && matches!(&u.method, AuthMethod::Password(p) if p.expose() == PASSWORD.as_bytes());
            Some(vec![if ok {
                Message::UserauthSuccess
            } else {
                Message::UserauthFailure(UserauthFailure::default())
            }])
        }
        Message::GlobalRequest(g) => match g.request {
            GlobalRequestKind::TcpipForward { port, .. } => {
                let mut replies = vec![Message::RequestSuccess { port: Some(port) }];
                // MPS sends its keep-alive options after the last port AMT forwards.
                if port == 5900 {
                    replies.push(Message::KeepaliveOptionsRequest {
                        interval_seconds: KEEPALIVE.0,
                        timeout_seconds: KEEPALIVE.1,
                    });
                }
                Some(replies)
            }
            GlobalRequestKind::CancelTcpipForward { .. } => {
                Some(vec![Message::RequestSuccess { port: None }])
            }
            GlobalRequestKind::UdpSendTo { .. } => None,
        },
        Message::KeepaliveRequest { cookie } => Some(vec![Message::KeepaliveReply { cookie }]),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keep_alive_options_follow_the_last_forwarded_port() {
        let replies = answer(Message::tcpip_forward("", 5900)).unwrap();
        assert_eq!(replies.len(), 2);
        assert!(matches!(
            replies[1],
            Message::KeepaliveOptionsRequest {
                interval_seconds: 30,
                timeout_seconds: 0
            }
        ));
        let replies = answer(Message::tcpip_forward("", 16992)).unwrap();
        assert_eq!(replies.len(), 1);
        assert!(answer(Message::KeepaliveRequest { cookie: 3 }).is_some());
    }
}
