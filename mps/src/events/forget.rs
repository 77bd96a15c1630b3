//! Every replica's part in a deactivation: the device is no longer managed, so no presence of it
//! stays behind. (Removing its row is one replica's job, in [`super::activation`].)
//!
//! Each instance takes every `deactivated` event (a plain subscription, not a shared one): the one
//! holding the device's tunnel closes it (AMT drops CIRA after Unprovision anyway; a tunnel whose
//! credentials are gone must not linger) and its publisher clears the retained presence when the
//! tunnel has ended; when no instance holds it, the presence is cleared at once. A tunnel opened
//! after the deactivation belongs to a new activation and is left alone.

use std::time::SystemTime;

use broker::Subscription;
use schemas::{Topics, proto};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::activation::device_of;
use super::publisher::Job;
use crate::service::Mps;

pub async fn run(
    mps: Mps,
    topics: Topics,
    mut sub: Subscription,
    jobs: mpsc::UnboundedSender<Job>,
    stop: CancellationToken,
) {
    loop {
        let next = tokio::select! {
            _ = stop.cancelled() => return,
            n = sub.next_event::<proto::DeviceDeactivated>() => n,
        };
        let Some((delivery, ev)) = next else { return };
        let Some(guid) = device_of(&topics, &delivery.topic, &ev.guid) else {
            continue;
        };
        let at = ev
            .at
            .as_ref()
            .and_then(|t| {
                let nanos = i128::from(t.seconds) * 1_000_000_000 + i128::from(t.nanos);
                time::OffsetDateTime::from_unix_timestamp_nanos(nanos).ok()
            })
            .map(SystemTime::from)
            .unwrap_or_else(SystemTime::now);
        // The publisher learns first, so the tunnel's end finds the device marked.
        let _ = jobs.send(Job::Forget {
            guid: guid.clone(),
            at,
        });
        if let Some(conn) = mps.connections().get(&guid)
            && conn.connected_at <= at
        {
            tracing::info!(guid, "deactivated device: closing its tunnel");
            conn.disconnect();
        }
    }
}
