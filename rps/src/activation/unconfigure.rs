//! Clearing what a previous configuration left on the device (rps.md §3.8, the reference's
//! `unconfiguration-machine`): wired 802.1x, WiFi profiles, HTTP proxies, remote access policies and MPS
//! servers, TLS, key pairs and certificates, environment detection. A failure stops this phase only.

use serde_json::Value;
use wsman::{Call, Selector};

use super::configure::{enumerate_pull, has_mac, instance_selector, split_ports};
use super::job::Job;
use super::relay::{self, CallOptions};

pub async fn run(job: &mut Job) {
    if let Err(step) = clear(job).await {
        tracing::warn!(guid = %job.guid, step, "unconfiguration stopped");
    }
}

/// Runs the steps; the error names the step that failed.
async fn clear(job: &mut Job) -> Result<(), &'static str> {
    let relay = &mut job.relay;
    let ports = enumerate_pull(relay, "AMT_EthernetPortSettings")
        .await
        .map_err(|_| "Failed to pull ethernet port settings")?;
    let (wired, wifi) = split_ports(&ports);
    let wifi_supported = has_mac(&wifi);
    let mut ieee8021x_disabled = false;

    if has_mac(&wired) {
        let answer = relay
            .call(&Call::get("IPS_IEEE8021xSettings"))
            .await
            .map_err(|_| "Failed to get 8021x profile")?;
        let mut settings = answer.body()["IPS_IEEE8021xSettings"].clone();
        if matches!(relay::number(&settings["Enabled"]), Some(2 | 6)) {
            if let Some(o) = settings.as_object_mut() {
                o.remove("Username");
                o.remove("Password");
                o.remove("AuthenticationProtocol");
                o.insert("Enabled".into(), Value::from(3));
            }
            relay
                .call(&Call::put("IPS_IEEE8021xSettings", &settings))
                .await
                .map_err(|_| "Failed to disable 8021x profile")?;
            ieee8021x_disabled = wifi_supported;
        }
    }
    if wifi_supported {
        let profiles = enumerate_pull(relay, "CIM_WiFiEndpointSettings")
            .await
            .map_err(|_| "Failed to pull wifi endpoint settings")?;
        for profile in profiles {
            // Priority 0 is the profile AMT synchronised from the host; it is not ours to delete.
            let Some(id) = relay::text(&profile["InstanceID"]) else {
                continue;
            };
            if relay::number(&profile["Priority"]) == Some(0) {
                continue;
            }
            relay
                .call(&Call::delete(
                    "CIM_WiFiEndpointSettings",
                    vec![Selector::new("InstanceID", id)],
                ))
                .await
                .map_err(|_| "Failed to delete wifi endpoint settings")?;
        }
    }

    let proxies = enumerate_pull(relay, "IPS_HTTPProxyAccessPoint")
        .await
        .map_err(|_| "Failed to pull HTTP Proxy Access Point")?;
    for proxy in proxies {
        let Some(name) = relay::text(&proxy["Name"]) else {
            continue;
        };
        relay
            .call(&Call::delete(
                "IPS_HTTPProxyAccessPoint",
                vec![Selector::new("Name", name)],
            ))
            .await
            .map_err(|_| "Failed to delete HTTP Proxy Access Point")?;
    }

    for (rule, tolerated) in [
        ("User Initiated", true),
        ("Alert", false),
        ("Periodic", false),
    ] {
        let result = relay
            .call(&Call::delete(
                "AMT_RemoteAccessPolicyRule",
                vec![Selector::new("PolicyRuleName", rule)],
            ))
            .await;
        // AMT answers 400 when the rule does not exist; only the first rule's other errors stop the phase.
        if let Err(e) = result
            && tolerated
            && e.status() != Some(400)
        {
            return Err("Failed to remove the remote access policy rules");
        }
    }

    let servers = enumerate_pull(relay, "AMT_ManagementPresenceRemoteSAP")
        .await
        .map_err(|_| "Failed to Pull Management Presence Remote SAP")?;
    for server in servers {
        let Some(name) = relay::text(&server["Name"]) else {
            continue;
        };
        relay
            .call(&Call::delete(
                "AMT_ManagementPresenceRemoteSAP",
                vec![Selector::new("Name", name)],
            ))
            .await
            .map_err(|_| "Failed to delete Management Presence Remote SAP")?;
        job.status.cira_connection = Some("unconfigured".into());
    }
    let relay = &mut job.relay;

    let tls = enumerate_pull(relay, "AMT_TLSSettingData")
        .await
        .map_err(|_| "Failed to pull TLS Setting Data")?;
    let enabled = |i: usize| {
        tls.get(i)
            .is_some_and(|s| s["Enabled"] == Value::Bool(true))
    };
    let mut clear_key_pairs = ieee8021x_disabled;
    if enabled(0) || enabled(1) {
        disable_tls(job, &tls).await?;
        clear_key_pairs = true;
    }
    let relay = &mut job.relay;
    if clear_key_pairs {
        let pairs = enumerate_pull(relay, "AMT_PublicPrivateKeyPair")
            .await
            .map_err(|_| "Failed to pull public private key pair")?;
        for pair in pairs {
            if let Some(id) = relay::text(&pair["InstanceID"]) {
                let _ = relay
                    .call(&Call::delete(
                        "AMT_PublicPrivateKeyPair",
                        vec![Selector::new("InstanceID", id)],
                    ))
                    .await;
            }
        }
    }

    let certificates = enumerate_pull(relay, "AMT_PublicKeyCertificate")
        .await
        .map_err(|_| "Failed to pull public key certificate")?;
    for certificate in certificates {
        if let Some(id) = relay::text(&certificate["InstanceID"]) {
            // Certificates in use (e.g. by a credential context) refuse; the reference goes on.
            let _ = relay
                .call(&Call::delete(
                    "AMT_PublicKeyCertificate",
                    vec![Selector::new("InstanceID", id)],
                ))
                .await;
        }
    }

    let environment = relay
        .call(&Call::get("AMT_EnvironmentDetectionSettingData"))
        .await
        .map_err(|_| "Failed to get environment detection settings")?;
    let mut settings = environment.body()["AMT_EnvironmentDetectionSettingData"].clone();
    if settings.get("DetectionStrings").is_some() {
        if let Some(o) = settings.as_object_mut() {
            o.insert("DetectionStrings".into(), Value::Array(Vec::new()));
        }
        let selectors = instance_selector(&settings);
        relay
            .call(&Call::put_selected(
                "AMT_EnvironmentDetectionSettingData",
                &settings,
                selectors,
            ))
            .await
            .map_err(|_| "Failed to put environment detection settings")?;
    }
    Ok(())
}

/// Turns TLS off (remote, then local), commits, waits, and removes the TLS credential context.
async fn disable_tls(job: &mut Job, settings: &[Value]) -> Result<(), &'static str> {
    let timings = job.relay.timings().clone();
    let options = CallOptions::with_timeout(timings.tls_call_timeout());
    let mut remote = settings[0].clone();
    if let Some(o) = remote.as_object_mut() {
        o.insert("Enabled".into(), Value::Bool(false));
        o.insert("AcceptNonSecureConnections".into(), Value::Bool(true));
        o.insert("MutualAuthentication".into(), Value::Bool(false));
        o.remove("TrustedCN");
    }
    let selectors = instance_selector(&remote);
    let put = job
        .relay
        .call_with(
            &Call::put_selected("AMT_TLSSettingData", &remote, selectors),
            options,
        )
        .await;
    let local_enabled = settings
        .get(1)
        .is_some_and(|s| s["Enabled"] == Value::Bool(true));
    if let Ok(answer) = put
        && relay::text(&answer.body()["AMT_TLSSettingData"]["ElementName"]).as_deref()
            == Some("Intel(r) AMT 802.3 TLS Settings")
        && local_enabled
    {
        let mut local = settings[1].clone();
        if let Some(o) = local.as_object_mut() {
            o.insert("Enabled".into(), Value::Bool(false));
            o.remove("TrustedCN");
        }
        let selectors = instance_selector(&local);
        let _ = job
            .relay
            .call_with(
                &Call::put_selected("AMT_TLSSettingData", &local, selectors),
                options,
            )
            .await;
    }
    job.relay
        .call_with(&wsman::messages::amt::commit_changes(), options)
        .await
        .map_err(|_| "Failed at setup and configuration service commit changes")?;
    job.status.tls_configuration = Some("unconfigured".into());
    if !timings.setup_and_config_sync.is_zero() {
        tokio::time::sleep(timings.setup_and_config_sync).await;
    }
    let contexts = enumerate_pull(&mut job.relay, "AMT_TLSCredentialContext")
        .await
        .map_err(|_| "Failed to pull TLS Credential context")?;
    for context in contexts {
        let selectors = credential_context_selectors(&context);
        let _ = job
            .relay
            .call(&Call::delete("AMT_TLSCredentialContext", selectors))
            .await;
    }
    Ok(())
}

/// The two references that identify an AMT_TLSCredentialContext instance.
fn credential_context_selectors(context: &Value) -> Vec<Selector> {
    ["ElementInContext", "ElementProvidingContext"]
        .iter()
        .filter_map(|name| {
            let reference = &context[*name]["ReferenceParameters"];
            let uri = relay::text(&reference["ResourceURI"])?;
            let selectors = relay::items(&reference["SelectorSet"]["Selector"])
                .iter()
                .filter_map(|s| {
                    let key = relay::text(&s["$"]["Name"])?;
                    Some(Selector::new(key, relay::text(s).unwrap_or_default()))
                })
                .collect();
            Some(Selector::reference(
                *name,
                wsman::EndpointReference {
                    address: relay::text(&context[*name]["Address"])
                        .unwrap_or_else(|| "/wsman".into()),
                    resource_uri: uri,
                    selectors,
                },
            ))
        })
        .collect()
}
