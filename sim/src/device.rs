//! The state of one simulated Intel AMT device.
//!
//! A [`Device`] is a cheap, cloneable handle (`Arc` inside) shared by every service of the simulator that
//! talks for this device: the CIRA client, the WS-Man responder, the redirection service and the
//! activation agent. Identity (GUID, digest realm, firmware) is fixed at creation; everything else
//! lives behind one short-held mutex and really changes when WS-Man calls change it.

use std::fmt;
use std::sync::{Arc, Mutex, MutexGuard};

use sha2::{Digest, Sha256};
use tokio::sync::watch;

pub mod accounts;
pub mod logs;
pub mod network;
pub mod pki;
pub mod platform;
pub mod remote_access;
pub mod state;

pub use state::DeviceState;

/// How AMT is provisioned (`CurrentControlMode` of IPS_HostBasedSetupService: 0, 1, 2).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ControlMode {
    /// Fresh from the factory: only the local system account (LSA) may talk WS-Man.
    PreProvisioning,
    /// Client control mode (host-based `Setup`).
    Ccm,
    /// Admin control mode (`AdminSetup` with a provisioning certificate).
    Acm,
}

impl ControlMode {
    /// The number AMT reports in `CurrentControlMode` and rpc-go sends as `currentMode`.
    pub fn as_number(self) -> u8 {
        match self {
            ControlMode::PreProvisioning => 0,
            ControlMode::Ccm => 1,
            ControlMode::Acm => 2,
        }
    }
}

/// Where the device opens its CIRA tunnel, as AddMpServer and the remote-access policy configured it.
#[derive(Clone, PartialEq, Eq)]
pub struct CiraSettings {
    /// MPS host name or IP, as AddMpServer gave it.
    pub server: String,
    /// MPS CIRA port (4433).
    pub port: u16,
    /// CIRA (APF USERAUTH) user name.
    pub username: String,
    /// CIRA password.
    pub password: String,
    /// The trusted root the device verifies the MPS certificate against.
    pub root_cert_der: Option<Vec<u8>>,
}

impl fmt::Debug for CiraSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CiraSettings")
            .field("server", &self.server)
            .field("port", &self.port)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field(
                "root_cert_der",
                &self.root_cert_der.as_ref().map(|c| c.len()),
            )
            .finish()
    }
}

/// A device that starts out already provisioned (skips activation).
#[derive(Clone)]
pub struct Provisioned {
    pub mode: ControlMode,
    pub admin_password: String,
    pub cira: Option<CiraSettings>,
}

impl fmt::Debug for Provisioned {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Provisioned")
            .field("mode", &self.mode)
            .field("admin_password", &"<redacted>")
            .field("cira", &self.cira)
            .finish()
    }
}

/// What a device is made from.
#[derive(Clone, Debug)]
pub struct DeviceSpec {
    /// Fleet seed; with `index` gives a deterministic GUID.
    pub seed: u64,
    pub index: u64,
    /// AMT firmware version, e.g. "16.1.25".
    pub firmware_version: String,
    /// `None` = pre-provisioning (fresh from the factory).
    pub provisioned: Option<Provisioned>,
}

impl DeviceSpec {
    /// A pre-provisioned device with the default firmware (16.1.25).
    pub fn fresh(seed: u64, index: u64) -> DeviceSpec {
        DeviceSpec {
            seed,
            index,
            firmware_version: DEFAULT_FIRMWARE.to_string(),
            provisioned: None,
        }
    }
}

/// Firmware version of a device when the spec does not say otherwise.
pub const DEFAULT_FIRMWARE: &str = "16.1.25";
/// Firmware build number reported with the version.
pub const FIRMWARE_BUILD: &str = "2049";
/// Firmware SKU (16392 = AMT Pro Corporate).
pub const FIRMWARE_SKU: &str = "16392";

/// What never changes about a device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Identity {
    pub guid: uuid::Uuid,
    /// "Digest:" + 32 upper-case hex.
    pub realm: String,
    pub firmware_version: String,
    pub firmware_build: String,
    pub firmware_sku: String,
    pub index: u64,
}

impl Identity {
    /// The 16 UUID bytes as AMT stores them (SMBIOS order), e.g. for GetUuid and PlatformGUID.
    pub fn uuid_bytes(&self) -> [u8; 16] {
        self.guid.to_bytes_le()
    }

    /// Major firmware version (16 for "16.1.25").
    pub fn major_version(&self) -> u32 {
        self.firmware_version
            .split('.')
            .next()
            .and_then(|m| m.parse().ok())
            .unwrap_or(0)
    }
}

/// The deterministic GUID of device `index` of a fleet seeded with `seed`.
///
/// Bytes 0..8 come from a hash of the seed, the last 7 bytes are the index (xor a seed-derived mask), so
/// two indices below 2^56 of one seed never collide; different seeds differ in the hashed half. The
/// version (4) and variant (RFC 4122) bits are set so the GUID looks like any other random UUID.
pub fn guid_for(seed: u64, index: u64) -> uuid::Uuid {
    let digest = Sha256::new()
        .chain_update(b"openamt-sim-guid")
        .chain_update(seed.to_be_bytes())
        .finalize();
    let mut bytes = [0u8; 16];
    bytes[..9].copy_from_slice(&digest[..9]);
    let mask = u64::from_be_bytes([
        0, digest[9], digest[10], digest[11], digest[12], digest[13], digest[14], digest[15],
    ]);
    let low = (index & 0x00ff_ffff_ffff_ffff) ^ mask;
    bytes[9..].copy_from_slice(&low.to_be_bytes()[1..]);
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    uuid::Uuid::from_bytes(bytes)
}

/// One simulated AMT device. Cheap to clone; all clones see the same state.
#[derive(Clone)]
pub struct Device(Arc<Inner>);

struct Inner {
    identity: Identity,
    state: Mutex<DeviceState>,
    cira: watch::Sender<Option<CiraSettings>>,
    /// The simulated PC behind KVM (screen, console, pointer); its own lock.
    kvm: Mutex<crate::kvm::host::Host>,
}

impl fmt::Debug for Device {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Device")
            .field("guid", &self.0.identity.guid)
            .field("firmware", &self.0.identity.firmware_version)
            .finish()
    }
}

impl Device {
    pub fn new(spec: DeviceSpec) -> Device {
        let guid = guid_for(spec.seed, spec.index);
        let realm = realm_for(&guid);
        let state = DeviceState::new(&guid, spec.index, &realm, spec.provisioned.as_ref());
        let cira = state.cira_target();
        let (cira_tx, _) = watch::channel(cira);
        let identity = Identity {
            guid,
            realm,
            firmware_version: spec.firmware_version,
            firmware_build: FIRMWARE_BUILD.to_string(),
            firmware_sku: FIRMWARE_SKU.to_string(),
            index: spec.index,
        };
        Device(Arc::new(Inner {
            identity,
            state: Mutex::new(state),
            cira: cira_tx,
            kvm: Mutex::default(),
        }))
    }

    /// Lower-case 8-4-4-4-12 GUID, the device's primary key everywhere.
    pub fn guid(&self) -> String {
        self.0.identity.guid.hyphenated().to_string()
    }

    /// The GUID as the 16 bytes of APF PROTOCOLVERSION: SMBIOS mixed-endian order (first three fields
    /// little-endian), see spec/mps.md §1.4.
    pub fn uuid_bytes(&self) -> [u8; 16] {
        self.0.identity.uuid_bytes()
    }

    /// The current CIRA target; `Some` once the device is configured for CIRA, `None` after unprovisioning.
    pub fn cira(&self) -> watch::Receiver<Option<CiraSettings>> {
        self.0.cira.subscribe()
    }

    /// The digest user name of the AMT administrator.
    pub fn admin_user(&self) -> String {
        self.lock().admin_user()
    }

    /// The admin password in clear text when the simulator knows it (a device created provisioned).
    /// `None` while pre-provisioned, and also after WS-Man activation: AMT only ever receives the digest
    /// hash (HA1) of the new password, so use [`Device::admin_ha1`] to verify credentials.
    pub fn admin_password(&self) -> Option<String> {
        self.lock().admin_password_plain()
    }

    /// MD5("admin:" + realm + ":" + password) of the admin account, `None` while pre-provisioned.
    /// This is what AMT stores and what digest verification (WS-Man, redirection) needs.
    pub fn admin_ha1(&self) -> Option<[u8; 16]> {
        self.lock().admin_ha1()
    }

    /// "Digest:" + 32 upper-case hex characters, stable per device.
    pub fn digest_realm(&self) -> String {
        self.0.identity.realm.clone()
    }

    /// CIM power state (2 = on, 8 = off-soft, ...).
    pub fn power_state(&self) -> u16 {
        self.lock().power_state
    }

    /// Sets the host power state directly (what a person at the machine would do).
    pub fn set_power_state(&self, state: u16) {
        self.with_state(|s| s.power_state = state);
    }

    /// Whether AMT_RedirectionService has SOL enabled (listener on and SOL in the enabled state).
    pub fn sol_enabled(&self) -> bool {
        self.lock().sol_enabled()
    }

    pub fn hostname(&self) -> String {
        self.lock().general.host_name.clone()
    }

    pub fn firmware_version(&self) -> String {
        self.0.identity.firmware_version.clone()
    }

    /// Position of the device in its fleet.
    pub fn index(&self) -> u64 {
        self.0.identity.index
    }

    pub fn identity(&self) -> &Identity {
        &self.0.identity
    }

    /// The local system account (user, password) rpc-go reads from the ME; valid for WS-Man digest
    /// while the device is pre-provisioned.
    pub fn lsa_credentials(&self) -> (String, String) {
        (
            accounts::LSA_USER.to_string(),
            self.lock().lsa_password.clone(),
        )
    }

    /// Makes the firmware trust a provisioning root certificate (by its SHA-1, SHA-256 or SHA-384
    /// hash), as OEMs do for the CAs that sign ACM provisioning certificates.
    pub fn trust_root_hash(&self, hash: Vec<u8>) {
        self.with_state(|s| {
            if !s.trusted_root_hashes.contains(&hash) {
                s.trusted_root_hashes.push(hash);
            }
        });
    }

    /// The trusted provisioning root hashes (what rpc-go reports as `certHashes`).
    pub fn trusted_root_hashes(&self) -> Vec<Vec<u8>> {
        self.lock().trusted_root_hashes.clone()
    }

    /// Gives the device a WiFi port (AMT_EthernetPortSettings "… Settings 1" with a MAC address).
    pub fn set_wireless(&self, present: bool) {
        let bytes = *self.0.identity.guid.as_bytes();
        self.with_state(|s| {
            s.network.wifi.mac = present.then(|| {
                format!(
                    "06-{:02x}-{:02x}-{:02x}-{:02x}-{:02x}",
                    bytes[10], bytes[11], bytes[12], bytes[13], bytes[14]
                )
            });
        });
    }

    /// Whether KVM, SOL and IDER are enabled (KVM SAP state, redirection state and listener).
    pub fn redirection_features(&self) -> (bool, bool, bool) {
        let s = self.lock();
        (
            s.redirection.kvm_enabled(),
            s.redirection.sol_enabled(),
            s.redirection.ider_enabled(),
        )
    }

    /// Appends an audit record (e.g. the redirection service logs "SoL Session Opened": app 18, event 4).
    pub fn log_audit(&self, app_id: u16, event_id: u16, user: Option<&str>) {
        let initiator = match user {
            Some(u) => logs::Initiator::Digest(u.to_string()),
            None => logs::Initiator::Local,
        };
        self.with_state(|s| s.log_audit(app_id, event_id, initiator, Vec::new()));
    }

    pub fn control_mode(&self) -> ControlMode {
        self.lock().control_mode
    }

    /// Runs `f` on the state under the lock, then republishes the CIRA target if `f` changed it.
    /// Keep `f` short: the lock is shared by every service of this device.
    pub fn with_state<R>(&self, f: impl FnOnce(&mut DeviceState) -> R) -> R {
        let (result, cira) = {
            let mut state = self.lock();
            let result = f(&mut state);
            (result, state.cira_target())
        };
        self.0.cira.send_if_modified(|current| {
            if *current != cira {
                *current = cira;
                true
            } else {
                false
            }
        });
        result
    }

    /// The simulated PC's screen and console that KVM shows. Never held with the state lock.
    pub(crate) fn kvm_host(&self) -> MutexGuard<'_, crate::kvm::host::Host> {
        self.0
            .kvm
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn lock(&self) -> MutexGuard<'_, DeviceState> {
        // A panic elsewhere while holding the lock must not take every service of the device down.
        self.0
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// A stable realm per device: AMT shows "Digest:" followed by 32 upper-case hex digits.
fn realm_for(guid: &uuid::Uuid) -> String {
    let digest = Sha256::new()
        .chain_update(b"openamt-sim-realm")
        .chain_update(guid.as_bytes())
        .finalize();
    format!("Digest:{}", hex::encode_upper(&digest[..16]))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn guids_are_deterministic_and_distinct() {
        assert_eq!(guid_for(7, 1), guid_for(7, 1));
        assert_ne!(guid_for(7, 1), guid_for(7, 2));
        assert_ne!(guid_for(7, 1), guid_for(8, 1));
        let set: std::collections::HashSet<_> = (0..10_000).map(|i| guid_for(42, i)).collect();
        assert_eq!(set.len(), 10_000);
        assert_eq!(guid_for(1, 0).get_version_num(), 4);
    }

    #[test]
    fn uuid_bytes_follow_the_smbios_order_of_mps_spec() {
        // spec/mps.md §1.4: bytes 44 45 4C 4C 4B 00 10 42 80 33 B6 C0 4F 50 46 33 ↔ 4c4c4544-004b-4210-8033-b6c04f504633
        let guid = uuid::Uuid::parse_str("4c4c4544-004b-4210-8033-b6c04f504633").unwrap();
        assert_eq!(
            guid.to_bytes_le(),
            [
                0x44, 0x45, 0x4C, 0x4C, 0x4B, 0x00, 0x10, 0x42, 0x80, 0x33, 0xB6, 0xC0, 0x4F, 0x50,
                0x46, 0x33
            ]
        );
        let device = Device::new(DeviceSpec::fresh(3, 9));
        let bytes = device.uuid_bytes();
        assert_eq!(
            uuid::Uuid::from_bytes_le(bytes).hyphenated().to_string(),
            device.guid()
        );
    }

    #[test]
    fn realm_is_stable_and_shaped_like_amt() {
        let a = Device::new(DeviceSpec::fresh(1, 1));
        let b = Device::new(DeviceSpec::fresh(1, 1));
        assert_eq!(a.digest_realm(), b.digest_realm());
        let realm = a.digest_realm();
        let hex = realm.strip_prefix("Digest:").unwrap();
        assert_eq!(hex.len(), 32);
        assert!(
            hex.chars()
                .all(|c| c.is_ascii_digit() || ('A'..='F').contains(&c))
        );
    }

    #[test]
    fn fresh_device_is_pre_provisioned_without_cira() {
        let device = Device::new(DeviceSpec::fresh(1, 2));
        assert_eq!(device.control_mode(), ControlMode::PreProvisioning);
        assert_eq!(device.admin_password(), None);
        assert_eq!(device.admin_user(), "admin");
        assert!(device.cira().borrow().is_none());
        assert_eq!(device.power_state(), 2);
    }

    #[test]
    fn provisioned_spec_publishes_cira_and_redacts_secrets() {
        let cira = CiraSettings {
            server: "mps.example".into(),
            port: 4433,
            username: "ciraUser".into(),
            password: "S3cret!pw".into(),
            root_cert_der: None,
        };
        let spec = DeviceSpec {
            provisioned: Some(Provisioned {
                mode: ControlMode::Ccm,
                admin_password: "Adm1n!pw".into(),
                cira: Some(cira.clone()),
            }),
            ..DeviceSpec::fresh(1, 3)
        };
        assert!(!format!("{spec:?}").contains("Adm1n!pw"));
        assert!(!format!("{spec:?}").contains("S3cret!pw"));
        let device = Device::new(spec);
        assert_eq!(device.control_mode(), ControlMode::Ccm);
        assert_eq!(device.admin_password().as_deref(), Some("Adm1n!pw"));
        assert_eq!(device.cira().borrow().as_ref(), Some(&cira));
    }
}
