//! The task that owns the MQTT event loop: connection state, acknowledgements, re-subscription and
//! dispatch of incoming messages.

use std::{sync::Arc, time::Duration};

use rumqttc::v5::{
    ConnectionError, Event, EventLoop,
    mqttbytes::{
        QoS,
        v5::{ConnectReturnCode, Packet, PubAckReason, Publish, SubscribeReasonCode},
    },
};
use tokio::sync::{mpsc, oneshot};

use super::{BusError, Inner, State};
use crate::{Delivery, topic_filter};

struct Backoff {
    next: Duration,
}

impl Backoff {
    const FIRST: Duration = Duration::from_millis(200);
    const MAX: Duration = Duration::from_secs(10);

    fn reset(&mut self) {
        self.next = Self::FIRST;
    }

    /// The current delay with ±20 % jitter, doubling the next one.
    fn step(&mut self) -> Duration {
        let jitter = rand::random_range(0.8..1.2);
        let delay = self.next.mul_f64(jitter);
        self.next = (self.next * 2).min(Self::MAX);
        delay
    }
}

/// A failure that retrying will not fix, in words for the operator.
fn permanent_failure(error: &ConnectionError) -> Option<String> {
    match error {
        ConnectionError::ConnectionRefused(ConnectReturnCode::BadUserNamePassword) => {
            Some("it refused the user name or password".into())
        }
        // Mosquitto answers a wrong password with "not authorized".
        ConnectionError::ConnectionRefused(ConnectReturnCode::NotAuthorized) => {
            Some("it refused this client: wrong user name or password, or not authorized".into())
        }
        ConnectionError::ConnectionRefused(code) => {
            Some(format!("it refused the connection ({code:?})"))
        }
        ConnectionError::Tls(error) => Some(format!(
            "TLS failed: {error} (does the configured CA certificate match the broker's?)"
        )),
        ConnectionError::Io(error)
            if error.kind() == std::io::ErrorKind::InvalidData
                && error.to_string().to_lowercase().contains("certificate") =>
        {
            Some(format!(
                "TLS failed: {error} (does the configured CA certificate match the broker's?)"
            ))
        }
        _ => None,
    }
}

pub(super) async fn drive(
    inner: Arc<Inner>,
    mut eventloop: EventLoop,
    first: oneshot::Sender<Result<(), BusError>>,
) {
    let mut first = Some(first);
    let mut backoff = Backoff {
        next: Backoff::FIRST,
    };
    loop {
        let event = tokio::select! {
            _ = inner.stop.cancelled() => break,
            event = eventloop.poll() => event,
        };
        match event {
            Ok(Event::Incoming(Packet::ConnAck(ack))) => {
                backoff.reset();
                on_connected(&inner, ack.session_present);
                if let Some(first) = first.take() {
                    let _ = first.send(Ok(()));
                }
            }
            Ok(Event::Incoming(Packet::Publish(publish))) => dispatch(&inner, publish).await,
            Ok(Event::Incoming(Packet::PubAck(ack))) => {
                let mut state = inner.state();
                if let Some(seq) = state.inflight.remove(&ack.pkid) {
                    if !matches!(
                        ack.reason,
                        PubAckReason::Success | PubAckReason::NoMatchingSubscribers
                    ) {
                        let topic = state
                            .outstanding
                            .get(&seq)
                            .map(|r| r.topic.clone())
                            .unwrap_or_default();
                        // Retrying cannot help (e.g. the ACL forbids the topic): say so loudly and move on.
                        tracing::error!(%topic, reason = ?ack.reason, "the broker refused an event; it is dropped");
                    }
                    state.outstanding.remove(&seq);
                    if let Some(waiter) = state.safe_waiters.remove(&seq) {
                        let _ = waiter.send(Ok(()));
                    }
                    state.acked_through = state
                        .outstanding
                        .keys()
                        .next()
                        .map_or(state.highest_seq, |first| first - 1);
                    state.ack_unsaved = true;
                    // The outbox writer records the position (never here: a slow store must not stall
                    // the connection).
                    inner.outbox_wake.notify_one();
                    inner.hand_over(&mut state);
                    if state.outstanding.is_empty() {
                        inner.drained.notify_waiters();
                    }
                }
            }
            Ok(Event::Incoming(Packet::SubAck(ack))) => {
                let failure = ack
                    .return_codes
                    .iter()
                    .find(|code| !matches!(code, SubscribeReasonCode::Success(_)))
                    .map(|code| format!("{code:?}"));
                if let Some(reason) = &failure {
                    tracing::error!(%reason, "the broker refused a subscription");
                }
                if let Some(waiter) = inner.state().suback_waiters.remove(&ack.pkid) {
                    let _ = waiter.send(failure.map_or(Ok(()), Err));
                }
            }
            Ok(Event::Outgoing(rumqttc::Outgoing::Publish(pkid))) => {
                let mut state = inner.state();
                if let Some(seq) = state.handed.pop_front() {
                    state.inflight.insert(pkid, seq);
                }
            }
            Ok(Event::Outgoing(rumqttc::Outgoing::Subscribe(pkid))) => {
                let mut state = inner.state();
                if let Some(Some(waiter)) = state.subscribe_waiters.pop_front() {
                    state.suback_waiters.insert(pkid, waiter);
                }
            }
            Ok(Event::Incoming(Packet::Disconnect(disconnect))) => {
                tracing::warn!(reason = ?disconnect.reason_code, "the broker closed the connection");
            }
            Ok(_) => {}
            Err(_) if inner.closing.load(std::sync::atomic::Ordering::SeqCst) => break,
            Err(error) => {
                on_disconnected(&inner, &mut eventloop);
                if let Some(reason) = permanent_failure(&error) {
                    if let Some(first) = first.take() {
                        let _ = first.send(Err(BusError::Refused {
                            url: inner.url.clone(),
                            reason,
                        }));
                        return;
                    }
                    tracing::error!(broker = %inner.url, %reason, "MQTT connection refused; retrying");
                } else {
                    tracing::warn!(broker = %inner.url, %error, "MQTT connection lost; reconnecting");
                }
                let delay = backoff.step();
                tokio::select! {
                    _ = inner.stop.cancelled() => break,
                    _ = tokio::time::sleep(delay) => {}
                }
            }
        }
    }
    inner.connected.send_replace(false);
}

fn on_connected(inner: &Inner, session_present: bool) {
    inner.acks.reset();
    // Their acknowledgements belonged to the old connection; the broker sends them again.
    inner.state().unclaimed.clear();
    inner
        .connections
        .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let mut state = inner.state();
    state.connected = true;
    state.handed.clear();
    state.inflight.clear();
    state.next_to_send = state
        .outstanding
        .keys()
        .next()
        .copied()
        .unwrap_or(state.highest_seq + 1);
    // Subscribe again every time: a broker without our session lost them, and one with it treats the
    // repeat as a no-op (re-sent retained messages are dropped as duplicates by id).
    let mut filters: Vec<String> = state
        .subscriptions
        .iter()
        .map(|s| s.filter.clone())
        .collect();
    filters.push(inner.reply_topic.clone());
    filters.sort();
    filters.dedup();
    for filter in filters {
        if inner.client.try_subscribe(filter, QoS::AtLeastOnce).is_ok() {
            state.subscribe_waiters.push_back(None);
        }
    }
    tracing::info!(broker = %inner.url, session_present, backlog = state.outstanding.len(), "connected to the MQTT broker");
    inner.hand_over(&mut state);
    drop(state);
    inner.connected.send_replace(true);
}

fn on_disconnected(inner: &Inner, eventloop: &mut EventLoop) {
    let mut state = inner.state();
    state.connected = false;
    // rumqttc would replay its unacknowledged publishes on a resumed session; the outbox resends them
    // instead, in order, so the client's own queue is emptied (with the lock held, nothing new enters).
    eventloop.clean();
    eventloop.pending.clear();
    state.handed.clear();
    state.inflight.clear();
    state.subscribe_waiters.clear();
    state.suback_waiters.clear();
    state.next_to_send = state
        .outstanding
        .keys()
        .next()
        .copied()
        .unwrap_or(state.highest_seq + 1);
    drop(state);
    inner.connected.send_replace(false);
}

async fn dispatch(inner: &Arc<Inner>, publish: Publish) {
    let properties = publish.properties.clone().unwrap_or_default();
    let mut delivery = Delivery::received(
        &publish.topic,
        &properties.user_properties,
        publish.payload.clone(),
    );
    delivery.content_type = properties.content_type;
    delivery.retained = publish.retain;
    delivery.response_topic = properties.response_topic;
    delivery.correlation = properties.correlation_data;
    delivery.ack = (publish.qos != QoS::AtMostOnce).then(|| Arc::new(inner.acks.enqueue(publish)));

    let targets: Vec<mpsc::Sender<Delivery>> = {
        let mut state = inner.state();
        if delivery.topic == inner.reply_topic {
            if let Some(waiter) = delivery
                .correlation
                .as_ref()
                .and_then(|c| state.requests.remove(c))
            {
                let _ = waiter.send(delivery);
            } else {
                tracing::debug!(topic = %delivery.topic, "reply nobody waits for (late or duplicate)");
            }
            return;
        }
        state.subscriptions.retain(|s| !s.tx.is_closed());
        state.expire_unclaimed();
        let (matched, targets) = route(&mut state, &delivery);
        if !matched {
            state.keep_unclaimed(delivery);
            return;
        }
        // Matched but all duplicates: dropping it here acknowledges it.
        targets
    };
    for target in targets {
        // Waiting here is back-pressure: a slow consumer slows the broker's sending, nothing is dropped.
        let _ = target.send(delivery.clone()).await;
    }
}

/// Whether any subscription matches, and those that have not seen the event yet.
fn route(state: &mut State, delivery: &Delivery) -> (bool, Vec<mpsc::Sender<Delivery>>) {
    let mut matched = false;
    let mut targets = Vec::new();
    for subscription in &mut state.subscriptions {
        if !topic_filter::matches(&subscription.filter, &delivery.topic) {
            continue;
        }
        matched = true;
        let first_time = match &delivery.event {
            Some(event) => subscription.seen.first_time(&event.id),
            None => true,
        };
        if first_time {
            targets.push(subscription.tx.clone());
        }
    }
    (matched, targets)
}
