//! WS-Man over CIRA: one APF channel to port 16992 per call, HTTP digest with the device's AMT
//! password, a timeout on every call, and a per-device concurrency limit.

use std::sync::Arc;

use tokio::sync::{Mutex, Semaphore};

#[allow(dead_code)] // read by the WS-Man client
/// Per-device WS-Man state shared by every call to that device.
pub(crate) struct DeviceWsman {
    pub(crate) limit: Arc<Semaphore>,
    pub(crate) digest: Mutex<Option<DigestChallenge>>,
}

#[allow(dead_code)] // read by the WS-Man client
/// The last `WWW-Authenticate: Digest` challenge and its nonce counter.
#[derive(Debug, Clone)]
pub(crate) struct DigestChallenge {
    pub realm: String,
    pub nonce: String,
    pub qop: Option<String>,
    pub nc: u32,
}

impl DeviceWsman {
    pub(crate) fn new(limit: usize) -> Self {
        Self {
            limit: Arc::new(Semaphore::new(limit.max(1))),
            digest: Mutex::new(None),
        }
    }
}
