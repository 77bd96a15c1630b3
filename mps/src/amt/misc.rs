//! Alarm clock occurrences and KVM displays.

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};
use wsman::messages::amt::{AlarmTemplate, add_alarm};
use wsman::{Call, Selector};

use super::{Amt, AmtRequest, Failure, as_list, num, pulled, truthy};
use crate::rest::errors::api_error;
use crate::rest::validate::{as_bool, as_i64};

/// Minutes of an xs:duration such as `P1DT2H30M` (only D, H, M, S are used by AMT).
fn duration_minutes(d: &str) -> Option<i64> {
    let rest = d.strip_prefix('P')?;
    let (mut minutes, mut num_buf, mut in_time) = (0i64, String::new(), false);
    for c in rest.chars() {
        match c {
            'T' => in_time = true,
            '0'..='9' => num_buf.push(c),
            _ => {
                let n: i64 = num_buf.parse().ok()?;
                num_buf.clear();
                minutes += match (c, in_time) {
                    ('D', false) => n * 1440,
                    ('H', true) => n * 60,
                    ('M', true) => n,
                    ('S', true) => n / 60,
                    _ => return None,
                };
            }
        }
    }
    Some(minutes)
}

pub async fn get_alarms(amt: &Amt<'_>, guid: &str) -> Response {
    match amt.enum_pull("IPS_AlarmClockOccurrence").await {
        Ok(env) => {
            let list: Vec<Value> = pulled(&env, "IPS_AlarmClockOccurrence")
                .into_iter()
                .map(|mut a| {
                    let minutes = a["Interval"]["Interval"]
                        .as_str()
                        .and_then(duration_minutes)
                        .unwrap_or(0);
                    if let Value::Object(m) = &mut a {
                        // The reference's field name, typo included.
                        m.insert("InternalInMinutes".into(), minutes.into());
                    }
                    a
                })
                .collect();
            Json(list).into_response()
        }
        Err(e) => Failure::from(e).respond("Alarm Occurrences", guid),
    }
}

pub async fn add_alarm_route(amt: &Amt<'_>, req: &AmtRequest) -> Response {
    let b = &req.body;
    let start = b.get("StartTime").and_then(Value::as_str).and_then(|s| {
        time::OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339).ok()
    });
    let Some(start_time) = start else {
        return api_error(
            StatusCode::BAD_REQUEST,
            crate::rest::errors::BAD_REQUEST,
            format!(
                "Alarm add request invalid parameters for guid : {}.",
                req.guid
            ),
        );
    };
    let name = b
        .get("ElementName")
        .and_then(Value::as_str)
        .unwrap_or("Alarm")
        .to_string();
    let instance_id = b
        .get("InstanceID")
        .and_then(Value::as_str)
        .map_or_else(|| name.clone(), str::to_string);
    let alarm = AlarmTemplate {
        instance_id,
        element_name: Some(name),
        start_time,
        interval_minutes: as_i64(b.get("Interval"))
            .filter(|m| *m > 0)
            .map(|m| m as u64),
        delete_on_completion: b.get("DeleteOnCompletion").is_none_or(|v| as_bool(Some(v))),
    };
    match amt.call(&add_alarm(&alarm)).await {
        Ok(env) => {
            let rv = num(&env["Body"]["AddAlarm_OUTPUT"]["ReturnValue"]).unwrap_or(-1);
            match rv {
                0 => Json(json!({ "status": "SUCCESS", "ReturnValue": 0 })).into_response(),
                1 => api_error(
                    StatusCode::BAD_REQUEST,
                    crate::rest::errors::BAD_REQUEST,
                    format!("Alarm add request quota exceeded for guid : {}.", req.guid),
                ),
                _ => api_error(
                    StatusCode::BAD_REQUEST,
                    crate::rest::errors::BAD_REQUEST,
                    format!(
                        "Alarm add request invalid parameters for guid : {}.",
                        req.guid
                    ),
                ),
            }
        }
        Err(e) => Failure::from(e).respond("Alarm Add", &req.guid),
    }
}

pub async fn delete_alarm(amt: &Amt<'_>, req: &AmtRequest) -> Response {
    let name = req
        .body
        .get("Name")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let call = Call::delete(
        "IPS_AlarmClockOccurrence",
        vec![Selector::new("InstanceID", name)],
    );
    match amt.call(&call).await {
        Ok(_) => Json(json!({ "status": "SUCCESS" })).into_response(),
        Err(e) if e.fault().is_some() => api_error(
            StatusCode::NOT_FOUND,
            "Alarm instance not found",
            format!(
                "Alarm occurrence delete request failed for guid : {}.",
                req.guid
            ),
        ),
        Err(e) => Failure::from(e).respond("Alarm Occurrence Delete", &req.guid),
    }
}

/// The reference's KVM screen mapping: one display per index of the per-display arrays.
fn displays(items: &[Value], default_screen: Option<i64>) -> Vec<Value> {
    let mut out = Vec::new();
    for it in items {
        let role_of = |k: &str| num(&it[k]).unwrap_or(-1);
        let roles = [
            (role_of("PrimaryIndex"), "primary"),
            (role_of("SecondaryIndex"), "secondary"),
            (role_of("TertiaryIndex"), "tertiary"),
            (role_of("QuadraryIndex"), "quaternary"),
        ];
        let arr = |k: &str| as_list(&it[k]);
        let (active, ulx, uly, rx, ry) = (
            arr("IsActive"),
            arr("UpperLeftX"),
            arr("UpperLeftY"),
            arr("ResolutionX"),
            arr("ResolutionY"),
        );
        let max = [active.len(), ulx.len(), uly.len(), rx.len(), ry.len()]
            .into_iter()
            .max()
            .unwrap_or(0);
        for i in 0..max {
            let int = |a: &[Value]| a.get(i).and_then(num).unwrap_or(0);
            let mut d = Map::new();
            d.insert("displayIndex".into(), i.into());
            d.insert("isActive".into(), active.get(i).is_some_and(truthy).into());
            d.insert("upperLeftX".into(), int(&ulx).into());
            d.insert("upperLeftY".into(), int(&uly).into());
            d.insert("resolutionX".into(), int(&rx).into());
            d.insert("resolutionY".into(), int(&ry).into());
            if let Some((_, role)) = roles.iter().find(|(idx, _)| *idx == i as i64) {
                d.insert("role".into(), (*role).into());
            }
            d.insert(
                "isDefault".into(),
                (default_screen == Some(i as i64)).into(),
            );
            out.push(Value::Object(d));
        }
    }
    out
}

pub async fn get_displays(amt: &Amt<'_>, guid: &str) -> Response {
    let run = async {
        let screens = amt.enum_pull("IPS_ScreenSettingData").await?;
        let kvm = amt.get("IPS_KVMRedirectionSettingData").await?;
        let default = num(&kvm["Body"]["IPS_KVMRedirectionSettingData"]["DefaultScreen"]);
        Ok::<_, Failure>(
            json!({ "displays": displays(&pulled(&screens, "IPS_ScreenSettingData"), default) }),
        )
    };
    match run.await {
        Ok(v) => Json(v).into_response(),
        Err(f) => f.respond("KVM Displays", guid),
    }
}

pub async fn set_display(amt: &Amt<'_>, req: &AmtRequest) -> Response {
    let index = as_i64(req.body.get("displayIndex")).unwrap_or(0);
    let run = async {
        let kvm = amt.get("IPS_KVMRedirectionSettingData").await?;
        let Value::Object(mut data) = kvm["Body"]["IPS_KVMRedirectionSettingData"].clone() else {
            return Err(Failure::NoData);
        };
        data.insert("DefaultScreen".into(), index.into());
        let mut env = amt
            .call(&Call::put(
                "IPS_KVMRedirectionSettingData",
                &Value::Object(data),
            ))
            .await?;
        Ok::<_, Failure>(json!({ "Header": env["Header"].take(), "Body": env["Body"].take() }))
    };
    match run.await {
        Ok(v) => Json(v).into_response(),
        Err(f) => f.respond("KVM Displays", &req.guid),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_and_displays() {
        assert_eq!(duration_minutes("P1DT2H30M"), Some(1590));
        assert_eq!(duration_minutes("PT0M"), Some(0));
        assert_eq!(duration_minutes("garbage"), None);
        let item = json!({"PrimaryIndex": 1, "IsActive": [true, true], "ResolutionX": [1920, 1280], "ResolutionY": [1080, 1024]});
        let d = displays(&[item], Some(0));
        assert_eq!(d.len(), 2);
        assert_eq!(d[0]["isDefault"], true);
        assert_eq!(d[1]["role"], "primary");
        assert_eq!(d[1]["resolutionX"], 1280);
    }
}
