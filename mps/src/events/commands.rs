//! Power commands on `commands/devices/{guid}/power` (MQTT 5 request/response).
//!
//! Every replica subscribes (not shared): only the one holding the device's tunnel can run the
//! command, and it answers on the request's response topic with its correlation data. The
//! command runs [`Mps::power_action`], the same function behind `POST /api/v1/amt/power/action`.
//!
//! A command for a device no replica holds gets one answer, NOT_CONNECTED, from one replica:
//! after a short grace (a tunnel may be coming up), the replica that still does not hold the
//! device answers only if the retained presence shows no online instance holding it and it is
//! the first online MPS instance by name (see [`FleetView::answers_for_unheld`]). The others stay
//! silent. In the worst case (instances disagreeing for a moment about who is online) the
//! requester sees a duplicate NOT_CONNECTED, which the bus drops, or none and times out; it never
//! sees NOT_CONNECTED for a device another replica is running the command on, unless that
//! replica's presence took longer than the grace to arrive.
//!
//! Commands are acknowledged to the broker on receipt: a power action is not something to
//! replay after a crash (the requester's timeout tells it the outcome is unknown).

use std::sync::Arc;
use std::time::Duration;

use broker::{Bus, Delivery, Subscription};
use schemas::{Command, Topic, Topics, proto};
use serde_json::Value;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::view::FleetView;
use crate::service::{Mps, PowerError};

/// How long a replica that does not hold a device waits before deciding nobody does.
pub const UNHELD_GRACE: Duration = Duration::from_secs(1);
/// Commands running at once on this instance.
const IN_FLIGHT: usize = 256;

use proto::command_reply::Status;

pub async fn spawn(
    mps: Mps,
    bus: Bus,
    view: Arc<FleetView>,
    stop: CancellationToken,
) -> Vec<JoinHandle<()>> {
    let filter = bus.topics().all_commands(Command::Power);
    match bus.subscribe(&filter).await {
        Ok(sub) => vec![tokio::spawn(run(mps, bus, view, sub, stop))],
        Err(error) => {
            tracing::error!(%error, "cannot consume power commands");
            Vec::new()
        }
    }
}

async fn run(
    mps: Mps,
    bus: Bus,
    view: Arc<FleetView>,
    mut sub: Subscription,
    stop: CancellationToken,
) {
    let topics: Topics = bus.topics().clone();
    let limit = Arc::new(Semaphore::new(IN_FLIGHT));
    let tasks = TaskTracker::new();
    loop {
        let next = tokio::select! {
            _ = stop.cancelled() => break,
            n = sub.next() => n,
        };
        let Some(mut delivery) = next else { break };
        delivery.ack();
        let guid = match topics.parse(&delivery.topic) {
            Ok(Topic::Command(g, Command::Power)) => g.to_string(),
            _ => {
                tracing::warn!(topic = %delivery.topic, "command on an unexpected topic ignored");
                continue;
            }
        };
        let Ok(permit) = limit.clone().acquire_owned().await else {
            break;
        };
        tasks.spawn(handle(
            mps.clone(),
            bus.clone(),
            view.clone(),
            guid,
            delivery,
            permit,
        ));
    }
    // Commands in hand finish (and answer) before the bus goes.
    tasks.close();
    tasks.wait().await;
}

fn reply(status: Status, error: impl Into<String>) -> proto::CommandReply {
    proto::CommandReply {
        status: status as i32,
        error: error.into(),
        ..Default::default()
    }
}

/// Is `action` one of the numbers `POST /power/action` accepts?
pub fn is_power_action(action: i64) -> bool {
    crate::rest::DMTF_POWER_STATES.contains(&action)
        || crate::rest::EXTENDED_POWER_STATES.contains(&action)
}

/// AMT's ReturnValue and its name in a power action's REST body.
pub fn return_value(body: &Value) -> (i64, String) {
    let b = &body["Body"];
    let out = if b.get("ReturnValue").is_some() {
        b
    } else {
        &b["RequestPowerStateChange_OUTPUT"]
    };
    (
        crate::amt::num(&out["ReturnValue"]).unwrap_or(-1),
        out["ReturnValueStr"]
            .as_str()
            .unwrap_or_default()
            .to_owned(),
    )
}

/// The power action a command delivery asks for, or the INVALID reply it gets: the payload must be a
/// `PowerActionRequest` CloudEvent whose action `POST /power/action` accepts. Pure, so the decoding of
/// what arrives from the broker can be fuzzed without a running MPS.
pub fn requested_power_action(delivery: &Delivery) -> Result<i64, proto::CommandReply> {
    let request = delivery
        .decode::<proto::PowerActionRequest>()
        .map_err(|error| reply(Status::Invalid, error.to_string()))?;
    let action = i64::from(request.action);
    if !is_power_action(action) {
        return Err(reply(
            Status::Invalid,
            format!("{action} is not a power action"),
        ));
    }
    Ok(action)
}

/// What to answer, or `None` to stay silent (another replica answers).
async fn decide(
    mps: &Mps,
    view: &FleetView,
    guid: &str,
    delivery: &Delivery,
) -> Option<proto::CommandReply> {
    if !mps.connections().contains(guid) {
        tokio::time::sleep(UNHELD_GRACE).await;
        if !mps.connections().contains(guid) {
            if !view.answers_for_unheld(guid) {
                tracing::debug!(guid, holder = ?view.holder(guid), "power command for a device not held here");
                return None;
            }
            return Some(reply(
                Status::NotConnected,
                format!("device {guid} is not connected to any MPS instance"),
            ));
        }
    }
    let action = match requested_power_action(delivery) {
        Ok(action) => action,
        Err(invalid) => return Some(invalid),
    };
    tracing::info!(guid, action, "power command");
    Some(match mps.power_action(guid, action).await {
        Ok(body) => {
            let (rv, name) = return_value(&body);
            proto::CommandReply {
                status: Status::Ok as i32,
                return_value: rv as i32,
                return_value_str: name,
                error: String::new(),
            }
        }
        Err(PowerError::NotConnected) => reply(
            Status::NotConnected,
            format!("device {guid} disconnected before the command ran"),
        ),
        Err(e @ PowerError::Timeout(_)) => reply(Status::Timeout, e.to_string()),
        Err(e @ PowerError::Failed(_)) => reply(Status::Failed, e.to_string()),
    })
}

async fn handle(
    mps: Mps,
    bus: Bus,
    view: Arc<FleetView>,
    guid: String,
    delivery: Delivery,
    _permit: OwnedSemaphorePermit,
) {
    let Some(answer) = decide(&mps, &view, &guid, &delivery).await else {
        return;
    };
    if delivery.response_topic.is_none() {
        tracing::info!(
            guid,
            status = answer.status,
            "command without a response topic; nobody to answer"
        );
        return;
    }
    if let Err(error) = bus.reply(&delivery, &answer).await {
        tracing::warn!(guid, %error, "command reply not sent");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn return_values_of_every_power_body_shape() {
        let rest = json!({"Header": {}, "Body": {"ReturnValue": 0, "ReturnValueStr": "SUCCESS"}});
        assert_eq!(return_value(&rest), (0, "SUCCESS".into()));
        let invalid = json!({"Body": {"RequestPowerStateChange_OUTPUT": {"ReturnValue": 36, "ReturnValueStr": "INVALID_PARAMETER"}}});
        assert_eq!(return_value(&invalid), (36, "INVALID_PARAMETER".into()));
        assert_eq!(return_value(&json!({})).0, -1);
    }

    #[test]
    fn power_actions_are_the_rest_route_s() {
        for a in [2, 5, 8, 10, 100, 401, 500, 501] {
            assert!(is_power_action(a), "{a}");
        }
        for a in [0, 1, 9, 99, 102, 999, -8] {
            assert!(!is_power_action(a), "{a}");
        }
    }
}
