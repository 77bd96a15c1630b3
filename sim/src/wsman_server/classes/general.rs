//! General settings, firmware identity, the firmware clock and a few settings classes.

use wsman::response::{FaultSpec, Instance, Prop};

use super::{AMT_SYSTEM, flag, service};
use crate::device::{DeviceState, Identity};
use crate::wsman_server::dispatch::{ClassDef, Ctx, OpResult, Output, return_value};

pub const CLASSES: &[ClassDef] = &[
    ClassDef {
        name: "AMT_GeneralSettings",
        instances: general_settings,
        put: Some(put_general_settings),
        delete: None,
        create: None,
        methods: &[],
    },
    ClassDef::read_only("CIM_SoftwareIdentity", software_identity),
    ClassDef {
        name: "AMT_TimeSynchronizationService",
        instances: time_synchronization,
        put: None,
        delete: None,
        create: None,
        methods: &[
            ("GetLowAccuracyTimeSynch", get_low_accuracy),
            ("SetHighAccuracyTimeSynch", set_high_accuracy),
        ],
    },
    ClassDef {
        name: "AMT_KerberosSettingData",
        instances: kerberos,
        put: None,
        delete: None,
        create: None,
        methods: &[
            ("GetCredentialCacheState", credential_cache_state),
            ("SetCredentialCacheState", set_credential_cache),
        ],
    },
    ClassDef::read_only("AMT_CryptographicCapabilities", cryptographic_capabilities),
    ClassDef {
        name: "AMT_MPSUsernamePassword",
        instances: mps_username_password,
        put: Some(put_mps_username_password),
        delete: None,
        create: None,
        methods: &[],
    },
];

fn general_settings(id: &Identity, state: &DeviceState) -> Vec<Instance> {
    let g = &state.general;
    vec![
        Instance::new("AMT_GeneralSettings")
            .with("AMTNetworkEnabled", g.amt_network_enabled)
            .with(
                "DDNSPeriodicUpdateInterval",
                g.ddns_periodic_update_interval,
            )
            .with("DDNSTTL", g.ddns_ttl)
            .with(
                "DDNSUpdateByDHCPServerEnabled",
                flag(g.ddns_update_by_dhcp_server_enabled),
            )
            .with("DDNSUpdateEnabled", flag(g.ddns_update_enabled))
            .with("DHCPSyncRequiresHostname", 1)
            .with("DHCPv6ConfigurationTimeout", 0)
            .with("DigestRealm", &id.realm)
            .with("DomainName", &g.domain_name)
            .with("ElementName", "Intel(r) AMT: General Settings")
            .with("HostName", &g.host_name)
            .with("HostOSFQDN", &g.host_os_fqdn)
            .with("IdleWakeTimeout", g.idle_wake_timeout)
            .with("InstanceID", "Intel(r) AMT: General Settings")
            .with("NetworkInterfaceEnabled", "true")
            .with("PingResponseEnabled", flag(g.ping_response_enabled))
            .with("PowerSource", 0)
            .with("PreferredAddressFamily", g.preferred_address_family)
            .with(
                "PresenceNotificationInterval",
                g.presence_notification_interval,
            )
            .with("PrivacyLevel", g.privacy_level)
            .with(
                "RmcpPingResponseEnabled",
                flag(g.rmcp_ping_response_enabled),
            )
            .with("SharedFQDN", flag(g.shared_fqdn))
            .with("ThunderboltDockEnabled", 0)
            .with("WsmanOnlyMode", "false"),
    ]
}

fn put_general_settings(ctx: &mut Ctx<'_>) -> OpResult<()> {
    ctx.payload()?;
    let host_name = ctx.field("HostName");
    if host_name.as_ref().is_some_and(|h| h.len() > 63) {
        return Err(FaultSpec::schema_validation_error(
            "HostName is longer than 63 characters.",
        ));
    }
    let domain_name = ctx.field("DomainName");
    let host_os_fqdn = ctx.field("HostOSFQDN");
    let shared_fqdn = ctx.field_bool("SharedFQDN")?;
    let amt_network_enabled = ctx.field_u32("AMTNetworkEnabled")?;
    let rmcp = ctx.field_bool("RmcpPingResponseEnabled")?;
    let ping = ctx.field_bool("PingResponseEnabled")?;
    let ddns = ctx.field_bool("DDNSUpdateEnabled")?;
    let ddns_dhcp = ctx.field_bool("DDNSUpdateByDHCPServerEnabled")?;
    let ddns_ttl = ctx.field_u32("DDNSTTL")?;
    let ddns_interval = ctx.field_u32("DDNSPeriodicUpdateInterval")?;
    let idle = ctx.field_u32("IdleWakeTimeout")?;
    let family = ctx.field_u32("PreferredAddressFamily")?;
    let privacy = ctx.field_u32("PrivacyLevel")?;
    let presence = ctx.field_u32("PresenceNotificationInterval")?;
    let g = &mut ctx.state.general;
    if let Some(v) = host_name {
        g.host_name = v;
    }
    if let Some(v) = domain_name {
        g.domain_name = v;
    }
    if let Some(v) = host_os_fqdn {
        g.host_os_fqdn = v;
    }
    if let Some(v) = shared_fqdn {
        g.shared_fqdn = v;
    }
    if let Some(v) = amt_network_enabled {
        g.amt_network_enabled = v;
    }
    if let Some(v) = rmcp {
        g.rmcp_ping_response_enabled = v;
    }
    if let Some(v) = ping {
        g.ping_response_enabled = v;
    }
    if let Some(v) = ddns {
        g.ddns_update_enabled = v;
    }
    if let Some(v) = ddns_dhcp {
        g.ddns_update_by_dhcp_server_enabled = v;
    }
    if let Some(v) = ddns_ttl {
        g.ddns_ttl = v;
    }
    if let Some(v) = ddns_interval {
        g.ddns_periodic_update_interval = v;
    }
    if let Some(v) = idle {
        g.idle_wake_timeout = v;
    }
    if let Some(v) = family {
        g.preferred_address_family = v;
    }
    if let Some(v) = privacy {
        g.privacy_level = v;
    }
    if let Some(v) = presence {
        g.presence_notification_interval = v;
    }
    // TCP/IP Parameters Set (network administration app 22, event 0) is what AMT logs for this area.
    ctx.audit(22, 0, Vec::new());
    Ok(())
}

fn software_identity(id: &Identity, _state: &DeviceState) -> Vec<Instance> {
    let version = id.firmware_version.as_str();
    let build = id.firmware_build.as_str();
    [
        ("Flash", version),
        ("Netstack", version),
        ("AMTApps", version),
        ("AMT", version),
        ("Sku", id.firmware_sku.as_str()),
        ("VendorID", "8086"),
        ("Build Number", build),
        ("Recovery Version", version),
        ("Recovery Build Num", build),
        ("Legacy Mode", "False"),
        ("AMT FW Core Version", version),
    ]
    .into_iter()
    .map(|(instance, value)| {
        Instance::new("CIM_SoftwareIdentity")
            .with("InstanceID", instance)
            .with("IsEntity", "true")
            .with("VersionString", value)
    })
    .collect()
}

fn time_synchronization(_: &Identity, _: &DeviceState) -> Vec<Instance> {
    vec![service(
        "AMT_TimeSynchronizationService",
        "Intel(r) AMT Time Synchronization Service",
        "Intel(r) AMT Time Synchronization Service",
        AMT_SYSTEM,
        &[
            ("EnabledState", "5".into()),
            ("LocalTimeSyncEnabled", "0".into()),
            ("RequestedState", "12".into()),
            ("TimeSource", "0".into()),
        ],
    )]
}

fn get_low_accuracy(ctx: &mut Ctx<'_>) -> OpResult<Output> {
    Ok(vec![
        ("Ta0".into(), Prop::text(ctx.state.amt_time())),
        ("ReturnValue".into(), Prop::text(0)),
    ])
}

/// Moves the firmware clock to the console's Tm2 (the console's clock when it sent the request).
fn set_high_accuracy(ctx: &mut Ctx<'_>) -> OpResult<Output> {
    let _ta0 = ctx.required_u32("Ta0")?;
    let tm1 = ctx.required_u32("Tm1")?;
    let tm2 = ctx.required_u32("Tm2")?;
    if tm2 < tm1 {
        return Ok(return_value(36));
    }
    let now = i64::from(crate::device::logs::now());
    ctx.state.clock_offset = i64::from(tm2) - now;
    // AMT Time Set (time app 21, event 0) with the new time.
    ctx.audit(21, 0, tm2.to_be_bytes().to_vec());
    Ok(return_value(0))
}

fn kerberos(_: &Identity, _: &DeviceState) -> Vec<Instance> {
    vec![
        Instance::new("AMT_KerberosSettingData")
            .with("ElementName", "Intel(r) AMT: Kerberos Settings")
            .with("InstanceID", "Intel (r) AMT: Kerberos Settings")
            .with("KrbEnabled", "false")
            .with_prop(
                "SupportedEncryptionAlgorithms",
                Prop::List(vec!["0".into(), "1".into(), "2".into()]),
            ),
    ]
}

fn credential_cache_state(_: &mut Ctx<'_>) -> OpResult<Output> {
    Ok(vec![
        ("Enabled".into(), Prop::text("false")),
        ("ReturnValue".into(), Prop::text(0)),
    ])
}

/// Kerberos is not configured on the simulated device, so the cache cannot be enabled.
fn set_credential_cache(_: &mut Ctx<'_>) -> OpResult<Output> {
    Ok(return_value(16))
}

fn cryptographic_capabilities(_: &Identity, _: &DeviceState) -> Vec<Instance> {
    vec![
        Instance::new("AMT_CryptographicCapabilities")
            .with("ElementName", "Intel(r) AMT: Cryptographic Capabilities")
            .with("HardwareAcceleration", 1)
            .with("InstanceID", "Intel(r) AMT: Cryptographic Capabilities 0"),
    ]
}

fn mps_username_password(_: &Identity, state: &DeviceState) -> Vec<Instance> {
    let remote_id = state
        .remote_access
        .servers
        .first()
        .map(|s| s.username.clone())
        .unwrap_or_default();
    vec![
        Instance::new("AMT_MPSUsernamePassword")
            .with("InstanceID", "Intel(r) AMT:MPS Username Password 0")
            .with("RemoteID", remote_id),
    ]
}

/// Legacy way to set the CIRA credentials: updates every configured MPS server.
fn put_mps_username_password(ctx: &mut Ctx<'_>) -> OpResult<()> {
    let remote_id = ctx.required("RemoteID")?;
    let secret = ctx.field("Secret");
    for server in &mut ctx.state.remote_access.servers {
        server.username = remote_id.clone();
        if let Some(secret) = &secret {
            server.password = secret.clone();
        }
    }
    Ok(())
}
