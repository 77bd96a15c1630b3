//! The waits and limits of the device protocol, taken from the reference's configuration keys.
//!
//! The reference hard-codes several of them into one key (`delay_timer` is both the per-call timeout and the
//! post-activation wait); they are separate here so a simulated device can run with no waits while every
//! WS-Man call keeps a real timeout.

use std::time::Duration;

use crate::RpsConfig;

/// How long to wait for what.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Timings {
    /// Time allowed for one WS-Man exchange through the agent (`delay_timer`, 12 s).
    pub wsman_timeout: Duration,
    /// Wait after AMT reports activation before the new credentials are used (`delay_activation_sync`,
    /// reference `delay_timer` × 1000 ms).
    pub activation_sync: Duration,
    /// Pause before re-sending a call that timed out (`delay_tls_timer`, 15 s).
    pub retry_delay: Duration,
    /// Settle time after a TLS settings change (`delay_tls_timer`).
    pub tls_settle: Duration,
    /// Wait after CommitChanges in unconfiguration (`delay_setup_and_config_sync`, 5 s).
    pub setup_and_config_sync: Duration,
    /// Attempts for a call whose answer timed out or could not be parsed (`wsman_max_attempts`, 3).
    pub max_attempts: u32,
    /// How long a connected agent may take to send its first message.
    pub first_message_timeout: Duration,
    /// How long the socket stays open after the terminal message (rpc-go closes it itself).
    pub linger_after_done: Duration,
}

impl Timings {
    pub fn from_config(config: &RpsConfig) -> Timings {
        let delay_timer = Duration::from_secs(config.delay_timer);
        let tls = Duration::from_secs(config.delay_tls_timer);
        Timings {
            // A zero per-call timeout would fail every call; the reference never runs with one.
            wsman_timeout: delay_timer.max(Duration::from_secs(1)),
            activation_sync: config
                .delay_activation_sync
                .map(Duration::from_millis)
                .unwrap_or(delay_timer),
            retry_delay: tls,
            tls_settle: tls,
            setup_and_config_sync: Duration::from_millis(config.delay_setup_and_config_sync),
            max_attempts: config.wsman_max_attempts.max(1),
            first_message_timeout: Duration::from_secs(60),
            linger_after_done: Duration::from_secs(30),
        }
    }

    /// No waits at all (simulated devices), with the reference's timeouts and attempts.
    pub fn no_waits() -> Timings {
        Timings {
            activation_sync: Duration::ZERO,
            retry_delay: Duration::ZERO,
            tls_settle: Duration::ZERO,
            setup_and_config_sync: Duration::ZERO,
            ..Timings::from_config(&RpsConfig::default())
        }
    }

    /// Timeout of a call that changes TLS settings: AMT may take long to answer those (the reference allows
    /// `delay_tls_timer`); never shorter than an ordinary call.
    pub fn tls_call_timeout(&self) -> Duration {
        self.wsman_timeout.max(self.tls_settle)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_defaults_and_a_configuration_without_waits() {
        let t = Timings::from_config(&RpsConfig::default());
        assert_eq!(t.wsman_timeout, Duration::from_secs(12));
        assert_eq!(t.activation_sync, Duration::from_secs(12));
        assert_eq!(t.retry_delay, Duration::from_secs(15));
        assert_eq!(t.setup_and_config_sync, Duration::from_secs(5));
        assert_eq!(t.max_attempts, 3);

        let config: RpsConfig = serde_json::from_str(
            r#"{"delay_activation_sync":"0","delay_tls_timer":0,"delay_setup_and_config_sync":0}"#,
        )
        .unwrap();
        let t = Timings::from_config(&config);
        assert_eq!(t.activation_sync, Duration::ZERO);
        assert_eq!(t.retry_delay, Duration::ZERO);
        assert_eq!(
            t.wsman_timeout,
            Duration::from_secs(12),
            "calls keep a timeout"
        );
        assert_eq!(t.tls_call_timeout(), Duration::from_secs(12));
    }
}
