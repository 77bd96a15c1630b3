//! Checks made before any WS-Man (rps.md §3.6, §3.9, §3.11), with the reference's messages. A failure here
//! ends the job with a plain-text `error`.

use secrets::DeviceSecrets;

use super::job::Context;
use super::request::{Command, DevicePayload, Request, Task};
use super::store::{Profile, ProfileMode};

/// JavaScript `parseFloat`: the longest numeric prefix, `None` when there is none.
pub fn js_parse_float(text: &str) -> Option<f64> {
    let t = text.trim_start();
    let mut end = 0;
    let mut seen_dot = false;
    let mut digits = 0;
    for (i, c) in t.char_indices() {
        match c {
            '0'..='9' => {
                digits += 1;
                end = i + 1;
            }
            '.' if !seen_dot => seen_dot = true,
            '+' | '-' if i == 0 => {}
            _ => break,
        }
    }
    if digits == 0 {
        return None;
    }
    t[..end].parse().ok()
}

/// JavaScript `parseInt` (base 10).
fn js_parse_int(text: &str) -> Option<i64> {
    let t = text.trim_start();
    let sign = usize::from(t.starts_with(['-', '+']));
    let digits = t[sign..].chars().take_while(char::is_ascii_digit).count();
    if digits == 0 {
        return None;
    }
    t[..sign + digits].parse().ok()
}

/// Firmware versions the reference lists as needing build 3000 or later.
const BUILD_CHECKED: &[f64] = &[7.0, 7.1, 8.0, 8.1, 9.0, 9.1, 9.5, 10.0, 11.0, 11.5, 11.6];

/// The reference's firmware check; `action` is "activation" or "deactivation".
pub fn check_amt_version(payload: &DevicePayload, action: &str) -> Result<(), String> {
    let uuid = &payload.uuid;
    let version = js_parse_float(&payload.ver);
    match version {
        Some(v)
            if BUILD_CHECKED.contains(&v)
                && js_parse_int(&payload.build).is_some_and(|b| b < 3000) =>
        {
            return Err(format!(
                "Device {uuid} {action} failed. Please check with your OEM for a firmware update."
            ));
        }
        Some(v) if v < 7.0 => {
            return Err(format!(
                "Device {uuid} {action} failed. AMT version: {}. Version less than 7 cannot be remotely configured ",
                payload.ver
            ));
        }
        _ => {}
    }
    Ok(())
}

/// What an activation will do, decided before it starts.
#[derive(Debug)]
pub struct ActivationPlan {
    pub profile: Profile,
    /// Run the ACM steps (profile ACM on firmware without enforced TLS).
    pub acm: bool,
    /// The device is already activated (mode 1 or 2): re-configure with `admin` and the given password.
    pub activated: bool,
    /// Mode 1 device with an ACM profile: CCM → ACM upgrade.
    pub upgrade: bool,
    /// The status an already-activated device starts with.
    pub initial_status: Option<String>,
}

/// Why validation refused a job.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal(pub String);

async fn stored_device_password(ctx: &Context, uuid: &str) -> Result<Option<String>, Refusal> {
    match ctx.store.device_secrets(uuid).await {
        Ok(map) => Ok(map.and_then(|m| DeviceSecrets::from_map(&m).amt_password)),
        Err(error) => {
            tracing::error!(%error, guid = uuid, "reading the device secret failed");
            Err(Refusal("AMT device secret provider exception".into()))
        }
    }
}

/// The password check of deactivation and maintenance: the stored `AMT_PASSWORD` must equal the given one.
async fn check_device_password(ctx: &Context, payload: &DevicePayload) -> Result<(), Refusal> {
    let stored = stored_device_password(ctx, &payload.uuid).await?;
    match stored {
        Some(p) if !payload.password.is_empty() && p == payload.password => Ok(()),
        _ => Err(Refusal(format!(
            "AMT password DOES NOT match stored version for Device {}",
            payload.uuid
        ))),
    }
}

pub async fn activation(ctx: &Context, request: &Request) -> Result<ActivationPlan, Refusal> {
    let payload = &request.payload;
    let uuid = &payload.uuid;
    check_amt_version(payload, "activation").map_err(Refusal)?;
    if payload.password.is_empty() {
        return Err(Refusal(format!(
            "Device {uuid} activation failed. Missing password."
        )));
    }
    let profile_name = request.profile.clone().unwrap_or_default();
    let profile = match ctx.store.profile(&profile_name, &request.tenant_id).await {
        Ok(Some(p)) => p,
        Ok(None) => {
            return Err(Refusal(format!(
                "Device {uuid} activation failed. {profile_name} does not match list of available AMT profiles."
            )));
        }
        Err(error) => {
            tracing::error!(%error, "reading the profile failed");
            return Err(Refusal(format!(
                "Device {uuid} activation failed. Failed to get amt profile from database"
            )));
        }
    };
    if payload.tls_enforced || payload.tls_tunnel {
        // AMT 19+ local TLS (the TLS tunnel of rps.md §3.13) is a later phase.
        return Err(Refusal(format!(
            "Device {uuid} activation failed. TLS-enforced devices (tunnel mode) are not supported by this RPS."
        )));
    }
    let acm = profile.mode == ProfileMode::Acm;
    let mut plan = ActivationPlan {
        acm,
        activated: false,
        upgrade: false,
        initial_status: None,
        profile,
    };
    match payload.current_mode {
        Some(0) => {
            if ctx.prevent_orphaned_devices
                && let Ok(guid) = uuid.parse()
                && ctx.events.known_device(&guid).is_some()
            {
                return Err(Refusal(format!(
                    "Device {uuid} already has a record in MPS and cannot be re-provisioned from pre-provisioning mode. Remove the device (rpc-go deactivation or the REST API) before re-adding it."
                )));
            }
        }
        Some(1) => {
            plan.activated = true;
            plan.upgrade = acm;
            plan.initial_status = Some(if acm {
                "Upgraded to admin control mode.".into()
            } else {
                "already enabled in client mode.".into()
            });
        }
        Some(2) => {
            if !acm {
                return Err(Refusal(format!(
                    "Device {uuid} already enabled in admin control mode."
                )));
            }
            plan.activated = true;
            plan.initial_status = Some("already enabled in admin mode.".into());
        }
        _ => {
            return Err(Refusal(format!(
                "Device {uuid} activation failed. It is in unknown mode."
            )));
        }
    }
    if plan.activated
        && let Some(stored) = stored_device_password(ctx, uuid).await?
        && stored != payload.password
    {
        return Err(Refusal(format!(
            "AMT password DOES NOT match stored version for Device {uuid}"
        )));
    }
    if acm {
        let mode2 = payload.current_mode == Some(2);
        if payload.cert_hashes.is_empty() && !mode2 {
            return Err(Refusal(format!(
                "Device {uuid} activation failed. Missing certificate hashes from the device."
            )));
        }
        if payload.fqdn.is_empty() && !mode2 {
            return Err(Refusal(format!(
                "Device {uuid} activation failed. Missing DNS Suffix."
            )));
        }
        if !mode2 {
            let domain = ctx
                .store
                .domain_for(&payload.fqdn, &request.tenant_id)
                .await
                .map_err(|error| {
                    tracing::error!(%error, "reading domains failed");
                    Refusal(format!(
                        "Device {uuid} activation failed. Failed to get amt domain certificate from database"
                    ))
                })?;
            if domain.is_none() {
                return Err(Refusal(format!(
                    "Device {uuid} activation failed. Specified AMT domain suffix: {} does not match list of available AMT domain suffixes.",
                    payload.fqdn
                )));
            }
        }
    }
    Ok(plan)
}

pub async fn deactivation(ctx: &Context, request: &Request) -> Result<(), Refusal> {
    let payload = &request.payload;
    let uuid = &payload.uuid;
    match payload.current_mode {
        Some(0) => {
            return Err(Refusal(format!(
                "Device {uuid} is in pre-provisioning mode."
            )));
        }
        Some(m) if m > 2 => {
            return Err(Refusal(format!(
                "Device {uuid} deactivation failed. It is in unknown mode: {m}."
            )));
        }
        _ => {}
    }
    check_amt_version(payload, "deactivation").map_err(Refusal)?;
    if !request.force {
        check_device_password(ctx, payload).await?;
    }
    Ok(())
}

pub async fn maintenance(
    ctx: &Context,
    request: &Request,
    client_id: &str,
) -> Result<Task, Refusal> {
    let payload = &request.payload;
    let Some(task) = request.task.clone() else {
        return Err(Refusal(format!(
            "{client_id} - missing maintenance task in message"
        )));
    };
    if payload.current_mode.is_none_or(|m| m <= 0) {
        return Err(Refusal(format!(
            "Device {} is in pre-provisioning mode.",
            payload.uuid
        )));
    }
    if !request.force {
        check_device_password(ctx, payload).await?;
    }
    match task {
        Task::SyncIp if payload.ip_configuration.is_none() => {
            Err(Refusal(format!("{client_id} - missing ipConfiguration")))
        }
        Task::SyncHostName if payload.hostname_info.is_none() => {
            Err(Refusal(format!("{client_id} - missing HostnameInfo")))
        }
        task => Ok(task),
    }
}

/// The command of a request as a word for logs and events.
pub fn command_name(command: &Command) -> &'static str {
    match command {
        Command::Activate => "activate",
        Command::Deactivate => "deactivate",
        Command::Maintenance => "maintenance",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn javascript_number_parsing() {
        assert_eq!(js_parse_float("16.1.25"), Some(16.1));
        assert_eq!(js_parse_float("11.6"), Some(11.6));
        assert_eq!(js_parse_float("7"), Some(7.0));
        assert_eq!(js_parse_float("x"), None);
        assert_eq!(js_parse_int("2049abc"), Some(2049));
    }

    #[test]
    fn firmware_checks() {
        let mut p = DevicePayload {
            uuid: "u".into(),
            ver: "11.6.0".into(),
            build: "2999".into(),
            ..Default::default()
        };
        assert_eq!(
            check_amt_version(&p, "activation").unwrap_err(),
            "Device u activation failed. Please check with your OEM for a firmware update."
        );
        p.build = "3000".into();
        assert!(check_amt_version(&p, "activation").is_ok());
        p.ver = "6.2".into();
        assert_eq!(
            check_amt_version(&p, "deactivation").unwrap_err(),
            "Device u deactivation failed. AMT version: 6.2. Version less than 7 cannot be remotely configured "
        );
        p.ver = "16.1.25".into();
        p.build = "1".into();
        assert!(check_amt_version(&p, "activation").is_ok());
    }
}
