//! KVM over the redirection service, driven as the ui-toolkit (through MPS) drives AMT: start a
//! `KVMR` session, digest authentication, `40`/`41`, the RFB 3.8 handshake, then updates decoded
//! by an independent decoder written from the ui-toolkit's `Encoding.ts` / `RLEDecoder.ts` /
//! `ImageHelper.ts` and compared with the simulator's framebuffer.

mod support;
mod wsman_support;

use std::time::Duration;

use sim::device::{ControlMode, Device, DeviceSpec, Provisioned};
use sim::kvm::screen::{HEIGHT, WIDTH, colour};
use support::redir_client::*;
use tokio::io::{AsyncReadExt, AsyncWriteExt, DuplexStream};

const ADMIN_PASSWORD: &str = "Adm1n!Pass";
const W: usize = WIDTH as usize;
const H: usize = HEIGHT as usize;

fn device(index: u64, consent_required: bool) -> Device {
    let device = Device::new(DeviceSpec {
        provisioned: Some(Provisioned {
            mode: ControlMode::Acm,
            admin_password: ADMIN_PASSWORD.into(),
            cira: None,
        }),
        ..DeviceSpec::fresh(0x4B564D, index)
    });
    if !consent_required {
        device.with_state(|s| s.redirection.opt_in_required = 0);
    }
    device
}

/// StartRedirectionSession "KVMR" as the ui-toolkit sends it; returns the whole reply.
async fn start_kvm(s: &mut DuplexStream) -> Vec<u8> {
    s.write_all(&[0x10, 0x01, 0x00, 0x00, b'K', b'V', b'M', b'R'])
        .await
        .unwrap();
    let mut reply = read_n(s, 4).await;
    if reply[1] == 0 {
        reply.extend(read_n(s, 9).await);
        let oem = reply[12] as usize;
        reply.extend(read_n(s, oem).await);
    }
    reply
}

/// A session up to the point where the viewer sends `40` (KVM start).
async fn authenticated(device: &Device) -> DuplexStream {
    let (mut client, server) = tokio::io::duplex(1 << 20);
    tokio::spawn(sim::redirection::serve(device.clone(), server));
    assert_eq!(start_kvm(&mut client).await[1], 0, "KVM session accepted");
    assert_eq!(
        digest_login(&mut client, "admin", ADMIN_PASSWORD).await,
        0,
        "digest accepted"
    );
    client
}

const KVM_START: [u8; 8] = [0x40, 0, 0, 0, 0, 0, 0, 0];

/// `40` → `41`, then the RFB handshake as the ui-toolkit's state processors run it.
/// Returns ServerInit (24 bytes + name).
async fn rfb_handshake(s: &mut DuplexStream) -> Vec<u8> {
    s.write_all(&KVM_START).await.unwrap();
    assert_eq!(read_n(s, 8).await, [0x41, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(read_n(s, 12).await, b"RFB 003.008\n");
    s.write_all(b"RFB 003.008\n").await.unwrap();
    assert_eq!(read_n(s, 2).await, [1, 1], "one security type: None");
    s.write_all(&[1]).await.unwrap();
    assert_eq!(read_n(s, 4).await, [0, 0, 0, 0], "SecurityResult OK");
    s.write_all(&[1]).await.unwrap(); // ClientInit: shared
    let mut init = read_n(s, 24).await;
    let name_len = u32::from_be_bytes([init[20], init[21], init[22], init[23]]) as usize;
    init.extend(read_n(s, name_len).await);
    init
}

async fn kvm_session(device: &Device) -> (DuplexStream, Viewer) {
    let mut s = authenticated(device).await;
    let init = rfb_handshake(&mut s).await;
    let w = u16::from_be_bytes([init[0], init[1]]) as usize;
    let h = u16::from_be_bytes([init[2], init[3]]) as usize;
    (s, Viewer::new(w, h, 2))
}

/// SetPixelFormat bytes exactly as the ui-toolkit's ServerInit.ts sends them for 8 bits (RGB332).
const SET_RGB332: [u8; 20] = [0, 0, 0, 0, 8, 8, 0, 1, 0, 7, 0, 7, 0, 3, 5, 2, 0, 0, 0, 0];
/// SetPixelFormat RGB565 little-endian, AMT's native format.
const SET_RGB565: [u8; 20] = [
    0, 0, 0, 0, 16, 16, 0, 1, 0, 31, 0, 63, 0, 31, 11, 5, 0, 0, 0, 0,
];

fn set_encodings(list: &[i32]) -> Vec<u8> {
    let mut m = vec![2, 0];
    m.extend_from_slice(&(list.len() as u16).to_be_bytes());
    for e in list {
        m.extend_from_slice(&e.to_be_bytes());
    }
    m
}

fn update_request(incremental: bool) -> Vec<u8> {
    let mut m = vec![3, u8::from(incremental), 0, 0, 0, 0];
    m.extend_from_slice(&WIDTH.to_be_bytes());
    m.extend_from_slice(&HEIGHT.to_be_bytes());
    m
}

fn key(down: bool, sym: u32) -> Vec<u8> {
    let mut m = vec![4, u8::from(down), 0, 0];
    m.extend_from_slice(&sym.to_be_bytes());
    m
}

/// The screen as a viewer holds it: client pixel values, decoded the ui-toolkit's way.
struct Viewer {
    w: usize,
    h: usize,
    /// Bytes per pixel: 1 (RGB332) or 2 (RGB565), the ui-toolkit's `bpp`.
    bpp: usize,
    pixels: Vec<u32>,
}

#[derive(Debug, Clone, Copy)]
struct Rect {
    x: usize,
    y: usize,
    w: usize,
    h: usize,
    encoding: i32,
    /// Bytes of the rectangle on the wire, header included.
    wire: usize,
}

impl Viewer {
    fn new(w: usize, h: usize, bpp: usize) -> Viewer {
        Viewer {
            w,
            h,
            bpp,
            pixels: vec![u32::MAX; w * h],
        }
    }

    fn pixel(&self, data: &[u8], at: &mut usize) -> u32 {
        // ImageHelper.setPixel: low byte first, second byte << 8 when bpp is 2.
        let mut v = data[*at] as u32;
        if self.bpp == 2 {
            v |= (data[*at + 1] as u32) << 8;
        }
        *at += self.bpp;
        v
    }

    /// Reads one FramebufferUpdate and paints it; returns its rectangles.
    async fn read_update(&mut self, s: &mut DuplexStream) -> Vec<Rect> {
        let head = read_n(s, 4).await;
        assert_eq!(head[0], 0, "FramebufferUpdate");
        let count = u16::from_be_bytes([head[2], head[3]]) as usize;
        assert!(count > 0, "the ui-toolkit cannot take an empty update");
        let mut rects = Vec::new();
        for _ in 0..count {
            let r = read_n(s, 12).await;
            let be16 = |i: usize| u16::from_be_bytes([r[i], r[i + 1]]) as usize;
            let (x, y, w, h) = (be16(0), be16(2), be16(4), be16(6));
            let encoding = i32::from_be_bytes([r[8], r[9], r[10], r[11]]);
            assert!(
                (1..=64).contains(&w) && (1..=64).contains(&h),
                "tile {w}x{h}"
            );
            assert!(x + w <= self.w && y + h <= self.h);
            let tile: Vec<u32>;
            let wire;
            match encoding {
                0 => {
                    let data = read_n(s, w * h * self.bpp).await;
                    let mut at = 0;
                    tile = (0..w * h).map(|_| self.pixel(&data, &mut at)).collect();
                    wire = 12 + data.len();
                }
                16 => {
                    let l = read_n(s, 4).await;
                    let len = u32::from_be_bytes([l[0], l[1], l[2], l[3]]) as usize;
                    let data = read_n(s, len).await;
                    // Encoding.ts: an uncompressed deflate block, LEN (LE) = datalen - 5.
                    assert!(len > 5);
                    assert_eq!(data[0], 0);
                    let stored = u16::from_le_bytes([data[1], data[2]]) as usize;
                    assert_eq!(stored, len - 5);
                    assert_eq!(u16::from_le_bytes([data[3], data[4]]), !(stored as u16));
                    tile = self.rle_tile(&data[5..], w * h);
                    wire = 16 + len;
                }
                other => panic!("unexpected encoding {other}"),
            }
            for row in 0..h {
                let start = (y + row) * self.w + x;
                self.pixels[start..start + w].copy_from_slice(&tile[row * w..row * w + w]);
            }
            rects.push(Rect {
                x,
                y,
                w,
                h,
                encoding,
                wire,
            });
        }
        rects
    }

    /// RLEDecoder.ts's subencodings.
    fn rle_tile(&self, data: &[u8], n: usize) -> Vec<u32> {
        let mut at = 1;
        let sub = data[0];
        let mut out = Vec::with_capacity(n);
        let run_length = |at: &mut usize| {
            let mut len = 1;
            loop {
                let b = data[*at];
                *at += 1;
                len += b as usize;
                if b != 255 {
                    return len;
                }
            }
        };
        match sub {
            0 => (0..n).for_each(|_| out.push(self.pixel(data, &mut at))),
            1 => {
                let v = self.pixel(data, &mut at);
                out.resize(n, v);
            }
            2..=16 => {
                let palette: Vec<u32> = (0..sub).map(|_| self.pixel(data, &mut at)).collect();
                let bits: i32 = match sub {
                    2 => 1,
                    3 | 4 => 2,
                    _ => 4,
                };
                while out.len() < n {
                    let b = data[at];
                    at += 1;
                    let mut shift = 8 - bits;
                    while shift >= 0 && out.len() < n {
                        out.push(palette[((b >> shift) & ((1u8 << bits) - 1)) as usize]);
                        shift -= bits;
                    }
                }
            }
            128 => {
                while out.len() < n {
                    let v = self.pixel(data, &mut at);
                    let len = run_length(&mut at);
                    out.extend(std::iter::repeat_n(v, len));
                }
            }
            130.. => {
                let palette: Vec<u32> = (0..sub - 128).map(|_| self.pixel(data, &mut at)).collect();
                while out.len() < n {
                    let index = data[at];
                    at += 1;
                    let len = if index > 127 { run_length(&mut at) } else { 1 };
                    out.extend(std::iter::repeat_n(palette[(index % 128) as usize], len));
                }
            }
            other => panic!("subencoding {other} is not one the ui-toolkit decodes"),
        }
        assert_eq!(out.len(), n, "runs fill the tile exactly");
        assert_eq!(at, data.len(), "tile data used up exactly");
        out
    }
}

/// 0x00RRGGBB in RGB565 / RGB332, each channel scaled to its maximum and rounded.
fn rgb565(c: u32) -> u32 {
    let (r, g, b) = ((c >> 16) & 0xff, (c >> 8) & 0xff, c & 0xff);
    (((r * 31 + 127) / 255) << 11) | (((g * 63 + 127) / 255) << 5) | ((b * 31 + 127) / 255)
}

fn rgb332(c: u32) -> u32 {
    let (r, g, b) = ((c >> 16) & 0xff, (c >> 8) & 0xff, c & 0xff);
    (((r * 7 + 127) / 255) << 5) | (((g * 7 + 127) / 255) << 2) | ((b * 3 + 127) / 255)
}

/// The viewer holds exactly the device's screen.
fn assert_matches_screen(viewer: &Viewer, device: &Device, convert: fn(u32) -> u32) {
    let fb = sim::kvm::framebuffer(device);
    let mut wrong = 0;
    for y in 0..H {
        for x in 0..W {
            if viewer.pixels[y * W + x] != convert(fb.pixel(x as u16, y as u16)) {
                wrong += 1;
            }
        }
    }
    assert_eq!(
        wrong, 0,
        "pixels that differ from the simulator's framebuffer"
    );
}

async fn nothing_within(s: &mut DuplexStream, wait: Duration) -> bool {
    let mut b = [0u8; 1];
    tokio::time::timeout(wait, s.read(&mut b)).await.is_err()
}

#[tokio::test]
async fn handshake_bytes_follow_the_ui_toolkit_layouts() {
    let device = device(1, false);
    let (mut s, server) = tokio::io::duplex(1 << 20);
    tokio::spawn(sim::redirection::serve(device.clone(), server));
    // StartRedirectionSessionReply: 11 status 00 00, protocol 1.0, firmware 2.0, IANA 343 (LE),
    // OEM length 0 (spec/mps.md §7.3; the ui-toolkit reads status at [1], OEM length at [12]).
    assert_eq!(
        start_kvm(&mut s).await,
        [0x11, 0, 0, 0, 1, 0, 2, 0, 0x57, 0x01, 0, 0, 0]
    );
    assert_eq!(digest_login(&mut s, "admin", ADMIN_PASSWORD).await, 0);
    // AMTRedirector.ts sends 40 00 00 00 00 00 00 00 after a successful authentication and waits
    // for 0x41 (8 bytes); the rest of the stream goes to the RFB state processors.
    s.write_all(&KVM_START).await.unwrap();
    let mut expected = vec![0x41, 0, 0, 0, 0, 0, 0, 0];
    expected.extend_from_slice(b"RFB 003.008\n"); // HandshakeState.ts: 12 bytes
    assert_eq!(read_n(&mut s, 20).await, expected);
    s.write_all(b"RFB 003.008\n").await.unwrap();
    // SecurityOptions.ts: count + types; it answers 1 (None).
    assert_eq!(read_n(&mut s, 2).await, [0x01, 0x01]);
    s.write_all(&[0x01]).await.unwrap();
    // SecurityResponse.ts: u32 0, then the shared flag.
    assert_eq!(read_n(&mut s, 4).await, [0, 0, 0, 0]);
    s.write_all(&[0x01]).await.unwrap();
    // ServerInit.ts: width, height (BE), pixel format (RFC 6143 §7.4: 16 bpp, depth 16,
    // little-endian, true colour, maxes 31/63/31, shifts 11/5/0), name length (BE), name.
    let mut init = vec![0x07, 0x80, 0x04, 0x38];
    init.extend_from_slice(&[16, 16, 0, 1, 0, 31, 0, 63, 0, 31, 11, 5, 0, 0, 0, 0]);
    init.extend_from_slice(&[0, 0, 0, 16]);
    init.extend_from_slice(b"Intel(r) AMT KVM");
    assert_eq!(read_n(&mut s, init.len()).await, init);
    // ServerInit.ts then sends SetEncodings [16, 0, 1092, -223] and a full incremental request:
    // the first answer is the whole screen.
    s.write_all(&set_encodings(&[16, 0, 1092, -223]))
        .await
        .unwrap();
    s.write_all(&update_request(true)).await.unwrap();
    let mut viewer = Viewer::new(W, H, 2);
    let rects = viewer.read_update(&mut s).await;
    assert_eq!(rects.len(), 30 * 17, "64x64 tiles over 1920x1080");
    assert!(rects.iter().all(|r| r.encoding == 16));
    assert_matches_screen(&viewer, &device, rgb565);
}

#[tokio::test]
async fn raw_then_rle_full_updates_match_the_framebuffer_in_16_and_8_bits() {
    let device = device(2, false);
    let (mut s, mut viewer) = kvm_session(&device).await;
    s.write_all(&SET_RGB565).await.unwrap();
    s.write_all(&set_encodings(&[0])).await.unwrap();
    s.write_all(&update_request(false)).await.unwrap();
    let raw = viewer.read_update(&mut s).await;
    assert!(raw.iter().all(|r| r.encoding == 0));
    assert_matches_screen(&viewer, &device, rgb565);
    let text = sim::kvm::page(&device).text();
    assert!(
        text.iter().any(|t| t.contains(&device.hostname())),
        "console shows the host name: {text:?}"
    );

    s.write_all(&set_encodings(&[16, 0])).await.unwrap();
    s.write_all(&update_request(false)).await.unwrap();
    let mut rle_viewer = Viewer::new(W, H, 2);
    let rle = rle_viewer.read_update(&mut s).await;
    assert!(rle.iter().all(|r| r.encoding == 16));
    assert_matches_screen(&rle_viewer, &device, rgb565);
    let bytes = |rects: &[Rect]| rects.iter().map(|r| r.wire).sum::<usize>();
    assert!(
        bytes(&rle) * 20 < bytes(&raw),
        "RLE {} bytes vs raw {}",
        bytes(&rle),
        bytes(&raw)
    );

    // 8-bit mode: the ui-toolkit's SetPixelFormat, then its usual incremental request; the new
    // format repaints everything.
    s.write_all(&SET_RGB332).await.unwrap();
    s.write_all(&update_request(true)).await.unwrap();
    let mut viewer8 = Viewer::new(W, H, 1);
    assert_eq!(viewer8.read_update(&mut s).await.len(), 30 * 17);
    assert_matches_screen(&viewer8, &device, rgb332);
}

#[tokio::test]
async fn a_typed_key_sends_only_the_changed_tiles() {
    let device = device(3, false);
    let (mut s, mut viewer) = kvm_session(&device).await;
    s.write_all(&set_encodings(&[16, 0])).await.unwrap();
    s.write_all(&update_request(false)).await.unwrap();
    viewer.read_update(&mut s).await;
    let before = viewer.pixels.clone();

    // Nothing changed: an incremental request waits.
    s.write_all(&update_request(true)).await.unwrap();
    assert!(nothing_within(&mut s, Duration::from_millis(400)).await);

    s.write_all(&key(true, 'a' as u32)).await.unwrap();
    s.write_all(&key(false, 'a' as u32)).await.unwrap();
    let rects = viewer.read_update(&mut s).await;
    // The prompt is text row 2 (pixels 32..48): only the tiles of the first tile row change.
    assert!(!rects.is_empty() && rects.len() <= 2, "{rects:?}");
    assert!(rects.iter().all(|r| r.y == 0 && r.h == 64));
    assert_matches_screen(&viewer, &device, rgb565);
    let changed: Vec<(usize, usize)> = (0..H)
        .flat_map(|y| (0..W).map(move |x| (x, y)))
        .filter(|&(x, y)| viewer.pixels[y * W + x] != before[y * W + x])
        .collect();
    assert!(!changed.is_empty());
    assert!(
        changed.iter().all(|&(_, y)| (32..48).contains(&y)),
        "only the prompt row"
    );
    let prompt = format!("{} login: a_", device.hostname());
    assert_eq!(sim::kvm::page(&device).text().last(), Some(&prompt));

    // The pointer is drawn where the viewer puts it.
    let mut pointer = vec![5, 0];
    pointer.extend_from_slice(&500u16.to_be_bytes());
    pointer.extend_from_slice(&600u16.to_be_bytes());
    s.write_all(&pointer).await.unwrap();
    s.write_all(&update_request(true)).await.unwrap();
    let rects = viewer.read_update(&mut s).await;
    assert!(
        rects
            .iter()
            .all(|r| r.x <= 500 && r.x + r.w > 500 && r.y == 576)
    );
    assert_eq!(viewer.pixels[600 * W + 500], rgb565(colour::BLACK));
    assert_eq!(viewer.pixels[603 * W + 501], rgb565(colour::WHITE));
    assert_matches_screen(&viewer, &device, rgb565);
}

#[tokio::test]
async fn second_kvm_session_is_busy() {
    let device = device(4, false);
    let (_first, _) = kvm_session(&device).await;
    let (mut second, server) = tokio::io::duplex(4096);
    tokio::spawn(sim::redirection::serve(device.clone(), server));
    assert_eq!(start_kvm(&mut second).await, [0x11, 2, 0, 0], "BUSY");
    // SOL is another kind: still free.
    let (mut sol, server) = tokio::io::duplex(4096);
    tokio::spawn(sim::redirection::serve(device.clone(), server));
    assert_eq!(start_sol(&mut sol).await, 0);
}

#[tokio::test]
async fn kvm_disabled_is_unsupported() {
    let device = device(5, false);
    device.with_state(|s| s.redirection.kvm_state = 3);
    let (mut s, server) = tokio::io::duplex(4096);
    tokio::spawn(sim::redirection::serve(device.clone(), server));
    assert_eq!(start_kvm(&mut s).await, [0x11, 3, 0, 0]);
}

#[tokio::test]
async fn power_off_goes_black_and_the_session_stays() {
    let device = device(6, false);
    let (mut s, mut viewer) = kvm_session(&device).await;
    s.write_all(&set_encodings(&[16])).await.unwrap();
    s.write_all(&update_request(false)).await.unwrap();
    viewer.read_update(&mut s).await;

    // A waiting incremental request sees the power-off (a change from elsewhere).
    s.write_all(&update_request(true)).await.unwrap();
    device.set_power_state(8);
    viewer.read_update(&mut s).await;
    assert!(viewer.pixels.iter().all(|&p| p == 0), "no signal: black");

    // Power on again: the BIOS page, on the same session.
    s.write_all(&update_request(true)).await.unwrap();
    device.set_power_state(2);
    viewer.read_update(&mut s).await;
    assert_eq!(
        viewer.pixels[W * 500 + 10],
        rgb565(colour::BLUE),
        "BIOS page"
    );
    assert_matches_screen(&viewer, &device, rgb565);
}

#[tokio::test]
async fn ctrl_alt_del_reboots_into_the_bios_page() {
    let device = device(7, false);
    let (mut s, mut viewer) = kvm_session(&device).await;
    s.write_all(&update_request(false)).await.unwrap();
    viewer.read_update(&mut s).await;
    assert_eq!(viewer.pixels[W * 500 + 10], 0, "console background");
    // CommsHelper.sendCad.
    for (down, sym) in [
        (true, 0xffe3),
        (true, 0xffe9),
        (true, 0xffff),
        (false, 0xffff),
        (false, 0xffe9),
        (false, 0xffe3),
    ] {
        s.write_all(&key(down, sym)).await.unwrap();
    }
    s.write_all(&update_request(true)).await.unwrap();
    viewer.read_update(&mut s).await;
    assert_eq!(viewer.pixels[W * 500 + 10], rgb565(colour::BLUE));
    let text = sim::kvm::page(&device).text();
    assert!(text.iter().any(|t| t.contains("BIOS")), "{text:?}");
}

#[tokio::test]
async fn rfb_waits_for_user_consent_and_shows_the_code_on_the_host_screen() {
    let device = device(8, true);
    let mut s = authenticated(&device).await;
    s.write_all(&KVM_START).await.unwrap();
    assert!(
        nothing_within(&mut s, Duration::from_millis(400)).await,
        "no 0x41 and no RFB before consent"
    );
    let (state, code) =
        device.with_state(|s| (s.redirection.opt_in_state, s.redirection.opt_in_code));
    assert_eq!(
        state, 2,
        "the KVM session started the consent flow: code displayed"
    );
    let code = code.expect("a consent code");
    let text = sim::kvm::page(&device).text();
    assert!(
        text.iter().any(|t| t.trim() == format!("{code:06}")),
        "code on the host screen: {text:?}"
    );
    // The sprite sits in the middle of the host's screen.
    let fb = sim::kvm::framebuffer(&device);
    assert_eq!(fb.pixel(WIDTH / 2, HEIGHT / 2 - 40), colour::DARK_GREY);

    // The operator sends the code over WS-Man, as the console does.
    let mut admin = wsman_support::Client::new(&device, "admin", ADMIN_PASSWORD);
    let output = admin
        .invoke(&wsman::messages::ips::send_opt_in_code(code))
        .await;
    assert_eq!(output["ReturnValue"], 0);
    assert_eq!(read_n(&mut s, 8).await, [0x41, 0, 0, 0, 0, 0, 0, 0]);
    assert_eq!(read_n(&mut s, 12).await, b"RFB 003.008\n");
    assert_eq!(
        device.with_state(|s| s.redirection.opt_in_state),
        4,
        "in session"
    );
    drop(s);
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        device.with_state(|s| s.redirection.opt_in_state),
        3,
        "consent stays for the next session"
    );
}

#[tokio::test]
async fn three_wrong_consent_codes_close_the_session() {
    let device = device(9, true);
    let mut s = authenticated(&device).await;
    s.write_all(&KVM_START).await.unwrap();
    tokio::time::sleep(Duration::from_millis(150)).await;
    let code = device.with_state(|s| s.redirection.opt_in_code).unwrap();
    let mut admin = wsman_support::Client::new(&device, "admin", ADMIN_PASSWORD);
    for _ in 0..3 {
        admin
            .invoke(&wsman::messages::ips::send_opt_in_code(code ^ 1))
            .await;
    }
    let mut rest = Vec::new();
    tokio::time::timeout(Duration::from_secs(2), s.read_to_end(&mut rest))
        .await
        .expect("closed")
        .unwrap();
    assert!(rest.is_empty(), "nothing of the screen: {rest:?}");
}

#[tokio::test]
async fn bad_rfb_input_closes_the_session_without_panic() {
    for bad in [
        vec![0x99], // unknown message
        vec![
            0, 0, 0, 0, 32, 24, 0, 1, 0, 255, 0, 255, 0, 255, 16, 8, 0, 0, 0, 0,
        ], // 32 bpp
        vec![6, 0, 0, 0, 0xff, 0xff, 0xff, 0xff], // 4 GiB cut text
    ] {
        let device = device(10, false);
        let (mut client, server) = tokio::io::duplex(1 << 20);
        let service = tokio::spawn(sim::redirection::serve(device.clone(), server));
        start_kvm(&mut client).await;
        digest_login(&mut client, "admin", ADMIN_PASSWORD).await;
        rfb_handshake(&mut client).await;
        client.write_all(&bad).await.unwrap();
        let result = tokio::time::timeout(Duration::from_secs(2), service)
            .await
            .expect("session ends")
            .expect("no panic");
        assert!(result.is_err(), "{bad:?} is a protocol violation");
    }
    // A bad RFB version right after 0x41.
    let device = device(11, false);
    let (mut client, server) = tokio::io::duplex(1 << 20);
    let service = tokio::spawn(sim::redirection::serve(device.clone(), server));
    start_kvm(&mut client).await;
    digest_login(&mut client, "admin", ADMIN_PASSWORD).await;
    client.write_all(&KVM_START).await.unwrap();
    read_n(&mut client, 20).await;
    client.write_all(b"HTTP/1.1 200").await.unwrap();
    assert!(service.await.unwrap().is_err());
}
