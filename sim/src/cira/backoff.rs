//! Reconnect delays: exponential with jitter, capped, as AMT retries its MPS.

use rand::Rng;
use std::time::Duration;

#[derive(Debug, Clone, Copy)]
pub struct BackoffConfig {
    /// First delay.
    pub base: Duration,
    /// Upper bound of any delay.
    pub max: Duration,
}

impl Default for BackoffConfig {
    fn default() -> Self {
        BackoffConfig {
            base: Duration::from_secs(1),
            max: Duration::from_secs(60),
        }
    }
}

/// Delay n is drawn uniformly from [d/2, d] with d = min(base·2ⁿ, max): a fleet that lost its MPS
/// spreads its reconnects instead of stampeding, and no retry comes sooner than half the step.
#[derive(Debug)]
pub struct Backoff {
    config: BackoffConfig,
    attempt: u32,
}

impl Backoff {
    pub fn new(config: BackoffConfig) -> Backoff {
        Backoff { config, attempt: 0 }
    }

    pub fn next_delay(&mut self) -> Duration {
        let step = self
            .config
            .base
            .saturating_mul(1u32 << self.attempt.min(20))
            .min(self.config.max);
        self.attempt = self.attempt.saturating_add(1);
        let half = step / 2;
        half + rand::rng().random_range(Duration::ZERO..=half)
    }

    /// After a connection that worked, start again from the first step.
    pub fn reset(&mut self) {
        self.attempt = 0;
    }

    pub fn attempts(&self) -> u32 {
        self.attempt
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grows_exponentially_within_jitter_and_caps() {
        let mut b = Backoff::new(BackoffConfig {
            base: Duration::from_millis(100),
            max: Duration::from_secs(1),
        });
        let bounds = [
            (50, 100),
            (100, 200),
            (200, 400),
            (400, 800),
            (500, 1000),
            (500, 1000),
        ];
        for (lo, hi) in bounds {
            let d = b.next_delay().as_millis() as u64;
            assert!((lo..=hi).contains(&d), "{d} ms not in {lo}..={hi}");
        }
        b.reset();
        assert!(b.next_delay() <= Duration::from_millis(100));
    }
}
