//! Simulated AMT devices for the bus and relay tests: the simulator's WS-Man (16992) and
//! redirection (16994) services behind its CIRA client, a browser-side redirection client over a
//! real WebSocket, and a log capture to prove no secret is ever logged.
#![allow(dead_code)]

use std::io::Write;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use futures::{SinkExt, StreamExt};
use md5::{Digest, Md5};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use sim::device::{CiraSettings, Device};
use sim::fleet::{Fleet, FleetConfig};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;

pub const CIRA_USER: &str = "ciraUser";
pub const CIRA_PASSWORD: &str = "Cira-P@ss-7f3k";
pub const AMT_PASSWORD: &str = "Amt-P@ss-9q2w";

/// The device side of every channel MPS opens: WS-Man on 16992, redirection on 16994.
pub struct DeviceServices;

impl sim::cira::ChannelServices for DeviceServices {
    fn accepts(&self, port: u32) -> bool {
        matches!(port, 16992 | 16994)
    }

    fn spawn(&self, port: u32, device: Device, stream: sim::cira::ChannelStream) {
        tokio::spawn(async move {
            let _ = match port {
                16992 => sim::wsman_server::serve(device, stream).await,
                _ => sim::redirection::serve(device, stream).await,
            };
        });
    }
}

/// DER of the CIRA root the simulated devices must trust.
pub fn root_der(mps: &mps::Mps) -> Vec<u8> {
    let root = mps.certs().expect("MPS certificates").root_cert_pem.clone();
    CertificateDer::from_pem_slice(root.as_bytes())
        .expect("root PEM")
        .to_vec()
}

pub fn fleet_config(cira_port: u16, root_der: Vec<u8>, seed: u64, devices: u64) -> FleetConfig {
    let cira = CiraSettings {
        server: "localhost".into(),
        port: cira_port,
        username: CIRA_USER.into(),
        password: CIRA_PASSWORD.into(),
        root_cert_der: Some(root_der),
    };
    FleetConfig::provisioned(seed, devices, cira, AMT_PASSWORD)
}

pub fn start_fleet(config: &FleetConfig) -> Fleet {
    Fleet::start_with(config, config.build_devices(), Arc::new(DeviceServices))
}

/// Stores what RPS stores for a device: its CIRA and AMT passwords.
pub async fn store_secrets(mps: &mps::Mps, guid: &str) {
    let mut m = serde_json::Map::new();
    m.insert("MPS_PASSWORD".into(), CIRA_PASSWORD.into());
    m.insert("AMT_PASSWORD".into(), AMT_PASSWORD.into());
    mps.secrets()
        .put(&format!("devices/{guid}"), m)
        .await
        .expect("store device secrets");
}

pub async fn eventually(what: &str, secs: u64, mut f: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while tokio::time::Instant::now() < deadline {
        if f().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for: {what}");
}

// ---- log capture ----------------------------------------------------------------------------

#[derive(Clone, Default)]
pub struct Logs(Arc<Mutex<Vec<u8>>>);

impl Logs {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap_or_else(|e| e.into_inner())).into_owned()
    }

    /// Panics naming the first secret found in the captured log lines.
    pub fn assert_free_of(&self, secrets: &[&str]) {
        let text = self.text();
        assert!(!text.is_empty(), "logs were captured");
        for s in secrets {
            if let Some(line) = text.lines().find(|l| l.contains(s)) {
                panic!("a secret appears in a log line: {line}");
            }
        }
    }
}

impl Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Every log line of this test binary, at debug level for our crates (trace is the same code
/// paths with more noise), collected in memory.
pub fn capture_logs() -> Logs {
    static LOGS: OnceLock<Logs> = OnceLock::new();
    LOGS.get_or_init(|| {
        let logs = Logs::default();
        let writer = logs.clone();
        let filter = "info,mps=debug,broker=debug,sim=debug,secrets=debug,wsman=debug,apf=debug";
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::new(filter))
            .with_ansi(false)
            .with_writer(move || writer.clone())
            .try_init();
        logs
    })
    .clone()
}

// ---- the browser side of the redirection relay ------------------------------------------------

pub type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub fn relay_url(rest: &str, guid: &str, mode: &str) -> String {
    format!(
        "ws://{rest}/relay/webrelay.ashx?tls=0&host={guid}&port=16994&p=2&tls1only=0&mode={mode}"
    )
}

/// Opens the relay WebSocket with `token` as the subprotocol (as the web UI does). `Err` carries
/// the HTTP status of a refused upgrade.
pub async fn open_relay(url: &str, token: Option<&str>) -> Result<(Ws, Option<String>), u16> {
    let mut req = url.into_client_request().expect("request");
    if let Some(t) = token {
        req.headers_mut()
            .insert("Sec-WebSocket-Protocol", t.parse().expect("header"));
    }
    match tokio_tungstenite::connect_async(req).await {
        Ok((ws, resp)) => {
            let proto = resp
                .headers()
                .get("Sec-WebSocket-Protocol")
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            Ok((ws, proto))
        }
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) => Err(resp.status().as_u16()),
        Err(e) => panic!("relay connect failed: {e}"),
    }
}

/// A browser's view of a relay session: bytes in, bytes out, with the frame kinds recorded.
pub struct Browser {
    pub ws: Ws,
    buf: Vec<u8>,
    pub text_frames: usize,
    pub binary_frames: usize,
    /// Every byte received, to check that no secret ever reaches the browser.
    pub received: Vec<u8>,
}

fn latin1(bytes: &[u8]) -> String {
    bytes.iter().map(|&b| char::from(b)).collect()
}

impl Browser {
    pub fn new(ws: Ws) -> Self {
        Self {
            ws,
            buf: Vec::new(),
            text_frames: 0,
            binary_frames: 0,
            received: Vec::new(),
        }
    }

    /// A binary frame, as the ui-toolkit sends.
    pub async fn send(&mut self, bytes: &[u8]) {
        self.ws
            .send(Message::binary(bytes.to_vec()))
            .await
            .expect("send binary frame");
    }

    /// A text frame carrying the bytes as latin-1 characters (the reference's own encoding).
    pub async fn send_text(&mut self, bytes: &[u8]) {
        self.ws
            .send(Message::text(latin1(bytes)))
            .await
            .expect("send text frame");
    }

    /// The next frame's bytes; `None` on close.
    async fn frame(&mut self) -> Option<Vec<u8>> {
        loop {
            let m = tokio::time::timeout(Duration::from_secs(10), self.ws.next())
                .await
                .expect("relay answered in time")?;
            match m.ok()? {
                Message::Text(t) => {
                    self.text_frames += 1;
                    // Every character is one byte value (U+0000..U+00FF).
                    let bytes: Vec<u8> = t
                        .as_str()
                        .chars()
                        .map(|c| u8::try_from(u32::from(c)).expect("latin-1 character"))
                        .collect();
                    self.received.extend_from_slice(&bytes);
                    return Some(bytes);
                }
                Message::Binary(b) => {
                    self.binary_frames += 1;
                    self.received.extend_from_slice(&b);
                    return Some(b.to_vec());
                }
                Message::Close(_) => return None,
                _ => continue,
            }
        }
    }

    pub async fn read_exact(&mut self, n: usize) -> Vec<u8> {
        while self.buf.len() < n {
            let f = self.frame().await.expect("relay closed early");
            self.buf.extend_from_slice(&f);
        }
        self.buf.drain(..n).collect()
    }

    /// Reads until `needle` appears; returns everything up to and including it.
    pub async fn read_until(&mut self, needle: &[u8]) -> Vec<u8> {
        loop {
            if let Some(i) = self.buf.windows(needle.len()).position(|w| w == needle) {
                return self.buf.drain(..i + needle.len()).collect();
            }
            let f = self.frame().await.expect("relay closed early");
            self.buf.extend_from_slice(&f);
        }
    }

    /// True when the relay closes the WebSocket within `secs`.
    pub async fn closed_within(&mut self, secs: u64) -> bool {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
        loop {
            match tokio::time::timeout_at(deadline, self.ws.next()).await {
                Err(_) => return false,
                Ok(None) | Ok(Some(Err(_))) | Ok(Some(Ok(Message::Close(_)))) => return true,
                Ok(Some(Ok(_))) => continue,
            }
        }
    }
}

fn push_field(out: &mut Vec<u8>, v: &[u8]) {
    out.push(v.len() as u8);
    out.extend_from_slice(v);
}

fn fields(mut data: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    while let Some((&len, rest)) = data.split_first() {
        let len = (len as usize).min(rest.len());
        out.push(rest[..len].to_vec());
        data = &rest[len..];
    }
    out
}

fn hex_md5(s: &str) -> String {
    hex::encode(Md5::digest(s.as_bytes()))
}

/// AuthenticateSessionReply: (status, auth type, data).
pub async fn read_auth_reply(b: &mut Browser) -> (u8, u8, Vec<u8>) {
    let head = b.read_exact(9).await;
    assert_eq!(head[0], 0x14, "AuthenticateSessionReply");
    let len = u32::from_le_bytes([head[5], head[6], head[7], head[8]]) as usize;
    let data = b.read_exact(len).await;
    (head[1], head[4], data)
}

/// StartRedirectionSession "SOL " → the reply's status.
pub async fn start_sol_session(b: &mut Browser) -> u8 {
    b.send(&[0x10, 0, 0, 0, b'S', b'O', b'L', b' ']).await;
    let head = b.read_exact(4).await;
    assert_eq!(head[0], 0x11, "StartRedirectionSessionReply");
    if head[1] == 0 {
        let rest = b.read_exact(9).await;
        let oem = rest[8] as usize;
        b.read_exact(oem).await;
    }
    head[1]
}

/// What the web UI does: a digest request without a challenge, then the digest for the
/// challenge it gets — made here with `password`, which the relay must not need to be right.
/// Returns the final AuthenticateSessionReply status (0 = success).
pub async fn browser_digest_login(b: &mut Browser, password: &str) -> u8 {
    b.send(&[0x13, 0, 0, 0, 4, 0, 0, 0, 0]).await;
    let (status, ty, data) = read_auth_reply(b).await;
    assert_eq!((status, ty), (1, 4), "a digest challenge");
    let f = fields(&data);
    let (realm, nonce, qop) = (
        String::from_utf8_lossy(&f[0]).into_owned(),
        String::from_utf8_lossy(&f[1]).into_owned(),
        String::from_utf8_lossy(&f[2]).into_owned(),
    );
    assert!(realm.starts_with("Digest:"), "{realm}");
    let (cnonce, nc) = ("a1b2c3d4e5", "00000001");
    let ha1 = hex_md5(&format!("admin:{realm}:{password}"));
    let ha2 = hex_md5("POST:/RedirectionService");
    let response = hex_md5(&format!("{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}"));
    let mut d = Vec::new();
    for v in [
        "admin",
        &realm,
        &nonce,
        "/RedirectionService",
        cnonce,
        nc,
        &response,
        &qop,
    ] {
        push_field(&mut d, v.as_bytes());
    }
    let mut msg = vec![0x13, 0, 0, 0, 4];
    msg.extend_from_slice(&(d.len() as u32).to_le_bytes());
    msg.extend_from_slice(&d);
    // Sent as a text frame: the relay takes both kinds.
    b.send_text(&msg).await;
    let (status, ty, _) = read_auth_reply(b).await;
    assert_eq!(ty, 4);
    status
}

/// SOL start (0x20) with the web UI's settings; returns the console text up to the prompt.
pub async fn start_sol_console(b: &mut Browser) -> Vec<u8> {
    let mut m = vec![0x20, 0, 0, 0, 1, 0, 0, 0];
    for v in [10000u16, 100, 0, 10000, 100, 0] {
        m.extend_from_slice(&v.to_le_bytes());
    }
    m.extend_from_slice(&[0, 0, 0, 0]);
    assert_eq!(m.len(), 24);
    b.send(&m).await;
    let reply = b.read_exact(4).await;
    assert_eq!(&reply[..2], &[0x21, 0], "SOL started");
    b.read_until(b"login: ").await
}

/// Keys typed on the console (0x28).
pub async fn type_keys(b: &mut Browser, seq: u32, keys: &[u8]) {
    let mut m = vec![0x28, 0, 0, 0];
    m.extend_from_slice(&seq.to_le_bytes());
    m.extend_from_slice(&(keys.len() as u16).to_le_bytes());
    m.extend_from_slice(keys);
    b.send_text(&m).await;
}
