//! Deactivation across MPS replicas, with real things: Mosquitto (production configuration and ACL),
//! one Postgres database shared by two MPS instances, RPS, and simulated devices activated by the
//! simulator's agent. Half the devices hold their tunnel at one replica, half at the other.
//!
//! Deactivating a device through RPS removes it everywhere, whichever replica consumed the event:
//! its row is gone (both replicas answer 404), its tunnel is closed by the replica that held it,
//! and its retained presence is cleared (a new subscriber gets none), where the reference left the
//! device listed. A device deactivated while offline loses its presence too. The other devices stay.

mod harness;
mod support;

use std::collections::HashMap;
use std::time::Duration;

use broker::Bus;
use futures::StreamExt;
use harness::stack::{Broker, Mps, eventually, fleet, start_rps, watch_activations};
use harness::{AMT_PASSWORD, CIRA_USER, activate, options, run_agent};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use schemas::proto;
use secrets::test_server::TestVault;
use sim::agent::Command;
use support::TestDb;

const PER_REPLICA: usize = 4;

/// The retained presences a new subscriber receives, by GUID (cleared ones are not delivered).
async fn retained_presences(bus: &Bus) -> HashMap<String, proto::DevicePresence> {
    let mut sub = bus
        .subscribe(&bus.topics().all_presence())
        .await
        .expect("subscribe");
    let mut out = HashMap::new();
    // Retained messages arrive right after the subscription; a quiet second means they are all in.
    while let Ok(Some(delivery)) = tokio::time::timeout(Duration::from_secs(1), sub.next()).await {
        if delivery.retained
            && let Ok(p) = delivery.decode::<proto::DevicePresence>()
        {
            out.insert(p.guid.clone(), p);
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn deactivated_devices_leave_no_row_tunnel_or_presence_on_any_replica() {
    let broker = Broker::start();
    let vault = TestVault::start(support::VAULT_TOKEN)
        .await
        .expect("fake KV v2");
    let mps_db = TestDb::postgres().await;
    // One after the other: the first generates the CIRA certificates, the second reads them.
    let mps_a = Mps::start_named(&broker, &vault, mps_db.url(), "mps-a").await;
    let mps_b = Mps::start_named(&broker, &vault, mps_db.url(), "mps-b").await;
    let rps = start_rps(&broker, &vault, TestDb::postgres().await).await;
    let dashboard = broker
        .client("dashboard", "dashboard-deactivation", None)
        .await;
    let seen = watch_activations(&dashboard).await;

    let root_pem = mps_a
        .mps
        .certs()
        .expect("MPS certificates")
        .root_cert_pem
        .clone();
    let root_der = CertificateDer::from_pem_slice(root_pem.as_bytes())
        .expect("root PEM")
        .to_vec();
    let root_body: String = root_pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    // One CIRA config and profile per replica, so the devices split between them.
    for (name, mps) in [("a", &mps_a), ("b", &mps_b)] {
        let (status, body) = rps
            .post(
                "/api/v1/admin/ciraconfigs",
                serde_json::json!({"configName": format!("cira-{name}"), "mpsServerAddress": "127.0.0.1",
                    "mpsPort": mps.cira_port, "username": CIRA_USER, "commonName": "127.0.0.1",
                    "serverAddressFormat": 201, "authMethod": 2, "mpsRootCertificate": root_body,
                    "proxyDetails": ""}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        rps.create_profile(
            &format!("ccm-{name}"),
            "ccmactivate",
            Some(&format!("cira-{name}")),
            serde_json::json!({}),
        )
        .await;
    }

    let fleet = fleet(2027, 2 * PER_REPLICA as u64, root_der);
    let devices = fleet.devices().to_vec();
    let (at_a, at_b) = devices.split_at(PER_REPLICA);
    let results: Vec<_> = futures::stream::iter(
        at_a.iter()
            .map(|d| (d, "ccm-a"))
            .chain(at_b.iter().map(|d| (d, "ccm-b"))),
    )
    .map(|(d, profile)| {
        let ws = rps.ws.clone();
        async move { (d.guid(), run_agent(d, &ws, &activate(profile)).await) }
    })
    .buffer_unordered(2 * PER_REPLICA)
    .collect()
    .await;
    for (guid, result) in &results {
        let outcome = result.as_ref().unwrap_or_else(|e| panic!("{guid}: {e}"));
        assert_eq!(
            outcome.status.as_ref().expect("status")["Status"],
            "Client control mode.",
            "{guid}"
        );
    }
    assert!(
        fleet
            .wait_connected(devices.len() as u64, Duration::from_secs(60))
            .await,
        "every device connected over CIRA"
    );
    for (held, mps) in [(at_a, &mps_a), (at_b, &mps_b)] {
        for d in held {
            let guid = d.guid();
            eventually(&format!("{guid} held by its replica"), 30, async || {
                mps.mps.connections().contains(&guid)
            })
            .await;
        }
    }
    eventually("a presence for every device", 30, async || {
        retained_presences(&dashboard).await.len() == devices.len()
    })
    .await;

    // Two devices of each replica are deactivated while connected.
    let gone: Vec<_> = at_a[..2].iter().chain(at_b[..2].iter()).collect();
    for d in &gone {
        let mut deactivate = options(Command::Deactivate { force: false });
        deactivate.password = Some(AMT_PASSWORD.into());
        let done = run_agent(d, &rps.ws, &deactivate)
            .await
            .expect("deactivation");
        assert_eq!(done.status.unwrap()["Status"], "Deactivated");
    }
    for d in &gone {
        let guid = d.guid();
        eventually(
            &format!("{guid} removed from both replicas"),
            30,
            async || mps_a.device(&guid).await.is_none() && mps_b.device(&guid).await.is_none(),
        )
        .await;
        eventually(&format!("{guid} tunnel closed"), 30, async || {
            !mps_a.mps.connections().contains(&guid) && !mps_b.mps.connections().contains(&guid)
        })
        .await;
        assert!(seen.lock().unwrap().deactivated.contains_key(&guid));
    }
    // No presence is left for them, even after their tunnels ended; the others keep theirs.
    let gone_guids: Vec<String> = gone.iter().map(|d| d.guid()).collect();
    eventually(
        "the deactivated devices' presences cleared",
        30,
        async || {
            let presences = retained_presences(&dashboard).await;
            gone_guids.iter().all(|g| !presences.contains_key(g))
                && presences.len() == devices.len() - gone.len()
        },
    )
    .await;
    let presences = retained_presences(&dashboard).await;
    for d in at_a[2..].iter().chain(at_b[2..].iter()) {
        let p = &presences[&d.guid()];
        assert!(p.connected, "{p:?}");
        assert!(mps_a.device(&d.guid()).await.is_some());
    }

    // A device deactivated while it is offline: its offline presence goes too.
    let offline = &at_a[2];
    let guid = offline.guid();
    fleet.shutdown().await;
    eventually(&format!("{guid} offline"), 30, async || {
        retained_presences(&dashboard)
            .await
            .get(&guid)
            .is_some_and(|p| !p.connected)
    })
    .await;
    let mut deactivate = options(Command::Deactivate { force: false });
    deactivate.password = Some(AMT_PASSWORD.into());
    run_agent(offline, &rps.ws, &deactivate)
        .await
        .expect("deactivation of an offline device");
    eventually(&format!("{guid} row and presence gone"), 30, async || {
        mps_b.device(&guid).await.is_none()
            && !retained_presences(&dashboard).await.contains_key(&guid)
    })
    .await;

    rps.stop().await;
    mps_a.stop().await;
    mps_b.stop().await;
    mps_db.drop_database().await;
}
