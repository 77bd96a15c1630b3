//! Decode throughput of the APF codec: `cargo bench -p apf --bench decode_throughput`.
//! Prints messages/s and MB/s for a keep-alive stream and a CHANNEL_DATA stream.

use apf::{ApfCodec, Message, encode};
use bytes::{Bytes, BytesMut};
use std::time::Instant;

fn run(name: &str, msg: &Message, count: usize, rounds: usize) {
    let mut wire = BytesMut::new();
    for _ in 0..count {
        encode(msg, &mut wire).expect("bench message encodes");
    }
    let wire = wire.freeze();
    let start = Instant::now();
    let mut decoded = 0usize;
    for _ in 0..rounds {
        let mut codec = ApfCodec::new();
        let mut buf = BytesMut::from(&wire[..]);
        while let Ok(Some(m)) = codec.decode_message(&mut buf) {
            std::hint::black_box(&m);
            decoded += 1;
        }
    }
    let secs = start.elapsed().as_secs_f64();
    let bytes = (wire.len() * rounds) as f64;
    println!(
        "{name:<28} {:>12.0} msgs/s {:>10.1} MB/s ({decoded} messages, {:.3} s)",
        decoded as f64 / secs,
        bytes / secs / 1e6,
        secs
    );
}

fn main() {
    run(
        "KEEPALIVE_REQUEST (5 B)",
        &Message::KeepaliveRequest { cookie: 255 },
        100_000,
        20,
    );
    run(
        "tcpip-forward (27 B)",
        &Message::tcpip_forward("", 16992),
        100_000,
        10,
    );
    let data = Bytes::from(vec![0x41u8; 4096]);
    run(
        "CHANNEL_DATA (4 KiB)",
        &Message::ChannelData {
            recipient_channel: 4,
            data,
        },
        10_000,
        20,
    );
    let big = Bytes::from(vec![0x42u8; 64 * 1024]);
    run(
        "CHANNEL_DATA (64 KiB)",
        &Message::ChannelData {
            recipient_channel: 4,
            data: big,
        },
        1_000,
        20,
    );
}
