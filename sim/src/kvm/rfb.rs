//! The RFB server of AMT's KVM, on the redirection stream after `40`/`41`.
//!
//! Byte layouts (RFC 6143; what the ui-toolkit's `RFBStateProcessors` expect of AMT):
//! - server: `RFB 003.008\n`; client: its version (12 bytes; 3.3, 3.7 and 3.8 are served);
//! - 3.7/3.8: server `01 01` (one security type, None: authentication already happened in the
//!   redirection layer); client `01`; 3.8: server SecurityResult `00 00 00 00`. 3.3: server
//!   `00 00 00 01` (None);
//! - client ClientInit (shared flag, 1 byte); server ServerInit: `width(2) height(2)
//!   pixel-format(16) name-length(4) name`, all big-endian; format RGB565 little-endian;
//! - client messages: 0 SetPixelFormat (20), 2 SetEncodings (4 + 4n), 3 FramebufferUpdateRequest
//!   (10), 4 KeyEvent (8), 5 PointerEvent (6), 6 ClientCutText (8 + n; ignored, this includes the
//!   ui-toolkit's `\0KvmDataChannel\0` keep-alive);
//! - server FramebufferUpdate: `00 00 count(2)` + rectangles ([`super::encode`]). An update is
//!   never empty (the ui-toolkit cannot take zero rectangles): an incremental request with nothing
//!   new waits until something changes, as RFB allows.

use std::io;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::encode::{self, PixelFormat, Rect, TILE};
use super::screen::{self, Framebuffer, HEIGHT, Page, WIDTH};
use crate::device::Device;
use crate::device::platform::power_state;

/// AMT's answer to the viewer's `40 00 00 00 00 00 00 00`. The ui-toolkit and MeshCommander only
/// check the type byte and take 8 bytes; the rest mirrors the request.
pub const KVM_START_REPLY: [u8; 8] = [0x41, 0, 0, 0, 0, 0, 0, 0];
pub const SERVER_VERSION: &[u8; 12] = b"RFB 003.008\n";
/// The desktop name in ServerInit.
pub const DESKTOP_NAME: &str = "Intel(r) AMT KVM";
/// Largest client message buffered (ClientCutText carries a u32 length).
const MAX_INPUT: usize = 1 << 20;
/// How often a waiting incremental request looks for a changed screen (power, consent, boot).
const TICK: Duration = Duration::from_millis(100);
/// A shadow pixel the viewer does not have yet (never a real 0x00RRGGBB colour).
const UNKNOWN: u32 = 0xFF00_0000;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Version,
    Security,
    ClientInit,
    Normal,
}

/// Serves KVM on `stream` (after the `40` message; `acc` holds what followed it) until the viewer
/// closes. Waits for user consent first when the device requires it.
pub async fn serve<S>(device: &Device, stream: &mut S, mut acc: BytesMut) -> io::Result<()>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let Some(_consent) = super::consent::obtain(device, stream, &mut acc).await? else {
        let _ = stream.shutdown().await;
        return Ok(());
    };
    tracing::debug!(guid = %device.guid(), "KVM session starts");
    let mut hello = KVM_START_REPLY.to_vec();
    hello.extend_from_slice(SERVER_VERSION);
    stream.write_all(&hello).await?;

    let mut rfb = Rfb::new(device.clone());
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let mut out = Vec::new();
        if let Err(why) = rfb.handle(&mut acc, &mut out) {
            tracing::debug!(guid = %device.guid(), why, "KVM protocol violation: closing");
            if !out.is_empty() {
                let _ = stream.write_all(&out).await;
            }
            let _ = stream.shutdown().await;
            return Err(io::Error::new(io::ErrorKind::InvalidData, why));
        }
        rfb.refresh(&mut out);
        if !out.is_empty() {
            stream.write_all(&out).await?;
        }
        tokio::select! {
            n = stream.read(&mut buf) => {
                let n = n?;
                if n == 0 {
                    tracing::debug!(guid = %device.guid(), "KVM session ends");
                    return Ok(());
                }
                acc.extend_from_slice(&buf[..n]);
                if acc.len() > MAX_INPUT {
                    let _ = stream.shutdown().await;
                    return Err(io::Error::new(io::ErrorKind::InvalidData, "oversized RFB message"));
                }
            }
            _ = tick.tick() => {}
        }
    }
}

struct Rfb {
    device: Device,
    phase: Phase,
    minor: u8,
    format: PixelFormat,
    encoding: i32,
    page: Option<Page>,
    screen: Option<Framebuffer>,
    /// What the viewer has, as far as we sent it.
    shadow: Option<Framebuffer>,
    /// An incremental request waiting for a change.
    pending: Option<Rect>,
}

fn be16(b: &[u8]) -> u16 {
    u16::from_be_bytes([b[0], b[1]])
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

impl Rfb {
    fn new(device: Device) -> Rfb {
        Rfb {
            device,
            phase: Phase::Version,
            minor: 8,
            format: PixelFormat::RGB565,
            encoding: encode::RAW,
            page: None,
            screen: None,
            shadow: None,
            pending: None,
        }
    }

    /// Handles every complete message in `acc`.
    fn handle(&mut self, acc: &mut BytesMut, out: &mut Vec<u8>) -> Result<(), &'static str> {
        while self.message(acc, out)? {}
        Ok(())
    }

    /// One message; `Ok(false)` when more bytes are needed.
    fn message(&mut self, acc: &mut BytesMut, out: &mut Vec<u8>) -> Result<bool, &'static str> {
        let Some(&first) = acc.first() else {
            return Ok(false);
        };
        let need = match self.phase {
            Phase::Version => 12,
            Phase::Security | Phase::ClientInit => 1,
            Phase::Normal => match first {
                0 => 20,
                2 if acc.len() >= 4 => 4 + 4 * be16(&acc[2..4]) as usize,
                3 => 10,
                4 => 8,
                5 => 6,
                6 if acc.len() >= 8 => {
                    let len = be32(&acc[4..8]) as usize;
                    if len > MAX_INPUT - 8 {
                        return Err("ClientCutText too long");
                    }
                    8 + len
                }
                2 | 6 => return Ok(false),
                _ => return Err("unknown RFB client message"),
            },
        };
        if acc.len() < need {
            return Ok(false);
        }
        let msg = acc.split_to(need);
        match self.phase {
            Phase::Version => self.version(&msg, out)?,
            Phase::Security => {
                if msg[0] != 1 {
                    if self.minor >= 8 {
                        let reason = b"security type not offered";
                        out.extend_from_slice(&1u32.to_be_bytes());
                        out.extend_from_slice(&(reason.len() as u32).to_be_bytes());
                        out.extend_from_slice(reason);
                    }
                    return Err("security type not offered");
                }
                if self.minor >= 8 {
                    out.extend_from_slice(&0u32.to_be_bytes()); // SecurityResult OK
                }
                self.phase = Phase::ClientInit;
            }
            Phase::ClientInit => {
                out.extend_from_slice(&WIDTH.to_be_bytes());
                out.extend_from_slice(&HEIGHT.to_be_bytes());
                out.extend_from_slice(&PixelFormat::RGB565.to_bytes());
                out.extend_from_slice(&(DESKTOP_NAME.len() as u32).to_be_bytes());
                out.extend_from_slice(DESKTOP_NAME.as_bytes());
                self.phase = Phase::Normal;
            }
            Phase::Normal => self.client_message(&msg, out)?,
        }
        Ok(true)
    }

    fn version(&mut self, msg: &[u8], out: &mut Vec<u8>) -> Result<(), &'static str> {
        let text = std::str::from_utf8(msg).map_err(|_| "bad RFB version")?;
        let minor = text
            .strip_prefix("RFB 003.")
            .and_then(|t| t.strip_suffix('\n'))
            .and_then(|t| t.parse::<u16>().ok())
            .ok_or("unsupported RFB version")?;
        self.minor = match minor {
            3..=6 => 3,
            7 => 7,
            _ => 8,
        };
        if self.minor == 3 {
            out.extend_from_slice(&1u32.to_be_bytes()); // the server picks None
            self.phase = Phase::ClientInit;
        } else {
            out.extend_from_slice(&[1, 1]); // one type: None
            self.phase = Phase::Security;
        }
        Ok(())
    }

    fn client_message(&mut self, m: &[u8], out: &mut Vec<u8>) -> Result<(), &'static str> {
        let now = Instant::now();
        match m[0] {
            0 => {
                self.format = PixelFormat::parse(&m[4..20])?;
                self.shadow = None; // the next update repaints everything in the new format
                tracing::debug!(format = ?self.format, "KVM pixel format");
            }
            2 => {
                let chosen = m[4..]
                    .chunks_exact(4)
                    .map(|c| be32(c) as i32)
                    .find(|&e| e == encode::RAW || e == encode::ZRLE);
                self.encoding = chosen.unwrap_or(encode::RAW);
            }
            3 => {
                let rect = Rect {
                    x: be16(&m[2..]),
                    y: be16(&m[4..]),
                    w: be16(&m[6..]),
                    h: be16(&m[8..]),
                };
                if m[1] != 0 {
                    self.pending = Some(rect);
                } else {
                    self.redraw_if_changed();
                    self.update(rect, false, out);
                }
            }
            4 => {
                let on = self.device.power_state() == power_state::ON;
                self.device
                    .kvm_host()
                    .key(m[1] != 0, be32(&m[4..]), on, now);
            }
            5 => {
                let (x, y) = (be16(&m[2..]), be16(&m[4..]));
                self.device
                    .kvm_host()
                    .pointer(x.min(WIDTH - 1), y.min(HEIGHT - 1));
            }
            _ => {} // 6 ClientCutText: ignored
        }
        Ok(())
    }

    /// Answers a waiting incremental request if the screen changed.
    fn refresh(&mut self, out: &mut Vec<u8>) {
        let Some(rect) = self.pending else {
            return;
        };
        self.redraw_if_changed();
        if self.update(rect, true, out) {
            self.pending = None;
        }
    }

    fn redraw_if_changed(&mut self) {
        let page = super::page(&self.device);
        if self.page.as_ref() != Some(&page) || self.screen.is_none() {
            self.screen = Some(screen::draw(&page));
            self.page = Some(page);
        }
    }

    /// Writes a FramebufferUpdate for `rect` (only tiles the viewer lacks when `incremental`);
    /// `false` when there was nothing to send.
    fn update(&mut self, rect: Rect, incremental: bool, out: &mut Vec<u8>) -> bool {
        let Some(screen) = self.screen.as_ref() else {
            return false;
        };
        let x0 = rect.x.min(WIDTH);
        let y0 = rect.y.min(HEIGHT);
        let x1 = (rect.x as u32 + rect.w as u32).min(WIDTH as u32) as u16;
        let y1 = (rect.y as u32 + rect.h as u32).min(HEIGHT as u32) as u16;
        let mut tiles = Vec::new();
        let mut ty = y0 / TILE * TILE;
        while ty < y1 {
            let mut tx = x0 / TILE * TILE;
            while tx < x1 {
                let (x, y) = (tx.max(x0), ty.max(y0));
                let t = Rect {
                    x,
                    y,
                    w: (tx + TILE).min(x1) - x,
                    h: (ty + TILE).min(y1) - y,
                };
                let changed = match &self.shadow {
                    Some(shadow) if incremental => screen.differs(shadow, t.x, t.y, t.w, t.h),
                    _ => true,
                };
                if changed {
                    tiles.push(t);
                }
                tx += TILE;
            }
            ty += TILE;
        }
        if tiles.is_empty() {
            return false;
        }
        out.extend_from_slice(&[0, 0]);
        out.extend_from_slice(&(tiles.len() as u16).to_be_bytes()); // at most 510 tiles
        let shadow = self
            .shadow
            .get_or_insert_with(|| Framebuffer::new(WIDTH, HEIGHT, UNKNOWN));
        let mut pixels = Vec::with_capacity(TILE as usize * TILE as usize);
        for t in tiles {
            pixels.clear();
            for y in t.y..t.y + t.h {
                pixels.extend(
                    screen
                        .row(t.x, y, t.w)
                        .iter()
                        .map(|&c| self.format.value(c)),
                );
            }
            if self.encoding == encode::ZRLE {
                encode::zrle(t, &pixels, self.format, out);
            } else {
                encode::raw(t, &pixels, self.format, out);
            }
            shadow.copy_rect(screen, t.x, t.y, t.w, t.h);
        }
        true
    }
}
