//! Everything one simulated AMT remembers. The WS-Man responder reads and changes it under the
//! device lock; the rest of the simulator sees it through [`crate::device::Device`].

use std::collections::VecDeque;
use std::time::Duration;

use wsman::digest::NonceStore;
use wsman::response::Instance;

use super::accounts::{ADMIN_USER, AdminAccount, HostBasedSetup, UserAcl, random_password};
use super::logs::{AuditLog, AuditRecord, EventLog, EventRecord, Initiator, now};
use super::network::NetworkState;
use super::pki::PkiState;
use super::platform::{Alarm, BootSettings, Redirection, power_state};
use super::remote_access::{MpServer, PolicyBinding, PolicyRule, RemoteAccessState};
use super::{CiraSettings, ControlMode, Provisioned};

pub use super::accounts::LSA_USER;

/// AMT_GeneralSettings values that change.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GeneralSettings {
    pub host_name: String,
    pub domain_name: String,
    pub host_os_fqdn: String,
    pub shared_fqdn: bool,
    pub amt_network_enabled: u32,
    pub rmcp_ping_response_enabled: bool,
    pub ping_response_enabled: bool,
    pub ddns_update_enabled: bool,
    pub ddns_update_by_dhcp_server_enabled: bool,
    pub ddns_ttl: u32,
    pub ddns_periodic_update_interval: u32,
    pub idle_wake_timeout: u32,
    pub preferred_address_family: u32,
    pub privacy_level: u32,
    pub presence_notification_interval: u32,
}

/// WS-Man protocol bookkeeping of one device: digest nonces, open enumerations, answer counter.
#[derive(Debug)]
pub struct ProtocolState {
    pub nonces: NonceStore,
    pub enumerations: VecDeque<Enumeration>,
    pub next_context: u32,
    pub answers: u64,
}

/// An open enumeration: the items not yet pulled.
#[derive(Clone, Debug)]
pub struct Enumeration {
    pub context: String,
    pub resource_uri: String,
    pub items: VecDeque<Instance>,
}

/// Open enumerations kept per device; the oldest is dropped beyond this.
pub const MAX_ENUMERATIONS: usize = 8;
/// Digest nonces remembered per device and how long one stays fresh.
pub const NONCES_KEPT: usize = 8;
pub const NONCE_LIFETIME: Duration = Duration::from_secs(300);

impl ProtocolState {
    fn new() -> ProtocolState {
        ProtocolState {
            nonces: NonceStore::new(NONCES_KEPT, NONCE_LIFETIME),
            enumerations: VecDeque::new(),
            next_context: 1,
            answers: 0,
        }
    }

    /// Starts an enumeration and returns its context (AMT's form `XXXXXXXX-0000-0000-0000-000000000000`).
    pub fn open_enumeration(&mut self, resource_uri: &str, items: Vec<Instance>) -> String {
        let context = format!("{:08X}-0000-0000-0000-000000000000", self.next_context);
        self.next_context = self.next_context.wrapping_add(1).max(1);
        if self.enumerations.len() >= MAX_ENUMERATIONS {
            self.enumerations.pop_front();
        }
        self.enumerations.push_back(Enumeration {
            context: context.clone(),
            resource_uri: resource_uri.to_string(),
            items: items.into(),
        });
        context
    }

    /// Takes up to `max` items of an open enumeration; the enumeration closes once empty.
    /// Returns `None` for an unknown context (or one opened on another resource).
    pub fn pull(
        &mut self,
        context: &str,
        resource_uri: &str,
        max: usize,
    ) -> Option<(Vec<Instance>, bool)> {
        let position = self
            .enumerations
            .iter()
            .position(|e| e.context == context && e.resource_uri == resource_uri)?;
        let enumeration = &mut self.enumerations[position];
        let take = max.max(1).min(enumeration.items.len());
        let items: Vec<Instance> = enumeration.items.drain(..take).collect();
        let finished = enumeration.items.is_empty();
        if finished {
            self.enumerations.remove(position);
        }
        Some((items, finished))
    }

    /// The next MessageID counter value for an answer.
    pub fn next_answer(&mut self) -> u64 {
        self.answers += 1;
        self.answers
    }
}

/// The mutable state of one device.
pub struct DeviceState {
    pub control_mode: ControlMode,
    pub admin: Option<AdminAccount>,
    pub users: Vec<UserAcl>,
    pub next_user_handle: u32,
    /// Local system account password: valid digest credentials before activation (rpc-go sends
    /// it to RPS as `password`).
    pub lsa_password: String,
    pub mebx_password: Option<String>,
    pub hbs: HostBasedSetup,
    /// Hashes (SHA-1, SHA-256 or SHA-384) of the provisioning root certificates the firmware trusts.
    pub trusted_root_hashes: Vec<Vec<u8>>,
    pub general: GeneralSettings,
    pub power_state: u16,
    /// IPS_PowerManagementService.OSPowerSavingState: 2 full power, 3 OS power saving.
    pub os_power_saving_state: u32,
    pub boot: BootSettings,
    pub redirection: Redirection,
    pub alarms: Vec<Alarm>,
    pub audit: AuditLog,
    pub events: EventLog,
    pub network: NetworkState,
    pub pki: PkiState,
    pub remote_access: RemoteAccessState,
    /// AMT clock minus the simulator clock, in seconds (SetHighAccuracyTimeSynch moves it).
    pub clock_offset: i64,
    pub protocol: ProtocolState,
}

impl DeviceState {
    pub(crate) fn new(
        guid: &uuid::Uuid,
        index: u64,
        realm: &str,
        provisioned: Option<&Provisioned>,
    ) -> DeviceState {
        let bytes = guid.as_bytes();
        let mut state = DeviceState {
            control_mode: ControlMode::PreProvisioning,
            admin: None,
            users: Vec::new(),
            next_user_handle: 1,
            lsa_password: random_password(),
            mebx_password: None,
            hbs: HostBasedSetup::new(),
            trusted_root_hashes: Vec::new(),
            general: GeneralSettings {
                host_name: format!("sim-{index:06}"),
                domain_name: String::new(),
                host_os_fqdn: format!("sim-{index:06}"),
                shared_fqdn: true,
                amt_network_enabled: 1,
                rmcp_ping_response_enabled: true,
                ping_response_enabled: true,
                ddns_update_enabled: false,
                ddns_update_by_dhcp_server_enabled: true,
                ddns_ttl: 900,
                ddns_periodic_update_interval: 1440,
                idle_wake_timeout: 65535,
                preferred_address_family: 0,
                privacy_level: 0,
                presence_notification_interval: 0,
            },
            power_state: power_state::ON,
            os_power_saving_state: 2,
            boot: BootSettings::default(),
            redirection: Redirection::default(),
            alarms: Vec::new(),
            audit: AuditLog::default(),
            events: EventLog::default(),
            network: NetworkState::new(
                [bytes[10], bytes[11], bytes[12], bytes[13], bytes[14]],
                index,
                false,
            ),
            pki: PkiState::default(),
            remote_access: RemoteAccessState::default(),
            clock_offset: 0,
            protocol: ProtocolState::new(),
        };
        let boot_time = now().saturating_sub(3600);
        state.audit.push(AuditRecord {
            app_id: 20,
            event_id: 3,
            initiator: Initiator::Local,
            timestamp: boot_time,
            location: 2,
            net_address: String::new(),
            extended: Vec::new(),
        });
        for progress in [0x13, 0x07] {
            state
                .events
                .push(EventRecord::firmware_progress(boot_time, progress));
        }
        if let Some(p) = provisioned {
            state.apply_provisioned(realm, p);
        }
        state
    }

    fn apply_provisioned(&mut self, realm: &str, p: &Provisioned) {
        if p.mode == ControlMode::PreProvisioning {
            return;
        }
        self.control_mode = p.mode;
        self.admin = Some(AdminAccount {
            username: ADMIN_USER.to_string(),
            ha1: wsman::digest::ha1(ADMIN_USER, realm, &p.admin_password),
            plain: Some(p.admin_password.clone()),
        });
        self.log_local(16, 1); // Provisioning Completed
        if let Some(cira) = &p.cira {
            if let Some(root) = &cira.root_cert_der
                && let Err(error) = self.pki.add_certificate(root.clone(), true)
            {
                tracing::warn!(%error, "CIRA root certificate of the device spec was not stored");
            }
            let name = self.add_mp_server(MpServer {
                name: String::new(),
                access_info: cira.server.clone(),
                info_format: if cira.server.parse::<std::net::IpAddr>().is_ok() {
                    3
                } else {
                    201
                },
                port: cira.port,
                auth_method: 2,
                username: cira.username.clone(),
                password: cira.password.clone(),
                common_name: cira.server.clone(),
            });
            self.remote_access.rules.push(PolicyRule {
                trigger: 2,
                tunnel_life_time: 0,
                extended_data: "AAAAAAAAABk=".into(),
                bindings: vec![PolicyBinding {
                    server: name,
                    mps_type: 2,
                    order_of_access: 0,
                }],
            });
            self.remote_access.user_initiated_state = 32771;
        }
    }

    /// Stores an MPS server under the next AMT name and returns that name.
    pub fn add_mp_server(&mut self, mut server: MpServer) -> String {
        server.name = format!(
            "Intel(r) AMT:Management Presence Server {}",
            self.remote_access.next_server
        );
        self.remote_access.next_server += 1;
        let name = server.name.clone();
        self.remote_access.servers.push(server);
        name
    }

    pub fn admin_password_plain(&self) -> Option<String> {
        self.admin.as_ref().and_then(|a| a.plain.clone())
    }

    pub fn admin_ha1(&self) -> Option<[u8; 16]> {
        self.admin.as_ref().map(|a| a.ha1)
    }

    pub fn admin_user(&self) -> String {
        self.admin
            .as_ref()
            .map(|a| a.username.clone())
            .unwrap_or_else(|| ADMIN_USER.to_string())
    }

    pub fn sol_enabled(&self) -> bool {
        self.redirection.sol_enabled()
    }

    /// AMT_SetupAndConfigurationService.ProvisioningState: 0 pre, 2 post.
    pub fn provisioning_state(&self) -> u32 {
        if self.control_mode == ControlMode::PreProvisioning {
            0
        } else {
            2
        }
    }

    /// Where the device should hold a CIRA tunnel right now: a server bound to the periodic policy,
    /// verified against the most recently added trusted root.
    pub fn cira_target(&self) -> Option<CiraSettings> {
        if self.control_mode == ControlMode::PreProvisioning {
            return None;
        }
        let server = self.remote_access.periodic_server()?;
        Some(CiraSettings {
            server: server.access_info.clone(),
            port: server.port,
            username: server.username.clone(),
            password: server.password.clone(),
            root_cert_der: self.pki.latest_trusted_root().map(|c| c.der.clone()),
        })
    }

    /// Appends an audit record made by `initiator`.
    pub fn log_audit(
        &mut self,
        app_id: u16,
        event_id: u16,
        initiator: Initiator,
        extended: Vec<u8>,
    ) {
        self.audit.push(AuditRecord {
            app_id,
            event_id,
            initiator,
            timestamp: self.amt_time(),
            location: 0,
            net_address: String::new(),
            extended,
        });
    }

    fn log_local(&mut self, app_id: u16, event_id: u16) {
        self.log_audit(app_id, event_id, Initiator::Local, Vec::new());
    }

    /// The firmware clock (seconds since 1970).
    pub fn amt_time(&self) -> u32 {
        let t = i64::from(now()) + self.clock_offset;
        u32::try_from(t.max(0)).unwrap_or(u32::MAX)
    }

    /// Full unprovision: back to the factory state (pre-provisioning), keeping the hardware identity,
    /// host name, logs and power state.
    pub fn unprovision(&mut self, initiator: Initiator) {
        self.log_audit(16, 19, initiator, vec![4]); // Unprovisioning Started, from remote WS-Man
        self.control_mode = ControlMode::PreProvisioning;
        self.admin = None;
        self.users.clear();
        self.mebx_password = None;
        self.hbs = HostBasedSetup::new();
        self.general.domain_name.clear();
        self.general.shared_fqdn = true;
        self.general.amt_network_enabled = 1;
        self.boot = BootSettings::default();
        self.redirection = Redirection::default();
        self.alarms.clear();
        self.network.wifi_profiles.clear();
        self.network.proxies.clear();
        self.network.wired_8021x_enabled = 3;
        self.network.wired.dhcp_enabled = true;
        self.network.wired.ip_sync_enabled = true;
        self.network.wired.shared_static_ip = false;
        self.network.local_profile_sync = 0;
        self.network.wifi_port_state = 3;
        self.pki = PkiState::default();
        self.remote_access = RemoteAccessState::default();
    }
}
