//! AMT's view of the network: the wired port (AMT_EthernetPortSettings "… Settings 0"), the optional
//! WiFi port ("… Settings 1") with its profiles, 802.1x, and HTTP proxy access points.

use std::fmt;

/// One AMT_EthernetPortSettings instance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EthernetPort {
    /// 0 wired, 1 WiFi.
    pub index: u8,
    /// `None` when the hardware is absent (RPS skips a port without MACAddress).
    pub mac: Option<String>,
    pub link_is_up: bool,
    pub dhcp_enabled: bool,
    pub ip_sync_enabled: bool,
    pub shared_static_ip: bool,
    pub ip_address: Option<String>,
    pub subnet_mask: Option<String>,
    pub default_gateway: Option<String>,
    pub primary_dns: Option<String>,
    pub secondary_dns: Option<String>,
    pub console_tcp_max_retransmissions: Option<u32>,
    /// WiFi: 1 = ME, 2 = host.
    pub link_preference: Option<u32>,
}

impl EthernetPort {
    pub fn instance_id(&self) -> String {
        format!("Intel(r) AMT Ethernet Port Settings {}", self.index)
    }

    pub fn is_wireless(&self) -> bool {
        self.index == 1
    }
}

/// A WiFi profile (CIM_WiFiEndpointSettings) added with AddWiFiSettings.
#[derive(Clone, PartialEq, Eq)]
pub struct WifiProfile {
    pub instance_id: String,
    pub element_name: String,
    pub ssid: String,
    pub priority: u32,
    pub authentication_method: u32,
    pub encryption_method: u32,
    /// Write-only in AMT; never shown in answers.
    pub psk_pass_phrase: Option<String>,
}

impl fmt::Debug for WifiProfile {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WifiProfile")
            .field("instance_id", &self.instance_id)
            .field("ssid", &self.ssid)
            .field("priority", &self.priority)
            .finish_non_exhaustive()
    }
}

/// Most WiFi profiles AMT stores.
pub const MAX_WIFI_PROFILES: usize = 8;

/// An IPS_HTTPProxyAccessPoint.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProxyAccessPoint {
    pub name: String,
    pub access_info: String,
    pub info_format: u32,
    pub port: u32,
    pub network_dns_suffix: String,
    pub priority: u32,
}

/// The network part of the device state.
#[derive(Clone, Debug)]
pub struct NetworkState {
    pub wired: EthernetPort,
    pub wifi: EthernetPort,
    pub wifi_profiles: Vec<WifiProfile>,
    /// CIM_WiFiPort.EnabledState: 3 disabled, 32768 enabled in S0, 32769 enabled in S0/Sx/AC.
    pub wifi_port_state: u32,
    /// AMT_WiFiPortConfigurationService.localProfileSynchronizationEnabled.
    pub local_profile_sync: u32,
    pub uefi_wifi_profile_share: bool,
    /// IPS_IEEE8021xSettings.Enabled of the wired port: 2 enabled, 3 disabled, 6 enabled without certs.
    pub wired_8021x_enabled: u32,
    pub wired_8021x_pxe_timeout: u32,
    pub wired_8021x_available_in_s0: bool,
    pub proxies: Vec<ProxyAccessPoint>,
    pub next_proxy: u32,
    /// AMT_8021XProfile of the wired port.
    pub profile_8021x_enabled: bool,
    pub profile_8021x_active_in_s0: bool,
    pub profile_8021x_pxe_timeout: u32,
}

impl NetworkState {
    /// Deterministic addresses for device `index` (MACs in the locally administered range).
    pub fn new(mac_seed: [u8; 5], index: u64, wireless: bool) -> NetworkState {
        let mac = |kind: u8| {
            format!(
                "{:02x}-{:02x}-{:02x}-{:02x}-{:02x}-{:02x}",
                0x02 | kind,
                mac_seed[0],
                mac_seed[1],
                mac_seed[2],
                mac_seed[3],
                mac_seed[4]
            )
        };
        let host = index % 65_000 + 2;
        NetworkState {
            wired: EthernetPort {
                index: 0,
                mac: Some(mac(0)),
                link_is_up: true,
                dhcp_enabled: true,
                ip_sync_enabled: true,
                shared_static_ip: false,
                ip_address: Some(format!(
                    "10.{}.{}.{}",
                    64 + (host >> 16),
                    (host >> 8) & 0xff,
                    host & 0xff
                )),
                subnet_mask: Some("255.192.0.0".into()),
                default_gateway: Some("10.64.0.1".into()),
                primary_dns: Some("10.64.0.1".into()),
                secondary_dns: None,
                console_tcp_max_retransmissions: None,
                link_preference: None,
            },
            wifi: EthernetPort {
                index: 1,
                mac: wireless.then(|| mac(4)),
                link_is_up: false,
                dhcp_enabled: true,
                ip_sync_enabled: false,
                shared_static_ip: false,
                ip_address: None,
                subnet_mask: None,
                default_gateway: None,
                primary_dns: None,
                secondary_dns: None,
                console_tcp_max_retransmissions: Some(5),
                link_preference: Some(2),
            },
            wifi_profiles: Vec::new(),
            wifi_port_state: 3,
            local_profile_sync: 0,
            uefi_wifi_profile_share: false,
            wired_8021x_enabled: 3,
            wired_8021x_pxe_timeout: 120,
            wired_8021x_available_in_s0: false,
            proxies: Vec::new(),
            next_proxy: 0,
            profile_8021x_enabled: false,
            profile_8021x_active_in_s0: true,
            profile_8021x_pxe_timeout: 0,
        }
    }

    pub fn port(&self, instance_id: &str) -> Option<&EthernetPort> {
        [&self.wired, &self.wifi]
            .into_iter()
            .find(|p| p.instance_id() == instance_id)
    }

    pub fn port_mut(&mut self, instance_id: &str) -> Option<&mut EthernetPort> {
        [&mut self.wired, &mut self.wifi]
            .into_iter()
            .find(|p| p.instance_id() == instance_id)
    }
}
