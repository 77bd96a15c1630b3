//! APF (AMT Port Forwarding Protocol): the SSH-like message layer an Intel AMT device speaks to a
//! Management Presence Server inside its CIRA TLS tunnel.
//!
//! The byte layouts follow the reference MPS exactly (spec/mps.md §1): every integer is big-endian,
//! strings are a u32 length followed by raw bytes, and the message type byte alone defines the
//! layout (there is no length header). Decoding is therefore incremental: [`decode`] answers
//! [`Decoded::NeedMore`] for any prefix of a valid message, [`Decoded::Message`] with the number of
//! bytes consumed once a message is complete, and an [`ApfError`] for input that can never become
//! valid (after which the connection must be closed: there is no way to resynchronise).
//!
//! ```
//! use apf::{decode, Decoded, Message};
//! let wire = hex_literal(b"d1000000ff");
//! match decode(&wire).unwrap() {
//!     Decoded::Message(Message::KeepaliveReply { cookie }, used) => assert_eq!((cookie, used), (255, 5)),
//!     other => panic!("{other:?}"),
//! }
//! # fn hex_literal(h: &[u8]) -> Vec<u8> {
//! #     h.chunks(2).map(|p| u8::from_str_radix(std::str::from_utf8(p).unwrap(), 16).unwrap()).collect()
//! # }
//! ```

#[cfg(feature = "bench")]
pub mod bench;
mod codec;
pub mod consts;
mod decode;
mod encode;
mod error;
pub mod guid;
mod message;
mod reason;

pub use codec::{ApfCodec, CodecError};
pub use decode::{
    DecodeContext, Decoded, RequestSuccessForm, UserauthFailureForm, decode, decode_with, frame_len,
};
pub use encode::{encode, encode_to_bytes};
pub use error::ApfError;
pub use message::{
    ApfString, AuthMethod, ChannelOpen, ChannelOpenConfirmation, ChannelOpenFailure, Disconnect,
    GlobalRequest, GlobalRequestKind, Message, MessageType, Password, ProtocolVersion,
    UserauthFailure, UserauthRequest,
};
pub use reason::{ChannelOpenFailureReason, DisconnectReason, TriggerReason};
