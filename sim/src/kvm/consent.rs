//! User consent before a KVM session shows the screen.
//!
//! What AMT does (Intel AMT Implementation and Reference Guide, "User Consent", "Opt-In Flow"):
//! when consent is required (IPS_OptInService.OptInRequired 1 = KVM or 0xFFFFFFFF = all; client
//! control mode always requires it), opening a KVM session starts the consent flow if the console
//! has not: a sprite with a six-digit code appears on the host screen (OptInState 2). The operator
//! sends the code with IPS_OptInService.SendOptInCode (OptInState 3); only then does the session
//! start (OptInState 4 while it lasts). Three wrong codes or CancelOptIn (OptInState back to 0)
//! or no code within OptInPolicyTimeout end the session ("User consent flow failed"). Consent
//! lapses after two minutes without a session.
//!
//! Here the session holds the KVM start reply (0x41) until consent is there: the viewer sees
//! nothing of the screen before.

use std::io;
use std::time::{Duration, Instant};

use bytes::BytesMut;
use rand::Rng;
use tokio::io::{AsyncRead, AsyncReadExt};

use crate::device::Device;

/// After this long without a session, consent has to be given again.
const CONSENT_LAPSE: Duration = Duration::from_secs(120);
/// How often the waiting session looks at the consent state.
const POLL: Duration = Duration::from_millis(100);
/// What a viewer may send before its session starts (it should send nothing).
const MAX_EARLY_INPUT: usize = 64 * 1024;

/// OptInState values.
const NOT_STARTED: u32 = 0;
const RECEIVED: u32 = 3;
const IN_SESSION: u32 = 4;

/// Held for the session: when it ends, consent goes back to "received" and starts to lapse.
pub(crate) struct ConsentGuard(Option<Device>);

impl Drop for ConsentGuard {
    fn drop(&mut self) {
        if let Some(device) = self.0.take() {
            device.with_state(|s| {
                if s.redirection.opt_in_state == IN_SESSION {
                    s.redirection.opt_in_state = RECEIVED;
                }
            });
            device.kvm_host().consent_idle_since = Some(Instant::now());
        }
    }
}

/// Waits for user consent when the device requires it. `None`: no consent (refused, timed out,
/// or the viewer went away); the session must close.
pub(crate) async fn obtain<S>(
    device: &Device,
    stream: &mut S,
    acc: &mut BytesMut,
) -> io::Result<Option<ConsentGuard>>
where
    S: AsyncRead + Unpin,
{
    if device.with_state(|s| s.redirection.opt_in_required == 0) {
        return Ok(Some(ConsentGuard(None)));
    }
    let lapsed = device
        .kvm_host()
        .consent_idle_since
        .is_some_and(|t| t.elapsed() >= CONSENT_LAPSE);
    let (started_here, timeout) = device.with_state(|s| {
        let r = &mut s.redirection;
        if lapsed && r.opt_in_state == RECEIVED {
            r.opt_in_state = NOT_STARTED;
        }
        let start = r.opt_in_state == NOT_STARTED;
        if start {
            r.opt_in_code = Some(rand::rng().random_range(100_000..1_000_000));
            r.opt_in_state = 2; // displayed
            r.opt_in_code_failures = 0;
        }
        (start, r.kvm_opt_in_policy_timeout)
    });
    if started_here {
        tracing::debug!(guid = %device.guid(), "KVM session waits for user consent: code displayed");
    }
    let timeout = Duration::from_secs(if timeout == 0 { 300 } else { timeout.into() });
    let deadline = Instant::now() + timeout;
    let mut buf = [0u8; 1024];
    loop {
        match device.with_state(|s| s.redirection.opt_in_state) {
            RECEIVED | IN_SESSION => {
                device.with_state(|s| s.redirection.opt_in_state = IN_SESSION);
                return Ok(Some(ConsentGuard(Some(device.clone()))));
            }
            NOT_STARTED => {
                tracing::debug!(guid = %device.guid(), "user consent refused or cancelled: closing KVM");
                return Ok(None);
            }
            _ => {}
        }
        if Instant::now() >= deadline {
            tracing::debug!(guid = %device.guid(), "no user consent in time: closing KVM");
            cancel(device);
            return Ok(None);
        }
        tokio::select! {
            n = stream.read(&mut buf) => {
                let n = n?;
                if n == 0 {
                    if started_here {
                        cancel(device);
                    }
                    return Ok(None);
                }
                acc.extend_from_slice(&buf[..n]);
                if acc.len() > MAX_EARLY_INPUT {
                    return Err(io::Error::new(io::ErrorKind::InvalidData, "too much data before consent"));
                }
            }
            _ = tokio::time::sleep(POLL) => {}
        }
    }
}

fn cancel(device: &Device) {
    device.with_state(|s| {
        if matches!(s.redirection.opt_in_state, 1 | 2) {
            s.redirection.opt_in_state = NOT_STARTED;
            s.redirection.opt_in_code = None;
        }
    });
}
