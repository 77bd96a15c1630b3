//! Batched keep-alive bookkeeping. Every CIRA keep-alive (about one per device per 30 s) used to be
//! one UPDATE in the reference; here the guids are collected and written with one statement per
//! flush interval, so 10,000 devices cost one UPDATE every few seconds instead of ~330 per second.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::Registry;

#[derive(Clone)]
pub struct LastSeen {
    tx: mpsc::UnboundedSender<String>,
}

impl LastSeen {
    /// Starts the writer task; it flushes every `interval` and once more when `shutdown` fires.
    /// `still_here` filters out devices whose tunnel closed before the flush, so a late batch never
    /// marks a disconnected device connected again.
    pub fn spawn(
        registry: Registry,
        instance: String,
        interval: Duration,
        still_here: Arc<dyn Fn(&str) -> bool + Send + Sync>,
        shutdown: CancellationToken,
    ) -> Self {
        let (tx, mut rx) = mpsc::unbounded_channel::<String>();
        tokio::spawn(async move {
            let mut pending: HashSet<String> = HashSet::new();
            let mut tick = tokio::time::interval(interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tokio::select! {
                    guid = rx.recv() => match guid {
                        Some(g) => { pending.insert(g); }
                        None => break,
                    },
                    _ = tick.tick() => flush(&registry, &instance, &*still_here, &mut pending).await,
                    _ = shutdown.cancelled() => break,
                }
            }
            while let Ok(g) = rx.try_recv() {
                pending.insert(g);
            }
            flush(&registry, &instance, &*still_here, &mut pending).await;
        });
        Self { tx }
    }

    /// Records that `guid` was seen now; written with the next batch.
    pub fn seen(&self, guid: &str) {
        let _ = self.tx.send(guid.to_string());
    }
}

async fn flush(
    registry: &Registry,
    instance: &str,
    still_here: &(dyn Fn(&str) -> bool + Send + Sync),
    pending: &mut HashSet<String>,
) {
    let batch: Vec<String> = pending.drain().filter(|g| still_here(g)).collect();
    if batch.is_empty() {
        return;
    }
    match registry.mark_seen(&batch, instance).await {
        Ok(n) => tracing::debug!(devices = batch.len(), rows = n, "lastseen batch written"),
        Err(e) => tracing::warn!(devices = batch.len(), error = %e, "lastseen batch failed"),
    }
    // A tunnel that ended between the check above and the batch's UPDATE had its disconnect written
    // first and then overwritten as connected: write the disconnect again. (One that ends later writes
    // its own disconnect after this batch.)
    for guid in batch.iter().filter(|g| !still_here(g)) {
        if let Err(e) = registry.mark_disconnected(guid).await {
            tracing::warn!(guid, error = %e, "re-marking a device disconnected failed");
        }
    }
}
