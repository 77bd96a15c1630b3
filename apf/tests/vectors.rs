//! Every hex vector of spec/mps.md §1.4 and §1.10, decoded and re-encoded.

use apf::*;
use bytes::Bytes;

fn unhex(h: &str) -> Vec<u8> {
    hex::decode(h.split_whitespace().collect::<String>()).expect("test vector is hex")
}

/// Decodes `wire` (which must be exactly one message) and checks that encoding the result gives
/// the same bytes back.
fn both_ways(wire: &[u8], ctx: &DecodeContext) -> Message {
    let msg = match decode_with(wire, ctx).expect("vector decodes") {
        Decoded::Message(m, used) => {
            assert_eq!(used, wire.len(), "whole vector consumed for {m:?}");
            m
        }
        Decoded::NeedMore => panic!("complete vector reported as incomplete"),
    };
    assert_eq!(
        encode_to_bytes(&msg).unwrap().as_ref(),
        wire,
        "re-encoding {msg:?}"
    );
    msg
}

fn plain(wire: &[u8]) -> Message {
    both_ways(wire, &DecodeContext::default())
}

#[test]
fn protocol_version_with_the_mps_guid_vector() {
    let uuid = "44454C4C4B0010428033B6C04F504633";
    let wire = unhex(&format!(
        "c0 00000001 00000000 00000004 {uuid} {}",
        "00".repeat(64)
    ));
    assert_eq!(wire.len(), 93);
    let Message::ProtocolVersion(v) = plain(&wire) else {
        panic!("not a PROTOCOLVERSION")
    };
    assert_eq!(
        (v.major, v.minor, v.trigger_reason),
        (1, 0, TriggerReason::PERIODIC)
    );
    assert_eq!(v.guid(), "4c4c4544-004b-4210-8033-b6c04f504633");
}

#[test]
fn protocol_version_with_the_real_amt_capture_guid() {
    let wire = unhex(&format!(
        "c0 00000001 00000000 00000001 80b362d130c3e31182a540a8f0a2a536 {}",
        "00".repeat(64)
    ));
    let Message::ProtocolVersion(v) = plain(&wire) else {
        panic!("not a PROTOCOLVERSION")
    };
    assert_eq!(v.guid(), "d162b380-c330-11e3-82a5-40a8f0a2a536");
    assert_eq!(v.trigger_reason, TriggerReason::USER_INITIATED);
}

#[test]
fn protocol_version_ignores_reserved_bytes_on_decode() {
    let wire = unhex(&format!(
        "c0 00000001 00000000 00000004 {} {}",
        "11".repeat(16),
        "ab".repeat(64)
    ));
    let Decoded::Message(Message::ProtocolVersion(v), 93) = decode(&wire).unwrap() else {
        panic!()
    };
    assert_eq!(v.uuid, [0x11; 16]);
}

#[test]
fn service_accept_auth() {
    let msg = plain(&unhex("06000000126175746840616d742e696e74656c2e636f6d"));
    assert_eq!(
        msg,
        Message::ServiceAccept {
            service: consts::SERVICE_AUTH.into()
        }
    );
}

#[test]
fn service_request_pfwd_is_23_bytes() {
    let msg = Message::ServiceRequest {
        service: consts::SERVICE_PFWD.into(),
    };
    let wire = encode_to_bytes(&msg).unwrap();
    assert_eq!(wire.len(), 23);
    assert_eq!(
        hex::encode(&wire),
        "05000000127066776440616d742e696e74656c2e636f6d"
    );
    assert_eq!(plain(&wire), msg);
}

#[test]
fn userauth_request_real_capture() {
    let mut wire = unhex("32 00000010");
    wire.extend_from_slice(b"4bpiJjg114zSwmua");
    wire.extend_from_slice(&unhex("00000012"));
    wire.extend_from_slice(b"pfwd@amt.intel.com");
    wire.extend_from_slice(&unhex("00000008"));
    wire.extend_from_slice(b"password");
    wire.extend_from_slice(&unhex("00 00000008"));
    wire.extend_from_slice(b"P@ssw0rd");
    assert_eq!(wire.len(), 68);
    let Message::UserauthRequest(u) = plain(&wire) else {
        panic!("not USERAUTH_REQUEST")
    };
    assert_eq!(u.username, "4bpiJjg114zSwmua");
    assert_eq!(u.service, "pfwd@amt.intel.com");
    assert_eq!(u.method, AuthMethod::Password(Password::from("P@ssw0rd")));
    // The password never shows in Debug output.
    assert!(!format!("{u:?}").contains("P@ssw0rd"));
}

#[test]
fn userauth_request_method_none_is_13_plus_lengths() {
    let msg = Message::UserauthRequest(UserauthRequest {
        username: "admin".into(),
        service: consts::SERVICE_PFWD.into(),
        method: AuthMethod::None,
    });
    let wire = encode_to_bytes(&msg).unwrap();
    assert_eq!(wire.len(), 13 + 5 + 18 + 4);
    assert_eq!(plain(&wire), msg);
}

#[test]
fn userauth_failure_mps_form() {
    let msg = plain(&unhex("330000000870617373776f72640000"));
    assert_eq!(msg, Message::UserauthFailure(UserauthFailure::default()));
}

#[test]
fn userauth_failure_ssh_form_with_context() {
    let ctx = DecodeContext {
        userauth_failure: UserauthFailureForm::Ssh,
        ..Default::default()
    };
    let wire = unhex("330000000870617373776f726400");
    let Decoded::Message(msg, 14) = decode_with(&wire, &ctx).unwrap() else {
        panic!()
    };
    assert_eq!(msg, Message::UserauthFailure(UserauthFailure::default()));
}

#[test]
fn userauth_success() {
    assert_eq!(plain(&unhex("34")), Message::UserauthSuccess);
}

#[test]
fn request_success_for_16992() {
    assert_eq!(
        plain(&unhex("5100004260")),
        Message::RequestSuccess { port: Some(16992) }
    );
}

#[test]
fn request_success_bare_for_cancel() {
    let ctx = DecodeContext {
        request_success: RequestSuccessForm::Bare,
        ..Default::default()
    };
    assert_eq!(
        both_ways(&unhex("51"), &ctx),
        Message::RequestSuccess { port: None }
    );
    // Without the context the same byte is the start of the 5-byte form.
    assert_eq!(decode(&unhex("51")).unwrap(), Decoded::NeedMore);
}

#[test]
fn request_failure() {
    assert_eq!(plain(&unhex("52")), Message::RequestFailure);
}

#[test]
fn tcpip_forward_request_empty_address_16992() {
    let wire = unhex("500000000d74637069702d666f727761726401 00000000 00004260");
    assert_eq!(wire.len(), 27);
    assert_eq!(plain(&wire), Message::tcpip_forward("", 16992));
}

#[test]
fn cancel_tcpip_forward_and_udp_send_to() {
    let cancel = Message::GlobalRequest(GlobalRequest {
        want_reply: true,
        request: GlobalRequestKind::CancelTcpipForward {
            address: "amt.example".into(),
            port: 16993,
        },
    });
    let wire = encode_to_bytes(&cancel).unwrap();
    assert_eq!(wire.len(), 14 + 20 + 11);
    assert_eq!(plain(&wire), cancel);

    let udp = Message::GlobalRequest(GlobalRequest {
        want_reply: false,
        request: GlobalRequestKind::UdpSendTo {
            address: "10.0.0.1".into(),
            port: 162,
            originator_address: "10.0.0.2".into(),
            originator_port: 1024,
            data: Bytes::from_static(b"trap"),
        },
    });
    let wire = encode_to_bytes(&udp).unwrap();
    assert_eq!(wire.len(), 26 + 25 + 8 + 8 + 4);
    assert_eq!(plain(&wire), udp);
}

#[test]
fn keepalive_options_request_30_0() {
    assert_eq!(
        plain(&unhex("d20000001e00000000")),
        Message::KeepaliveOptionsRequest {
            interval_seconds: 30,
            timeout_seconds: 0
        }
    );
}

#[test]
fn keepalive_options_reply() {
    assert_eq!(
        plain(&unhex("d30000001e0000005a")),
        Message::KeepaliveOptionsReply {
            interval_seconds: 30,
            timeout_seconds: 90
        }
    );
}

#[test]
fn keepalive_request_and_reply_cookie_255() {
    assert_eq!(
        plain(&unhex("d1000000ff")),
        Message::KeepaliveReply { cookie: 255 }
    );
    assert_eq!(
        plain(&unhex("d0000000ff")),
        Message::KeepaliveRequest { cookie: 255 }
    );
}

#[test]
fn window_adjust_channel_7() {
    assert_eq!(
        plain(&unhex("5d000000070000a001")),
        Message::ChannelWindowAdjust {
            recipient_channel: 7,
            bytes_to_add: 40961
        }
    );
}

#[test]
fn channel_close_7() {
    assert_eq!(
        plain(&unhex("6100000007")),
        Message::ChannelClose {
            recipient_channel: 7
        }
    );
}

#[test]
fn disconnect_by_application() {
    let Message::Disconnect(d) = plain(&unhex("010000000b0000")) else {
        panic!()
    };
    assert_eq!(d.reason, DisconnectReason::BY_APPLICATION);
    assert_eq!(d.reason.name(), Some("BY_APPLICATION"));
}

#[test]
fn channel_open_from_mps_55_bytes() {
    let wire = unhex(
        "5a 0000000f 666f727761726465642d7463706970 00000004 00014000 ffffffff 00000000 00004260 \
         00000007 312e322e332e34 00000400",
    );
    assert_eq!(wire.len(), 55);
    assert_eq!(
        wire,
        unhex(
            "5a0000000f666f727761726465642d74637069700000000400014000ffffffff000000000000426000000007312e322e332e3400000400"
        )
    );
    assert_eq!(
        plain(&wire),
        Message::forwarded_tcpip_open(4, 81920, ("", 16992), ("1.2.3.4", 1024))
    );
}

#[test]
fn channel_open_failure_unknown_channel_type() {
    let msg = plain(&unhex("5c 00000007 00000003 00000000 00000000"));
    assert_eq!(
        msg,
        Message::ChannelOpenFailure(ChannelOpenFailure {
            recipient_channel: 7,
            reason: ChannelOpenFailureReason::UNKNOWN_CHANNEL_TYPE,
            reserved: 0,
            reserved2: 0,
        })
    );
}

#[test]
fn channel_open_confirmation_17_bytes() {
    let msg = plain(&unhex("5b 00000004 00000001 00008000 00000000"));
    assert_eq!(
        msg,
        Message::ChannelOpenConfirmation(ChannelOpenConfirmation {
            recipient_channel: 4,
            sender_channel: 1,
            initial_window: 32768,
            reserved: 0
        })
    );
}

#[test]
fn channel_data_is_a_slice_of_the_input() {
    let wire = unhex("5e 00000004 00000005 68656c6c6f");
    let Message::ChannelData {
        recipient_channel,
        data,
    } = plain(&wire)
    else {
        panic!()
    };
    assert_eq!((recipient_channel, data.as_ref()), (4, b"hello".as_ref()));
}
