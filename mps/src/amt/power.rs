//! Power state, power actions, boot options, power capabilities and boot sources.

use axum::Json;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use wsman::Call;
use wsman::messages::{cim, ips};

use super::tables::amt_status;
use super::{Amt, AmtRequest, Failure, num, pulled, truthy};
use crate::rest::validate::{as_bool, as_i64};

/// DMTF power states AMT's RequestPowerStateChange accepts.
const DMTF_POWER_STATES: &[i64] = &[2, 3, 4, 5, 6, 7, 8, 10, 11, 12, 13, 14, 15, 16, 17];
const OS_TO_FULL_POWER: i64 = 500;
const OS_TO_POWER_SAVING: i64 = 501;

/// OS power saving state: 0 unknown, 1 unsupported, 2 full power, 3 power saving.
async fn os_power_saving_state(amt: &Amt<'_>) -> i64 {
    match amt.get("IPS_PowerManagementService").await {
        Ok(env) => {
            num(&env["Body"]["IPS_PowerManagementService"]["OSPowerSavingState"]).unwrap_or(0)
        }
        Err(e) => {
            tracing::info!(guid = %amt.conn.guid, error = %e, "OS power saving state unavailable");
            0
        }
    }
}

/// The CIM power state of the device.
pub async fn read_power_state(amt: &Amt<'_>) -> Result<i64, Failure> {
    let env = amt.enum_pull("CIM_ServiceAvailableToElement").await?;
    pulled(&env, "CIM_AssociatedPowerManagementService")
        .iter()
        .find_map(|i| num(&i["PowerState"]))
        .ok_or(Failure::NoData)
}

pub async fn power_state(amt: &Amt<'_>, guid: &str) -> Response {
    let os = os_power_saving_state(amt).await;
    match read_power_state(amt).await {
        Ok(p) => Json(json!({ "powerstate": p, "OSPowerSavingState": os })).into_response(),
        Err(f) => f.respond("Power State", guid),
    }
}

/// AMT_BootSettingData with every one-shot boot flag cleared, as the reference sends it before a
/// power action.
fn cleared_boot_data(
    mut data: Map<String, Value>,
    action: i64,
    use_sol: bool,
    for_boot: bool,
) -> Map<String, Value> {
    let set = |m: &mut Map<String, Value>, k: &str, v: Value| {
        m.insert(k.to_string(), v);
    };
    set(&mut data, "BIOSPause", false.into());
    set(&mut data, "BIOSSetup", (for_boot && action < 104).into());
    set(&mut data, "BootMediaIndex", 0.into());
    set(&mut data, "ConfigurationDataReset", false.into());
    set(&mut data, "FirmwareVerbosity", 0.into());
    set(&mut data, "ForcedProgressEvents", false.into());
    set(
        &mut data,
        "IDERBootDevice",
        i64::from(for_boot && (action == 202 || action == 203)).into(),
    );
    set(&mut data, "LockKeyboard", false.into());
    set(&mut data, "LockPowerButton", false.into());
    set(&mut data, "LockResetButton", false.into());
    set(&mut data, "LockSleepButton", false.into());
    set(&mut data, "ReflashBIOS", false.into());
    set(
        &mut data,
        "UseIDER",
        (for_boot && action > 199 && action < 300).into(),
    );
    set(&mut data, "UseSOL", use_sol.into());
    set(&mut data, "UseSafeMode", false.into());
    set(&mut data, "UserPasswordBypass", false.into());
    set(&mut data, "SecureErase", false.into());
    data
}

async fn put_boot_data(
    amt: &Amt<'_>,
    action: i64,
    use_sol: bool,
    for_boot: bool,
) -> Result<(), Failure> {
    let env = amt.get("AMT_BootSettingData").await?;
    let Value::Object(current) = env["Body"]["AMT_BootSettingData"].clone() else {
        return Err(Failure::NoData);
    };
    let data = Value::Object(cleared_boot_data(current, action, use_sol, for_boot));
    amt.call(&Call::put("AMT_BootSettingData", &data)).await?;
    Ok(())
}

/// `{"Header":…, "Body":{ReturnValue, ReturnValueStr}}` from a RequestPowerStateChange answer.
fn power_change_body(mut env: Value) -> Value {
    let mut out = env["Body"]["RequestPowerStateChange_OUTPUT"].take();
    let rv = num(&out["ReturnValue"]).unwrap_or(-1);
    if let Value::Object(m) = &mut out {
        m.insert("ReturnValueStr".into(), amt_status(rv).into());
    }
    json!({ "Header": env["Header"].take(), "Body": out })
}

async fn os_power_change(amt: &Amt<'_>, action: i64) -> Result<Value, Failure> {
    let target = if action == OS_TO_FULL_POWER { 2 } else { 3 };
    let respond = |rv: i64, s: &str| json!({ "Body": { "ReturnValue": rv, "ReturnValueStr": s } });
    match os_power_saving_state(amt).await {
        0 => return Ok(respond(1, "OS_POWER_STATE_UNKNOWN")),
        1 => return Ok(respond(2, "OS_POWER_STATE_UNSUPPORTED")),
        s if s == target => return Ok(respond(0, super::tables::os_power_status(0))),
        _ => {}
    }
    let env = amt
        .call(&ips::request_os_power_saving_state_change(target as u32))
        .await?;
    let rv =
        num(&env["Body"]["RequestOSPowerSavingStateChange_OUTPUT"]["ReturnValue"]).unwrap_or(-1);
    Ok(respond(rv, super::tables::os_power_status(rv)))
}

/// Runs a power action (REST `POST /power/action`, and bus power commands). Returns the
/// reference's response body.
pub async fn power_action(amt: &Amt<'_>, action: i64) -> Result<Value, Failure> {
    put_boot_data(amt, action, false, false).await?;
    if action == OS_TO_FULL_POWER || action == OS_TO_POWER_SAVING {
        return os_power_change(amt, action).await;
    }
    if action == 2 && os_power_saving_state(amt).await == 3 {
        // Wake the OS to full power first, as the reference does before a power-up.
        if let Err(e) = amt
            .call(&ips::request_os_power_saving_state_change(2))
            .await
        {
            tracing::warn!(guid = %amt.conn.guid, error = %e, "OS power saving change before power up failed");
        }
    }
    if !DMTF_POWER_STATES.contains(&action) {
        let rv = 0x24;
        return Ok(
            json!({ "Body": { "RequestPowerStateChange_OUTPUT": { "ReturnValue": rv, "ReturnValueStr": amt_status(rv) } } }),
        );
    }
    let env = amt
        .call(&cim::request_power_state_change(action as u32))
        .await?;
    Ok(power_change_body(env))
}

pub async fn power_action_route(amt: &Amt<'_>, req: &AmtRequest) -> Response {
    let action = as_i64(req.body.get("action")).unwrap_or(0);
    match power_action(amt, action).await {
        Ok(v) => Json(v).into_response(),
        Err(f) => f.respond("Power Action", &req.guid),
    }
}

/// The power state a boot option ends with: reset for the "Reset to …" actions, else power up.
fn boot_power_action(action: i64) -> u32 {
    if matches!(action, 101 | 105 | 107 | 109 | 200 | 202 | 301 | 400) {
        10
    } else {
        2
    }
}

pub async fn boot_options(amt: &Amt<'_>, req: &AmtRequest) -> Response {
    let action = as_i64(req.body.get("action")).unwrap_or(0);
    let use_sol = as_bool(req.body.get("useSOL"));
    let run = async {
        put_boot_data(amt, action, use_sol, true).await?;
        amt.call(&cim::set_boot_config_role(
            "Intel(r) AMT: Boot Configuration 0",
            1,
        ))
        .await?;
        let source = matches!(action, 400 | 401).then_some("Intel(r) AMT: Force PXE Boot");
        amt.call(&cim::change_boot_order(source)).await?;
        let env = amt
            .call(&cim::request_power_state_change(boot_power_action(action)))
            .await?;
        Ok::<_, Failure>(power_change_body(env))
    };
    match run.await {
        Ok(v) => Json(v).into_response(),
        Err(f) => f.respond("Boot Setting", &req.guid),
    }
}

/// The AMT major version from CIM_SoftwareIdentity (InstanceID "AMT").
pub(crate) fn amt_major(identities: &[Value]) -> Option<i64> {
    identities
        .iter()
        .find(|i| i["InstanceID"].as_str() == Some("AMT"))
        .and_then(|i| {
            let v = wsman::parse::value_text(&i["VersionString"])?;
            v.split('.').next()?.parse().ok()
        })
}

pub async fn capabilities(amt: &Amt<'_>, guid: &str) -> Response {
    let run = async {
        let ids = amt.enum_pull("CIM_SoftwareIdentity").await?;
        let major = amt_major(&pulled(&ids, "CIM_SoftwareIdentity")).unwrap_or(0);
        let caps = amt.get("AMT_BootCapabilities").await?;
        let c = &caps["Body"]["AMT_BootCapabilities"];
        let mut m = Map::new();
        let mut add = |k: &str, v: i64| {
            m.insert(k.to_string(), v.into());
        };
        add("Power up", 2);
        add("Power cycle", 5);
        add("Power down", 8);
        add("Reset", 10);
        if major > 9 {
            add("Soft-off", 12);
            add("Soft-reset", 14);
            add("Sleep", 4);
            add("Hibernate", 7);
        }
        if truthy(&c["BIOSSetup"]) {
            add("Power up to BIOS", 100);
            add("Reset to BIOS", 101);
        }
        if truthy(&c["SecureErase"]) {
            add("Reset to Secure Erase", 104);
        }
        add("Reset to IDE-R Floppy", 200);
        add("Power on to IDE-R Floppy", 201);
        add("Reset to IDE-R CDROM", 202);
        add("Power on to IDE-R CDROM", 203);
        if truthy(&c["ForceDiagnosticBoot"]) {
            add("Power on to diagnostic", 300);
            add("Reset to diagnostic", 301);
        }
        add("Reset to PXE", 400);
        add("Power on to PXE", 401);
        Ok::<_, Failure>(Value::Object(m))
    };
    match run.await {
        Ok(v) => Json(v).into_response(),
        Err(f) => f.respond("Power Capabilities", guid),
    }
}

pub async fn boot_sources(amt: &Amt<'_>, guid: &str) -> Response {
    match amt.enum_pull("CIM_BootSourceSetting").await {
        Ok(env) => {
            let list: Vec<Value> = pulled(&env, "CIM_BootSourceSetting")
                .iter()
                .map(|s| {
                    json!({
                        "biosBootString": s["BIOSBootString"],
                        "bootString": s["BootString"],
                        "elementName": s["ElementName"],
                        "failThroughSupported": s["FailThroughSupported"],
                        "instanceID": s["InstanceID"],
                        "structuredBiosBootString": s["StructuredBIOSBootString"],
                    })
                })
                .collect();
            Json(list).into_response()
        }
        Err(e) => {
            tracing::error!(guid, error = %e, "boot sources request failed");
            (
                axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                Json(json!({ "error": "Failed to get boot source settings", "details": e.to_string() })),
            )
                .into_response()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn boot_flags_follow_the_action() {
        let m = cleared_boot_data(Map::new(), 202, true, true);
        assert_eq!(m["UseIDER"], true);
        assert_eq!(m["IDERBootDevice"], 1);
        assert_eq!(m["BIOSSetup"], false);
        assert_eq!(m["UseSOL"], true);
        let m = cleared_boot_data(Map::new(), 100, false, true);
        assert_eq!(m["BIOSSetup"], true);
        let m = cleared_boot_data(Map::new(), 8, false, false);
        assert_eq!(m["BIOSSetup"], false);
        assert_eq!(boot_power_action(400), 10);
        assert_eq!(boot_power_action(401), 2);
    }
}
