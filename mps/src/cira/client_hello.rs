//! What a device offers in its TLS ClientHello, read before the handshake so the listener can pick
//! the TLS stack that serves it: rustls for what modern firmware offers, OpenSSL for AMT 11/12's
//! TLS 1.0/1.1 and static-RSA suites (RFC 5246 §7.4.1.2, RFC 8446 §4.1.2 and §4.2.1).

use std::fmt;

/// The protocol versions and cipher suites of one ClientHello.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offer {
    /// The highest version offered: `supported_versions` when present, else `client_version`
    /// (0x0301 TLS 1.0 … 0x0304 TLS 1.3).
    pub max_version: u16,
    pub suites: Vec<u16>,
}

/// TLS 1.3 suites and the TLS 1.2 ECDHE-RSA AEAD suites: what rustls serves with the MPS's RSA
/// certificate.
const RUSTLS_TLS13: [u16; 3] = [0x1301, 0x1302, 0x1303];
const RUSTLS_TLS12_RSA: [u16; 3] = [0xC02F, 0xC030, 0xCCA8];

/// The longest ClientHello record we wait for (a TLS record holds at most 16 KiB).
pub const MAX_RECORD: usize = 5 + 16_384;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Peek {
    /// More bytes are needed; at least this many in total.
    NeedMore(usize),
    Hello(Offer),
    /// Not a TLS handshake record holding a ClientHello (an HTTP probe, SSLv2, garbage).
    NotHello,
}

impl Offer {
    /// Whether rustls can serve this device with an RSA certificate.
    pub fn fits_rustls(&self) -> bool {
        let offers = |set: &[u16]| self.suites.iter().any(|s| set.contains(s));
        (self.max_version >= 0x0304 && offers(&RUSTLS_TLS13))
            || (self.max_version >= 0x0303 && offers(&RUSTLS_TLS12_RSA))
    }

    /// Whether the device can speak TLS 1.2 or later at all.
    pub fn modern(&self) -> bool {
        self.max_version >= 0x0303
    }
}

/// A protocol version as people write it.
pub fn version_name(v: u16) -> &'static str {
    match v {
        0x0300 => "SSLv3",
        0x0301 => "TLSv1",
        0x0302 => "TLSv1.1",
        0x0303 => "TLSv1.2",
        0x0304 => "TLSv1.3",
        _ => "unknown",
    }
}

impl fmt::Display for Offer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "up to {}, suites", version_name(self.max_version))?;
        for s in &self.suites {
            write!(f, " {s:04X}")?;
        }
        Ok(())
    }
}

/// Reads the ClientHello at the start of `bytes` (what `peek` saw of the connection so far).
pub fn peek(bytes: &[u8]) -> Peek {
    if bytes.len() < 5 {
        return Peek::NeedMore(5);
    }
    // Record header: handshake (22), version, length.
    if bytes[0] != 22 || bytes[1] != 3 {
        return Peek::NotHello;
    }
    let record_len = usize::from(u16::from_be_bytes([bytes[3], bytes[4]]));
    if record_len == 0 || 5 + record_len > MAX_RECORD {
        return Peek::NotHello;
    }
    if bytes.len() < 5 + record_len {
        return Peek::NeedMore(5 + record_len);
    }
    match parse_hello(&bytes[5..5 + record_len]) {
        Some(offer) => Peek::Hello(offer),
        None => Peek::NotHello,
    }
}

/// A cursor over a byte slice whose reads fail instead of panicking.
struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }
    fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_be_bytes([b[0], b[1]]))
    }
    fn u24(&mut self) -> Option<usize> {
        self.take(3)
            .map(|b| usize::from(b[0]) << 16 | usize::from(b[1]) << 8 | usize::from(b[2]))
    }
    /// A vector with a length prefix of `width` bytes.
    fn vec(&mut self, width: usize) -> Option<&'a [u8]> {
        let len = match width {
            1 => usize::from(self.u8()?),
            _ => usize::from(self.u16()?),
        };
        self.take(len)
    }
}

/// The handshake message inside the first record. A ClientHello split over several records is
/// read from its first part, which holds the version and the suites in any real client.
fn parse_hello(record: &[u8]) -> Option<Offer> {
    let mut r = Reader(record);
    if r.u8()? != 1 {
        return None;
    }
    let _length = r.u24()?;
    let client_version = r.u16()?;
    r.take(32)?; // random
    r.vec(1)?; // session id
    let suites_bytes = r.vec(2)?;
    if suites_bytes.len() % 2 != 0 {
        return None;
    }
    let suites = suites_bytes
        .chunks_exact(2)
        .map(|c| u16::from_be_bytes([c[0], c[1]]))
        .collect();
    let mut max_version = client_version;
    // Compression methods and extensions may be cut off by a split record: what was read stands.
    if r.vec(1).is_some()
        && let Some(extensions) = r.vec(2)
    {
        let mut e = Reader(extensions);
        while let (Some(kind), Some(body)) = (e.u16(), e.vec(2)) {
            if kind == 0x002B {
                let mut v = Reader(body);
                if let Some(list) = v.vec(1) {
                    max_version = list
                        .chunks_exact(2)
                        .map(|c| u16::from_be_bytes([c[0], c[1]]))
                        // GREASE values (0x?A?A) are not versions.
                        .filter(|v| v & 0x0F0F != 0x0A0A)
                        .max()
                        .unwrap_or(client_version);
                }
            }
        }
    }
    Some(Offer {
        max_version,
        suites,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A ClientHello record: `version`, `suites`, and a supported_versions extension when given.
    fn hello(version: u16, suites: &[u16], supported: Option<&[u16]>) -> Vec<u8> {
        let mut body = Vec::new();
        body.extend_from_slice(&version.to_be_bytes());
        body.extend_from_slice(&[7; 32]);
        body.push(0);
        body.extend_from_slice(&((suites.len() * 2) as u16).to_be_bytes());
        for s in suites {
            body.extend_from_slice(&s.to_be_bytes());
        }
        body.extend_from_slice(&[1, 0]);
        let mut extensions = Vec::new();
        if let Some(versions) = supported {
            extensions.extend_from_slice(&0x002Bu16.to_be_bytes());
            extensions.extend_from_slice(&((1 + versions.len() * 2) as u16).to_be_bytes());
            extensions.push((versions.len() * 2) as u8);
            for v in versions {
                extensions.extend_from_slice(&v.to_be_bytes());
            }
        }
        body.extend_from_slice(&(extensions.len() as u16).to_be_bytes());
        body.extend_from_slice(&extensions);
        let mut handshake = vec![1];
        handshake.extend_from_slice(&(body.len() as u32).to_be_bytes()[1..]);
        handshake.extend_from_slice(&body);
        let mut record = vec![22, 3, 1];
        record.extend_from_slice(&(handshake.len() as u16).to_be_bytes());
        record.extend_from_slice(&handshake);
        record
    }

    #[test]
    fn amt11_static_rsa_on_tls12_goes_to_openssl() {
        // TLS_RSA_WITH_AES_128_GCM_SHA256, _AES_128_CBC_SHA, _AES_256_CBC_SHA (DMT Console's set).
        let bytes = hello(0x0303, &[0x009C, 0x002F, 0x0035], None);
        let Peek::Hello(offer) = peek(&bytes) else {
            panic!("not read")
        };
        assert_eq!(offer.max_version, 0x0303);
        assert_eq!(offer.suites, [0x009C, 0x002F, 0x0035]);
        assert!(!offer.fits_rustls());
        assert_eq!(offer.to_string(), "up to TLSv1.2, suites 009C 002F 0035");
    }

    #[test]
    fn tls10_goes_to_openssl_and_is_not_modern() {
        let bytes = hello(0x0301, &[0xC02F, 0x002F], None);
        let Peek::Hello(offer) = peek(&bytes) else {
            panic!("not read")
        };
        assert!(!offer.fits_rustls());
        assert!(!offer.modern());
    }

    #[test]
    fn ecdhe_gcm_and_tls13_go_to_rustls() {
        let tls12 = hello(0x0303, &[0x009C, 0xC02F], None);
        assert!(matches!(peek(&tls12), Peek::Hello(o) if o.fits_rustls()));
        // TLS 1.3 says so in supported_versions; GREASE is skipped.
        let tls13 = hello(0x0303, &[0x1301], Some(&[0x1A1A, 0x0304, 0x0303]));
        let Peek::Hello(offer) = peek(&tls13) else {
            panic!("not read")
        };
        assert_eq!(offer.max_version, 0x0304);
        assert!(offer.fits_rustls());
    }

    #[test]
    fn partial_records_ask_for_the_rest_and_other_bytes_are_not_hellos() {
        let bytes = hello(0x0303, &[0x002F], None);
        assert_eq!(peek(&bytes[..3]), Peek::NeedMore(5));
        assert_eq!(peek(&bytes[..10]), Peek::NeedMore(bytes.len()));
        assert_eq!(peek(b"GET / HTTP/1.1\r\n"), Peek::NotHello);
        assert_eq!(peek(&[22, 3, 1, 0, 0]), Peek::NotHello);
        assert_eq!(peek(&[22, 3, 1, 0xFF, 0xFF]), Peek::NotHello);
        // A handshake record that is not a ClientHello.
        let mut other = bytes.clone();
        other[5] = 2;
        assert_eq!(peek(&other), Peek::NotHello);
    }

    #[test]
    fn truncated_or_hostile_hellos_never_panic() {
        let bytes = hello(0x0303, &[0xC02F, 0x1301], Some(&[0x0304]));
        for cut in 0..bytes.len() {
            let mut b = bytes[..cut].to_vec();
            if b.len() >= 5 {
                // Claim the record is exactly what is there.
                let len = (b.len() - 5) as u16;
                b[3..5].copy_from_slice(&len.to_be_bytes());
            }
            let _ = peek(&b);
        }
        for seed in 0u32..2_000 {
            let mut b = bytes.clone();
            let i = (seed as usize * 7919) % b.len();
            b[i] ^= (seed % 251) as u8 + 1;
            let _ = peek(&b);
        }
    }
}
