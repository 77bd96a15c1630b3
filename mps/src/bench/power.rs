//! Power actions as a console sends them, timed end to end: over REST (`POST
//! /api/v1/amt/power/action/{guid}` on a kept-alive HTTP/1.1 connection) and over MQTT (an
//! `operator` bus request on `commands/devices/{guid}/power`, answered on the response topic).
//! Either way MPS runs `RequestPowerStateChange` on the device over its CIRA tunnel.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use broker::Bus;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use schemas::{Command, Guid, Topic, proto};
use serde_json::{Value, json};

use super::stats::Latencies;

/// How long one call may take before it counts as failed.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// Power off (8), then on (2): every action succeeds on the device whatever its state.
const ACTIONS: [i32; 2] = [8, 2];

/// Call `i` goes to device `i % n` of the targets; each device alternates off and on.
pub(crate) fn call(targets: &[Guid], i: usize) -> (Guid, i32) {
    let n = targets.len().max(1);
    (targets[i % n], ACTIONS[(i / n) % 2])
}

/// Timings of one run of calls.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CallRun {
    pub in_flight: usize,
    pub elapsed: Duration,
    pub latencies: Latencies,
}

impl CallRun {
    pub fn per_second(&self) -> f64 {
        self.latencies.count as f64 / self.elapsed.as_secs_f64().max(1e-9)
    }
}

/// Runs calls `0..calls`, `in_flight` at a time; `one(i)` makes call `i` and says if it worked.
pub(crate) async fn run<F, Fut>(calls: usize, in_flight: usize, one: F) -> CallRun
where
    F: Fn(usize) -> Fut + Clone + Send + 'static,
    Fut: Future<Output = bool> + Send,
{
    let in_flight = in_flight.max(1);
    let next = Arc::new(AtomicUsize::new(0));
    let results = Arc::new(Mutex::new((Vec::with_capacity(calls), 0usize)));
    let started = Instant::now();
    let workers: Vec<_> = (0..in_flight)
        .map(|_| {
            let (next, results, one) = (next.clone(), results.clone(), one.clone());
            tokio::spawn(async move {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= calls {
                        return;
                    }
                    let t = Instant::now();
                    let ok = one(i).await;
                    let took = t.elapsed();
                    let mut r = results.lock().unwrap_or_else(|e| e.into_inner());
                    r.0.push(took);
                    if !ok {
                        r.1 += 1;
                    }
                }
            })
        })
        .collect();
    for w in workers {
        let _ = w.await;
    }
    let elapsed = started.elapsed();
    let (samples, failed) = std::mem::take(&mut *results.lock().unwrap_or_else(|e| e.into_inner()));
    CallRun {
        in_flight,
        elapsed,
        latencies: Latencies::from_samples(samples, failed),
    }
}

/// A REST client of one MPS: `POST /api/v1/amt/power/action/{guid}`.
#[derive(Clone)]
pub(crate) struct Rest {
    client: Client<HttpConnector, Full<Bytes>>,
    base: String,
}

impl Rest {
    pub fn new(addr: SocketAddr) -> Rest {
        Rest {
            client: Client::builder(hyper_util::rt::TokioExecutor::new()).build_http(),
            base: format!("http://{addr}/api/v1/amt/power/action"),
        }
    }

    /// True when MPS answered 200 with `ReturnValueStr: SUCCESS`.
    pub async fn power(&self, guid: Guid, action: i32) -> bool {
        let request = hyper::Request::post(format!("{}/{guid}", self.base))
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(
                json!({ "action": action }).to_string(),
            )));
        let Ok(request) = request else { return false };
        let answer = async {
            let response = self.client.request(request).await.ok()?;
            let status = response.status();
            let body = response.into_body().collect().await.ok()?.to_bytes();
            let v: Value = serde_json::from_slice(&body).ok()?;
            Some(status == 200 && v["Body"]["ReturnValueStr"] == "SUCCESS")
        };
        matches!(
            tokio::time::timeout(CALL_TIMEOUT, answer).await,
            Ok(Some(true))
        )
    }
}

/// True when the holder of the device answered OK with return value 0.
pub(crate) async fn mqtt_power(operator: &Bus, guid: Guid, action: i32) -> bool {
    let reply = operator
        .request::<_, proto::CommandReply>(
            &Topic::Command(guid, Command::Power),
            &proto::PowerActionRequest {
                action,
                use_sol: false,
            },
            CALL_TIMEOUT,
        )
        .await;
    matches!(&reply, Ok(r) if r.status == proto::command_reply::Status::Ok as i32 && r.return_value == 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn consecutive_calls_go_to_different_devices_and_each_device_alternates() {
        let targets: Vec<Guid> = (0..3)
            .map(|i| {
                format!("00000000-0000-0000-0000-00000000000{i}")
                    .parse()
                    .unwrap()
            })
            .collect();
        let calls: Vec<(Guid, i32)> = (0..7).map(|i| call(&targets, i)).collect();
        assert_eq!(calls[0], (targets[0], 8));
        assert_eq!(calls[1], (targets[1], 8));
        assert_eq!(calls[3], (targets[0], 2));
        assert_eq!(calls[6], (targets[0], 8));
    }

    #[tokio::test]
    async fn every_call_is_timed_once_and_failures_are_counted() {
        let run = run(50, 4, |i| async move {
            tokio::time::sleep(Duration::from_millis(1)).await;
            i % 10 != 0
        })
        .await;
        assert_eq!(run.in_flight, 4);
        assert_eq!(run.latencies.count, 50);
        assert_eq!(run.latencies.failed, 5);
        assert!(run.latencies.p50 >= Duration::from_millis(1));
        assert!(run.per_second() > 0.0);
    }
}
