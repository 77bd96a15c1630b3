//! The simulated monitor: a framebuffer and the pages drawn into it.
//!
//! A [`Page`] says what the host shows (background, text rows, the consent sprite, the mouse
//! pointer); [`draw`] turns it into pixels. Pages are cheap to build and compare, so a KVM session
//! redraws only when the page really changed.

use super::font::{self, CELL_H, CELL_W};

/// The resolution of the simulated display: the primary screen IPS_ScreenSettingData reports.
pub const WIDTH: u16 = 1920;
pub const HEIGHT: u16 = 1080;
/// Text cells of the console at 8x16: 240 columns, 67 rows.
pub const COLS: usize = WIDTH as usize / CELL_W;
pub const ROWS: usize = HEIGHT as usize / CELL_H;

/// Colours as 0x00RRGGBB.
pub mod colour {
    pub const BLACK: u32 = 0x000000;
    pub const GREY: u32 = 0xAAAAAA;
    pub const WHITE: u32 = 0xFFFFFF;
    pub const BLUE: u32 = 0x0000AA;
    pub const CYAN: u32 = 0x00AAAA;
    pub const YELLOW: u32 = 0xFFFF55;
    pub const DARK_GREY: u32 = 0x555555;
}

/// One run of text at a character cell position.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TextRow {
    pub col: usize,
    pub row: usize,
    pub text: String,
    pub fg: u32,
    /// Cell background; `None` leaves the page background.
    pub bg: Option<u32>,
}

/// What the monitor shows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Page {
    pub background: u32,
    pub rows: Vec<TextRow>,
    /// Mouse pointer position (the hardware cursor AMT captures with the screen).
    pub pointer: Option<(u16, u16)>,
}

impl Page {
    /// A dark screen: the host is off or asleep, the monitor has no signal.
    pub fn black() -> Page {
        Page {
            background: colour::BLACK,
            rows: Vec::new(),
            pointer: None,
        }
    }

    /// All text of the page, one string per text run, top to bottom.
    pub fn text(&self) -> Vec<String> {
        let mut rows: Vec<&TextRow> = self.rows.iter().collect();
        rows.sort_by_key(|r| (r.row, r.col));
        rows.into_iter().map(|r| r.text.clone()).collect()
    }
}

/// Pixels, row-major, 0x00RRGGBB.
#[derive(Clone, PartialEq, Eq)]
pub struct Framebuffer {
    pub width: u16,
    pub height: u16,
    pixels: Vec<u32>,
}

impl std::fmt::Debug for Framebuffer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Framebuffer({}x{})", self.width, self.height)
    }
}

impl Framebuffer {
    pub fn new(width: u16, height: u16, fill: u32) -> Framebuffer {
        Framebuffer {
            width,
            height,
            pixels: vec![fill; width as usize * height as usize],
        }
    }

    pub fn pixel(&self, x: u16, y: u16) -> u32 {
        self.pixels[y as usize * self.width as usize + x as usize]
    }

    /// One row of pixels from `x`, `len` wide (clipped to the screen).
    pub fn row(&self, x: u16, y: u16, len: u16) -> &[u32] {
        let start = y as usize * self.width as usize + x as usize;
        let len = (len as usize).min(self.width as usize - x as usize);
        &self.pixels[start..start + len]
    }

    /// Copies the rectangle (`x`, `y`, `w`, `h`) from `other` (same size).
    pub fn copy_rect(&mut self, other: &Framebuffer, x: u16, y: u16, w: u16, h: u16) {
        for row in y..y + h {
            let start = row as usize * self.width as usize + x as usize;
            let end = start + w as usize;
            self.pixels[start..end].copy_from_slice(&other.pixels[start..end]);
        }
    }

    /// Whether the rectangle differs between `self` and `other` (same size).
    pub fn differs(&self, other: &Framebuffer, x: u16, y: u16, w: u16, h: u16) -> bool {
        (y..y + h).any(|row| self.row(x, row, w) != other.row(x, row, w))
    }

    fn set(&mut self, x: usize, y: usize, c: u32) {
        if x < self.width as usize && y < self.height as usize {
            self.pixels[y * self.width as usize + x] = c;
        }
    }

    fn fill(&mut self, x: usize, y: usize, w: usize, h: usize, c: u32) {
        for yy in y..(y + h).min(self.height as usize) {
            for xx in x..(x + w).min(self.width as usize) {
                self.pixels[yy * self.width as usize + xx] = c;
            }
        }
    }

    fn text(&mut self, row: &TextRow) {
        for (i, ch) in row.text.chars().enumerate() {
            let (cx, cy) = ((row.col + i) * CELL_W, row.row * CELL_H);
            if let Some(bg) = row.bg {
                self.fill(cx, cy, CELL_W, CELL_H, bg);
            }
            for y in 0..CELL_H {
                for x in 0..CELL_W {
                    if font::lit(ch, x, y) {
                        self.set(cx + x, cy + y, row.fg);
                    }
                }
            }
        }
    }

    fn pointer(&mut self, px: u16, py: u16) {
        for (y, line) in POINTER.iter().enumerate() {
            for (x, b) in line.bytes().enumerate() {
                let c = match b {
                    b'X' => colour::BLACK,
                    b'#' => colour::WHITE,
                    _ => continue,
                };
                self.set(px as usize + x, py as usize + y, c);
            }
        }
    }
}

/// The arrow pointer: X outline, # fill, hot spot top left.
const POINTER: [&str; 16] = [
    "X          ",
    "XX         ",
    "X#X        ",
    "X##X       ",
    "X###X      ",
    "X####X     ",
    "X#####X    ",
    "X######X   ",
    "X#######X  ",
    "X########X ",
    "X#####XXXXX",
    "X##X##X    ",
    "X#X X##X   ",
    "XX  X##X   ",
    "X    X##X  ",
    "     XXXX  ",
];

/// Draws a page at the display resolution.
pub fn draw(page: &Page) -> Framebuffer {
    let mut fb = Framebuffer::new(WIDTH, HEIGHT, page.background);
    for row in &page.rows {
        fb.text(row);
    }
    if let Some((x, y)) = page.pointer {
        fb.pointer(x, y);
    }
    fb
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_and_pointer_land_where_asked() {
        let page = Page {
            background: colour::BLUE,
            rows: vec![TextRow {
                col: 2,
                row: 1,
                text: "I".into(),
                fg: colour::WHITE,
                bg: Some(colour::BLACK),
            }],
            pointer: Some((100, 200)),
        };
        let fb = draw(&page);
        assert_eq!(fb.pixel(0, 0), colour::BLUE);
        // 'I' has its top bar at glyph row 0 (cell rows 1-2), columns 2..=4 (cell x 2..=4).
        assert_eq!(fb.pixel(16 + 3, 16 + 1), colour::WHITE);
        assert_eq!(fb.pixel(16, 16), colour::BLACK, "cell background");
        assert_eq!(fb.pixel(100, 200), colour::BLACK, "pointer outline");
        assert_eq!(fb.pixel(101, 203), colour::WHITE, "pointer fill");
        assert_eq!(page.text(), vec!["I".to_string()]);
    }
}
