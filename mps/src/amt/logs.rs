//! The audit log (AMT_AuditLog.ReadRecords, records decoded, newest first) and the event log
//! (AMT_MessageLog, 21-byte records).

use axum::Json;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::{Value, json};
use wsman::messages::amt;

use super::tables::{
    audit_string, entity_type, firmware_error, firmware_progress, realm_name, watchdog_state,
};
use super::{Amt, AmtRequest, Failure, num};
use crate::rest::validate::as_i64;

/// Bytes as the reference shows binary fields: one character per byte (latin-1).
fn latin1(b: &[u8]) -> String {
    b.iter().map(|&c| char::from(c)).collect()
}

fn iso_seconds(secs: i64) -> Value {
    match time::OffsetDateTime::from_unix_timestamp(secs) {
        Ok(t) => Value::String(
            t.format(time::macros::format_description!(
                "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
            ))
            .unwrap_or_default(),
        ),
        Err(_) => Value::Null,
    }
}

fn be16(b: &[u8], at: usize) -> Option<u16> {
    Some(u16::from_be_bytes([*b.get(at)?, *b.get(at + 1)?]))
}

fn be32(b: &[u8], at: usize) -> Option<u32> {
    Some(u32::from_be_bytes([
        *b.get(at)?,
        *b.get(at + 1)?,
        *b.get(at + 2)?,
        *b.get(at + 3)?,
    ]))
}

/// A Windows SID in its `S-r-a-s1-s2…` text form.
fn sid_string(b: &[u8]) -> String {
    if b.len() < 8 {
        return String::new();
    }
    let authority = b[2..8]
        .iter()
        .fold(0u64, |acc, &x| (acc << 8) | u64::from(x));
    let mut s = format!("S-{}-{}", b[0], authority);
    for chunk in b[8..].chunks_exact(4) {
        s.push_str(&format!(
            "-{}",
            u32::from_le_bytes([chunk[0], chunk[1], chunk[2], chunk[3]])
        ));
    }
    s
}

/// Human text of some events' extended data (the reference's subset).
fn extended_string(event: u32, ex: &[u8]) -> Value {
    let at = |i: usize| ex.get(i).copied();
    let pick = |names: &[&str], i: Option<u8>| {
        i.and_then(|i| names.get(usize::from(i)))
            .map(|s| s.to_string())
    };
    let s: Option<String> = match event {
        1602 | 1604 if at(0) == Some(0) => {
            let n = usize::from(at(1).unwrap_or(0));
            ex.get(2..(2 + n).min(ex.len())).map(latin1)
        }
        1603 if at(1) == Some(0) => ex.get(3..).map(latin1),
        1605 => pick(&["Invalid ME access", "Invalid MEBx access"], at(0)),
        1606 => pick(&["Disabled", "Enabled"], at(0)).map(|mut r| {
            if at(1) == Some(0) {
                r.push_str(", ");
                r.push_str(&latin1(ex.get(3..).unwrap_or_default()));
            }
            r
        }),
        1607 => {
            let modes = ["NoAuth", "ServerAuth", "MutualAuth"];
            match (pick(&modes, at(0)), pick(&modes, at(1))) {
                (Some(r), Some(l)) => Some(format!("Remote {r}, Local {l}")),
                _ => None,
            }
        }
        1617 => be32(ex, 0).and_then(|realm| {
            pick(&["NoAuth", "Auth", "Disabled"], at(4))
                .map(|m| format!("{}, {m}", realm_name(realm as usize)))
        }),
        1619 => pick(
            &["BIOS", "MEBx", "Local MEI", "Local WSMAN", "Remote WSMAN"],
            at(0),
        ),
        1900 => {
            let v: Option<Vec<u16>> = (0..8).map(|i| be16(ex, i * 2)).collect();
            v.map(|v| {
                format!(
                    "From {}.{}.{}.{} to {}.{}.{}.{}",
                    v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]
                )
            })
        }
        2100 => be32(ex, 0).and_then(|t| iso_seconds(i64::from(t)).as_str().map(str::to_string)),
        3000 => {
            let p = ["None", "KVM", "All"];
            match (pick(&p, at(0)), pick(&p, at(1))) {
                (Some(a), Some(b)) => Some(format!("From {a} to {b}")),
                _ => None,
            }
        }
        3001 => pick(&["Success", "Failed 3 times"], at(0)),
        _ => None,
    };
    s.map_or(Value::Null, Value::String)
}

/// One audit record (spec §4.4 layout); `None` when it is too short to read.
pub fn decode_audit_record(b: &[u8]) -> Option<Value> {
    let app = be16(b, 0)?;
    let event_id = be16(b, 2)?;
    let initiator_type = *b.get(4)?;
    let (initiator, mut p) = match initiator_type {
        0 => {
            let n = usize::from(*b.get(5)?);
            (latin1(b.get(6..6 + n)?), 6 + n)
        }
        1 => {
            let n = usize::from(*b.get(9)?);
            (sid_string(b.get(10..10 + n)?), 10 + n)
        }
        2 => ("Local".to_string(), 5),
        3 => ("KVM Default Port".to_string(), 5),
        _ => (String::new(), 0),
    };
    let time = be32(b, p)?;
    p += 4;
    let location = *b.get(p)?;
    p += 1;
    let net_len = usize::from(*b.get(p)?);
    p += 1;
    let net =
        latin1(b.get(p..p + net_len)?).replace("0000:0000:0000:0000:0000:0000:0000:0001", "::1");
    p += net_len;
    let ex_len = usize::from(*b.get(p).unwrap_or(&0));
    p += 1;
    let ex = b.get(p..(p + ex_len).min(b.len())).unwrap_or_default();
    let key = u32::from(app) * 100 + u32::from(event_id);
    Some(json!({
        "AuditAppID": app,
        "EventID": event_id,
        "InitiatorType": initiator_type,
        "AuditApp": audit_string(u32::from(app)),
        "Event": audit_string(key).map_or_else(|| format!("#{event_id}"), str::to_string),
        "Initiator": initiator,
        "Time": iso_seconds(i64::from(time)),
        "MCLocationType": location,
        "NetAddress": net,
        "Ex": latin1(ex),
        "ExStr": extended_string(key, ex),
    }))
}

fn strings(v: &Value) -> Vec<String> {
    match v {
        Value::Array(a) => a.iter().filter_map(wsman::parse::value_text).collect(),
        Value::Null => Vec::new(),
        one => wsman::parse::value_text(one).into_iter().collect(),
    }
}

fn audit_result(out: &Value) -> Value {
    let total = num(&out["TotalRecordCount"]).unwrap_or(0);
    let mut records: Vec<Value> = Vec::new();
    if num(&out["RecordsReturned"]).unwrap_or(0) > 0 {
        for r in strings(&out["EventRecords"]) {
            let Ok(bytes) = base64::engine::general_purpose::STANDARD.decode(r.trim()) else {
                continue;
            };
            if let Some(rec) = decode_audit_record(&bytes) {
                records.push(rec);
            }
        }
        // AMT returns oldest first; the route answers newest first.
        records.reverse();
    }
    json!({ "totalCnt": total, "records": records })
}

pub async fn audit(amt: &Amt<'_>, req: &AmtRequest) -> Response {
    let start = as_i64(req.query.get("startIndex")).unwrap_or(0);
    let run = async {
        let first = amt
            .call(&amt::audit_log_read_records(start.max(1) as u32))
            .await?;
        let mut out = first["Body"]["ReadRecords_OUTPUT"].clone();
        if out.is_null() {
            return Err(Failure::NoData);
        }
        let total = num(&out["TotalRecordCount"]).unwrap_or(0);
        let returned = num(&out["RecordsReturned"]).unwrap_or(0);
        let mut keep_last = 0usize;
        if total > returned {
            let mut reversed = total - start - returned;
            if reversed < returned {
                keep_last = returned.max(0) as usize;
                reversed = 1;
            }
            let again = amt
                .call(&amt::audit_log_read_records(reversed.max(1) as u32))
                .await?;
            out = again["Body"]["ReadRecords_OUTPUT"].clone();
        }
        let mut result = audit_result(&out);
        if keep_last > 0
            && let Some(list) = result["records"].as_array_mut()
            && list.len() > keep_last
        {
            let cut = list.len() - keep_last;
            list.drain(..cut);
        }
        Ok(result)
    };
    match run.await {
        Ok(v) => Json(v).into_response(),
        Err(f) => f.respond("Audit Log", &req.guid),
    }
}

fn event_description(sensor: u8, offset: u8, data: &[u8; 8]) -> Value {
    let s = match sensor {
        6 => Some(format!(
            "Authentication failed {} times. The system may be under attack.",
            u32::from(data[1]) + (u32::from(data[2]) << 8)
        )),
        15 if data[0] == 235 => Some("Invalid Data".into()),
        15 if offset == 0 => firmware_error(data[1]).map(str::to_string),
        15 => firmware_progress(data[1]).map(str::to_string),
        18 if data[0] == 170 => Some(format!(
            "Agent watchdog {:02X}{:02X}{:02X}{:02X}-{:02X}{:02X}-... changed to {}",
            data[4],
            data[3],
            data[2],
            data[1],
            data[6],
            data[5],
            watchdog_state(data[7]).unwrap_or("undefined")
        )),
        18 => None,
        30 => Some("No bootable media".into()),
        32 => Some("Operating system lockup or power interrupt".into()),
        35 => Some("System boot failure".into()),
        37 => Some("System firmware started (at least one CPU is properly executing).".into()),
        other => Some(format!("Unknown Sensor Type #{other}")),
    };
    s.map_or(Value::Null, Value::String)
}

/// One 21-byte event log record.
pub fn decode_event_record(b: &[u8]) -> Option<Value> {
    if b.len() < 21 {
        return None;
    }
    let ts = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
    let mut data = [0u8; 8];
    data.copy_from_slice(&b[13..21]);
    Some(json!({
        "DeviceAddress": b[4],
        "EventSensorType": b[5],
        "EventType": b[6],
        "EventOffset": b[7],
        "EventSourceType": b[8],
        "EventSeverity": b[9],
        "SensorNumber": b[10],
        "Entity": b[11],
        "EntityInstance": b[12],
        "EventData": data.to_vec(),
        "TimeStamp": if ts > 0 && ts < u32::MAX { iso_seconds(i64::from(ts)) } else { Value::Null },
        "EntityStr": entity_type(b[11]),
        "Desc": event_description(b[5], b[7], &data),
    }))
}

pub async fn events(amt: &Amt<'_>, guid: &str) -> Response {
    let run = async {
        let first = amt
            .call(&amt::message_log_position_to_first_record())
            .await?;
        let id = num(&first["Body"]["PositionToFirstRecord_OUTPUT"]["IterationIdentifier"])
            .ok_or(Failure::NoData)?;
        let env = amt.call(&amt::message_log_get_records(id as u32)).await?;
        let records: Vec<Value> = strings(&env["Body"]["GetRecords_OUTPUT"]["RecordArray"])
            .iter()
            .filter_map(|r| {
                base64::engine::general_purpose::STANDARD
                    .decode(r.trim())
                    .ok()
            })
            .filter_map(|b| decode_event_record(&b))
            .collect();
        Ok::<_, Failure>(Value::Array(records))
    };
    match run.await {
        Ok(v) => Json(v).into_response(),
        Err(f) => f.respond("Event Log", guid),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn audit_record_with_digest_initiator() {
        // App 16 (Security Admin), event 2 (ACL Entry Added), initiator "admin", time 0x5f5e1000,
        // location 0, address "::1" in long form, extended data [0, 3, 'b','o','b'].
        let mut b = vec![0x00, 0x10, 0x00, 0x02, 0x00, 5];
        b.extend_from_slice(b"admin");
        b.extend_from_slice(&0x5f5e_1000u32.to_be_bytes());
        b.push(0);
        let addr = b"0000:0000:0000:0000:0000:0000:0000:0001";
        b.push(addr.len() as u8);
        b.extend_from_slice(addr);
        b.extend_from_slice(&[5, 0, 3, b'b', b'o', b'b']);
        let r = decode_audit_record(&b).unwrap();
        assert_eq!(r["AuditApp"], "Security Admin");
        assert_eq!(r["Event"], "ACL Entry Added");
        assert_eq!(r["Initiator"], "admin");
        assert_eq!(r["NetAddress"], "::1");
        assert_eq!(r["ExStr"], "bob");
        assert_eq!(r["Time"], "2020-09-13T12:26:40.000Z");
        // Unknown events are named by their id; truncated records are refused.
        let mut unknown = b.clone();
        unknown[3] = 99;
        assert_eq!(decode_audit_record(&unknown).unwrap()["Event"], "#99");
        assert!(decode_audit_record(&b[..8]).is_none());
    }

    #[test]
    fn event_record_layout() {
        let mut b = 0x5f5e_1000u32.to_le_bytes().to_vec();
        b.extend_from_slice(&[1, 15, 111, 0, 104, 2, 3, 34, 0, 0, 8, 0, 0, 0, 0, 0, 0]);
        let r = decode_event_record(&b).unwrap();
        assert_eq!(r["EntityStr"], "BIOS");
        assert_eq!(r["Desc"], "Removable boot media not found.");
        assert_eq!(r["TimeStamp"], "2020-09-13T12:26:40.000Z");
        assert_eq!(r["EventData"].as_array().unwrap().len(), 8);
    }
}
