//! CIRA configuration (rps.md §3.8, the reference's `cira-machine`): the MPS root certificate, the device's
//! CIRA credentials in `devices/<guid>` (read by MPS), the MPS server, the periodic and user-initiated remote
//! access policies bound to it, user-initiated connections and environment detection.
//!
//! The MPS root certificate comes from MPS's own secret (`MPSCerts`, the CA MPS serves its CIRA certificate
//! from) when the secret store has it, else from the CIRA config. RPS never calls MPS.

use secrets::DeviceSecrets;
use serde_json::Value;
use wsman::messages::amt;
use wsman::{Call, Selector};

use super::configure::{enumerate_pull, instance_selector};
use super::job::Job;
use super::relay::{self, Answer, WsmanError};
use super::status::{Component, Outcome};
use super::store::{CiraConfig, Profile, ProfileMode};

const CONFIGURED: &str = "Configured";

/// Configures CIRA; returns the CIRA user name MPS must expect.
pub async fn run(job: &mut Job, profile: &Profile, config_name: &str) -> String {
    let config = match job
        .ctx
        .store
        .cira_config(config_name, &profile.tenant_id)
        .await
    {
        Ok(Some(c)) => c,
        Ok(None) | Err(_) => {
            finish(job, Err("Failed to get CIRA config"));
            return String::new();
        }
    };
    let result = configure(job, profile, &config).await;
    finish(job, result);
    config.username
}

fn finish(job: &mut Job, result: Result<(), &'static str>) {
    let (outcome, text) = match result {
        Ok(()) => (Outcome::Success, CONFIGURED),
        Err(e) => (Outcome::Failure, e),
    };
    if outcome == Outcome::Failure {
        tracing::warn!(guid = %job.guid, reason = text, "CIRA configuration failed");
    }
    job.status.cira_connection = Some(text.to_owned());
    job.status
        .record(Component::CiraConnection, outcome, None, Some(text));
}

/// Base64 DER of a PEM certificate (or the text itself when it is already bare base64).
pub fn certificate_blob(pem_or_base64: &str) -> String {
    pem_or_base64
        .replace("-----BEGIN CERTIFICATE-----", "")
        .replace("-----END CERTIFICATE-----", "")
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect()
}

async fn mps_root_certificate(job: &Job, config: &CiraConfig) -> String {
    match job.ctx.store.mps_certs().await {
        Ok(Some(certs)) => {
            if let Some(ca) = certs
                .get("web_tls_config")
                .and_then(|w| w.get("ca"))
                .and_then(Value::as_str)
            {
                return certificate_blob(ca);
            }
        }
        Ok(None) => {}
        Err(error) => {
            tracing::warn!(%error, "reading MPSCerts failed; using the CIRA config's root certificate")
        }
    }
    certificate_blob(&config.mps_root_certificate)
}

async fn configure(
    job: &mut Job,
    profile: &Profile,
    config: &CiraConfig,
) -> Result<(), &'static str> {
    let root = mps_root_certificate(job, config).await;
    job.relay
        .call(&amt::add_trusted_root_certificate(&root))
        .await
        .map_err(|_| "Failed to add trusted root certificate")?;

    // MPS authenticates the device's CIRA login with this secret.
    let store = &job.ctx.store;
    let existing = store
        .device_secrets(&job.uuid())
        .await
        .map_err(|_| "Failed to save mps password to secret provider")?
        .map(|m| DeviceSecrets::from_map(&m))
        .unwrap_or_default();
    let secrets = DeviceSecrets {
        amt_password: existing.amt_password,
        mps_password: Some(config.password.clone()),
        mebx_password: if profile.mode == ProfileMode::Acm {
            existing.mebx_password
        } else {
            None
        },
    };
    store
        .save_device_secrets(&job.uuid(), &secrets)
        .await
        .map_err(|_| "Failed to save mps password to secret provider")?;

    let server = amt::MpServer {
        access_info: config.mps_server_address.clone(),
        info_format: config.server_address_format,
        port: config.mps_port,
        auth_method: config.auth_method,
        username: config.username.clone(),
        password: config.password.clone(),
        // AMT reads the common name only for an IPv4 address.
        common_name: if config.server_address_format == 3 {
            config.common_name.clone()
        } else {
            String::new()
        },
    };
    job.relay
        .call(&amt::add_mp_server(&server))
        .await
        .map_err(|_| "Failed to add mps")?;

    let servers = enumerate_pull(&mut job.relay, "AMT_ManagementPresenceRemoteSAP")
        .await
        .map_err(|_| "Failed to Pull Management Presence Remote SAP")?;
    let name = servers
        .iter()
        .find_map(|s| relay::text(&s["Name"]))
        .ok_or("Failed to Pull Management Presence Remote SAP")?;
    let sap = Selector::new("Name", name);
    let periodic = amt::RemoteAccessPolicyRule {
        trigger: 2,
        tunnel_life_time: 0,
        // 25 seconds, network order.
        extended_data: "AAAAAAAAABk=".into(),
    };
    job.relay
        .call(&amt::add_remote_access_policy_rule(&periodic, &sap))
        .await
        .map_err(|_| "Failed to add remote policy access rule")?;
    let user_initiated = amt::RemoteAccessPolicyRule {
        trigger: 0,
        tunnel_life_time: 300,
        extended_data: String::new(),
    };
    job.relay
        .call(&amt::add_remote_access_policy_rule(&user_initiated, &sap))
        .await
        .map_err(|_| "Failed to add User Initiated remote policy access rule")?;

    let policies = enumerate_pull(&mut job.relay, "AMT_RemoteAccessPolicyAppliesToMPS")
        .await
        .map_err(|_| "Failed to pull AMT_RemoteAccessPolicyAppliesToMPS")?;
    for policy in policies {
        put_policy(job, policy)
            .await
            .map_err(|_| "Failed to put AMT_RemoteAccessPolicyAppliesToMPS")?;
    }

    let answer = job
        .relay
        .call(&Call::request_state_change(
            "AMT_UserInitiatedConnectionService",
            32771,
        ))
        .await
        .map_err(|_| "Failed to set user initiated connection service")?;
    if answer.return_value("RequestStateChange_OUTPUT") != Some(0) {
        return Err("Failed to set user initiated connection service");
    }

    let environment = job
        .relay
        .call(&Call::get("AMT_EnvironmentDetectionSettingData"))
        .await
        .map_err(|_| "Failed to get user initiated connection service")?;
    let mut settings = environment.body()["AMT_EnvironmentDetectionSettingData"].clone();
    let detection = if job.ctx.disable_cira_domain_name.is_empty() {
        format!("{}.com", uuid::Uuid::new_v4())
    } else {
        job.ctx.disable_cira_domain_name.clone()
    };
    if let Some(o) = settings.as_object_mut() {
        o.insert(
            "DetectionStrings".into(),
            Value::Array(vec![Value::String(detection)]),
        );
    }
    let selectors = instance_selector(&settings);
    job.relay
        .call(&Call::put_selected(
            "AMT_EnvironmentDetectionSettingData",
            &settings,
            selectors,
        ))
        .await
        .map_err(|_| "Failed to set user initiated connection service")?;
    Ok(())
}

/// The selector value named `name` inside an endpoint reference of a pulled binding.
fn reference_selector(reference: &Value, name: &str) -> Option<String> {
    relay::items(&reference["ReferenceParameters"]["SelectorSet"]["Selector"])
        .iter()
        .find(|s| relay::text(&s["$"]["Name"]).as_deref() == Some(name))
        .and_then(relay::text)
}

/// The reference's header selectors of this Put: the binding's MPS and policy rule as endpoint references.
fn policy_selectors(sap_name: &str, policy_name: &str) -> String {
    const ADDRESSING: &str = "http://schemas.xmlsoap.org/ws/2004/08/addressing";
    const WSMAN: &str = "http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd";
    const AMT: &str = "http://intel.com/wbem/wscim/1/amt-schema/1/";
    let reference = |class: &str, key: &str, value: &str| {
        format!(
            r#"<EndpointReference xmlns="{ADDRESSING}"><Address xmlns="{ADDRESSING}">{ADDRESSING}/role/anonymous</Address><ReferenceParameters xmlns="{ADDRESSING}"><ResourceURI xmlns="{WSMAN}">{AMT}{class}</ResourceURI><SelectorSet xmlns="{WSMAN}"><Selector Name="CreationClassName">{class}</Selector><Selector Name="{key}">{value}</Selector><Selector Name="SystemCreationClassName">CIM_ComputerSystem</Selector><Selector Name="SystemName">Intel(r) AMT</Selector></SelectorSet></ReferenceParameters></EndpointReference>"#,
            value = wsman::xml::escape_text(value)
        )
    };
    format!(
        r#"</w:OperationTimeout><wsman:SelectorSet xmlns:wsman="{WSMAN}"><wsman:Selector Name="ManagedElement">{}</wsman:Selector><wsman:Selector Name="PolicySet">{}</wsman:Selector></wsman:SelectorSet>"#,
        reference("AMT_ManagementPresenceRemoteSAP", "Name", sap_name),
        reference("AMT_RemoteAccessPolicyRule", "PolicyRuleName", policy_name),
    )
}

/// Binds one policy to the MPS for both networks (MpsType 2, first in order).
async fn put_policy(job: &mut Job, mut policy: Value) -> Result<Answer, WsmanError> {
    if let Some(o) = policy.as_object_mut() {
        o.insert("MpsType".into(), Value::from(2));
        o.insert("OrderOfAccess".into(), Value::from(0));
    }
    let sap_name = reference_selector(&policy["ManagedElement"], "Name")
        .unwrap_or_else(|| "Intel(r) AMT:Management Presence Server 0".into());
    let policy_name =
        reference_selector(&policy["PolicySet"], "PolicyRuleName").unwrap_or_default();
    let call = Call::put("AMT_RemoteAccessPolicyAppliesToMPS", &policy);
    let selectors = policy_selectors(&sap_name, &policy_name);
    job.relay
        .call_xml(
            &|id| {
                call.to_xml(id)
                    .replacen("</w:OperationTimeout>", &selectors, 1)
            },
            Default::default(),
        )
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_to_certificate_blob() {
        assert_eq!(
            certificate_blob(
                "-----BEGIN CERTIFICATE-----\r\nMIIB\nAAAA\n-----END CERTIFICATE-----\n"
            ),
            "MIIBAAAA"
        );
        assert_eq!(certificate_blob("MIIBAAAA"), "MIIBAAAA");
    }

    #[test]
    fn policy_put_names_the_server_and_rule_in_its_header() {
        let s = policy_selectors(
            "Intel(r) AMT:Management Presence Server 1",
            "User Initiated",
        );
        assert!(s.starts_with("</w:OperationTimeout><wsman:SelectorSet xmlns:wsman=\"http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd\"><wsman:Selector Name=\"ManagedElement\">"));
        assert!(s.contains(
            "<Selector Name=\"Name\">Intel(r) AMT:Management Presence Server 1</Selector>"
        ));
        assert!(s.contains("<Selector Name=\"PolicyRuleName\">User Initiated</Selector>"));
        assert!(s.ends_with("</wsman:Selector></wsman:SelectorSet>"));
    }
}
