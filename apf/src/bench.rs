//! Decode throughput of the APF codec (feature `bench`): how many messages per second one core
//! turns from bytes into [`Message`]s, for the messages a CIRA tunnel mostly carries.
//! `openamt bench apf` and `cargo bench -p apf` print [`DecodeRun`]s.

use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};

use crate::{ApfCodec, ApfError, Message, encode};

/// One message kind decoded back to back from a prepared stream.
#[derive(Debug, Clone)]
pub struct DecodeRun {
    pub name: String,
    pub messages: usize,
    pub elapsed: Duration,
    /// Bytes of the stream, all rounds together.
    pub bytes: usize,
}

impl DecodeRun {
    pub fn messages_per_second(&self) -> f64 {
        self.messages as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }

    pub fn megabytes_per_second(&self) -> f64 {
        self.bytes as f64 / self.elapsed.as_secs_f64().max(1e-9) / 1e6
    }
}

impl std::fmt::Display for DecodeRun {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{:<28} {:>12.0} msgs/s {:>10.1} MB/s ({} messages, {:.3} s)",
            self.name,
            self.messages_per_second(),
            self.megabytes_per_second(),
            self.messages,
            self.elapsed.as_secs_f64()
        )
    }
}

/// Encodes `count` copies of `message`, then decodes the stream `rounds` times with a fresh codec.
pub fn decode_run(
    name: &str,
    message: &Message,
    count: usize,
    rounds: usize,
) -> Result<DecodeRun, ApfError> {
    let mut wire = BytesMut::new();
    for _ in 0..count {
        encode(message, &mut wire)?;
    }
    let wire = wire.freeze();
    let started = Instant::now();
    let mut messages = 0usize;
    for _ in 0..rounds {
        let mut codec = ApfCodec::new();
        let mut buf = BytesMut::from(&wire[..]);
        while let Some(m) = codec.decode_message(&mut buf)? {
            // Keeps the optimiser from skipping the decode whose result nobody reads.
            std::hint::black_box(&m);
            messages += 1;
        }
    }
    Ok(DecodeRun {
        name: name.to_owned(),
        messages,
        elapsed: started.elapsed(),
        bytes: wire.len() * rounds,
    })
}

/// Keep-alives, tcpip-forward requests and channel data of 4 KiB and 64 KiB. `scale` multiplies
/// the rounds (1 takes about a second on this machine's cores).
pub fn run(scale: usize) -> Result<Vec<DecodeRun>, ApfError> {
    let scale = scale.max(1);
    let channel_data = |size: usize, byte: u8| Message::ChannelData {
        recipient_channel: 4,
        data: Bytes::from(vec![byte; size]),
    };
    Ok(vec![
        decode_run(
            "KEEPALIVE_REQUEST (5 B)",
            &Message::KeepaliveRequest { cookie: 255 },
            100_000,
            20 * scale,
        )?,
        decode_run(
            "tcpip-forward (27 B)",
            &Message::tcpip_forward("", 16992),
            100_000,
            10 * scale,
        )?,
        decode_run(
            "CHANNEL_DATA (4 KiB)",
            &channel_data(4096, 0x41),
            10_000,
            20 * scale,
        )?,
        decode_run(
            "CHANNEL_DATA (64 KiB)",
            &channel_data(64 * 1024, 0x42),
            1_000,
            20 * scale,
        )?,
    ])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_encoded_message_is_decoded_and_counted() {
        let run = decode_run(
            "keep-alive",
            &Message::KeepaliveRequest { cookie: 7 },
            100,
            3,
        )
        .unwrap();
        assert_eq!(run.messages, 300);
        assert_eq!(run.bytes, 5 * 100 * 3);
        assert!(run.to_string().starts_with("keep-alive"));
    }
}
