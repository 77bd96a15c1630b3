//! The AMT redirection service (port 16994 over CIRA): session start, authentication,
//! serial-over-LAN with a small fake console, and KVM.
//!
//! Wire format (spec/mps.md §7.3; every multi-byte field little-endian):
//! - `10 00 00 00 "SOL "` / `"IDER"` / `10 01 00 00 "KVMR"` StartRedirectionSession (8 bytes) →
//!   `11 status 00 00 proto-major proto-minor fw-major fw-minor IANA(4) oem-len` (13 + oem bytes);
//! - `13 00 00 00 type len(4) data` AuthenticateSession → `14 status 00 00 type len(4) data`;
//!   type 0 lists the supported types, type 4 (digest with qop) with an empty realm/nonce is
//!   answered with status 1 and u8-length-prefixed realm, nonce, qop; otherwise the digest is
//!   checked against the device's admin credentials;
//! - SOL after authentication: `20` start SOL (24 bytes) → `21` reply (23 bytes);
//!   `27` serial settings (14, no reply); `28 00 00 00 seq(4) len(2) data` console → host;
//!   `2A 00 00 00 seq(4) len(2) data` host → console; `24` ping → `25` pong; `2B` heartbeat (8);
//!   `22` end SOL → `23`; `12` EndRedirectionSession (4) ends the session.
//! - KVM after authentication: `40 00 00 00 00 00 00 00` starts it; once user consent is there the
//!   device answers `41 00 00 00 00 00 00 00` and the rest of the stream is RFB ([`crate::kvm`]).
//!
//! A session kind that is disabled (KVM SAP state, SOL/IDER in AMT_RedirectionService, or the
//! listener) is answered UNSUPPORTED; a second session of a kind already open on the device BUSY.
//! IDER sessions start and authenticate, but no IDER commands are implemented (the session is
//! closed if IDER traffic follows).

use bytes::{Buf, BufMut, BytesMut};
use md5::{Digest, Md5};
use rand::Rng;
use std::collections::HashSet;
use std::io;
use std::sync::{Mutex, OnceLock};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use crate::device::Device;

/// StartRedirectionSessionReply status codes.
pub mod status {
    pub const SUCCESS: u8 = 0;
    pub const TYPE_UNKNOWN: u8 = 1;
    pub const BUSY: u8 = 2;
    pub const UNSUPPORTED: u8 = 3;
    pub const ERROR: u8 = 0xFF;
}

/// AuthenticateSession types.
pub mod auth {
    pub const QUERY: u8 = 0;
    pub const USER_PASSWORD: u8 = 1;
    pub const KERBEROS: u8 = 2;
    pub const DIGEST_NO_QOP: u8 = 3;
    pub const DIGEST: u8 = 4;
}

/// Redirection protocol and session-manager firmware revision reported in the start reply.
const PROTOCOL_VERSION: (u8, u8) = (1, 0);
const FIRMWARE_VERSION: (u8, u8) = (2, 0);
/// Intel's IANA enterprise number (343) in the start reply's OEM IANA field.
const INTEL_IANA: u32 = 343;
/// Largest message we buffer (SOL data carries a u16 length, so 10 + 65535; auth data is small).
const MAX_MESSAGE: usize = 10 + 65535;
const DIGEST_URI: &str = "/RedirectionService";

/// The session kinds a client can ask for.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Kind {
    Sol,
    Ider,
    Kvm,
}

/// One SOL, one IDER and one KVM session per device at a time, as AMT enforces (second one: BUSY).
fn active_sessions() -> &'static Mutex<HashSet<(String, Kind)>> {
    static ACTIVE: OnceLock<Mutex<HashSet<(String, Kind)>>> = OnceLock::new();
    ACTIVE.get_or_init(Default::default)
}

struct ActiveGuard(Option<(String, Kind)>);
impl Drop for ActiveGuard {
    fn drop(&mut self) {
        if let Some(key) = self.0.take() {
            active_sessions()
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&key);
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    AwaitStart,
    AwaitAuth,
    Authenticated,
    Sol,
}

/// Serves one redirection connection (an APF channel to 16994/16995, or any byte stream) until
/// the client ends the session or closes the stream.
pub async fn serve<S>(device: Device, mut stream: S) -> io::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut session = Session::new(device);
    let mut acc = BytesMut::new();
    let mut tmp = [0u8; 4096];
    loop {
        let n = stream.read(&mut tmp).await?;
        if n == 0 {
            return Ok(());
        }
        acc.extend_from_slice(&tmp[..n]);
        loop {
            match session.step(&mut acc) {
                Step::NeedMore => break,
                Step::Reply(out) => stream.write_all(&out).await?,
                Step::StartKvm => {
                    // The session (and its claim on the device's KVM) lives until RFB ends.
                    let rest = acc.split();
                    return crate::kvm::serve(&session.device, &mut stream, rest).await;
                }
                Step::Close(out) => {
                    if !out.is_empty() {
                        stream.write_all(&out).await?;
                    }
                    let _ = stream.shutdown().await;
                    return Ok(());
                }
                Step::Violation(why) => {
                    tracing::debug!(guid = %session.device.guid(), why, "redirection protocol violation: closing");
                    let _ = stream.shutdown().await;
                    return Err(io::Error::new(io::ErrorKind::InvalidData, why));
                }
            }
        }
    }
}

enum Step {
    NeedMore,
    Reply(BytesMut),
    Close(BytesMut),
    /// The viewer asked to start KVM (`40`): RFB takes over the stream.
    StartKvm,
    Violation(&'static str),
}

struct Session {
    device: Device,
    state: State,
    kind: Option<Kind>,
    _active: ActiveGuard,
    /// The nonce of the last digest challenge; a response must use it.
    nonce: Option<String>,
    /// Sequence number of host → console SOL messages.
    seq: u32,
    console: Console,
}

fn le32(b: &[u8]) -> u32 {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]])
}

impl Session {
    fn new(device: Device) -> Session {
        Session {
            device,
            state: State::AwaitStart,
            kind: None,
            _active: ActiveGuard(None),
            nonce: None,
            seq: 0,
            console: Console::default(),
        }
    }

    /// Handles the message at the front of `acc`, consuming it when complete.
    fn step(&mut self, acc: &mut BytesMut) -> Step {
        let Some(&cmd) = acc.first() else {
            return Step::NeedMore;
        };
        if acc.len() > MAX_MESSAGE && !matches!(cmd, 0x28) {
            return Step::Violation("oversized message");
        }
        // Before authentication only session-manager messages are valid (what MPS also enforces).
        let allowed = match self.state {
            State::AwaitStart => matches!(cmd, 0x10 | 0x12),
            State::AwaitAuth => matches!(cmd, 0x12 | 0x13),
            State::Authenticated | State::Sol => true,
        };
        if !allowed {
            return Step::Violation("message not valid in this state");
        }
        match cmd {
            0x10 => self.start_session(acc),
            0x12 => {
                if acc.len() < 4 {
                    return Step::NeedMore;
                }
                acc.advance(4);
                Step::Close(BytesMut::new())
            }
            0x13 => self.authenticate(acc),
            0x20 if self.kind == Some(Kind::Sol) => self.start_sol(acc),
            0x40 if self.kind == Some(Kind::Kvm) && self.state == State::Authenticated => {
                fixed(acc, 8, |_| Step::StartKvm)
            }
            0x22 if self.state == State::Sol => fixed(acc, 8, |m| {
                let mut out = BytesMut::with_capacity(8);
                out.put_slice(&[0x23, 0, 0, 0]);
                out.put_slice(&m[4..8]);
                Step::Reply(out)
            }),
            0x24 => fixed(acc, 8, |m| {
                let mut out = BytesMut::with_capacity(8);
                out.put_slice(&[0x25, 0, 0, 0]);
                out.put_slice(&m[4..8]);
                Step::Reply(out)
            }),
            0x27 => fixed(acc, 14, |_| Step::Reply(BytesMut::new())),
            0x2B => fixed(acc, 8, |_| Step::Reply(BytesMut::new())),
            0x28 if self.state == State::Sol => {
                if acc.len() < 10 {
                    return Step::NeedMore;
                }
                let len = u16::from_le_bytes([acc[8], acc[9]]) as usize;
                if acc.len() < 10 + len {
                    return Step::NeedMore;
                }
                let msg = acc.split_to(10 + len);
                let echo = self.console.input(&msg[10..]);
                Step::Reply(self.sol_data(&echo))
            }
            _ => Step::Violation("unsupported redirection message"),
        }
    }

    fn start_session(&mut self, acc: &mut BytesMut) -> Step {
        if acc.len() < 8 {
            return Step::NeedMore;
        }
        let msg = acc.split_to(8);
        let kind = match &msg[4..8] {
            b"SOL " => Some(Kind::Sol),
            b"IDER" => Some(Kind::Ider),
            b"KVMR" => Some(Kind::Kvm),
            _ => None,
        };
        let status = match kind {
            None => status::TYPE_UNKNOWN,
            Some(k) if !self.enabled(k) => status::UNSUPPORTED,
            Some(k) => {
                let key = (self.device.guid(), k);
                let mut active = active_sessions().lock().unwrap_or_else(|p| p.into_inner());
                if active.insert(key.clone()) {
                    self._active = ActiveGuard(Some(key));
                    status::SUCCESS
                } else {
                    status::BUSY
                }
            }
        };
        let mut out = BytesMut::with_capacity(13);
        out.put_u8(0x11);
        out.put_u8(status);
        if status != status::SUCCESS {
            out.put_slice(&[0, 0]);
            return Step::Close(out);
        }
        out.put_slice(&[
            0,
            0,
            PROTOCOL_VERSION.0,
            PROTOCOL_VERSION.1,
            FIRMWARE_VERSION.0,
            FIRMWARE_VERSION.1,
        ]);
        out.put_u32_le(INTEL_IANA);
        out.put_u8(0); // no OEM-defined data
        self.kind = kind;
        self.state = State::AwaitAuth;
        Step::Reply(out)
    }

    fn enabled(&self, kind: Kind) -> bool {
        match kind {
            Kind::Sol => self.device.sol_enabled(),
            Kind::Ider => self.device.redirection_features().2,
            Kind::Kvm => self
                .device
                .with_state(|s| s.redirection.kvm_enabled() && s.redirection.listener_enabled),
        }
    }

    fn authenticate(&mut self, acc: &mut BytesMut) -> Step {
        if acc.len() < 9 {
            return Step::NeedMore;
        }
        let len = le32(&acc[5..9]) as usize;
        if len > 4096 {
            return Step::Violation("authentication data too long");
        }
        if acc.len() < 9 + len {
            return Step::NeedMore;
        }
        let msg = acc.split_to(9 + len);
        let auth_type = msg[4];
        let data = &msg[9..];
        match auth_type {
            auth::QUERY => auth_reply(
                status::SUCCESS,
                auth::QUERY,
                &[auth::DIGEST_NO_QOP, auth::DIGEST],
            ),
            auth::DIGEST | auth::DIGEST_NO_QOP => self.digest(auth_type, data),
            other => auth_reply(2, other, &[]), // 2 = authentication type not supported
        }
    }

    fn digest(&mut self, auth_type: u8, data: &[u8]) -> Step {
        let Some(fields) = u8_fields(data) else {
            return Step::Violation("malformed digest request");
        };
        let field = |i: usize| fields.get(i).copied().unwrap_or(&[][..]);
        let (user, realm, nonce) = (field(0), field(1), field(2));
        let (uri, cnonce, nc, response, qop) = (field(3), field(4), field(5), field(6), field(7));
        let device_realm = self.device.digest_realm();
        if realm.is_empty()
            || nonce.is_empty()
            || self.nonce.as_deref().map(str::as_bytes) != Some(nonce)
        {
            // Challenge: realm, nonce (and qop for type 4), as AMT does.
            let fresh: String = (0..32)
                .map(|_| char::from(b"0123456789abcdef"[rand::rng().random_range(0..16)]))
                .collect();
            let mut payload = Vec::new();
            push_u8_field(&mut payload, device_realm.as_bytes());
            push_u8_field(&mut payload, fresh.as_bytes());
            if auth_type == auth::DIGEST {
                push_u8_field(&mut payload, b"auth");
            }
            self.nonce = Some(fresh);
            return auth_reply(1, auth_type, &payload);
        }
        let ok = match self.device.admin_ha1() {
            Some(ha1)
                if user == self.device.admin_user().as_bytes()
                    && realm == device_realm.as_bytes() =>
            {
                let ha1 = hex::encode(ha1);
                let ha2 = hex::encode(
                    Md5::new()
                        .chain_update(b"POST:")
                        .chain_update(uri)
                        .finalize(),
                );
                let mut h = Md5::new()
                    .chain_update(ha1)
                    .chain_update(b":")
                    .chain_update(nonce)
                    .chain_update(b":");
                if auth_type == auth::DIGEST {
                    h = h
                        .chain_update(nc)
                        .chain_update(b":")
                        .chain_update(cnonce)
                        .chain_update(b":")
                        .chain_update(qop)
                        .chain_update(b":");
                }
                let expected = hex::encode(h.chain_update(ha2).finalize());
                uri == DIGEST_URI.as_bytes() && expected.as_bytes().eq_ignore_ascii_case(response)
            }
            _ => false,
        };
        if ok {
            self.state = State::Authenticated;
            tracing::debug!(guid = %self.device.guid(), kind = ?self.kind, "redirection session authenticated");
            auth_reply(status::SUCCESS, auth_type, &[])
        } else {
            tracing::debug!(guid = %self.device.guid(), "redirection digest authentication failed");
            self.nonce = None;
            auth_reply(1, auth_type, &[])
        }
    }

    fn start_sol(&mut self, acc: &mut BytesMut) -> Step {
        if acc.len() < 24 {
            return Step::NeedMore;
        }
        let msg = acc.split_to(24);
        let mut out = BytesMut::with_capacity(64);
        out.put_slice(&[0x21, status::SUCCESS, 0, 0]);
        out.put_slice(&msg[4..8]); // sequence number of the request
        // AMT's own settings: max tx buffer, tx timeout, tx overflow timeout, rx timeout, rx flush
        // timeout, heartbeat interval; then 2 reserved bytes and the OEM data length (0).
        for v in [1000u16, 100, 0, 10000, 100, 0] {
            out.put_u16_le(v);
        }
        out.put_slice(&[0, 0, 0]);
        self.state = State::Sol;
        let banner = self.console.start(&self.device.hostname());
        out.extend_from_slice(&self.sol_data(&banner));
        Step::Reply(out)
    }

    /// Host → console data (0x2A), split at the u16 length limit.
    fn sol_data(&mut self, bytes: &[u8]) -> BytesMut {
        let mut out = BytesMut::new();
        for chunk in bytes.chunks(u16::MAX as usize) {
            out.put_slice(&[0x2A, 0, 0, 0]);
            out.put_u32_le(self.seq);
            self.seq = self.seq.wrapping_add(1);
            out.put_u16_le(chunk.len() as u16);
            out.put_slice(chunk);
        }
        out
    }
}

fn fixed(acc: &mut BytesMut, len: usize, f: impl FnOnce(&[u8]) -> Step) -> Step {
    if acc.len() < len {
        return Step::NeedMore;
    }
    let msg = acc.split_to(len);
    f(&msg)
}

fn auth_reply(status: u8, auth_type: u8, data: &[u8]) -> Step {
    let mut out = BytesMut::with_capacity(9 + data.len());
    out.put_slice(&[0x14, status, 0, 0, auth_type]);
    out.put_u32_le(data.len() as u32);
    out.put_slice(data);
    Step::Reply(out)
}

fn push_u8_field(out: &mut Vec<u8>, v: &[u8]) {
    let v = &v[..v.len().min(255)];
    out.push(v.len() as u8);
    out.extend_from_slice(v);
}

/// Splits u8-length-prefixed fields; `None` if a length runs past the end.
fn u8_fields(mut data: &[u8]) -> Option<Vec<&[u8]>> {
    let mut fields = Vec::new();
    while let Some((&len, rest)) = data.split_first() {
        let len = len as usize;
        if rest.len() < len {
            return None;
        }
        fields.push(&rest[..len]);
        data = &rest[len..];
    }
    Some(fields)
}

/// The fake host console: a banner, a `login: ` prompt, echo, a new prompt on Enter.
#[derive(Default)]
struct Console {
    /// The previous byte was CR: a following LF belongs to the same Enter.
    after_cr: bool,
}

const PROMPT: &[u8] = b"login: ";

impl Console {
    fn start(&mut self, hostname: &str) -> Vec<u8> {
        let mut out =
            format!("\r\nopenamt simulated host {hostname} (serial console)\r\n\r\n").into_bytes();
        out.extend_from_slice(PROMPT);
        out
    }

    /// What the console prints for typed bytes.
    fn input(&mut self, typed: &[u8]) -> Vec<u8> {
        let mut out = Vec::with_capacity(typed.len() + 16);
        for &b in typed {
            match b {
                b'\n' if self.after_cr => {}
                b'\r' | b'\n' => {
                    out.extend_from_slice(b"\r\n");
                    out.extend_from_slice(PROMPT);
                }
                0x08 | 0x7F => out.extend_from_slice(b"\x08 \x08"),
                _ => out.push(b),
            }
            self.after_cr = b == b'\r';
        }
        out
    }
}
