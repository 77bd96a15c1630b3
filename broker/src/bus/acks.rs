//! Acknowledgements in the order the broker delivered. MQTT requires a client to acknowledge QoS 1
//! messages in the order it received them (MQTT 3.1.1 §4.6, and rumqttd drops a client that does not),
//! while consumers finish their deliveries in any order. Each delivery takes a slot when it arrives;
//! acknowledgements leave when every earlier slot is done.

use std::{
    collections::VecDeque,
    sync::{
        Arc, Mutex,
        atomic::{AtomicBool, Ordering},
    },
};

use rumqttc::v5::{AsyncClient, mqttbytes::v5::Publish};

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
    client: AsyncClient,
    queue: Arc<Mutex<Queue>>,
}

impl AckQueue {
    pub fn new(client: AsyncClient) -> Self {
        AckQueue {
            client,
            queue: Arc::default(),
        }
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
                // A full request queue only means the broker sends the message again; consumers drop
                // the duplicate by its event id.
                let _ = self.client.try_ack(&publish);
            }
            queue.first_slot += 1;
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
