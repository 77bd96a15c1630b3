//! Truncated, oversized and invalid input: "need more" or a clear error, never a panic.

use apf::*;
use bytes::BytesMut;

fn unhex(h: &str) -> Vec<u8> {
    hex::decode(h.split_whitespace().collect::<String>()).unwrap()
}

fn str_field(s: &[u8]) -> Vec<u8> {
    let mut v = (s.len() as u32).to_be_bytes().to_vec();
    v.extend_from_slice(s);
    v
}

#[test]
fn empty_input_needs_more() {
    assert_eq!(decode(&[]).unwrap(), Decoded::NeedMore);
}

#[test]
fn unknown_type_is_an_error() {
    for t in [0u8, 2, 7, 49, 53, 83, 95, 96, 98, 191, 193, 207, 212, 255] {
        assert_eq!(decode(&[t, 0, 0, 0]).unwrap_err(), ApfError::UnknownType(t));
    }
}

#[test]
fn string_longer_than_2048_is_an_error_as_soon_as_its_length_arrives() {
    // SERVICE_REQUEST with a 2049-byte name: only the 5 header bytes are needed to reject it.
    let wire = unhex("05 00000801");
    assert!(matches!(
        decode(&wire).unwrap_err(),
        ApfError::StringTooLong {
            len: 2049,
            max: 2048,
            ..
        }
    ));
    // 2048 is still fine.
    let mut ok = vec![5u8];
    ok.extend(str_field(&[b'a'; 2048]));
    assert!(matches!(decode(&ok).unwrap(), Decoded::Message(_, 2053)));
}

#[test]
fn every_string_field_has_the_limit() {
    let long = 0x0000_1000u32.to_be_bytes();
    // USERAUTH_REQUEST: user name, then service, then method, then password too long.
    let mut user = vec![0x32];
    user.extend(long);
    assert!(matches!(
        decode(&user),
        Err(ApfError::StringTooLong {
            field: "user name",
            ..
        })
    ));
    let mut pw = vec![0x32];
    pw.extend(str_field(b"u"));
    pw.extend(str_field(b"pfwd@amt.intel.com"));
    pw.extend(str_field(b"password"));
    pw.push(0);
    pw.extend(long);
    assert!(matches!(
        decode(&pw),
        Err(ApfError::StringTooLong {
            field: "password",
            ..
        })
    ));
    // CHANNEL_OPEN target and originator.
    let mut open = vec![0x5a];
    open.extend(str_field(b"forwarded-tcpip"));
    open.extend([0; 12]);
    open.extend(long);
    assert!(matches!(
        decode(&open),
        Err(ApfError::StringTooLong {
            field: "connected address",
            ..
        })
    ));
    // GLOBAL_REQUEST name.
    let mut g = vec![0x50];
    g.extend(long);
    assert!(matches!(
        decode(&g),
        Err(ApfError::StringTooLong {
            field: "request name",
            ..
        })
    ));
}

#[test]
fn channel_data_over_1_mib_is_an_error() {
    let wire = unhex("5e 00000004 00100001");
    assert_eq!(
        decode(&wire).unwrap_err(),
        ApfError::DataTooLong {
            len: 1_048_577,
            max: 1_048_576
        }
    );
    // Exactly 1 MiB decodes.
    let mut ok = unhex("5e 00000004 00100000");
    ok.resize(9 + 1_048_576, 0x41);
    assert!(matches!(decode(&ok).unwrap(), Decoded::Message(_, n) if n == 9 + 1_048_576));
}

#[test]
fn encoder_refuses_what_decoders_reject() {
    let data = bytes::Bytes::from(vec![0u8; 1_048_577]);
    let err = encode_to_bytes(&Message::ChannelData {
        recipient_channel: 1,
        data,
    })
    .unwrap_err();
    assert!(matches!(
        err,
        ApfError::EncodeTooLong {
            field: "channel data",
            ..
        }
    ));
    let long = "x".repeat(2049);
    let mut buf = BytesMut::new();
    assert!(
        encode(
            &Message::ServiceRequest {
                service: long.as_str().into()
            },
            &mut buf
        )
        .is_err()
    );
    assert!(buf.is_empty(), "a refused message writes nothing");
}

#[test]
fn unknown_global_request_is_reported_with_want_reply() {
    let mut wire = vec![0x50];
    wire.extend(str_field(b"keepalive@openssh.com"));
    // Until the want-reply byte is there we cannot report it fully.
    assert_eq!(decode(&wire).unwrap(), Decoded::NeedMore);
    wire.push(1);
    assert_eq!(
        decode(&wire).unwrap_err(),
        ApfError::UnknownGlobalRequest {
            name: "keepalive@openssh.com".into(),
            want_reply: true
        }
    );
}

#[test]
fn unsupported_userauth_method_is_an_error() {
    let mut wire = vec![0x32];
    wire.extend(str_field(b"user"));
    wire.extend(str_field(b"pfwd@amt.intel.com"));
    wire.extend(str_field(b"publickey"));
    assert_eq!(
        decode(&wire).unwrap_err(),
        ApfError::UnsupportedAuthMethod("publickey".into())
    );
}

#[test]
fn userauth_password_change_is_an_error() {
    let mut wire = vec![0x32];
    wire.extend(str_field(b"user"));
    wire.extend(str_field(b"pfwd@amt.intel.com"));
    wire.extend(str_field(b"password"));
    wire.push(1);
    assert_eq!(
        decode(&wire).unwrap_err(),
        ApfError::PasswordChangeNotSupported
    );
}

#[test]
fn userauth_length_past_the_buffer_needs_more_not_an_error() {
    // The reference MPS returns -1 here (a bug); we wait for the rest.
    let mut wire = vec![0x32];
    wire.extend(str_field(b"user"));
    wire.extend(200u32.to_be_bytes());
    wire.extend(b"pfwd");
    assert_eq!(decode(&wire).unwrap(), Decoded::NeedMore);
}

#[test]
fn trailing_bytes_are_left_for_the_next_message() {
    let wire = unhex("d1000000ff 61000000");
    assert_eq!(
        decode(&wire).unwrap(),
        Decoded::Message(Message::KeepaliveReply { cookie: 255 }, 5)
    );
    assert_eq!(decode(&wire[5..]).unwrap(), Decoded::NeedMore);
}

#[test]
fn huge_lengths_do_not_overflow() {
    // u32::MAX lengths in a CHANNEL_DATA and a string: errors, not arithmetic overflow.
    assert!(decode(&unhex("5e 00000001 ffffffff")).is_err());
    assert!(decode(&unhex("06 ffffffff")).is_err());
}

#[test]
fn codec_decodes_cancel_reply_after_a_cancel_request() {
    let mut codec = ApfCodec::new();
    let mut out = BytesMut::new();
    codec
        .encode_message(&Message::tcpip_forward("", 16992), &mut out)
        .unwrap();
    let cancel = Message::GlobalRequest(GlobalRequest {
        want_reply: true,
        request: GlobalRequestKind::CancelTcpipForward {
            address: "".into(),
            port: 16992,
        },
    });
    codec.encode_message(&cancel, &mut out).unwrap();
    // Replies: 51 + port, then a bare 51, then a keep-alive.
    let mut input = BytesMut::from(&unhex("5100004260 51 d000000001")[..]);
    assert_eq!(
        codec.decode_message(&mut input).unwrap(),
        Some(Message::RequestSuccess { port: Some(16992) })
    );
    assert_eq!(
        codec.decode_message(&mut input).unwrap(),
        Some(Message::RequestSuccess { port: None })
    );
    assert_eq!(
        codec.decode_message(&mut input).unwrap(),
        Some(Message::KeepaliveRequest { cookie: 1 })
    );
    assert_eq!(codec.decode_message(&mut input).unwrap(), None);
}
