//! HTTP/1.1 framing for WS-Man over any byte stream (an APF channel, a TCP socket, an in-memory pipe).
//!
//! Writers produce the exact request layouts of MPS (Content-Length, spec/mps.md §2.2) and RPS
//! (chunked + `Connection: close`, spec/rps.md §3.5) and AMT-style responses. Readers are incremental:
//! feed bytes as they arrive, ask for the next message, get `Ok(None)` while more bytes are needed.

use std::fmt::Write as _;

use bytes::{Buf, BytesMut};

/// Size limits of one message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Limits {
    /// Status/request line plus headers.
    pub max_head_bytes: usize,
    /// Decoded body.
    pub max_body_bytes: usize,
    pub max_headers: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_head_bytes: 16 * 1024,
            max_body_bytes: 4 * 1024 * 1024,
            max_headers: 64,
        }
    }
}

/// Framing errors. After any of them the stream is out of sync and must be closed.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum HttpError {
    #[error("HTTP head larger than {0} bytes")]
    HeadTooLarge(usize),
    #[error("HTTP body larger than {0} bytes")]
    BodyTooLarge(usize),
    #[error("more than {0} HTTP headers")]
    TooManyHeaders(usize),
    #[error("malformed HTTP message: {0}")]
    Malformed(String),
    #[error("malformed chunked body: {0}")]
    BadChunk(&'static str),
    #[error("unsupported Transfer-Encoding {0:?}")]
    UnsupportedTransferEncoding(String),
    #[error("connection closed in the middle of an HTTP message")]
    UnexpectedEof,
}

/// Header list with case-insensitive lookup.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Headers(pub Vec<(String, String)>);

impl Headers {
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Whether a comma-separated header (e.g. `Connection`) contains `token`.
    pub fn has_token(&self, name: &str, token: &str) -> bool {
        self.0
            .iter()
            .filter(|(k, _)| k.eq_ignore_ascii_case(name))
            .any(|(_, v)| v.split(',').any(|t| t.trim().eq_ignore_ascii_case(token)))
    }
}

/// A received response.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    pub status: u16,
    pub reason: String,
    pub headers: Headers,
    /// The body after de-chunking.
    pub body: Vec<u8>,
    /// Whether the body came chunked (RPS insists on it for 200 answers).
    pub chunked: bool,
}

impl Response {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)
    }

    pub fn www_authenticate(&self) -> Option<&str> {
        self.headers.get("WWW-Authenticate")
    }

    /// The body as text (AMT answers in UTF-8; invalid bytes are replaced).
    pub fn body_text(&self) -> std::borrow::Cow<'_, str> {
        String::from_utf8_lossy(&self.body)
    }

    pub fn connection_close(&self) -> bool {
        self.headers.has_token("Connection", "close")
    }
}

/// A received request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Request {
    pub method: String,
    pub path: String,
    /// 0 for HTTP/1.0, 1 for HTTP/1.1.
    pub minor_version: u8,
    pub headers: Headers,
    pub body: Vec<u8>,
}

impl Request {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)
    }

    /// Whether the connection ends after the answer (`Connection: close`, or HTTP/1.0 without keep-alive).
    pub fn wants_close(&self) -> bool {
        self.headers.has_token("Connection", "close")
            || (self.minor_version == 0 && !self.headers.has_token("Connection", "keep-alive"))
    }
}

#[derive(Debug)]
enum Framing {
    Length(usize),
    Chunked(ChunkState),
    UntilEof,
}

#[derive(Debug, Clone, Copy)]
enum ChunkState {
    Size,
    Data(usize),
    DataEnd,
    Trailer,
}

#[derive(Debug)]
struct Head {
    start: StartLine,
    headers: Headers,
}

#[derive(Debug)]
enum StartLine {
    Status {
        code: u16,
        reason: String,
    },
    Request {
        method: String,
        path: String,
        minor_version: u8,
    },
}

#[derive(Debug)]
enum State {
    Head,
    Body {
        head: Head,
        framing: Framing,
        body: Vec<u8>,
    },
}

/// The incremental reader behind [`ResponseReader`] and [`RequestReader`].
#[derive(Debug)]
struct Reader {
    limits: Limits,
    buf: BytesMut,
    state: State,
    parse_request: bool,
}

/// Longest chunk-size line accepted (hex digits plus extensions).
const MAX_CHUNK_LINE: usize = 1024;

impl Reader {
    fn new(limits: Limits, parse_request: bool) -> Reader {
        Reader {
            limits,
            buf: BytesMut::new(),
            state: State::Head,
            parse_request,
        }
    }

    fn push(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }

    fn next(&mut self) -> Result<Option<(Head, Vec<u8>, bool)>, HttpError> {
        loop {
            // Errors leave the state at Head: after a framing error the stream is abandoned anyway.
            match std::mem::replace(&mut self.state, State::Head) {
                State::Head => {
                    let Some((head, consumed)) = self.parse_head()? else {
                        return Ok(None);
                    };
                    self.buf.advance(consumed);
                    let framing = self.framing(&head)?;
                    self.state = State::Body {
                        head,
                        framing,
                        body: Vec::new(),
                    };
                }
                State::Body {
                    head,
                    mut framing,
                    mut body,
                } => {
                    let done = match &mut framing {
                        Framing::Length(remaining) => {
                            let take = (*remaining).min(self.buf.len());
                            body.extend_from_slice(&self.buf[..take]);
                            self.buf.advance(take);
                            *remaining -= take;
                            *remaining == 0
                        }
                        Framing::Chunked(state) => Self::dechunk(
                            &mut self.buf,
                            state,
                            &mut body,
                            self.limits.max_body_bytes,
                        )?,
                        Framing::UntilEof => {
                            body.extend_from_slice(&self.buf);
                            self.buf.clear();
                            false
                        }
                    };
                    if body.len() > self.limits.max_body_bytes {
                        return Err(HttpError::BodyTooLarge(self.limits.max_body_bytes));
                    }
                    if !done {
                        self.state = State::Body {
                            head,
                            framing,
                            body,
                        };
                        return Ok(None);
                    }
                    let chunked = matches!(framing, Framing::Chunked(_));
                    return Ok(Some((head, body, chunked)));
                }
            }
        }
    }

    /// End of stream: completes a read-to-EOF body, or reports a truncated message.
    fn finish(&mut self) -> Result<Option<(Head, Vec<u8>, bool)>, HttpError> {
        if let Some(message) = self.next()? {
            return Ok(Some(message));
        }
        match std::mem::replace(&mut self.state, State::Head) {
            State::Body {
                head,
                framing: Framing::UntilEof,
                body,
            } => Ok(Some((head, body, false))),
            State::Head if self.buf.is_empty() => Ok(None),
            _ => Err(HttpError::UnexpectedEof),
        }
    }

    fn parse_head(&self) -> Result<Option<(Head, usize)>, HttpError> {
        let mut storage = vec![httparse::EMPTY_HEADER; self.limits.max_headers];
        let map_err = |e: httparse::Error| match e {
            httparse::Error::TooManyHeaders => HttpError::TooManyHeaders(self.limits.max_headers),
            other => HttpError::Malformed(other.to_string()),
        };
        let (status, start, headers) = if self.parse_request {
            let mut req = httparse::Request::new(&mut storage);
            let status = req.parse(&self.buf).map_err(map_err)?;
            let start = StartLine::Request {
                method: req.method.unwrap_or_default().to_string(),
                path: req.path.unwrap_or_default().to_string(),
                minor_version: req.version.unwrap_or(1),
            };
            (status, start, collect_headers(req.headers))
        } else {
            let mut res = httparse::Response::new(&mut storage);
            let status = res.parse(&self.buf).map_err(map_err)?;
            let start = StartLine::Status {
                code: res.code.unwrap_or_default(),
                reason: res.reason.unwrap_or_default().to_string(),
            };
            (status, start, collect_headers(res.headers))
        };
        match status {
            httparse::Status::Partial => {
                if self.buf.len() > self.limits.max_head_bytes {
                    return Err(HttpError::HeadTooLarge(self.limits.max_head_bytes));
                }
                Ok(None)
            }
            httparse::Status::Complete(consumed) => {
                if consumed > self.limits.max_head_bytes {
                    return Err(HttpError::HeadTooLarge(self.limits.max_head_bytes));
                }
                Ok(Some((
                    Head {
                        start,
                        headers: headers?,
                    },
                    consumed,
                )))
            }
        }
    }

    fn framing(&self, head: &Head) -> Result<Framing, HttpError> {
        let transfer_encoding = head.headers.get("Transfer-Encoding");
        let content_length = head.headers.get("Content-Length");
        if let Some(te) = transfer_encoding {
            if self.parse_request && content_length.is_some() {
                // RFC 9112 §6.1: both on a request is a smuggling attempt.
                return Err(HttpError::Malformed(
                    "both Transfer-Encoding and Content-Length".into(),
                ));
            }
            let last = te.rsplit(',').next().unwrap_or_default().trim();
            if !last.eq_ignore_ascii_case("chunked") {
                return Err(HttpError::UnsupportedTransferEncoding(te.to_string()));
            }
            return Ok(Framing::Chunked(ChunkState::Size));
        }
        if let Some(cl) = content_length {
            let length: usize = cl
                .trim()
                .parse()
                .map_err(|_| HttpError::Malformed(format!("Content-Length {cl:?}")))?;
            if length > self.limits.max_body_bytes {
                return Err(HttpError::BodyTooLarge(self.limits.max_body_bytes));
            }
            return Ok(Framing::Length(length));
        }
        match &head.start {
            StartLine::Request { .. } => Ok(Framing::Length(0)),
            StartLine::Status { code, .. } if *code < 200 || *code == 204 || *code == 304 => {
                Ok(Framing::Length(0))
            }
            StartLine::Status { .. } => Ok(Framing::UntilEof),
        }
    }

    /// Decodes as much chunked data as is buffered; `true` once the last chunk and trailers are in.
    fn dechunk(
        buf: &mut BytesMut,
        state: &mut ChunkState,
        body: &mut Vec<u8>,
        max: usize,
    ) -> Result<bool, HttpError> {
        loop {
            match *state {
                ChunkState::Size => {
                    let Some(line_end) = line_end(buf, "chunk size line too long")? else {
                        return Ok(false);
                    };
                    let line = std::str::from_utf8(&buf[..line_end])
                        .map_err(|_| HttpError::BadChunk("chunk size is not text"))?;
                    let size_text = line.split(';').next().unwrap_or_default().trim();
                    if size_text.is_empty() || !size_text.bytes().all(|b| b.is_ascii_hexdigit()) {
                        return Err(HttpError::BadChunk("chunk size is not hexadecimal"));
                    }
                    let size = usize::from_str_radix(size_text, 16)
                        .map_err(|_| HttpError::BadChunk("chunk size overflows"))?;
                    if body.len().saturating_add(size) > max {
                        return Err(HttpError::BodyTooLarge(max));
                    }
                    buf.advance(line_end + 2);
                    *state = if size == 0 {
                        ChunkState::Trailer
                    } else {
                        ChunkState::Data(size)
                    };
                }
                ChunkState::Data(remaining) => {
                    if buf.is_empty() {
                        return Ok(false);
                    }
                    let take = remaining.min(buf.len());
                    body.extend_from_slice(&buf[..take]);
                    buf.advance(take);
                    *state = if take == remaining {
                        ChunkState::DataEnd
                    } else {
                        ChunkState::Data(remaining - take)
                    };
                }
                ChunkState::DataEnd => {
                    if buf.len() < 2 {
                        return Ok(false);
                    }
                    if &buf[..2] != b"\r\n" {
                        return Err(HttpError::BadChunk("chunk data not followed by CRLF"));
                    }
                    buf.advance(2);
                    *state = ChunkState::Size;
                }
                ChunkState::Trailer => {
                    let Some(line_end) = line_end(buf, "trailer line too long")? else {
                        return Ok(false);
                    };
                    buf.advance(line_end + 2);
                    if line_end == 0 {
                        return Ok(true);
                    }
                }
            }
        }
    }
}

/// The length of the line at the start of `buf` (CRLF excluded), `None` while it may still be arriving,
/// or `too_long` once it certainly exceeds `MAX_CHUNK_LINE`. Only the first `MAX_CHUNK_LINE + 2` bytes
/// are looked at, so the verdict is the same however the stream is cut into reads: the limit used to be
/// checked only while a line was incomplete, so a long line arriving in one read passed it.
fn line_end(buf: &[u8], too_long: &'static str) -> Result<Option<usize>, HttpError> {
    let window = &buf[..buf.len().min(MAX_CHUNK_LINE + 2)];
    match window.windows(2).position(|w| w == b"\r\n") {
        Some(end) => Ok(Some(end)),
        None if window.len() == MAX_CHUNK_LINE + 2 => Err(HttpError::BadChunk(too_long)),
        None => Ok(None),
    }
}

fn collect_headers(headers: &[httparse::Header<'_>]) -> Result<Headers, HttpError> {
    headers
        .iter()
        .map(|h| {
            let value = std::str::from_utf8(h.value)
                .map_err(|_| HttpError::Malformed(format!("header {} is not UTF-8", h.name)))?;
            Ok((h.name.to_string(), value.trim().to_string()))
        })
        .collect::<Result<Vec<_>, _>>()
        .map(Headers)
}

/// Reads responses from a byte stream (client side).
#[derive(Debug)]
pub struct ResponseReader(Reader);

impl ResponseReader {
    pub fn new(limits: Limits) -> ResponseReader {
        ResponseReader(Reader::new(limits, false))
    }

    /// Adds received bytes.
    pub fn push(&mut self, bytes: &[u8]) {
        self.0.push(bytes);
    }

    /// The next complete response, `Ok(None)` while more bytes are needed.
    pub fn next_response(&mut self) -> Result<Option<Response>, HttpError> {
        Ok(self.0.next()?.map(into_response))
    }

    /// Call at end of stream: completes a response whose body runs to EOF; errors on a truncated one.
    pub fn finish(&mut self) -> Result<Option<Response>, HttpError> {
        Ok(self.0.finish()?.map(into_response))
    }

    /// Bytes received but not yet part of a returned response.
    pub fn buffered(&self) -> usize {
        self.0.buf.len()
    }
}

fn into_response((head, body, chunked): (Head, Vec<u8>, bool)) -> Response {
    let (status, reason) = match head.start {
        StartLine::Status { code, reason } => (code, reason),
        StartLine::Request { .. } => (0, String::new()),
    };
    Response {
        status,
        reason,
        headers: head.headers,
        body,
        chunked,
    }
}

/// Reads requests from a byte stream (server side).
#[derive(Debug)]
pub struct RequestReader(Reader);

impl RequestReader {
    pub fn new(limits: Limits) -> RequestReader {
        RequestReader(Reader::new(limits, true))
    }

    pub fn push(&mut self, bytes: &[u8]) {
        self.0.push(bytes);
    }

    /// The next complete request, `Ok(None)` while more bytes are needed.
    pub fn next_request(&mut self) -> Result<Option<Request>, HttpError> {
        Ok(self.0.next()?.map(into_request))
    }

    /// Call at end of stream: `Ok(None)` when nothing was pending, an error for a truncated request.
    pub fn finish(&mut self) -> Result<Option<Request>, HttpError> {
        Ok(self.0.finish()?.map(into_request))
    }

    pub fn buffered(&self) -> usize {
        self.0.buf.len()
    }
}

fn into_request((head, body, _): (Head, Vec<u8>, bool)) -> Request {
    let (method, path, minor_version) = match head.start {
        StartLine::Request {
            method,
            path,
            minor_version,
        } => (method, path, minor_version),
        StartLine::Status { .. } => (String::new(), String::new(), 1),
    };
    Request {
        method,
        path,
        minor_version,
        headers: head.headers,
        body,
    }
}

/// The `Host` value AMT expects: `<guid>:<port>`.
pub fn host(guid: &str, port: u16) -> String {
    format!("{guid}:{port}")
}

/// How a WS-Man request is framed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RequestFraming {
    /// MPS over CIRA: `Content-Length`, no other headers (spec/mps.md §2.2).
    ContentLength,
    /// RPS through the device agent: `Transfer-Encoding: chunked` and `Connection: close`
    /// (spec/rps.md §3.5), upper-case hex chunk size.
    ChunkedClose,
    /// Chunked without `Connection: close` (RPS over a persistent TLS tunnel).
    Chunked,
}

/// `POST /wsman HTTP/1.1` with optional `Authorization`, `Host`, then the framing headers and body.
pub fn encode_request(
    framing: RequestFraming,
    host: &str,
    authorization: Option<&str>,
    body: &[u8],
) -> Vec<u8> {
    let mut head = String::from("POST /wsman HTTP/1.1\r\n");
    if let Some(auth) = authorization {
        let _ = write!(head, "Authorization: {auth}\r\n");
    }
    let _ = write!(head, "Host: {host}\r\n");
    let mut out;
    match framing {
        RequestFraming::ContentLength => {
            let _ = write!(head, "Content-Length: {}\r\n\r\n", body.len());
            out = Vec::with_capacity(head.len() + body.len());
            out.extend_from_slice(head.as_bytes());
            out.extend_from_slice(body);
        }
        RequestFraming::ChunkedClose | RequestFraming::Chunked => {
            head.push_str("Transfer-Encoding: chunked\r\n");
            if framing == RequestFraming::ChunkedClose {
                head.push_str("Connection: close\r\n");
            }
            let _ = write!(head, "\r\n{:X}\r\n", body.len());
            out = Vec::with_capacity(head.len() + body.len() + 7);
            out.extend_from_slice(head.as_bytes());
            out.extend_from_slice(body);
            out.extend_from_slice(b"\r\n0\r\n\r\n");
        }
    }
    out
}

/// A response with `Transfer-Encoding: chunked`, the whole body in one chunk (as AMT answers 200s).
pub fn encode_chunked_response(
    status: u16,
    reason: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Vec<u8> {
    let mut head = format!("HTTP/1.1 {status} {reason}\r\n");
    for (name, value) in headers {
        let _ = write!(head, "{name}: {value}\r\n");
    }
    head.push_str("Transfer-Encoding: chunked\r\n\r\n");
    let mut out = Vec::with_capacity(head.len() + body.len() + 16);
    out.extend_from_slice(head.as_bytes());
    if !body.is_empty() {
        out.extend_from_slice(format!("{:x}\r\n", body.len()).as_bytes());
        out.extend_from_slice(body);
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"0\r\n\r\n");
    out
}

/// A response with `Content-Length`.
pub fn encode_response(
    status: u16,
    reason: &str,
    headers: &[(&str, &str)],
    body: &[u8],
) -> Vec<u8> {
    let mut head = format!("HTTP/1.1 {status} {reason}\r\n");
    for (name, value) in headers {
        let _ = write!(head, "{name}: {value}\r\n");
    }
    let _ = write!(head, "Content-Length: {}\r\n\r\n", body.len());
    let mut out = Vec::with_capacity(head.len() + body.len());
    out.extend_from_slice(head.as_bytes());
    out.extend_from_slice(body);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mps_request_layout() {
        let bytes = encode_request(
            RequestFraming::ContentLength,
            &host("4c4c4544-004b-4210-8033-b6c04f504633", 16992),
            Some("Digest x"),
            "<é/>".as_bytes(),
        );
        assert_eq!(
            bytes,
            "POST /wsman HTTP/1.1\r\nAuthorization: Digest x\r\nHost: 4c4c4544-004b-4210-8033-b6c04f504633:16992\r\nContent-Length: 5\r\n\r\n<é/>".as_bytes()
        );
    }

    #[test]
    fn rps_request_layout() {
        let body = "x".repeat(26);
        let bytes = encode_request(
            RequestFraming::ChunkedClose,
            "g:16992",
            None,
            body.as_bytes(),
        );
        assert_eq!(
            String::from_utf8(bytes).unwrap(),
            format!(
                "POST /wsman HTTP/1.1\r\nHost: g:16992\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n1A\r\n{body}\r\n0\r\n\r\n"
            )
        );
    }

    #[test]
    fn reads_requests_byte_by_byte() {
        let mut wire = encode_request(
            RequestFraming::ChunkedClose,
            "g:16992",
            Some("Digest a"),
            b"<Envelope/>",
        );
        wire.extend(encode_request(
            RequestFraming::ContentLength,
            "g:16992",
            None,
            b"<B/>",
        ));
        let mut reader = RequestReader::new(Limits::default());
        let mut got = Vec::new();
        for byte in wire {
            reader.push(&[byte]);
            while let Some(request) = reader.next_request().unwrap() {
                got.push(request);
            }
        }
        assert_eq!(got.len(), 2);
        assert_eq!(got[0].body, b"<Envelope/>");
        assert_eq!(got[0].header("authorization"), Some("Digest a"));
        assert!(got[0].wants_close());
        assert_eq!(got[1].body, b"<B/>");
        assert!(!got[1].wants_close());
        assert_eq!(reader.finish().unwrap(), None);
    }

    #[test]
    fn reads_chunked_and_length_responses() {
        let mut wire = encode_chunked_response(
            200,
            "OK",
            &[("Content-Type", "application/soap+xml; charset=UTF-8")],
            b"hello world",
        );
        wire.extend(encode_response(
            401,
            "Unauthorized",
            &[("WWW-Authenticate", "Digest realm=\"r\"")],
            b"<html></html>",
        ));
        wire.extend(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n6\r\n world\r\n0\r\nX-T: 1\r\n\r\n");
        let mut reader = ResponseReader::new(Limits::default());
        reader.push(&wire);
        let first = reader.next_response().unwrap().unwrap();
        assert_eq!(
            (first.status, first.body.as_slice(), first.chunked),
            (200, &b"hello world"[..], true)
        );
        let second = reader.next_response().unwrap().unwrap();
        assert_eq!(second.status, 401);
        assert_eq!(second.www_authenticate(), Some("Digest realm=\"r\""));
        assert_eq!(second.body_text(), "<html></html>");
        let third = reader.next_response().unwrap().unwrap();
        assert_eq!(third.body, b"hello world");
        assert_eq!(reader.next_response().unwrap(), None);
    }

    #[test]
    fn body_until_eof_and_truncation() {
        let mut reader = ResponseReader::new(Limits::default());
        reader.push(b"HTTP/1.1 200 OK\r\n\r\npartial");
        assert_eq!(reader.next_response().unwrap(), None);
        assert_eq!(reader.finish().unwrap().unwrap().body, b"partial");

        let mut reader = ResponseReader::new(Limits::default());
        reader.push(b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc");
        assert_eq!(reader.next_response().unwrap(), None);
        assert_eq!(reader.finish(), Err(HttpError::UnexpectedEof));
    }

    /// Reads `wire` at once and byte by byte: what a response reader returns, then its end of stream.
    fn read_both_ways(wire: &[u8]) -> [Result<Option<Response>, HttpError>; 2] {
        let mut whole = ResponseReader::new(Limits::default());
        whole.push(wire);
        let mut split = ResponseReader::new(Limits::default());
        let mut got = Ok(None);
        for byte in wire {
            split.push(&[*byte]);
            got = split.next_response();
            if !matches!(got, Ok(None)) {
                break;
            }
        }
        [whole.next_response(), got]
    }

    #[test]
    fn chunk_line_limit_holds_however_the_bytes_arrive() {
        // Found by fuzz/wsman_parse: a 1,100-byte chunk-size line (a long extension after `0;`) was
        // refused when cut into two reads inside the line, and accepted when it came in one.
        let head = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n";
        let mut wire = head.to_vec();
        wire.extend(b"0;");
        wire.extend([b'a'; 1100]);
        wire.extend(b"\r\n\r\n");
        let too_long = || Err(HttpError::BadChunk("chunk size line too long"));
        let mut cut = ResponseReader::new(Limits::default());
        cut.push(&wire[..head.len() + 1060]);
        assert_eq!(cut.next_response(), too_long());
        assert_eq!(read_both_ways(&wire), [too_long(), too_long()]);

        // A line of exactly MAX_CHUNK_LINE bytes passes both ways, even while its LF is still to come.
        let mut wire = head.to_vec();
        wire.extend(b"0;");
        wire.extend(vec![b'a'; MAX_CHUNK_LINE - 2]);
        wire.extend(b"\r\n\r\n");
        let [whole, split] = read_both_ways(&wire);
        assert_eq!(whole, split);
        assert_eq!(whole.unwrap().unwrap().status, 200);

        // The same for trailer lines.
        let mut wire = head.to_vec();
        wire.extend(b"0\r\nX-T: ");
        wire.extend([b'a'; 1100]);
        wire.extend(b"\r\n\r\n");
        let too_long = || Err(HttpError::BadChunk("trailer line too long"));
        assert_eq!(read_both_ways(&wire), [too_long(), too_long()]);
    }

    #[test]
    fn rejects_bad_input() {
        let limits = Limits {
            max_head_bytes: 128,
            max_body_bytes: 8,
            max_headers: 4,
        };
        let mut r = RequestReader::new(limits);
        r.push(&[b'A'; 200]);
        assert!(r.next_request().is_err());

        let mut r = RequestReader::new(limits);
        r.push(b"POST / HTTP/1.1\r\nContent-Length: 9\r\n\r\n");
        assert_eq!(r.next_request(), Err(HttpError::BodyTooLarge(8)));

        let mut r = RequestReader::new(limits);
        r.push(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\nZZ\r\n");
        assert_eq!(
            r.next_request(),
            Err(HttpError::BadChunk("chunk size is not hexadecimal"))
        );

        let mut r = RequestReader::new(limits);
        r.push(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n9\r\n");
        assert_eq!(r.next_request(), Err(HttpError::BodyTooLarge(8)));

        let mut r = RequestReader::new(limits);
        r.push(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\nContent-Length: 1\r\n\r\n");
        assert!(matches!(r.next_request(), Err(HttpError::Malformed(_))));

        let mut r = RequestReader::new(limits);
        r.push(b"POST / HTTP/1.1\r\nTransfer-Encoding: gzip\r\n\r\n");
        assert!(matches!(
            r.next_request(),
            Err(HttpError::UnsupportedTransferEncoding(_))
        ));

        let mut r = RequestReader::new(limits);
        r.push(b"POST / HTTP/1.1\r\nA: 1\r\nB: 1\r\nC: 1\r\nD: 1\r\nE: 1\r\n\r\n");
        assert_eq!(r.next_request(), Err(HttpError::TooManyHeaders(4)));

        let mut r = RequestReader::new(limits);
        r.push(b"POST / HTTP/1.1\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcX\r\n");
        assert_eq!(
            r.next_request(),
            Err(HttpError::BadChunk("chunk data not followed by CRLF"))
        );
    }
}
