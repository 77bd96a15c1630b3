//! Arbitrary bytes never panic the parsers: they give an error or "need more".

use proptest::prelude::*;
use wsman::http::{Limits, RequestReader, ResponseReader};

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn xml_and_soap_parsers_do_not_panic(text in ".{0,400}") {
        let _ = wsman::xml::parse(&text);
        let _ = wsman::parse_request(&text);
        let _ = wsman::parse_response(&text, wsman::ParseOptions::MPS);
        let _ = wsman::parse_response(&text, wsman::ParseOptions::RPS);
    }

    #[test]
    fn soap_like_input_does_not_panic(
        parts in proptest::collection::vec(
            prop_oneof![
                Just("<a:Envelope>"), Just("</a:Envelope>"), Just("<Header>"), Just("</Header>"), Just("<Body>"),
                Just("</Body>"), Just("<a:Action>x</a:Action>"), Just("<w:ResourceURI>u</w:ResourceURI>"),
                Just("<a:MessageID>1</a:MessageID>"), Just("<w:SelectorSet>"), Just("<w:Selector Name=\"a\">"),
                Just("</w:Selector>"), Just("</w:SelectorSet>"), Just("&amp;"), Just("&#x0;"), Just("<![CDATA[x]]>"),
                Just("<Fault><Code><Value>a:Sender</Value></Code></Fault>"), Just("text"), Just("<"), Just(">")
            ],
            0..40,
        )
    ) {
        let text: String = parts.concat();
        let _ = wsman::parse_request(&text);
        let _ = wsman::parse_response(&text, wsman::ParseOptions::MPS);
    }

    #[test]
    fn http_readers_do_not_panic(chunks in proptest::collection::vec(proptest::collection::vec(any::<u8>(), 0..64), 0..8)) {
        let limits = Limits { max_head_bytes: 512, max_body_bytes: 1024, max_headers: 8 };
        let mut requests = RequestReader::new(limits);
        let mut responses = ResponseReader::new(limits);
        for chunk in &chunks {
            requests.push(chunk);
            responses.push(chunk);
            let _ = requests.next_request();
            let _ = responses.next_response();
        }
        let _ = requests.finish();
        let _ = responses.finish();
    }

    #[test]
    fn http_like_input_does_not_panic(
        parts in proptest::collection::vec(
            prop_oneof![
                Just("POST /wsman HTTP/1.1\r\n"), Just("HTTP/1.1 200 OK\r\n"), Just("Transfer-Encoding: chunked\r\n"),
                Just("Content-Length: 5\r\n"), Just("Content-Length: 99999999999999999999\r\n"), Just("\r\n"),
                Just("5\r\nhello\r\n"), Just("0\r\n\r\n"), Just("ffffffffffffffffff\r\n"), Just("zz\r\n"), Just("abc")
            ],
            0..20,
        )
    ) {
        let bytes = parts.concat().into_bytes();
        let mut requests = RequestReader::new(Limits::default());
        requests.push(&bytes);
        while let Ok(Some(_)) = requests.next_request() {}
        let mut responses = ResponseReader::new(Limits::default());
        responses.push(&bytes);
        while let Ok(Some(_)) = responses.next_response() {}
        let _ = responses.finish();
    }

    #[test]
    fn digest_headers_do_not_panic(text in ".{0,200}") {
        let _ = wsman::digest::Challenge::parse(&text);
        let _ = wsman::digest::Authorization::parse(&text);
        let _ = wsman::digest::Challenge::parse(&format!("Digest {text}"));
        let _ = wsman::digest::Authorization::parse(&format!("Digest {text}"));
    }
}
