//! An instance the broker wrongly declared dead announces itself again.
//!
//! The broker publishes an instance's last will (OFFLINE) whenever its connection dies without a
//! goodbye, also when the instance lives on: a network partition, a stall longer than the MQTT
//! keep-alive. The bus reconnects by itself, but the fleet was told otherwise: the router stopped
//! sending the instance traffic, and a survivor reported its devices disconnected ([`takeover`]).
//! So when this instance sees its own OFFLINE status while it runs, the publisher:
//!
//! - publishes this run's ONLINE status again;
//! - announces again every device held here that the newest presence no longer shows here:
//!   `connected` (as first published) and the presence, stamped now so it is newer than the report
//!   it corrects; the row follows with the next keep-alive batch.
//!
//! A survivor's reports may reach the broker after that (it acted on the same last will), so for
//! [`WINDOW`] afterwards any device held here that another publisher takes offline is announced
//! again too. Outside the window an offline presence from elsewhere is left alone: a device that
//! moved on while its old tunnel here lingers is not this instance's to claim.
//!
//! [`takeover`]: super::takeover

use std::time::{Duration, Instant};

use schemas::{Service, proto};

use super::publisher::Job;

/// How long after its own OFFLINE status this instance corrects others' offline reports.
pub const WINDOW: Duration = Duration::from_secs(30);

/// What the view consumer sees, turned into publisher jobs.
pub struct Reassertion {
    me: String,
    /// This instance's CloudEvents source: its own presences need no correcting.
    my_source: String,
    until: Option<Instant>,
}

impl Reassertion {
    pub fn new(me: &str, my_source: &str) -> Self {
        Self {
            me: me.to_owned(),
            my_source: my_source.to_owned(),
            until: None,
        }
    }

    /// This instance's own OFFLINE status: reassert, and open the window.
    pub fn on_status(&mut self, status: &proto::ServiceStatus, now: Instant) -> Option<Job> {
        let own_offline = status.service == Service::Mps.as_str()
            && status.instance == self.me
            && status.state == proto::ServiceState::Offline as i32;
        if !own_offline {
            return None;
        }
        self.until = Some(now + WINDOW);
        Some(Job::Reassert)
    }

    /// A device taken offline by another publisher within the window: announce it again if it is
    /// held here (the publisher checks).
    pub fn on_presence(
        &self,
        presence: &proto::DevicePresence,
        source: Option<&str>,
        now: Instant,
    ) -> Option<Job> {
        let in_window = self.until.is_some_and(|until| now < until);
        let from_elsewhere = source.is_some_and(|s| s != self.my_source);
        (in_window && from_elsewhere && !presence.connected)
            .then(|| Job::Reannounce(presence.guid.to_ascii_lowercase()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const G: &str = "4C4C4544-004B-4210-8033-B6C04F504633";

    fn status(instance: &str, state: proto::ServiceState) -> proto::ServiceStatus {
        crate::events::status(instance, "", state)
    }

    fn offline(guid: &str) -> proto::DevicePresence {
        proto::DevicePresence {
            guid: guid.into(),
            connected: false,
            ..Default::default()
        }
    }

    #[test]
    fn only_this_instance_s_own_offline_status_reasserts() {
        let mut r = Reassertion::new("mps-b", "/openamt/mps/mps-b");
        let now = Instant::now();
        for s in [
            status("mps-b", proto::ServiceState::Online),
            status("mps-a", proto::ServiceState::Offline),
        ] {
            assert!(r.on_status(&s, now).is_none());
        }
        let mut rps = status("mps-b", proto::ServiceState::Offline);
        rps.service = "rps".into();
        assert!(r.on_status(&rps, now).is_none());
        assert!(matches!(
            r.on_status(&status("mps-b", proto::ServiceState::Offline), now),
            Some(Job::Reassert)
        ));
    }

    #[test]
    fn others_offline_reports_are_corrected_within_the_window_only() {
        let mut r = Reassertion::new("mps-b", "/openamt/mps/mps-b");
        let t0 = Instant::now();
        let survivor = Some("/openamt/mps/mps-a");
        // Before any OFFLINE of its own, a device that moved on is none of its business.
        assert!(r.on_presence(&offline(G), survivor, t0).is_none());
        r.on_status(&status("mps-b", proto::ServiceState::Offline), t0);
        match r.on_presence(&offline(G), survivor, t0 + Duration::from_secs(1)) {
            Some(Job::Reannounce(g)) => assert_eq!(g, G.to_ascii_lowercase()),
            other => panic!("{other:?}"),
        }
        // Its own presences, connected ones, and anything after the window change nothing.
        assert!(
            r.on_presence(&offline(G), Some("/openamt/mps/mps-b"), t0)
                .is_none()
        );
        assert!(r.on_presence(&offline(G), None, t0).is_none());
        let mut connected = offline(G);
        connected.connected = true;
        assert!(r.on_presence(&connected, survivor, t0).is_none());
        assert!(
            r.on_presence(&offline(G), survivor, t0 + WINDOW + Duration::from_secs(1))
                .is_none()
        );
    }
}
