//! The first message of the device agent: the command line in `method` and the device facts rpc-go
//! reads from the ME and the OS, base64 JSON in `payload` (spec/rps.md §3.2–3.3).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Value, json};

use crate::device::{ControlMode, Device};

/// What the agent asks RPS to do.
#[derive(Clone, PartialEq, Eq)]
pub enum Command {
    /// `activate --profile <profile>`.
    Activate { profile: String },
    /// `deactivate --password <password>` (+ ` -f` to skip the password check).
    Deactivate { force: bool },
    /// `maintenance -password <password> --<task>` (synctime, syncip, changepassword, synchostname, syncdeviceinfo).
    Maintenance { task: String },
}

impl std::fmt::Debug for Command {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Command::Activate { profile } => write!(f, "activate --profile {profile}"),
            Command::Deactivate { force } => write!(f, "deactivate (force: {force})"),
            Command::Maintenance { task } => write!(f, "maintenance --{task}"),
        }
    }
}

/// Who the agent is and what it reports besides the device itself.
#[derive(Clone)]
pub struct AgentOptions {
    pub command: Command,
    /// AMT admin password: required for an activated device (rpc-go `--password`), ignored otherwise.
    pub password: Option<String>,
    pub tenant_id: String,
    /// DNS suffix to report (rpc-go `-d`); ACM needs one matching an RPS domain.
    pub dns_suffix: Option<String>,
    pub hostname: Option<String>,
    pub friendly_name: Option<String>,
}

impl std::fmt::Debug for AgentOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AgentOptions")
            .field("command", &self.command)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("tenant_id", &self.tenant_id)
            .field("dns_suffix", &self.dns_suffix)
            .field("hostname", &self.hostname)
            .finish_non_exhaustive()
    }
}

/// Version the agent reports as `appVersion`.
pub const AGENT_VERSION: &str = "2.48.0";
/// The RPS protocol version rpc-go speaks.
pub const PROTOCOL_VERSION: &str = "4.0.0";

/// Errors building the first message.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PayloadError {
    #[error("the device is activated: the AMT admin password is needed (--password)")]
    PasswordRequired,
}

/// The `method` command line RPS parses like a CLI.
pub fn method_line(options: &AgentOptions) -> Result<String, PayloadError> {
    Ok(match &options.command {
        Command::Activate { profile } => format!("activate --profile {profile}"),
        Command::Deactivate { force } => {
            let password = options
                .password
                .as_deref()
                .ok_or(PayloadError::PasswordRequired)?;
            let mut line = format!("deactivate --password {password}");
            if *force {
                line.push_str(" -f");
            }
            line
        }
        Command::Maintenance { task } => {
            let password = options
                .password
                .as_deref()
                .ok_or(PayloadError::PasswordRequired)?;
            format!("maintenance -password {password} --{task}")
        }
    })
}

/// The device facts rpc-go sends (decoded form of `payload`).
pub fn device_facts(device: &Device, options: &AgentOptions) -> Result<Value, PayloadError> {
    let identity = device.identity();
    let mode = device.control_mode();
    let (username, password) = match mode {
        ControlMode::PreProvisioning => device.lsa_credentials(),
        _ => (
            device.admin_user(),
            options
                .password
                .clone()
                .ok_or(PayloadError::PasswordRequired)?,
        ),
    };
    let (dns_os, wired) =
        device.with_state(|s| (s.general.domain_name.clone(), s.network.wired.clone()));
    let fqdn = options.dns_suffix.clone().unwrap_or(dns_os);
    let hostname = options
        .hostname
        .clone()
        .unwrap_or_else(|| device.hostname());
    let cert_hashes: Vec<String> = device
        .trusted_root_hashes()
        .iter()
        .map(hex::encode)
        .collect();
    let mut facts = json!({
        "ver": identity.firmware_version,
        "build": identity.firmware_build,
        "sku": identity.firmware_sku,
        "features": "AMT Pro Corprate",
        "uuid": device.guid(),
        "username": username,
        "password": password,
        "currentMode": mode.as_number(),
        "hostname": hostname,
        "fqdn": fqdn,
        "client": "RPC",
        "certHashes": cert_hashes,
        "ipConfiguration": {
            "dhcp": wired.dhcp_enabled,
            "static": !wired.dhcp_enabled,
            "ipsync": wired.ip_sync_enabled,
            "ipAddress": wired.ip_address.unwrap_or_default(),
            "netmask": wired.subnet_mask.unwrap_or_default(),
            "gateway": wired.default_gateway.unwrap_or_default(),
            "primaryDns": wired.primary_dns.unwrap_or_default(),
            "secondaryDns": wired.secondary_dns.unwrap_or_default(),
        },
        "hostnameInfo": { "dnsSuffixOS": fqdn, "hostname": hostname },
        "tlsEnforced": false,
        "lmsInstalled": true,
    });
    if let Some(name) = &options.friendly_name {
        facts["friendlyName"] = json!(name);
    }
    Ok(facts)
}

/// The complete first message.
pub fn first_message(device: &Device, options: &AgentOptions) -> Result<Value, PayloadError> {
    let facts = device_facts(device, options)?;
    Ok(json!({
        "method": method_line(options)?,
        "apiKey": "key",
        "appVersion": AGENT_VERSION,
        "protocolVersion": PROTOCOL_VERSION,
        "status": "ok",
        "message": "ok",
        "fqdn": "",
        "payload": STANDARD.encode(facts.to_string()),
        "tenantId": options.tenant_id,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::device::DeviceSpec;

    fn options(command: Command) -> AgentOptions {
        AgentOptions {
            command,
            password: None,
            tenant_id: String::new(),
            dns_suffix: Some("example.com".into()),
            hostname: None,
            friendly_name: None,
        }
    }

    #[test]
    fn pre_provisioned_devices_send_the_local_account() {
        let device = Device::new(DeviceSpec::fresh(9, 1));
        device.trust_root_hash(vec![0xAB; 32]);
        let message = first_message(
            &device,
            &options(Command::Activate {
                profile: "ccm".into(),
            }),
        )
        .unwrap();
        assert_eq!(message["method"], "activate --profile ccm");
        assert_eq!(message["protocolVersion"], "4.0.0");
        let payload: Value = serde_json::from_slice(
            &STANDARD
                .decode(message["payload"].as_str().unwrap())
                .unwrap(),
        )
        .unwrap();
        let (user, password) = device.lsa_credentials();
        assert_eq!(payload["username"], user);
        assert_eq!(payload["password"], password);
        assert_eq!(payload["uuid"], device.guid());
        assert_eq!(payload["currentMode"], 0);
        assert_eq!(payload["client"], "RPC");
        assert_eq!(payload["ver"], "16.1.25");
        assert_eq!(payload["fqdn"], "example.com");
        assert_eq!(payload["certHashes"], json!(["ab".repeat(32)]));
    }

    #[test]
    fn deactivation_needs_the_password_and_never_shows_it_in_debug() {
        let device = Device::new(DeviceSpec::fresh(9, 2));
        assert_eq!(
            method_line(&options(Command::Deactivate { force: false })),
            Err(PayloadError::PasswordRequired)
        );
        let mut with_password = options(Command::Deactivate { force: true });
        with_password.password = Some("S3cret!pw".into());
        assert_eq!(
            method_line(&with_password).unwrap(),
            "deactivate --password S3cret!pw -f"
        );
        assert!(!format!("{with_password:?}").contains("S3cret"));
        assert!(first_message(&device, &with_password).is_ok());
    }
}
