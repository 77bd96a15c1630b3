//! Maintenance of an activated device (rps.md §3.11): change the AMT password, sync the clock, the IP
//! address or the host name. The terminal status is `{"Status": "<task> completed succesfully"}` or
//! `{"Status": "<task> failed <detail>"}`, the reference's words (sic).

use schemas::proto;
use serde_json::Value;
use wsman::Call;
use wsman::messages::amt;

use super::activate::valid_digest_realm;
use super::configure::{enumerate_pull, instance_selector, split_ports};
use super::job::Job;
use super::passwords;
use super::relay::{self, WsmanError};
use super::request::Task;

/// The reference's names of AMT PT_STATUS return values.
pub fn pt_status_name(value: i64) -> &'static str {
    match value {
        0 => "PT_STATUS_SUCCESS",
        1 => "PT_STATUS_INTERNAL_ERROR",
        3 => "PT_STATUS_INVALID_PT_MODE",
        12 => "PT_STATUS_INVALID_NAME",
        16 => "PT_STATUS_NOT_PERMITTED",
        23 => "PT_STATUS_MAX_LIMIT_REACHED",
        24 => "PT_STATUS_INVALID_AUTH_TYPE",
        32 => "PT_STATUS_INVALID_PROVISIONING_STATE",
        34 => "PT_STATUS_INVALID_TIME",
        35 => "PT_STATUS_INVALID_INDEX",
        36 => "PT_STATUS_INVALID_PARAMETER",
        2054 => "PT_STATUS_INVALID_PASSWORD",
        2055 => "PT_STATUS_INVALID_REALM",
        2058 => "PT_STATUS_DUPLICATE",
        2066 => "PT_STATUS_UNSUPPORTED",
        2068 => "PT_STATUS_NOT_FOUND",
        2069 => "PT_STATUS_INVALID_CREDENTIALS",
        2081 => "PT_STATUS_USER_CONSENT_REQUIRED",
        _ => "UNKNOWN",
    }
}

/// `at <STEP> <detail>`, as the reference's `coalesceMessage` words a failed step.
fn at(step: &str, error: &WsmanError) -> String {
    match error {
        WsmanError::Http { status, reason, .. } => format!("at {step} {status} {reason}"),
        other => format!("at {step} {}", other.reference_text()),
    }
}

fn return_value_error(step: &str, value: Option<i64>) -> String {
    format!(
        "at {step} ReturnValue {}",
        value.map(pt_status_name).unwrap_or("UNKNOWN")
    )
}

/// Runs a maintenance job to its terminal message. Returns whether it succeeded.
pub async fn run(job: &mut Job, task: Task) -> bool {
    let password = job.request.payload.password.clone();
    job.relay.set_credentials("admin", &password);
    let result = match task {
        Task::ChangePassword => change_password(job).await,
        Task::SyncTime => sync_time(job).await,
        Task::SyncIp => sync_ip(job).await,
        Task::SyncHostName => sync_host_name(job).await,
        Task::SyncDeviceInfo => sync_device_info(job).await,
    };
    let (success, status) = match &result {
        Ok(()) => (true, format!("{} completed succesfully", task.name())),
        Err(detail) => (false, format!("{} failed {detail}", task.name())),
    };
    tracing::info!(guid = %job.guid, task = task.name(), success, "maintenance finished");
    job.status.status = Some(status);
    let text = job.status.to_json().to_string();
    let message = if success {
        super::envelope::success(&text)
    } else {
        super::envelope::error(&text)
    };
    if job.relay.send_text(message).await.is_err() {
        tracing::warn!(guid = %job.guid, "the agent left before the terminal message");
    }
    success
}

async fn general_settings(job: &mut Job) -> Result<Value, String> {
    let answer = job
        .relay
        .call(&Call::get("AMT_GeneralSettings"))
        .await
        .map_err(|e| at("GET_GENERAL_SETTINGS", &e))?;
    Ok(answer.body()["AMT_GeneralSettings"].clone())
}

async fn change_password(job: &mut Job) -> Result<(), String> {
    let settings = general_settings(job).await?;
    let realm = relay::text(&settings["DigestRealm"]).unwrap_or_default();
    if !valid_digest_realm(&realm) {
        return Err(format!(
            "at GET_GENERAL_SETTINGS invalid DigestRealm {realm}"
        ));
    }
    let password = job
        .request
        .task_arg
        .clone()
        .filter(|p| !p.is_empty())
        .unwrap_or_else(passwords::random_password);
    let answer = job
        .relay
        .call(&amt::set_admin_acl_entry_ex(
            "admin",
            &passwords::digest_password(&realm, &password),
        ))
        .await
        .map_err(|e| at("SET_ADMIN_ACL_ENTRY", &e))?;
    let value = answer.return_value("SetAdminAclEntryEx_OUTPUT");
    if value != Some(0) {
        return Err(return_value_error("SET_ADMIN_ACL_ENTRY", value));
    }
    let store = &job.ctx.store;
    let mut secrets = store
        .device_secrets(&job.uuid())
        .await
        .map(|m| {
            m.map(|m| secrets::DeviceSecrets::from_map(&m))
                .unwrap_or_default()
        })
        .map_err(|e| format!("at SAVE_TO_SECRET_PROVIDER {e}"))?;
    secrets.amt_password = Some(password.clone());
    store
        .save_device_secrets(&job.uuid(), &secrets)
        .await
        .map_err(|e| format!("at SAVE_TO_SECRET_PROVIDER {e}"))?;
    job.relay.set_credentials("admin", &password);
    // MPS holds the old password for this device's tunnel: it reloads it from the secret store.
    job.ctx
        .events
        .updated(proto::DeviceUpdated {
            guid: job.guid.to_string(),
            tenant_id: job.request.tenant_id.clone(),
            credentials_rotated: true,
            at: Some(schemas::now()),
            ..Default::default()
        })
        .await;
    Ok(())
}

/// Sends MPS the device information the agent reported (rps.md §3.11: the reference PATCHed it).
async fn sync_device_info(job: &mut Job) -> Result<(), String> {
    let payload = &job.request.payload;
    let now = schemas::now();
    let device_info = proto::DeviceInfo {
        fw_version: payload.ver.clone(),
        fw_build: payload.build.clone(),
        fw_sku: payload.sku.clone(),
        current_mode: payload.current_mode.unwrap_or_default().to_string(),
        features: payload.features.clone(),
        ip_address: payload
            .ip_configuration
            .as_ref()
            .map(|c| c.ip_address.clone())
            .unwrap_or_default(),
        last_updated: Some(now),
        ..Default::default()
    };
    job.ctx
        .events
        .updated(proto::DeviceUpdated {
            guid: job.guid.to_string(),
            tenant_id: job.request.tenant_id.clone(),
            device_info: Some(device_info),
            at: Some(now),
            ..Default::default()
        })
        .await;
    Ok(())
}

async fn sync_time(job: &mut Job) -> Result<(), String> {
    let answer = job
        .relay
        .call(&amt::get_low_accuracy_time_synch())
        .await
        .map_err(|e| at("GET_LOW_ACCURACY_TIME_SYNCH", &e))?;
    let value = answer.return_value("GetLowAccuracyTimeSynch_OUTPUT");
    if value != Some(0) {
        return Err(return_value_error("GET_LOW_ACCURACY_TIME_SYNCH", value));
    }
    let ta0 = relay::number(&answer.body()["GetLowAccuracyTimeSynch_OUTPUT"]["Ta0"]).unwrap_or(0);
    let now = || time::OffsetDateTime::now_utc().unix_timestamp().max(0) as u64;
    let tm1 = now();
    let answer = job
        .relay
        .call(&amt::set_high_accuracy_time_synch(
            ta0.max(0) as u64,
            tm1,
            now(),
        ))
        .await
        .map_err(|e| at("SET_HIGH_ACCURACY_TIME_SYNCH", &e))?;
    let value = answer.return_value("SetHighAccuracyTimeSynch_OUTPUT");
    if value != Some(0) {
        return Err(return_value_error("SET_HIGH_ACCURACY_TIME_SYNCH", value));
    }
    Ok(())
}

async fn sync_ip(job: &mut Job) -> Result<(), String> {
    let target = job
        .request
        .payload
        .ip_configuration
        .clone()
        .unwrap_or_default();
    let ports = enumerate_pull(&mut job.relay, "AMT_EthernetPortSettings")
        .await
        .map_err(|e| at("PULL_ETHERNET_PORT_SETTINGS", &e))?;
    let (wired, wifi) = split_ports(&ports);
    let Some(mut wired) = wired else {
        return Err(
            "at PUT_ETHERNET_PORT_SETTINGS Device has no wired configuration settings".into(),
        );
    };
    if wifi.is_some() && relay::text(&wired["MACAddress"]).is_none() {
        return Err("at PUT_ETHERNET_PORT_SETTINGS Not applicable for wireless only device".into());
    }
    if relay::text(&wired["IPAddress"]).as_deref() == Some(target.ip_address.as_str()) {
        return Err("at PUT_ETHERNET_PORT_SETTINGS IPAddress already synchronized".into());
    }
    if let Some(o) = wired.as_object_mut() {
        if o.get("DHCPEnabled") == Some(&Value::Bool(true)) {
            o.insert("IpSyncEnabled".into(), Value::Bool(true));
            o.insert("SharedStaticIp".into(), Value::Bool(false));
            for key in [
                "IPAddress",
                "SubnetMask",
                "DefaultGateway",
                "PrimaryDNS",
                "SecondaryDNS",
            ] {
                o.remove(key);
            }
        } else {
            o.insert("IpSyncEnabled".into(), Value::Bool(false));
            o.insert("SharedStaticIp".into(), Value::Bool(false));
            for (key, value) in [
                ("IPAddress", &target.ip_address),
                ("SubnetMask", &target.netmask),
                ("DefaultGateway", &target.gateway),
                ("PrimaryDNS", &target.primary_dns),
                ("SecondaryDNS", &target.secondary_dns),
            ] {
                if !value.is_empty() || key == "IPAddress" {
                    o.insert(key.into(), Value::String(value.clone()));
                }
            }
        }
    }
    let selectors = instance_selector(&wired);
    job.relay
        .call(&Call::put_selected(
            "AMT_EthernetPortSettings",
            &wired,
            selectors,
        ))
        .await
        .map_err(|e| at("PUT_ETHERNET_PORT_SETTINGS", &e))?;
    Ok(())
}

async fn sync_host_name(job: &mut Job) -> Result<(), String> {
    let info = job
        .request
        .payload
        .hostname_info
        .clone()
        .unwrap_or_default();
    let mut settings = general_settings(job).await?;
    if info.hostname.is_empty() {
        return Err(
            "at PUT_GENERAL_SETTINGS at put AMT_GeneralSettings host name was not provided".into(),
        );
    }
    if relay::text(&settings["HostName"]).as_deref() == Some(info.hostname.as_str()) {
        return Err(
            "at PUT_GENERAL_SETTINGS at put AMT_GeneralSettings host name already synchronized"
                .into(),
        );
    }
    if let Some(o) = settings.as_object_mut() {
        o.insert("HostName".into(), Value::String(info.hostname.clone()));
    }
    let answer = job
        .relay
        .call(&Call::put("AMT_GeneralSettings", &settings))
        .await
        .map_err(|e| at("PUT_GENERAL_SETTINGS", &e))?;
    if answer.body()["AMT_GeneralSettings"].is_null() {
        return Err("at PUT_GENERAL_SETTINGS invalid response".into());
    }
    job.ctx
        .events
        .updated(proto::DeviceUpdated {
            guid: job.guid.to_string(),
            tenant_id: job.request.tenant_id.clone(),
            hostname: Some(info.hostname.clone()),
            dns_suffix: (!info.dns_suffix_os.is_empty()).then(|| info.dns_suffix_os.clone()),
            at: Some(schemas::now()),
            ..Default::default()
        })
        .await;
    job.ctx
        .events
        .reference(
            "success",
            &["SyncHostName"],
            &format!("Host name synchronized: {}", info.hostname),
            Some(&job.guid),
        )
        .await;
    Ok(())
}
