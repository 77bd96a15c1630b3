//! Feeds arbitrary bytes to the APF decoder, as a hostile peer would.
//! Checks: no panic; whatever decodes re-encodes and decodes to the same message; a stream of
//! messages decoded through the codec never panics either.
#![no_main]

use apf::{
    ApfCodec, DecodeContext, Decoded, RequestSuccessForm, UserauthFailureForm, decode_with,
    encode_to_bytes,
};
use bytes::BytesMut;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    // The first byte picks the decoding context, so both layouts of the ambiguous messages are covered.
    let (ctx_byte, input) = match data.split_first() {
        Some((b, rest)) => (*b, rest),
        None => return,
    };
    let ctx = DecodeContext {
        request_success: if ctx_byte & 1 == 0 {
            RequestSuccessForm::WithPort
        } else {
            RequestSuccessForm::Bare
        },
        userauth_failure: if ctx_byte & 2 == 0 {
            UserauthFailureForm::Mps
        } else {
            UserauthFailureForm::Ssh
        },
    };
    if let Ok(Decoded::Message(msg, used)) = decode_with(input, &ctx) {
        assert!(used > 0 && used <= input.len());
        let wire = encode_to_bytes(&msg).expect("a decoded message is encodable");
        // The encoder writes the MPS form of USERAUTH_FAILURE; decode with the matching context.
        let again_ctx = DecodeContext {
            userauth_failure: UserauthFailureForm::Mps,
            ..ctx
        };
        match decode_with(&wire, &again_ctx) {
            Ok(Decoded::Message(again, n)) => {
                assert_eq!(n, wire.len());
                assert_eq!(again, msg);
            }
            other => panic!("re-encoded {msg:?} decoded as {other:?}"),
        }
    }
    // The same bytes as a stream through the stateful codec.
    let mut codec = ApfCodec::with_context(ctx);
    let mut buf = BytesMut::from(input);
    while let Ok(Some(_)) = codec.decode_message(&mut buf) {}
});
