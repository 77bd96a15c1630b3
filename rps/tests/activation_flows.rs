//! RPS's device protocol against the simulator's agent and simulated AMT devices (SQLite, local secret store,
//! no bus): CCM with CIRA, re-activation, deactivation, maintenance, and the features the profile asks for.

mod harness;
mod support;

use harness::{AMT_PASSWORD, CIRA_PASSWORD, CIRA_USER, Rps, activate, options, run_agent};
use serde_json::{Value, json};
use sim::agent::Command;
use sim::device::{ControlMode, Device, DeviceSpec};

fn mps_root_pem() -> String {
    rcgen::generate_simple_self_signed(vec!["mps.example.com".into()])
        .expect("certificate")
        .cert
        .pem()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ccm_activation_with_cira_then_maintenance_and_deactivation() {
    let rps = Rps::start_sqlite(None).await;
    let root = mps_root_pem();
    rps.create_cira_config("cira1", "mps.example.com", 4433, &root)
        .await;
    rps.create_profile("ccm1", "ccmactivate", Some("cira1"), json!({}))
        .await;

    let device = Device::new(DeviceSpec::fresh(7, 1));
    let outcome = run_agent(&device, &rps.ws, &activate("ccm1"))
        .await
        .expect("activation succeeds");
    eprintln!(
        "activation: {} WS-Man exchanges, status {}",
        outcome.exchanges, outcome.message
    );
    let status = outcome.status.expect("status JSON");
    assert_eq!(status["Status"], "Client control mode.", "{status}");
    assert_eq!(status["Network"], "Wired Network Configured", "{status}");
    assert_eq!(status["CIRAConnection"], "Configured", "{status}");
    assert_eq!(
        status["Components"]["Activation"]["Mode"], "CCM",
        "{status}"
    );
    assert_eq!(
        status["Components"]["CIRAConnection"]["Result"], "Success",
        "{status}"
    );
    assert_eq!(
        status["Components"]["TLS"]["Result"], "NotApplicable",
        "{status}"
    );

    // The device really is in CCM, with the profile's password, configured for CIRA.
    assert_eq!(device.control_mode(), ControlMode::Ccm);
    let ha1 = wsman::digest::ha1("admin", &device.digest_realm(), AMT_PASSWORD);
    assert_eq!(device.admin_ha1(), Some(ha1));
    let cira = device.cira().borrow().clone().expect("CIRA configured");
    assert_eq!(cira.server, "mps.example.com");
    assert_eq!(cira.port, 4433);
    assert_eq!(cira.username, CIRA_USER);
    assert_eq!(cira.password, CIRA_PASSWORD);
    assert!(cira.root_cert_der.is_some());
    let (kvm, sol, ider) = device.redirection_features();
    assert!(kvm && sol && ider, "features as the profile asks");

    // MPS's secret: the AMT and CIRA passwords.
    let secret = rps
        .device_secret(&device.guid())
        .await
        .expect("devices/<guid>");
    assert_eq!(secret["AMT_PASSWORD"], AMT_PASSWORD);
    assert_eq!(secret["MPS_PASSWORD"], CIRA_PASSWORD);
    assert_eq!(secret["MEBX_PASSWORD"], Value::Null);

    // Maintenance with the admin password.
    let mut sync = options(Command::Maintenance {
        task: "synctime".into(),
    });
    sync.password = Some(AMT_PASSWORD.into());
    let done = run_agent(&device, &rps.ws, &sync).await.expect("synctime");
    assert_eq!(
        done.status.unwrap()["Status"],
        "synctime completed succesfully"
    );

    // Deactivation: the wrong password is refused, the right one unprovisions and removes the secret.
    let mut wrong = options(Command::Deactivate { force: false });
    wrong.password = Some("Wr0ng-P@ssword".into());
    let err = run_agent(&device, &rps.ws, &wrong).await.unwrap_err();
    assert!(
        err.to_string().contains(&format!(
            "AMT password DOES NOT match stored version for Device {}",
            device.guid()
        )),
        "{err}"
    );
    let mut deactivate = options(Command::Deactivate { force: false });
    deactivate.password = Some(AMT_PASSWORD.into());
    let done = run_agent(&device, &rps.ws, &deactivate)
        .await
        .expect("deactivation");
    assert_eq!(done.status.unwrap()["Status"], "Deactivated");
    assert_eq!(device.control_mode(), ControlMode::PreProvisioning);
    assert!(device.cira().borrow().is_none());
    assert!(rps.device_secret(&device.guid()).await.is_none());
    rps.stop().await;
}
