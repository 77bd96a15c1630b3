//! Property tests: any message encodes and decodes back to itself, any proper prefix of an
//! encoding is "need more", and a stream of messages split at arbitrary points decodes in order.

use apf::*;
use bytes::{Bytes, BytesMut};
use proptest::prelude::*;

fn apf_string() -> impl Strategy<Value = ApfString> {
    proptest::collection::vec(any::<u8>(), 0..40).prop_map(|v| ApfString(Bytes::from(v)))
}

fn payload() -> impl Strategy<Value = Bytes> {
    proptest::collection::vec(any::<u8>(), 0..300).prop_map(Bytes::from)
}

fn message() -> impl Strategy<Value = Message> {
    let global = prop_oneof![
        (apf_string(), any::<u32>())
            .prop_map(|(address, port)| GlobalRequestKind::TcpipForward { address, port }),
        (apf_string(), any::<u32>())
            .prop_map(|(address, port)| GlobalRequestKind::CancelTcpipForward { address, port }),
        (
            apf_string(),
            any::<u32>(),
            apf_string(),
            any::<u32>(),
            payload()
        )
            .prop_map(|(a, p, oa, op, data)| {
                GlobalRequestKind::UdpSendTo {
                    address: a,
                    port: p,
                    originator_address: oa,
                    originator_port: op,
                    data,
                }
            }),
    ];
    prop_oneof![
        (any::<u32>(), any::<u16>()).prop_map(|(r, reserved)| Message::Disconnect(Disconnect {
            reason: DisconnectReason(r),
            reserved
        })),
        apf_string().prop_map(|service| Message::ServiceRequest { service }),
        apf_string().prop_map(|service| Message::ServiceAccept { service }),
        (apf_string(), apf_string(), proptest::option::of(payload())).prop_map(
            |(username, service, pw)| {
                Message::UserauthRequest(UserauthRequest {
                    username,
                    service,
                    method: pw.map_or(AuthMethod::None, |p| AuthMethod::Password(Password(p))),
                })
            }
        ),
        (apf_string(), any::<bool>()).prop_map(|(methods, partial_success)| {
            Message::UserauthFailure(UserauthFailure {
                methods,
                partial_success,
            })
        }),
        Just(Message::UserauthSuccess),
        (any::<bool>(), global).prop_map(|(want_reply, request)| Message::GlobalRequest(
            GlobalRequest {
                want_reply,
                request
            }
        )),
        any::<u32>().prop_map(|p| Message::RequestSuccess { port: Some(p) }),
        Just(Message::RequestFailure),
        (apf_string(), any::<[u32; 5]>(), apf_string(), apf_string()).prop_map(
            |(t, n, target, orig)| {
                Message::ChannelOpen(ChannelOpen {
                    channel_type: t,
                    sender_channel: n[0],
                    initial_window: n[1],
                    reserved: n[2],
                    target_address: target,
                    target_port: n[3],
                    originator_address: orig,
                    originator_port: n[4],
                })
            }
        ),
        any::<[u32; 4]>().prop_map(
            |n| Message::ChannelOpenConfirmation(ChannelOpenConfirmation {
                recipient_channel: n[0],
                sender_channel: n[1],
                initial_window: n[2],
                reserved: n[3]
            })
        ),
        any::<[u32; 4]>().prop_map(|n| Message::ChannelOpenFailure(ChannelOpenFailure {
            recipient_channel: n[0],
            reason: ChannelOpenFailureReason(n[1]),
            reserved: n[2],
            reserved2: n[3]
        })),
        any::<[u32; 2]>().prop_map(|n| Message::ChannelWindowAdjust {
            recipient_channel: n[0],
            bytes_to_add: n[1]
        }),
        (any::<u32>(), payload()).prop_map(|(recipient_channel, data)| Message::ChannelData {
            recipient_channel,
            data
        }),
        any::<u32>().prop_map(|recipient_channel| Message::ChannelClose { recipient_channel }),
        (any::<[u32; 3]>(), any::<[u8; 16]>()).prop_map(|(n, uuid)| Message::ProtocolVersion(
            ProtocolVersion {
                major: n[0],
                minor: n[1],
                trigger_reason: TriggerReason(n[2]),
                uuid
            }
        )),
        any::<u32>().prop_map(|cookie| Message::KeepaliveRequest { cookie }),
        any::<u32>().prop_map(|cookie| Message::KeepaliveReply { cookie }),
        any::<[u32; 2]>().prop_map(|n| Message::KeepaliveOptionsRequest {
            interval_seconds: n[0],
            timeout_seconds: n[1]
        }),
        any::<[u32; 2]>().prop_map(|n| Message::KeepaliveOptionsReply {
            interval_seconds: n[0],
            timeout_seconds: n[1]
        }),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn round_trip_and_every_prefix_needs_more(msg in message()) {
        let wire = encode_to_bytes(&msg).unwrap();
        prop_assert_eq!(decode(&wire).unwrap(), Decoded::Message(msg.clone(), wire.len()));
        for cut in 0..wire.len() {
            prop_assert_eq!(decode(&wire[..cut]).unwrap(), Decoded::NeedMore, "prefix of {} bytes", cut);
        }
    }

    #[test]
    fn fragmented_stream_decodes_in_order(msgs in proptest::collection::vec(message(), 1..12), cuts in proptest::collection::vec(1usize..64, 1..40)) {
        let mut wire = BytesMut::new();
        for m in &msgs {
            encode(m, &mut wire).unwrap();
        }
        let wire = wire.freeze();
        // Feed the codec in pieces of the given sizes (cycling), as TCP reads would arrive.
        let mut codec = ApfCodec::new();
        let mut acc = BytesMut::new();
        let mut got = Vec::new();
        let mut pos = 0;
        let mut i = 0;
        while pos < wire.len() {
            let n = cuts[i % cuts.len()].min(wire.len() - pos);
            acc.extend_from_slice(&wire[pos..pos + n]);
            pos += n;
            i += 1;
            while let Some(m) = codec.decode_message(&mut acc).unwrap() {
                got.push(m);
            }
        }
        prop_assert!(acc.is_empty());
        prop_assert_eq!(got, msgs);
    }

    #[test]
    fn arbitrary_bytes_never_panic_and_decoded_messages_re_encode(bytes in proptest::collection::vec(any::<u8>(), 0..200)) {
        if let Ok(Decoded::Message(msg, used)) = decode(&bytes) {
            prop_assert!(used <= bytes.len());
            let again = encode_to_bytes(&msg).unwrap();
            prop_assert_eq!(decode(&again).unwrap(), Decoded::Message(msg, again.len()));
        }
    }
}
