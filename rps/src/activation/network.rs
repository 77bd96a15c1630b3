//! Network configuration (rps.md §3.8): AMT general settings, the wired port (DHCP or static), the WiFi port
//! and its profiles, and HTTP proxies. Results go to the `Network` status and the WiredNetwork /
//! WirelessNetwork / CIRAProxy components.

use serde_json::Value;
use wsman::messages::{amt, ips};
use wsman::{Call, Selector};

use super::configure::{enumerate_pull, has_mac, instance_selector, split_ports};
use super::job::Job;
use super::relay;
use super::status::{Component, Mode, Outcome};
use super::store::Profile;

/// ConsoleTcpMaxRetransmissions the reference sets on the WiFi port.
const MAX_TCP_RETRANSMISSIONS: i64 = 7;
const SYNC_ONLY: &str = "Wireless Only Local Profile Sync Configured";

pub async fn run(job: &mut Job, profile: &Profile, general_settings: &Value) {
    if let Err(error) = configure(job, profile, general_settings).await {
        job.status.network = Some(error.to_owned());
    }
}

async fn configure(
    job: &mut Job,
    profile: &Profile,
    general_settings: &Value,
) -> Result<(), &'static str> {
    let mut settings = general_settings.clone();
    let shared_fqdn = settings["SharedFQDN"] == Value::Bool(true);
    let network_enabled = relay::number(&settings["AMTNetworkEnabled"]) == Some(1);
    let ping = settings["RmcpPingResponseEnabled"] == Value::Bool(true);
    if settings.is_object() && !(shared_fqdn && network_enabled && ping) {
        if let Some(o) = settings.as_object_mut() {
            o.insert("SharedFQDN".into(), Value::Bool(true));
            o.insert("AMTNetworkEnabled".into(), Value::from(1));
            o.insert("RmcpPingResponseEnabled".into(), Value::Bool(true));
        }
        job.relay
            .call(&Call::put("AMT_GeneralSettings", &settings))
            .await
            .map_err(|_| "Failed to update amt general settings on device")?;
    }
    let ports = enumerate_pull(&mut job.relay, "AMT_EthernetPortSettings")
        .await
        .map_err(|_| "Failed to pull ethernet port settings")?;
    let (wired, wifi) = split_ports(&ports);
    let wifi_wanted = has_mac(&wifi)
        && (!profile.wifi.is_empty()
            || profile.local_wifi_sync_enabled == Some(true)
            || profile.uefi_wifi_sync_enabled == Some(true));
    if has_mac(&wired) {
        if let Some(port) = wired {
            wired_port(job, profile, port).await;
        }
        if wifi_wanted && let Some(port) = wifi {
            wireless(job, profile, port).await;
        }
    } else if let Some(port) = wifi {
        // A WiFi-only device.
        wireless(job, profile, port).await;
    }
    if !profile.proxies.is_empty() {
        proxies(job, profile).await;
    }
    Ok(())
}

/// Removes the static address fields AMT rejects together with DHCP or IP sync.
fn strip_static_fields(port: &mut Value) {
    if let Some(o) = port.as_object_mut() {
        for key in [
            "SubnetMask",
            "DefaultGateway",
            "IPAddress",
            "PrimaryDNS",
            "SecondaryDNS",
        ] {
            o.remove(key);
        }
    }
}

fn set(port: &mut Value, key: &str, value: Value) {
    if let Some(o) = port.as_object_mut() {
        o.insert(key.into(), value);
    }
}

async fn wired_port(job: &mut Job, profile: &Profile, mut port: Value) {
    let result = configure_wired(job, profile, &mut port).await;
    let (outcome, text) = match &result {
        Ok(()) => (Outcome::Success, "Wired Network Configured".to_owned()),
        Err(e) => (Outcome::Failure, e.clone()),
    };
    job.status.network = Some(text.clone());
    job.status
        .record(Component::WiredNetwork, outcome, None, Some(&text));
}

async fn configure_wired(job: &mut Job, profile: &Profile, port: &mut Value) -> Result<(), String> {
    let (dhcp, ip_sync) = if profile.dhcp_enabled {
        (true, true)
    } else {
        (false, profile.ip_sync_enabled.unwrap_or(true))
    };
    set(port, "DHCPEnabled", Value::Bool(dhcp));
    set(port, "IpSyncEnabled", Value::Bool(ip_sync));
    set(port, "SharedStaticIp", Value::Bool(!dhcp && ip_sync));
    if dhcp || ip_sync {
        strip_static_fields(port);
    } else if relay::text(&port["IPAddress"]).is_none_or(|s| s.is_empty())
        || relay::text(&port["SubnetMask"]).is_none_or(|s| s.is_empty())
    {
        return Err("Invalid configuration - IPAddress and SubnetMask are required when AMT profile is static and IpSyncEnabled is false".into());
    }
    let selectors = instance_selector(port);
    let answer = job
        .relay
        .call(&Call::put_selected(
            "AMT_EthernetPortSettings",
            port,
            selectors,
        ))
        .await
        .map_err(|e| e.to_string())?;
    let result = &answer.body()["AMT_EthernetPortSettings"];
    let flag = |k: &str| match &result[k] {
        Value::Bool(b) => Some(*b),
        _ => None,
    };
    if let (Some(d), Some(s), Some(shared)) = (
        flag("DHCPEnabled"),
        flag("IpSyncEnabled"),
        flag("SharedStaticIp"),
    ) {
        let wrong = if dhcp {
            !d || !s || shared
        } else {
            d || s != ip_sync || shared != s
        };
        if wrong {
            return Err("Failed to put to ethernet port settings".into());
        }
    }
    if let Some(name) = &profile.ieee8021x_profile_name {
        // Wired 802.1x needs certificates from the Enterprise Assistant, which this RPS does not run.
        tracing::warn!(guid = %job.guid, ieee8021x = %name, "wired 802.1x is not supported; the port stays without it");
        return Err("Failed to configure 802.1x: the Enterprise Assistant is not supported".into());
    }
    Ok(())
}

/// Comma-separated names, as the reference lists added and failed items.
fn list(names: &[String]) -> Option<String> {
    (!names.is_empty()).then(|| names.join(", "))
}

/// The reference's "Added … / Failed to add …" text.
fn items_status(added: &[String], failed: &[String], label: &str, success: &str) -> (bool, String) {
    match (list(added), list(failed)) {
        (Some(a), Some(f)) => (true, format!("Added {a} {label}. Failed to add {f}")),
        (None, Some(f)) => (true, format!("Failed to add {f}")),
        _ => (false, success.to_owned()),
    }
}

async fn wireless(job: &mut Job, profile: &Profile, port: Value) {
    let (failed, text) = match configure_wireless(job, profile, port).await {
        Ok((added, failed_items))
            if profile.wifi.is_empty() && failed_items.is_empty() && added.is_empty() =>
        {
            (false, SYNC_ONLY.to_owned())
        }
        Ok((added, failed_items)) => items_status(
            &added,
            &failed_items,
            "WiFi Profiles",
            "Wireless Configured",
        ),
        Err(e) => (true, e.to_owned()),
    };
    job.status.append_network(&text);
    let (mode, details) = if !failed && text == SYNC_ONLY {
        (
            Some(Mode::LocalProfileSync),
            "Local Profile Sync Configured".to_owned(),
        )
    } else {
        (None, text)
    };
    job.status.record(
        Component::WirelessNetwork,
        if failed {
            Outcome::Failure
        } else {
            Outcome::Success
        },
        mode,
        Some(&details),
    );
}

/// Returns the profiles added and those that failed.
async fn configure_wireless(
    job: &mut Job,
    profile: &Profile,
    mut port: Value,
) -> Result<(Vec<String>, Vec<String>), &'static str> {
    if port["DHCPEnabled"] == Value::Bool(true) {
        strip_static_fields(&mut port);
    } else if relay::text(&port["IPAddress"]).is_none_or(|s| s.is_empty())
        || relay::text(&port["SubnetMask"]).is_none_or(|s| s.is_empty())
    {
        return Err(
            "Invalid configuration - IPAddress and SubnetMask are required when AMT profile is static",
        );
    }
    set(
        &mut port,
        "ConsoleTcpMaxRetransmissions",
        Value::from(MAX_TCP_RETRANSMISSIONS),
    );
    let selectors = instance_selector(&port);
    job.relay
        .call(&Call::put_selected(
            "AMT_EthernetPortSettings",
            &port,
            selectors,
        ))
        .await
        .map_err(|_| "Failed to put Max Retransmissions to ethernet port settings")?;
    let service = job
        .relay
        .call(&Call::get("AMT_WiFiPortConfigurationService"))
        .await
        .map_err(|_| "Failed to get WiFi Port Configuration Service")?;
    let mut service = service.body()["AMT_WiFiPortConfigurationService"].clone();
    let sync_off = relay::number(&service["localProfileSynchronizationEnabled"]) == Some(0)
        || service["UEFIWiFiProfileShareEnabled"] == Value::Bool(false);
    if sync_off {
        let capabilities = job
            .relay
            .call(&Call::get("AMT_BootCapabilities"))
            .await
            .map_err(|_| "Failed to get AMT Boot Capabilities")?;
        let uefi_share = capabilities.body()["AMT_BootCapabilities"]["UEFIWiFiCoExistenceAndProfileShare"]
            == Value::Bool(true);
        let local_sync = match profile.local_wifi_sync_enabled {
            Some(false) => 0,
            _ => 3,
        };
        set(
            &mut service,
            "localProfileSynchronizationEnabled",
            Value::from(local_sync),
        );
        if uefi_share {
            let share = i64::from(profile.uefi_wifi_sync_enabled == Some(true));
            set(
                &mut service,
                "UEFIWiFiProfileShareEnabled",
                Value::from(share),
            );
        }
        job.relay
            .call(&Call::put("AMT_WiFiPortConfigurationService", &service))
            .await
            .map_err(|_| "Failed to put WiFi Port Configuration Service")?;
    }
    // 32769: WiFi enabled in S0 and Sx/AC.
    job.relay
        .call(&Call::request_state_change("CIM_WiFiPort", 32769))
        .await
        .map_err(|_| "Failed to update state change for wifi port")?;

    let mut added = Vec::new();
    let mut failed = Vec::new();
    let tenant = profile.tenant_id.clone();
    for (name, priority) in &profile.wifi {
        let wireless = job
            .ctx
            .store
            .wireless(name, &tenant)
            .await
            .map_err(|_| "Failed to get wifi profile from DB")?;
        let Some(wireless) = wireless else {
            return Err("Failed to get wifi profile from DB");
        };
        if wireless.ieee8021x_profile_name.is_some() {
            tracing::warn!(guid = %job.guid, wifi = %wireless.name, "WiFi 802.1x needs the Enterprise Assistant; profile skipped");
            failed.push(wireless.name.clone());
            continue;
        }
        let settings = serde_json::json!({
            "ElementName": wireless.name,
            "InstanceID": format!("Intel(r) AMT:WiFi Endpoint Settings {}", wireless.name),
            "AuthenticationMethod": wireless.authentication_method,
            "EncryptionMethod": wireless.encryption_method,
            "SSID": wireless.ssid,
            "Priority": priority,
            "PSKPassPhrase": wireless.psk_passphrase.clone().unwrap_or_default(),
        });
        let call = amt::add_wifi_settings(
            Some(&settings),
            &Selector::new("Name", "WiFi Endpoint 0"),
            None,
            None,
            None,
        );
        match job.relay.call(&call).await {
            Ok(answer) if answer.return_value("AddWiFiSettings_OUTPUT") == Some(0) => {
                failed.retain(|n| n != &wireless.name);
                if !added.contains(&wireless.name) {
                    added.push(wireless.name.clone());
                }
            }
            _ => {
                if !added.contains(&wireless.name) && !failed.contains(&wireless.name) {
                    failed.push(wireless.name.clone());
                }
            }
        }
    }
    Ok((added, failed))
}

async fn proxies(job: &mut Job, profile: &Profile) {
    let mut added: Vec<String> = Vec::new();
    let mut failed: Vec<String> = Vec::new();
    let mut error = None;
    for (name, _) in &profile.proxies {
        let proxy = match job.ctx.store.proxy(name, &profile.tenant_id).await {
            Ok(Some(p)) => p,
            _ => {
                error = Some("Failed to get proxy config from DB".to_owned());
                break;
            }
        };
        let call = ips::add_proxy_access_point(
            &proxy.address,
            u32::try_from(proxy.info_format).unwrap_or(3),
            u16::try_from(proxy.port).unwrap_or(0),
            &proxy.network_dns_suffix,
        );
        let ok = matches!(
            job.relay.call(&call).await,
            Ok(answer) if answer.return_value("AddProxyAccessPoint_OUTPUT") == Some(0)
        );
        if ok {
            failed.retain(|n| n != &proxy.address);
            if !added.contains(&proxy.address) {
                added.push(proxy.address.clone());
            }
        } else if !added.contains(&proxy.address) && !failed.contains(&proxy.address) {
            failed.push(proxy.address.clone());
        }
    }
    let (failure, text) = match error {
        Some(e) => (true, e),
        None => items_status(&added, &failed, "Proxy Configurations", "Proxy Configured"),
    };
    job.status.append_network(&text);
    job.status.record(
        Component::CiraProxy,
        if failure {
            Outcome::Failure
        } else {
            Outcome::Success
        },
        None,
        Some(&text),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn added_and_failed_items_read_like_the_reference() {
        let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        assert_eq!(
            items_status(
                &s(&["home", "work"]),
                &s(&["cafe"]),
                "WiFi Profiles",
                "Wireless Configured"
            ),
            (
                true,
                "Added home, work WiFi Profiles. Failed to add cafe".into()
            )
        );
        assert_eq!(
            items_status(&[], &s(&["p1"]), "Proxy Configurations", "Proxy Configured"),
            (true, "Failed to add p1".into())
        );
        assert_eq!(
            items_status(&s(&["p1"]), &[], "Proxy Configurations", "Proxy Configured"),
            (false, "Proxy Configured".into())
        );
    }
}
