//! AMT operations: the WS-Man sequence each `/api/v1/amt/*` route runs over CIRA, and the JSON
//! mapping of its answer (spec §4.4). Each operation is a plain async function of the connected
//! device, so REST and bus commands (power actions) run the same code.

pub mod certificates;
mod consent;
mod features;
mod info;
mod logs;
mod misc;
mod network;
pub mod power;
mod tables;
pub mod wifi;

use std::time::Duration;

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Map, Value};
use wsman::Call;

use crate::cira::{ChannelError, DeviceConnection};
use crate::rest::errors::{INTERNAL, TIMEOUT, api_error, not_connected};
use crate::service::Mps;
use crate::wsman_client::WsmanError;

/// Every AMT route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    AuditLog,
    EventLog,
    GeneralSettings,
    HardwareInfo,
    PowerAction,
    BootOptions,
    PowerCapabilities,
    PowerState,
    BootSources,
    GetFeatures,
    SetFeatures,
    Version,
    Deactivate,
    RequestUserConsent,
    SendUserConsent,
    CancelUserConsent,
    GetAlarms,
    AddAlarm,
    DeleteAlarm,
    GetCertificates,
    AddCertificate,
    DeleteCertificate,
    GetDisplays,
    SetDisplay,
    LinkPreference,
    NetworkSettings,
    GetWired,
    PatchWired,
    GetWirelessState,
    SetWirelessState,
    GetProfileSync,
    SetProfileSync,
    GetWirelessProfiles,
    AddWirelessProfile,
    UpdateWirelessProfile,
    DeleteWirelessProfile,
}

/// The validated inputs of one AMT route.
#[derive(Debug, Clone)]
pub struct AmtRequest {
    pub guid: String,
    pub body: Map<String, Value>,
    pub query: Map<String, Value>,
    pub instance_id: Option<String>,
    pub profile: Option<String>,
}

/// WS-Man access to one connected device for the duration of one route.
pub struct Amt<'a> {
    pub mps: &'a Mps,
    pub conn: &'a DeviceConnection,
    pub timeout: Duration,
}

/// An operation's failure, turned into the reference's error bodies by [`Failure::respond`].
#[derive(Debug)]
pub enum Failure {
    Wsman(WsmanError),
    /// AMT answered, but without the data the route needs.
    NoData,
}

impl From<WsmanError> for Failure {
    fn from(e: WsmanError) -> Self {
        Failure::Wsman(e)
    }
}

impl Failure {
    /// `what` names the request as the reference's messages do ("Power State", "Audit Log", …).
    pub fn respond(self, what: &str, guid: &str) -> Response {
        match self {
            Failure::NoData => crate::rest::errors::request_failed(what, guid),
            Failure::Wsman(WsmanError::Channel(ChannelError::TunnelClosed)) => not_connected(guid),
            Failure::Wsman(WsmanError::Timeout(d)) => {
                tracing::warn!(guid, what, timeout = ?d, "AMT request timed out");
                api_error(
                    StatusCode::GATEWAY_TIMEOUT,
                    TIMEOUT,
                    format!("{what} request timed out for guid : {guid}."),
                )
            }
            Failure::Wsman(e) => {
                tracing::error!(guid, what, error = %e, "AMT request failed");
                api_error(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    INTERNAL,
                    format!("Exception during {what} request"),
                )
            }
        }
    }
}

impl Amt<'_> {
    /// One call; the answer's `Envelope` (`{Header, Body}`).
    pub async fn call(&self, call: &Call) -> Result<Value, WsmanError> {
        let r = self.conn.wsman(call, self.timeout).await?;
        Ok(r.into_json()
            .get_mut("Envelope")
            .map(Value::take)
            .unwrap_or(Value::Null))
    }

    pub async fn get(&self, class: &str) -> Result<Value, WsmanError> {
        self.call(&Call::get(class)).await
    }

    /// Enumerate then Pull; the Pull answer's `Envelope`.
    pub async fn enum_pull(&self, class: &str) -> Result<Value, WsmanError> {
        let e = self.call(&Call::enumerate(class)).await?;
        let ctx = wsman::parse::value_text(&e["Body"]["EnumerateResponse"]["EnumerationContext"])
            .unwrap_or_default();
        self.call(&Call::pull(class, &ctx)).await
    }
}

/// A value as a list: xml2js makes a single repeated element an object, and none `null`.
pub fn as_list(v: &Value) -> Vec<Value> {
    match v {
        Value::Array(a) => a.clone(),
        Value::Null => Vec::new(),
        one => vec![one.clone()],
    }
}

/// `Body.PullResponse.Items.<class>` as a list.
pub fn pulled(env: &Value, class: &str) -> Vec<Value> {
    as_list(&env["Body"]["PullResponse"]["Items"][class])
}

/// A JSON number or numeric string as i64.
pub fn num(v: &Value) -> Option<i64> {
    match v {
        Value::Number(n) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
        Value::String(s) => s.trim().parse().ok(),
        _ => None,
    }
}

/// xml2js booleans (or "true"/"false" text).
pub fn truthy(v: &Value) -> bool {
    match v {
        Value::Bool(b) => *b,
        Value::String(s) => s.eq_ignore_ascii_case("true"),
        Value::Number(n) => n.as_i64().is_some_and(|n| n != 0),
        _ => false,
    }
}

/// Runs `op` against a connected device.
pub async fn run(op: Op, mps: &Mps, conn: &DeviceConnection, req: AmtRequest) -> Response {
    let timeout = Duration::from_secs(mps.config().wsman_timeout_secs.max(1));
    let amt = Amt { mps, conn, timeout };
    let g = req.guid.as_str();
    use Op::*;
    match op {
        PowerState => power::power_state(&amt, g).await,
        PowerAction => power::power_action_route(&amt, &req).await,
        BootOptions => power::boot_options(&amt, &req).await,
        PowerCapabilities => power::capabilities(&amt, g).await,
        BootSources => power::boot_sources(&amt, g).await,
        GetFeatures => features::get(&amt, g).await,
        SetFeatures => features::set(&amt, &req).await,
        GeneralSettings => info::general_settings(&amt, g).await,
        Version => info::version(&amt, g).await,
        HardwareInfo => info::hardware(&amt, g).await,
        AuditLog => logs::audit(&amt, &req).await,
        EventLog => logs::events(&amt, g).await,
        RequestUserConsent | SendUserConsent | CancelUserConsent => {
            consent::run(&amt, op, &req).await
        }
        Deactivate => consent::deactivate(&amt, g).await,
        GetAlarms => misc::get_alarms(&amt, g).await,
        AddAlarm => misc::add_alarm_route(&amt, &req).await,
        DeleteAlarm => misc::delete_alarm(&amt, &req).await,
        GetCertificates => certificates::get(&amt, g).await,
        AddCertificate => certificates::add(&amt, &req).await,
        DeleteCertificate => certificates::delete(&amt, &req).await,
        GetDisplays => misc::get_displays(&amt, g).await,
        SetDisplay => misc::set_display(&amt, &req).await,
        LinkPreference => network::link_preference(&amt, &req).await,
        NetworkSettings => network::get_all(&amt, g).await,
        GetWired => network::get_wired(&amt, g).await,
        PatchWired => network::patch_wired(&amt, &req).await,
        GetWirelessState => network::get_wireless_state(&amt, g).await,
        SetWirelessState => network::set_wireless_state(&amt, &req).await,
        GetProfileSync => network::get_profile_sync(&amt, g).await,
        SetProfileSync => network::set_profile_sync(&amt, &req).await,
        GetWirelessProfiles => network::get_profiles(&amt, g).await,
        AddWirelessProfile => network::add_or_update_profile(&amt, &req, false).await,
        UpdateWirelessProfile => network::add_or_update_profile(&amt, &req, true).await,
        DeleteWirelessProfile => network::delete_profile(&amt, &req).await,
    }
}
