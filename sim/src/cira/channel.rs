//! One APF channel opened by the MPS, seen by a device service as a byte stream.
//!
//! Flow control is real in both directions:
//! - outbound, a write never sends more than the peer's remaining window (its credit); a writer with
//!   no credit waits until the peer's CHANNEL_WINDOW_ADJUST arrives;
//! - inbound, credit is granted back (CHANNEL_WINDOW_ADJUST) only as the service actually *reads*,
//!   so a slow consumer stalls the sender instead of growing our buffers.
//!
//! The stream and the connection task share a small state behind a mutex; the stream hands
//! messages to the connection task through the [`Outbox`].

use apf::Message;
use bytes::Bytes;
use std::collections::VecDeque;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Waker};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::sync::Notify;

/// Largest CHANNEL_DATA payload a channel writes at once (well below the 1 MiB APF limit).
pub const MAX_DATA_CHUNK: usize = 16 * 1024;

/// Messages queued by channel streams for the connection task to send, in order.
#[derive(Default)]
pub struct Outbox {
    queue: Mutex<Vec<Message>>,
    notify: Notify,
}

impl Outbox {
    pub fn push(&self, msg: Message) {
        lock(&self.queue).push(msg);
        self.notify.notify_one();
    }

    /// Moves every queued message out, oldest first.
    pub fn take(&self) -> Vec<Message> {
        std::mem::take(&mut *lock(&self.queue))
    }

    /// Resolves when something was pushed since the last call (cancel safe).
    pub async fn notified(&self) {
        self.notify.notified().await
    }
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panicking service must not wedge the connection: the state stays usable.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// The state a channel stream shares with its connection task.
#[derive(Default)]
pub struct ChannelState {
    /// Received payloads not yet read by the service.
    recv: VecDeque<Bytes>,
    /// Bytes the peer may still send before we grant more (our receive window left).
    recv_window_left: u32,
    /// Bytes the service has read since the last WINDOW_ADJUST we sent.
    consumed: u32,
    /// Bytes we may still send (the peer's window).
    send_credit: u32,
    read_waker: Option<Waker>,
    write_waker: Option<Waker>,
    /// We sent CHANNEL_CLOSE.
    pub closed_by_us: bool,
    /// The peer sent CHANNEL_CLOSE.
    pub closed_by_peer: bool,
    /// The whole tunnel is gone.
    conn_gone: bool,
}

/// Why inbound data was refused.
#[derive(Debug, PartialEq, Eq)]
pub enum InboundError {
    /// The peer sent more than the window we granted.
    WindowExceeded { len: usize, left: u32 },
}

/// The connection task's handle on one channel.
#[derive(Clone)]
pub struct ChannelHandle {
    state: Arc<Mutex<ChannelState>>,
    /// The peer's (MPS's) id for this channel: the recipient of everything we send.
    pub peer_id: u32,
}

impl ChannelHandle {
    /// Creates a channel and the stream the service will own.
    pub fn open(
        peer_id: u32,
        our_window: u32,
        peer_window: u32,
        outbox: Arc<Outbox>,
    ) -> (ChannelHandle, ChannelStream) {
        let state = Arc::new(Mutex::new(ChannelState {
            recv_window_left: our_window,
            send_credit: peer_window,
            ..Default::default()
        }));
        let handle = ChannelHandle {
            state: state.clone(),
            peer_id,
        };
        let stream = ChannelStream {
            state,
            outbox,
            peer_id,
            window: our_window,
        };
        (handle, stream)
    }

    /// CHANNEL_DATA from the peer.
    pub fn on_data(&self, data: Bytes) -> Result<(), InboundError> {
        let mut s = lock(&self.state);
        if s.closed_by_peer {
            return Ok(()); // late data after the peer's close: nothing will read it
        }
        let len = data.len();
        if len as u64 > s.recv_window_left as u64 {
            return Err(InboundError::WindowExceeded {
                len,
                left: s.recv_window_left,
            });
        }
        s.recv_window_left -= len as u32;
        if !data.is_empty() {
            s.recv.push_back(data);
        }
        if let Some(w) = s.read_waker.take() {
            w.wake();
        }
        Ok(())
    }

    /// CHANNEL_WINDOW_ADJUST from the peer.
    pub fn on_window_adjust(&self, bytes_to_add: u32) {
        let mut s = lock(&self.state);
        s.send_credit = s.send_credit.saturating_add(bytes_to_add);
        if let Some(w) = s.write_waker.take() {
            w.wake();
        }
    }

    /// CHANNEL_CLOSE from the peer. Returns true if we must answer with our own CHANNEL_CLOSE
    /// (AMT answers every close it did not start).
    pub fn on_peer_close(&self) -> bool {
        let mut s = lock(&self.state);
        s.closed_by_peer = true;
        let reply = !s.closed_by_us;
        s.closed_by_us = true;
        wake_all(&mut s);
        reply
    }

    /// The tunnel went away: readers see EOF, writers an error.
    pub fn on_connection_gone(&self) {
        let mut s = lock(&self.state);
        s.conn_gone = true;
        wake_all(&mut s);
    }

    /// Both sides have closed: the entry can be forgotten.
    pub fn is_finished(&self) -> bool {
        let s = lock(&self.state);
        s.closed_by_us && s.closed_by_peer
    }
}

fn wake_all(s: &mut ChannelState) {
    if let Some(w) = s.read_waker.take() {
        w.wake();
    }
    if let Some(w) = s.write_waker.take() {
        w.wake();
    }
}

/// A channel as a byte stream (`AsyncRead + AsyncWrite`), handed to the service of its port.
/// Dropping or shutting it down closes the channel (CHANNEL_CLOSE).
pub struct ChannelStream {
    state: Arc<Mutex<ChannelState>>,
    outbox: Arc<Outbox>,
    peer_id: u32,
    window: u32,
}

impl ChannelStream {
    fn close(&self) {
        let mut s = lock(&self.state);
        if !s.closed_by_us && !s.conn_gone {
            s.closed_by_us = true;
            drop(s);
            self.outbox.push(Message::ChannelClose {
                recipient_channel: self.peer_id,
            });
        }
    }
}

impl AsyncRead for ChannelStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let mut s = lock(&this.state);
        if s.recv.is_empty() {
            if s.closed_by_peer || s.conn_gone {
                return Poll::Ready(Ok(())); // EOF
            }
            s.read_waker = Some(cx.waker().clone());
            return Poll::Pending;
        }
        let mut read = 0usize;
        while buf.remaining() > 0 {
            let Some(front) = s.recv.front_mut() else {
                break;
            };
            let n = front.len().min(buf.remaining());
            buf.put_slice(&front[..n]);
            if n == front.len() {
                s.recv.pop_front();
            } else {
                let _ = front.split_to(n);
            }
            read += n;
        }
        // Grant the window back as the service consumes, in batches of half a window (as MPS does).
        s.consumed += read as u32;
        if s.consumed >= this.window / 2 && !s.closed_by_peer && !s.conn_gone {
            let grant = std::mem::take(&mut s.consumed);
            s.recv_window_left += grant;
            drop(s);
            this.outbox.push(Message::ChannelWindowAdjust {
                recipient_channel: this.peer_id,
                bytes_to_add: grant,
            });
        }
        Poll::Ready(Ok(()))
    }
}

impl AsyncWrite for ChannelStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        let mut s = lock(&this.state);
        if s.conn_gone || s.closed_by_peer || s.closed_by_us {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::BrokenPipe,
                "APF channel closed",
            )));
        }
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        if s.send_credit == 0 {
            s.write_waker = Some(cx.waker().clone());
            return Poll::Pending;
        }
        let n = buf.len().min(s.send_credit as usize).min(MAX_DATA_CHUNK);
        s.send_credit -= n as u32;
        drop(s);
        this.outbox.push(Message::ChannelData {
            recipient_channel: this.peer_id,
            data: Bytes::copy_from_slice(&buf[..n]),
        });
        Poll::Ready(Ok(n))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        // Written data is already queued for the tunnel, in order.
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.close();
        Poll::Ready(Ok(()))
    }
}

impl Drop for ChannelStream {
    fn drop(&mut self) {
        self.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn writes_stop_at_the_peer_window_and_resume_on_adjust() {
        let outbox = Arc::new(Outbox::default());
        let (handle, mut stream) = ChannelHandle::open(7, 1000, 10, outbox.clone());
        assert_eq!(stream.write(&[1u8; 25]).await.unwrap(), 10);
        let msgs = outbox.take();
        assert!(
            matches!(&msgs[..], [Message::ChannelData { recipient_channel: 7, data }] if data.len() == 10)
        );
        // No credit: the next write waits until the adjust arrives.
        let write = tokio::spawn(async move {
            let n = stream.write(&[2u8; 5]).await.unwrap();
            (n, stream)
        });
        tokio::task::yield_now().await;
        assert!(!write.is_finished());
        handle.on_window_adjust(3);
        let (n, _stream) = write.await.unwrap();
        assert_eq!(n, 3);
    }

    #[tokio::test]
    async fn reading_grants_the_window_back_and_peer_close_is_eof() {
        let outbox = Arc::new(Outbox::default());
        let (handle, mut stream) = ChannelHandle::open(9, 100, 100, outbox.clone());
        handle.on_data(Bytes::from_static(&[0u8; 60])).unwrap();
        assert_eq!(
            handle.on_data(Bytes::from_static(&[0u8; 41])),
            Err(InboundError::WindowExceeded { len: 41, left: 40 })
        );
        let mut buf = [0u8; 30];
        stream.read_exact(&mut buf).await.unwrap();
        assert!(outbox.take().is_empty(), "30 < half window: no adjust yet");
        stream.read_exact(&mut buf).await.unwrap();
        assert_eq!(
            outbox.take(),
            vec![Message::ChannelWindowAdjust {
                recipient_channel: 9,
                bytes_to_add: 60
            }]
        );
        assert!(
            handle.on_peer_close(),
            "first close from the peer is answered"
        );
        assert_eq!(stream.read(&mut buf).await.unwrap(), 0);
        assert!(stream.write(b"x").await.is_err());
        drop(stream);
        assert!(outbox.take().is_empty(), "no second close after the peer's");
        assert!(handle.is_finished());
    }

    #[tokio::test]
    async fn dropping_the_stream_closes_the_channel_once() {
        let outbox = Arc::new(Outbox::default());
        let (handle, mut stream) = ChannelHandle::open(4, 100, 100, outbox.clone());
        stream.shutdown().await.unwrap();
        drop(stream);
        assert_eq!(
            outbox.take(),
            vec![Message::ChannelClose {
                recipient_channel: 4
            }]
        );
        assert!(
            !handle.on_peer_close(),
            "the peer's close answers ours: no reply"
        );
        assert!(handle.is_finished());
    }
}
