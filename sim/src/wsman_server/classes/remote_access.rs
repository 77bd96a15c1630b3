//! CIRA configuration: AMT_RemoteAccessService (AddMpServer, AddRemoteAccessPolicyRule), the MPS
//! servers, policy rules and their bindings, AMT_UserInitiatedConnectionService and
//! AMT_EnvironmentDetectionSettingData. A server bound to the periodic rule makes the device's
//! `cira()` target `Some` (see `DeviceState::cira_target`).

use wsman::response::{FaultSpec, Instance, Prop};
use wsman::xml::Element;

use super::{AMT_SYSTEM, reference, service};
use crate::device::remote_access::{MAX_SERVERS, MpServer, PolicyBinding, PolicyRule, rule_name};
use crate::device::{DeviceState, Identity};
use crate::wsman_server::dispatch::{ClassDef, Ctx, OpResult, Output, return_value};

pub const CLASSES: &[ClassDef] = &[
    ClassDef {
        name: "AMT_RemoteAccessService",
        instances: remote_access_service,
        put: None,
        delete: None,
        create: None,
        methods: &[
            ("AddMpServer", add_mp_server),
            ("AddRemoteAccessPolicyRule", add_policy_rule),
        ],
    },
    ClassDef {
        name: "AMT_ManagementPresenceRemoteSAP",
        instances: servers,
        put: None,
        delete: Some(delete_server),
        create: None,
        methods: &[],
    },
    ClassDef {
        name: "AMT_RemoteAccessPolicyRule",
        instances: rules,
        put: Some(put_rule),
        delete: Some(delete_rule),
        create: None,
        methods: &[],
    },
    ClassDef {
        name: "AMT_RemoteAccessPolicyAppliesToMPS",
        instances: bindings,
        put: Some(put_binding),
        delete: Some(delete_binding),
        create: Some(create_binding),
        methods: &[],
    },
    ClassDef::read_only("AMT_RemoteAccessCapabilities", capabilities),
    ClassDef {
        name: "AMT_UserInitiatedConnectionService",
        instances: user_initiated_connection,
        put: None,
        delete: None,
        create: None,
        methods: &[("RequestStateChange", user_initiated_state_change)],
    },
    ClassDef {
        name: "AMT_EnvironmentDetectionSettingData",
        instances: environment_detection,
        put: Some(put_environment_detection),
        delete: None,
        create: None,
        methods: &[],
    },
];

const PT_MAX_LIMIT: u32 = 23;
const PT_INVALID_PARAMETER: u32 = 36;
const PT_DUPLICATE: u32 = 2058;
/// Most detection domains AMT stores.
const MAX_DETECTION_STRINGS: usize = 5;

fn remote_access_service(_: &Identity, _: &DeviceState) -> Vec<Instance> {
    vec![service(
        "AMT_RemoteAccessService",
        "Intel(r) AMT Remote Access Service",
        "Intel(r) AMT Remote Access Service",
        AMT_SYSTEM,
        &[
            ("IsRemoteTunnelConnected", "false".into()),
            ("RemoteTunnelKeepAliveTimeout", "4294967295".into()),
        ],
    )]
}

fn server_reference(name: &str) -> wsman::EndpointReference {
    reference(
        "AMT_ManagementPresenceRemoteSAP",
        &[
            ("CreationClassName", "AMT_ManagementPresenceRemoteSAP"),
            ("Name", name),
            ("SystemCreationClassName", "CIM_ComputerSystem"),
            ("SystemName", AMT_SYSTEM),
        ],
    )
}

fn rule_reference(name: &str) -> wsman::EndpointReference {
    reference(
        "AMT_RemoteAccessPolicyRule",
        &[
            ("CreationClassName", "AMT_RemoteAccessPolicyRule"),
            ("PolicyRuleName", name),
            ("SystemCreationClassName", "CIM_ComputerSystem"),
            ("SystemName", AMT_SYSTEM),
        ],
    )
}

/// AddMpServer(AccessInfo, InfoFormat 3/4/201, Port, AuthMethod 1/2, Username, Password, CN).
fn add_mp_server(ctx: &mut Ctx<'_>) -> OpResult<Output> {
    let access_info = ctx.required("AccessInfo")?;
    let info_format = ctx.required_u32("InfoFormat")?;
    let port = ctx.required_u32("Port")?;
    let auth_method = ctx.required_u32("AuthMethod")?;
    let username = ctx.field("Username").unwrap_or_default();
    let password = ctx.field("Password").unwrap_or_default();
    let common_name = ctx.field("CN").unwrap_or_else(|| access_info.clone());
    let valid = !access_info.is_empty()
        && matches!(info_format, 3 | 4 | 201)
        && (1..=65535).contains(&port)
        && matches!(auth_method, 1 | 2)
        && (auth_method != 2
            || (!username.is_empty() && username.len() <= 16 && !password.is_empty()));
    if !valid {
        return Ok(return_value(PT_INVALID_PARAMETER));
    }
    let port = port as u16;
    let servers = &ctx.state.remote_access.servers;
    if servers
        .iter()
        .any(|s| s.access_info == access_info && s.port == port)
    {
        return Ok(return_value(PT_DUPLICATE));
    }
    if servers.len() >= MAX_SERVERS {
        return Ok(return_value(PT_MAX_LIMIT));
    }
    let name = ctx.state.add_mp_server(MpServer {
        name: String::new(),
        access_info,
        info_format,
        port,
        auth_method,
        username,
        password,
        common_name,
    });
    tracing::info!(guid = %ctx.id.guid, server = %name, "MPS server added");
    Ok(vec![
        ("MpServer".into(), Prop::Reference(server_reference(&name))),
        ("ReturnValue".into(), Prop::text(0)),
    ])
}

/// Server names from the `MpServer` references of an AddRemoteAccessPolicyRule.
fn referenced_servers(payload: &Element) -> Vec<String> {
    payload
        .children_named("MpServer")
        .map(wsman::parse::endpoint_reference_of)
        .filter_map(|epr| epr.selector("Name").map(str::to_string))
        .collect()
}

/// AddRemoteAccessPolicyRule(Trigger, TunnelLifeTime, ExtendedData, MpServer…): one rule per trigger.
fn add_policy_rule(ctx: &mut Ctx<'_>) -> OpResult<Output> {
    let trigger = ctx.required_u32("Trigger")?;
    let tunnel_life_time = ctx.field_u32("TunnelLifeTime")?.unwrap_or(0);
    let extended_data = ctx.field("ExtendedData").unwrap_or_default();
    let servers = referenced_servers(ctx.payload()?);
    if trigger > 2 || servers.is_empty() || servers.len() > 2 {
        return Ok(return_value(PT_INVALID_PARAMETER));
    }
    if servers
        .iter()
        .any(|s| ctx.state.remote_access.server(s).is_none())
    {
        return Ok(return_value(PT_INVALID_PARAMETER));
    }
    if ctx
        .state
        .remote_access
        .rules
        .iter()
        .any(|r| r.trigger == trigger)
    {
        return Ok(return_value(PT_DUPLICATE));
    }
    let bindings = servers
        .into_iter()
        .enumerate()
        .map(|(order, server)| PolicyBinding {
            server,
            mps_type: 0,
            order_of_access: order as u32,
        })
        .collect();
    ctx.state.remote_access.rules.push(PolicyRule {
        trigger,
        tunnel_life_time,
        extended_data,
        bindings,
    });
    tracing::info!(guid = %ctx.id.guid, rule = rule_name(trigger), "remote access policy added");
    Ok(vec![
        (
            "PolicyRule".into(),
            Prop::Reference(rule_reference(rule_name(trigger))),
        ),
        ("ReturnValue".into(), Prop::text(0)),
    ])
}

fn servers(_: &Identity, state: &DeviceState) -> Vec<Instance> {
    state
        .remote_access
        .servers
        .iter()
        .map(|s| {
            Instance::new("AMT_ManagementPresenceRemoteSAP")
                .with("AccessInfo", &s.access_info)
                .with("CN", &s.common_name)
                .with("CreationClassName", "AMT_ManagementPresenceRemoteSAP")
                .with("ElementName", "Intel(r) AMT:Management Presence Server")
                .with("InfoFormat", s.info_format)
                .with("Name", &s.name)
                .with("Port", s.port)
                .with("SystemCreationClassName", "CIM_ComputerSystem")
                .with("SystemName", AMT_SYSTEM)
        })
        .collect()
}

/// A server still used by a policy rule cannot be deleted.
fn delete_server(ctx: &mut Ctx<'_>) -> OpResult<()> {
    let name = ctx
        .request
        .selector("Name")
        .map(str::to_string)
        .ok_or_else(FaultSpec::invalid_selectors)?;
    let access = &mut ctx.state.remote_access;
    if access.server(&name).is_none() {
        return Err(FaultSpec::invalid_selectors());
    }
    if access
        .rules
        .iter()
        .any(|r| r.bindings.iter().any(|b| b.server == name))
    {
        return Err(FaultSpec::access_denied());
    }
    access.servers.retain(|s| s.name != name);
    Ok(())
}

fn rules(_: &Identity, state: &DeviceState) -> Vec<Instance> {
    state
        .remote_access
        .rules
        .iter()
        .map(|r| {
            Instance::new("AMT_RemoteAccessPolicyRule")
                .with("CreationClassName", "AMT_RemoteAccessPolicyRule")
                .with("ElementName", "Intel(r) AMT:Remote Access Policy")
                .with("ExtendedData", &r.extended_data)
                .with("PolicyRuleName", r.name())
                .with("SystemCreationClassName", "CIM_ComputerSystem")
                .with("SystemName", AMT_SYSTEM)
                .with("Trigger", r.trigger)
                .with("TunnelLifeTime", r.tunnel_life_time)
        })
        .collect()
}

fn selected_rule_index(ctx: &Ctx<'_>) -> OpResult<usize> {
    let name = ctx
        .request
        .selector("PolicyRuleName")
        .map(str::to_string)
        .or_else(|| ctx.field("PolicyRuleName"));
    name.and_then(|n| {
        ctx.state
            .remote_access
            .rules
            .iter()
            .position(|r| r.name() == n)
    })
    .ok_or_else(FaultSpec::invalid_selectors)
}

fn put_rule(ctx: &mut Ctx<'_>) -> OpResult<()> {
    let index = selected_rule_index(ctx)?;
    let life_time = ctx.field_u32("TunnelLifeTime")?;
    let extended = ctx.field("ExtendedData");
    let rule = &mut ctx.state.remote_access.rules[index];
    if let Some(v) = life_time {
        rule.tunnel_life_time = v;
    }
    if let Some(v) = extended {
        rule.extended_data = v;
    }
    Ok(())
}

/// Deleting a rule that does not exist is a fault (RPS tolerates the 400 for "User Initiated").
fn delete_rule(ctx: &mut Ctx<'_>) -> OpResult<()> {
    let index = selected_rule_index(ctx)?;
    ctx.state.remote_access.rules.remove(index);
    Ok(())
}

fn bindings(_: &Identity, state: &DeviceState) -> Vec<Instance> {
    state
        .remote_access
        .rules
        .iter()
        .flat_map(|rule| rule.bindings.iter().map(move |binding| (rule, binding)))
        .map(|(rule, binding)| {
            Instance::new("AMT_RemoteAccessPolicyAppliesToMPS")
                .with_prop(
                    "ManagedElement",
                    Prop::Reference(server_reference(&binding.server)),
                )
                .with("MpsType", binding.mps_type)
                .with("OrderOfAccess", binding.order_of_access)
                .with_prop("PolicySet", Prop::Reference(rule_reference(rule.name())))
        })
        .collect()
}

/// (rule index, server name) named by the ManagedElement/PolicySet references of the payload, or by
/// the header selectors.
fn binding_target(ctx: &Ctx<'_>) -> OpResult<(usize, String)> {
    let from_payload = |name: &str| ctx.reference(name);
    let from_header = |name: &str| {
        ctx.request
            .selectors
            .iter()
            .find(|s| s.name == name)
            .and_then(|s| match &s.value {
                wsman::SelectorValue::Reference(epr) => Some((**epr).clone()),
                wsman::SelectorValue::Text(_) => None,
            })
    };
    let server = from_payload("ManagedElement").or_else(|| from_header("ManagedElement"));
    let policy = from_payload("PolicySet").or_else(|| from_header("PolicySet"));
    let server = server
        .and_then(|e| e.selector("Name").map(str::to_string))
        .ok_or_else(FaultSpec::invalid_selectors)?;
    let policy = policy
        .and_then(|e| e.selector("PolicyRuleName").map(str::to_string))
        .ok_or_else(FaultSpec::invalid_selectors)?;
    let index = ctx
        .state
        .remote_access
        .rules
        .iter()
        .position(|r| r.name() == policy)
        .ok_or_else(FaultSpec::invalid_selectors)?;
    if ctx.state.remote_access.server(&server).is_none() {
        return Err(FaultSpec::invalid_selectors());
    }
    Ok((index, server))
}

/// MpsType 0 external, 1 internal, 2 both; OrderOfAccess orders servers of one rule.
fn put_binding(ctx: &mut Ctx<'_>) -> OpResult<()> {
    let (index, server) = binding_target(ctx)?;
    let mps_type = ctx.field_u32("MpsType")?;
    let order = ctx.field_u32("OrderOfAccess")?;
    if mps_type.is_some_and(|t| t > 2) {
        return Err(FaultSpec::schema_validation_error(
            "MpsType must be 0, 1 or 2.",
        ));
    }
    let rule = &mut ctx.state.remote_access.rules[index];
    let Some(binding) = rule.bindings.iter_mut().find(|b| b.server == server) else {
        return Err(FaultSpec::invalid_selectors());
    };
    if let Some(v) = mps_type {
        binding.mps_type = v;
    }
    if let Some(v) = order {
        binding.order_of_access = v;
    }
    Ok(())
}

fn create_binding(ctx: &mut Ctx<'_>) -> OpResult<wsman::EndpointReference> {
    let (index, server) = binding_target(ctx)?;
    let mps_type = ctx.field_u32("MpsType")?.unwrap_or(0);
    let order = ctx.field_u32("OrderOfAccess")?.unwrap_or(0);
    let rule = &mut ctx.state.remote_access.rules[index];
    if rule.bindings.iter().any(|b| b.server == server) {
        return Err(FaultSpec::already_exists());
    }
    if rule.bindings.len() >= 2 {
        return Err(FaultSpec::quota_limit(
            "A policy rule applies to at most two servers.",
        ));
    }
    rule.bindings.push(PolicyBinding {
        server: server.clone(),
        mps_type,
        order_of_access: order,
    });
    let name = rule.name();
    Ok(wsman::EndpointReference::to_class(
        "AMT_RemoteAccessPolicyAppliesToMPS",
        vec![
            wsman::Selector::reference("ManagedElement", server_reference(&server)),
            wsman::Selector::reference("PolicySet", rule_reference(name)),
        ],
    ))
}

fn delete_binding(ctx: &mut Ctx<'_>) -> OpResult<()> {
    let (index, server) = binding_target(ctx)?;
    ctx.state.remote_access.rules[index]
        .bindings
        .retain(|b| b.server != server);
    Ok(())
}

fn capabilities(_: &Identity, _: &DeviceState) -> Vec<Instance> {
    vec![
        Instance::new("AMT_RemoteAccessCapabilities")
            .with("ElementName", "Intel(r) AMT:Remote Access Capabilities")
            .with("InstanceID", "Intel(r) AMT:Remote Access Capabilities")
            .with("MaxMpsPerPolicy", 2)
            .with("MaxTotalMpServers", MAX_SERVERS)
            .with("MaxTotalPolicies", 3)
            .with("MaxTotalProxyEntryPoints", 15),
    ]
}

fn user_initiated_connection(_: &Identity, state: &DeviceState) -> Vec<Instance> {
    vec![service(
        "AMT_UserInitiatedConnectionService",
        "Intel(r) AMT User Initiated Connection Service",
        "Intel(r) AMT User Initiated Connection Service",
        AMT_SYSTEM,
        &[(
            "EnabledState",
            state.remote_access.user_initiated_state.to_string(),
        )],
    )]
}

/// 32768 disabled, 32769 BIOS only, 32770 OS only, 32771 BIOS and OS.
fn user_initiated_state_change(ctx: &mut Ctx<'_>) -> OpResult<Output> {
    let requested = ctx.required_u32("RequestedState")?;
    if !(32768..=32771).contains(&requested) {
        return Ok(return_value(5));
    }
    ctx.state.remote_access.user_initiated_state = requested;
    Ok(return_value(0))
}

fn environment_detection(_: &Identity, state: &DeviceState) -> Vec<Instance> {
    let mut instance =
        Instance::new("AMT_EnvironmentDetectionSettingData").with("DetectionAlgorithm", 0);
    let strings = &state.remote_access.detection_strings;
    if !strings.is_empty() {
        instance = instance.with_prop("DetectionStrings", Prop::List(strings.clone()));
    }
    vec![
        instance
            .with("ElementName", "Intel(r) AMT Environment Detection Settings")
            .with("InstanceID", "Intel(r) AMT Environment Detection Settings"),
    ]
}

fn put_environment_detection(ctx: &mut Ctx<'_>) -> OpResult<()> {
    ctx.payload()?;
    let strings: Vec<String> = ctx
        .fields("DetectionStrings")
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect();
    if strings.len() > MAX_DETECTION_STRINGS {
        return Err(FaultSpec::schema_validation_error(
            "At most five detection strings are allowed.",
        ));
    }
    ctx.state.remote_access.detection_strings = strings;
    Ok(())
}
