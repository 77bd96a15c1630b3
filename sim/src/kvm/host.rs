//! The simulated PC behind the KVM: what it shows and what keyboard and mouse do to it.
//!
//! One [`Host`] per device (it lives in the [`Device`](crate::device::Device)), so the screen
//! outlives a KVM session as a real monitor does. Pages:
//! - host off or asleep: black (no signal);
//! - after power-on or Ctrl-Alt-Del: a BIOS page for [`BIOS_TIME`];
//! - then a text console with a `login:` prompt; typed keys appear at the prompt, Enter starts a
//!   new prompt, Backspace erases;
//! - while a user-consent code is displayed (IPS_OptInService OptInState 2), AMT's consent sprite
//!   with the code sits in the middle of the screen.

use std::collections::VecDeque;
use std::time::{Duration, Instant};

use super::screen::{COLS, Page, ROWS, TextRow, colour};

/// How long the BIOS page shows after a (re)boot.
pub const BIOS_TIME: Duration = Duration::from_secs(3);

/// X11 keysyms the console understands (RFC 6143 §7.5.4).
pub mod keysym {
    pub const BACKSPACE: u32 = 0xff08;
    pub const RETURN: u32 = 0xff0d;
    pub const KP_ENTER: u32 = 0xff8d;
    pub const DELETE: u32 = 0xffff;
    pub const KP_DELETE: u32 = 0xff9f;
    pub const CONTROL_L: u32 = 0xffe3;
    pub const CONTROL_R: u32 = 0xffe4;
    pub const ALT_L: u32 = 0xffe9;
    pub const ALT_R: u32 = 0xffea;
}

/// What the host needs to know about its device to draw a page.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DeviceView {
    pub powered_on: bool,
    pub hostname: String,
    pub guid: String,
    pub firmware: String,
    /// The consent code AMT displays (OptInState 2), if any.
    pub consent_code: Option<u32>,
}

#[derive(Debug, Default)]
pub struct Host {
    /// Finished console lines, oldest first.
    lines: VecDeque<String>,
    /// What is typed at the current prompt.
    input: String,
    ctrl: [bool; 2],
    alt: [bool; 2],
    pointer: Option<(u16, u16)>,
    /// The power state seen at the last page; `None` before the first.
    last_on: Option<bool>,
    boot_started: Option<Instant>,
    /// When the last KVM session that needed user consent ended (consent lapses after a while).
    pub(crate) consent_idle_since: Option<Instant>,
}

const PROMPT: &str = " login: ";

impl Host {
    /// The page the monitor shows now. Notices power-on (boot) as it goes.
    pub fn page(&mut self, device: &DeviceView, now: Instant) -> Page {
        if self.last_on == Some(false) && device.powered_on {
            self.reboot(now);
        }
        self.last_on = Some(device.powered_on);
        if !device.powered_on {
            return Page::black();
        }
        let mut page = if self.in_bios(now) {
            bios_page(device)
        } else {
            self.console_page(device)
        };
        page.pointer = self.pointer;
        if let Some(code) = device.consent_code {
            page.rows.extend(consent_sprite(code));
        }
        page
    }

    fn in_bios(&self, now: Instant) -> bool {
        self.boot_started
            .is_some_and(|t| now.saturating_duration_since(t) < BIOS_TIME)
    }

    fn reboot(&mut self, now: Instant) {
        tracing::debug!("simulated host reboots");
        self.lines.clear();
        self.input.clear();
        self.boot_started = Some(now);
    }

    /// A KeyEvent. Keys reach the console only while it shows; Ctrl-Alt-Del reboots the host.
    pub fn key(&mut self, down: bool, sym: u32, powered_on: bool, now: Instant) {
        match sym {
            keysym::CONTROL_L | keysym::CONTROL_R => {
                self.ctrl[usize::from(sym == keysym::CONTROL_R)] = down;
                return;
            }
            keysym::ALT_L | keysym::ALT_R => {
                self.alt[usize::from(sym == keysym::ALT_R)] = down;
                return;
            }
            _ => {}
        }
        if !down || !powered_on {
            return;
        }
        let (ctrl, alt) = (self.ctrl.contains(&true), self.alt.contains(&true));
        if ctrl && alt && matches!(sym, keysym::DELETE | keysym::KP_DELETE) {
            self.reboot(now);
            return;
        }
        if self.in_bios(now) {
            return;
        }
        match sym {
            keysym::RETURN | keysym::KP_ENTER => self.enter(String::new()),
            keysym::BACKSPACE => {
                self.input.pop();
            }
            // Latin-1 keysyms are the characters themselves.
            0x63 | 0x43 if ctrl => self.enter("^C".into()), // Ctrl-C
            0x20..=0x7e | 0xa0..=0xff if !ctrl && self.input.chars().count() < COLS - 40 => {
                self.input.extend(char::from_u32(sym));
            }
            _ => {}
        }
    }

    fn enter(&mut self, suffix: String) {
        let line = format!("\u{0}{}{suffix}", std::mem::take(&mut self.input));
        self.lines.push_back(line);
        while self.lines.len() > ROWS {
            self.lines.pop_front();
        }
    }

    /// A PointerEvent: the pointer moves (it is drawn on every page but the dark one).
    pub fn pointer(&mut self, x: u16, y: u16) {
        self.pointer = Some((x, y));
    }

    fn console_page(&self, device: &DeviceView) -> Page {
        let prompt = format!("{}{PROMPT}", device.hostname);
        let mut text = vec![
            format!("openamt simulated host {} (tty1)", device.hostname),
            String::new(),
        ];
        // Finished lines keep their prompt as a NUL marker so a renamed host redraws correctly.
        text.extend(self.lines.iter().map(|l| l.replacen('\u{0}', &prompt, 1)));
        text.push(format!("{prompt}{}_", self.input));
        let skip = text.len().saturating_sub(ROWS);
        let rows = text
            .into_iter()
            .skip(skip)
            .enumerate()
            .filter(|(_, t)| !t.is_empty())
            .map(|(row, text)| TextRow {
                col: 0,
                row,
                text,
                fg: colour::GREY,
                bg: None,
            })
            .collect();
        Page {
            background: colour::BLACK,
            rows,
            pointer: None,
        }
    }
}

fn bios_page(device: &DeviceView) -> Page {
    let line = |row, text: String, fg| TextRow {
        col: 4,
        row,
        text,
        fg,
        bg: None,
    };
    let mut rows = vec![TextRow {
        col: 0,
        row: 0,
        text: format!(
            "{:^width$}",
            "openamt simulated PC BIOS Setup Utility",
            width = COLS
        ),
        fg: colour::BLUE,
        bg: Some(colour::GREY),
    }];
    rows.extend([
        line(3, "System Information".into(), colour::WHITE),
        line(
            5,
            format!("Host name            {}", device.hostname),
            colour::GREY,
        ),
        line(
            6,
            format!("System UUID          {}", device.guid),
            colour::GREY,
        ),
        line(
            7,
            format!("Intel(R) ME firmware {} (AMT)", device.firmware),
            colour::GREY,
        ),
        line(8, "Memory               16384 MB OK".into(), colour::GREY),
        line(
            11,
            "Press <F2> to enter Setup, <F12> for the boot menu, <Ctrl-P> for MEBx".into(),
            colour::YELLOW,
        ),
        line(13, "Booting from internal drive ...".into(), colour::GREY),
    ]);
    Page {
        background: colour::BLUE,
        rows,
        pointer: None,
    }
}

/// AMT's user-consent sprite: a box with the six-digit code in the middle of the screen.
fn consent_sprite(code: u32) -> Vec<TextRow> {
    let inner = [
        String::new(),
        "Intel(R) AMT - User Consent".to_string(),
        String::new(),
        "A remote operator asks to see this screen.".to_string(),
        "Tell them this code:".to_string(),
        String::new(),
        format!("{code:06}"),
        String::new(),
    ];
    let width = 50;
    let (col, row) = ((COLS - width) / 2, (ROWS - inner.len()) / 2);
    inner
        .iter()
        .enumerate()
        .map(|(i, t)| TextRow {
            col,
            row: row + i,
            text: format!("{t:^width$}"),
            fg: if i == 6 {
                colour::YELLOW
            } else {
                colour::WHITE
            },
            bg: Some(colour::DARK_GREY),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(on: bool) -> DeviceView {
        DeviceView {
            powered_on: on,
            hostname: "pc1".into(),
            guid: "g".into(),
            firmware: "16.1.25".into(),
            consent_code: None,
        }
    }

    #[test]
    fn typing_power_and_ctrl_alt_del() {
        let mut host = Host::default();
        let t0 = Instant::now();
        let page = host.page(&view(true), t0);
        assert_eq!(page.text().last().unwrap(), "pc1 login: _");
        for c in "ab".bytes() {
            host.key(true, c.into(), true, t0);
            host.key(false, c.into(), true, t0);
        }
        host.key(true, keysym::BACKSPACE, true, t0);
        assert_eq!(
            host.page(&view(true), t0).text().last().unwrap(),
            "pc1 login: a_"
        );
        host.key(true, keysym::RETURN, true, t0);
        let text = host.page(&view(true), t0).text();
        assert_eq!(text[text.len() - 2..], ["pc1 login: a", "pc1 login: _"]);

        // Off: black; on again: BIOS, then a fresh console.
        assert_eq!(host.page(&view(false), t0), Page::black());
        let bios = host.page(&view(true), t0);
        assert_eq!(bios.background, colour::BLUE);
        let later = t0 + BIOS_TIME;
        assert_eq!(host.page(&view(true), later).text().len(), 2);

        // Ctrl-Alt-Del reboots into the BIOS page.
        for (down, sym) in [
            (true, keysym::CONTROL_L),
            (true, keysym::ALT_L),
            (true, keysym::DELETE),
        ] {
            host.key(down, sym, true, later);
        }
        assert_eq!(host.page(&view(true), later).background, colour::BLUE);
    }

    #[test]
    fn consent_code_is_on_screen() {
        let mut host = Host::default();
        let mut v = view(true);
        v.consent_code = Some(42);
        let text = host.page(&v, Instant::now()).text();
        assert!(text.iter().any(|t| t.trim() == "000042"), "{text:?}");
    }
}
