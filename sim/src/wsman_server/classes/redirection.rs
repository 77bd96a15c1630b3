//! Redirection (SOL, IDER, KVM) and user consent: AMT_RedirectionService, CIM_KVMRedirectionSAP,
//! IPS_KVMRedirectionSettingData, IPS_OptInService (StartOptIn shows a code on the host screen,
//! SendOptInCode checks it) and IPS_ScreenSettingData.

use rand::Rng;
use wsman::response::{FaultSpec, Instance, Prop};

use super::{AMT_SYSTEM, HOST_SYSTEM, flag, service};
use crate::device::{ControlMode, DeviceState, Identity};
use crate::wsman_server::dispatch::{ClassDef, Ctx, OpResult, Output, return_value};

pub const CLASSES: &[ClassDef] = &[
    ClassDef {
        name: "AMT_RedirectionService",
        instances: redirection_service,
        put: Some(put_redirection_service),
        delete: None,
        create: None,
        methods: &[("RequestStateChange", redirection_state_change)],
    },
    ClassDef {
        name: "CIM_KVMRedirectionSAP",
        instances: kvm_sap,
        put: None,
        delete: None,
        create: None,
        methods: &[("RequestStateChange", kvm_state_change)],
    },
    ClassDef {
        name: "IPS_KVMRedirectionSettingData",
        instances: kvm_settings,
        put: Some(put_kvm_settings),
        delete: None,
        create: None,
        methods: &[],
    },
    ClassDef {
        name: "IPS_OptInService",
        instances: opt_in_service,
        put: Some(put_opt_in_service),
        delete: None,
        create: None,
        methods: &[
            ("StartOptIn", start_opt_in),
            ("CancelOptIn", cancel_opt_in),
            ("SendOptInCode", send_opt_in_code),
        ],
    },
    ClassDef::read_only("IPS_ScreenSettingData", screen_settings),
];

/// OptInRequired meaning "consent for all redirection".
const OPT_IN_ALL: u32 = 4_294_967_295;

fn redirection_service(_: &Identity, state: &DeviceState) -> Vec<Instance> {
    let r = &state.redirection;
    vec![service(
        "AMT_RedirectionService",
        "Intel(r) AMT Redirection Service",
        "Intel(r) AMT Redirection Service",
        AMT_SYSTEM,
        &[
            ("EnabledState", r.enabled_state.to_string()),
            ("ListenerEnabled", flag(r.listener_enabled).into()),
        ],
    )]
}

fn put_redirection_service(ctx: &mut Ctx<'_>) -> OpResult<()> {
    ctx.payload()?;
    if let Some(listener) = ctx.field_bool("ListenerEnabled")? {
        ctx.state.redirection.listener_enabled = listener;
    }
    Ok(())
}

/// 32768 none, 32769 IDER, 32770 SOL, 32771 IDER and SOL.
fn redirection_state_change(ctx: &mut Ctx<'_>) -> OpResult<Output> {
    let requested = ctx.required_u32("RequestedState")?;
    if !(32768..=32771).contains(&requested) {
        return Ok(return_value(5));
    }
    let before = ctx.state.redirection.clone();
    ctx.state.redirection.enabled_state = requested;
    let ider = requested & 1 == 1;
    let sol = requested & 2 == 2;
    if ider != matches!(before.enabled_state, 32769 | 32771) {
        ctx.audit(18, if ider { 2 } else { 3 }, Vec::new()); // IDER Enabled / Disabled
    }
    if sol != matches!(before.enabled_state, 32770 | 32771) {
        ctx.audit(18, if sol { 6 } else { 7 }, Vec::new()); // SoL Enabled / Disabled
    }
    Ok(return_value(0))
}

fn kvm_sap(_: &Identity, state: &DeviceState) -> Vec<Instance> {
    let kvm_state = state.redirection.kvm_state;
    vec![
        Instance::new("CIM_KVMRedirectionSAP")
            .with("CreationClassName", "CIM_KVMRedirectionSAP")
            .with("ElementName", "KVM Redirection Service Access Point")
            .with("EnabledState", kvm_state)
            .with("KVMProtocol", 4)
            .with("Name", "KVM Redirection Service Access Point")
            .with("RequestedState", if kvm_state == 3 { 3 } else { 2 })
            .with("SystemCreationClassName", "CIM_ComputerSystem")
            .with("SystemName", HOST_SYSTEM),
    ]
}

/// 2 enable, 3 disable.
fn kvm_state_change(ctx: &mut Ctx<'_>) -> OpResult<Output> {
    let requested = ctx.required_u32("RequestedState")?;
    let new_state = match requested {
        2 => 2,
        3 => 3,
        _ => return Ok(return_value(5)),
    };
    let was_enabled = ctx.state.redirection.kvm_enabled();
    ctx.state.redirection.kvm_state = new_state;
    if was_enabled != (new_state == 2) {
        ctx.audit(18, if new_state == 2 { 10 } else { 11 }, Vec::new()); // KVM Enabled / Disabled
    }
    Ok(return_value(0))
}

fn kvm_settings(_: &Identity, state: &DeviceState) -> Vec<Instance> {
    let r = &state.redirection;
    vec![
        Instance::new("IPS_KVMRedirectionSettingData")
            .with("BackToBackFbMode", "false")
            .with("DefaultScreen", r.kvm_default_screen)
            .with("DoubleBufferActive", "false")
            .with("DoubleBufferEnabled", "true")
            .with("ElementName", "Intel(r) KVM Redirection Settings")
            .with("EnabledByMEBx", "true")
            .with("GrayscalePixelFormatSupported", "true")
            .with("InitialDecimationModeForLowRes", 2)
            .with("InstanceID", "Intel(r) KVM Redirection Settings")
            .with("Is5900PortEnabled", flag(r.kvm_5900_enabled))
            .with("OptInPolicy", flag(r.kvm_opt_in_policy))
            .with("OptInPolicyTimeout", r.kvm_opt_in_policy_timeout)
            .with("RFBPassword", "")
            .with("SessionTimeout", r.kvm_session_timeout)
            .with("ZlibControlSupported", "true"),
    ]
}

fn put_kvm_settings(ctx: &mut Ctx<'_>) -> OpResult<()> {
    ctx.payload()?;
    let default_screen = ctx.field_u32("DefaultScreen")?;
    if default_screen.is_some_and(|s| s > 3) {
        return Err(FaultSpec::schema_validation_error(
            "DefaultScreen must be between 0 and 3.",
        ));
    }
    let opt_in_policy = ctx.field_bool("OptInPolicy")?;
    let opt_in_timeout = ctx.field_u32("OptInPolicyTimeout")?;
    let session_timeout = ctx.field_u32("SessionTimeout")?;
    let port_5900 = ctx.field_bool("Is5900PortEnabled")?;
    let r = &mut ctx.state.redirection;
    if let Some(v) = default_screen {
        r.kvm_default_screen = v;
    }
    if let Some(v) = opt_in_policy {
        r.kvm_opt_in_policy = v;
    }
    if let Some(v) = opt_in_timeout {
        r.kvm_opt_in_policy_timeout = v;
    }
    if let Some(v) = session_timeout {
        r.kvm_session_timeout = v;
    }
    if let Some(v) = port_5900 {
        r.kvm_5900_enabled = v;
    }
    Ok(())
}

fn opt_in_service(_: &Identity, state: &DeviceState) -> Vec<Instance> {
    let r = &state.redirection;
    let can_modify = u8::from(state.control_mode == ControlMode::Acm);
    vec![
        Instance::new("IPS_OptInService")
            .with("CanModifyOptInPolicy", can_modify)
            .with("CreationClassName", "IPS_OptInService")
            .with("ElementName", "Intel(r) AMT OptIn Service")
            .with("Name", "Intel(r) AMT OptIn Service")
            .with("OptInCodeTimeout", 120)
            .with("OptInDisplayTimeout", 300)
            .with("OptInRequired", r.opt_in_required)
            .with("OptInState", r.opt_in_state)
            .with("SystemCreationClassName", "CIM_ComputerSystem")
            .with("SystemName", AMT_SYSTEM),
    ]
}

/// OptInRequired: 0 none, 1 KVM only, 4294967295 all. Client control mode always requires consent.
fn put_opt_in_service(ctx: &mut Ctx<'_>) -> OpResult<()> {
    ctx.payload()?;
    let Some(required) = ctx.field_u32("OptInRequired")? else {
        return Ok(());
    };
    if !matches!(required, 0 | 1 | OPT_IN_ALL) {
        return Err(FaultSpec::schema_validation_error(
            "OptInRequired must be 0, 1 or 4294967295.",
        ));
    }
    if ctx.state.control_mode != ControlMode::Acm && required != OPT_IN_ALL {
        return Err(FaultSpec::access_denied());
    }
    let before = ctx.state.redirection.opt_in_required;
    ctx.state.redirection.opt_in_required = required;
    let code = |v: u32| match v {
        0 => 0u8,
        1 => 1,
        _ => 2,
    };
    ctx.audit(30, 0, vec![code(before), code(required)]); // Opt-In Policy Change
    Ok(())
}

/// Shows a fresh six-digit code on the host screen.
fn start_opt_in(ctx: &mut Ctx<'_>) -> OpResult<Output> {
    let r = &mut ctx.state.redirection;
    if r.opt_in_state != 0 {
        return Ok(return_value(2));
    }
    r.opt_in_code = Some(rand::rng().random_range(100_000..1_000_000));
    r.opt_in_state = 2;
    r.opt_in_code_failures = 0;
    Ok(return_value(0))
}

fn cancel_opt_in(ctx: &mut Ctx<'_>) -> OpResult<Output> {
    let r = &mut ctx.state.redirection;
    if r.opt_in_state == 0 {
        return Ok(return_value(2));
    }
    r.opt_in_state = 0;
    r.opt_in_code = None;
    Ok(return_value(0))
}

/// Checks the code the user read from the screen; three wrong codes cancel the request.
fn send_opt_in_code(ctx: &mut Ctx<'_>) -> OpResult<Output> {
    let code = ctx.required_u32("OptInCode")?;
    let r = &mut ctx.state.redirection;
    if !matches!(r.opt_in_state, 1 | 2) {
        return Ok(return_value(2));
    }
    if r.opt_in_code == Some(code) {
        r.opt_in_state = 3;
        r.opt_in_code = None;
        ctx.audit(30, 1, vec![0]); // Send Consent Code: success
        return Ok(return_value(0));
    }
    r.opt_in_code_failures += 1;
    if r.opt_in_code_failures >= 3 {
        r.opt_in_state = 0;
        r.opt_in_code = None;
        ctx.audit(30, 1, vec![1]); // Send Consent Code: failed 3 times
    }
    Ok(return_value(2066))
}

fn screen_settings(_: &Identity, _: &DeviceState) -> Vec<Instance> {
    let list = |values: [&str; 4]| Prop::List(values.iter().map(|v| v.to_string()).collect());
    vec![
        Instance::new("IPS_ScreenSettingData")
            .with("ElementName", "Intel(r) Screen Settings")
            .with("InstanceID", "Intel(r) Screen Settings")
            .with_prop("IsActive", list(["true", "true", "false", "false"]))
            .with("PrimaryIndex", 1)
            .with("QuadraryIndex", 4)
            .with_prop("ResolutionX", list(["1920", "1920", "0", "0"]))
            .with_prop("ResolutionY", list(["1080", "1080", "0", "0"]))
            .with("SecondaryIndex", 2)
            .with("TertiaryIndex", 3)
            .with_prop("UpperLeftX", list(["0", "1920", "-1", "-1"]))
            .with_prop("UpperLeftY", list(["0", "0", "-1", "-1"])),
    ]
}
