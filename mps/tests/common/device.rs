//! A raw APF device for tests: TLS to the CIRA port, hand-written bytes where the spec gives test
//! vectors, the shared codec to read MPS's answers.
#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use apf::{ApfCodec, Message};
use bytes::BytesMut;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::TcpStream;

pub fn hex(s: &str) -> Vec<u8> {
    let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).expect("hex"))
        .collect()
}

pub fn client_config(root_pem: &str) -> Arc<rustls::ClientConfig> {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(CertificateDer::from_pem_slice(root_pem.as_bytes()).expect("root PEM"))
        .expect("root");
    Arc::new(
        rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth(),
    )
}

/// PROTOCOLVERSION 1.0 for `guid`, trigger 0, as AMT sends it (93 bytes).
pub fn protocol_version(guid: &str) -> Vec<u8> {
    let mut v = hex("c0 00000001 00000000 00000000");
    v.extend_from_slice(&apf::guid::from_str(guid).expect("guid"));
    v.extend_from_slice(&[0u8; 64]);
    v
}

pub fn apf_str(s: &[u8]) -> Vec<u8> {
    let mut v = (s.len() as u32).to_be_bytes().to_vec();
    v.extend_from_slice(s);
    v
}

pub fn service_request(name: &str) -> Vec<u8> {
    let mut v = vec![0x05];
    v.extend(apf_str(name.as_bytes()));
    v
}

pub fn userauth_password(user: &str, password: &str) -> Vec<u8> {
    let mut v = vec![0x32];
    v.extend(apf_str(user.as_bytes()));
    v.extend(apf_str(b"pfwd@amt.intel.com"));
    v.extend(apf_str(b"password"));
    v.push(0);
    v.extend(apf_str(password.as_bytes()));
    v
}

pub fn tcpip_forward(port: u32) -> Vec<u8> {
    let mut v = vec![0x50];
    v.extend(apf_str(b"tcpip-forward"));
    v.push(1);
    v.extend(apf_str(b""));
    v.extend(port.to_be_bytes());
    v
}

/// Any TLS stream to the CIRA port (rustls, or OpenSSL for the legacy protocols).
pub trait CiraTransport: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> CiraTransport for T {}

pub struct RawDevice {
    pub tls: Box<dyn CiraTransport>,
    buf: BytesMut,
    codec: ApfCodec,
}

impl RawDevice {
    /// A device on a TLS stream set up by the test.
    pub fn over(tls: impl CiraTransport + 'static) -> Self {
        Self {
            tls: Box::new(tls),
            buf: BytesMut::new(),
            codec: ApfCodec::new(),
        }
    }

    pub async fn connect(addr: std::net::SocketAddr, root_pem: &str) -> Self {
        let tcp = TcpStream::connect(addr).await.expect("TCP connect");
        let connector = tokio_rustls::TlsConnector::from(client_config(root_pem));
        let tls = connector
            .connect(ServerName::try_from("localhost").expect("name"), tcp)
            .await
            .expect("TLS handshake with the CIRA port");
        Self::over(tls)
    }

    pub async fn send(&mut self, bytes: &[u8]) {
        self.tls.write_all(bytes).await.expect("write");
        self.tls.flush().await.expect("flush");
    }

    pub async fn send_msg(&mut self, m: &Message) {
        let b = apf::encode_to_bytes(m).expect("encode");
        self.send(&b).await;
    }

    /// Exactly `n` bytes, within 5 s.
    pub async fn recv_exact(&mut self, n: usize) -> Vec<u8> {
        while self.buf.len() < n {
            let mut chunk = [0u8; 4096];
            let r = tokio::time::timeout(Duration::from_secs(5), self.tls.read(&mut chunk))
                .await
                .expect("MPS answered in time");
            let r = r.expect("read");
            assert!(
                r > 0,
                "MPS closed the connection while {} more bytes were expected",
                n - self.buf.len()
            );
            self.buf.extend_from_slice(&chunk[..r]);
        }
        self.buf.split_to(n).to_vec()
    }

    /// The next APF message from MPS, or None when it closed the connection.
    pub async fn recv(&mut self) -> Option<Message> {
        loop {
            if let Some(m) = self
                .codec
                .decode_message(&mut self.buf)
                .expect("MPS sends valid APF")
            {
                return Some(m);
            }
            let mut chunk = [0u8; 8192];
            let r = tokio::time::timeout(Duration::from_secs(5), self.tls.read(&mut chunk))
                .await
                .expect("MPS answered in time");
            match r {
                Ok(0) | Err(_) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
    }

    /// True when MPS closes the connection within `secs` without sending anything else.
    pub async fn closed_within(&mut self, secs: u64) -> bool {
        let mut chunk = [0u8; 1024];
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        loop {
            match tokio::time::timeout_at(deadline, self.tls.read(&mut chunk)).await {
                Err(_) => return false,
                Ok(Ok(0)) | Ok(Err(_)) => return true,
                Ok(Ok(_)) => continue,
            }
        }
    }

    /// The real-AMT connection sequence up to and including the keep-alive options.
    pub async fn handshake(&mut self, guid: &str, user: &str, password: &str) {
        let mut first = protocol_version(guid);
        first.extend(service_request("auth@amt.intel.com"));
        self.send(&first).await;
        assert_eq!(
            self.recv_exact(23).await,
            hex("06000000126175746840616d742e696e74656c2e636f6d")
        );
        self.send(&userauth_password(user, password)).await;
        assert_eq!(self.recv_exact(1).await, hex("34"), "USERAUTH_SUCCESS");
        self.send(&service_request("pfwd@amt.intel.com")).await;
        let accept = self.recv_exact(23).await;
        assert_eq!(&accept[5..], b"pfwd@amt.intel.com");
        for port in apf::consts::AMT_FORWARDED_PORTS {
            self.send(&tcpip_forward(u32::from(port))).await;
            let mut expected = vec![0x51];
            expected.extend(u32::from(port).to_be_bytes());
            assert_eq!(
                self.recv_exact(5).await,
                expected,
                "REQUEST_SUCCESS for {port}"
            );
        }
        assert_eq!(
            self.recv_exact(9).await,
            hex("d20000001e00000000"),
            "KEEPALIVE_OPTIONS_REQUEST 30/0"
        );
        self.send(&hex("d3 0000001e 00000000")).await;
    }
}

/// Registers `guid` through REST and stores its CIRA and AMT passwords.
pub async fn register(
    mps: &super::TestMps,
    guid: &str,
    user: &str,
    cira_password: &str,
    amt_password: &str,
) {
    let (status, _) = super::http(
        "POST",
        &mps.url("/api/v1/devices"),
        Some(serde_json::json!({"guid": guid, "hostname": "sim", "mpsusername": user, "tags": []})),
    )
    .await;
    assert_eq!(status, 201);
    let mut m = serde_json::Map::new();
    m.insert("MPS_PASSWORD".into(), cira_password.into());
    m.insert("AMT_PASSWORD".into(), amt_password.into());
    mps.mps
        .secrets()
        .put(&format!("devices/{guid}"), m)
        .await
        .expect("store device secrets");
}
