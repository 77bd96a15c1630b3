//! Network configuration: AMT_EthernetPortSettings (wired "… Settings 0", WiFi "… Settings 1"),
//! 802.1x (IPS_IEEE8021xSettings, AMT_8021XProfile, credential contexts), WiFi
//! (AMT_WiFiPortConfigurationService, CIM_WiFiPort, CIM_WiFiEndpoint, CIM_WiFiEndpointSettings) and
//! HTTP proxies (IPS_HTTPProxyService, IPS_HTTPProxyAccessPoint).

use wsman::response::{FaultSpec, Instance, Prop};
use wsman::xml::Element;

use super::{AMT_SYSTEM, flag, reference, service};
use crate::device::network::{EthernetPort, MAX_WIFI_PROFILES, ProxyAccessPoint, WifiProfile};
use crate::device::{DeviceState, Identity};
use crate::wsman_server::dispatch::{ClassDef, Ctx, OpResult, Output, return_value};

pub const CLASSES: &[ClassDef] = &[
    ClassDef {
        name: "AMT_EthernetPortSettings",
        instances: ethernet_ports,
        put: Some(put_ethernet_port),
        delete: None,
        create: None,
        methods: &[("SetLinkPreference", set_link_preference)],
    },
    ClassDef {
        name: "IPS_IEEE8021xSettings",
        instances: ips_8021x_settings,
        put: Some(put_ips_8021x_settings),
        delete: None,
        create: None,
        methods: &[("SetCertificates", set_certificates)],
    },
    ClassDef::read_only("CIM_IEEE8021xSettings", no_instances),
    ClassDef {
        name: "AMT_8021XProfile",
        instances: amt_8021x_profile,
        put: Some(put_amt_8021x_profile),
        delete: None,
        create: None,
        methods: &[],
    },
    ClassDef::read_only("AMT_8021xCredentialContext", no_instances),
    ClassDef::read_only("IPS_8021xCredentialContext", no_instances),
    ClassDef {
        name: "AMT_WiFiPortConfigurationService",
        instances: wifi_port_configuration,
        put: Some(put_wifi_port_configuration),
        delete: None,
        create: None,
        methods: &[
            ("AddWiFiSettings", add_wifi_settings),
            ("UpdateWiFiSettings", update_wifi_settings),
        ],
    },
    ClassDef {
        name: "CIM_WiFiPort",
        instances: wifi_port,
        put: None,
        delete: None,
        create: None,
        methods: &[("RequestStateChange", wifi_port_state_change)],
    },
    ClassDef::read_only("CIM_WiFiEndpoint", wifi_endpoint),
    ClassDef {
        name: "CIM_WiFiEndpointSettings",
        instances: wifi_endpoint_settings,
        put: None,
        delete: Some(delete_wifi_endpoint_settings),
        create: None,
        methods: &[],
    },
    ClassDef {
        name: "IPS_HTTPProxyService",
        instances: http_proxy_service,
        put: None,
        delete: None,
        create: None,
        methods: &[("AddProxyAccessPoint", add_proxy_access_point)],
    },
    ClassDef {
        name: "IPS_HTTPProxyAccessPoint",
        instances: http_proxy_access_points,
        put: None,
        delete: Some(delete_proxy_access_point),
        create: None,
        methods: &[("UpdatePriority", update_proxy_priority)],
    },
];

/// PT_STATUS_DUPLICATE, as AMT answers an entry that already exists.
const DUPLICATE: u32 = 2058;

fn no_instances(_: &Identity, _: &DeviceState) -> Vec<Instance> {
    Vec::new()
}

fn port_instance(port: &EthernetPort) -> Instance {
    let mut i = Instance::new("AMT_EthernetPortSettings");
    if let Some(retransmissions) = port.console_tcp_max_retransmissions {
        i = i.with("ConsoleTcpMaxRetransmissions", retransmissions);
    }
    i = i.with("DHCPEnabled", flag(port.dhcp_enabled));
    if let Some(gateway) = &port.default_gateway {
        i = i.with("DefaultGateway", gateway);
    }
    i = i.with("ElementName", "Intel(r) AMT Ethernet Port Settings");
    if let Some(ip) = &port.ip_address {
        i = i.with("IPAddress", ip);
    }
    i = i.with("InstanceID", port.instance_id());
    if !port.is_wireless() {
        i = i.with("IpSyncEnabled", flag(port.ip_sync_enabled));
    }
    if port.is_wireless() {
        i = i.with("LinkControl", 2);
    }
    i = i.with("LinkIsUp", flag(port.link_is_up));
    if !port.is_wireless() {
        i = i.with_prop(
            "LinkPolicy",
            Prop::List(vec!["1".into(), "14".into(), "16".into()]),
        );
    }
    if let Some(preference) = port.link_preference {
        i = i.with("LinkPreference", preference);
    }
    if let Some(mac) = &port.mac {
        i = i.with("MACAddress", mac);
    }
    i = i.with(
        "PhysicalConnectionType",
        if port.is_wireless() { 3 } else { 0 },
    );
    for (name, value) in [
        ("PrimaryDNS", &port.primary_dns),
        ("SecondaryDNS", &port.secondary_dns),
    ] {
        if let Some(value) = value {
            i = i.with(name, value);
        }
    }
    if !port.is_wireless() {
        i = i.with("SharedDynamicIP", "true");
    }
    i = i.with("SharedMAC", "true");
    if !port.is_wireless() {
        i = i.with("SharedStaticIp", flag(port.shared_static_ip));
    }
    if let Some(mask) = &port.subnet_mask {
        i = i.with("SubnetMask", mask);
    }
    if port.is_wireless() {
        i = i.with("WLANLinkProtectionLevel", 1);
    }
    i
}

fn ethernet_ports(_: &Identity, state: &DeviceState) -> Vec<Instance> {
    vec![
        port_instance(&state.network.wired),
        port_instance(&state.network.wifi),
    ]
}

fn port_id(ctx: &Ctx<'_>) -> Option<String> {
    ctx.request
        .selector("InstanceID")
        .map(str::to_string)
        .or_else(|| ctx.field("InstanceID"))
}

/// DHCP or static addressing. With DHCP the leased addresses stay; a static configuration without
/// IP synchronisation needs an address and mask.
fn put_ethernet_port(ctx: &mut Ctx<'_>) -> OpResult<()> {
    ctx.payload()?;
    let id = port_id(ctx).ok_or_else(FaultSpec::invalid_selectors)?;
    let dhcp = ctx.field_bool("DHCPEnabled")?;
    let ip_sync = ctx.field_bool("IpSyncEnabled")?;
    let shared_static = ctx.field_bool("SharedStaticIp")?;
    let retransmissions = ctx.field_u32("ConsoleTcpMaxRetransmissions")?;
    let addresses = [
        "IPAddress",
        "SubnetMask",
        "DefaultGateway",
        "PrimaryDNS",
        "SecondaryDNS",
    ]
    .map(|n| ctx.field(n));
    let port = ctx
        .state
        .network
        .port_mut(&id)
        .ok_or_else(FaultSpec::invalid_selectors)?;
    if port.is_wireless() && dhcp == Some(false) {
        return Err(FaultSpec::schema_validation_error(
            "The wireless port supports DHCP only.",
        ));
    }
    let dhcp = dhcp.unwrap_or(port.dhcp_enabled);
    let ip_sync = ip_sync.unwrap_or(port.ip_sync_enabled);
    if !dhcp && !ip_sync && addresses[0].is_none() && port.ip_address.is_none() {
        return Err(FaultSpec::schema_validation_error(
            "A static configuration needs IPAddress and SubnetMask.",
        ));
    }
    port.dhcp_enabled = dhcp;
    port.ip_sync_enabled = ip_sync;
    if let Some(v) = shared_static {
        port.shared_static_ip = v;
    }
    if let Some(v) = retransmissions {
        port.console_tcp_max_retransmissions = Some(v);
    }
    if !dhcp {
        let [ip, mask, gateway, dns1, dns2] = addresses;
        for (target, value) in [
            (&mut port.ip_address, ip),
            (&mut port.subnet_mask, mask),
            (&mut port.default_gateway, gateway),
            (&mut port.primary_dns, dns1),
            (&mut port.secondary_dns, dns2),
        ] {
            if value.is_some() {
                *target = value;
            }
        }
    }
    ctx.audit(22, 0, Vec::new()); // TCP/IP Parameters Set
    Ok(())
}

/// SetLinkPreference on the WiFi port: 1 = ME owns the link, 2 = host.
fn set_link_preference(ctx: &mut Ctx<'_>) -> OpResult<Output> {
    let preference = ctx.required_u32("LinkPreference")?;
    let _timeout = ctx.field_u32("Timeout")?;
    if !matches!(preference, 1 | 2) {
        return Ok(return_value(36));
    }
    let id = port_id(ctx).unwrap_or_else(|| "Intel(r) AMT Ethernet Port Settings 1".into());
    match ctx.state.network.port_mut(&id) {
        Some(port) if port.is_wireless() && port.mac.is_some() => {
            port.link_preference = Some(preference);
            Ok(return_value(0))
        }
        _ => Ok(return_value(16)),
    }
}

fn ips_8021x_settings(_: &Identity, state: &DeviceState) -> Vec<Instance> {
    let n = &state.network;
    vec![
        Instance::new("IPS_IEEE8021xSettings")
            .with("AvailableInS0", flag(n.wired_8021x_available_in_s0))
            .with("ElementName", "Intel(r) AMT: 8021X Settings")
            .with("Enabled", n.wired_8021x_enabled)
            .with("InstanceID", "Intel(r) AMT: 8021X Settings")
            .with("PxeTimeout", n.wired_8021x_pxe_timeout),
    ]
}

/// Enabled: 2 enabled, 3 disabled, 6 enabled without certificates.
fn put_ips_8021x_settings(ctx: &mut Ctx<'_>) -> OpResult<()> {
    ctx.payload()?;
    let enabled = ctx.field_u32("Enabled")?;
    if enabled.is_some_and(|e| !matches!(e, 2 | 3 | 6)) {
        return Err(FaultSpec::schema_validation_error(
            "Enabled must be 2, 3 or 6.",
        ));
    }
    let available = ctx.field_bool("AvailableInS0")?;
    let pxe = ctx.field_u32("PxeTimeout")?;
    let n = &mut ctx.state.network;
    if let Some(v) = enabled {
        n.wired_8021x_enabled = v;
    }
    if let Some(v) = available {
        n.wired_8021x_available_in_s0 = v;
    }
    if let Some(v) = pxe {
        n.wired_8021x_pxe_timeout = v;
    }
    Ok(())
}

/// Binds the 802.1x server-issuer and client certificates; both must be in the store.
fn set_certificates(ctx: &mut Ctx<'_>) -> OpResult<Output> {
    for name in ["ServerCertificateIssuer", "ClientCertificate"] {
        if let Some(epr) = ctx.reference(name) {
            let known = epr
                .selector("InstanceID")
                .is_some_and(|id| ctx.state.pki.certificate_by_instance(id).is_some());
            if !known {
                return Ok(return_value(36));
            }
        }
    }
    Ok(return_value(0))
}

fn amt_8021x_profile(_: &Identity, state: &DeviceState) -> Vec<Instance> {
    let n = &state.network;
    vec![
        Instance::new("AMT_8021XProfile")
            .with("ActiveInS0", flag(n.profile_8021x_active_in_s0))
            .with("ElementName", "Intel(r) AMT 802.1x Profile")
            .with("Enabled", flag(n.profile_8021x_enabled))
            .with("InstanceID", "Intel(r) AMT 802.1x Profile 0")
            .with("PxeTimeout", n.profile_8021x_pxe_timeout),
    ]
}

fn put_amt_8021x_profile(ctx: &mut Ctx<'_>) -> OpResult<()> {
    ctx.payload()?;
    let enabled = ctx.field_bool("Enabled")?;
    let active = ctx.field_bool("ActiveInS0")?;
    let pxe = ctx.field_u32("PxeTimeout")?;
    let n = &mut ctx.state.network;
    if let Some(v) = enabled {
        n.profile_8021x_enabled = v;
    }
    if let Some(v) = active {
        n.profile_8021x_active_in_s0 = v;
    }
    if let Some(v) = pxe {
        n.profile_8021x_pxe_timeout = v;
    }
    Ok(())
}

fn wifi_port_configuration(_: &Identity, state: &DeviceState) -> Vec<Instance> {
    vec![
        Instance::new("AMT_WiFiPortConfigurationService")
            .with("CreationClassName", "AMT_WiFiPortConfigurationService")
            .with("ElementName", "Intel(r) AMT WiFiPort Configuration Service")
            .with("EnabledState", 5)
            .with("HealthState", 5)
            .with("LastConnectedSsidUnderMeControl", "")
            .with("Name", "Intel(r) AMT WiFi Port Configuration Service")
            .with("NoHostCsmeSoftwarePolicy", 0)
            .with("RequestedState", 12)
            .with("SystemCreationClassName", "CIM_ComputerSystem")
            .with("SystemName", AMT_SYSTEM)
            .with(
                "UEFIWiFiProfileShareEnabled",
                flag(state.network.uefi_wifi_profile_share),
            )
            .with(
                "localProfileSynchronizationEnabled",
                state.network.local_profile_sync,
            ),
    ]
}

fn put_wifi_port_configuration(ctx: &mut Ctx<'_>) -> OpResult<()> {
    ctx.payload()?;
    let sync = ctx.field_u32("localProfileSynchronizationEnabled")?;
    let uefi = ctx.field_bool("UEFIWiFiProfileShareEnabled")?;
    if sync.is_some_and(|s| s > 3) {
        return Err(FaultSpec::schema_validation_error(
            "localProfileSynchronizationEnabled must be 0 to 3.",
        ));
    }
    if let Some(v) = sync {
        ctx.state.network.local_profile_sync = v;
    }
    if let Some(v) = uefi {
        ctx.state.network.uefi_wifi_profile_share = v;
    }
    Ok(())
}

/// The profile in `WiFiEndpointSettingsInput`.
fn wifi_profile_input(input: &Element) -> Option<WifiProfile> {
    let text = |name: &str| input.child(name).map(|e| e.text.trim().to_string());
    let number = |name: &str| text(name).and_then(|v| v.parse::<u32>().ok());
    let instance_id = text("InstanceID").or_else(|| text("ElementName"))?;
    Some(WifiProfile {
        element_name: text("ElementName").unwrap_or_else(|| instance_id.clone()),
        instance_id,
        ssid: text("SSID")?,
        priority: number("Priority").unwrap_or(1),
        authentication_method: number("AuthenticationMethod").unwrap_or(6),
        encryption_method: number("EncryptionMethod").unwrap_or(4),
        psk_pass_phrase: text("PSKPassPhrase"),
    })
}

/// Adds a WiFi profile to `WiFi Endpoint 0`. 2058 for a duplicate InstanceID, 23 beyond eight profiles.
/// The endpoint is named by CIM_WiFiEndpoint's key `Name` (what the reference RPS and its WS-Man library
/// send); `InstanceID` is accepted too.
fn add_wifi_settings(ctx: &mut Ctx<'_>) -> OpResult<Output> {
    let payload = ctx.payload()?;
    let endpoint_ok = ctx.reference("WiFiEndpoint").is_some_and(|e| {
        ["Name", "InstanceID"]
            .iter()
            .any(|key| e.selector(key) == Some("WiFi Endpoint 0"))
    });
    let profile = payload
        .child("WiFiEndpointSettingsInput")
        .and_then(wifi_profile_input);
    let Some(profile) = profile.filter(|_| endpoint_ok) else {
        return Ok(return_value(36));
    };
    if ctx.state.network.wifi.mac.is_none() {
        return Ok(return_value(16));
    }
    let profiles = &mut ctx.state.network.wifi_profiles;
    if profiles
        .iter()
        .any(|p| p.instance_id == profile.instance_id || p.priority == profile.priority)
    {
        return Ok(return_value(DUPLICATE));
    }
    if profiles.len() >= MAX_WIFI_PROFILES {
        return Ok(return_value(23));
    }
    profiles.push(profile);
    ctx.audit(27, 0, Vec::new()); // Wireless configuration: profile added
    Ok(return_value(0))
}

fn update_wifi_settings(ctx: &mut Ctx<'_>) -> OpResult<Output> {
    let payload = ctx.payload()?;
    let Some(profile) = payload
        .child("WiFiEndpointSettingsInput")
        .and_then(wifi_profile_input)
    else {
        return Ok(return_value(36));
    };
    match ctx
        .state
        .network
        .wifi_profiles
        .iter_mut()
        .find(|p| p.instance_id == profile.instance_id)
    {
        Some(existing) => {
            *existing = profile;
            Ok(return_value(0))
        }
        None => Ok(return_value(36)),
    }
}

fn wifi_port(_: &Identity, state: &DeviceState) -> Vec<Instance> {
    let mac = state
        .network
        .wifi
        .mac
        .as_deref()
        .map(|m| m.replace('-', ""))
        .unwrap_or_else(|| "000000000000".into());
    let enabled = state.network.wifi_port_state;
    vec![
        Instance::new("CIM_WiFiPort")
            .with("CreationClassName", "CIM_WiFiPort")
            .with("DeviceID", "WiFi Port 0")
            .with("ElementName", "WiFi Port 0")
            .with("EnabledState", enabled)
            .with("HealthState", 5)
            .with("LinkTechnology", 11)
            .with("PermanentAddress", mac)
            .with("PortType", 0)
            .with("RequestedState", enabled)
            .with("SystemCreationClassName", "CIM_ComputerSystem")
            .with("SystemName", AMT_SYSTEM),
    ]
}

/// 3 disabled, 32768 enabled in S0, 32769 enabled in S0, Sx and AC.
fn wifi_port_state_change(ctx: &mut Ctx<'_>) -> OpResult<Output> {
    let requested = ctx.required_u32("RequestedState")?;
    if !matches!(requested, 3 | 32768 | 32769) {
        return Ok(return_value(5));
    }
    if ctx.state.network.wifi.mac.is_none() {
        return Ok(return_value(1));
    }
    ctx.state.network.wifi_port_state = requested;
    Ok(return_value(0))
}

fn wifi_endpoint(_: &Identity, state: &DeviceState) -> Vec<Instance> {
    if state.network.wifi.mac.is_none() {
        return Vec::new();
    }
    vec![
        Instance::new("CIM_WiFiEndpoint")
            .with("CreationClassName", "CIM_WiFiEndpoint")
            .with("ElementName", "WiFi Endpoint 0")
            .with("InstanceID", "WiFi Endpoint 0")
            .with("Name", "WiFi Endpoint 0")
            .with("SystemCreationClassName", "CIM_ComputerSystem")
            .with("SystemName", AMT_SYSTEM),
    ]
}

fn wifi_endpoint_settings(_: &Identity, state: &DeviceState) -> Vec<Instance> {
    state
        .network
        .wifi_profiles
        .iter()
        .map(|p| {
            Instance::new("CIM_WiFiEndpointSettings")
                .with("AuthenticationMethod", p.authentication_method)
                .with("BSSType", 3)
                .with("ElementName", &p.element_name)
                .with("EncryptionMethod", p.encryption_method)
                .with("InstanceID", &p.instance_id)
                .with("Priority", p.priority)
                .with("SSID", &p.ssid)
        })
        .collect()
}

fn delete_wifi_endpoint_settings(ctx: &mut Ctx<'_>) -> OpResult<()> {
    let id = ctx
        .request
        .selector("InstanceID")
        .map(str::to_string)
        .ok_or_else(FaultSpec::invalid_selectors)?;
    let profiles = &mut ctx.state.network.wifi_profiles;
    let before = profiles.len();
    profiles.retain(|p| p.instance_id != id);
    if profiles.len() == before {
        return Err(FaultSpec::invalid_selectors());
    }
    Ok(())
}

fn http_proxy_service(_: &Identity, _: &DeviceState) -> Vec<Instance> {
    vec![service(
        "IPS_HTTPProxyService",
        "Intel(r) AMT HTTP Proxy Service",
        "Intel(r) AMT HTTP Proxy Service",
        AMT_SYSTEM,
        &[
            ("EnabledState", "5".into()),
            ("RequestedState", "12".into()),
        ],
    )]
}

fn proxy_reference(name: &str) -> wsman::EndpointReference {
    reference(
        "IPS_HTTPProxyAccessPoint",
        &[
            ("CreationClassName", "IPS_HTTPProxyAccessPoint"),
            ("Name", name),
            ("SystemCreationClassName", "CIM_ComputerSystem"),
            ("SystemName", AMT_SYSTEM),
        ],
    )
}

/// Most proxies AMT holds (AMT_RemoteAccessCapabilities.MaxTotalProxyEntryPoints).
const MAX_PROXIES: usize = 15;

fn add_proxy_access_point(ctx: &mut Ctx<'_>) -> OpResult<Output> {
    let access_info = ctx.required("AccessInfo")?;
    let info_format = ctx.required_u32("InfoFormat")?;
    let port = ctx.required_u32("Port")?;
    let network_dns_suffix = ctx.field("NetworkDnsSuffix").unwrap_or_default();
    if access_info.is_empty() || !matches!(info_format, 3 | 4 | 201) || port == 0 || port > 65535 {
        return Ok(return_value(36));
    }
    let network = &mut ctx.state.network;
    if network
        .proxies
        .iter()
        .any(|p| p.access_info == access_info && p.port == port)
    {
        return Ok(vec![
            (
                "ProxyAccessPoint".into(),
                Prop::Reference(wsman::EndpointReference {
                    address: "default".into(),
                    ..Default::default()
                }),
            ),
            ("ReturnValue".into(), Prop::text(DUPLICATE)),
        ]);
    }
    if network.proxies.len() >= MAX_PROXIES {
        return Ok(return_value(23));
    }
    let name = format!("Intel(r) ME:HTTP Proxy Access Point {}", network.next_proxy);
    network.next_proxy += 1;
    let priority = network.proxies.len() as u32 + 1;
    network.proxies.push(ProxyAccessPoint {
        name: name.clone(),
        access_info,
        info_format,
        port,
        network_dns_suffix,
        priority,
    });
    Ok(vec![
        (
            "ProxyAccessPoint".into(),
            Prop::Reference(proxy_reference(&name)),
        ),
        ("ReturnValue".into(), Prop::text(0)),
    ])
}

fn http_proxy_access_points(_: &Identity, state: &DeviceState) -> Vec<Instance> {
    state
        .network
        .proxies
        .iter()
        .map(|p| {
            Instance::new("IPS_HTTPProxyAccessPoint")
                .with("AccessInfo", &p.access_info)
                .with("CreationClassName", "IPS_HTTPProxyAccessPoint")
                .with("ElementName", "Intel(r) ME:HTTP Proxy Access Point")
                .with("InfoFormat", p.info_format)
                .with("Name", &p.name)
                .with("NetworkDnsSuffix", &p.network_dns_suffix)
                .with("Port", p.port)
                .with("Priority", p.priority)
                .with("SystemCreationClassName", "CIM_ComputerSystem")
                .with("SystemName", AMT_SYSTEM)
        })
        .collect()
}

fn delete_proxy_access_point(ctx: &mut Ctx<'_>) -> OpResult<()> {
    let name = ctx
        .request
        .selector("Name")
        .map(str::to_string)
        .ok_or_else(FaultSpec::invalid_selectors)?;
    let proxies = &mut ctx.state.network.proxies;
    let before = proxies.len();
    proxies.retain(|p| p.name != name);
    if proxies.len() == before {
        return Err(FaultSpec::invalid_selectors());
    }
    Ok(())
}

/// UpdatePriority on the proxy named by the `Name` selector (the first proxy without one).
fn update_proxy_priority(ctx: &mut Ctx<'_>) -> OpResult<Output> {
    let priority = ctx.required_u32("Priority")?;
    let name = ctx.request.selector("Name").map(str::to_string);
    let proxies = &mut ctx.state.network.proxies;
    let target = match &name {
        Some(name) => proxies.iter_mut().find(|p| &p.name == name),
        None => proxies.first_mut(),
    };
    match target {
        Some(proxy) if priority >= 1 => {
            proxy.priority = priority;
            Ok(return_value(0))
        }
        _ => Ok(return_value(36)),
    }
}
