//! Fragmentation-safe decoding.
//!
//! APF has no length header, so a decoder has to walk a message's fields to know where it ends.
//! [`frame_len`] does that walk over a borrowed buffer and validates every limit as soon as the
//! length field carrying it has arrived; the message is then built from an owned [`Bytes`] frame
//! so that CHANNEL_DATA payloads and strings are zero-copy slices of it.

use bytes::{Bytes, BytesMut};
use std::ops::Range;

use crate::consts::{MAX_CHANNEL_DATA_LEN, MAX_STRING_LEN};
use crate::error::ApfError;
use crate::message::*;
use crate::reason::{ChannelOpenFailureReason, DisconnectReason, TriggerReason};

/// The outcome of a decode attempt on an accumulated buffer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decoded {
    /// The buffer holds a proper prefix of a message: read more and try again.
    NeedMore,
    /// A complete message and the number of bytes it occupied at the front of the buffer.
    Message(Message, usize),
}

/// The two REQUEST_SUCCESS layouts. The bytes alone cannot tell them apart: the reply to
/// `tcpip-forward` carries the port (5 bytes), the reply to `cancel-tcpip-forward` does not (1 byte).
/// Only the side that sent the request knows which one to expect.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RequestSuccessForm {
    #[default]
    WithPort,
    Bare,
}

/// The two USERAUTH_FAILURE layouts. MPS and MeshCentral send `str methods` + **two** zero bytes
/// (15 bytes for "password"); the SSH/APF struct has a single partial-success byte (14 bytes).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum UserauthFailureForm {
    #[default]
    Mps,
    Ssh,
}

/// What the decoding side knows that the bytes do not say.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DecodeContext {
    pub request_success: RequestSuccessForm,
    pub userauth_failure: UserauthFailureForm,
}

/// Decodes the message at the front of `buf` with the default context (REQUEST_SUCCESS with a
/// port, the MPS form of USERAUTH_FAILURE). Copies the message's bytes once.
pub fn decode(buf: &[u8]) -> Result<Decoded, ApfError> {
    decode_with(buf, &DecodeContext::default())
}

/// Decodes the message at the front of `buf`.
pub fn decode_with(buf: &[u8], ctx: &DecodeContext) -> Result<Decoded, ApfError> {
    match walk(buf, ctx)? {
        None => Ok(Decoded::NeedMore),
        Some(w) => {
            let frame = Bytes::copy_from_slice(&buf[..w.len]);
            Ok(Decoded::Message(parse_frame(&frame, &w), w.len))
        }
    }
}

/// Decodes the message at the front of `buf` and removes it, without copying payloads.
pub(crate) fn decode_buf(
    buf: &mut BytesMut,
    ctx: &DecodeContext,
) -> Result<Option<Message>, ApfError> {
    match walk(buf, ctx)? {
        None => Ok(None),
        Some(w) => {
            let frame = buf.split_to(w.len).freeze();
            Ok(Some(parse_frame(&frame, &w)))
        }
    }
}

/// The length of the message at the front of `buf`: `Ok(None)` while incomplete, an error as
/// soon as the bytes received prove it invalid.
pub fn frame_len(buf: &[u8], ctx: &DecodeContext) -> Result<Option<usize>, ApfError> {
    Ok(walk(buf, ctx)?.map(|w| w.len))
}

/// Field ranges recorded while walking a message, so that parsing needs no second validation.
struct Walk {
    kind: MessageType,
    len: usize,
    /// Byte ranges of the variable-length fields, in wire order.
    ranges: [Range<usize>; 5],
    /// Detected USERAUTH method.
    method: Option<AuthKind>,
    /// Detected GLOBAL_REQUEST kind.
    request: Option<RequestKind>,
}

#[derive(Clone, Copy)]
enum AuthKind {
    Password,
    None,
}

#[derive(Clone, Copy)]
enum RequestKind {
    Forward,
    Cancel,
    UdpSendTo,
}

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    message: &'static str,
}

/// `need!(x)` unwraps an `Option` produced by the reader or answers "need more".
macro_rules! need {
    ($e:expr) => {
        match $e {
            Some(v) => v,
            None => return Ok(None),
        }
    };
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8], message: &'static str) -> Self {
        Reader {
            buf,
            pos: 1,
            message,
        }
    }
    fn skip(&mut self, n: usize) -> Option<Range<usize>> {
        let end = self.pos.checked_add(n)?;
        if end > self.buf.len() {
            return None;
        }
        let r = self.pos..end;
        self.pos = end;
        Some(r)
    }
    fn u8(&mut self) -> Option<u8> {
        let r = self.skip(1)?;
        Some(self.buf[r.start])
    }
    fn u32(&mut self) -> Option<u32> {
        let r = self.skip(4)?;
        Some(u32::from_be_bytes([
            self.buf[r.start],
            self.buf[r.start + 1],
            self.buf[r.start + 2],
            self.buf[r.start + 3],
        ]))
    }
    /// A u32-length string; the length limit is enforced as soon as the length field is here.
    fn string(&mut self, field: &'static str) -> Result<Option<Range<usize>>, ApfError> {
        let len = need!(self.u32()) as usize;
        if len > MAX_STRING_LEN {
            return Err(ApfError::StringTooLong {
                message: self.message,
                field,
                len,
                max: MAX_STRING_LEN,
            });
        }
        Ok(self.skip(len))
    }
    fn bytes(&self, r: &Range<usize>) -> &'a [u8] {
        &self.buf[r.clone()]
    }
}

fn fixed(buf: &[u8], kind: MessageType, len: usize) -> Option<Walk> {
    (buf.len() >= len).then(|| Walk {
        kind,
        len,
        ranges: Default::default(),
        method: None,
        request: None,
    })
}

fn walk(buf: &[u8], ctx: &DecodeContext) -> Result<Option<Walk>, ApfError> {
    let Some(&type_byte) = buf.first() else {
        return Ok(None);
    };
    let Some(kind) = MessageType::from_u8(type_byte) else {
        return Err(ApfError::UnknownType(type_byte));
    };
    use MessageType as T;
    let walk = match kind {
        T::Disconnect => fixed(buf, kind, 7),
        T::UserauthSuccess | T::RequestFailure => fixed(buf, kind, 1),
        T::ChannelClose | T::KeepaliveRequest | T::KeepaliveReply => fixed(buf, kind, 5),
        T::ChannelWindowAdjust | T::KeepaliveOptionsRequest | T::KeepaliveOptionsReply => {
            fixed(buf, kind, 9)
        }
        T::ChannelOpenConfirmation | T::ChannelOpenFailure => fixed(buf, kind, 17),
        T::ProtocolVersion => fixed(buf, kind, 93),
        T::RequestSuccess => match ctx.request_success {
            RequestSuccessForm::WithPort => fixed(buf, kind, 5),
            RequestSuccessForm::Bare => fixed(buf, kind, 1),
        },
        T::ServiceRequest | T::ServiceAccept => {
            let mut r = Reader::new(buf, "SERVICE_REQUEST/ACCEPT");
            let name = need!(r.string("service name")?);
            Some(Walk {
                kind,
                len: r.pos,
                ranges: [name, 0..0, 0..0, 0..0, 0..0],
                method: None,
                request: None,
            })
        }
        T::UserauthFailure => {
            let mut r = Reader::new(buf, "USERAUTH_FAILURE");
            let methods = need!(r.string("authentications that can continue")?);
            let trailer = match ctx.userauth_failure {
                UserauthFailureForm::Mps => 2,
                UserauthFailureForm::Ssh => 1,
            };
            need!(r.skip(trailer));
            Some(Walk {
                kind,
                len: r.pos,
                ranges: [methods, 0..0, 0..0, 0..0, 0..0],
                method: None,
                request: None,
            })
        }
        T::UserauthRequest => {
            let mut r = Reader::new(buf, "USERAUTH_REQUEST");
            let user = need!(r.string("user name")?);
            let service = need!(r.string("service name")?);
            let method = need!(r.string("method name")?);
            let (auth, password) = match r.bytes(&method) {
                b"password" => {
                    if need!(r.u8()) != 0 {
                        return Err(ApfError::PasswordChangeNotSupported);
                    }
                    (AuthKind::Password, need!(r.string("password")?))
                }
                b"none" => (AuthKind::None, 0..0),
                other => {
                    return Err(ApfError::UnsupportedAuthMethod(
                        String::from_utf8_lossy(other).into_owned(),
                    ));
                }
            };
            Some(Walk {
                kind,
                len: r.pos,
                ranges: [user, service, method, password, 0..0],
                method: Some(auth),
                request: None,
            })
        }
        T::GlobalRequest => {
            let mut r = Reader::new(buf, "GLOBAL_REQUEST");
            let name = need!(r.string("request name")?);
            let want_reply = need!(r.u8()) != 0;
            let (req, ranges) = match r.bytes(&name) {
                b"tcpip-forward" | b"cancel-tcpip-forward" => {
                    let addr = need!(r.string("address")?);
                    need!(r.u32());
                    let req = if r.bytes(&name) == b"tcpip-forward" {
                        RequestKind::Forward
                    } else {
                        RequestKind::Cancel
                    };
                    (req, [name, addr, 0..0, 0..0, 0..0])
                }
                b"udp-send-to@amt.intel.com" => {
                    let addr = need!(r.string("address")?);
                    need!(r.u32());
                    let orig = need!(r.string("originator address")?);
                    need!(r.u32());
                    let data = need!(r.string("data")?);
                    (RequestKind::UdpSendTo, [name, addr, orig, data, 0..0])
                }
                other => {
                    return Err(ApfError::UnknownGlobalRequest {
                        name: String::from_utf8_lossy(other).into_owned(),
                        want_reply,
                    });
                }
            };
            Some(Walk {
                kind,
                len: r.pos,
                ranges,
                method: None,
                request: Some(req),
            })
        }
        T::ChannelOpen => {
            let mut r = Reader::new(buf, "CHANNEL_OPEN");
            let ctype = need!(r.string("channel type")?);
            need!(r.skip(12)); // sender channel, initial window, reserved
            let target = need!(r.string("connected address")?);
            need!(r.u32());
            let orig = need!(r.string("originator address")?);
            need!(r.u32());
            Some(Walk {
                kind,
                len: r.pos,
                ranges: [ctype, target, orig, 0..0, 0..0],
                method: None,
                request: None,
            })
        }
        T::ChannelData => {
            let mut r = Reader::new(buf, "CHANNEL_DATA");
            need!(r.u32());
            let len = need!(r.u32()) as usize;
            if len > MAX_CHANNEL_DATA_LEN {
                return Err(ApfError::DataTooLong {
                    len,
                    max: MAX_CHANNEL_DATA_LEN,
                });
            }
            let data = need!(r.skip(len));
            Some(Walk {
                kind,
                len: r.pos,
                ranges: [data, 0..0, 0..0, 0..0, 0..0],
                method: None,
                request: None,
            })
        }
    };
    Ok(walk)
}

fn be32(f: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([f[at], f[at + 1], f[at + 2], f[at + 3]])
}

/// Builds the message from the frame [`walk`] measured (every index below lies inside the
/// ranges the walk bounds-checked, so this cannot fail).
fn parse_frame(frame: &Bytes, w: &Walk) -> Message {
    let s = |i: usize| ApfString(frame.slice(w.ranges[i].clone()));
    let f: &[u8] = frame;
    match w.kind {
        MessageType::Disconnect => Message::Disconnect(Disconnect {
            reason: DisconnectReason(be32(f, 1)),
            reserved: u16::from_be_bytes([f[5], f[6]]),
        }),
        MessageType::ServiceRequest => Message::ServiceRequest { service: s(0) },
        MessageType::ServiceAccept => Message::ServiceAccept { service: s(0) },
        MessageType::UserauthRequest => Message::UserauthRequest(UserauthRequest {
            username: s(0),
            service: s(1),
            method: match w.method {
                Some(AuthKind::Password) => {
                    AuthMethod::Password(Password(frame.slice(w.ranges[3].clone())))
                }
                _ => AuthMethod::None,
            },
        }),
        MessageType::UserauthFailure => {
            let after = w.ranges[0].end;
            Message::UserauthFailure(UserauthFailure {
                methods: s(0),
                partial_success: f[after] != 0,
            })
        }
        MessageType::UserauthSuccess => Message::UserauthSuccess,
        MessageType::GlobalRequest => {
            let want_reply = f[w.ranges[0].end] != 0;
            let port_after = |r: &Range<usize>| be32(f, r.end);
            let request = match w.request {
                Some(RequestKind::Forward) => GlobalRequestKind::TcpipForward {
                    address: s(1),
                    port: port_after(&w.ranges[1]),
                },
                Some(RequestKind::Cancel) => GlobalRequestKind::CancelTcpipForward {
                    address: s(1),
                    port: port_after(&w.ranges[1]),
                },
                _ => GlobalRequestKind::UdpSendTo {
                    address: s(1),
                    port: port_after(&w.ranges[1]),
                    originator_address: s(2),
                    originator_port: port_after(&w.ranges[2]),
                    data: frame.slice(w.ranges[3].clone()),
                },
            };
            Message::GlobalRequest(GlobalRequest {
                want_reply,
                request,
            })
        }
        MessageType::RequestSuccess => Message::RequestSuccess {
            port: (w.len == 5).then(|| be32(f, 1)),
        },
        MessageType::RequestFailure => Message::RequestFailure,
        MessageType::ChannelOpen => {
            let t = w.ranges[0].end;
            Message::ChannelOpen(ChannelOpen {
                channel_type: s(0),
                sender_channel: be32(f, t),
                initial_window: be32(f, t + 4),
                reserved: be32(f, t + 8),
                target_address: s(1),
                target_port: be32(f, w.ranges[1].end),
                originator_address: s(2),
                originator_port: be32(f, w.ranges[2].end),
            })
        }
        MessageType::ChannelOpenConfirmation => {
            Message::ChannelOpenConfirmation(ChannelOpenConfirmation {
                recipient_channel: be32(f, 1),
                sender_channel: be32(f, 5),
                initial_window: be32(f, 9),
                reserved: be32(f, 13),
            })
        }
        MessageType::ChannelOpenFailure => Message::ChannelOpenFailure(ChannelOpenFailure {
            recipient_channel: be32(f, 1),
            reason: ChannelOpenFailureReason(be32(f, 5)),
            reserved: be32(f, 9),
            reserved2: be32(f, 13),
        }),
        MessageType::ChannelWindowAdjust => Message::ChannelWindowAdjust {
            recipient_channel: be32(f, 1),
            bytes_to_add: be32(f, 5),
        },
        MessageType::ChannelData => Message::ChannelData {
            recipient_channel: be32(f, 1),
            data: frame.slice(w.ranges[0].clone()),
        },
        MessageType::ChannelClose => Message::ChannelClose {
            recipient_channel: be32(f, 1),
        },
        MessageType::ProtocolVersion => {
            let mut uuid = [0u8; 16];
            uuid.copy_from_slice(&f[13..29]);
            Message::ProtocolVersion(ProtocolVersion {
                major: be32(f, 1),
                minor: be32(f, 5),
                trigger_reason: TriggerReason(be32(f, 9)),
                uuid,
            })
        }
        MessageType::KeepaliveRequest => Message::KeepaliveRequest { cookie: be32(f, 1) },
        MessageType::KeepaliveReply => Message::KeepaliveReply { cookie: be32(f, 1) },
        MessageType::KeepaliveOptionsRequest => Message::KeepaliveOptionsRequest {
            interval_seconds: be32(f, 1),
            timeout_seconds: be32(f, 5),
        },
        MessageType::KeepaliveOptionsReply => Message::KeepaliveOptionsReply {
            interval_seconds: be32(f, 1),
            timeout_seconds: be32(f, 5),
        },
    }
}
