//! Activation and accounts: IPS_HostBasedSetupService (CCM Setup, ACM AdminSetup with a provisioning
//! certificate chain, upgrade to ACM), AMT_SetupAndConfigurationService (commit, unprovision, MEBx
//! password, UUID) and AMT_AuthorizationService (admin password, digest users).
//!
//! Return values of the setup methods: 0 success, 1 internal error, 2 invalid state, 3 invalid
//! parameter, 5 authentication failed (untrusted chain or bad signature). Account methods use AMT's
//! PT_STATUS codes (16 NOT_PERMITTED, 23 MAX_LIMIT_REACHED, 36 INVALID_PARAMETER).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use sha2::Digest as _;
use wsman::response::{Instance, Prop};

use super::{AMT_SYSTEM, service};
use crate::device::accounts::{AdminAccount, UserAcl};
use crate::device::pki::ParsedCertificate;
use crate::device::{ControlMode, DeviceState, Identity};
use crate::wsman_server::dispatch::{ClassDef, Ctx, OpResult, Output, return_value};

pub const CLASSES: &[ClassDef] = &[
    ClassDef {
        name: "IPS_HostBasedSetupService",
        instances: host_based_setup,
        put: None,
        delete: None,
        create: None,
        methods: &[
            ("Setup", setup),
            ("AdminSetup", admin_setup),
            ("UpgradeClientToAdmin", upgrade_client_to_admin),
            ("AddNextCertInChain", add_next_cert_in_chain),
        ],
    },
    ClassDef {
        name: "AMT_SetupAndConfigurationService",
        instances: setup_and_configuration,
        put: Some(put_setup_and_configuration),
        delete: None,
        create: None,
        methods: &[
            ("CommitChanges", commit_changes),
            ("Unprovision", unprovision),
            ("SetMEBxPassword", set_mebx_password),
            ("GetUuid", get_uuid),
        ],
    },
    ClassDef {
        name: "AMT_AuthorizationService",
        instances: authorization,
        put: None,
        delete: None,
        create: None,
        methods: &[
            ("SetAdminAclEntryEx", set_admin_acl_entry_ex),
            ("GetAdminAclEntry", get_admin_acl_entry),
            ("GetAdminAclEntryStatus", get_admin_acl_entry_status),
            ("GetAdminNetAclEntryStatus", get_admin_acl_entry_status),
            ("AddUserAclEntryEx", add_user_acl_entry_ex),
            ("UpdateUserAclEntryEx", update_user_acl_entry_ex),
            ("GetUserAclEntryEx", get_user_acl_entry_ex),
            ("RemoveUserAclEntry", remove_user_acl_entry),
            ("EnumerateUserAclEntries", enumerate_user_acl_entries),
            ("GetAclEnabledState", get_acl_enabled_state),
            ("SetAclEnabledState", set_acl_enabled_state),
        ],
    },
];

const SUCCESS: u32 = 0;
const INVALID_STATE: u32 = 2;
const INVALID_PARAMETER: u32 = 3;
const AUTH_FAILED: u32 = 5;
const PT_NOT_PERMITTED: u32 = 16;
const PT_MAX_LIMIT: u32 = 23;
const PT_INVALID_PARAMETER: u32 = 36;

fn host_based_setup(_: &Identity, state: &DeviceState) -> Vec<Instance> {
    vec![
        Instance::new("IPS_HostBasedSetupService")
            .with_prop(
                "AllowedControlModes",
                Prop::List(vec!["2".into(), "1".into()]),
            )
            .with("CertChainStatus", state.hbs.cert_chain_status)
            .with(
                "ConfigurationNonce",
                STANDARD.encode(state.hbs.configuration_nonce),
            )
            .with("CreationClassName", "IPS_HostBasedSetupService")
            .with("CurrentControlMode", state.control_mode.as_number())
            .with("ElementName", "Intel(r) AMT Host Based Setup Service")
            .with("Name", "Intel(r) AMT Host Based Setup Service")
            .with("SystemCreationClassName", "CIM_ComputerSystem")
            .with("SystemName", AMT_SYSTEM),
    ]
}

/// HA1 of the new admin password from `NetAdminPassEncryptionType` / `NetworkAdminPassword`:
/// type 2 is hex MD5("admin:" + realm + ":" + password) (what RPS sends), types 0 and 1 a clear password.
fn new_admin_ha1(ctx: &Ctx<'_>) -> OpResult<Option<[u8; 16]>> {
    let kind = ctx.required_u32("NetAdminPassEncryptionType")?;
    let password = ctx.required("NetworkAdminPassword")?;
    Ok(match kind {
        2 => hex::decode(&password)
            .ok()
            .and_then(|bytes| <[u8; 16]>::try_from(bytes).ok()),
        0 | 1 if !password.is_empty() => {
            Some(wsman::digest::ha1("admin", &ctx.id.realm, &password))
        }
        _ => None,
    })
}

fn become_provisioned(ctx: &mut Ctx<'_>, mode: ControlMode, ha1: [u8; 16]) {
    ctx.state.control_mode = mode;
    ctx.state.admin = Some(AdminAccount {
        username: "admin".into(),
        ha1,
        plain: None,
    });
    ctx.audit(16, 0, Vec::new()); // Provisioning Started
    ctx.audit(16, 1, Vec::new()); // Provisioning Completed
    tracing::info!(guid = %ctx.id.guid, mode = ?mode, "device activated");
}

/// Client control mode: allowed once, from pre-provisioning.
fn setup(ctx: &mut Ctx<'_>) -> OpResult<Output> {
    if ctx.state.control_mode != ControlMode::PreProvisioning {
        return Ok(return_value(INVALID_STATE));
    }
    let Some(ha1) = new_admin_ha1(ctx)? else {
        return Ok(return_value(INVALID_PARAMETER));
    };
    become_provisioned(ctx, ControlMode::Ccm, ha1);
    Ok(return_value(SUCCESS))
}

/// Receives the provisioning chain, leaf first; the root must be one the firmware trusts.
fn add_next_cert_in_chain(ctx: &mut Ctx<'_>) -> OpResult<Output> {
    if ctx.state.control_mode == ControlMode::Acm {
        return Ok(return_value(INVALID_STATE));
    }
    let certificate = ctx.required("NextCertificate")?;
    let is_leaf = ctx.field_bool("IsLeafCertificate")?.unwrap_or(false);
    let is_root = ctx.field_bool("IsRootCertificate")?.unwrap_or(false);
    let Ok(der) = STANDARD.decode(certificate.as_bytes()) else {
        return Ok(return_value(INVALID_PARAMETER));
    };
    if ParsedCertificate::parse(&der).is_err() {
        return Ok(return_value(INVALID_PARAMETER));
    }
    let hbs = &mut ctx.state.hbs;
    if is_leaf {
        hbs.cert_chain.clear();
    } else if hbs.cert_chain.is_empty() || hbs.cert_chain_status != 1 {
        return Ok(return_value(INVALID_STATE));
    }
    if hbs.cert_chain.len() >= 4 {
        return Ok(return_value(INVALID_PARAMETER));
    }
    hbs.cert_chain.push(der.clone());
    hbs.cert_chain_status = 1;
    if is_root {
        if !root_is_trusted(&ctx.state.trusted_root_hashes, &der) {
            ctx.state.hbs.cert_chain.clear();
            ctx.state.hbs.cert_chain_status = 0;
            tracing::info!(guid = %ctx.id.guid, "provisioning root certificate is not trusted by the firmware");
            return Ok(return_value(AUTH_FAILED));
        }
        ctx.state.hbs.cert_chain_status = 2;
    }
    Ok(return_value(SUCCESS))
}

fn root_is_trusted(trusted: &[Vec<u8>], der: &[u8]) -> bool {
    let hashes = [
        sha1::Sha1::digest(der).to_vec(),
        sha2::Sha256::digest(der).to_vec(),
        sha2::Sha384::digest(der).to_vec(),
    ];
    hashes.iter().any(|h| trusted.contains(h))
}

/// Checks `DigitalSignature` = RSA PKCS#1 v1.5 over ConfigurationNonce ‖ McNonce with the leaf key
/// of the completed provisioning chain. SigningAlgorithm 1 = SHA-1, 2 = SHA-256, 3 = SHA-384.
fn signature_is_valid(ctx: &Ctx<'_>) -> OpResult<bool> {
    use rsa::pkcs1::DecodeRsaPublicKey;
    use rsa::signature::Verifier;

    let mc_nonce = STANDARD
        .decode(ctx.required("McNonce")?.as_bytes())
        .unwrap_or_default();
    let signature = STANDARD
        .decode(ctx.required("DigitalSignature")?.as_bytes())
        .unwrap_or_default();
    let algorithm = ctx.required_u32("SigningAlgorithm")?;
    let hbs = &ctx.state.hbs;
    if hbs.cert_chain_status != 2 || mc_nonce.len() != 20 {
        return Ok(false);
    }
    let Some(leaf) = hbs.cert_chain.first() else {
        return Ok(false);
    };
    let Some(public) = ParsedCertificate::parse(leaf)
        .ok()
        .and_then(|c| c.rsa_public_key)
    else {
        return Ok(false);
    };
    let Ok(key) = rsa::PublicKey::from_pkcs1_der(&public) else {
        return Ok(false);
    };
    let Ok(signature) = rsa::pkcs1v15::Signature::try_from(signature.as_slice()) else {
        return Ok(false);
    };
    let mut message = hbs.configuration_nonce.to_vec();
    message.extend_from_slice(&mc_nonce);
    Ok(match algorithm {
        1 => rsa::pkcs1v15::VerifyingKey::<sha1::Sha1>::new(key)
            .verify(&message, &signature)
            .is_ok(),
        2 => rsa::pkcs1v15::VerifyingKey::<sha2::Sha256>::new(key)
            .verify(&message, &signature)
            .is_ok(),
        3 => rsa::pkcs1v15::VerifyingKey::<sha2::Sha384>::new(key)
            .verify(&message, &signature)
            .is_ok(),
        _ => false,
    })
}

/// Admin control mode from pre-provisioning.
fn admin_setup(ctx: &mut Ctx<'_>) -> OpResult<Output> {
    if ctx.state.control_mode != ControlMode::PreProvisioning {
        return Ok(return_value(INVALID_STATE));
    }
    let Some(ha1) = new_admin_ha1(ctx)? else {
        return Ok(return_value(INVALID_PARAMETER));
    };
    let valid = signature_is_valid(ctx)?;
    ctx.state.hbs.renew_nonce();
    if !valid {
        return Ok(return_value(AUTH_FAILED));
    }
    become_provisioned(ctx, ControlMode::Acm, ha1);
    Ok(return_value(SUCCESS))
}

/// From client control mode to admin control mode, keeping the admin password.
fn upgrade_client_to_admin(ctx: &mut Ctx<'_>) -> OpResult<Output> {
    if ctx.state.control_mode != ControlMode::Ccm {
        return Ok(return_value(INVALID_STATE));
    }
    let valid = signature_is_valid(ctx)?;
    ctx.state.hbs.renew_nonce();
    if !valid {
        return Ok(return_value(AUTH_FAILED));
    }
    ctx.state.control_mode = ControlMode::Acm;
    ctx.audit(16, 18, Vec::new()); // Upgrade Client to Admin Control Mode
    Ok(return_value(SUCCESS))
}

fn setup_and_configuration(_: &Identity, state: &DeviceState) -> Vec<Instance> {
    vec![
        service(
            "AMT_SetupAndConfigurationService",
            "Intel(r) AMT Setup and Configuration Service",
            "Intel(r) AMT Setup and Configuration Service",
            AMT_SYSTEM,
            &[
                ("EnabledState", "5".into()),
                ("PasswordModel", "1".into()),
                ("ProvisioningMode", "1".into()),
                (
                    "ProvisioningServerOTP",
                    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=".into(),
                ),
                ("ProvisioningState", state.provisioning_state().to_string()),
                ("RequestedState", "12".into()),
            ],
        )
        .with("ZeroTouchConfigurationEnabled", "true"),
    ]
}

/// Nothing in AMT_SetupAndConfigurationService is writable by a console; the Put is accepted and the
/// unchanged instance returned (as AMT does for read-only properties).
fn put_setup_and_configuration(ctx: &mut Ctx<'_>) -> OpResult<()> {
    ctx.payload().map(|_| ())
}

fn commit_changes(_: &mut Ctx<'_>) -> OpResult<Output> {
    Ok(return_value(SUCCESS))
}

/// Full unprovision (ProvisioningMode 1): back to pre-provisioning, CIRA configuration cleared.
fn unprovision(ctx: &mut Ctx<'_>) -> OpResult<Output> {
    let mode = ctx.field_u32("ProvisioningMode")?.unwrap_or(1);
    if mode != 1 {
        return Ok(return_value(PT_INVALID_PARAMETER));
    }
    if ctx.state.control_mode == ControlMode::PreProvisioning {
        return Ok(return_value(PT_NOT_PERMITTED));
    }
    let initiator = ctx.initiator();
    ctx.state.unprovision(initiator);
    tracing::info!(guid = %ctx.id.guid, "device unprovisioned");
    Ok(return_value(SUCCESS))
}

/// MEBx password: admin control mode only; 8–32 characters with upper, lower, digit and symbol.
fn set_mebx_password(ctx: &mut Ctx<'_>) -> OpResult<Output> {
    let password = ctx.required("Password")?;
    if ctx.state.control_mode != ControlMode::Acm {
        return Ok(return_value(PT_NOT_PERMITTED));
    }
    let strong = (8..=32).contains(&password.chars().count())
        && password.chars().any(|c| c.is_ascii_uppercase())
        && password.chars().any(|c| c.is_ascii_lowercase())
        && password.chars().any(|c| c.is_ascii_digit())
        && password.chars().any(|c| !c.is_ascii_alphanumeric());
    if !strong {
        return Ok(return_value(PT_INVALID_PARAMETER));
    }
    ctx.state.mebx_password = Some(password);
    Ok(return_value(SUCCESS))
}

fn get_uuid(ctx: &mut Ctx<'_>) -> OpResult<Output> {
    Ok(vec![(
        "UUID".into(),
        Prop::text(STANDARD.encode(ctx.id.uuid_bytes())),
    )])
}

fn authorization(_: &Identity, _: &DeviceState) -> Vec<Instance> {
    vec![
        Instance::new("AMT_AuthorizationService")
            .with("AllowHttpQopAuthOnly", 1)
            .with("CreationClassName", "AMT_AuthorizationService")
            .with("ElementName", "Intel(r) AMT Authorization Service")
            .with("EnabledState", 5)
            .with("Name", "Intel(r) AMT Authorization Service")
            .with("RequestedState", 12)
            .with("SystemCreationClassName", "CIM_ComputerSystem")
            .with("SystemName", AMT_SYSTEM),
    ]
}

/// Base64 of a raw 16-byte HA1 (the DigestPassword of the ACL methods).
fn digest_password(ctx: &Ctx<'_>, name: &str) -> OpResult<Option<[u8; 16]>> {
    let value = ctx.required(name)?;
    Ok(STANDARD
        .decode(value.as_bytes())
        .ok()
        .and_then(|bytes| <[u8; 16]>::try_from(bytes).ok()))
}

/// Replaces the admin account (user name and HA1); RPS uses it to rotate the AMT password.
fn set_admin_acl_entry_ex(ctx: &mut Ctx<'_>) -> OpResult<Output> {
    let username = ctx.required("Username")?;
    if ctx.state.control_mode == ControlMode::PreProvisioning {
        return Ok(return_value(PT_NOT_PERMITTED));
    }
    let Some(ha1) = digest_password(ctx, "DigestPassword")? else {
        return Ok(return_value(PT_INVALID_PARAMETER));
    };
    if username.is_empty() || username.len() > 16 {
        return Ok(return_value(PT_INVALID_PARAMETER));
    }
    ctx.state.admin = Some(AdminAccount {
        username,
        ha1,
        plain: None,
    });
    ctx.audit(16, 3, Vec::new()); // ACL Entry Modified
    Ok(return_value(SUCCESS))
}

fn get_admin_acl_entry(ctx: &mut Ctx<'_>) -> OpResult<Output> {
    Ok(vec![
        ("Username".into(), Prop::text(ctx.state.admin_user())),
        ("ReturnValue".into(), Prop::text(SUCCESS)),
    ])
}

fn get_admin_acl_entry_status(ctx: &mut Ctx<'_>) -> OpResult<Output> {
    let is_default = ctx.state.admin.is_none();
    Ok(vec![
        ("IsDefault".into(), Prop::text(super::flag(is_default))),
        ("ReturnValue".into(), Prop::text(SUCCESS)),
    ])
}

/// Most digest users besides the admin.
const MAX_USERS: usize = 8;

fn realms(ctx: &Ctx<'_>) -> Vec<u32> {
    ctx.fields("Realms")
        .iter()
        .filter_map(|r| r.parse().ok())
        .collect()
}

fn add_user_acl_entry_ex(ctx: &mut Ctx<'_>) -> OpResult<Output> {
    let Some(username) = ctx.field("DigestUsername") else {
        // Kerberos users are not supported by the simulated device.
        return Ok(return_value(PT_INVALID_PARAMETER));
    };
    let Some(ha1) = digest_password(ctx, "DigestPassword")? else {
        return Ok(return_value(PT_INVALID_PARAMETER));
    };
    let access_permission = ctx.field_u32("AccessPermission")?.unwrap_or(2);
    let realms = realms(ctx);
    if username.is_empty() || username.len() > 16 || username == ctx.state.admin_user() {
        return Ok(return_value(PT_INVALID_PARAMETER));
    }
    if ctx.state.users.len() >= MAX_USERS {
        return Ok(return_value(PT_MAX_LIMIT));
    }
    let handle = ctx.state.next_user_handle;
    ctx.state.next_user_handle += 1;
    let mut extended = vec![0, username.len() as u8];
    extended.extend_from_slice(username.as_bytes());
    ctx.state.users.push(UserAcl {
        handle,
        username,
        ha1,
        access_permission,
        realms,
        enabled: true,
    });
    ctx.audit(16, 2, extended); // ACL Entry Added
    Ok(vec![
        ("Handle".into(), Prop::text(handle)),
        ("ReturnValue".into(), Prop::text(SUCCESS)),
    ])
}

fn handle_arg(ctx: &Ctx<'_>) -> OpResult<u32> {
    ctx.required_u32("Handle")
}

fn update_user_acl_entry_ex(ctx: &mut Ctx<'_>) -> OpResult<Output> {
    let handle = handle_arg(ctx)?;
    let username = ctx.field("DigestUsername");
    let ha1 = match ctx.field("DigestPassword") {
        Some(_) => digest_password(ctx, "DigestPassword")?,
        None => None,
    };
    let access_permission = ctx.field_u32("AccessPermission")?;
    let realms = realms(ctx);
    let Some(user) = ctx.state.users.iter_mut().find(|u| u.handle == handle) else {
        return Ok(return_value(PT_INVALID_PARAMETER));
    };
    if let Some(name) = username {
        user.username = name;
    }
    if let Some(ha1) = ha1 {
        user.ha1 = ha1;
    }
    if let Some(permission) = access_permission {
        user.access_permission = permission;
    }
    if !realms.is_empty() {
        user.realms = realms;
    }
    ctx.audit(16, 3, Vec::new());
    Ok(return_value(SUCCESS))
}

fn get_user_acl_entry_ex(ctx: &mut Ctx<'_>) -> OpResult<Output> {
    let handle = handle_arg(ctx)?;
    let Some(user) = ctx.state.users.iter().find(|u| u.handle == handle) else {
        return Ok(return_value(PT_INVALID_PARAMETER));
    };
    Ok(vec![
        ("DigestUsername".into(), Prop::text(&user.username)),
        (
            "AccessPermission".into(),
            Prop::text(user.access_permission),
        ),
        (
            "Realms".into(),
            Prop::List(user.realms.iter().map(u32::to_string).collect()),
        ),
        ("ReturnValue".into(), Prop::text(SUCCESS)),
    ])
}

fn remove_user_acl_entry(ctx: &mut Ctx<'_>) -> OpResult<Output> {
    let handle = handle_arg(ctx)?;
    let before = ctx.state.users.len();
    ctx.state.users.retain(|u| u.handle != handle);
    if ctx.state.users.len() == before {
        return Ok(return_value(PT_INVALID_PARAMETER));
    }
    ctx.audit(16, 4, Vec::new()); // ACL Entry Removed
    Ok(return_value(SUCCESS))
}

fn enumerate_user_acl_entries(ctx: &mut Ctx<'_>) -> OpResult<Output> {
    let start = ctx.field_u32("StartIndex")?.unwrap_or(1).max(1) as usize;
    let handles: Vec<String> = ctx
        .state
        .users
        .iter()
        .skip(start - 1)
        .take(50)
        .map(|u| u.handle.to_string())
        .collect();
    let mut output = vec![
        ("TotalCount".to_string(), Prop::text(ctx.state.users.len())),
        ("HandlesCount".to_string(), Prop::text(handles.len())),
    ];
    if !handles.is_empty() {
        output.push(("Handles".to_string(), Prop::List(handles)));
    }
    output.push(("ReturnValue".to_string(), Prop::text(SUCCESS)));
    Ok(output)
}

fn get_acl_enabled_state(ctx: &mut Ctx<'_>) -> OpResult<Output> {
    let handle = handle_arg(ctx)?;
    match ctx.state.users.iter().find(|u| u.handle == handle) {
        Some(user) => Ok(vec![
            ("Enabled".into(), Prop::text(super::flag(user.enabled))),
            ("ReturnValue".into(), Prop::text(SUCCESS)),
        ]),
        None => Ok(return_value(PT_INVALID_PARAMETER)),
    }
}

fn set_acl_enabled_state(ctx: &mut Ctx<'_>) -> OpResult<Output> {
    let handle = handle_arg(ctx)?;
    let enabled = ctx.field_bool("Enabled")?.unwrap_or(true);
    let Some(user) = ctx.state.users.iter_mut().find(|u| u.handle == handle) else {
        return Ok(return_value(PT_INVALID_PARAMETER));
    };
    user.enabled = enabled;
    ctx.audit(16, 6, vec![u8::from(enabled)]); // ACL Entry State
    Ok(return_value(SUCCESS))
}
