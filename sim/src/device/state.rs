//! Everything a simulated AMT remembers. The WS-Man responder reads and changes it; the rest of the
//! simulator sees it through [`crate::device::Device`].

use md5::{Digest, Md5};
use rand::Rng;

use super::{CiraSettings, ControlMode, Provisioned};

/// The digest user name of the AMT administrator (hard-coded in AMT and in MPS).
pub const ADMIN_USER: &str = "admin";

/// The user name of the local system account that rpc-go reads from the ME before activation.
pub const LSA_USER: &str = "$$OsAdmin";

/// The admin account once the device is provisioned. AMT stores only HA1.
#[derive(Clone)]
pub struct AdminAccount {
    pub ha1: [u8; 16],
    /// Known only when the device was created provisioned by the simulator itself.
    pub plain: Option<String>,
}

/// AMT_GeneralSettings values that change.
#[derive(Clone, Debug)]
pub struct GeneralSettings {
    pub host_name: String,
    pub domain_name: String,
    pub shared_fqdn: bool,
    pub amt_network_enabled: u32,
    pub rmcp_ping_response_enabled: bool,
    pub ping_response_enabled: bool,
}

/// The mutable state of one device.
pub struct DeviceState {
    pub control_mode: ControlMode,
    pub admin: Option<AdminAccount>,
    /// Local system account password (what the agent sends RPS as `password` before activation).
    pub lsa_password: String,
    pub general: GeneralSettings,
    /// CIM power state: 2 on, 8 off-soft, ...
    pub power_state: u16,
    /// AMT_RedirectionService EnabledState: 32768 none, 32769 IDER, 32770 SOL, 32771 both.
    pub redirection_enabled_state: u32,
    pub redirection_listener_enabled: bool,
    /// CIRA target given by a provisioned spec or configured over WS-Man.
    cira: Option<CiraSettings>,
}

impl DeviceState {
    pub(crate) fn new(guid: &uuid::Uuid, index: u64, realm: &str, provisioned: Option<&Provisioned>) -> DeviceState {
        let mut state = DeviceState {
            control_mode: ControlMode::PreProvisioning,
            admin: None,
            lsa_password: random_password(),
            general: GeneralSettings {
                host_name: format!("sim-{index:06}"),
                domain_name: String::new(),
                shared_fqdn: true,
                amt_network_enabled: 1,
                rmcp_ping_response_enabled: true,
                ping_response_enabled: true,
            },
            power_state: 2,
            redirection_enabled_state: 32771,
            redirection_listener_enabled: true,
            cira: None,
        };
        let _ = guid;
        if let Some(p) = provisioned {
            state.control_mode = p.mode;
            if p.mode != ControlMode::PreProvisioning {
                state.admin =
                    Some(AdminAccount { ha1: ha1(ADMIN_USER, realm, &p.admin_password), plain: Some(p.admin_password.clone()) });
                state.cira = p.cira.clone();
            }
        }
        state
    }

    pub fn admin_password_plain(&self) -> Option<String> {
        self.admin.as_ref().and_then(|a| a.plain.clone())
    }

    pub fn admin_ha1(&self) -> Option<[u8; 16]> {
        self.admin.as_ref().map(|a| a.ha1)
    }

    pub fn sol_enabled(&self) -> bool {
        self.redirection_listener_enabled && matches!(self.redirection_enabled_state, 32770 | 32771)
    }

    /// Where the device should hold a CIRA tunnel right now.
    pub fn cira_target(&self) -> Option<CiraSettings> {
        if self.control_mode == ControlMode::PreProvisioning {
            return None;
        }
        self.cira.clone()
    }
}

/// HA1 of HTTP digest: MD5(user:realm:password).
pub fn ha1(user: &str, realm: &str, password: &str) -> [u8; 16] {
    Md5::new().chain_update(user).chain_update(":").chain_update(realm).chain_update(":").chain_update(password).finalize().into()
}

/// A 16-character password of the kind AMT and RPS accept (upper, lower, digit, symbol).
fn random_password() -> String {
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
    String::from_utf8_lossy(&out).into_owned()
}
