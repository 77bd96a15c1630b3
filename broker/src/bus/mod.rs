//! The bus client every service uses: MQTT 5 over TLS (rumqttc, ring provider), QoS 1, CloudEvents
//! binary mode, a durable outbox in front of every publish, reconnection with backoff, a persistent
//! session with re-subscription whenever the broker kept none, per-subscription duplicate dropping by
//! event id, request/response over MQTT 5 response topics, and a retained last will.

mod acks;
mod config;
mod delivery;
mod driver;
mod writer;

use std::{
    collections::{BTreeMap, HashMap, VecDeque},
    sync::{Arc, Mutex, MutexGuard},
    time::Duration,
};

use bytes::Bytes;
use rumqttc::v5::{
    AsyncClient, MqttOptions,
    mqttbytes::{QoS, v5::LastWill as MqttLastWill, v5::LastWillProperties},
};
use schemas::{CloudEvent, Event, Topic, Topics};
use tokio::sync::{Notify, mpsc, oneshot, watch};
use tokio_util::sync::CancellationToken;

pub use config::{BrokerUrl, BrokerUrlError, BusConfig, LastWill};
pub use delivery::{Delivery, DeliveryError, Subscription};

use crate::outbox::{self, OutboxError, OutboxRecord, OutboxStore};
use delivery::SeenIds;

/// Publishes handed to the MQTT client and not yet acknowledged, at most.
const WINDOW: usize = 256;
/// Event ids each subscription remembers to drop duplicates.
const SEEN_IDS: usize = 100_000;
/// Messages no subscription wants yet are kept this long (unacknowledged) for one made soon after:
/// a persistent session delivers what it queued the moment the bus connects, before the service has
/// subscribed.
const UNCLAIMED_FOR: Duration = Duration::from_secs(10);
const UNCLAIMED_MAX: usize = 10_000;
/// How long `connect` waits for the first connection before returning an offline bus.
const FIRST_CONNECT_WAIT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum BusError {
    #[error("broker {url}: {reason}")]
    Refused { url: String, reason: String },
    #[error("broker {url} is not reachable: {reason}")]
    Unreachable { url: String, reason: String },
    #[error("mqtts needs the CA certificate that signed the broker's certificate")]
    MissingCa,
    #[error("the broker's CA certificate is not usable: {0}")]
    BadCa(#[from] certs::CertError),
    #[error(transparent)]
    Outbox(#[from] OutboxError),
    #[error(transparent)]
    Topic(#[from] schemas::TopicError),
    #[error("subscription to {filter} refused by the broker: {reason}")]
    SubscriptionRefused { filter: String, reason: String },
    #[error("no answer within {0:?}")]
    Timeout(Duration),
    #[error("the request had no response topic to answer to")]
    NoResponseTopic,
    #[error(transparent)]
    Reply(#[from] DeliveryError),
    #[error("the bus is shut down")]
    Closed,
}

/// A connection to the broker, cheap to clone.
#[derive(Clone)]
pub struct Bus {
    inner: Arc<Inner>,
}

struct Inner {
    client: AsyncClient,
    acks: acks::AckQueue,
    url: String,
    topics: Topics,
    source: String,
    reply_topic: String,
    last_will: Option<LastWill>,
    outbox: Box<dyn OutboxStore>,
    /// The next sequence number; taken together with the queueing of the record for the outbox writer,
    /// so records are stored and sent in the order they were published.
    next_seq: Mutex<u64>,
    appends: mpsc::UnboundedSender<Append>,
    state: Mutex<State>,
    connected: watch::Sender<bool>,
    drained: Notify,
    /// Wakes the outbox writer: the acknowledged position moved.
    outbox_wake: Notify,
    /// Set by `shutdown` before it disconnects, so the driver ends quietly.
    closing: std::sync::atomic::AtomicBool,
    /// Successful connections so far (1 + reconnections).
    connections: std::sync::atomic::AtomicU64,
    stop: CancellationToken,
}

#[derive(Default)]
struct State {
    connected: bool,
    /// Every record not yet acknowledged by the broker, by sequence number.
    outstanding: BTreeMap<u64, Arc<OutboxRecord>>,
    /// The next sequence number to hand to the MQTT client on this connection.
    next_to_send: u64,
    /// Handed over, waiting to learn their packet ids.
    handed: VecDeque<u64>,
    /// Packet id → sequence number, waiting for PUBACK.
    inflight: HashMap<u16, u64>,
    /// Every record up to this one may be sent: it is stored in the outbox, or the store failed or
    /// stalled and it is sent from memory until the store takes it (see `writer`).
    sendable_through: u64,
    /// Publishers waiting to learn that their event is safe: stored, or acknowledged by the broker.
    safe_waiters: HashMap<u64, oneshot::Sender<Result<(), String>>>,
    /// Highest sequence number every record up to which is acknowledged.
    acked_through: u64,
    highest_seq: u64,
    ack_unsaved: bool,
    subscriptions: Vec<SubscriptionEntry>,
    /// SUBSCRIBE packets in the order they were queued; `Some` for those a caller waits on.
    subscribe_waiters: VecDeque<Option<oneshot::Sender<Result<(), String>>>>,
    suback_waiters: HashMap<u16, oneshot::Sender<Result<(), String>>>,
    requests: HashMap<Bytes, oneshot::Sender<Delivery>>,
    /// Received, matched by no subscription yet, not acknowledged; oldest first.
    unclaimed: VecDeque<(std::time::Instant, Delivery)>,
}

impl State {
    /// Keeps a message no subscription took, for one made soon after.
    fn keep_unclaimed(&mut self, delivery: Delivery) {
        if self.unclaimed.len() == UNCLAIMED_MAX {
            self.unclaimed.pop_front();
        }
        self.unclaimed
            .push_back((std::time::Instant::now(), delivery));
    }

    /// Lets go (acknowledges) of unclaimed messages nobody subscribed to in time.
    fn expire_unclaimed(&mut self) {
        while self
            .unclaimed
            .front()
            .is_some_and(|(at, _)| at.elapsed() > UNCLAIMED_FOR)
        {
            if let Some((_, delivery)) = self.unclaimed.pop_front() {
                tracing::debug!(topic = %delivery.topic, "no subscription took a message; dropping it");
            }
        }
    }

    /// Takes the unclaimed messages a new subscription matches, oldest first.
    fn claim(&mut self, filter: &str) -> Vec<Delivery> {
        let (claimed, kept): (Vec<_>, Vec<_>) = std::mem::take(&mut self.unclaimed)
            .into_iter()
            .partition(|(_, d)| crate::topic_filter::matches(filter, &d.topic));
        self.unclaimed = kept.into();
        claimed.into_iter().map(|(_, d)| d).collect()
    }
}

/// Resolves when a queued event is safe: stored in the outbox (from then on it survives a restart), or
/// acknowledged by the broker, whichever comes first. While the outbox store fails, events are sent
/// from memory and this resolves once the broker has them.
pub struct Stored(oneshot::Receiver<Result<(), String>>);

impl Stored {
    pub async fn wait(self) -> Result<(), BusError> {
        match self.0.await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(reason)) => Err(BusError::Outbox(OutboxError::Io {
                path: "outbox".into(),
                source: std::io::Error::other(reason),
            })),
            Err(_) => Err(BusError::Closed),
        }
    }
}

/// A record waiting for the outbox writer.
struct Append {
    seq: u64,
    record: Arc<OutboxRecord>,
}

/// Records the outbox writer takes from its queue per turn at most (a store call takes every record
/// not stored yet).
const APPEND_BATCH: usize = 512;

struct SubscriptionEntry {
    filter: String,
    tx: mpsc::Sender<Delivery>,
    seen: SeenIds,
}

impl Inner {
    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Hands stored outstanding records to the MQTT client while the window allows.
    fn hand_over(&self, state: &mut State) {
        while state.connected && state.handed.len() + state.inflight.len() < WINDOW {
            if state.next_to_send > state.sendable_through {
                break;
            }
            let Some((&seq, record)) = state
                .outstanding
                .range(state.next_to_send..=state.sendable_through)
                .next()
            else {
                break;
            };
            let properties = rumqttc::v5::mqttbytes::v5::PublishProperties {
                user_properties: record.properties.clone(),
                // A cleared retained message carries nothing, not even a content type.
                content_type: Some(record.content_type.clone()).filter(|c| !c.is_empty()),
                response_topic: record.response_topic.clone(),
                correlation_data: record.correlation.clone(),
                ..Default::default()
            };
            let sent = self.client.try_publish_with_properties(
                record.topic.clone(),
                QoS::AtLeastOnce,
                record.retain,
                record.payload.clone(),
                properties,
            );
            if sent.is_err() {
                // The request queue is full; the next acknowledgement tries again.
                break;
            }
            state.handed.push_back(seq);
            state.next_to_send = seq + 1;
        }
    }
}

fn mqtt_options(config: &BusConfig) -> Result<MqttOptions, BusError> {
    let mut options = MqttOptions::new(&config.client_id, &config.url.host, config.url.port);
    options
        .set_credentials(&config.username, &config.password)
        .set_keep_alive(config.keep_alive)
        .set_manual_acks(true)
        .set_request_channel_capacity(4 * WINDOW + 1024)
        .set_max_packet_size(Some(1 << 20))
        .set_connection_timeout(10);
    let expiry = config.session_expiry.as_secs();
    options.set_clean_start(expiry == 0);
    if expiry > 0 {
        options.set_session_expiry_interval(Some(expiry.min(u64::from(u32::MAX)) as u32));
    }
    let mut network = rumqttc::NetworkOptions::new();
    network.set_tcp_nodelay(true);
    options.set_network_options(network);
    if config.url.tls {
        let ca = config.ca_pem.as_deref().ok_or(BusError::MissingCa)?;
        let tls = certs::client_config(ca)?;
        options.set_transport(rumqttc::Transport::tls_with_config(
            rumqttc::TlsConfiguration::Rustls(Arc::new(tls)),
        ));
    }
    if let Some(will) = &config.last_will {
        let properties = LastWillProperties {
            content_type: Some(schemas::CONTENT_TYPE.to_owned()),
            user_properties: will.event.to_user_properties(),
            delay_interval: None,
            payload_format_indicator: None,
            message_expiry_interval: None,
            response_topic: None,
            correlation_data: None,
        };
        options.set_last_will(MqttLastWill::new(
            config.topics.render(&will.topic),
            will.payload.clone(),
            QoS::AtLeastOnce,
            true,
            Some(properties),
        ));
    }
    Ok(options)
}

fn subject(topic: &Topic) -> Option<String> {
    match topic {
        Topic::Presence(guid) | Topic::DeviceEvent(guid, _) | Topic::Command(guid, _) => {
            Some(guid.to_string())
        }
        Topic::Status { .. } | Topic::Reply { .. } => None,
    }
}

fn retained(topic: &Topic) -> bool {
    matches!(topic, Topic::Presence(_) | Topic::Status { .. })
}

impl Bus {
    /// Opens the outbox, starts the connection and waits up to 5 s for the broker. A broker that
    /// refuses the credentials or presents an untrusted certificate is an error; one that is merely
    /// unreachable is not: the bus keeps trying and events wait in the outbox.
    pub async fn connect(config: BusConfig) -> Result<Bus, BusError> {
        let options = mqtt_options(&config)?;
        let (client, eventloop) = AsyncClient::new(options.clone(), 4 * WINDOW + 1024);
        let outbox = outbox::open(config.outbox, &config.client_id).await?;
        let backlog = outbox.backlog().await?;

        let mut state = State::default();
        if let Some((first, _)) = backlog.records.first() {
            state.acked_through = first - 1;
            state.next_to_send = *first;
        }
        state.sendable_through = backlog.next_seq - 1;
        state.highest_seq = backlog.next_seq - 1;
        for (seq, record) in backlog.records {
            state.outstanding.insert(seq, Arc::new(record));
        }
        let (appends, append_rx) = mpsc::unbounded_channel();
        let reply_topic = config
            .topics
            .render(&config.topics.reply(&config.client_id)?);
        let inner = Arc::new(Inner {
            acks: acks::AckQueue::new(client.clone()),
            client,
            url: config.url.to_string(),
            topics: config.topics,
            source: config.source,
            reply_topic,
            last_will: config.last_will,
            outbox,
            next_seq: Mutex::new(backlog.next_seq),
            appends,
            state: Mutex::new(state),
            connected: watch::channel(false).0,
            drained: Notify::new(),
            outbox_wake: Notify::new(),
            closing: std::sync::atomic::AtomicBool::new(false),
            connections: std::sync::atomic::AtomicU64::new(0),
            stop: CancellationToken::new(),
        });
        tokio::spawn(writer::run(inner.clone(), append_rx));
        let (first_tx, first_rx) = oneshot::channel();
        tokio::spawn(driver::drive(inner.clone(), eventloop, first_tx));
        match tokio::time::timeout(FIRST_CONNECT_WAIT, first_rx).await {
            Ok(Ok(Err(error))) => {
                inner.stop.cancel();
                Err(error)
            }
            Ok(Ok(Ok(()))) => Ok(Bus { inner }),
            Ok(Err(_)) | Err(_) => {
                tracing::warn!(broker = %inner.url, "MQTT broker not reachable yet; events wait in the outbox");
                Ok(Bus { inner })
            }
        }
    }

    pub fn topics(&self) -> &Topics {
        &self.inner.topics
    }

    /// The CloudEvents source this client publishes as.
    pub fn source(&self) -> &str {
        &self.inner.source
    }

    pub fn is_connected(&self) -> bool {
        *self.inner.connected.borrow()
    }

    /// How many times the bus has connected (1 + reconnections): a health figure.
    pub fn connections(&self) -> u64 {
        self.inner
            .connections
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Waits until connected to the broker.
    pub async fn wait_connected(&self, timeout: Duration) -> Result<(), BusError> {
        let mut rx = self.inner.connected.subscribe();
        tokio::time::timeout(timeout, rx.wait_for(|c| *c))
            .await
            .map_err(|_| BusError::Unreachable {
                url: self.inner.url.clone(),
                reason: format!("no connection within {timeout:?}"),
            })?
            .map_err(|_| BusError::Closed)?;
        Ok(())
    }

    /// Publishes an event on a topic of the tree (retained for presence and status), durably: once this
    /// returns, the event is in the outbox and will reach the broker (while the outbox's store fails:
    /// the broker has it). Returns the event id.
    pub async fn publish<E: Event>(&self, topic: &Topic, event: &E) -> Result<String, BusError> {
        let (id, stored) = self.publish_queued(topic, event)?;
        stored.wait().await?;
        Ok(id)
    }

    /// Queues an event for the outbox and returns at once with its id and a handle that resolves when
    /// it is stored. Events keep the order they were queued in; a producer of bursts (thousands of
    /// connects) queues them all and the outbox stores them in a few writes, where awaiting each
    /// `publish` would cost one write per event.
    pub fn publish_queued<E: Event>(
        &self,
        topic: &Topic,
        event: &E,
    ) -> Result<(String, Stored), BusError> {
        let mut attributes = CloudEvent::new(&self.inner.source, E::TYPE);
        attributes.subject = subject(topic);
        let id = attributes.id.clone();
        let stored = self.queue(OutboxRecord {
            topic: self.inner.topics.render(topic),
            retain: retained(topic),
            properties: attributes.to_user_properties(),
            content_type: schemas::CONTENT_TYPE.to_owned(),
            response_topic: None,
            correlation: None,
            payload: Bytes::from(event.encode_to_vec()),
        })?;
        Ok((id, stored))
    }

    /// Removes the retained message of a presence or status topic (an empty retained publish), with
    /// the same durability and order as events: a device that no longer exists (deactivated) leaves
    /// no presence behind for late subscribers. Subscribers see an empty payload without attributes.
    pub fn clear_retained_queued(&self, topic: &Topic) -> Result<Stored, BusError> {
        debug_assert!(retained(topic), "only retained topics can be cleared");
        self.queue(OutboxRecord {
            topic: self.inner.topics.render(topic),
            retain: true,
            properties: Vec::new(),
            content_type: String::new(),
            response_topic: None,
            correlation: None,
            payload: Bytes::new(),
        })
    }

    /// Publishes a JSON document on a topic outside the tree (the reference's `mps/events` and
    /// `rps/events`), with the same durability.
    pub async fn publish_json(
        &self,
        topic: &str,
        json: &serde_json::Value,
    ) -> Result<(), BusError> {
        self.enqueue(OutboxRecord {
            topic: topic.to_owned(),
            retain: false,
            properties: Vec::new(),
            content_type: "application/json".to_owned(),
            response_topic: None,
            correlation: None,
            payload: Bytes::from(json.to_string()),
        })
        .await
    }

    async fn enqueue(&self, record: OutboxRecord) -> Result<(), BusError> {
        self.queue(record)?.wait().await
    }

    /// Numbers a record and queues it for the outbox writer (which sends it once stored).
    fn queue(&self, record: OutboxRecord) -> Result<Stored, BusError> {
        if self.inner.stop.is_cancelled() {
            return Err(BusError::Closed);
        }
        let (stored, stored_rx) = oneshot::channel();
        {
            let mut next = self
                .inner
                .next_seq
                .lock()
                .unwrap_or_else(|e| e.into_inner());
            let seq = *next;
            *next += 1;
            let record = Arc::new(record);
            let mut state = self.inner.state();
            state.highest_seq = seq;
            state.outstanding.insert(seq, record.clone());
            state.safe_waiters.insert(seq, stored);
            drop(state);
            self.inner
                .appends
                .send(Append { seq, record })
                .map_err(|_| BusError::Closed)?;
        }
        Ok(Stored(stored_rx))
    }

    /// Receives every message matching `filter` (wildcards and `$share/<group>/` allowed). When the bus
    /// is connected this returns after the broker confirmed the subscription.
    pub async fn subscribe(&self, filter: &str) -> Result<Subscription, BusError> {
        let (tx, rx) = mpsc::channel(1024);
        let (confirmed, claimed) = {
            let mut state = self.inner.state();
            let mut seen = SeenIds::new(SEEN_IDS);
            let claimed: Vec<Delivery> = state
                .claim(filter)
                .into_iter()
                .filter(|d| d.event.as_ref().is_none_or(|e| seen.first_time(&e.id)))
                .collect();
            state.subscriptions.push(SubscriptionEntry {
                filter: filter.to_owned(),
                tx: tx.clone(),
                seen,
            });
            if state.connected {
                let (done_tx, done_rx) = oneshot::channel();
                if self
                    .inner
                    .client
                    .try_subscribe(filter, QoS::AtLeastOnce)
                    .is_ok()
                {
                    state.subscribe_waiters.push_back(Some(done_tx));
                    (Some(done_rx), claimed)
                } else {
                    (None, claimed)
                }
            } else {
                (None, claimed)
            }
        };
        for delivery in claimed {
            let _ = tx.send(delivery).await;
        }
        // Anything but a refusal is fine: confirmed, or the connection dropped meanwhile (the bus
        // subscribes again on reconnect).
        if let Some(done) = confirmed
            && let Ok(Ok(Err(reason))) = tokio::time::timeout(Duration::from_secs(10), done).await
        {
            self.inner
                .state()
                .subscriptions
                .retain(|s| s.filter != filter);
            return Err(BusError::SubscriptionRefused {
                filter: filter.to_owned(),
                reason,
            });
        }
        Ok(Subscription {
            filter: filter.to_owned(),
            rx,
            bus: Arc::downgrade(&self.inner),
        })
    }

    /// Sends a command and waits for its reply (MQTT 5 response topic and correlation data).
    pub async fn request<Req: Event, Resp: Event>(
        &self,
        topic: &Topic,
        request: &Req,
        timeout: Duration,
    ) -> Result<Resp, BusError> {
        let correlation = Bytes::copy_from_slice(uuid::Uuid::new_v4().as_bytes());
        let (tx, rx) = oneshot::channel();
        self.inner.state().requests.insert(correlation.clone(), tx);
        let mut attributes = CloudEvent::new(&self.inner.source, Req::TYPE);
        attributes.subject = subject(topic);
        let sent = self
            .enqueue(OutboxRecord {
                topic: self.inner.topics.render(topic),
                retain: false,
                properties: attributes.to_user_properties(),
                content_type: schemas::CONTENT_TYPE.to_owned(),
                response_topic: Some(self.inner.reply_topic.clone()),
                correlation: Some(correlation.clone()),
                payload: Bytes::from(request.encode_to_vec()),
            })
            .await;
        let outcome = match sent {
            Ok(()) => tokio::time::timeout(timeout, rx).await,
            Err(error) => {
                self.inner.state().requests.remove(&correlation);
                return Err(error);
            }
        };
        match outcome {
            Ok(Ok(reply)) => Ok(reply.decode::<Resp>()?),
            Ok(Err(_)) => Err(BusError::Closed),
            Err(_) => {
                self.inner.state().requests.remove(&correlation);
                Err(BusError::Timeout(timeout))
            }
        }
    }

    /// Answers a request received in `to`.
    pub async fn reply<Resp: Event>(&self, to: &Delivery, response: &Resp) -> Result<(), BusError> {
        let topic = to.response_topic.clone().ok_or(BusError::NoResponseTopic)?;
        if topic.is_empty() || topic.contains(['+', '#']) {
            return Err(BusError::NoResponseTopic);
        }
        let attributes = CloudEvent::new(&self.inner.source, Resp::TYPE);
        self.enqueue(OutboxRecord {
            topic,
            retain: false,
            properties: attributes.to_user_properties(),
            content_type: schemas::CONTENT_TYPE.to_owned(),
            response_topic: None,
            correlation: to.correlation.clone(),
            payload: Bytes::from(response.encode_to_vec()),
        })
        .await
    }

    /// Waits until the broker has acknowledged everything published so far.
    pub async fn flush(&self, timeout: Duration) -> Result<(), BusError> {
        tokio::time::timeout(timeout, async {
            loop {
                let drained = self.inner.drained.notified();
                if self.inner.state().outstanding.is_empty() {
                    return;
                }
                drained.await;
            }
        })
        .await
        .map_err(|_| BusError::Timeout(timeout))
    }

    /// Number of events waiting for the broker's acknowledgement.
    pub fn backlog(&self) -> usize {
        self.inner.state().outstanding.len()
    }

    /// Leaves cleanly: publishes the last-will state itself (a clean disconnect suppresses the will),
    /// waits up to `timeout` for the outbox to drain (what remains is sent after the next start), then
    /// disconnects.
    pub async fn shutdown(self, timeout: Duration) {
        if let Some(will) = &self.inner.last_will {
            let mut event = CloudEvent::new(&self.inner.source, &will.event.ty);
            event.subject = will.event.subject.clone();
            let record = OutboxRecord {
                topic: self.inner.topics.render(&will.topic),
                retain: true,
                properties: event.to_user_properties(),
                content_type: schemas::CONTENT_TYPE.to_owned(),
                response_topic: None,
                correlation: None,
                payload: Bytes::from(will.payload.clone()),
            };
            if let Err(error) = self.enqueue(record).await {
                tracing::warn!(%error, "could not publish the offline status");
            }
        }
        if let Err(error) = self.flush(timeout).await {
            tracing::warn!(%error, backlog = self.backlog(), "shutting down with events still in the outbox");
        }
        self.inner
            .closing
            .store(true, std::sync::atomic::Ordering::SeqCst);
        let _ = self.inner.client.disconnect().await;
        tokio::time::sleep(Duration::from_millis(50)).await;
        self.inner.stop.cancel();
    }
}
