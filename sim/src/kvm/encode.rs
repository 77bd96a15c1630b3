//! Pixel formats and the rectangle encodings AMT's KVM server sends.
//!
//! Layouts (RFC 6143 §7.6.1 rectangles; encodings as the ui-toolkit's `Encoding.ts` and
//! `RLEDecoder.ts` decode them):
//! - every rectangle is one tile of at most 64x64 (the ui-toolkit refuses larger ones for
//!   encodings below 17): `x(2) y(2) w(2) h(2) encoding(4)`, big-endian;
//! - raw (0): `w*h` pixels;
//! - ZRLE (16) as AMT sends it: `length(4, BE)`, then one uncompressed deflate block
//!   `00 LEN(2, LE) NLEN(2, LE)` (`length = LEN + 5`), then the ZRLE tile: a subencoding byte and
//!   its data. Subencodings: 0 raw, 1 solid, 2..=16 packed palette (1, 2 or 4 bits per pixel, MSB
//!   first), 128 plain RLE, 130..=255 palette RLE (`index | 0x80` then the run length - 1 as
//!   bytes of 255 and a remainder). Pixels inside a tile are whole pixels of the client format
//!   (1 or 2 bytes), not the 3-byte CPIXELs of 32-bit ZRLE.

/// RFB encodings.
pub const RAW: i32 = 0;
pub const ZRLE: i32 = 16;
/// Tile size AMT uses and the ui-toolkit requires.
pub const TILE: u16 = 64;

/// An RFB PIXEL_FORMAT (RFC 6143 §7.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PixelFormat {
    pub bits_per_pixel: u8,
    pub depth: u8,
    pub big_endian: bool,
    pub true_colour: bool,
    pub red_max: u16,
    pub green_max: u16,
    pub blue_max: u16,
    pub red_shift: u8,
    pub green_shift: u8,
    pub blue_shift: u8,
}

impl PixelFormat {
    /// AMT's native format: 16-bit RGB565, little-endian (the ui-toolkit's 16-bit mode sends no
    /// SetPixelFormat and decodes pixels as `lo + hi << 8`, red = bits 11..16).
    pub const RGB565: PixelFormat = PixelFormat {
        bits_per_pixel: 16,
        depth: 16,
        big_endian: false,
        true_colour: true,
        red_max: 31,
        green_max: 63,
        blue_max: 31,
        red_shift: 11,
        green_shift: 5,
        blue_shift: 0,
    };

    /// 8-bit RGB332, what the ui-toolkit's 8-bit mode asks for with SetPixelFormat.
    pub const RGB332: PixelFormat = PixelFormat {
        bits_per_pixel: 8,
        depth: 8,
        big_endian: false,
        true_colour: true,
        red_max: 7,
        green_max: 7,
        blue_max: 3,
        red_shift: 5,
        green_shift: 2,
        blue_shift: 0,
    };

    /// The 16 wire bytes.
    pub fn to_bytes(self) -> [u8; 16] {
        let mut b = [0u8; 16];
        b[0] = self.bits_per_pixel;
        b[1] = self.depth;
        b[2] = u8::from(self.big_endian);
        b[3] = u8::from(self.true_colour);
        b[4..6].copy_from_slice(&self.red_max.to_be_bytes());
        b[6..8].copy_from_slice(&self.green_max.to_be_bytes());
        b[8..10].copy_from_slice(&self.blue_max.to_be_bytes());
        b[10] = self.red_shift;
        b[11] = self.green_shift;
        b[12] = self.blue_shift;
        b
    }

    /// Parses a client's format. AMT serves 16- and 8-bit true colour only (anything else is
    /// "Viewer requested an invalid pixel format" and the session closes).
    pub fn parse(b: &[u8]) -> Result<PixelFormat, &'static str> {
        if b.len() < 16 {
            return Err("short pixel format");
        }
        let be16 = |i: usize| u16::from_be_bytes([b[i], b[i + 1]]);
        let f = PixelFormat {
            bits_per_pixel: b[0],
            depth: b[1],
            big_endian: b[2] != 0,
            true_colour: b[3] != 0,
            red_max: be16(4),
            green_max: be16(6),
            blue_max: be16(8),
            red_shift: b[10],
            green_shift: b[11],
            blue_shift: b[12],
        };
        let bits = f.bits_per_pixel as u32;
        let fits = |max: u16, shift: u8| {
            max > 0 && (shift as u32) < bits && ((max as u32) << shift) < (1u32 << bits)
        };
        if !f.true_colour
            || !matches!(f.bits_per_pixel, 8 | 16)
            || !fits(f.red_max, f.red_shift)
            || !fits(f.green_max, f.green_shift)
            || !fits(f.blue_max, f.blue_shift)
        {
            return Err("invalid pixel format");
        }
        Ok(f)
    }

    pub fn bytes_per_pixel(self) -> usize {
        self.bits_per_pixel as usize / 8
    }

    /// The pixel value of an 0x00RRGGBB colour (each channel scaled to its max, rounded).
    pub fn value(self, rgb: u32) -> u32 {
        let scale = |c: u32, max: u16| (c * max as u32 + 127) / 255;
        scale((rgb >> 16) & 0xff, self.red_max) << self.red_shift
            | scale((rgb >> 8) & 0xff, self.green_max) << self.green_shift
            | scale(rgb & 0xff, self.blue_max) << self.blue_shift
    }

    fn put(self, v: u32, out: &mut Vec<u8>) {
        match (self.bits_per_pixel, self.big_endian) {
            (8, _) => out.push(v as u8),
            (_, false) => out.extend_from_slice(&(v as u16).to_le_bytes()),
            (_, true) => out.extend_from_slice(&(v as u16).to_be_bytes()),
        }
    }
}

/// A rectangle of the screen.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rect {
    pub x: u16,
    pub y: u16,
    pub w: u16,
    pub h: u16,
}

fn header(r: Rect, encoding: i32, out: &mut Vec<u8>) {
    for v in [r.x, r.y, r.w, r.h] {
        out.extend_from_slice(&v.to_be_bytes());
    }
    out.extend_from_slice(&encoding.to_be_bytes());
}

/// One raw rectangle.
pub fn raw(r: Rect, pixels: &[u32], format: PixelFormat, out: &mut Vec<u8>) {
    header(r, RAW, out);
    for &v in pixels {
        format.put(v, out);
    }
}

/// One ZRLE rectangle in AMT's uncompressed-block form. `pixels` are client pixel values.
pub fn zrle(r: Rect, pixels: &[u32], format: PixelFormat, out: &mut Vec<u8>) {
    let tile = tile_data(pixels, r.w as usize, format);
    header(r, ZRLE, out);
    let len = tile.len() as u16; // at most 1 + 64*64*2
    out.extend_from_slice(&(tile.len() as u32 + 5).to_be_bytes());
    out.push(0); // BFINAL 0, BTYPE 00: stored
    out.extend_from_slice(&len.to_le_bytes());
    out.extend_from_slice(&(!len).to_le_bytes());
    out.extend_from_slice(&tile);
}

/// The ZRLE tile (subencoding + data), whichever subencoding is smallest.
pub fn tile_data(pixels: &[u32], width: usize, format: PixelFormat) -> Vec<u8> {
    let bpp = format.bytes_per_pixel();
    let mut runs: Vec<(u32, usize)> = Vec::new();
    for &p in pixels {
        match runs.last_mut() {
            Some((v, n)) if *v == p => *n += 1,
            _ => runs.push((p, 1)),
        }
    }
    let mut palette: Vec<u32> = Vec::new();
    for &(v, _) in &runs {
        if palette.len() > 127 {
            break;
        }
        if !palette.contains(&v) {
            palette.push(v);
        }
    }
    let mut out = Vec::new();
    if palette.len() == 1 {
        out.push(1);
        format.put(palette[0], &mut out);
        return out;
    }
    let len_bytes = |n: usize| 1 + (n - 1) / 255;
    let raw_size = 1 + pixels.len() * bpp;
    let plain_rle = 1 + runs.iter().map(|&(_, n)| bpp + len_bytes(n)).sum::<usize>();
    let k = palette.len();
    let palette_rle = (k <= 127).then(|| {
        1 + k * bpp
            + runs
                .iter()
                .map(|&(_, n)| if n > 1 { 1 + len_bytes(n) } else { 1 })
                .sum::<usize>()
    });
    let bits = match k {
        2 => 1,
        3..=4 => 2,
        _ => 4,
    };
    // Rows are not padded by the ui-toolkit's decoder, so only whole-byte rows are packed.
    let packed =
        (k <= 16 && width.is_multiple_of(8)).then(|| 1 + k * bpp + pixels.len() * bits / 8);
    let best = [Some(raw_size), Some(plain_rle), palette_rle, packed]
        .into_iter()
        .flatten()
        .min()
        .unwrap_or(raw_size);
    let index = |v: u32| palette.iter().position(|&p| p == v).unwrap_or(0) as u8;
    let push_len = |out: &mut Vec<u8>, n: usize| {
        let mut rem = n - 1;
        while rem >= 255 {
            out.push(255);
            rem -= 255;
        }
        out.push(rem as u8);
    };
    if Some(best) == packed {
        out.push(k as u8);
        palette.iter().for_each(|&p| format.put(p, &mut out));
        let per_byte = 8 / bits;
        for chunk in pixels.chunks(per_byte) {
            let mut b = 0u8;
            for (i, &p) in chunk.iter().enumerate() {
                b |= index(p) << (8 - bits * (i + 1));
            }
            out.push(b);
        }
    } else if Some(best) == palette_rle {
        out.push(128 + k as u8);
        palette.iter().for_each(|&p| format.put(p, &mut out));
        for &(v, n) in &runs {
            if n == 1 {
                out.push(index(v));
            } else {
                out.push(index(v) | 0x80);
                push_len(&mut out, n);
            }
        }
    } else if best == plain_rle {
        out.push(128);
        for &(v, n) in &runs {
            format.put(v, &mut out);
            push_len(&mut out, n);
        }
    } else {
        out.push(0);
        pixels.iter().for_each(|&p| format.put(p, &mut out));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colours_map_into_565_and_332() {
        assert_eq!(PixelFormat::RGB565.value(0xFFFFFF), 0xFFFF);
        assert_eq!(PixelFormat::RGB565.value(0xFF0000), 0xF800);
        assert_eq!(PixelFormat::RGB332.value(0xFFFFFF), 0xFF);
        assert_eq!(PixelFormat::RGB332.value(0x0000FF), 0x03);
        assert_eq!(
            PixelFormat::parse(&PixelFormat::RGB332.to_bytes()),
            Ok(PixelFormat::RGB332)
        );
        let mut bad = PixelFormat::RGB565.to_bytes();
        bad[0] = 32;
        assert!(PixelFormat::parse(&bad).is_err());
        bad[0] = 16;
        bad[10] = 12; // red 31 << 12 overflows 16 bits
        assert!(PixelFormat::parse(&bad).is_err());
    }

    #[test]
    fn subencodings_are_chosen_by_size() {
        let f = PixelFormat::RGB565;
        assert_eq!(tile_data(&[7; 64 * 64], 64, f), vec![1, 7, 0]);
        // Two colours in a checkerboard: 1 bit per pixel packed.
        let checker: Vec<u32> = (0..64 * 64).map(|i| (i + i / 64) as u32 % 2).collect();
        let t = tile_data(&checker, 64, f);
        assert_eq!(t[0], 2);
        assert_eq!(t.len(), 1 + 2 * 2 + 64 * 64 / 8);
        // Two long runs: plain RLE, run length - 1 as 255s and a remainder.
        let halves: Vec<u32> = (0..600).map(|i| u32::from(i >= 300)).collect();
        assert_eq!(
            tile_data(&halves, 60, f),
            vec![128, 0, 0, 255, 44, 1, 0, 255, 44]
        );
        // Three colours, single pixels, width not a multiple of 8: palette RLE.
        let mixed: Vec<u32> = (0..30).map(|i| 5 + i % 3).collect();
        let t = tile_data(&mixed, 30, f);
        assert_eq!(t[..7], [131, 5, 0, 6, 0, 7, 0]);
        assert_eq!(t[7..10], [0, 1, 2]);
        assert_eq!(t.len(), 7 + 30);
    }
}
