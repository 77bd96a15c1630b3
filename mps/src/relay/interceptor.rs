//! The redirection interceptor (spec §7.3): injects the HTTP-digest authentication of AMT's
//! redirection protocol server-side, so the browser never knows the AMT password.
//!
//! Until AMT accepts an authentication, both directions are parsed message by message (multi-byte
//! lengths little-endian):
//! - browser → AMT: StartRedirectionSession (0x10, 8 bytes) and EndRedirectionSession (0x12,
//!   4 bytes) pass; AuthenticateSession (0x13) of type 4 (digest) is *replaced* — by a request
//!   with empty realm and nonce that provokes AMT's challenge, or, once the challenge is known, by
//!   a digest computed with the AMT password; other types (0 = query) pass unchanged;
//! - AMT → browser: StartRedirectionSessionReply (0x11) and AuthenticateSessionReply (0x14)
//!   pass; a digest challenge (type 4, status 1) is remembered; success of a non-query type
//!   switches both directions to pass-through for the rest of the session.
//!
//! Anything else before that is a protocol error: the relay closes the session rather than
//! relaying a stream it can no longer follow.

use bytes::BytesMut;
use md5::{Digest, Md5};
use rand::Rng;

const START_SESSION: u8 = 0x10;
const START_SESSION_REPLY: u8 = 0x11;
const END_SESSION: u8 = 0x12;
const AUTHENTICATE: u8 = 0x13;
const AUTHENTICATE_REPLY: u8 = 0x14;

const AUTH_QUERY: u8 = 0;
const AUTH_DIGEST: u8 = 4;
const STATUS_SUCCESS: u8 = 0;
const STATUS_FAILURE: u8 = 1;

const DIGEST_URI: &str = "/RedirectionService";
/// The user the redirection digest is made for (the reference's hard-coded AMT user).
pub const AMT_USER: &str = "admin";
/// Authentication messages are a few hundred bytes; a larger length is an attack or garbage.
const MAX_AUTH_DATA: usize = 16 * 1024;

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum InterceptError {
    #[error("browser sent redirection message 0x{0:02x} before authentication")]
    UnexpectedFromBrowser(u8),
    #[error("AMT sent redirection message 0x{0:02x} before authentication")]
    UnexpectedFromAmt(u8),
    #[error("authentication message announces {0} bytes of data")]
    TooLong(usize),
}

/// AMT's digest challenge.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Challenge {
    realm: Vec<u8>,
    nonce: Vec<u8>,
    qop: Vec<u8>,
}

pub struct Interceptor {
    user: String,
    password: String,
    cnonce: String,
    nonce_count: u32,
    challenge: Option<Challenge>,
    /// AMT accepted an authentication: everything passes from now on, both ways.
    direct: bool,
    from_browser: BytesMut,
    from_amt: BytesMut,
}

impl std::fmt::Debug for Interceptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Interceptor")
            .field("user", &self.user)
            .field("password", &"<redacted>")
            .field("direct", &self.direct)
            .finish_non_exhaustive()
    }
}

fn le32(b: &[u8]) -> usize {
    u32::from_le_bytes([b[0], b[1], b[2], b[3]]) as usize
}

fn hex_md5(parts: &[&[u8]]) -> String {
    let mut h = Md5::new();
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            h.update(b":");
        }
        h.update(p);
    }
    hex::encode(h.finalize())
}

fn push_field(out: &mut Vec<u8>, v: &[u8]) {
    let v = &v[..v.len().min(255)];
    out.push(v.len() as u8);
    out.extend_from_slice(v);
}

/// u8-length-prefixed fields; `None` if a length runs past the end.
fn fields(mut data: &[u8]) -> Option<Vec<&[u8]>> {
    let mut out = Vec::new();
    while let Some((&len, rest)) = data.split_first() {
        let len = len as usize;
        if rest.len() < len {
            return None;
        }
        out.push(&rest[..len]);
        data = &rest[len..];
    }
    Some(out)
}

impl Interceptor {
    pub fn new(user: &str, password: &str) -> Self {
        let mut rng = rand::rng();
        let cnonce = (0..10)
            .map(|_| char::from(b"0123456789abcdef"[rng.random_range(0..16)]))
            .collect();
        Self {
            user: user.to_owned(),
            password: password.to_owned(),
            cnonce,
            nonce_count: 1,
            challenge: None,
            direct: false,
            from_browser: BytesMut::new(),
            from_amt: BytesMut::new(),
        }
    }

    /// True once AMT accepted the session's authentication.
    pub fn is_direct(&self) -> bool {
        self.direct
    }

    /// What to send to AMT for `data` from the browser (possibly nothing yet).
    pub fn from_browser(&mut self, data: &[u8]) -> Result<Vec<u8>, InterceptError> {
        self.from_browser.extend_from_slice(data);
        let mut out = Vec::new();
        loop {
            if self.direct {
                out.extend_from_slice(&self.from_browser.split());
                return Ok(out);
            }
            let acc = &self.from_browser;
            let Some(&cmd) = acc.first() else {
                return Ok(out);
            };
            let whole = match cmd {
                START_SESSION => 8,
                END_SESSION => 4,
                AUTHENTICATE => {
                    if acc.len() < 9 {
                        return Ok(out);
                    }
                    let len = le32(&acc[5..9]);
                    if len > MAX_AUTH_DATA {
                        return Err(InterceptError::TooLong(len));
                    }
                    9 + len
                }
                other => return Err(InterceptError::UnexpectedFromBrowser(other)),
            };
            if acc.len() < whole {
                return Ok(out);
            }
            let msg = self.from_browser.split_to(whole);
            if cmd == AUTHENTICATE && msg[4] == AUTH_DIGEST {
                // The browser's digest (made without the password) never reaches AMT.
                out.extend_from_slice(&self.digest_request());
            } else {
                out.extend_from_slice(&msg);
            }
        }
    }

    /// What to send to the browser for `data` from AMT (possibly nothing yet).
    pub fn from_amt(&mut self, data: &[u8]) -> Result<Vec<u8>, InterceptError> {
        self.from_amt.extend_from_slice(data);
        let mut out = Vec::new();
        loop {
            if self.direct {
                out.extend_from_slice(&self.from_amt.split());
                return Ok(out);
            }
            let acc = &self.from_amt;
            let Some(&cmd) = acc.first() else {
                return Ok(out);
            };
            let whole = match cmd {
                START_SESSION_REPLY => {
                    if acc.len() < 4 {
                        return Ok(out);
                    }
                    if acc[1] != STATUS_SUCCESS {
                        // A refusal is 4 bytes; AMT closes the channel after it.
                        4
                    } else if acc.len() < 13 {
                        return Ok(out);
                    } else {
                        13 + acc[12] as usize
                    }
                }
                AUTHENTICATE_REPLY => {
                    if acc.len() < 9 {
                        return Ok(out);
                    }
                    let len = le32(&acc[5..9]);
                    if len > MAX_AUTH_DATA {
                        return Err(InterceptError::TooLong(len));
                    }
                    9 + len
                }
                other => return Err(InterceptError::UnexpectedFromAmt(other)),
            };
            if acc.len() < whole {
                return Ok(out);
            }
            let msg = self.from_amt.split_to(whole);
            if cmd == AUTHENTICATE_REPLY {
                let (status, auth_type) = (msg[1], msg[4]);
                if auth_type == AUTH_DIGEST && status == STATUS_FAILURE {
                    self.challenge = fields(&msg[9..]).and_then(|f| match f.as_slice() {
                        [realm, nonce, qop, ..] => Some(Challenge {
                            realm: realm.to_vec(),
                            nonce: nonce.to_vec(),
                            qop: qop.to_vec(),
                        }),
                        [realm, nonce] => Some(Challenge {
                            realm: realm.to_vec(),
                            nonce: nonce.to_vec(),
                            qop: Vec::new(),
                        }),
                        _ => None,
                    });
                } else if auth_type != AUTH_QUERY && status == STATUS_SUCCESS {
                    self.direct = true;
                }
            }
            out.extend_from_slice(&msg);
        }
    }

    /// The AuthenticateSession (type 4) that replaces the browser's: empty realm and nonce to
    /// provoke a challenge, or the digest computed with the AMT password once one is known.
    fn digest_request(&mut self) -> Vec<u8> {
        let mut data = Vec::with_capacity(160);
        let user = self.user.as_bytes();
        match &self.challenge {
            None => {
                push_field(&mut data, user);
                push_field(&mut data, b"");
                push_field(&mut data, b"");
                push_field(&mut data, DIGEST_URI.as_bytes());
                for _ in 0..4 {
                    push_field(&mut data, b"");
                }
            }
            Some(c) => {
                let nc = format!("{:08x}", self.nonce_count);
                self.nonce_count = self.nonce_count.wrapping_add(1);
                let ha1 = hex_md5(&[user, &c.realm, self.password.as_bytes()]);
                let ha2 = hex_md5(&[b"POST", DIGEST_URI.as_bytes()]);
                let response = if c.qop.is_empty() {
                    hex_md5(&[ha1.as_bytes(), &c.nonce, ha2.as_bytes()])
                } else {
                    hex_md5(&[
                        ha1.as_bytes(),
                        &c.nonce,
                        nc.as_bytes(),
                        self.cnonce.as_bytes(),
                        &c.qop,
                        ha2.as_bytes(),
                    ])
                };
                push_field(&mut data, user);
                push_field(&mut data, &c.realm);
                push_field(&mut data, &c.nonce);
                push_field(&mut data, DIGEST_URI.as_bytes());
                push_field(&mut data, self.cnonce.as_bytes());
                push_field(&mut data, nc.as_bytes());
                push_field(&mut data, response.as_bytes());
                push_field(&mut data, &c.qop);
            }
        }
        let mut msg = vec![AUTHENTICATE, 0, 0, 0, AUTH_DIGEST];
        msg.extend_from_slice(&(data.len() as u32).to_le_bytes());
        msg.extend_from_slice(&data);
        msg
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn auth(auth_type: u8, data: &[u8]) -> Vec<u8> {
        let mut m = vec![AUTHENTICATE, 0, 0, 0, auth_type];
        m.extend_from_slice(&(data.len() as u32).to_le_bytes());
        m.extend_from_slice(data);
        m
    }

    fn auth_reply(status: u8, auth_type: u8, data: &[u8]) -> Vec<u8> {
        let mut m = vec![AUTHENTICATE_REPLY, status, 0, 0, auth_type];
        m.extend_from_slice(&(data.len() as u32).to_le_bytes());
        m.extend_from_slice(data);
        m
    }

    const START_SOL: [u8; 8] = [0x10, 0, 0, 0, b'S', b'O', b'L', b' '];
    /// AMT's success reply with 2 bytes of OEM data.
    const START_REPLY: [u8; 15] = [0x11, 0, 0, 0, 1, 0, 2, 0, 0x57, 1, 0, 0, 2, 0xAA, 0xBB];

    #[test]
    fn session_messages_pass_and_fragments_wait() {
        let mut i = Interceptor::new("admin", "P@ssw0rd");
        assert_eq!(i.from_browser(&START_SOL[..3]).unwrap(), b"");
        assert_eq!(i.from_browser(&START_SOL[3..]).unwrap(), START_SOL);
        assert_eq!(i.from_amt(&START_REPLY[..13]).unwrap(), b"");
        assert_eq!(i.from_amt(&START_REPLY[13..]).unwrap(), START_REPLY);
        // A refusal (BUSY) is 4 bytes.
        assert_eq!(i.from_amt(&[0x11, 2, 0, 0]).unwrap(), [0x11, 2, 0, 0]);
        // Query authentication passes unchanged.
        let query = auth(AUTH_QUERY, b"");
        assert_eq!(i.from_browser(&query).unwrap(), query);
        let end = [0x12, 0, 0, 0];
        assert_eq!(i.from_browser(&end).unwrap(), end);
    }

    #[test]
    fn the_browser_digest_is_replaced_by_one_made_with_the_amt_password() {
        let mut i = Interceptor::new("admin", "P@ssw0rd");
        // First attempt (whatever the browser sends): a blank request provokes the challenge.
        let sent = i.from_browser(&auth(AUTH_DIGEST, b"\x05admin")).unwrap();
        let mut blank = vec![0x13, 0, 0, 0, 4];
        blank.extend_from_slice(&(5u32 + 19 + 8).to_le_bytes());
        blank.extend_from_slice(b"\x05admin\x00\x00\x13/RedirectionService\x00\x00\x00\x00");
        assert_eq!(sent, blank);

        // AMT's challenge passes to the browser and is remembered.
        let mut challenge = Vec::new();
        push_field(&mut challenge, b"Digest:A3829B3827DE4D33D4449B366831FD01");
        push_field(&mut challenge, b"fe3a9d05b1ab4f4d8f0b2a7e0c6d1f23");
        push_field(&mut challenge, b"auth");
        let reply = auth_reply(STATUS_FAILURE, AUTH_DIGEST, &challenge);
        assert_eq!(i.from_amt(&reply).unwrap(), reply);

        // The browser retries with a digest of a password it does not know.
        let mut wrong = Vec::new();
        for f in [
            &b"admin"[..],
            b"Digest:A3829B3827DE4D33D4449B366831FD01",
            b"fe3a9d05b1ab4f4d8f0b2a7e0c6d1f23",
            b"/RedirectionService",
            b"0123456789",
            b"00000001",
            b"00000000000000000000000000000000",
            b"auth",
        ] {
            push_field(&mut wrong, f);
        }
        let sent = i.from_browser(&auth(AUTH_DIGEST, &wrong)).unwrap();
        assert_eq!(&sent[..5], &[0x13, 0, 0, 0, 4]);
        assert_eq!(le32(&sent[5..9]), sent.len() - 9);
        let f = fields(&sent[9..]).unwrap();
        assert_eq!(f.len(), 8);
        assert_eq!(f[0], b"admin");
        assert_eq!(f[1], b"Digest:A3829B3827DE4D33D4449B366831FD01");
        assert_eq!(f[3], b"/RedirectionService");
        assert_eq!(f[4].len(), 10, "server cnonce: 10 hex characters");
        assert_eq!(f[5], b"00000001");
        assert_eq!(f[7], b"auth");
        // RFC 2617 with qop=auth, computed independently of the code above.
        let ha1 = hex::encode(Md5::digest(
            b"admin:Digest:A3829B3827DE4D33D4449B366831FD01:P@ssw0rd",
        ));
        let ha2 = hex::encode(Md5::digest(b"POST:/RedirectionService"));
        let expected = hex::encode(Md5::digest(
            format!(
                "{ha1}:fe3a9d05b1ab4f4d8f0b2a7e0c6d1f23:00000001:{}:auth:{ha2}",
                String::from_utf8_lossy(f[4])
            )
            .as_bytes(),
        ));
        assert_eq!(f[6], expected.as_bytes());
        assert!(
            !sent.windows(8).any(|w| w == b"P@ssw0rd"),
            "the password itself never travels"
        );

        // The next digest counts up.
        let again = i.from_browser(&auth(AUTH_DIGEST, &wrong)).unwrap();
        assert_eq!(fields(&again[9..]).unwrap()[5], b"00000002");

        // AMT accepts: both directions become transparent.
        assert!(!i.is_direct());
        let ok = auth_reply(STATUS_SUCCESS, AUTH_DIGEST, b"");
        assert_eq!(i.from_amt(&ok).unwrap(), ok);
        assert!(i.is_direct());
        let sol = [0x20, 0, 0, 0, 1, 0, 0, 0, 0xFF];
        assert_eq!(i.from_browser(&sol).unwrap(), sol);
        assert_eq!(i.from_amt(&[0x2A, 1, 2, 3]).unwrap(), [0x2A, 1, 2, 3]);
    }

    #[test]
    fn a_query_success_does_not_open_the_stream() {
        let mut i = Interceptor::new("admin", "pw");
        let ok = auth_reply(STATUS_SUCCESS, AUTH_QUERY, &[3, 4]);
        assert_eq!(i.from_amt(&ok).unwrap(), ok);
        assert!(!i.is_direct());
        assert_eq!(
            i.from_browser(&[0x28, 0, 0, 0]),
            Err(InterceptError::UnexpectedFromBrowser(0x28))
        );
    }

    #[test]
    fn garbage_before_authentication_is_an_error_never_a_panic() {
        let mut i = Interceptor::new("admin", "pw");
        assert_eq!(
            i.from_amt(&[0x2A, 0, 0]),
            Err(InterceptError::UnexpectedFromAmt(0x2A))
        );
        let mut i = Interceptor::new("admin", "pw");
        let huge = [0x13, 0, 0, 0, 4, 0xFF, 0xFF, 0xFF, 0x7F];
        assert!(matches!(
            i.from_browser(&huge),
            Err(InterceptError::TooLong(_))
        ));
        // A challenge whose fields run past the end is not remembered: the next attempt is
        // another blank request.
        let mut i = Interceptor::new("admin", "pw");
        let bad = auth_reply(STATUS_FAILURE, AUTH_DIGEST, &[40, b'x']);
        assert_eq!(i.from_amt(&bad).unwrap(), bad);
        let sent = i.from_browser(&auth(AUTH_DIGEST, b"")).unwrap();
        assert_eq!(fields(&sent[9..]).unwrap()[1], b"");
        // Random bytes in random pieces, both directions: errors, never a panic.
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(7);
        for _ in 0..2000 {
            let mut i = Interceptor::new("admin", "pw");
            for _ in 0..4 {
                let len = rng.random_range(0..40);
                let mut data: Vec<u8> = (0..len).map(|_| rng.random()).collect();
                if let Some(first) = data.first_mut() {
                    // Mostly valid command bytes, so the parsers get past the first check.
                    *first = [0x10, 0x11, 0x12, 0x13, 0x14, rng.random()][rng.random_range(0..6)];
                }
                let _ = i.from_browser(&data);
                let _ = i.from_amt(&data);
            }
        }
    }

    #[test]
    fn output_does_not_depend_on_how_the_bytes_are_split() {
        let mut stream = START_SOL.to_vec();
        stream.extend(auth(AUTH_QUERY, b""));
        stream.extend(auth(AUTH_DIGEST, b"\x05admin"));
        stream.extend([0x12, 0, 0, 0]);
        let whole = Interceptor::new("admin", "pw")
            .from_browser(&stream)
            .unwrap();
        for split in 1..stream.len() {
            let mut i = Interceptor::new("admin", "pw");
            let mut out = i.from_browser(&stream[..split]).unwrap();
            out.extend(i.from_browser(&stream[split..]).unwrap());
            assert_eq!(out, whole, "split at {split}");
        }
        let mut amt = START_REPLY.to_vec();
        amt.extend(auth_reply(STATUS_SUCCESS, AUTH_QUERY, &[3, 4]));
        for split in 1..amt.len() {
            let mut i = Interceptor::new("admin", "pw");
            let mut out = i.from_amt(&amt[..split]).unwrap();
            out.extend(i.from_amt(&amt[split..]).unwrap());
            assert_eq!(out, amt, "split at {split}");
        }
    }
}
