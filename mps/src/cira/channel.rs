//! An APF channel seen as a byte stream (AsyncRead + AsyncWrite). The session task owns the APF
//! side (ids, credits, window adjusts); this end only moves bytes and tells the session how much
//! it has consumed, so AMT's send window reopens exactly as fast as the consumer reads.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::mpsc;

use super::session::SessionCmd;

#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum ChannelError {
    #[error("the CIRA tunnel is closed")]
    TunnelClosed,
    #[error("AMT refused the channel (reason {0})")]
    Refused(u32),
}

pub struct ChannelStream {
    id: u32,
    inbound: mpsc::UnboundedReceiver<Bytes>,
    current: Bytes,
    cmd: mpsc::UnboundedSender<SessionCmd>,
    closed: bool,
}

impl ChannelStream {
    pub(crate) fn new(
        id: u32,
        inbound: mpsc::UnboundedReceiver<Bytes>,
        cmd: mpsc::UnboundedSender<SessionCmd>,
    ) -> Self {
        Self {
            id,
            inbound,
            current: Bytes::new(),
            cmd,
            closed: false,
        }
    }

    /// MPS's id of this channel.
    pub fn id(&self) -> u32 {
        self.id
    }

    fn close(&mut self) {
        if !self.closed {
            self.closed = true;
            let _ = self.cmd.send(SessionCmd::Close { id: self.id });
        }
    }
}

impl AsyncRead for ChannelStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        while self.current.is_empty() {
            match self.inbound.poll_recv(cx) {
                Poll::Ready(Some(b)) => self.current = b,
                // Channel closed by AMT or tunnel gone: end of stream.
                Poll::Ready(None) => return Poll::Ready(Ok(())),
                Poll::Pending => return Poll::Pending,
            }
        }
        let n = self.current.len().min(buf.remaining());
        buf.put_slice(&self.current[..n]);
        self.current.advance(n);
        let id = self.id;
        let _ = self.cmd.send(SessionCmd::Consumed { id, n: n as u32 });
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for ChannelStream {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        if self.closed {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "channel closed",
            )));
        }
        let msg = SessionCmd::Data {
            id: self.id,
            data: Bytes::copy_from_slice(buf),
        };
        match self.cmd.send(msg) {
            Ok(()) => Poll::Ready(Ok(buf.len())),
            Err(_) => Poll::Ready(Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "CIRA tunnel closed",
            ))),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.close();
        Poll::Ready(Ok(()))
    }
}

impl Drop for ChannelStream {
    fn drop(&mut self) {
        self.close();
    }
}
