//! End to end with real things: Mosquitto (production configuration and ACL), Postgres for RPS and MPS, the
//! real MPS on the bus, and simulated AMT devices activated by the simulator's agent.
//!
//! A CIRA config and a CCM profile are made through RPS's REST API; 50 devices activate with it at once; MPS
//! registers each one from RPS's "activation succeeded" event (no REST call between them); each device then
//! connects over CIRA with the per-device credentials RPS gave it; a dashboard saw "started" and "succeeded"
//! for every device. Deactivation removes the device from MPS through `DeviceDeactivated`.

mod harness;
mod support;

use std::collections::HashSet;

use futures::StreamExt;
use harness::stack::{Broker, Mps, eventually, fleet, start_rps, watch_activations};
use harness::{AMT_PASSWORD, CIRA_USER, activate, options, run_agent};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use schemas::proto::{ActivationPhase, ControlMode};
use secrets::test_server::TestVault;
use sim::agent::Command;
use support::TestDb;

const DEVICES: usize = 50;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_devices_activate_register_through_events_and_connect_over_cira() {
    let broker = Broker::start();
    let vault = TestVault::start(support::VAULT_TOKEN)
        .await
        .expect("fake KV v2");
    let mps_db = TestDb::postgres().await;
    let mps = Mps::start(&broker, &vault, mps_db.url()).await;
    let rps = start_rps(&broker, &vault, TestDb::postgres().await).await;
    let dashboard = broker.client("dashboard", "dashboard-e2e", None).await;
    let seen = watch_activations(&dashboard).await;
    // RPS keeps a retained ONLINE status.
    let mut status = dashboard
        .subscribe("openamt/v1/rps/+/status")
        .await
        .expect("subscribe");
    let (delivery, online) = tokio::time::timeout(
        harness::stack::WAIT,
        status.next_event::<schemas::proto::ServiceStatus>(),
    )
    .await
    .expect("a retained status")
    .expect("status");
    assert!(delivery.retained);
    assert_eq!(delivery.topic, "openamt/v1/rps/rps-e2e/status");
    assert_eq!(online.state(), schemas::proto::ServiceState::Online);

    // The MPS root the devices must trust: MPS's own CA.
    let root_pem = mps
        .mps
        .certs()
        .expect("MPS certificates")
        .root_cert_pem
        .clone();
    let root_der = CertificateDer::from_pem_slice(root_pem.as_bytes())
        .expect("root PEM")
        .to_vec();
    // No password in the CIRA config: every device gets its own random CIRA password.
    let root_body: String = root_pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    let (status, body) = rps
        .post(
            "/api/v1/admin/ciraconfigs",
            serde_json::json!({"configName": "mpscira", "mpsServerAddress": "127.0.0.1",
                "mpsPort": mps.cira_port, "username": CIRA_USER, "commonName": "127.0.0.1",
                "serverAddressFormat": 201, "authMethod": 2, "mpsRootCertificate": root_body,
                "proxyDetails": ""}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    rps.create_profile(
        "ccm-cira",
        "ccmactivate",
        Some("mpscira"),
        serde_json::json!({}),
    )
    .await;

    let fleet = fleet(2026, DEVICES as u64, root_der);
    let devices = fleet.devices().to_vec();
    let profile = activate("ccm-cira");
    let results: Vec<_> = futures::stream::iter(devices.iter())
        .map(|d| {
            let (ws, profile) = (rps.ws.clone(), profile.clone());
            async move { (d.guid(), run_agent(d, &ws, &profile).await) }
        })
        .buffer_unordered(DEVICES)
        .collect()
        .await;
    for (guid, result) in &results {
        let outcome = result.as_ref().unwrap_or_else(|e| panic!("{guid}: {e}"));
        let status = outcome.status.as_ref().expect("status JSON");
        assert_eq!(status["Status"], "Client control mode.", "{guid}: {status}");
        assert_eq!(status["CIRAConnection"], "Configured", "{guid}: {status}");
    }

    // Every device is registered by MPS from the event, with the CIRA user RPS configured.
    for d in &devices {
        let guid = d.guid();
        eventually(&format!("MPS registered {guid}"), 30, async || {
            mps.device(&guid).await.is_some()
        })
        .await;
        let row = mps.device(&guid).await.expect("registered");
        assert_eq!(row["mpsusername"], CIRA_USER, "{row}");
        assert_eq!(row["tags"], serde_json::json!(["sim"]), "{row}");
    }
    // ... and connects over CIRA with the credentials RPS gave it (MPS checks them against devices/<guid>).
    assert!(
        fleet
            .wait_connected(DEVICES as u64, std::time::Duration::from_secs(60))
            .await,
        "all {DEVICES} devices connected over CIRA; {} did",
        fleet.stats().connected()
    );
    let mut passwords = HashSet::new();
    for d in &devices {
        let secret = rps.device_secret(&d.guid()).await.expect("devices/<guid>");
        assert_eq!(secret["AMT_PASSWORD"], AMT_PASSWORD);
        let cira = d.cira().borrow().clone().expect("CIRA settings");
        assert_eq!(secret["MPS_PASSWORD"], cira.password.as_str());
        passwords.insert(cira.password);
        let guid = d.guid();
        eventually(&format!("{guid} connected in MPS"), 30, async || {
            mps.device(&guid)
                .await
                .is_some_and(|r| r["connectionStatus"] == true)
        })
        .await;
    }
    assert_eq!(
        passwords.len(),
        DEVICES,
        "one random CIRA password per device"
    );

    // A dashboard saw started then succeeded for every device, the succeeded one complete for MPS.
    eventually("succeeded events for every device", 30, async || {
        let s = seen.lock().unwrap();
        devices
            .iter()
            .all(|d| s.phases(&d.guid()).contains(&ActivationPhase::Succeeded))
    })
    .await;
    {
        let s = seen.lock().unwrap();
        for d in &devices {
            let guid = d.guid();
            assert_eq!(
                s.phases(&guid),
                vec![ActivationPhase::Started, ActivationPhase::Succeeded],
                "{guid}"
            );
            let succeeded = &s.activation[&guid][1];
            assert_eq!(succeeded.control_mode(), ControlMode::Ccm);
            assert_eq!(succeeded.profile, "ccm-cira");
            assert_eq!(succeeded.mps_username, CIRA_USER);
            assert_eq!(succeeded.hostname, d.hostname());
            let info = succeeded.device_info.as_ref().expect("device info");
            assert_eq!(info.current_mode, "1");
            assert_eq!(info.fw_version, d.firmware_version());
            assert_eq!(
                info.status.get("CIRAConnection").map(String::as_str),
                Some("Success")
            );
        }
    }

    // Maintenance reaches MPS through "updated" events, not calls: a synchronised host name changes
    // the row; after a password change MPS still reaches the device (it reloaded the new password).
    let maintained = &devices[DEVICES - 1];
    let mut sync = options(Command::Maintenance {
        task: "synchostname".into(),
    });
    sync.password = Some(AMT_PASSWORD.into());
    sync.hostname = Some("maintained-host".into());
    run_agent(maintained, &rps.ws, &sync)
        .await
        .expect("synchostname");
    let guid = maintained.guid();
    eventually("MPS has the synchronised host name", 30, async || {
        mps.device(&guid)
            .await
            .is_some_and(|r| r["hostname"] == "maintained-host")
    })
    .await;
    let mut change = options(Command::Maintenance {
        task: "changepassword Ch4nged-P@ss".into(),
    });
    change.password = Some(AMT_PASSWORD.into());
    run_agent(maintained, &rps.ws, &change)
        .await
        .expect("changepassword");
    eventually(
        "MPS talks to the device with the new password",
        30,
        async || mps.power_state(&guid).await == Some(200),
    )
    .await;

    // Deactivation: MPS removes the device through the event; the tunnel goes away.
    for d in &devices[..5] {
        let mut deactivate = options(Command::Deactivate { force: false });
        deactivate.password = Some(AMT_PASSWORD.into());
        let done = run_agent(d, &rps.ws, &deactivate)
            .await
            .expect("deactivation");
        assert_eq!(done.status.unwrap()["Status"], "Deactivated");
        let guid = d.guid();
        eventually(&format!("MPS removed {guid}"), 30, async || {
            mps.device(&guid).await.is_none()
        })
        .await;
        assert!(seen.lock().unwrap().deactivated.contains_key(&guid));
        assert!(rps.device_secret(&guid).await.is_none());
    }
    for d in &devices[..5] {
        assert!(
            d.cira().borrow().is_none(),
            "unprovisioned devices have no CIRA target"
        );
    }
    // The tunnels of the deactivated devices end (seen from MPS: the simulator's own counter does not
    // count a tunnel closed for new settings as a disconnect).
    for d in &devices[..5] {
        let guid = d.guid();
        eventually(&format!("{guid} tunnel closed"), 30, async || {
            !mps.mps.connections().contains(&guid)
        })
        .await;
    }
    assert!(mps.mps.connections().contains(&devices[5].guid()));

    fleet.shutdown().await;
    rps.stop().await;
    mps.stop().await;
    mps_db.drop_database().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_devices_activate_in_acm_with_a_test_provisioning_chain_and_connect() {
    let broker = Broker::start();
    let vault = TestVault::start(support::VAULT_TOKEN)
        .await
        .expect("fake KV v2");
    let mps_db = TestDb::postgres().await;
    let mps = Mps::start(&broker, &vault, mps_db.url()).await;
    let rps = start_rps(&broker, &vault, TestDb::postgres().await).await;
    let dashboard = broker.client("dashboard", "dashboard-acm", None).await;
    let seen = watch_activations(&dashboard).await;

    let root_pem = mps
        .mps
        .certs()
        .expect("MPS certificates")
        .root_cert_pem
        .clone();
    let root_der = CertificateDer::from_pem_slice(root_pem.as_bytes())
        .expect("root PEM")
        .to_vec();
    rps.create_cira_config("mpscira", "127.0.0.1", mps.cira_port, &root_pem)
        .await;
    let chain = certs::provisioning::provisioning_chain("provisioning.vprodemo.test", "P@ssPfx1")
        .expect("provisioning chain");
    rps.create_domain("vprodemo", "vprodemo.test", &chain).await;
    rps.create_profile(
        "acm-cira",
        "acmactivate",
        Some("mpscira"),
        serde_json::json!({}),
    )
    .await;

    let fleet = fleet(2027, DEVICES as u64, root_der);
    let devices = fleet.devices().to_vec();
    for d in &devices {
        d.trust_root_hash(chain.root_sha256());
    }
    let mut profile = activate("acm-cira");
    profile.dns_suffix = Some("amt.vprodemo.test".into());
    let results: Vec<_> = futures::stream::iter(devices.iter())
        .map(|d| {
            let (ws, profile) = (rps.ws.clone(), profile.clone());
            async move { (d.guid(), run_agent(d, &ws, &profile).await) }
        })
        .buffer_unordered(DEVICES)
        .collect()
        .await;
    for (guid, result) in &results {
        let outcome = result.as_ref().unwrap_or_else(|e| panic!("{guid}: {e}"));
        let status = outcome.status.as_ref().expect("status JSON");
        assert_eq!(
            status["Status"], "Activated to admin control mode.",
            "{guid}: {status}"
        );
        assert_eq!(status["CIRAConnection"], "Configured", "{guid}: {status}");
    }
    for d in &devices {
        assert_eq!(d.control_mode(), sim::device::ControlMode::Acm);
        let guid = d.guid();
        eventually(
            &format!("{guid} registered and connected"),
            60,
            async || {
                mps.device(&guid)
                    .await
                    .is_some_and(|r| r["connectionStatus"] == true)
            },
        )
        .await;
        let secret = rps.device_secret(&guid).await.expect("devices/<guid>");
        assert_eq!(secret["MPS_PASSWORD"], harness::CIRA_PASSWORD);
        assert_eq!(secret["MEBX_PASSWORD"], "Mebx-P@ssw0rd1");
    }
    {
        let s = seen.lock().unwrap();
        for d in &devices {
            let guid = d.guid();
            assert_eq!(
                s.phases(&guid),
                vec![ActivationPhase::Started, ActivationPhase::Succeeded],
                "{guid}"
            );
            assert_eq!(s.activation[&guid][1].control_mode(), ControlMode::Acm);
            assert_eq!(s.activation[&guid][1].dns_suffix, "amt.vprodemo.test");
        }
    }
    fleet.shutdown().await;
    rps.stop().await;
    mps.stop().await;
    mps_db.drop_database().await;
}
