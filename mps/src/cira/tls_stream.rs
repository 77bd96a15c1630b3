//! A device's TLS stream, from whichever stack served its handshake: rustls for modern firmware,
//! OpenSSL for AMT 11/12's legacy protocols and suites. The session reads and writes it the same way.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

pub enum CiraStream {
    Rustls(Box<tokio_rustls::server::TlsStream<TcpStream>>),
    OpenSsl(Box<tokio_openssl::SslStream<TcpStream>>),
}

/// The negotiated protocol and cipher suite, as IANA and OpenSSL name them in logs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TlsInfo {
    /// `TLSv1`, `TLSv1.1`, `TLSv1.2` or `TLSv1.3`.
    pub protocol: String,
    /// The IANA name, e.g. `TLS_RSA_WITH_AES_128_CBC_SHA`.
    pub cipher: String,
}

impl CiraStream {
    pub fn tcp(&self) -> &TcpStream {
        match self {
            CiraStream::Rustls(s) => s.get_ref().0,
            CiraStream::OpenSsl(s) => s.get_ref(),
        }
    }

    pub fn info(&self) -> TlsInfo {
        match self {
            CiraStream::Rustls(s) => {
                let conn = s.get_ref().1;
                TlsInfo {
                    protocol: match conn.protocol_version() {
                        Some(rustls::ProtocolVersion::TLSv1_3) => "TLSv1.3".into(),
                        Some(rustls::ProtocolVersion::TLSv1_2) => "TLSv1.2".into(),
                        Some(other) => format!("{other:?}"),
                        None => String::new(),
                    },
                    // rustls names TLS 1.3 suites TLS13_…; IANA (and OpenSSL) say TLS_….
                    cipher: conn
                        .negotiated_cipher_suite()
                        .map(|s| format!("{:?}", s.suite()).replacen("TLS13_", "TLS_", 1))
                        .unwrap_or_default(),
                }
            }
            CiraStream::OpenSsl(s) => {
                let ssl = s.ssl();
                TlsInfo {
                    protocol: ssl.version_str().to_owned(),
                    cipher: ssl
                        .current_cipher()
                        .map(|c| c.standard_name().unwrap_or(c.name()).to_owned())
                        .unwrap_or_default(),
                }
            }
        }
    }
}

impl AsyncRead for CiraStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            CiraStream::Rustls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
            CiraStream::OpenSsl(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for CiraStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            CiraStream::Rustls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
            CiraStream::OpenSsl(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            CiraStream::Rustls(s) => Pin::new(s.as_mut()).poll_flush(cx),
            CiraStream::OpenSsl(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            CiraStream::Rustls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
            CiraStream::OpenSsl(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}
