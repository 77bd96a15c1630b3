//! Who may talk to the device and how it was provisioned: the local system account, the admin
//! account (AMT keeps only its digest hash), extra digest users, the MEBx password, and the
//! host-based-setup state (configuration nonce, provisioning certificate chain, trusted root hashes).

use std::fmt;

use rand::{Rng, RngCore};

/// The digest user name of the AMT administrator (hard-coded in MPS).
pub const ADMIN_USER: &str = "admin";

/// The user name of the local system account that rpc-go reads from the ME before activation.
pub const LSA_USER: &str = "$$OsAdmin";

/// The admin account once the device is provisioned.
#[derive(Clone)]
pub struct AdminAccount {
    pub username: String,
    /// MD5(username:realm:password): what AMT stores and checks digest answers against.
    pub ha1: [u8; 16],
    /// Known only when the simulator itself chose the password (a device created provisioned).
    pub plain: Option<String>,
}

impl fmt::Debug for AdminAccount {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("AdminAccount")
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// A digest user added with AddUserAclEntryEx.
#[derive(Clone)]
pub struct UserAcl {
    pub handle: u32,
    pub username: String,
    pub ha1: [u8; 16],
    /// 0 local only, 1 network only, 2 any.
    pub access_permission: u32,
    pub realms: Vec<u32>,
    pub enabled: bool,
}

impl fmt::Debug for UserAcl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("UserAcl")
            .field("handle", &self.handle)
            .field("username", &self.username)
            .field("realms", &self.realms)
            .field("enabled", &self.enabled)
            .finish_non_exhaustive()
    }
}

/// Host-based setup: the firmware nonce signed during AdminSetup and the provisioning chain sent
/// with AddNextCertInChain (leaf first, root last).
#[derive(Clone, Debug)]
pub struct HostBasedSetup {
    pub configuration_nonce: [u8; 20],
    pub cert_chain: Vec<Vec<u8>>,
    /// 0 not started, 1 in progress, 2 complete (root received).
    pub cert_chain_status: u8,
}

impl HostBasedSetup {
    pub fn new() -> HostBasedSetup {
        HostBasedSetup {
            configuration_nonce: random_nonce(),
            cert_chain: Vec::new(),
            cert_chain_status: 0,
        }
    }

    /// A fresh nonce after each AdminSetup attempt, as AMT does.
    pub fn renew_nonce(&mut self) {
        self.configuration_nonce = random_nonce();
    }
}

impl Default for HostBasedSetup {
    fn default() -> Self {
        HostBasedSetup::new()
    }
}

fn random_nonce() -> [u8; 20] {
    let mut nonce = [0u8; 20];
    rand::rng().fill_bytes(&mut nonce);
    nonce
}

/// A 16-character password of the kind AMT and RPS accept (upper, lower, digit, symbol).
pub fn random_password() -> String {
    const UPPER: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZ";
    const LOWER: &[u8] = b"abcdefghijklmnopqrstuvwxyz";
    const DIGIT: &[u8] = b"0123456789";
    const SYMBOL: &[u8] = b"$@!%*#?";
    let mut rng = rand::rng();
    let mut out = Vec::with_capacity(16);
    for set in [UPPER, LOWER, DIGIT, SYMBOL] {
        out.push(set[rng.random_range(0..set.len())]);
    }
    while out.len() < 16 {
        let set = [UPPER, LOWER, DIGIT][rng.random_range(0..3)];
        out.push(set[rng.random_range(0..set.len())]);
    }
    // Shuffle so the symbol is not always fourth.
    for i in (1..out.len()).rev() {
        let j = rng.random_range(0..=i);
        out.swap(i, j);
    }
    String::from_utf8_lossy(&out).into_owned()
}
