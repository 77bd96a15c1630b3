//! RPS's activation results, consumed instead of the reference's RPS → MPS REST calls:
//! "activation succeeded" registers or updates the device row (what `POST /api/v1/devices` did),
//! "deactivated" removes it (the device's secrets are RPS's to delete), "updated" applies a
//! maintenance change (what `PATCH /api/v1/devices` and `DELETE /api/v1/devices/refresh` did).
//!
//! Activation and deactivation use shared subscriptions (`$share/mps-<event>/…`), so exactly one replica
//! handles each. Every replica takes "updated": the one holding the device's tunnel must reload a
//! rotated password, and the row update is the same whoever writes it. Each event is acknowledged to
//! the broker only once it is applied.

use std::time::Duration;

use broker::{Bus, Subscription};
use schemas::{DeviceEvent, Topic, Topics, proto};
use serde_json::{Map, Value, json};
use time::macros::format_description;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::registry::RegistryError;
use crate::service::{Mps, Registered, RemoveError};

/// Shared-subscription group of every MPS replica; each filter gets a share name of its own.
pub const GROUP: &str = "mps";
/// Attempts at a database write that failed for another reason than an unreachable database, before
/// the event is given up (logged).
const ATTEMPTS: u32 = 4;

/// `$share/mps-<event>/…`. MQTT 5 names a shared subscription by its share name *and* filter, but the
/// embedded broker (rumqttd 0.20) keys its groups by share name alone, with one read position per
/// group: with `$share/mps/` on both filters the second one (deactivations) never received anything.
/// One share name per filter means the same on every broker.
pub fn filter(topics: &Topics, event: DeviceEvent) -> String {
    format!(
        "$share/{GROUP}-{}/{}",
        event.as_str(),
        topics.device_events(event)
    )
}

/// Subscribes both consumers and runs them until `stop`.
pub async fn spawn(mps: Mps, bus: Bus, stop: CancellationToken) -> Vec<JoinHandle<()>> {
    let topics = bus.topics().clone();
    let mut tasks = Vec::new();
    match bus
        .subscribe(&filter(&topics, DeviceEvent::Activation))
        .await
    {
        Ok(sub) => tasks.push(tokio::spawn(activations(
            mps.clone(),
            topics.clone(),
            sub,
            stop.clone(),
        ))),
        Err(error) => tracing::error!(%error, "cannot consume activation events"),
    }
    match bus
        .subscribe(&filter(&topics, DeviceEvent::Deactivated))
        .await
    {
        Ok(sub) => tasks.push(tokio::spawn(deactivations(
            mps.clone(),
            topics.clone(),
            sub,
            stop.clone(),
        ))),
        Err(error) => tracing::error!(%error, "cannot consume deactivation events"),
    }
    match bus
        .subscribe(&topics.device_events(DeviceEvent::Updated))
        .await
    {
        Ok(sub) => tasks.push(tokio::spawn(updates(mps, topics, sub, stop))),
        Err(error) => tracing::error!(%error, "cannot consume device update events"),
    }
    tasks
}

/// The device an event is about: the topic names it; a payload naming another one is refused.
pub(super) fn device_of(topics: &Topics, topic: &str, payload_guid: &str) -> Option<String> {
    match topics.parse(topic) {
        Ok(Topic::DeviceEvent(g, _)) => {
            let g = g.to_string();
            if payload_guid.is_empty() || payload_guid.eq_ignore_ascii_case(&g) {
                Some(g)
            } else {
                tracing::warn!(
                    topic,
                    payload_guid,
                    "event names another device than its topic; ignored"
                );
                None
            }
        }
        _ => {
            tracing::warn!(topic, "event on an unexpected topic ignored");
            None
        }
    }
}

fn iso(t: &prost_types::Timestamp) -> Option<String> {
    let nanos = i128::from(t.seconds) * 1_000_000_000 + i128::from(t.nanos);
    time::OffsetDateTime::from_unix_timestamp_nanos(nanos)
        .ok()?
        .format(format_description!(
            "[year]-[month]-[day]T[hour]:[minute]:[second].[subsecond digits:3]Z"
        ))
        .ok()
}

/// `deviceInfo` as the reference RPS stored it.
fn device_info(info: &proto::DeviceInfo) -> Value {
    let mut m = Map::new();
    for (k, v) in [
        ("fwVersion", &info.fw_version),
        ("fwBuild", &info.fw_build),
        ("fwSku", &info.fw_sku),
        ("currentMode", &info.current_mode),
        ("features", &info.features),
        ("ipAddress", &info.ip_address),
    ] {
        m.insert(k.into(), Value::String(v.clone()));
    }
    if !info.status.is_empty() {
        let status: Map<String, Value> = info
            .status
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        m.insert("status".into(), Value::Object(status));
    }
    for (k, t) in [
        ("activatedAt", &info.activated_at),
        ("lastProvisionedAt", &info.last_provisioned_at),
        ("lastUpdated", &info.last_updated),
    ] {
        if let Some(s) = t.as_ref().and_then(iso) {
            m.insert(k.into(), Value::String(s));
        }
    }
    Value::Object(m)
}

/// The `POST /api/v1/devices` body the reference RPS would have sent. Empty optional strings are
/// left out so an update keeps what the row already has.
pub fn registration_body(guid: &str, ev: &proto::ActivationEvent) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("guid".into(), json!(guid));
    for (k, v) in [
        ("hostname", &ev.hostname),
        ("mpsusername", &ev.mps_username),
        ("dnsSuffix", &ev.dns_suffix),
        ("friendlyName", &ev.friendly_name),
    ] {
        if !v.is_empty() {
            m.insert(k.into(), json!(v));
        }
    }
    m.insert("tags".into(), json!(ev.tags));
    m.insert("tenantId".into(), json!(ev.tenant_id));
    if let Some(info) = &ev.device_info {
        m.insert("deviceInfo".into(), device_info(info));
    }
    m
}

/// How a database write for an event ended.
enum Applied<T> {
    Done(T),
    /// Refused for good (logged); the event is acknowledged and dropped.
    Failed,
    /// The consumer stops before the write could be made; the event must not be acknowledged.
    Stopped,
}

/// Longest pause between two attempts while the database is unreachable.
const UNAVAILABLE_RETRY_MAX: Duration = Duration::from_secs(10);

/// Runs a database write for an event. While the database cannot be reached (`unavailable`) it is
/// tried again, with back-off, for as long as that lasts: the event is acknowledged to the broker only
/// once applied, so an outage delays a registration and loses none. Other failures get a few
/// attempts, then the event is given up (logged).
async fn apply<T, E, F, Fut>(
    what: &str,
    guid: &str,
    stop: &CancellationToken,
    unavailable: impl Fn(&E) -> bool,
    mut f: F,
) -> Applied<T>
where
    E: std::fmt::Display,
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let mut delay = Duration::from_millis(500);
    let mut attempt = 0;
    loop {
        attempt += 1;
        let error = match f().await {
            Ok(v) => return Applied::Done(v),
            Err(error) => error,
        };
        if stop.is_cancelled() {
            tracing::warn!(guid, %error, "{what} failed while stopping; the event is left for the broker to send again");
            return Applied::Stopped;
        }
        if unavailable(&error) {
            tracing::warn!(guid, attempt, %error, "{what}: the database is unreachable; trying again until it answers");
        } else if attempt < ATTEMPTS {
            tracing::warn!(guid, attempt, %error, "{what} failed; retrying");
        } else {
            tracing::error!(guid, %error, "{what} failed; event dropped");
            return Applied::Failed;
        }
        tokio::select! {
            _ = stop.cancelled() => {
                tracing::warn!(guid, "{what} not done before stopping; the event is left for the broker to send again");
                return Applied::Stopped;
            }
            _ = tokio::time::sleep(delay) => {}
        }
        delay = (delay * 2).min(UNAVAILABLE_RETRY_MAX);
    }
}

fn registry_unavailable(error: &RegistryError) -> bool {
    error.is_unavailable()
}

fn remove_unavailable(error: &RemoveError) -> bool {
    match error {
        RemoveError::Registry(e) => e.is_unavailable(),
        RemoveError::Secrets(e) => matches!(e, secrets::SecretError::Unavailable { .. }),
    }
}

async fn activations(mps: Mps, topics: Topics, mut sub: Subscription, stop: CancellationToken) {
    loop {
        let next = tokio::select! {
            _ = stop.cancelled() => return,
            n = sub.next_event::<proto::ActivationEvent>() => n,
        };
        let Some((delivery, ev)) = next else { return };
        let Some(guid) = device_of(&topics, &delivery.topic, &ev.guid) else {
            continue;
        };
        if ev.phase != proto::ActivationPhase::Succeeded as i32 {
            tracing::debug!(
                guid,
                phase = ev.phase,
                "activation progress (nothing to register)"
            );
            continue;
        }
        let body = registration_body(&guid, &ev);
        if let Err(rejected) = crate::rest::validate_device_body(&body) {
            tracing::warn!(guid, errors = ?rejected, "activation event with an invalid device; not registered");
            continue;
        }
        let done = apply(
            "registering the activated device",
            &guid,
            &stop,
            registry_unavailable,
            || mps.register_device(&body),
        )
        .await;
        match done {
            Applied::Done(Registered::Created(_)) => {
                tracing::info!(guid, "activated device registered")
            }
            Applied::Done(Registered::Updated(_)) => {
                tracing::info!(guid, "activated device updated")
            }
            Applied::Failed => {}
            Applied::Stopped => {
                delivery.leave_unacknowledged();
                return;
            }
        }
        // Acknowledged to the broker here, once the row is written.
        drop(delivery);
    }
}

async fn deactivations(mps: Mps, topics: Topics, mut sub: Subscription, stop: CancellationToken) {
    loop {
        let next = tokio::select! {
            _ = stop.cancelled() => return,
            n = sub.next_event::<proto::DeviceDeactivated>() => n,
        };
        let Some((delivery, ev)) = next else { return };
        let Some(guid) = device_of(&topics, &delivery.topic, &ev.guid) else {
            continue;
        };
        let removed = apply(
            "removing the deactivated device",
            &guid,
            &stop,
            remove_unavailable,
            || mps.remove_device(&guid, &ev.tenant_id, false),
        )
        .await;
        match removed {
            Applied::Done(true) => tracing::info!(guid, "deactivated device removed"),
            Applied::Done(false) => tracing::info!(
                guid,
                tenant = ev.tenant_id,
                "deactivated device was not registered"
            ),
            Applied::Failed => {}
            Applied::Stopped => {
                delivery.leave_unacknowledged();
                return;
            }
        }
        drop(delivery);
    }
}

/// The `PATCH /api/v1/devices` body of a maintenance change: only what it names.
pub fn update_body(guid: &str, ev: &proto::DeviceUpdated) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("guid".into(), json!(guid));
    if let Some(hostname) = &ev.hostname {
        m.insert("hostname".into(), json!(hostname));
    }
    if let Some(suffix) = &ev.dns_suffix {
        m.insert("dnsSuffix".into(), json!(suffix));
    }
    if let Some(info) = &ev.device_info {
        m.insert("deviceInfo".into(), device_info(info));
    }
    m
}

async fn updates(mps: Mps, topics: Topics, mut sub: Subscription, stop: CancellationToken) {
    loop {
        let next = tokio::select! {
            _ = stop.cancelled() => return,
            n = sub.next_event::<proto::DeviceUpdated>() => n,
        };
        let Some((delivery, ev)) = next else { return };
        let Some(guid) = device_of(&topics, &delivery.topic, &ev.guid) else {
            continue;
        };
        let mut body = update_body(&guid, &ev);
        if body.len() > 1 {
            // An update, never a registration: a device MPS does not know stays unknown.
            let known = apply(
                "looking the device up",
                &guid,
                &stop,
                registry_unavailable,
                || mps.registry().get(&guid, None),
            )
            .await;
            match known {
                Applied::Done(Some(row)) => {
                    body.insert("tenantId".into(), json!(row.tenant_id));
                    if let Err(rejected) = crate::rest::validate_device_body(&body) {
                        tracing::warn!(guid, errors = ?rejected, "device update with invalid fields; not applied");
                    } else {
                        match apply(
                            "updating the device",
                            &guid,
                            &stop,
                            registry_unavailable,
                            || mps.register_device(&body),
                        )
                        .await
                        {
                            Applied::Done(_) => {
                                tracing::info!(guid, "device updated by maintenance")
                            }
                            Applied::Failed => {}
                            Applied::Stopped => {
                                delivery.leave_unacknowledged();
                                return;
                            }
                        }
                    }
                }
                Applied::Done(None) => {
                    tracing::info!(guid, "update for a device MPS does not know; ignored")
                }
                Applied::Failed => {}
                Applied::Stopped => {
                    delivery.leave_unacknowledged();
                    return;
                }
            }
        }
        if ev.credentials_rotated {
            match mps.refresh_device(&guid).await {
                Ok(true) => tracing::info!(guid, "reloaded the device's rotated AMT password"),
                Ok(false) => {} // its tunnel is held elsewhere (or nowhere): nothing cached here
                Err(error) => {
                    tracing::error!(guid, %error, "cannot reload the rotated AMT password")
                }
            }
        }
        drop(delivery);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_registration_body_is_what_rps_posted() {
        let ev = proto::ActivationEvent {
            guid: "4C4C4544-004B-4210-8033-B6C04F504633".into(),
            phase: proto::ActivationPhase::Succeeded as i32,
            tenant_id: "".into(),
            hostname: "host-1".into(),
            dns_suffix: "vprodemo.com".into(),
            tags: vec!["a".into(), "b".into()],
            mps_username: "ciraUser".into(),
            device_info: Some(proto::DeviceInfo {
                fw_version: "16.1.25".into(),
                fw_build: "2128".into(),
                fw_sku: "16392".into(),
                current_mode: "2".into(),
                features: "AMT Pro Corporate".into(),
                ip_address: "".into(),
                status: [("CIRAConnection".to_string(), "configured".to_string())].into(),
                last_updated: Some(prost_types::Timestamp {
                    seconds: 1_723_459_200,
                    nanos: 5_000_000,
                }),
                ..Default::default()
            }),
            ..Default::default()
        };
        let g = "4c4c4544-004b-4210-8033-b6c04f504633";
        let body = registration_body(g, &ev);
        assert_eq!(
            Value::Object(body.clone()),
            json!({
                "guid": g, "hostname": "host-1", "mpsusername": "ciraUser", "dnsSuffix": "vprodemo.com",
                "tags": ["a", "b"], "tenantId": "",
                "deviceInfo": {"fwVersion": "16.1.25", "fwBuild": "2128", "fwSku": "16392", "currentMode": "2",
                    "features": "AMT Pro Corporate", "ipAddress": "",
                    "status": {"CIRAConnection": "configured"}, "lastUpdated": "2024-08-12T10:40:00.005Z"}
            })
        );
        assert!(crate::rest::validate_device_body(&body).is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn an_unreachable_database_is_waited_for_and_other_failures_give_up() {
        use std::sync::atomic::{AtomicU32, Ordering};
        let stop = CancellationToken::new();
        // Unreachable for 20 attempts (minutes of back-off), then it answers: applied, not dropped.
        let calls = AtomicU32::new(0);
        let done = apply(
            "writing",
            "g",
            &stop,
            |e: &&str| *e == "down",
            || async {
                if calls.fetch_add(1, Ordering::SeqCst) < 20 {
                    Err("down")
                } else {
                    Ok(7)
                }
            },
        )
        .await;
        assert!(matches!(done, Applied::Done(7)));
        // Any other failure: a few attempts, then given up.
        let calls = AtomicU32::new(0);
        let done: Applied<()> = apply(
            "writing",
            "g",
            &stop,
            |e: &&str| *e == "down",
            || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Err("refused")
            },
        )
        .await;
        assert!(matches!(done, Applied::Failed));
        assert_eq!(calls.load(Ordering::SeqCst), ATTEMPTS);
        // Stopping while the database is unreachable leaves the event unacknowledged.
        let stopper = stop.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_secs(30)).await;
            stopper.cancel();
        });
        let done: Applied<()> = apply(
            "writing",
            "g",
            &stop,
            |_: &&str| true,
            || async { Err("down") },
        )
        .await;
        assert!(matches!(done, Applied::Stopped));
    }

    #[test]
    fn the_topic_names_the_device() {
        let t = Topics::default();
        let g = "4c4c4544-004b-4210-8033-b6c04f504633";
        let topic = format!("openamt/v1/events/devices/{g}/activation");
        assert_eq!(device_of(&t, &topic, "").as_deref(), Some(g));
        assert_eq!(device_of(&t, &topic, &g.to_uppercase()).as_deref(), Some(g));
        assert_eq!(
            device_of(&t, &topic, "d162b380-c330-11e3-82a5-40a8f0a2a536"),
            None
        );
        assert_eq!(
            device_of(&t, "openamt/v1/events/devices/nope/activation", ""),
            None
        );
        assert_eq!(
            filter(&t, DeviceEvent::Activation),
            "$share/mps-activation/openamt/v1/events/devices/+/activation"
        );
    }
}
