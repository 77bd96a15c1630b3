//! Acknowledgements in the order the broker delivered. MQTT requires a client to acknowledge QoS 1
//! messages in the order it received them (MQTT 3.1.1 §4.6, and rumqttd drops a client that does not),
//! while consumers finish their deliveries in any order. Each delivery takes a slot when it arrives;
//! acknowledgements leave when every earlier slot is done.
//!
//! An acknowledgement must never be dropped: the broker does not send a QoS 1 message again on the same
//! connection, so a lost PUBACK leaves that message unacknowledged for the rest of the connection.
//! Mosquitto stopped delivering a 50,000-event burst for good once a few thousand had been lost to
//! rumqttc's full request queue (its event loop takes one request per turn but reads many publishes
//! per turn). Finished acknowledgements therefore go, in order, through an unbounded queue to a task
//! that waits for room in rumqttc's queue.

use std::{
    collections::VecDeque,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
};

use rumqttc::v5::{AsyncClient, mqttbytes::v5::Publish};
use tokio::sync::mpsc;

#[derive(Default)]
struct Queue {
    /// Bumped at every (re)connection: slots of an older connection are never acknowledged on a newer
    /// one (their packet ids mean nothing there; the broker sends those messages again).
    generation: u64,
    first_slot: u64,
    /// Slots from `first_slot` on: the publish to acknowledge, and whether its consumers are done.
    slots: VecDeque<(Publish, bool)>,
}

#[derive(Clone)]
pub(crate) struct AckQueue {
    queue: Arc<Mutex<Queue>>,
    /// Acknowledgements due, in order, with the generation they belong to, for [`forward`].
    due: mpsc::UnboundedSender<(u64, Publish)>,
}

impl AckQueue {
    /// Also starts the task that hands acknowledgements to the MQTT client; it ends when the last
    /// `AckQueue` (the bus's or a delivery's) is gone, or with the MQTT event loop.
    pub fn new(client: AsyncClient) -> Self {
        let queue: Arc<Mutex<Queue>> = Arc::default();
        let (due, due_rx) = mpsc::unbounded_channel();
        tokio::spawn(forward(client, queue.clone(), due_rx));
        AckQueue { queue, due }
    }

    /// Forgets the slots of the previous connection.
    pub fn reset(&self) {
        let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        queue.generation += 1;
        queue.first_slot += queue.slots.len() as u64;
        queue.slots.clear();
    }

    /// Takes the next slot for a delivery that needs an acknowledgement.
    pub fn enqueue(&self, publish: Publish) -> Slot {
        let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        let slot = queue.first_slot + queue.slots.len() as u64;
        queue.slots.push_back((publish, false));
        Slot {
            acks: self.clone(),
            generation: queue.generation,
            slot,
            kept: AtomicBool::new(false),
        }
    }

    fn done(&self, generation: u64, slot: u64) {
        let mut queue = self.queue.lock().unwrap_or_else(|e| e.into_inner());
        if generation != queue.generation || slot < queue.first_slot {
            return;
        }
        let index = (slot - queue.first_slot) as usize;
        if let Some(entry) = queue.slots.get_mut(index) {
            entry.1 = true;
        }
        while queue.slots.front().is_some_and(|(_, done)| *done) {
            if let Some((publish, _)) = queue.slots.pop_front() {
                // Queued under the lock, so acknowledgements keep the order of the slots.
                let _ = self.due.send((queue.generation, publish));
            }
            queue.first_slot += 1;
        }
    }
}

/// Hands due acknowledgements to the MQTT client in order, waiting while its request queue is full
/// (never dropping one, see the module's notes). Those of an older connection are skipped: their packet
/// ids mean nothing on the new one, and the broker sends those messages again.
async fn forward(
    client: AsyncClient,
    queue: Arc<Mutex<Queue>>,
    mut due: mpsc::UnboundedReceiver<(u64, Publish)>,
) {
    while let Some((generation, publish)) = due.recv().await {
        let current = queue.lock().unwrap_or_else(|e| e.into_inner()).generation;
        if generation != current {
            continue;
        }
        if client.ack(&publish).await.is_err() {
            // The event loop is gone: the bus has shut down.
            return;
        }
    }
}

/// A delivery's place in the acknowledgement order, released when the last copy of the delivery drops.
pub(crate) struct Slot {
    acks: AckQueue,
    generation: u64,
    slot: u64,
    /// Never acknowledged: the broker sends the message again on the next session.
    kept: AtomicBool,
}

impl Slot {
    pub(crate) fn keep_unacknowledged(&self) {
        self.kept.store(true, Ordering::SeqCst);
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        if !self.kept.load(Ordering::SeqCst) {
            self.acks.done(self.generation, self.slot);
        }
    }
}
