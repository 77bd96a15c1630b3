//! Encoding. Every message is written exactly as the reference MPS / real AMT lay it out
//! (spec/mps.md §1.4); the encoder refuses values the decoders on the other side would reject.

use bytes::{BufMut, Bytes, BytesMut};

use crate::consts::{MAX_CHANNEL_DATA_LEN, MAX_STRING_LEN};
use crate::error::ApfError;
use crate::message::*;

/// Appends the wire form of `msg` to `dst`.
pub fn encode(msg: &Message, dst: &mut BytesMut) -> Result<(), ApfError> {
    // Validate first so that a refused message leaves `dst` untouched.
    check(msg)?;
    dst.reserve(encoded_len(msg));
    dst.put_u8(msg.message_type() as u8);
    match msg {
        Message::Disconnect(d) => {
            dst.put_u32(d.reason.0);
            dst.put_u16(d.reserved);
        }
        Message::ServiceRequest { service } | Message::ServiceAccept { service } => {
            put_str(dst, service.as_bytes())
        }
        Message::UserauthRequest(u) => {
            put_str(dst, u.username.as_bytes());
            put_str(dst, u.service.as_bytes());
            match &u.method {
                AuthMethod::Password(p) => {
                    put_str(dst, crate::consts::METHOD_PASSWORD.as_bytes());
                    dst.put_u8(0); // boolean FALSE: not a password change
                    put_str(dst, p.expose());
                }
                AuthMethod::None => put_str(dst, crate::consts::METHOD_NONE.as_bytes()),
            }
        }
        Message::UserauthFailure(f) => {
            // The MPS/MeshCentral form: methods, then two bytes (partial success + a zero).
            put_str(dst, f.methods.as_bytes());
            dst.put_u8(f.partial_success as u8);
            dst.put_u8(0);
        }
        Message::UserauthSuccess | Message::RequestFailure => {}
        Message::GlobalRequest(g) => {
            put_str(dst, g.request.name().as_bytes());
            dst.put_u8(g.want_reply as u8);
            match &g.request {
                GlobalRequestKind::TcpipForward { address, port }
                | GlobalRequestKind::CancelTcpipForward { address, port } => {
                    put_str(dst, address.as_bytes());
                    dst.put_u32(*port);
                }
                GlobalRequestKind::UdpSendTo {
                    address,
                    port,
                    originator_address,
                    originator_port,
                    data,
                } => {
                    put_str(dst, address.as_bytes());
                    dst.put_u32(*port);
                    put_str(dst, originator_address.as_bytes());
                    dst.put_u32(*originator_port);
                    put_str(dst, data);
                }
            }
        }
        Message::RequestSuccess { port } => {
            if let Some(port) = port {
                dst.put_u32(*port);
            }
        }
        Message::ChannelOpen(o) => {
            put_str(dst, o.channel_type.as_bytes());
            dst.put_u32(o.sender_channel);
            dst.put_u32(o.initial_window);
            dst.put_u32(o.reserved);
            put_str(dst, o.target_address.as_bytes());
            dst.put_u32(o.target_port);
            put_str(dst, o.originator_address.as_bytes());
            dst.put_u32(o.originator_port);
        }
        Message::ChannelOpenConfirmation(c) => {
            dst.put_u32(c.recipient_channel);
            dst.put_u32(c.sender_channel);
            dst.put_u32(c.initial_window);
            dst.put_u32(c.reserved);
        }
        Message::ChannelOpenFailure(f) => {
            dst.put_u32(f.recipient_channel);
            dst.put_u32(f.reason.0);
            dst.put_u32(f.reserved);
            dst.put_u32(f.reserved2);
        }
        Message::ChannelWindowAdjust {
            recipient_channel,
            bytes_to_add,
        } => {
            dst.put_u32(*recipient_channel);
            dst.put_u32(*bytes_to_add);
        }
        Message::ChannelData {
            recipient_channel,
            data,
        } => {
            dst.put_u32(*recipient_channel);
            put_str(dst, data);
        }
        Message::ChannelClose { recipient_channel } => dst.put_u32(*recipient_channel),
        Message::ProtocolVersion(v) => {
            dst.put_u32(v.major);
            dst.put_u32(v.minor);
            dst.put_u32(v.trigger_reason.0);
            dst.put_slice(&v.uuid);
            dst.put_bytes(0, 64);
        }
        Message::KeepaliveRequest { cookie } | Message::KeepaliveReply { cookie } => {
            dst.put_u32(*cookie)
        }
        Message::KeepaliveOptionsRequest {
            interval_seconds,
            timeout_seconds,
        }
        | Message::KeepaliveOptionsReply {
            interval_seconds,
            timeout_seconds,
        } => {
            dst.put_u32(*interval_seconds);
            dst.put_u32(*timeout_seconds);
        }
    }
    Ok(())
}

/// The wire form of `msg` as one buffer.
pub fn encode_to_bytes(msg: &Message) -> Result<Bytes, ApfError> {
    let mut b = BytesMut::with_capacity(encoded_len(msg));
    encode(msg, &mut b)?;
    Ok(b.freeze())
}

fn put_str(dst: &mut BytesMut, s: &[u8]) {
    // Lengths were checked against the protocol limits (far below u32::MAX) by `check`.
    dst.put_u32(s.len() as u32);
    dst.put_slice(s);
}

fn limit(field: &'static str, len: usize, max: usize) -> Result<(), ApfError> {
    if len > max {
        Err(ApfError::EncodeTooLong { field, len, max })
    } else {
        Ok(())
    }
}

fn check(msg: &Message) -> Result<(), ApfError> {
    let s = |field, v: &ApfString| limit(field, v.len(), MAX_STRING_LEN);
    match msg {
        Message::ServiceRequest { service } | Message::ServiceAccept { service } => {
            s("service name", service)
        }
        Message::UserauthRequest(u) => {
            s("user name", &u.username)?;
            s("service name", &u.service)?;
            match &u.method {
                AuthMethod::Password(p) => limit("password", p.expose().len(), MAX_STRING_LEN),
                AuthMethod::None => Ok(()),
            }
        }
        Message::UserauthFailure(f) => s("authentications that can continue", &f.methods),
        Message::GlobalRequest(g) => match &g.request {
            GlobalRequestKind::TcpipForward { address, .. }
            | GlobalRequestKind::CancelTcpipForward { address, .. } => s("address", address),
            GlobalRequestKind::UdpSendTo {
                address,
                originator_address,
                data,
                ..
            } => {
                s("address", address)?;
                s("originator address", originator_address)?;
                limit("data", data.len(), MAX_STRING_LEN)
            }
        },
        Message::ChannelOpen(o) => {
            s("channel type", &o.channel_type)?;
            s("connected address", &o.target_address)?;
            s("originator address", &o.originator_address)
        }
        Message::ChannelData { data, .. } => {
            limit("channel data", data.len(), MAX_CHANNEL_DATA_LEN)
        }
        _ => Ok(()),
    }
}

/// The exact encoded size of `msg` (used to reserve once).
pub(crate) fn encoded_len(msg: &Message) -> usize {
    let s = |v: &[u8]| 4 + v.len();
    1 + match msg {
        Message::Disconnect(_) => 6,
        Message::ServiceRequest { service } | Message::ServiceAccept { service } => {
            s(service.as_bytes())
        }
        Message::UserauthRequest(u) => {
            s(u.username.as_bytes())
                + s(u.service.as_bytes())
                + match &u.method {
                    AuthMethod::Password(p) => s(b"password") + 1 + s(p.expose()),
                    AuthMethod::None => s(b"none"),
                }
        }
        Message::UserauthFailure(f) => s(f.methods.as_bytes()) + 2,
        Message::UserauthSuccess | Message::RequestFailure => 0,
        Message::GlobalRequest(g) => {
            s(g.request.name().as_bytes())
                + 1
                + match &g.request {
                    GlobalRequestKind::TcpipForward { address, .. }
                    | GlobalRequestKind::CancelTcpipForward { address, .. } => {
                        s(address.as_bytes()) + 4
                    }
                    GlobalRequestKind::UdpSendTo {
                        address,
                        originator_address,
                        data,
                        ..
                    } => s(address.as_bytes()) + 4 + s(originator_address.as_bytes()) + 4 + s(data),
                }
        }
        Message::RequestSuccess { port } => port.map_or(0, |_| 4),
        Message::ChannelOpen(o) => {
            s(o.channel_type.as_bytes())
                + 12
                + s(o.target_address.as_bytes())
                + 4
                + s(o.originator_address.as_bytes())
                + 4
        }
        Message::ChannelOpenConfirmation(_) | Message::ChannelOpenFailure(_) => 16,
        Message::ChannelWindowAdjust { .. } => 8,
        Message::ChannelData { data, .. } => 8 + data.len(),
        Message::ChannelClose { .. } => 4,
        Message::ProtocolVersion(_) => 92,
        Message::KeepaliveRequest { .. } | Message::KeepaliveReply { .. } => 4,
        Message::KeepaliveOptionsRequest { .. } | Message::KeepaliveOptionsReply { .. } => 8,
    }
}
