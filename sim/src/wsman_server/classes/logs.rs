//! Logs and the alarm clock: AMT_AuditLog.ReadRecords (binary audit records, oldest first, ten per
//! call), AMT_MessageLog.PositionToFirstRecord/GetRecords (21-byte event records),
//! AMT_AlarmClockService.AddAlarm and IPS_AlarmClockOccurrence.

use wsman::response::{FaultSpec, Instance, Prop};

use super::{reference, service};
use crate::device::platform::{Alarm, MAX_ALARMS};
use crate::device::{DeviceState, Identity};
use crate::wsman_server::dispatch::{ClassDef, Ctx, OpResult, Output, return_value};

pub const CLASSES: &[ClassDef] = &[
    ClassDef {
        name: "AMT_AuditLog",
        instances: audit_log,
        put: None,
        delete: None,
        create: None,
        methods: &[("ReadRecords", read_records)],
    },
    ClassDef {
        name: "AMT_MessageLog",
        instances: message_log,
        put: None,
        delete: None,
        create: None,
        methods: &[
            ("PositionToFirstRecord", position_to_first_record),
            ("GetRecords", get_records),
        ],
    },
    ClassDef {
        name: "AMT_AlarmClockService",
        instances: alarm_clock_service,
        put: Some(put_alarm_clock_service),
        delete: None,
        create: None,
        methods: &[("AddAlarm", add_alarm)],
    },
    ClassDef {
        name: "IPS_AlarmClockOccurrence",
        instances: alarm_occurrences,
        put: None,
        delete: Some(delete_alarm),
        create: None,
        methods: &[],
    },
];

fn datetime(seconds: u32) -> String {
    time::OffsetDateTime::from_unix_timestamp(i64::from(seconds))
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| "1970-01-01T00:00:00Z".into())
}

fn audit_log(_: &Identity, state: &DeviceState) -> Vec<Instance> {
    let count = state.audit.records.len();
    let free = 100 - (count * 100 / crate::device::logs::LOG_CAPACITY).min(100);
    vec![
        Instance::new("AMT_AuditLog")
            .with("AuditState", 16)
            .with("CurrentNumberOfRecords", count)
            .with("ElementName", "Intel(r) AMT Audit Log")
            .with("EnabledState", 2)
            .with("MaxAllowedAuditors", 1)
            .with("MaxNumberOfRecords", 0)
            .with("Name", "Intel(r) AMT:Audit Log")
            .with("OverwritePolicy", 2)
            .with("PercentageFree", free)
            .with("RequestedState", 2)
            .with("StoragePolicy", 1)
            .with_prop(
                "TimeOfLastRecord",
                Prop::Datetime(datetime(state.audit.last_timestamp().unwrap_or(0))),
            ),
    ]
}

fn read_records(ctx: &mut Ctx<'_>) -> OpResult<Output> {
    let start = ctx.field_u32("StartIndex")?.unwrap_or(1).max(1) as usize;
    let records = ctx.state.audit.read(start);
    let mut output = vec![
        (
            "TotalRecordCount".to_string(),
            Prop::text(ctx.state.audit.records.len()),
        ),
        ("RecordsReturned".to_string(), Prop::text(records.len())),
    ];
    if !records.is_empty() {
        output.push(("EventRecords".to_string(), Prop::List(records)));
    }
    output.push(("ReturnValue".to_string(), Prop::text(0)));
    Ok(output)
}

fn message_log(_: &Identity, state: &DeviceState) -> Vec<Instance> {
    let list = |v: &[&str]| Prop::List(v.iter().map(|s| s.to_string()).collect());
    vec![
        Instance::new("AMT_MessageLog")
            .with_prop("Capabilities", list(&["5", "6", "8", "7"]))
            .with("CharacterSet", 10)
            .with("CreationClassName", "AMT_MessageLog")
            .with("CurrentNumberOfRecords", state.events.records.len())
            .with("ElementName", "Intel(r) AMT:MessageLog 1")
            .with("EnabledDefault", 2)
            .with("EnabledState", 2)
            .with("HealthState", 5)
            .with("IsFrozen", "false")
            .with("LastChange", 0)
            .with("LogState", 4)
            .with("MaxLogSize", 0)
            .with("MaxNumberOfRecords", crate::device::logs::LOG_CAPACITY)
            .with("MaxRecordSize", 21)
            .with("Name", "Intel(r) AMT:MessageLog 1")
            .with("OperationalStatus", 2)
            .with("OverwritePolicy", 2)
            .with("PercentageNearFull", 100)
            .with("RequestedState", 12)
            .with("SizeOfHeader", 0)
            .with("SizeOfRecordHeader", 0)
            .with("Status", "OK"),
    ]
}

fn position_to_first_record(_: &mut Ctx<'_>) -> OpResult<Output> {
    Ok(vec![
        ("IterationIdentifier".into(), Prop::text(1)),
        ("ReturnValue".into(), Prop::text(0)),
    ])
}

fn get_records(ctx: &mut Ctx<'_>) -> OpResult<Output> {
    let iteration = ctx.required_u32("IterationIdentifier")?.max(1) as usize;
    let max = ctx.field_u32("MaxReadRecords")?.unwrap_or(390) as usize;
    let (records, next, done) = ctx.state.events.read(iteration, max);
    let mut output = vec![
        ("IterationIdentifier".to_string(), Prop::text(next)),
        ("NoMoreRecords".to_string(), Prop::text(super::flag(done))),
    ];
    if !records.is_empty() {
        output.push(("RecordArray".to_string(), Prop::List(records)));
    }
    output.push(("ReturnValue".to_string(), Prop::text(0)));
    Ok(output)
}

fn alarm_clock_service(_: &Identity, _: &DeviceState) -> Vec<Instance> {
    vec![service(
        "AMT_AlarmClockService",
        "Intel(r) AMT Alarm Clock Service",
        "Intel(r) AMT Alarm Clock Service",
        "ManagedSystem",
        &[],
    )]
}

/// The service has no writable properties; AMT accepts the Put and answers with the instance.
fn put_alarm_clock_service(ctx: &mut Ctx<'_>) -> OpResult<()> {
    ctx.payload().map(|_| ())
}

/// AddAlarm(AlarmTemplate): InstanceID, ElementName, StartTime/Datetime, Interval/Interval,
/// DeleteOnCompletion. At most five alarms (QuotaLimit fault beyond).
fn add_alarm(ctx: &mut Ctx<'_>) -> OpResult<Output> {
    let payload = ctx.payload()?;
    let Some(template) = payload.child("AlarmTemplate") else {
        return Err(FaultSpec::schema_validation_error(
            "AlarmTemplate is missing.",
        ));
    };
    let text = |name: &str| template.child(name).map(|e| e.text.trim().to_string());
    let Some(instance_id) = text("InstanceID").filter(|i| !i.is_empty()) else {
        return Err(FaultSpec::schema_validation_error(
            "AlarmTemplate has no InstanceID.",
        ));
    };
    let start_time = template
        .path(&["StartTime", "Datetime"])
        .map(|e| e.text.trim().to_string())
        .unwrap_or_default();
    if time::OffsetDateTime::parse(&start_time, &time::format_description::well_known::Rfc3339)
        .is_err()
    {
        return Err(FaultSpec::schema_validation_error(
            "StartTime is not a CIM datetime.",
        ));
    }
    let interval = template
        .path(&["Interval", "Interval"])
        .map(|e| e.text.trim().to_string());
    let delete_on_completion =
        text("DeleteOnCompletion").is_none_or(|v| !v.eq_ignore_ascii_case("false"));
    let element_name = text("ElementName").unwrap_or_else(|| instance_id.clone());
    if ctx
        .state
        .alarms
        .iter()
        .any(|a| a.instance_id == instance_id)
    {
        return Err(FaultSpec::already_exists());
    }
    if ctx.state.alarms.len() >= MAX_ALARMS {
        return Err(FaultSpec::quota_limit(
            "The alarm clock holds no more alarms.",
        ));
    }
    ctx.state.alarms.push(Alarm {
        instance_id: instance_id.clone(),
        element_name,
        start_time,
        interval,
        delete_on_completion,
    });
    let mut output: Output = vec![(
        "AlarmClock".into(),
        Prop::Reference(reference(
            "IPS_AlarmClockOccurrence",
            &[("InstanceID", &instance_id)],
        )),
    )];
    output.extend(return_value(0));
    Ok(output)
}

fn alarm_occurrences(_: &Identity, state: &DeviceState) -> Vec<Instance> {
    state
        .alarms
        .iter()
        .map(|alarm| {
            let mut instance = Instance::new("IPS_AlarmClockOccurrence")
                .with("ElementName", &alarm.element_name)
                .with("InstanceID", &alarm.instance_id)
                .with_prop("StartTime", Prop::Datetime(alarm.start_time.clone()));
            if let Some(interval) = &alarm.interval {
                instance = instance.with_prop("Interval", Prop::Interval(interval.clone()));
            }
            instance.with(
                "DeleteOnCompletion",
                super::flag(alarm.delete_on_completion),
            )
        })
        .collect()
}

fn delete_alarm(ctx: &mut Ctx<'_>) -> OpResult<()> {
    let Some(id) = ctx.request.selector("InstanceID").map(str::to_string) else {
        return Err(FaultSpec::invalid_selectors());
    };
    let before = ctx.state.alarms.len();
    ctx.state.alarms.retain(|a| a.instance_id != id);
    if ctx.state.alarms.len() == before {
        return Err(FaultSpec::invalid_selectors());
    }
    Ok(())
}
