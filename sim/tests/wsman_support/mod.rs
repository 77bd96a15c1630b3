//! A WS-Man client for tests: drives `sim::wsman_server::serve` over an in-memory pipe exactly as MPS
//! (Content-Length, keep-alive) or RPS (chunked, `Connection: close`) would, with digest auth.

#![allow(dead_code)]

use sim::device::Device;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};
use wsman::digest::{Challenge, DigestClient};
use wsman::http::{Limits, RequestFraming, Response, ResponseReader, encode_request, host};

/// One connection to the device's WS-Man service.
pub struct Connection {
    stream: DuplexStream,
    reader: ResponseReader,
    pub server: tokio::task::JoinHandle<std::io::Result<()>>,
}

impl Connection {
    pub fn open(device: &Device) -> Connection {
        let (client, server_side) = tokio::io::duplex(64 * 1024);
        let server = tokio::spawn(sim::wsman_server::serve(device.clone(), server_side));
        Connection {
            stream: client,
            reader: ResponseReader::new(Limits::default()),
            server,
        }
    }

    /// Sends raw bytes and reads one HTTP response.
    pub async fn exchange(&mut self, bytes: &[u8]) -> Response {
        self.stream.write_all(bytes).await.expect("write request");
        self.read_response().await.expect("a response")
    }

    pub async fn read_response(&mut self) -> Option<Response> {
        let mut buf = vec![0u8; 64 * 1024];
        loop {
            if let Some(response) = self.reader.next_response().expect("well-framed response") {
                return Some(response);
            }
            let n = self.stream.read(&mut buf).await.expect("read");
            if n == 0 {
                return self.reader.finish().expect("complete response");
            }
            self.reader.push(&buf[..n]);
        }
    }

    /// True when the server closed its side.
    pub async fn closed_by_server(&mut self) -> bool {
        let mut buf = [0u8; 1];
        matches!(
            tokio::time::timeout(
                std::time::Duration::from_secs(2),
                self.stream.read(&mut buf)
            )
            .await,
            Ok(Ok(0))
        )
    }
}

/// A WS-Man client with digest state, reusing one connection (MPS style) unless told otherwise.
pub struct Client {
    pub device: Device,
    pub digest: DigestClient,
    pub framing: RequestFraming,
    connection: Option<Connection>,
    next_id: u64,
}

impl Client {
    pub fn new(device: &Device, user: &str, password: &str) -> Client {
        Client {
            device: device.clone(),
            digest: DigestClient::new(user, password),
            framing: RequestFraming::ContentLength,
            connection: None,
            next_id: 0,
        }
    }

    /// A client with the local system account (valid before activation).
    pub fn lsa(device: &Device) -> Client {
        let (user, password) = device.lsa_credentials();
        Client::new(device, &user, &password)
    }

    pub fn rps_style(mut self) -> Client {
        self.framing = RequestFraming::ChunkedClose;
        self
    }

    fn host(&self) -> String {
        host(&self.device.guid(), 16992)
    }

    /// Sends one rendered envelope, answering a 401 challenge once. Returns the final HTTP response.
    pub async fn send_xml(&mut self, xml: &str) -> Response {
        for _ in 0..2 {
            let authorization = self.digest.authorization("POST", "/wsman");
            let bytes = encode_request(
                self.framing,
                &self.host(),
                authorization.as_deref(),
                xml.as_bytes(),
            );
            let device = self.device.clone();
            let connection = self
                .connection
                .get_or_insert_with(|| Connection::open(&device));
            let response = connection.exchange(&bytes).await;
            if self.framing == RequestFraming::ChunkedClose || response.connection_close() {
                self.connection = None;
            }
            if response.status == 401 {
                let header = response.www_authenticate().expect("challenge header");
                self.digest
                    .set_challenge(Challenge::parse(header).expect("digest challenge"));
                if authorization.is_none() {
                    continue;
                }
            }
            return response;
        }
        unreachable!("the loop returns on its second pass")
    }

    /// Sends a call with the next MessageID; returns (message id, response).
    pub async fn call(&mut self, call: &wsman::Call) -> (String, Response) {
        let id = self.next_id;
        self.next_id += 1;
        let response = self.send_xml(&call.to_xml(id)).await;
        (id.to_string(), response)
    }

    /// Sends a call that must succeed; returns the parsed answer (MPS conventions).
    pub async fn ok(&mut self, call: &wsman::Call) -> wsman::Response {
        let (id, response) = self.call(call).await;
        assert_eq!(
            response.status,
            200,
            "HTTP {} for {}: {}",
            response.status,
            call.action,
            response.body_text()
        );
        assert!(response.chunked, "200 answers are chunked");
        let parsed = wsman::parse_response(&response.body_text(), wsman::ParseOptions::MPS)
            .expect("SOAP answer");
        assert_eq!(
            parsed.relates_to().as_deref(),
            Some(id.as_str()),
            "RelatesTo echoes the MessageID"
        );
        parsed
    }

    /// Enumerate + Pull; returns the items (one JSON value per instance).
    pub async fn enumerate(&mut self, class: &str) -> Vec<serde_json::Value> {
        let answer = self.ok(&wsman::Call::enumerate(class)).await;
        let context =
            wsman::parse::value_text(&answer.body()["EnumerateResponse"]["EnumerationContext"])
                .expect("enumeration context");
        let pulled = self.ok(&wsman::Call::pull(class, &context)).await;
        let items = &pulled.body()["PullResponse"]["Items"];
        let mut out = Vec::new();
        if let Some(object) = items.as_object() {
            for value in object.values() {
                match value {
                    serde_json::Value::Array(many) => out.extend(many.iter().cloned()),
                    one => out.push(one.clone()),
                }
            }
        }
        out
    }

    /// A method answer's `<Method>_OUTPUT` object.
    pub async fn invoke(&mut self, call: &wsman::Call) -> serde_json::Value {
        let answer = self.ok(call).await;
        let body = answer.body().as_object().expect("body object");
        body.values().next().cloned().expect("an _OUTPUT element")
    }
}
