//! Feeds arbitrary bytes to the embedded broker's TLS gate as a client would send them after TLS: the
//! gate cuts MQTT frames, parses the first as CONNECT (before any authentication), then reads PUBLISH
//! and SUBSCRIBE to enforce the ACL.
//! Checks: no panic; a frame is a prefix of the input no longer than the packet limit, with its type in
//! the first byte; each refusal the gate would send back is itself exactly one whole frame.
#![no_main]

use broker::embedded::packet::{self, Refusal};
use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;

fn one_whole_frame(bytes: &[u8]) {
    let mut buf = BytesMut::from(bytes);
    let frame = packet::next_frame(&mut buf)
        .expect("a refusal frames")
        .expect("a refusal is whole");
    assert_eq!(&frame[..], bytes, "a refusal is exactly one frame");
    assert!(buf.is_empty());
}

fuzz_target!(|data: &[u8]| {
    let mut buf = BytesMut::from(data);
    let mut consumed = 0;
    let mut v5 = None;
    loop {
        let frame = match packet::next_frame(&mut buf) {
            Ok(Some(frame)) => frame,
            Ok(None) | Err(_) => break,
        };
        assert!(frame.len() <= packet::MAX_PACKET);
        assert_eq!(&frame[..], &data[consumed..consumed + frame.len()]);
        consumed += frame.len();
        match v5 {
            // The first frame must be a CONNECT; the gate closes the connection otherwise.
            None => match packet::parse_connect(&frame) {
                Ok(connect) => {
                    for refusal in [Refusal::BadCredentials, Refusal::NotAuthorized] {
                        one_whole_frame(&packet::connack_refusal(connect.is_v5(), refusal));
                    }
                    v5 = Some(connect.is_v5());
                }
                Err(_) => break,
            },
            Some(v5) => match packet::packet_type(&frame) {
                packet::PUBLISH => {
                    if let Ok(publish) = packet::parse_publish(&frame, v5) {
                        assert!(publish.qos <= 2);
                        if let Some(reply) = publish
                            .packet_id
                            .and_then(|id| packet::publish_refusal(v5, publish.qos, id))
                        {
                            one_whole_frame(&reply);
                        }
                    }
                }
                packet::SUBSCRIBE => {
                    if let Ok((packet_id, filters)) = packet::parse_subscribe(&frame, v5) {
                        one_whole_frame(&packet::suback_refusal(v5, packet_id, filters.len()));
                    }
                }
                _ => {}
            },
        }
    }
});
