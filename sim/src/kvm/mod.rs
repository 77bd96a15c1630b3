//! KVM: the simulated PC's screen, keyboard and mouse, served over RFB as AMT's KVM server does.
//!
//! After a `KVMR` redirection session is started and authenticated (see
//! [`redirection`](crate::redirection)), the viewer sends `40 00 00 00 00 00 00 00`; once user
//! consent is there ([`consent`]) the device answers `41 00 00 00 00 00 00 00` and speaks RFB 3.8
//! on the same stream ([`rfb`]). The screen is 1920x1080 ([`screen`]), drawn from the state of the
//! simulated host ([`host`]) with our own font ([`font`]); updates are 64x64 tiles in raw or AMT's
//! ZRLE form ([`encode`]), only the changed ones for incremental requests.

pub mod consent;
pub mod encode;
pub mod font;
pub mod host;
pub mod rfb;
pub mod screen;

use std::time::Instant;

use crate::device::Device;
use crate::device::platform::power_state;

pub(crate) use rfb::serve;

/// What the device tells its host screen.
pub fn device_view(device: &Device) -> host::DeviceView {
    let (powered_on, hostname, consent_code) = device.with_state(|s| {
        (
            s.power_state == power_state::ON,
            s.general.host_name.clone(),
            s.redirection
                .opt_in_code
                .filter(|_| s.redirection.opt_in_state == 2),
        )
    });
    host::DeviceView {
        powered_on,
        hostname,
        guid: device.guid(),
        firmware: device.firmware_version(),
        consent_code,
    }
}

/// The page the device's monitor shows now.
pub fn page(device: &Device) -> screen::Page {
    let view = device_view(device);
    device.kvm_host().page(&view, Instant::now())
}

/// The device's screen now, as the KVM viewer would see it (before pixel-format conversion).
pub fn framebuffer(device: &Device) -> screen::Framebuffer {
    screen::draw(&page(device))
}
