//! User consent (IPS_OptInService) and deactivation (Unprovision).

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use wsman::messages::{amt as amt_msgs, ips};

use super::tables::amt_status;
use super::{Amt, AmtRequest, Failure, Op, num};
use crate::rest::validate::as_i64;

pub async fn run(amt: &Amt<'_>, op: Op, req: &AmtRequest) -> Response {
    let (call, output, what) = match op {
        Op::RequestUserConsent => (
            ips::start_opt_in(),
            "StartOptIn_OUTPUT",
            "Request User Consent Code",
        ),
        Op::CancelUserConsent => (
            ips::cancel_opt_in(),
            "CancelOptIn_OUTPUT",
            "Cancel User Consent Code",
        ),
        _ => {
            let code = as_i64(req.body.get("consentCode")).unwrap_or(0).max(0) as u32;
            (
                ips::send_opt_in_code(code),
                "SendOptInCode_OUTPUT",
                "Send User Consent Code",
            )
        }
    };
    let r = async {
        let mut env = amt.call(&call).await?;
        let mut out = env["Body"][output].take();
        let rv = num(&out["ReturnValue"]).ok_or(Failure::NoData)?;
        if let Value::Object(m) = &mut out {
            m.insert("ReturnValueStr".into(), amt_status(rv).into());
        }
        Ok::<_, Failure>((rv, json!({ "Header": env["Header"].take(), "Body": out })))
    };
    match r.await {
        Ok((0, v)) => Json(v).into_response(),
        Ok((_, v)) => (StatusCode::BAD_REQUEST, Json(v)).into_response(),
        Err(f) => f.respond(what, &req.guid),
    }
}

/// Unprovisions the device; on success its registry row and secrets go too.
pub async fn deactivate(amt: &Amt<'_>, guid: &str) -> Response {
    let r = async {
        let env = amt.call(&amt_msgs::unprovision(1)).await?;
        num(&env["Body"]["Unprovision_OUTPUT"]["ReturnValue"]).ok_or(Failure::NoData)
    };
    match r.await {
        Ok(0) => {
            let tenant = amt.conn.tenant_id.clone();
            if let Err(e) = amt.mps.remove_device(guid, &tenant, true).await {
                tracing::error!(guid, error = %e, "removing the deactivated device failed");
            }
            Json(json!({ "status": "SUCCESS" })).into_response()
        }
        Ok(rv) => {
            Json(json!({ "ReturnValue": rv, "ReturnValueStr": amt_status(rv) })).into_response()
        }
        Err(f) => f.respond("Deactivate", guid),
    }
}
