//! Batched keep-alive bookkeeping. Every CIRA keep-alive (about one per device per 30 s) used to be
//! one UPDATE in the reference; here the guids are collected and written with one statement per
//! flush interval, so 10,000 devices cost one UPDATE every few seconds instead of ~330 per second.
//!
//! The same writer repairs rows the database could not take while it was down: a batch that fails is
//! kept for the next flush, and the connects and disconnects the registry could not write are written
//! as the tunnels stand at the next flush, so no row stays connected for a device that is not.

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
    // Devices whose connect or disconnect could not be written (the database was down) are written
    // now, as their tunnels stand now.
    let unwritten = registry.take_unwritten();
    let mut gone: Vec<String> = unwritten
        .iter()
        .filter(|g| !still_here(g))
        .cloned()
        .collect();
    pending.extend(unwritten);
    let batch: Vec<String> = pending.drain().filter(|g| still_here(g)).collect();
    if !batch.is_empty() {
        match registry.mark_seen(&batch, instance).await {
            Ok(n) => tracing::debug!(devices = batch.len(), rows = n, "lastseen batch written"),
            Err(e) if e.is_unavailable() => {
                // Kept for the next flush: rows connected during the outage get written then.
                tracing::warn!(devices = batch.len(), error = %e, "lastseen batch failed; retried with the next one");
                pending.extend(batch.iter().cloned());
            }
            Err(e) => tracing::warn!(devices = batch.len(), error = %e, "lastseen batch failed"),
        }
        // A tunnel that ended between the check above and the batch's UPDATE had its disconnect
        // written first and then overwritten as connected: write the disconnect again. (One that ends
        // later writes its own disconnect after this batch.)
        gone.extend(batch.into_iter().filter(|g| !still_here(g)));
    }
    for guid in gone {
        match registry.mark_disconnected_from(&guid, instance).await {
            Ok(_) => {}
            Err(e) if e.is_unavailable() => {
                tracing::warn!(guid, error = %e, "marking a device disconnected failed; retried with the next batch");
                registry.defer(&guid);
            }
            Err(e) => tracing::warn!(guid, error = %e, "marking a device disconnected failed"),
        }
    }
}
