//! One job (activation, deactivation or maintenance) of one WebSocket: what every step of it shares, and the
//! terminal messages.

use std::sync::Arc;

use schemas::Guid;

use super::envelope;
use super::events::Events;
use super::relay::Relay;
use super::request::Request;
use super::settings::Timings;
use super::status::{Component, Outcome, StatusReport};
use super::store::Store;

/// What every job of one RPS instance uses.
pub struct Context {
    pub store: Store,
    pub events: Events,
    pub timings: Timings,
    /// Written into AMT's environment detection (reference `disable_cira_domain_name`); empty: a random
    /// `<uuid>.com`.
    pub disable_cira_domain_name: String,
    /// Refuse to activate a pre-provisioned device MPS still knows (reference `prevent_orphaned_devices`).
    pub prevent_orphaned_devices: bool,
}

/// A running job.
pub struct Job {
    pub ctx: Arc<Context>,
    pub relay: Relay,
    pub request: Request,
    pub guid: Guid,
    /// The connection's id, as the reference names it in some messages.
    pub client_id: String,
    pub status: StatusReport,
}

impl Job {
    /// The device identity as the reference prints it in messages.
    pub fn uuid(&self) -> String {
        self.guid.to_string()
    }

    /// Sends the terminal `success` with the status JSON.
    pub async fn send_success(&mut self) {
        let text = self.status.to_json().to_string();
        if self
            .relay
            .send_text(envelope::success(&text))
            .await
            .is_err()
        {
            tracing::warn!(guid = %self.guid, "the agent left before the success message");
        }
    }

    /// Sends the terminal `error` with the status JSON whose `Status` is `reason`. `activated` tells whether the
    /// device reached a control mode (then Activation is not a failure).
    pub async fn send_failure(&mut self, reason: &str, activated: bool, current_mode: Option<i64>) {
        self.status.status = Some(if reason.is_empty() {
            "Failed".to_owned()
        } else {
            reason.to_owned()
        });
        if !activated {
            self.status
                .record(Component::Activation, Outcome::Failure, None, Some(reason));
        }
        self.status.finalize(false, current_mode);
        let text = self.status.to_json().to_string();
        if self.relay.send_text(envelope::error(&text)).await.is_err() {
            tracing::warn!(guid = %self.guid, "the agent left before the error message");
        }
    }

    /// Sends a plain-text `error` (a failure before any state machine ran).
    pub async fn send_plain_error(&mut self, message: &str) {
        if self
            .relay
            .send_text(envelope::error(message))
            .await
            .is_err()
        {
            tracing::warn!(guid = %self.guid, "the agent left before the error message");
        }
    }
}
