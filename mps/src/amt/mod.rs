//! AMT operations: the WS-Man sequence each `/api/v1/amt/*` route runs over CIRA, and the JSON
//! mapping of its answer (spec §4.4).

pub mod certificates;
pub mod wifi;

use axum::http::StatusCode;
use axum::response::Response;
use serde_json::{Map, Value};

use crate::cira::DeviceConnection;
use crate::rest::errors::{NOT_IMPLEMENTED, api_error};
use crate::service::Mps;

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

/// Runs `op` against a connected device.
pub async fn run(op: Op, _mps: &Mps, conn: &DeviceConnection, req: AmtRequest) -> Response {
    // The WS-Man sequences land with the WS-Man client; until then a connected device answers
    // the reference's 501.
    tracing::info!(guid = %conn.guid, op = ?op, "AMT route not implemented yet");
    api_error(
        StatusCode::NOT_IMPLEMENTED,
        NOT_IMPLEMENTED,
        format!("{op:?} request for guid : {}", req.guid),
    )
}
