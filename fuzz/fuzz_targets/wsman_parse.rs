//! The WS-Man side of MPS, RPS and the simulator, fed what a hostile device (or client) could send:
//! HTTP framing read incrementally, digest headers, XML, and the SOAP request/response parsers.
//!
//! Checks beyond "no panic":
//! - HTTP readers give the same messages whether the bytes arrive at once or cut at arbitrary points
//!   (TCP and APF channels split anywhere), and a body they return, framed again by the crate's own
//!   writers, reads back unchanged.
//! - A digest challenge re-rendered parses to itself, and the answer a client builds for it verifies
//!   on the server side.
//! - `parse_response` / `parse_request` fail with the XML error exactly when the XML parser fails,
//!   the tree stays within the nesting bound, and the JSON the services forward re-reads as itself.
//! - An envelope built by `Call::to_xml` from arbitrary texts parses back to the same header fields.
#![no_main]

use libfuzzer_sys::arbitrary::{self, Arbitrary};
use libfuzzer_sys::fuzz_target;
use wsman::digest::{Authorization, Challenge, DigestClient, ha1};
use wsman::http::{
    self, HttpError, Limits, RequestFraming, RequestReader, ResponseReader,
    encode_chunked_response, encode_request, encode_response,
};
use wsman::xml::{self, Element, MAX_DEPTH};
use wsman::{
    Call, ParseOptions, RequestError, ResponseError, Selector, parse_request, parse_response,
};

#[derive(Arbitrary, Debug)]
enum Mode {
    /// Bytes from a device's WS-Man port, read as MPS and RPS read them.
    DeviceAnswer,
    /// Bytes arriving at the simulator's WS-Man port.
    DeviceRequest,
    /// A WS-Man XML document.
    Xml,
    /// A `WWW-Authenticate` value.
    Challenge,
    /// An `Authorization` value.
    Authorization,
    /// Texts put into a request envelope by the builder.
    Envelope,
}

#[derive(Arbitrary, Debug)]
struct Input<'a> {
    mode: Mode,
    /// Where the byte stream is cut into reads (taken modulo its length).
    cuts: Vec<u16>,
    bytes: &'a [u8],
}

fuzz_target!(|input: Input<'_>| {
    match input.mode {
        Mode::DeviceAnswer => device_answer(input.bytes, &input.cuts),
        Mode::DeviceRequest => device_request(input.bytes, &input.cuts),
        Mode::Xml => soap(&String::from_utf8_lossy(input.bytes)),
        Mode::Challenge => challenge(&String::from_utf8_lossy(input.bytes)),
        Mode::Authorization => authorization(&String::from_utf8_lossy(input.bytes)),
        Mode::Envelope => envelope(input.bytes),
    }
});

/// The pieces `bytes` arrives in when cut at `cuts`.
fn pieces<'a>(bytes: &'a [u8], cuts: &[u16]) -> Vec<&'a [u8]> {
    let mut at: Vec<usize> = cuts
        .iter()
        .map(|&c| usize::from(c) % (bytes.len() + 1))
        .collect();
    at.push(0);
    at.push(bytes.len());
    at.sort_unstable();
    at.dedup();
    at.windows(2).map(|w| &bytes[w[0]..w[1]]).collect()
}

/// What a reader made of a stream: the messages, and whether it ended in a framing error.
#[derive(Debug, PartialEq)]
struct Outcome<M> {
    messages: Vec<M>,
    failed: bool,
}

/// Reads all of a stream through one of the incremental readers: push each piece, take every message
/// it completes, and at the end of the stream let the reader finish.
fn read_all<R, M>(
    reader: &mut R,
    pieces: &[&[u8]],
    push: fn(&mut R, &[u8]),
    next: fn(&mut R) -> Result<Option<M>, HttpError>,
    finish: fn(&mut R) -> Result<Option<M>, HttpError>,
) -> Outcome<M> {
    let mut messages = Vec::new();
    for piece in pieces {
        push(reader, piece);
        loop {
            match next(reader) {
                Ok(Some(message)) => messages.push(message),
                Ok(None) => break,
                Err(_) => {
                    return Outcome {
                        messages,
                        failed: true,
                    };
                }
            }
        }
    }
    match finish(reader) {
        Ok(Some(message)) => messages.push(message),
        Ok(None) => {}
        Err(_) => {
            return Outcome {
                messages,
                failed: true,
            };
        }
    }
    Outcome {
        messages,
        failed: false,
    }
}

fn read_responses(pieces: &[&[u8]]) -> Outcome<http::Response> {
    read_all(
        &mut ResponseReader::new(Limits::default()),
        pieces,
        ResponseReader::push,
        ResponseReader::next_response,
        ResponseReader::finish,
    )
}

fn read_requests(pieces: &[&[u8]]) -> Outcome<http::Request> {
    read_all(
        &mut RequestReader::new(Limits::default()),
        pieces,
        RequestReader::push,
        RequestReader::next_request,
        RequestReader::finish,
    )
}

fn device_answer(bytes: &[u8], cuts: &[u16]) {
    // RPS reads the relayed answer in one piece, MPS as the channel delivers it.
    let whole = read_responses(&[bytes]);
    let split = read_responses(&pieces(bytes, cuts));
    assert_eq!(whole, split, "the same bytes read differently when cut");

    for response in &whole.messages {
        // What MPS and RPS do with an answer: the challenge of a 401, the SOAP of the body (MPS
        // replaces invalid UTF-8, RPS refuses it).
        if let Some(header) = response.www_authenticate() {
            challenge(header);
        }
        soap(&response.body_text());
        if let Ok(text) = std::str::from_utf8(&response.body) {
            let _ = parse_response(text, ParseOptions::RPS);
        }

        // The body framed again (both ways AMT answers) reads back unchanged.
        if (100..=999).contains(&response.status) {
            for wire in [
                encode_response(response.status, "R", &[], &response.body),
                encode_chunked_response(response.status, "R", &[], &response.body),
            ] {
                let again = read_responses(&[&wire]);
                assert!(!again.failed, "re-framed answer failed to read");
                assert_eq!(again.messages.len(), 1);
                assert_eq!(again.messages[0].status, response.status);
                assert_eq!(again.messages[0].body, response.body);
            }
        }
    }
}

fn device_request(bytes: &[u8], cuts: &[u16]) {
    let whole = read_requests(&[bytes]);
    let split = read_requests(&pieces(bytes, cuts));
    assert_eq!(whole, split, "the same bytes read differently when cut");

    for request in &whole.messages {
        // What the simulator does with a request: check the digest answer, parse the envelope.
        if let Some(header) = request.header("Authorization") {
            authorization(header);
        }
        if let Ok(text) = std::str::from_utf8(&request.body) {
            soap(text);
        }

        // The body in each of the request layouts MPS and RPS write reads back unchanged.
        for framing in [
            RequestFraming::ContentLength,
            RequestFraming::ChunkedClose,
            RequestFraming::Chunked,
        ] {
            let wire = encode_request(framing, "g:16992", Some("Digest x"), &request.body);
            let again = read_requests(&[&wire]);
            assert!(!again.failed, "re-framed request failed to read");
            assert_eq!(again.messages.len(), 1);
            assert_eq!(again.messages[0].body, request.body);
        }
    }
}

fn depth(element: &Element) -> usize {
    1 + element.children.iter().map(depth).max().unwrap_or(0)
}

fn soap(text: &str) {
    let tree = xml::parse(text);
    let mps = parse_response(text, ParseOptions::MPS);
    let rps = parse_response(text, ParseOptions::RPS);
    let request = parse_request(text);
    match &tree {
        Err(error) => {
            // Both SOAP parsers fail with the XML parser's own error.
            assert!(matches!(&mps, Err(ResponseError::Xml(e)) if e == error));
            assert!(matches!(&rps, Err(ResponseError::Xml(e)) if e == error));
            assert!(matches!(&request, Err(RequestError::Xml(e)) if e == error));
        }
        Ok(root) => {
            assert!(depth(root) <= MAX_DEPTH, "tree deeper than the bound");
            assert!(!matches!(mps, Err(ResponseError::Xml(_))));
            assert!(!matches!(request, Err(RequestError::Xml(_))));
        }
    }
    for response in [mps, rps].into_iter().flatten() {
        // The JSON MPS and RPS hand on (REST bodies, events) survives a trip through text.
        let json = response.into_json();
        let text = serde_json::to_string(&json).expect("response JSON serializes");
        let again: serde_json::Value = serde_json::from_str(&text).expect("response JSON re-reads");
        assert_eq!(again, json);
    }
    if let Ok(request) = request {
        let _ = request.payload_json();
    }
}

fn challenge(header: &str) {
    let Ok(challenge) = Challenge::parse(header) else {
        return;
    };
    // `to_header` writes what AMT sends, which never names the algorithm.
    let rendered = Challenge::parse(&challenge.to_header()).expect("a rendered challenge parses");
    assert_eq!(
        rendered,
        Challenge {
            algorithm: None,
            ..challenge.clone()
        }
    );

    // The client's answer to this challenge convinces a server holding the same HA1.
    let mut client = DigestClient::new("admin", "P@ssw0rd");
    client.set_challenge(challenge.clone());
    let header = client
        .authorization_with("POST", "/wsman", 1, "0a4f113b")
        .expect("a client with a challenge answers");
    let answer = Authorization::parse(&header).expect("the client's own header parses");
    assert!(
        answer.verify("POST", &ha1("admin", &challenge.realm, "P@ssw0rd")),
        "the client's answer does not verify: {header}"
    );
}

fn authorization(header: &str) {
    if let Ok(answer) = Authorization::parse(header) {
        let _ = answer.verify("POST", &ha1(&answer.username, &answer.realm, "P@ssw0rd"));
    }
}

/// Splits fuzz bytes into the texts of an envelope: `\u{1}`-separated, control characters dropped (XML
/// cannot carry them unchanged: they are invalid or normalized away).
fn envelope(bytes: &[u8]) {
    let text = String::from_utf8_lossy(bytes);
    let mut parts = text
        .split('\u{1}')
        .map(|part| part.chars().filter(|c| !c.is_control()).collect::<String>());
    let mut next = || parts.next().unwrap_or_default();
    let (action, class, name, value, timeout) = (next(), next(), next(), next(), next());
    let message_id = bytes.len() as u64;

    let mut call = Call::get(&class)
        .with_selectors(vec![Selector::new(name.clone(), value.clone())])
        .with_timeout(timeout.clone());
    call.action = action.clone();
    let xml = call.to_xml(message_id);
    let request = parse_request(&xml).expect("a built envelope parses");
    // The parser trims header texts; everything else arrives as written.
    assert_eq!(request.action, action.trim());
    assert_eq!(request.resource_uri, call.resource_uri.trim());
    assert_eq!(request.message_id, message_id.to_string());
    assert_eq!(request.operation_timeout.as_deref(), Some(timeout.trim()));
    assert_eq!(request.selector(&name), Some(value.trim()));
}
