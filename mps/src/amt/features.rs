//! `GET/POST /amt/features`: redirection (SOL, IDER, KVM), user consent and one-click recovery.

use axum::Json;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use wsman::Call;

use super::{Amt, AmtRequest, Failure, num, pulled, truthy};
use crate::rest::validate::as_bool;

const OPT_IN_NONE: i64 = 0;
const OPT_IN_KVM: i64 = 1;
const OPT_IN_ALL: i64 = 4_294_967_295;

fn user_consent_name(v: i64) -> Value {
    match v {
        OPT_IN_NONE => "none".into(),
        OPT_IN_KVM => "kvm".into(),
        OPT_IN_ALL => "all".into(),
        _ => Value::Null,
    }
}

/// (SOL, IDER) from AMT_RedirectionService.EnabledState (32768 + IDER·1 + SOL·2).
fn sol_ider(state: i64) -> (bool, bool) {
    (state & 2 != 0, state & 1 != 0)
}

/// KVM is on when CIM_KVMRedirectionSAP is Enabled (2) or Enabled but Offline (6).
fn kvm_on(sap: &Value) -> bool {
    matches!(num(&sap["EnabledState"]), Some(2 | 6))
}

pub async fn get(amt: &Amt<'_>, guid: &str) -> Response {
    let run = async {
        let redir = amt.get("AMT_RedirectionService").await?;
        let optin = amt.get("IPS_OptInService").await?;
        // Devices without KVM fault on this class: that is "no KVM", not an error.
        let kvm = amt.get("CIM_KVMRedirectionSAP").await.ok();
        let boot_service = amt.get("CIM_BootService").await.ok();
        let sources = amt.enum_pull("CIM_BootSourceSetting").await.ok();
        let caps = amt.get("AMT_BootCapabilities").await.ok();
        let boot = amt.get("AMT_BootSettingData").await.ok();

        let r = &redir["Body"]["AMT_RedirectionService"];
        if r.is_null() {
            return Err(Failure::NoData);
        }
        let (sol, ider) = sol_ider(num(&r["EnabledState"]).unwrap_or(0));
        let sap = kvm
            .as_ref()
            .map(|k| &k["Body"]["CIM_KVMRedirectionSAP"])
            .filter(|s| !s.is_null());
        let o = &optin["Body"]["IPS_OptInService"];
        let null = Value::Null;
        let c = caps
            .as_ref()
            .map_or(&null, |c| &c["Body"]["AMT_BootCapabilities"]);
        let d = boot
            .as_ref()
            .map_or(&null, |b| &b["Body"]["AMT_BootSettingData"]);
        let state = boot_service
            .as_ref()
            .and_then(|b| num(&b["Body"]["CIM_BootService"]["EnabledState"]));
        let items = sources
            .as_ref()
            .map(|s| pulled(s, "CIM_BootSourceSetting"))
            .unwrap_or_default();
        let has = |prefix: &str, text: Option<&str>| {
            items.iter().any(|i| {
                i["InstanceID"]
                    .as_str()
                    .is_some_and(|id| id.starts_with(prefix))
                    && text
                        .is_none_or(|t| i["BIOSBootString"].as_str().is_some_and(|b| b.contains(t)))
            })
        };
        let https = has("Intel(r) AMT: Force OCR UEFI HTTPS Boot", None)
            && truthy(&c["ForceUEFIHTTPSBoot"])
            && truthy(&d["UEFIHTTPSBootEnabled"]);
        let winre = has("Intel(r) AMT: Force OCR UEFI Boot Option", Some("WinRe"))
            && truthy(&d["WinREBootEnabled"])
            && truthy(&c["ForceWinREBoot"]);
        let pba = has("Intel(r) AMT: Force OCR UEFI Boot Option", Some("PBA"))
            && truthy(&d["UEFILocalPBABootEnabled"])
            && truthy(&c["ForceUEFIPBABoot"]);
        let erase_caps = num(&c["PlatformErase"]).unwrap_or(0);
        Ok(json!({
            "userConsent": user_consent_name(num(&o["OptInRequired"]).unwrap_or(-1)),
            "redirection": truthy(&r["ListenerEnabled"]),
            "KVM": sap.is_some_and(kvm_on),
            "SOL": sol,
            "IDER": ider,
            "optInState": o["OptInState"],
            "kvmAvailable": sap.is_some(),
            "ocr": matches!(state, Some(32769 | 32771)),
            "httpsBootSupported": https,
            "winREBootSupported": winre,
            "localPBABootSupported": pba,
            // v2.34.1's one field for Remote Platform Erase (it always answers false there; here
            // it says whether the device supports it and has it enabled).
            "remoteErase": erase_caps != 0 && truthy(&d["PlatformErase"]),
        }))
    };
    match run.await {
        Ok(v) => Json(v).into_response(),
        Err(f) => f.respond("AMT Features", guid),
    }
}

pub async fn set(amt: &Amt<'_>, req: &AmtRequest) -> Response {
    let b = &req.body;
    let want_sol = as_bool(b.get("enableSOL"));
    let want_ider = as_bool(b.get("enableIDER"));
    let want_kvm = as_bool(b.get("enableKVM"));
    let run = async {
        let redir = amt.get("AMT_RedirectionService").await?;
        let optin = amt.get("IPS_OptInService").await?;
        let kvm = amt.get("CIM_KVMRedirectionSAP").await.ok();
        let Value::Object(mut r) = redir["Body"]["AMT_RedirectionService"].clone() else {
            return Err(Failure::NoData);
        };
        let (sol, ider) = sol_ider(num(&r["EnabledState"]).unwrap_or(0));
        let listener = truthy(&r["ListenerEnabled"]);
        let kvm_now = kvm
            .as_ref()
            .map(|k| &k["Body"]["CIM_KVMRedirectionSAP"])
            .is_some_and(kvm_on);

        let changed = want_sol != sol
            || want_ider != ider
            || ((want_sol || want_ider) && !listener)
            || want_kvm != kvm_now;
        if changed {
            let listener = want_sol || want_ider || want_kvm;
            let state = 32768 + i64::from(want_ider) + 2 * i64::from(want_sol);
            r.insert("EnabledState".into(), state.into());
            r.insert("ListenerEnabled".into(), listener.into());
            amt.call(&Call::request_state_change(
                "AMT_RedirectionService",
                state as u32,
            ))
            .await?;
            amt.call(&Call::request_state_change(
                "CIM_KVMRedirectionSAP",
                if want_kvm { 2 } else { 3 },
            ))
            .await?;
            amt.call(&Call::put("AMT_RedirectionService", &Value::Object(r)))
                .await?;
        }
        let wanted_consent = match b
            .get("userConsent")
            .and_then(Value::as_str)
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("kvm") => OPT_IN_KVM,
            Some("all") => OPT_IN_ALL,
            _ => OPT_IN_NONE,
        };
        if let Value::Object(mut o) = optin["Body"]["IPS_OptInService"].clone()
            && num(&o["OptInRequired"]) != Some(wanted_consent)
        {
            o.insert("OptInRequired".into(), wanted_consent.into());
            amt.call(&Call::put("IPS_OptInService", &Value::Object(o)))
                .await?;
        }
        if b.contains_key("ocr") {
            let state = if as_bool(b.get("ocr")) { 32769 } else { 32768 };
            amt.call(&Call::request_state_change("CIM_BootService", state))
                .await?;
        }
        Ok::<_, Failure>(())
    };
    match run.await {
        Ok(()) => Json(json!({ "status": "AMT Features updated" })).into_response(),
        Err(f) => f.respond("Set AMT Features", &req.guid),
    }
}
