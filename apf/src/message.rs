//! The APF message catalog (spec/mps.md §1.3) as Rust types.

use bytes::Bytes;
use std::fmt;

use crate::reason::{ChannelOpenFailureReason, DisconnectReason, TriggerReason};

/// The message type byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
pub enum MessageType {
    Disconnect = 1,
    ServiceRequest = 5,
    ServiceAccept = 6,
    UserauthRequest = 50,
    UserauthFailure = 51,
    UserauthSuccess = 52,
    GlobalRequest = 80,
    RequestSuccess = 81,
    RequestFailure = 82,
    ChannelOpen = 90,
    ChannelOpenConfirmation = 91,
    ChannelOpenFailure = 92,
    ChannelWindowAdjust = 93,
    ChannelData = 94,
    ChannelClose = 97,
    ProtocolVersion = 192,
    KeepaliveRequest = 208,
    KeepaliveReply = 209,
    KeepaliveOptionsRequest = 210,
    KeepaliveOptionsReply = 211,
}

impl MessageType {
    pub fn from_u8(b: u8) -> Option<MessageType> {
        use MessageType::*;
        Some(match b {
            1 => Disconnect,
            5 => ServiceRequest,
            6 => ServiceAccept,
            50 => UserauthRequest,
            51 => UserauthFailure,
            52 => UserauthSuccess,
            80 => GlobalRequest,
            81 => RequestSuccess,
            82 => RequestFailure,
            90 => ChannelOpen,
            91 => ChannelOpenConfirmation,
            92 => ChannelOpenFailure,
            93 => ChannelWindowAdjust,
            94 => ChannelData,
            97 => ChannelClose,
            192 => ProtocolVersion,
            208 => KeepaliveRequest,
            209 => KeepaliveReply,
            210 => KeepaliveOptionsRequest,
            211 => KeepaliveOptionsReply,
            _ => return None,
        })
    }
}

/// An APF string: raw bytes on the wire (no encoding is promised; AMT sends ASCII). Kept as
/// bytes so that any decoded message encodes back to the same bytes.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct ApfString(pub Bytes);

impl ApfString {
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }
    /// The string if it is valid UTF-8.
    pub fn as_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.0).ok()
    }
    /// The string with invalid UTF-8 replaced, for logs and messages.
    pub fn to_string_lossy(&self) -> String {
        String::from_utf8_lossy(&self.0).into_owned()
    }
    pub fn len(&self) -> usize {
        self.0.len()
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl From<&str> for ApfString {
    fn from(s: &str) -> Self {
        ApfString(Bytes::copy_from_slice(s.as_bytes()))
    }
}
impl From<String> for ApfString {
    fn from(s: String) -> Self {
        ApfString(Bytes::from(s))
    }
}
impl From<&[u8]> for ApfString {
    fn from(s: &[u8]) -> Self {
        ApfString(Bytes::copy_from_slice(s))
    }
}
impl PartialEq<str> for ApfString {
    fn eq(&self, other: &str) -> bool {
        self.0 == other.as_bytes()
    }
}
impl PartialEq<&str> for ApfString {
    fn eq(&self, other: &&str) -> bool {
        self.0 == other.as_bytes()
    }
}
impl fmt::Debug for ApfString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&String::from_utf8_lossy(&self.0), f)
    }
}
impl fmt::Display for ApfString {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.0))
    }
}

/// A USERAUTH password. Its `Debug` never shows the secret.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Password(pub Bytes);

impl Password {
    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}
impl From<&str> for Password {
    fn from(s: &str) -> Self {
        Password(Bytes::copy_from_slice(s.as_bytes()))
    }
}
impl From<String> for Password {
    fn from(s: String) -> Self {
        Password(Bytes::from(s))
    }
}
impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Password(<redacted, {} bytes>)", self.0.len())
    }
}

/// DISCONNECT (0x01): u32 reason, u16 reserved.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Disconnect {
    pub reason: DisconnectReason,
    pub reserved: u16,
}

/// USERAUTH_REQUEST (0x32).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserauthRequest {
    pub username: ApfString,
    /// `pfwd@amt.intel.com` from real AMT.
    pub service: ApfString,
    pub method: AuthMethod,
}

/// The method part of USERAUTH_REQUEST.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthMethod {
    /// `"password"`, boolean FALSE, str password.
    Password(Password),
    /// `"none"`: no further fields (13 + u + s + m bytes in all).
    None,
}

/// USERAUTH_FAILURE (0x33).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserauthFailure {
    /// Authentications that can continue (`"password"`).
    pub methods: ApfString,
    pub partial_success: bool,
}

impl Default for UserauthFailure {
    /// The reply MPS and MeshCentral send: methods `"password"`, no partial success.
    fn default() -> Self {
        UserauthFailure {
            methods: ApfString::from(crate::consts::METHOD_PASSWORD),
            partial_success: false,
        }
    }
}

/// GLOBAL_REQUEST (0x50).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GlobalRequest {
    pub want_reply: bool,
    pub request: GlobalRequestKind,
}

/// The requests AMT sends; unknown names are a decode error ([`crate::ApfError::UnknownGlobalRequest`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GlobalRequestKind {
    /// `tcpip-forward`: str address (AMT's host name or empty), u32 port.
    TcpipForward { address: ApfString, port: u32 },
    /// `cancel-tcpip-forward`: str address, u32 port.
    CancelTcpipForward { address: ApfString, port: u32 },
    /// `udp-send-to@amt.intel.com`.
    UdpSendTo {
        address: ApfString,
        port: u32,
        originator_address: ApfString,
        originator_port: u32,
        data: Bytes,
    },
}

impl GlobalRequestKind {
    pub fn name(&self) -> &'static str {
        match self {
            GlobalRequestKind::TcpipForward { .. } => crate::consts::REQUEST_TCPIP_FORWARD,
            GlobalRequestKind::CancelTcpipForward { .. } => {
                crate::consts::REQUEST_CANCEL_TCPIP_FORWARD
            }
            GlobalRequestKind::UdpSendTo { .. } => crate::consts::REQUEST_UDP_SEND_TO,
        }
    }
}

/// CHANNEL_OPEN (0x5A).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelOpen {
    /// `forwarded-tcpip` (MPS → AMT) or `direct-tcpip`.
    pub channel_type: ApfString,
    pub sender_channel: u32,
    pub initial_window: u32,
    /// The reference MPS writes 0xFFFFFFFF.
    pub reserved: u32,
    pub target_address: ApfString,
    pub target_port: u32,
    pub originator_address: ApfString,
    pub originator_port: u32,
}

/// CHANNEL_OPEN_CONFIRMATION (0x5B), 17 bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelOpenConfirmation {
    /// The opener's channel id.
    pub recipient_channel: u32,
    /// The confirming side's own channel id.
    pub sender_channel: u32,
    /// The confirming side's receive window (the opener's send credit).
    pub initial_window: u32,
    pub reserved: u32,
}

/// CHANNEL_OPEN_FAILURE (0x5C), 17 bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChannelOpenFailure {
    pub recipient_channel: u32,
    pub reason: ChannelOpenFailureReason,
    pub reserved: u32,
    pub reserved2: u32,
}

/// PROTOCOLVERSION (0xC0), 93 bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolVersion {
    pub major: u32,
    pub minor: u32,
    pub trigger_reason: TriggerReason,
    /// The SMBIOS UUID in wire (mixed-endian) order; see [`crate::guid`].
    pub uuid: [u8; 16],
}

impl ProtocolVersion {
    /// The lower-case device GUID string.
    pub fn guid(&self) -> String {
        crate::guid::to_string(&self.uuid)
    }
}

/// One APF message. Channel ids are always the *receiver's* id ("recipient channel").
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Message {
    Disconnect(Disconnect),
    ServiceRequest {
        service: ApfString,
    },
    ServiceAccept {
        service: ApfString,
    },
    UserauthRequest(UserauthRequest),
    UserauthFailure(UserauthFailure),
    UserauthSuccess,
    GlobalRequest(GlobalRequest),
    /// `port` is present in the reply to tcpip-forward (`51` + u32 port) and absent in the reply to
    /// cancel-tcpip-forward (`51` alone).
    RequestSuccess {
        port: Option<u32>,
    },
    RequestFailure,
    ChannelOpen(ChannelOpen),
    ChannelOpenConfirmation(ChannelOpenConfirmation),
    ChannelOpenFailure(ChannelOpenFailure),
    ChannelWindowAdjust {
        recipient_channel: u32,
        bytes_to_add: u32,
    },
    ChannelData {
        recipient_channel: u32,
        data: Bytes,
    },
    ChannelClose {
        recipient_channel: u32,
    },
    ProtocolVersion(ProtocolVersion),
    KeepaliveRequest {
        cookie: u32,
    },
    KeepaliveReply {
        cookie: u32,
    },
    KeepaliveOptionsRequest {
        interval_seconds: u32,
        timeout_seconds: u32,
    },
    KeepaliveOptionsReply {
        interval_seconds: u32,
        timeout_seconds: u32,
    },
}

impl Message {
    pub fn message_type(&self) -> MessageType {
        match self {
            Message::Disconnect(_) => MessageType::Disconnect,
            Message::ServiceRequest { .. } => MessageType::ServiceRequest,
            Message::ServiceAccept { .. } => MessageType::ServiceAccept,
            Message::UserauthRequest(_) => MessageType::UserauthRequest,
            Message::UserauthFailure(_) => MessageType::UserauthFailure,
            Message::UserauthSuccess => MessageType::UserauthSuccess,
            Message::GlobalRequest(_) => MessageType::GlobalRequest,
            Message::RequestSuccess { .. } => MessageType::RequestSuccess,
            Message::RequestFailure => MessageType::RequestFailure,
            Message::ChannelOpen(_) => MessageType::ChannelOpen,
            Message::ChannelOpenConfirmation(_) => MessageType::ChannelOpenConfirmation,
            Message::ChannelOpenFailure(_) => MessageType::ChannelOpenFailure,
            Message::ChannelWindowAdjust { .. } => MessageType::ChannelWindowAdjust,
            Message::ChannelData { .. } => MessageType::ChannelData,
            Message::ChannelClose { .. } => MessageType::ChannelClose,
            Message::ProtocolVersion(_) => MessageType::ProtocolVersion,
            Message::KeepaliveRequest { .. } => MessageType::KeepaliveRequest,
            Message::KeepaliveReply { .. } => MessageType::KeepaliveReply,
            Message::KeepaliveOptionsRequest { .. } => MessageType::KeepaliveOptionsRequest,
            Message::KeepaliveOptionsReply { .. } => MessageType::KeepaliveOptionsReply,
        }
    }

    /// `tcpip-forward` for `port` with `want_reply` set, as AMT sends it.
    pub fn tcpip_forward(address: impl Into<ApfString>, port: u32) -> Message {
        Message::GlobalRequest(GlobalRequest {
            want_reply: true,
            request: GlobalRequestKind::TcpipForward {
                address: address.into(),
                port,
            },
        })
    }

    /// A CHANNEL_OPEN of type `forwarded-tcpip` with the reserved word MPS uses.
    pub fn forwarded_tcpip_open(
        sender_channel: u32,
        initial_window: u32,
        target: (&str, u32),
        originator: (&str, u32),
    ) -> Message {
        Message::ChannelOpen(ChannelOpen {
            channel_type: ApfString::from(crate::consts::CHANNEL_FORWARDED_TCPIP),
            sender_channel,
            initial_window,
            reserved: crate::consts::CHANNEL_OPEN_RESERVED,
            target_address: ApfString::from(target.0),
            target_port: target.1,
            originator_address: ApfString::from(originator.0),
            originator_port: originator.1,
        })
    }
}
