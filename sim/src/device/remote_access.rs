//! Remote access (CIRA) configuration: MPS servers (AMT_ManagementPresenceRemoteSAP), policy rules
//! (AMT_RemoteAccessPolicyRule) and their bindings (AMT_RemoteAccessPolicyAppliesToMPS), the
//! user-initiated connection service and environment detection.

use std::fmt;

/// An MPS the device may tunnel to (added with AddMpServer).
#[derive(Clone, PartialEq, Eq)]
pub struct MpServer {
    /// `Intel(r) AMT:Management Presence Server <n>`.
    pub name: String,
    pub access_info: String,
    /// 3 IPv4, 4 IPv6, 201 FQDN.
    pub info_format: u32,
    pub port: u16,
    /// 1 mutual TLS, 2 user name and password.
    pub auth_method: u32,
    pub username: String,
    pub password: String,
    pub common_name: String,
}

impl fmt::Debug for MpServer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MpServer")
            .field("name", &self.name)
            .field("access_info", &self.access_info)
            .field("port", &self.port)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// A remote access policy rule, bound to one or more MPS servers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyRule {
    /// 0 user initiated, 1 alert, 2 periodic.
    pub trigger: u32,
    pub tunnel_life_time: u32,
    /// Base64; for periodic rules the interval.
    pub extended_data: String,
    pub bindings: Vec<PolicyBinding>,
}

/// AMT_RemoteAccessPolicyAppliesToMPS: one rule → server binding.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PolicyBinding {
    pub server: String,
    /// 0 external, 1 internal, 2 both.
    pub mps_type: u32,
    pub order_of_access: u32,
}

impl PolicyRule {
    /// AMT names rules after their trigger.
    pub fn name(&self) -> &'static str {
        rule_name(self.trigger)
    }
}

pub fn rule_name(trigger: u32) -> &'static str {
    match trigger {
        0 => "User Initiated",
        1 => "Alert",
        _ => "Periodic",
    }
}

/// The remote-access part of the device state.
#[derive(Clone, Debug)]
pub struct RemoteAccessState {
    pub servers: Vec<MpServer>,
    pub next_server: u32,
    pub rules: Vec<PolicyRule>,
    /// AMT_UserInitiatedConnectionService.EnabledState: 32768 disabled … 32771 BIOS and OS enabled.
    pub user_initiated_state: u32,
    /// AMT_EnvironmentDetectionSettingData.DetectionStrings (inside the enterprise when matched).
    pub detection_strings: Vec<String>,
}

/// Most MPS servers AMT stores (AMT_RemoteAccessCapabilities.MaxTotalMpServers).
pub const MAX_SERVERS: usize = 6;

impl Default for RemoteAccessState {
    fn default() -> Self {
        RemoteAccessState {
            servers: Vec::new(),
            next_server: 0,
            rules: Vec::new(),
            user_initiated_state: 32768,
            detection_strings: Vec::new(),
        }
    }
}

impl RemoteAccessState {
    pub fn server(&self, name: &str) -> Option<&MpServer> {
        self.servers.iter().find(|s| s.name == name)
    }

    pub fn rule(&self, name: &str) -> Option<&PolicyRule> {
        self.rules.iter().find(|r| r.name() == name)
    }

    /// The server the device keeps a tunnel to: one bound to the periodic rule.
    pub fn periodic_server(&self) -> Option<&MpServer> {
        let rule = self.rules.iter().find(|r| r.trigger == 2)?;
        let mut bindings: Vec<&PolicyBinding> = rule.bindings.iter().collect();
        bindings.sort_by_key(|b| b.order_of_access);
        bindings.into_iter().find_map(|b| self.server(&b.server))
    }
}
