//! Redirection features and user consent (rps.md §3.8): SOL, IDER and KVM as the profile asks, and the
//! opt-in policy. Failures are logged; they do not change the status (the reference reports them only as
//! progress, which rpc-go never asks for).

use serde_json::Value;
use wsman::Call;

use super::job::Job;
use super::relay;
use super::store::Profile;

/// AMT_RedirectionService.EnabledState values.
const REDIRECTION_DISABLED: i64 = 32768;
const ONLY_IDER: i64 = 32769;
const ONLY_SOL: i64 = 32770;
const IDER_AND_SOL: i64 = 32771;
/// CIM_KVMRedirectionSAP states.
const KVM_ENABLED: i64 = 2;
const KVM_DISABLED: i64 = 3;
const KVM_ENABLED_BUT_OFFLINE: i64 = 6;

/// IPS_OptInService.OptInRequired for a user-consent setting.
pub fn opt_in_required(user_consent: Option<&str>) -> i64 {
    match user_consent.unwrap_or("All") {
        s if s.eq_ignore_ascii_case("none") => 0,
        s if s.eq_ignore_ascii_case("kvm") => 1,
        _ => 4_294_967_295,
    }
}

/// What must change, computed like the reference's `computeUpdates`.
#[derive(Debug, PartialEq)]
pub struct Updates {
    pub redirection: Option<(i64, bool)>,
    pub kvm_state: i64,
    pub opt_in: Option<i64>,
}

pub fn compute(profile: &Profile, redirection: &Value, kvm: &Value, opt_in: &Value) -> Updates {
    let state = relay::number(&redirection["EnabledState"]).unwrap_or(REDIRECTION_DISABLED);
    let (mut sol, mut ider) = match state {
        IDER_AND_SOL => (true, true),
        ONLY_IDER => (false, true),
        ONLY_SOL => (true, false),
        _ => (false, false),
    };
    let mut kvm_state = relay::number(&kvm["EnabledState"]).unwrap_or(KVM_DISABLED);
    let kvm_enabled = matches!(kvm_state, KVM_ENABLED | KVM_ENABLED_BUT_OFFLINE);
    let mut changed = false;
    let want_sol = profile.sol_enabled.unwrap_or(false);
    let want_ider = profile.ider_enabled.unwrap_or(false);
    let want_kvm = profile.kvm_enabled.unwrap_or(false);
    if want_sol != sol {
        sol = want_sol;
        changed = true;
    }
    if want_ider != ider {
        ider = want_ider;
        changed = true;
    }
    if (sol || ider) && redirection["ListenerEnabled"] != Value::Bool(true) {
        changed = true;
    }
    if want_kvm != kvm_enabled {
        kvm_state = if want_kvm { KVM_ENABLED } else { KVM_DISABLED };
        changed = true;
    }
    let redirection = changed.then(|| {
        let state = match (ider, sol) {
            (true, true) => IDER_AND_SOL,
            (true, false) => ONLY_IDER,
            (false, true) => ONLY_SOL,
            (false, false) => REDIRECTION_DISABLED,
        };
        // The listener serves every redirection feature the profile wants (rps.md §3.8).
        (state, sol || ider || want_kvm)
    });
    let wanted_opt_in = opt_in_required(profile.user_consent.as_deref());
    let opt_in =
        (relay::number(&opt_in["OptInRequired"]) != Some(wanted_opt_in)).then_some(wanted_opt_in);
    Updates {
        redirection,
        kvm_state,
        opt_in,
    }
}

pub async fn run(job: &mut Job, profile: &Profile) {
    if let Err(step) = configure(job, profile).await {
        tracing::warn!(guid = %job.guid, step, "AMT features configuration failed");
    }
}

async fn configure(job: &mut Job, profile: &Profile) -> Result<(), &'static str> {
    let relay = &mut job.relay;
    let redirection = relay
        .call(&Call::get("AMT_RedirectionService"))
        .await
        .map_err(|_| "Failed to get AMT redirection service")?
        .body()["AMT_RedirectionService"]
        .clone();
    let opt_in = relay
        .call(&Call::get("IPS_OptInService"))
        .await
        .map_err(|_| "Failed to get ips opt in service")?
        .body()["IPS_OptInService"]
        .clone();
    let kvm = relay
        .call(&Call::get("CIM_KVMRedirectionSAP"))
        .await
        .map_err(|_| "Failed to get cim kvm redirection sap")?
        .body()["CIM_KVMRedirectionSAP"]
        .clone();
    let updates = compute(profile, &redirection, &kvm, &opt_in);
    if let Some((state, listener)) = updates.redirection {
        relay
            .call(&Call::request_state_change(
                "AMT_RedirectionService",
                state as u32,
            ))
            .await
            .map_err(|_| "Failed to set redirection service")?;
        relay
            .call(&Call::request_state_change(
                "CIM_KVMRedirectionSAP",
                updates.kvm_state as u32,
            ))
            .await
            .map_err(|_| "Failed to set kvm redirection sap")?;
        let mut service = redirection.clone();
        if let Some(o) = service.as_object_mut() {
            o.remove("AccessLog");
            o.insert("EnabledState".into(), Value::from(state));
            o.insert("ListenerEnabled".into(), Value::Bool(listener));
        }
        relay
            .call(&Call::put("AMT_RedirectionService", &service))
            .await
            .map_err(|_| "Failed to put redirection service")?;
    }
    if let Some(required) = updates.opt_in {
        let mut service = opt_in.clone();
        if let Some(o) = service.as_object_mut() {
            o.insert("OptInRequired".into(), Value::from(required));
        }
        relay
            .call(&Call::put("IPS_OptInService", &service))
            .await
            .map_err(|_| "Failed to put ips opt in service")?;
    }
    Ok(())
}
