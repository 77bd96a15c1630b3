//! The outbox's only writer: stores queued records in batches (a burst costs one write or one INSERT),
//! lets them be sent once stored, and records how far the broker has acknowledged.
//!
//! The store may fail or stall: the outbox of a service on Postgres lives in that database, which can
//! restart. Events are then neither dropped nor held back: a batch the store refused, or has not
//! taken within [`STORE_GRACE`], is sent from memory at once, and stored as soon as the store answers
//! again (minus what the broker acknowledged meanwhile: delivered, nothing left to keep). Publishers
//! waiting on [`super::Stored`] learn that their event is safe when it is stored or acknowledged,
//! whichever comes first. Only a crash of the process while the store is down can lose events: those
//! the broker had not acknowledged yet.
//!
//! Store calls run one at a time in their own task, so a store that hangs never stops the MQTT
//! connection or new events; a record's INSERT always precedes the DELETE of its acknowledgement.

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use tokio::{sync::mpsc, task::JoinHandle};

use super::{APPEND_BATCH, Append, Inner};
use crate::outbox::{OutboxError, OutboxRecord};

/// A store slower than this no longer holds events back: they are sent, and stored when it answers.
pub(super) const STORE_GRACE: Duration = Duration::from_secs(1);
/// First pause before storing again after a failure; it doubles up to [`RETRY_MAX`].
const RETRY_FIRST: Duration = Duration::from_millis(250);
const RETRY_MAX: Duration = Duration::from_secs(5);
/// Saving the acknowledged position costs a file sync or a DELETE; do it at most this often while busy.
const SAVE_ACKS_EVERY: Duration = Duration::from_millis(100);
/// How long a last store call may take at shutdown.
const FINAL_WAIT: Duration = Duration::from_secs(2);

enum Op {
    Store { through: u64, count: usize },
    Acknowledge(u64),
}

/// A store call running in its own task, what it does, and when it started.
type InFlight = (JoinHandle<Result<(), OutboxError>>, Op, Instant);

struct Writer {
    inner: Arc<Inner>,
    /// Received and not stored yet, in sequence order (including those of a store call in flight).
    unstored: Vec<(u64, Arc<OutboxRecord>)>,
    in_flight: Option<InFlight>,
    /// The last store call failed: events are sent as they come and stored at the next retry.
    degraded: bool,
    retry_at: Option<tokio::time::Instant>,
    backoff: Duration,
    last_save: Instant,
}

pub(super) async fn run(inner: Arc<Inner>, mut queue: mpsc::UnboundedReceiver<Append>) {
    let mut writer = Writer {
        inner,
        unstored: Vec::new(),
        in_flight: None,
        degraded: false,
        retry_at: None,
        backoff: RETRY_FIRST,
        last_save: Instant::now(),
    };
    loop {
        let overdue = writer.store_overdue_at();
        let save_at = writer.save_due_at();
        let stop = writer.inner.stop.clone();
        let wake = &writer.inner.outbox_wake;
        tokio::select! {
            biased;
            _ = stop.cancelled() => break,
            done = async { (&mut writer.in_flight.as_mut().expect("guarded").0).await }, if writer.in_flight.is_some() => {
                let (_, op, started) = writer.in_flight.take().expect("in flight");
                let result = done.unwrap_or_else(|join| Err(OutboxError::Io {
                    path: "outbox".into(),
                    source: std::io::Error::other(join.to_string()),
                }));
                writer.finished(op, started, result);
            }
            append = queue.recv() => match append {
                Some(first) => {
                    writer.unstored.push((first.seq, first.record));
                    for _ in 1..APPEND_BATCH {
                        match queue.try_recv() {
                            Ok(more) => writer.unstored.push((more.seq, more.record)),
                            Err(_) => break,
                        }
                    }
                }
                None => break,
            },
            _ = sleep_until(overdue), if overdue.is_some() => {}
            _ = sleep_until(writer.retry_at), if writer.retry_at.is_some() && writer.in_flight.is_none() => {
                writer.retry_at = None;
            }
            _ = sleep_until(save_at), if save_at.is_some() => {}
            _ = wake.notified() => {}
        }
        writer.release_if_held_back();
        writer.start_next();
    }
    writer.finish().await;
}

async fn sleep_until(at: Option<tokio::time::Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

impl Writer {
    /// When the store call in flight starts holding events back.
    fn store_overdue_at(&self) -> Option<tokio::time::Instant> {
        match &self.in_flight {
            Some((_, Op::Store { through, .. }, started))
                if !self.degraded && self.inner.state().sendable_through < *through =>
            {
                Some(tokio::time::Instant::from_std(*started + STORE_GRACE))
            }
            _ => None,
        }
    }

    /// When the throttled acknowledged position is next due, if one waits.
    fn save_due_at(&self) -> Option<tokio::time::Instant> {
        if self.in_flight.is_some() || self.retry_at.is_some() || !self.inner.state().ack_unsaved {
            return None;
        }
        Some(tokio::time::Instant::from_std(
            self.last_save + SAVE_ACKS_EVERY,
        ))
    }

    /// Lets every unstored record be sent when the store failed or is slow.
    fn release_if_held_back(&mut self) {
        let Some(&(last, _)) = self.unstored.last() else {
            return;
        };
        let slow = self.in_flight.as_ref().is_some_and(|(_, op, started)| {
            matches!(op, Op::Store { .. }) && started.elapsed() >= STORE_GRACE
        });
        if self.degraded || slow {
            self.release(last);
        }
    }

    /// Records up to `through` may be sent (stored or not).
    fn release(&self, through: u64) {
        let mut state = self.inner.state();
        if state.sendable_through < through {
            state.sendable_through = through;
            self.inner.hand_over(&mut state);
        }
    }

    /// Starts the next store call unless one runs or a retry is pending: first what is unstored, then
    /// the acknowledged position.
    fn start_next(&mut self) {
        if self.in_flight.is_some() || self.retry_at.is_some() {
            return;
        }
        let op = {
            let mut state = self.inner.state();
            // Records released earlier and acknowledged since are delivered: nothing to keep.
            let released = state.sendable_through;
            self.unstored
                .retain(|(seq, _)| *seq > released || state.outstanding.contains_key(seq));
            // Under a steady stream of events stores would follow each other without a gap: the
            // acknowledged position still goes every `SAVE_ACKS_EVERY` between them, so delivered rows
            // do not pile up. (Only acknowledged records are deleted, and none of those waits to be
            // stored: an acknowledgement never overtakes the INSERT of its record.)
            let ack_due = state.ack_unsaved
                && (state.outstanding.is_empty() || self.last_save.elapsed() >= SAVE_ACKS_EVERY);
            match self.unstored.last() {
                Some(_) if ack_due && !self.degraded => {
                    state.ack_unsaved = false;
                    Some(Op::Acknowledge(state.acked_through))
                }
                Some(&(through, _)) => Some(Op::Store {
                    through,
                    count: self.unstored.len(),
                }),
                None if ack_due => {
                    state.ack_unsaved = false;
                    Some(Op::Acknowledge(state.acked_through))
                }
                None => None,
            }
        };
        let Some(op) = op else { return };
        let inner = self.inner.clone();
        let task = match &op {
            Op::Store { .. } => {
                let records = self.unstored.clone();
                tokio::spawn(async move { inner.outbox.append(&records).await })
            }
            Op::Acknowledge(through) => {
                let through = *through;
                self.last_save = Instant::now();
                tokio::spawn(async move { inner.outbox.acknowledge(through).await })
            }
        };
        self.in_flight = Some((task, op, Instant::now()));
    }

    fn finished(&mut self, op: Op, started: Instant, result: Result<(), OutboxError>) {
        match (op, result) {
            (Op::Store { through, count }, Ok(())) => {
                let stored: Vec<u64> = self
                    .unstored
                    .iter()
                    .map(|(seq, _)| *seq)
                    .take_while(|seq| *seq <= through)
                    .collect();
                self.unstored.retain(|(seq, _)| *seq > through);
                {
                    let mut state = self.inner.state();
                    for seq in &stored {
                        if let Some(waiter) = state.safe_waiters.remove(seq) {
                            let _ = waiter.send(Ok(()));
                        }
                    }
                }
                self.release(through);
                if self.degraded {
                    tracing::info!(
                        events = count,
                        "the outbox store answers again; the events sent meanwhile and not yet acknowledged are stored"
                    );
                } else if started.elapsed() >= STORE_GRACE {
                    tracing::warn!(
                        events = count,
                        took_ms = started.elapsed().as_millis() as u64,
                        "the outbox store is slow; events were sent before they were stored"
                    );
                }
                self.recovered();
            }
            (Op::Store { through, count }, Err(error)) => {
                if self.degraded {
                    tracing::debug!(%error, events = count, "the outbox store still fails");
                } else {
                    tracing::error!(
                        %error,
                        events = count,
                        "cannot store events in the outbox; they are sent from memory and stored once it answers again"
                    );
                }
                self.release(through);
                self.failed();
            }
            (Op::Acknowledge(_), Ok(())) => {
                if self.unstored.is_empty() {
                    self.recovered();
                }
            }
            (Op::Acknowledge(through), Err(error)) => {
                // The events were delivered; at worst they are sent again after a restart and dropped as
                // duplicates by their ids.
                if !self.degraded {
                    tracing::warn!(%error, through, "cannot record delivered events in the outbox");
                }
                self.inner.state().ack_unsaved = true;
                self.failed();
            }
        }
    }

    fn failed(&mut self) {
        self.degraded = true;
        self.retry_at = Some(tokio::time::Instant::now() + self.backoff);
        self.backoff = (self.backoff * 2).min(RETRY_MAX);
    }

    fn recovered(&mut self) {
        self.degraded = false;
        self.backoff = RETRY_FIRST;
    }

    /// At shutdown: the call in flight and the acknowledged position get a short while to finish.
    async fn finish(mut self) {
        if let Some((task, op, started)) = self.in_flight.take() {
            match tokio::time::timeout(FINAL_WAIT, task).await {
                Ok(Ok(result)) => self.finished(op, started, result),
                _ => tracing::warn!("the outbox store did not answer at shutdown"),
            }
        }
        let through = {
            let mut state = self.inner.state();
            let released = state.sendable_through;
            self.unstored
                .retain(|(seq, _)| *seq > released || state.outstanding.contains_key(seq));
            let through = state.ack_unsaved.then_some(state.acked_through);
            state.ack_unsaved = false;
            through
        };
        if !self.unstored.is_empty() {
            tracing::error!(
                events = self.unstored.len(),
                "shutting down with events the outbox store never took and the broker never acknowledged: they are lost"
            );
        }
        if let Some(through) = through
            && !self.degraded
        {
            match tokio::time::timeout(FINAL_WAIT, self.inner.outbox.acknowledge(through)).await {
                Ok(Ok(())) => {}
                Ok(Err(error)) => {
                    tracing::warn!(%error, "cannot record delivered events in the outbox")
                }
                Err(_) => tracing::warn!("the outbox store did not answer at shutdown"),
            }
        }
    }
}
