//! The host platform as AMT sees and drives it: power, boot configuration, redirection (SOL, IDER,
//! KVM) with user consent, alarm clock, and the firmware clock.

/// CIM power states AMT reports in CIM_AssociatedPowerManagementService.PowerState.
pub mod power_state {
    pub const ON: u16 = 2;
    pub const SLEEP_LIGHT: u16 = 3;
    pub const SLEEP_DEEP: u16 = 4;
    pub const POWER_CYCLE_SOFT: u16 = 5;
    pub const OFF_HARD: u16 = 6;
    pub const HIBERNATE: u16 = 7;
    pub const OFF_SOFT: u16 = 8;
    pub const POWER_CYCLE_HARD: u16 = 9;
    pub const MASTER_BUS_RESET: u16 = 10;
    pub const NMI: u16 = 11;
    pub const OFF_SOFT_GRACEFUL: u16 = 12;
    pub const OFF_HARD_GRACEFUL: u16 = 13;
    pub const MASTER_BUS_RESET_GRACEFUL: u16 = 14;
    pub const POWER_CYCLE_SOFT_GRACEFUL: u16 = 15;
    pub const POWER_CYCLE_HARD_GRACEFUL: u16 = 16;

    /// What AMT advertises in AvailableRequestedPowerStates (AMT 16, as in real answers).
    pub const AVAILABLE: [u16; 8] = [10, 8, 5, 11, 4, 7, 14, 12];
}

/// Outcome of a power request: the new state, and the audit event (remote-control app 17) it logs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PowerTransition {
    pub new_state: u16,
    pub audit_event: u16,
}

/// The effect of `RequestPowerStateChange(requested)` on a host currently in `current`;
/// `None` = not supported (ReturnValue 1).
pub fn power_transition(current: u16, requested: u16) -> Option<PowerTransition> {
    use power_state::*;
    let on = |event| {
        Some(PowerTransition {
            new_state: ON,
            audit_event: event,
        })
    };
    match requested {
        ON => Some(PowerTransition {
            new_state: ON,
            audit_event: 0,
        }),
        OFF_SOFT | OFF_HARD => Some(PowerTransition {
            new_state: OFF_SOFT,
            audit_event: 1,
        }),
        OFF_SOFT_GRACEFUL | OFF_HARD_GRACEFUL => Some(PowerTransition {
            new_state: OFF_SOFT,
            audit_event: 5,
        }),
        POWER_CYCLE_SOFT
        | POWER_CYCLE_HARD
        | POWER_CYCLE_SOFT_GRACEFUL
        | POWER_CYCLE_HARD_GRACEFUL => on(2),
        MASTER_BUS_RESET => on(3),
        MASTER_BUS_RESET_GRACEFUL => on(6),
        SLEEP_LIGHT | SLEEP_DEEP if current == ON => Some(PowerTransition {
            new_state: requested,
            audit_event: 7,
        }),
        HIBERNATE if current == ON => Some(PowerTransition {
            new_state: HIBERNATE,
            audit_event: 8,
        }),
        NMI if current == ON => Some(PowerTransition {
            new_state: ON,
            audit_event: 9,
        }),
        _ => None,
    }
}

/// AMT_BootSettingData values a console sets before a power action.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BootSettings {
    pub bios_pause: bool,
    pub bios_setup: bool,
    pub boot_media_index: u32,
    pub configuration_data_reset: bool,
    pub enforce_secure_boot: bool,
    pub firmware_verbosity: u32,
    pub forced_progress_events: bool,
    pub ider_boot_device: u32,
    pub lock_keyboard: bool,
    pub lock_power_button: bool,
    pub lock_reset_button: bool,
    pub lock_sleep_button: bool,
    pub reflash_bios: bool,
    pub secure_erase: bool,
    pub use_ider: bool,
    pub use_safe_mode: bool,
    pub use_sol: bool,
    pub user_password_bypass: bool,
    pub uefi_boot_parameters: String,
    pub uefi_boot_number_of_params: u32,
    /// Boot source chosen with CIM_BootConfigSetting.ChangeBootOrder (InstanceID), if any.
    pub boot_source: Option<String>,
    /// Whether SetBootConfigRole made the AMT boot configuration the next one (Role 1).
    pub boot_config_role_is_next: bool,
    /// CIM_BootService EnabledState: 32768 = one-click recovery disabled, 32769 = enabled.
    pub boot_service_state: u32,
}

impl Default for BootSettings {
    fn default() -> Self {
        BootSettings {
            bios_pause: false,
            bios_setup: false,
            boot_media_index: 0,
            configuration_data_reset: false,
            enforce_secure_boot: false,
            firmware_verbosity: 0,
            forced_progress_events: false,
            ider_boot_device: 0,
            lock_keyboard: false,
            lock_power_button: false,
            lock_reset_button: false,
            lock_sleep_button: false,
            reflash_bios: false,
            secure_erase: false,
            use_ider: false,
            use_safe_mode: false,
            use_sol: false,
            user_password_bypass: false,
            uefi_boot_parameters: String::new(),
            uefi_boot_number_of_params: 0,
            boot_source: None,
            boot_config_role_is_next: false,
            boot_service_state: 32769,
        }
    }
}

/// Redirection services and user consent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Redirection {
    /// AMT_RedirectionService.EnabledState: 32768 none, 32769 IDER, 32770 SOL, 32771 IDER + SOL.
    pub enabled_state: u32,
    pub listener_enabled: bool,
    /// CIM_KVMRedirectionSAP.EnabledState: 2 enabled, 3 disabled, 6 enabled but offline.
    pub kvm_state: u16,
    /// IPS_KVMRedirectionSettingData.
    pub kvm_default_screen: u32,
    pub kvm_opt_in_policy: bool,
    pub kvm_opt_in_policy_timeout: u32,
    pub kvm_session_timeout: u32,
    pub kvm_5900_enabled: bool,
    /// IPS_OptInService.OptInRequired: 0 none, 1 KVM, 4294967295 all.
    pub opt_in_required: u32,
    /// IPS_OptInService.OptInState: 0 not started, 1 requested, 2 displayed, 3 received, 4 in session.
    pub opt_in_state: u32,
    /// The code shown on the host screen after StartOptIn.
    pub opt_in_code: Option<u32>,
    pub opt_in_code_failures: u32,
}

impl Default for Redirection {
    fn default() -> Self {
        Redirection {
            enabled_state: 32771,
            listener_enabled: true,
            kvm_state: 2,
            kvm_default_screen: 0,
            kvm_opt_in_policy: true,
            kvm_opt_in_policy_timeout: 300,
            kvm_session_timeout: 3,
            kvm_5900_enabled: false,
            opt_in_required: 4_294_967_295,
            opt_in_state: 0,
            opt_in_code: None,
            opt_in_code_failures: 0,
        }
    }
}

impl Redirection {
    pub fn sol_enabled(&self) -> bool {
        self.listener_enabled && matches!(self.enabled_state, 32770 | 32771)
    }

    pub fn ider_enabled(&self) -> bool {
        self.listener_enabled && matches!(self.enabled_state, 32769 | 32771)
    }

    pub fn kvm_enabled(&self) -> bool {
        matches!(self.kvm_state, 2 | 6)
    }
}

/// An IPS_AlarmClockOccurrence.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Alarm {
    pub instance_id: String,
    pub element_name: String,
    /// CIM datetime, e.g. `2024-05-01T10:20:30Z`.
    pub start_time: String,
    /// CIM interval, e.g. `P0DT1H0M`, when the alarm repeats.
    pub interval: Option<String>,
    pub delete_on_completion: bool,
}

/// How many alarms AMT holds at once.
pub const MAX_ALARMS: usize = 5;
