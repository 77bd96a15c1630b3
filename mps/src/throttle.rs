//! Slows down password guessing from one address: the CIRA USERAUTH check and the REST login.
//!
//! An address gets a few failures for free. After that, every attempt from it (right or wrong)
//! waits its turn behind the address's gate, and the wait doubles with each further failure up to
//! a ceiling, so one address gets at most one guess per delay however many connections it opens.
//! A success clears the address. Nothing is ever locked out for good: a legitimate device behind
//! the same NAT as a guesser is slowed, not refused, and the failures are forgotten after a while.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::time::Instant;

/// How hard to throttle.
#[derive(Clone, Copy, Debug)]
pub struct ThrottlePolicy {
    /// Failures an address may make before its attempts are delayed.
    pub free_failures: u32,
    /// The delay after the first failure past the free ones; it doubles with each further one.
    pub base_delay: Duration,
    /// The longest delay.
    pub max_delay: Duration,
    /// Attempts that may wait behind one address's gate; more are refused at once.
    pub max_waiting: usize,
    /// Failures older than this are forgotten.
    pub forget_after: Duration,
}

/// Addresses tracked at most (an attacker with many addresses must not grow memory without bound);
/// when full the entry that failed longest ago goes.
const MAX_TRACKED: usize = 65_536;

struct Entry {
    failures: u32,
    last_failure: Instant,
    gate: Arc<tokio::sync::Mutex<()>>,
    waiting: usize,
}

/// Failed attempts per address.
pub struct Throttle {
    policy: ThrottlePolicy,
    entries: Mutex<HashMap<IpAddr, Entry>>,
}

/// Why an attempt was not admitted.
#[derive(Debug, thiserror::Error)]
#[error("too many failed attempts from {address}; retry in {retry_after:?}")]
pub struct TooManyAttempts {
    pub address: IpAddr,
    pub retry_after: Duration,
}

/// The right to check one password; holds the address's gate while it lives.
pub struct Admission<'a> {
    throttle: &'a Throttle,
    address: IpAddr,
    _gate: Option<tokio::sync::OwnedMutexGuard<()>>,
}

impl Throttle {
    pub fn new(policy: ThrottlePolicy) -> Self {
        Self {
            policy,
            entries: Mutex::new(HashMap::new()),
        }
    }

    /// Waits until `address` may try a password: at once while it has made no more than the free
    /// failures, else after its delay, one attempt at a time.
    pub async fn admit(&self, address: IpAddr) -> Result<Admission<'_>, TooManyAttempts> {
        let address = canonical(address);
        let (gate, delay) = {
            let mut entries = self.lock();
            let Some(entry) = entries.get_mut(&address) else {
                return Ok(self.admission(address, None));
            };
            if entry.last_failure.elapsed() > self.policy.forget_after {
                entries.remove(&address);
                return Ok(self.admission(address, None));
            }
            let Some(delay) = self.delay(entry.failures) else {
                return Ok(self.admission(address, None));
            };
            if entry.waiting >= self.policy.max_waiting {
                return Err(TooManyAttempts {
                    address,
                    retry_after: delay * entry.waiting as u32,
                });
            }
            entry.waiting += 1;
            (entry.gate.clone(), delay)
        };
        let guard = gate.lock_owned().await;
        tokio::time::sleep(delay).await;
        if let Some(entry) = self.lock().get_mut(&address) {
            entry.waiting = entry.waiting.saturating_sub(1);
        }
        tracing::debug!(%address, delay_ms = delay.as_millis() as u64, "throttled attempt admitted");
        Ok(self.admission(address, Some(guard)))
    }

    /// The delay owed after `failures`, or `None` while they are free.
    fn delay(&self, failures: u32) -> Option<Duration> {
        let past = failures.checked_sub(self.policy.free_failures)?;
        let doubled = self.policy.base_delay.saturating_mul(1u32 << past.min(20));
        Some(doubled.min(self.policy.max_delay))
    }

    fn admission(
        &self,
        address: IpAddr,
        gate: Option<tokio::sync::OwnedMutexGuard<()>>,
    ) -> Admission<'_> {
        Admission {
            throttle: self,
            address,
            _gate: gate,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<IpAddr, Entry>> {
        // A panic elsewhere while holding the map leaves plain counters behind: still usable.
        self.entries.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Failures `address` has on record (for tests and logs).
    pub fn failures(&self, address: IpAddr) -> u32 {
        self.lock()
            .get(&canonical(address))
            .map_or(0, |e| e.failures)
    }

    fn record_failure(&self, address: IpAddr) -> u32 {
        let mut entries = self.lock();
        if entries.len() >= MAX_TRACKED && !entries.contains_key(&address) {
            let forget_after = self.policy.forget_after;
            entries.retain(|_, e| e.waiting > 0 || e.last_failure.elapsed() <= forget_after);
            if entries.len() >= MAX_TRACKED
                && let Some(oldest) = entries
                    .iter()
                    .filter(|(_, e)| e.waiting == 0)
                    .min_by_key(|(_, e)| e.last_failure)
                    .map(|(a, _)| *a)
            {
                entries.remove(&oldest);
            }
        }
        let entry = entries.entry(address).or_insert_with(|| Entry {
            failures: 0,
            last_failure: Instant::now(),
            gate: Arc::new(tokio::sync::Mutex::new(())),
            waiting: 0,
        });
        if entry.last_failure.elapsed() > self.policy.forget_after {
            entry.failures = 0;
        }
        entry.failures = entry.failures.saturating_add(1);
        entry.last_failure = Instant::now();
        entry.failures
    }

    fn record_success(&self, address: IpAddr) {
        let mut entries = self.lock();
        if entries.get(&address).is_some_and(|e| e.waiting == 0) {
            entries.remove(&address);
        } else if let Some(entry) = entries.get_mut(&address) {
            entry.failures = 0;
        }
    }
}

impl Admission<'_> {
    /// The password was wrong: the address's next attempts wait longer. Returns its failure count.
    pub fn failed(self) -> u32 {
        self.throttle.record_failure(self.address)
    }

    /// The password was right: the address starts afresh.
    pub fn succeeded(self) {
        self.throttle.record_success(self.address)
    }
}

/// IPv4-mapped IPv6 addresses count as their IPv4 address; other IPv6 addresses by their /64, which
/// one host can fill at will.
fn canonical(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let s = v6.segments();
                IpAddr::V6(std::net::Ipv6Addr::new(s[0], s[1], s[2], s[3], 0, 0, 0, 0))
            }
        },
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> ThrottlePolicy {
        ThrottlePolicy {
            free_failures: 2,
            base_delay: Duration::from_millis(100),
            max_delay: Duration::from_millis(400),
            max_waiting: 2,
            forget_after: Duration::from_secs(60),
        }
    }

    const A: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));
    const B: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 2));

    #[tokio::test(start_paused = true)]
    async fn free_failures_then_doubling_delays_up_to_the_ceiling() {
        let t = Throttle::new(policy());
        let mut waits = Vec::new();
        for _ in 0..6 {
            let start = Instant::now();
            let admission = t.admit(A).await.unwrap();
            waits.push(start.elapsed().as_millis());
            admission.failed();
        }
        assert_eq!(waits, [0, 0, 100, 200, 400, 400]);
        // Another address is not affected.
        let start = Instant::now();
        t.admit(B).await.unwrap().failed();
        assert_eq!(start.elapsed(), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn success_clears_and_old_failures_are_forgotten() {
        let t = Throttle::new(policy());
        for _ in 0..4 {
            t.admit(A).await.unwrap().failed();
        }
        t.admit(A).await.unwrap().succeeded();
        assert_eq!(t.failures(A), 0);
        for _ in 0..4 {
            t.admit(A).await.unwrap().failed();
        }
        tokio::time::advance(Duration::from_secs(61)).await;
        let start = Instant::now();
        t.admit(A).await.unwrap().failed();
        assert_eq!(start.elapsed(), Duration::ZERO);
        assert_eq!(t.failures(A), 1);
    }

    #[tokio::test(start_paused = true)]
    async fn concurrent_attempts_take_turns_and_a_crowd_is_refused() {
        let t = Arc::new(Throttle::new(policy()));
        for _ in 0..3 {
            t.admit(A).await.unwrap().failed();
        }
        // Delay now 200 ms; two may wait, the third is refused at once.
        let start = Instant::now();
        let (first, second, third) = {
            let (t1, t2, t3) = (t.clone(), t.clone(), t.clone());
            let one = tokio::spawn(async move {
                t1.admit(A)
                    .await
                    .map(|a| a.failed())
                    .map(|_| Instant::now())
            });
            tokio::task::yield_now().await;
            let two = tokio::spawn(async move {
                t2.admit(A)
                    .await
                    .map(|a| a.failed())
                    .map(|_| Instant::now())
            });
            tokio::task::yield_now().await;
            let three = tokio::spawn(async move { t3.admit(A).await.map(|_| ()) });
            (one.await.unwrap(), two.await.unwrap(), three.await.unwrap())
        };
        assert!(third.is_err());
        let first = first.unwrap() - start;
        let second = second.unwrap() - start;
        assert_eq!(first, Duration::from_millis(200));
        // The second waited for the first, then for its own (now longer) delay... computed when it
        // queued: 200 ms behind the gate after the first's 200 ms.
        assert_eq!(second, Duration::from_millis(400));
    }

    #[test]
    fn ipv6_hosts_count_by_their_64_and_mapped_v4_as_v4() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().unwrap();
        assert_eq!(canonical(a), canonical(b));
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        assert_eq!(canonical(mapped), A);
    }
}
