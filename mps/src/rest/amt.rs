//! `/api/v1/amt/*`: AMT routes over CIRA (spec §4.4). Each route validates its input first (a bad
//! body is a 400 even for a disconnected device), then looks the device up among this instance's
//! tunnels (404 "Device not found/connected…" otherwise), then runs its WS-Man sequence.

use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use serde_json::{Map, Value};

use super::errors::{UNAUTHORIZED, api_error, not_connected};
use super::validate::{self as v, Checks, INVALID, Loc};
use super::{JsonBody, query_map};
use crate::amt::{AmtRequest, Op};
use crate::service::Mps;

pub fn routes() -> Router<Mps> {
    use Op::*;
    Router::new()
        .route("/api/v1/amt/log/audit/{guid}", get(h(AuditLog)))
        .route("/api/v1/amt/log/event/{guid}", get(h(EventLog)))
        .route(
            "/api/v1/amt/generalsettings/{guid}",
            get(h(GeneralSettings)),
        )
        .route("/api/v1/amt/hardwareinfo/{guid}", get(h(HardwareInfo)))
        .route("/api/v1/amt/power/action/{guid}", post(h(PowerAction)))
        .route("/api/v1/amt/power/bootoptions/{guid}", post(h(BootOptions)))
        .route(
            "/api/v1/amt/power/capabilities/{guid}",
            get(h(PowerCapabilities)),
        )
        .route("/api/v1/amt/power/state/{guid}", get(h(PowerState)))
        .route("/api/v1/amt/power/bootsources/{guid}", get(h(BootSources)))
        .route(
            "/api/v1/amt/features/{guid}",
            get(h(GetFeatures)).post(h(SetFeatures)),
        )
        .route("/api/v1/amt/version/{guid}", get(h(Version)))
        .route("/api/v1/amt/deactivate/{guid}", delete(h(Deactivate)))
        .route(
            "/api/v1/amt/userconsentcode/cancel/{guid}",
            get(h(CancelUserConsent)),
        )
        .route(
            "/api/v1/amt/userconsentcode/{guid}",
            get(h(RequestUserConsent)).post(h(SendUserConsent)),
        )
        .route(
            "/api/v1/amt/alarmoccurrences/{guid}",
            get(h(GetAlarms)).post(h(AddAlarm)).delete(h(DeleteAlarm)),
        )
        .route(
            "/api/v1/amt/certificates/{guid}",
            get(h(GetCertificates)).post(h(AddCertificate)),
        )
        .route(
            "/api/v1/amt/certificates/{guid}/{instance_id}",
            delete(h(DeleteCertificate)),
        )
        .route(
            "/api/v1/amt/kvm/displays/{guid}",
            get(h(GetDisplays)).put(h(SetDisplay)),
        )
        .route(
            "/api/v1/amt/network/linkpreference/{guid}",
            post(h(LinkPreference)),
        )
        .route(
            "/api/v1/amt/networksettings/{guid}",
            get(h(NetworkSettings)),
        )
        .route(
            "/api/v1/amt/networksettings/wired/{guid}",
            get(h(GetWired)).patch(h(PatchWired)),
        )
        .route(
            "/api/v1/amt/networksettings/wireless/state/{guid}",
            get(h(GetWirelessState)).post(h(SetWirelessState)),
        )
        .route(
            "/api/v1/amt/networksettings/wireless/profilesync/{guid}",
            get(h(GetProfileSync)).post(h(SetProfileSync)),
        )
        .route(
            "/api/v1/amt/networksettings/wireless/profile/{guid}",
            get(h(GetWirelessProfiles))
                .post(h(AddWirelessProfile))
                .patch(h(UpdateWirelessProfile)),
        )
        .route(
            "/api/v1/amt/networksettings/wireless/profile/{guid}/{profile}",
            delete(h(DeleteWirelessProfile)),
        )
}

type Params = Path<Vec<(String, String)>>;
type QueryPairs = Query<Vec<(String, String)>>;

/// A handler bound to one operation.
fn h(
    op: Op,
) -> impl Fn(
    State<Mps>,
    Params,
    QueryPairs,
    JsonBody,
) -> std::pin::Pin<Box<dyn Future<Output = Response> + Send>>
+ Clone
+ Send
+ Sync
+ 'static {
    move |State(mps), Path(params), Query(q), JsonBody(body)| {
        Box::pin(handle(op, mps, params, query_map(q), body))
    }
}

async fn handle(
    op: Op,
    mps: Mps,
    params: Vec<(String, String)>,
    query: Map<String, Value>,
    body: Map<String, Value>,
) -> Response {
    let param = |k: &str| params.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
    let guid = param("guid").unwrap_or_default();
    if let Err(r) = validate(op, &body, &query, &params) {
        return r.into_response();
    }
    let Some(conn) = mps.connections().get(&guid) else {
        tracing::debug!(guid, op = ?op, "AMT route for a device not connected here");
        return not_connected(&guid);
    };
    if !super::devices::REQUEST_TENANT.is_empty()
        && conn.tenant_id != super::devices::REQUEST_TENANT
    {
        return api_error(StatusCode::UNAUTHORIZED, UNAUTHORIZED, UNAUTHORIZED);
    }
    let req = AmtRequest {
        guid,
        body,
        query,
        instance_id: param("instance_id"),
        profile: param("profile"),
    };
    crate::amt::run(op, &mps, &conn, req).await
}

pub(crate) const DMTF_POWER_STATES: &[i64] = &[2, 3, 4, 5, 6, 7, 8, 10, 11, 12, 13, 14, 15, 16, 17];
pub(crate) const EXTENDED_POWER_STATES: &[i64] = &[
    100, 101, 104, 105, 106, 107, 108, 109, 110, 200, 201, 202, 203, 300, 301, 400, 401, 500, 501,
];

/// The reference's validators per route (spec §4.4), in its order and with its messages.
fn validate(
    op: Op,
    body: &Map<String, Value>,
    query: &Map<String, Value>,
    params: &[(String, String)],
) -> Result<(), v::Rejected> {
    use Op::*;
    let mut c = Checks::new();
    let b = |k: &str| body.get(k);
    match op {
        AuditLog => {
            let s = query.get("startIndex");
            if s.is_some() {
                c.check(
                    v::int_in(s, Some(0), None),
                    Loc::Query,
                    "startIndex",
                    s,
                    INVALID,
                );
            }
        }
        PowerAction => {
            let all: Vec<i64> = DMTF_POWER_STATES
                .iter()
                .chain(EXTENDED_POWER_STATES)
                .copied()
                .collect();
            c.check(
                v::in_numbers(b("action"), &all),
                Loc::Body,
                "action",
                b("action"),
                INVALID,
            );
            c.check(
                v::is_numeric(b("action")),
                Loc::Body,
                "action",
                b("action"),
                INVALID,
            );
        }
        BootOptions => {
            c.check(
                v::in_numbers(b("action"), EXTENDED_POWER_STATES),
                Loc::Body,
                "action",
                b("action"),
                INVALID,
            );
            c.check(
                v::is_numeric(b("action")),
                Loc::Body,
                "action",
                b("action"),
                INVALID,
            );
            c.check(
                v::is_boolean_loose(b("useSOL")),
                Loc::Body,
                "useSOL",
                b("useSOL"),
                INVALID,
            );
            let details = b("bootDetails").and_then(Value::as_object);
            for k in ["url", "username", "password", "bootPath"] {
                if let Some(x) = details.and_then(|d| d.get(k)) {
                    let path = format!("bootDetails.{k}");
                    c.check(
                        x.is_string(),
                        Loc::Body,
                        &path,
                        if k == "password" { None } else { Some(x) },
                        INVALID,
                    );
                }
            }
            if let Some(x) = details.and_then(|d| d.get("enforceSecureBoot")) {
                c.check(
                    v::is_boolean_loose(Some(x)),
                    Loc::Body,
                    "bootDetails.enforceSecureBoot",
                    Some(x),
                    INVALID,
                );
            }
        }
        SetFeatures => {
            let uc = b("userConsent");
            c.check(
                matches!(uc.and_then(Value::as_str), Some("kvm" | "all" | "none")),
                Loc::Body,
                "userConsent",
                uc,
                INVALID,
            );
            c.check(
                uc.is_some_and(Value::is_string),
                Loc::Body,
                "userConsent",
                uc,
                INVALID,
            );
            for k in ["enableSOL", "enableIDER", "enableKVM"] {
                c.check(v::is_boolean_loose(b(k)), Loc::Body, k, b(k), INVALID);
            }
            for k in ["ocr", "enablePlatformErase"] {
                if b(k).is_some() {
                    c.check(v::is_boolean_loose(b(k)), Loc::Body, k, b(k), INVALID);
                }
            }
        }
        SendUserConsent => {
            let code = b("consentCode");
            c.check(code.is_some(), Loc::Body, "consentCode", code, INVALID);
            c.check(v::is_numeric(code), Loc::Body, "consentCode", code, INVALID);
        }
        AddCertificate => {
            let cert = b("cert");
            let text = v::js_string(cert);
            c.check(
                !text.is_empty(),
                Loc::Body,
                "cert",
                cert,
                "Certificate is required",
            );
            if let Err(msg) = crate::amt::certificates::check_certificate(&text) {
                c.fail(Loc::Body, "cert", cert, msg);
            }
            let t = b("isTrusted");
            c.check(
                v::is_boolean_loose(t),
                Loc::Body,
                "isTrusted",
                t,
                "isTrusted must be a boolean value",
            );
        }
        DeleteCertificate => {
            let has_id = params
                .iter()
                .any(|(k, v)| k == "instance_id" && !v.is_empty());
            let has_handle = b("handle")
                .and_then(Value::as_str)
                .is_some_and(|h| !h.is_empty());
            if let Some(hd) = b("handle") {
                c.check(
                    hd.is_string(),
                    Loc::Body,
                    "handle",
                    Some(hd),
                    "handle must be a string",
                );
            }
            c.check(
                has_id || has_handle,
                Loc::Body,
                "instanceId",
                None,
                "At least one of instanceId or handle must be provided",
            );
        }
        SetDisplay => {
            let d = b("displayIndex");
            c.check(
                v::int_in(d, Some(0), None),
                Loc::Body,
                "displayIndex",
                d,
                INVALID,
            );
        }
        LinkPreference => {
            let lp = b("linkPreference");
            c.check(
                v::int_in(lp, Some(1), Some(2)),
                Loc::Body,
                "linkPreference",
                lp,
                "linkPreference must be 1 (ME) or 2 (HOST)",
            );
            let t = b("timeout");
            c.check(
                v::int_in(t, Some(0), None),
                Loc::Body,
                "timeout",
                t,
                "timeout must be a non-negative integer",
            );
        }
        PatchWired => {
            let d = b("dhcpEnabled");
            c.check(
                v::is_boolean_loose(d),
                Loc::Body,
                "dhcpEnabled",
                d,
                "dhcpEnabled must be a boolean",
            );
            if let Some(x) = b("ipSyncEnabled") {
                c.check(
                    v::is_boolean_loose(Some(x)),
                    Loc::Body,
                    "ipSyncEnabled",
                    Some(x),
                    "ipSyncEnabled must be a boolean",
                );
            }
            for k in [
                "ipAddress",
                "subnetMask",
                "defaultGateway",
                "primaryDNS",
                "secondaryDNS",
            ] {
                let x = b(k);
                let falsy = matches!(x, None | Some(Value::Null) | Some(Value::Bool(false)))
                    || x.is_some_and(|x| x.as_str() == Some("") || x.as_i64() == Some(0));
                if !falsy {
                    c.check(
                        v::is_ipv4(&v::js_string(x)),
                        Loc::Body,
                        k,
                        x,
                        &format!("{k} must be a valid IPv4 address"),
                    );
                }
            }
        }
        SetWirelessState => {
            let s = b("state");
            if s.is_none() {
                c.fail(Loc::Body, "state", None, "state is required");
            } else {
                c.check(
                    matches!(
                        s.and_then(Value::as_str),
                        Some("WifiDisabled" | "WifiEnabledS0" | "WifiEnabledS0SxAC")
                    ),
                    Loc::Body,
                    "state",
                    s,
                    "state must be one of WifiDisabled, WifiEnabledS0, WifiEnabledS0SxAC",
                );
            }
        }
        SetProfileSync => {
            for k in ["localProfileSync", "uefiProfileSync"] {
                if let Some(x) = b(k).filter(|x| !x.is_null()) {
                    c.check(
                        x.is_boolean(),
                        Loc::Body,
                        k,
                        Some(x),
                        &format!("{k} must be a boolean"),
                    );
                }
            }
        }
        AddWirelessProfile | UpdateWirelessProfile => {
            crate::amt::wifi::validate_profile(body, &mut c)
        }
        _ => {}
    }
    c.finish()
}
