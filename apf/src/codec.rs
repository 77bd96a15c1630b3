//! A `tokio_util::codec` wrapper that remembers which REQUEST_SUCCESS layout to expect.

use bytes::BytesMut;
use std::collections::VecDeque;
use tokio_util::codec::{Decoder, Encoder};

use crate::decode::{DecodeContext, RequestSuccessForm, decode_buf};
use crate::error::ApfError;
use crate::message::{GlobalRequestKind, Message, MessageType};

/// An APF codec for either side of a tunnel.
///
/// The only context-dependent layout in APF is REQUEST_SUCCESS (with or without a port). The
/// codec tracks the GLOBAL_REQUESTs it encoded with `want_reply` set and decodes each
/// REQUEST_SUCCESS/REQUEST_FAILURE against the oldest outstanding one, so a device that sends
/// `cancel-tcpip-forward` gets its 1-byte reply decoded correctly. With nothing outstanding the
/// codec expects the 5-byte form.
#[derive(Debug, Default)]
pub struct ApfCodec {
    ctx: DecodeContext,
    outstanding: VecDeque<RequestSuccessForm>,
}

impl ApfCodec {
    pub fn new() -> Self {
        Self::default()
    }

    /// A codec with a given base context (e.g. the SSH form of USERAUTH_FAILURE).
    pub fn with_context(ctx: DecodeContext) -> Self {
        ApfCodec {
            ctx,
            outstanding: VecDeque::new(),
        }
    }

    /// Records the reply layout for a GLOBAL_REQUEST written without this codec's encoder.
    pub fn expect_reply(&mut self, form: RequestSuccessForm) {
        self.outstanding.push_back(form);
    }

    /// Decodes one message from the front of `buf`, removing it (payloads are not copied).
    pub fn decode_message(&mut self, buf: &mut BytesMut) -> Result<Option<Message>, ApfError> {
        let mut ctx = self.ctx;
        if let Some(form) = self.outstanding.front() {
            ctx.request_success = *form;
        }
        let msg = decode_buf(buf, &ctx)?;
        if let Some(m) = &msg
            && matches!(
                m.message_type(),
                MessageType::RequestSuccess | MessageType::RequestFailure
            )
        {
            self.outstanding.pop_front();
        }
        Ok(msg)
    }

    /// Encodes `msg` into `dst`, remembering the reply layout a GLOBAL_REQUEST will get.
    pub fn encode_message(&mut self, msg: &Message, dst: &mut BytesMut) -> Result<(), ApfError> {
        crate::encode::encode(msg, dst)?;
        if let Message::GlobalRequest(g) = msg
            && g.want_reply
        {
            match g.request {
                GlobalRequestKind::TcpipForward { .. } => {
                    self.outstanding.push_back(RequestSuccessForm::WithPort)
                }
                GlobalRequestKind::CancelTcpipForward { .. } => {
                    self.outstanding.push_back(RequestSuccessForm::Bare)
                }
                // MPS never answers udp-send-to, so no reply is expected.
                GlobalRequestKind::UdpSendTo { .. } => {}
            }
        }
        Ok(())
    }
}

/// Errors of the framed stream: transport or protocol.
#[derive(Debug, thiserror::Error)]
pub enum CodecError {
    #[error("APF transport: {0}")]
    Io(#[from] std::io::Error),
    #[error(transparent)]
    Apf(#[from] ApfError),
}

impl Decoder for ApfCodec {
    type Item = Message;
    type Error = CodecError;

    fn decode(&mut self, src: &mut BytesMut) -> Result<Option<Message>, CodecError> {
        Ok(self.decode_message(src)?)
    }
}

impl Encoder<Message> for ApfCodec {
    type Error = CodecError;

    fn encode(&mut self, item: Message, dst: &mut BytesMut) -> Result<(), CodecError> {
        Ok(self.encode_message(&item, dst)?)
    }
}

impl Encoder<&Message> for ApfCodec {
    type Error = CodecError;

    fn encode(&mut self, item: &Message, dst: &mut BytesMut) -> Result<(), CodecError> {
        Ok(self.encode_message(item, dst)?)
    }
}
