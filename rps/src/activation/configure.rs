//! Profile configuration after activation (rps.md §3.8): clear the previous configuration, then network,
//! redirection features, and CIRA or TLS. A failing phase is recorded in the status and the next one runs, as
//! in the reference.

use serde_json::Value;
use wsman::{Call, Selector};

use super::job::Job;
use super::relay::{self, Relay, WsmanError};
use super::store::Profile;
use super::{cira, features, network, tls, unconfigure};

/// What configuration tells the caller.
#[derive(Debug, Default)]
pub struct Configured {
    /// The CIRA user name MPS must expect (empty without CIRA).
    pub mps_username: String,
}

pub async fn run(job: &mut Job, profile: &Profile, general_settings: &Value) -> Configured {
    unconfigure::run(job).await;
    network::run(job, profile, general_settings).await;
    features::run(job, profile).await;
    let mut configured = Configured::default();
    if profile.tls_mode.is_some() {
        tls::run(job, profile).await;
    }
    if let Some(name) = profile.cira_config_name.clone() {
        configured.mps_username = cira::run(job, profile, &name).await;
    }
    configured
}

/// Enumerate, then Pull until the end of the sequence; the items of `class`.
pub async fn enumerate_pull(relay: &mut Relay, class: &str) -> Result<Vec<Value>, WsmanError> {
    let enumerated = relay.call(&Call::enumerate(class)).await?;
    let mut context = relay::text(&enumerated.body()["EnumerateResponse"]["EnumerationContext"]);
    let mut items = Vec::new();
    // AMT returns everything in one Pull of 999 elements; a few more pages are followed, never forever.
    for _ in 0..16 {
        let Some(ctx) = context.take() else { break };
        let pulled = relay.call(&Call::pull(class, &ctx)).await?;
        let response = &pulled.body()["PullResponse"];
        items.extend(relay::items(&response["Items"][class]));
        if response.get("EndOfSequence").is_some() {
            break;
        }
        context = relay::text(&response["EnumerationContext"]);
    }
    Ok(items)
}

/// `{"InstanceID": <id>}` header selector of a Put on a class that wants one.
pub fn instance_selector(data: &Value) -> Vec<Selector> {
    relay::text(&data["InstanceID"])
        .map(|id| vec![Selector::new("InstanceID", id)])
        .unwrap_or_default()
}

/// The wired (`… Settings 0`) and wireless (`… Settings 1`) AMT_EthernetPortSettings.
pub fn split_ports(items: &[Value]) -> (Option<Value>, Option<Value>) {
    let mut wired = None;
    let mut wifi = None;
    for item in items.iter().take(2) {
        let id = relay::text(&item["InstanceID"]).unwrap_or_default();
        if id.contains("Settings 0") {
            wired = Some(item.clone());
        } else if id.contains("Settings 1") {
            wifi = Some(item.clone());
        }
    }
    (wired, wifi)
}

/// Whether a port has a MAC address (the port exists on this device).
pub fn has_mac(port: &Option<Value>) -> bool {
    port.as_ref()
        .and_then(|p| relay::text(&p["MACAddress"]))
        .is_some_and(|m| !m.is_empty())
}
