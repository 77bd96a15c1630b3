//! Power control and boot configuration: CIM_PowerManagementService.RequestPowerStateChange really
//! changes the host power state (and logs it), IPS_PowerManagementService for OS power saving,
//! AMT_BootSettingData / AMT_BootCapabilities and the CIM boot classes MPS uses for boot actions.

use wsman::response::{Instance, Prop};

use super::{AMT_SYSTEM, flag, managed_system, reference, service};
use crate::device::logs::EventRecord;
use crate::device::platform::{BootSettings, power_state, power_transition};
use crate::device::{DeviceState, Identity};
use crate::wsman_server::dispatch::{ClassDef, Ctx, OpResult, Output, return_value};

pub const CLASSES: &[ClassDef] = &[
    ClassDef {
        name: "CIM_PowerManagementService",
        instances: power_management_service,
        put: None,
        delete: None,
        create: None,
        methods: &[("RequestPowerStateChange", request_power_state_change)],
    },
    ClassDef::read_only(
        "CIM_AssociatedPowerManagementService",
        associated_power_management_service,
    ),
    ClassDef::read_only(
        "CIM_ServiceAvailableToElement",
        associated_power_management_service,
    ),
    ClassDef {
        name: "IPS_PowerManagementService",
        instances: ips_power_management_service,
        put: None,
        delete: None,
        create: None,
        methods: &[(
            "RequestOSPowerSavingStateChange",
            request_os_power_saving_state_change,
        )],
    },
    ClassDef {
        name: "AMT_BootSettingData",
        instances: boot_setting_data,
        put: Some(put_boot_setting_data),
        delete: None,
        create: None,
        methods: &[],
    },
    ClassDef::read_only("AMT_BootCapabilities", boot_capabilities),
    ClassDef {
        name: "CIM_BootConfigSetting",
        instances: boot_config_setting,
        put: None,
        delete: None,
        create: None,
        methods: &[("ChangeBootOrder", change_boot_order)],
    },
    ClassDef {
        name: "CIM_BootService",
        instances: boot_service,
        put: None,
        delete: None,
        create: None,
        methods: &[
            ("SetBootConfigRole", set_boot_config_role),
            ("RequestStateChange", boot_service_state_change),
        ],
    },
    ClassDef::read_only("CIM_BootSourceSetting", boot_source_settings),
];

const POWER_SERVICE: &str = "Intel(r) AMT Power Management Service";
const BOOT_CONFIG: &str = "Intel(r) AMT: Boot Configuration 0";
/// Boot sources: (InstanceID, StructuredBootString, BIOSBootString). The "Force OCR" entries are the
/// one-click-recovery targets MPS looks for (HTTPS boot, WinRE, local PBA).
const BOOT_SOURCES: [(&str, &str, &str); 6] = [
    ("Intel(r) AMT: Force Hard-drive Boot", "CIM:Hard-Disk:1", ""),
    ("Intel(r) AMT: Force PXE Boot", "CIM:Network:1", ""),
    ("Intel(r) AMT: Force CD/DVD Boot", "CIM:CD/DVD:1", ""),
    (
        "Intel(r) AMT: Force OCR UEFI HTTPS Boot 1",
        "CIM:Network:2",
        "UEFI HTTPS Boot",
    ),
    (
        "Intel(r) AMT: Force OCR UEFI Boot Option 1",
        "CIM:Hard-Disk:2",
        "Windows Recovery Environment (WinRe)",
    ),
    (
        "Intel(r) AMT: Force OCR UEFI Boot Option 2",
        "CIM:Hard-Disk:3",
        "Local PBA Pre-boot Application",
    ),
];

fn power_management_service(_: &Identity, _: &DeviceState) -> Vec<Instance> {
    vec![service(
        "CIM_PowerManagementService",
        POWER_SERVICE,
        POWER_SERVICE,
        AMT_SYSTEM,
        &[
            ("EnabledState", "5".into()),
            ("RequestedState", "12".into()),
        ],
    )]
}

fn associated_power_management_service(_: &Identity, state: &DeviceState) -> Vec<Instance> {
    let available = power_state::AVAILABLE.iter().map(u16::to_string).collect();
    vec![
        Instance::new("CIM_AssociatedPowerManagementService")
            .with_prop("AvailableRequestedPowerStates", Prop::List(available))
            .with("PowerState", state.power_state)
            .with_prop(
                "ServiceProvided",
                Prop::Reference(reference(
                    "CIM_PowerManagementService",
                    &[
                        ("CreationClassName", "CIM_PowerManagementService"),
                        ("Name", POWER_SERVICE),
                        ("SystemCreationClassName", "CIM_ComputerSystem"),
                        ("SystemName", AMT_SYSTEM),
                    ],
                )),
            )
            .with_prop("UserOfService", Prop::Reference(managed_system())),
    ]
}

/// Changes the host power state; booting transitions consume the one-time boot options.
fn request_power_state_change(ctx: &mut Ctx<'_>) -> OpResult<Output> {
    let requested = ctx.required_u32("PowerState")?;
    let Ok(requested) = u16::try_from(requested) else {
        return Ok(return_value(36));
    };
    if !(2..=16).contains(&requested) {
        return Ok(return_value(36));
    }
    let current = ctx.state.power_state;
    let Some(transition) = power_transition(current, requested) else {
        // A valid state the host cannot go to from where it is (e.g. sleep while off): NOT_READY.
        return Ok(return_value(2));
    };
    ctx.state.power_state = transition.new_state;
    ctx.audit(17, transition.audit_event, Vec::new());
    let booted = transition.new_state == power_state::ON
        && (current != power_state::ON || matches!(requested, 5 | 9 | 10 | 14 | 15 | 16));
    if booted {
        let now = ctx.state.amt_time();
        for progress in [0x13, 0x07] {
            ctx.state
                .events
                .push(EventRecord::firmware_progress(now, progress));
        }
        let service_state = ctx.state.boot.boot_service_state;
        ctx.state.boot = BootSettings {
            boot_service_state: service_state,
            ..BootSettings::default()
        };
        ctx.state.os_power_saving_state = 2;
    }
    tracing::info!(guid = %ctx.id.guid, from = current, to = transition.new_state, requested, "power state change");
    Ok(return_value(0))
}

fn ips_power_management_service(_: &Identity, state: &DeviceState) -> Vec<Instance> {
    vec![
        service(
            "IPS_PowerManagementService",
            POWER_SERVICE,
            POWER_SERVICE,
            AMT_SYSTEM,
            &[
                ("EnabledState", "5".into()),
                ("RequestedState", "12".into()),
            ],
        )
        .with("OSPowerSavingState", state.os_power_saving_state),
    ]
}

/// OS power saving: 2 full power, 3 power saving; only while the host runs.
fn request_os_power_saving_state_change(ctx: &mut Ctx<'_>) -> OpResult<Output> {
    let requested = ctx.required_u32("OSPowerSavingState")?;
    if !matches!(requested, 2 | 3) {
        return Ok(return_value(36));
    }
    if ctx.state.power_state != power_state::ON {
        return Ok(return_value(2));
    }
    ctx.state.os_power_saving_state = requested;
    Ok(return_value(0))
}

fn boot_setting_data(_: &Identity, state: &DeviceState) -> Vec<Instance> {
    let b = &state.boot;
    let options_cleared = *b
        == BootSettings {
            boot_service_state: b.boot_service_state,
            ..BootSettings::default()
        };
    vec![
        Instance::new("AMT_BootSettingData")
            .with_prop("BIOSLastStatus", Prop::List(vec!["2".into(), "0".into()]))
            .with("BIOSPause", flag(b.bios_pause))
            .with("BIOSSetup", flag(b.bios_setup))
            .with("BootMediaIndex", b.boot_media_index)
            .with("BootguardStatus", 127)
            .with("ConfigurationDataReset", flag(b.configuration_data_reset))
            .with("ElementName", "Intel(r) AMT Boot Configuration Settings")
            .with("EnforceSecureBoot", flag(b.enforce_secure_boot))
            .with("FirmwareVerbosity", b.firmware_verbosity)
            .with("ForcedProgressEvents", flag(b.forced_progress_events))
            .with("IDERBootDevice", b.ider_boot_device)
            .with("InstanceID", "Intel(r) AMT:BootSettingData 0")
            .with("LockKeyboard", flag(b.lock_keyboard))
            .with("LockPowerButton", flag(b.lock_power_button))
            .with("LockResetButton", flag(b.lock_reset_button))
            .with("LockSleepButton", flag(b.lock_sleep_button))
            .with("OptionsCleared", flag(options_cleared))
            .with("OwningEntity", "Intel(r) AMT")
            .with("PlatformErase", "false")
            .with("RPEEnabled", "true")
            .with("RSEPassword", "")
            .with("ReflashBIOS", flag(b.reflash_bios))
            .with("SecureBootControlEnabled", "true")
            .with("SecureErase", flag(b.secure_erase))
            .with("UEFIHTTPSBootEnabled", "true")
            .with("UEFILocalPBABootEnabled", "true")
            .with("UefiBootNumberOfParams", b.uefi_boot_number_of_params)
            .with("UefiBootParametersArray", &b.uefi_boot_parameters)
            .with("UseIDER", flag(b.use_ider))
            .with("UseSOL", flag(b.use_sol))
            .with("UseSafeMode", flag(b.use_safe_mode))
            .with("UserPasswordBypass", flag(b.user_password_bypass))
            .with("WinREBootEnabled", "true"),
    ]
}

fn put_boot_setting_data(ctx: &mut Ctx<'_>) -> OpResult<()> {
    ctx.payload()?;
    let mut b = ctx.state.boot.clone();
    let bools: [(&str, &mut bool); 14] = [
        ("BIOSPause", &mut b.bios_pause),
        ("BIOSSetup", &mut b.bios_setup),
        ("ConfigurationDataReset", &mut b.configuration_data_reset),
        ("EnforceSecureBoot", &mut b.enforce_secure_boot),
        ("ForcedProgressEvents", &mut b.forced_progress_events),
        ("LockKeyboard", &mut b.lock_keyboard),
        ("LockPowerButton", &mut b.lock_power_button),
        ("LockResetButton", &mut b.lock_reset_button),
        ("LockSleepButton", &mut b.lock_sleep_button),
        ("ReflashBIOS", &mut b.reflash_bios),
        ("SecureErase", &mut b.secure_erase),
        ("UseIDER", &mut b.use_ider),
        ("UseSafeMode", &mut b.use_safe_mode),
        ("UseSOL", &mut b.use_sol),
    ];
    for (name, target) in bools {
        if let Some(value) = ctx.field_bool(name)? {
            *target = value;
        }
    }
    if let Some(value) = ctx.field_bool("UserPasswordBypass")? {
        b.user_password_bypass = value;
    }
    for (name, target) in [
        ("BootMediaIndex", &mut b.boot_media_index),
        ("FirmwareVerbosity", &mut b.firmware_verbosity),
        ("IDERBootDevice", &mut b.ider_boot_device),
        ("UefiBootNumberOfParams", &mut b.uefi_boot_number_of_params),
    ] {
        if let Some(value) = ctx.field_u32(name)? {
            *target = value;
        }
    }
    if let Some(value) = ctx.field("UefiBootParametersArray") {
        b.uefi_boot_parameters = value;
    }
    ctx.state.boot = b;
    ctx.audit(17, 4, Vec::new()); // Set Boot Options
    Ok(())
}

fn boot_capabilities(_: &Identity, _: &DeviceState) -> Vec<Instance> {
    let mut instance = Instance::new("AMT_BootCapabilities");
    for (name, value) in [
        ("BIOSPause", "false"),
        ("BIOSReflash", "true"),
        ("BIOSSecureBoot", "true"),
        ("BIOSSetup", "true"),
        ("ConfigurationDataReset", "false"),
        ("ElementName", "Intel(r) AMT: Boot Capabilities"),
        ("ForceCDorDVDBoot", "true"),
        ("ForceDiagnosticBoot", "false"),
        ("ForceHardDriveBoot", "true"),
        ("ForceHardDriveSafeModeBoot", "false"),
        ("ForcePXEBoot", "true"),
        ("ForceUEFIHTTPSBoot", "true"),
        ("ForceUEFIPBABoot", "true"),
        ("ForceWinREBoot", "true"),
        ("ForcedProgressEvents", "true"),
        ("IDER", "true"),
        ("InstanceID", "Intel(r) AMT:BootCapabilities 0"),
        ("KeyboardLock", "true"),
        ("PlatformErase", "0"),
        ("PowerButtonLock", "false"),
        ("ResetButtonLock", "false"),
        ("SOL", "true"),
        ("SecureErase", "false"),
        ("SleepButtonLock", "false"),
        ("UserPasswordBypass", "true"),
        ("VerbosityQuiet", "false"),
        ("VerbosityScreenBlank", "false"),
        ("VerbosityVerbose", "false"),
    ] {
        instance = instance.with(name, value);
    }
    vec![instance]
}

fn boot_config_setting(_: &Identity, _: &DeviceState) -> Vec<Instance> {
    vec![
        Instance::new("CIM_BootConfigSetting")
            .with("ElementName", "Intel(r) AMT: Boot Configuration")
            .with("InstanceID", BOOT_CONFIG),
    ]
}

/// ChangeBootOrder: no Source clears the order, otherwise the source must be a CIM_BootSourceSetting.
fn change_boot_order(ctx: &mut Ctx<'_>) -> OpResult<Output> {
    let source = ctx.reference("Source");
    match source {
        None => {
            ctx.state.boot.boot_source = None;
            Ok(return_value(0))
        }
        Some(source) => {
            let Some(id) = source.selector("InstanceID") else {
                return Ok(return_value(5));
            };
            if !BOOT_SOURCES.iter().any(|(known, _, _)| *known == id) {
                return Ok(return_value(5));
            }
            ctx.state.boot.boot_source = Some(id.to_string());
            Ok(return_value(0))
        }
    }
}

fn boot_service(_: &Identity, state: &DeviceState) -> Vec<Instance> {
    vec![service(
        "CIM_BootService",
        "Intel(r) AMT Boot Service",
        "Intel(r) AMT Boot Service",
        AMT_SYSTEM,
        &[
            ("EnabledState", state.boot.boot_service_state.to_string()),
            ("OperationalStatus", "0".into()),
            ("RequestedState", "12".into()),
        ],
    )]
}

/// SetBootConfigRole(BootConfigSetting, Role): Role 1 = is next, 32768 = is next single use.
fn set_boot_config_role(ctx: &mut Ctx<'_>) -> OpResult<Output> {
    let role = ctx.required_u32("Role")?;
    let target = ctx.reference("BootConfigSetting");
    if target.as_ref().and_then(|t| t.selector("InstanceID")) != Some(BOOT_CONFIG)
        || !matches!(role, 1 | 32768)
    {
        return Ok(return_value(5));
    }
    ctx.state.boot.boot_config_role_is_next = true;
    Ok(return_value(0))
}

/// One-click recovery switch: 32768 disabled, 32769 enabled.
fn boot_service_state_change(ctx: &mut Ctx<'_>) -> OpResult<Output> {
    let requested = ctx.required_u32("RequestedState")?;
    if !matches!(requested, 32768 | 32769) {
        return Ok(return_value(5));
    }
    ctx.state.boot.boot_service_state = requested;
    Ok(return_value(0))
}

fn boot_source_settings(_: &Identity, _: &DeviceState) -> Vec<Instance> {
    BOOT_SOURCES
        .iter()
        .map(|(id, boot_string, bios_boot_string)| {
            let mut instance = Instance::new("CIM_BootSourceSetting");
            if !bios_boot_string.is_empty() {
                instance = instance
                    .with("BIOSBootString", *bios_boot_string)
                    .with("BootString", "");
            }
            instance = instance
                .with("ElementName", "Intel(r) AMT: Boot Source")
                .with("FailThroughSupported", 2)
                .with("InstanceID", *id);
            if !bios_boot_string.is_empty() {
                instance = instance.with("StructuredBIOSBootString", format!("{boot_string}:0"));
            }
            instance.with("StructuredBootString", *boot_string)
        })
        .collect()
}
