//! A console-side client of the AMT redirection protocol (what the web UI + MPS interceptor send).

#![allow(dead_code)]

use md5::{Digest, Md5};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

pub async fn read_n<S: AsyncRead + Unpin>(s: &mut S, n: usize) -> Vec<u8> {
    let mut buf = vec![0u8; n];
    s.read_exact(&mut buf).await.expect("redirection reply");
    buf
}

/// StartRedirectionSession for "SOL " and the 13-byte reply; returns the reply status.
pub async fn start_sol<S: AsyncRead + AsyncWrite + Unpin>(s: &mut S) -> u8 {
    s.write_all(&[0x10, 0, 0, 0, b'S', b'O', b'L', b' '])
        .await
        .unwrap();
    let head = read_n(s, 2).await;
    assert_eq!(head[0], 0x11);
    if head[1] != 0 {
        read_n(s, 2).await;
        return head[1];
    }
    let rest = read_n(s, 11).await;
    let oem = rest[10] as usize;
    read_n(s, oem).await;
    head[1]
}

/// AuthenticateSession reply: (status, type, data).
pub async fn read_auth_reply<S: AsyncRead + Unpin>(s: &mut S) -> (u8, u8, Vec<u8>) {
    let head = read_n(s, 9).await;
    assert_eq!(head[0], 0x14, "AuthenticateSessionReply");
    let len = u32::from_le_bytes([head[5], head[6], head[7], head[8]]) as usize;
    (head[1], head[4], read_n(s, len).await)
}

pub fn u8_fields(data: &[u8]) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    let mut i = 0;
    while i < data.len() {
        let l = data[i] as usize;
        out.push(data[i + 1..i + 1 + l].to_vec());
        i += 1 + l;
    }
    out
}

fn auth_msg(auth_type: u8, fields: &[&[u8]]) -> Vec<u8> {
    let mut data = Vec::new();
    for f in fields {
        data.push(f.len() as u8);
        data.extend_from_slice(f);
    }
    let mut m = vec![0x13, 0, 0, 0, auth_type];
    m.extend_from_slice(&(data.len() as u32).to_le_bytes());
    m.extend_from_slice(&data);
    m
}

/// Query, challenge, digest response (as MPS's interceptor computes it). Returns the final status.
pub async fn digest_login<S: AsyncRead + AsyncWrite + Unpin>(
    s: &mut S,
    user: &str,
    password: &str,
) -> u8 {
    s.write_all(&[0x13, 0, 0, 0, 0, 0, 0, 0, 0]).await.unwrap();
    let (status, t, supported) = read_auth_reply(s).await;
    assert_eq!((status, t), (0, 0));
    assert!(
        supported.contains(&4),
        "digest with qop is offered: {supported:?}"
    );
    // Provoke the challenge: empty realm and nonce.
    s.write_all(&auth_msg(
        4,
        &[
            user.as_bytes(),
            b"",
            b"",
            b"/RedirectionService",
            b"",
            b"",
            b"",
            b"",
        ],
    ))
    .await
    .unwrap();
    let (status, t, data) = read_auth_reply(s).await;
    assert_eq!((status, t), (1, 4), "challenge");
    let f = u8_fields(&data);
    let (realm, nonce, qop) = (
        String::from_utf8(f[0].clone()).unwrap(),
        String::from_utf8(f[1].clone()).unwrap(),
        String::from_utf8(f[2].clone()).unwrap(),
    );
    assert!(realm.starts_with("Digest:"));
    let (cnonce, nc) = ("0a4f113b12", "00000001");
    let md5 = |s: String| hex::encode(Md5::digest(s.as_bytes()));
    let ha1 = md5(format!("{user}:{realm}:{password}"));
    let ha2 = md5("POST:/RedirectionService".to_string());
    let response = md5(format!("{ha1}:{nonce}:{nc}:{cnonce}:{qop}:{ha2}"));
    s.write_all(&auth_msg(
        4,
        &[
            user.as_bytes(),
            realm.as_bytes(),
            nonce.as_bytes(),
            b"/RedirectionService",
            cnonce.as_bytes(),
            nc.as_bytes(),
            response.as_bytes(),
            qop.as_bytes(),
        ],
    ))
    .await
    .unwrap();
    let (status, t, _) = read_auth_reply(s).await;
    assert_eq!(t, 4);
    status
}

/// Start SOL (0x20, the ui-toolkit's settings) and read the 23-byte reply; returns its status.
pub async fn start_sol_redirection<S: AsyncRead + AsyncWrite + Unpin>(s: &mut S) -> u8 {
    let mut m = vec![0x20, 0, 0, 0, 1, 0, 0, 0];
    for v in [10000u16, 100, 0, 10000, 100, 0] {
        m.extend_from_slice(&v.to_le_bytes());
    }
    m.extend_from_slice(&[0, 0, 0, 0]);
    s.write_all(&m).await.unwrap();
    let reply = read_n(s, 23).await;
    assert_eq!(reply[0], 0x21);
    reply[1]
}

/// Reads 0x2A host→console messages until `want` has been seen; returns all text received.
pub async fn read_console_until<S: AsyncRead + Unpin>(s: &mut S, want: &[u8]) -> Vec<u8> {
    let mut text = Vec::new();
    while !text.windows(want.len()).any(|w| w == want) {
        let head = read_n(s, 10).await;
        assert_eq!(head[0], 0x2A, "SOL data from host");
        let len = u16::from_le_bytes([head[8], head[9]]) as usize;
        text.extend(read_n(s, len).await);
    }
    text
}

/// Types bytes at the console (0x28).
pub async fn type_keys<S: AsyncWrite + Unpin>(s: &mut S, seq: u32, keys: &[u8]) {
    let mut m = vec![0x28, 0, 0, 0];
    m.extend_from_slice(&seq.to_le_bytes());
    m.extend_from_slice(&(keys.len() as u16).to_le_bytes());
    m.extend_from_slice(keys);
    s.write_all(&m).await.unwrap();
}
