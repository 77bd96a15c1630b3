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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acm_activation_with_a_provisioning_chain_the_firmware_trusts() {
    let rps = Rps::start_sqlite(None).await;
    let chain = certs::provisioning::provisioning_chain("provisioning.example.com", "P@ssPfx1")
        .expect("provisioning chain");
    rps.create_domain("exampledomain", "example.com", &chain)
        .await;
    rps.create_profile("acm1", "acmactivate", None, json!({}))
        .await;

    let device = Device::new(DeviceSpec::fresh(8, 1));
    device.trust_root_hash(chain.root_sha256());
    let mut options = activate("acm1");
    options.dns_suffix = Some("amt.example.com".into());
    let outcome = run_agent(&device, &rps.ws, &options)
        .await
        .expect("ACM activation");
    let status = outcome.status.expect("status JSON");
    assert_eq!(
        status["Status"], "Activated to admin control mode.",
        "{status}"
    );
    assert_eq!(
        status["Components"]["Activation"]["Mode"], "ACM",
        "{status}"
    );
    assert_eq!(device.control_mode(), ControlMode::Acm);
    let secret = rps
        .device_secret(&device.guid())
        .await
        .expect("devices/<guid>");
    assert_eq!(secret["AMT_PASSWORD"], AMT_PASSWORD);
    assert_eq!(secret["MEBX_PASSWORD"], "Mebx-P@ssw0rd1");
    let (kvm, sol, ider) = device.redirection_features();
    assert!(kvm && sol && ider);

    // A device whose firmware does not trust the root is refused before AdminSetup.
    let untrusting = Device::new(DeviceSpec::fresh(8, 2));
    untrusting.trust_root_hash(vec![0x11; 32]);
    let err = run_agent(&untrusting, &rps.ws, &options).await.unwrap_err();
    assert!(
        err.to_string().contains("Invalid domain certificate, hash does not exists in list of trusted root certificates on AMT"),
        "{err}"
    );
    assert_eq!(untrusting.control_mode(), ControlMode::PreProvisioning);

    // A DNS suffix no domain matches.
    let mut elsewhere = options.clone();
    elsewhere.dns_suffix = Some("corp.other.net".into());
    let err = run_agent(&untrusting, &rps.ws, &elsewhere)
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains(&format!(
            "Device {} activation failed. Specified AMT domain suffix: corp.other.net does not match list of available AMT domain suffixes.",
            untrusting.guid()
        )),
        "{err}"
    );
    rps.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn re_running_rotates_a_random_password_and_ccm_upgrades_to_acm() {
    let rps = Rps::start_sqlite(None).await;
    rps.create_profile(
        "ccmrandom",
        "ccmactivate",
        None,
        json!({"generateRandomPassword": true, "amtPassword": null}),
    )
    .await;
    let device = Device::new(DeviceSpec::fresh(9, 1));
    run_agent(&device, &rps.ws, &activate("ccmrandom"))
        .await
        .expect("activation");
    let first = rps.device_secret(&device.guid()).await.unwrap()["AMT_PASSWORD"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(first, AMT_PASSWORD);
    assert_eq!(
        device.admin_ha1(),
        Some(wsman::digest::ha1("admin", &device.digest_realm(), &first))
    );

    // Activating an activated device needs its password; a random profile rotates it.
    let err = run_agent(&device, &rps.ws, &activate("ccmrandom"))
        .await
        .unwrap_err();
    assert!(err.to_string().contains("password is needed"), "{err}");
    let mut again = activate("ccmrandom");
    again.password = Some("Wr0ng-P@ssword".into());
    let err = run_agent(&device, &rps.ws, &again).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("AMT password DOES NOT match stored version"),
        "{err}"
    );
    again.password = Some(first.clone());
    let outcome = run_agent(&device, &rps.ws, &again).await.expect("re-run");
    assert_eq!(
        outcome.status.unwrap()["Status"],
        "already enabled in client mode."
    );
    let second = rps.device_secret(&device.guid()).await.unwrap()["AMT_PASSWORD"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(second, first, "rotated");
    assert_eq!(
        device.admin_ha1(),
        Some(wsman::digest::ha1("admin", &device.digest_realm(), &second))
    );

    // CCM → ACM with an ACM profile and a trusted provisioning chain.
    let chain = certs::provisioning::provisioning_chain("provisioning.example.com", "P@ssPfx1")
        .expect("provisioning chain");
    rps.create_domain("exampledomain", "example.com", &chain)
        .await;
    rps.create_profile("acm1", "acmactivate", None, json!({}))
        .await;
    device.trust_root_hash(chain.root_sha256());
    let mut upgrade = activate("acm1");
    upgrade.password = Some(second);
    upgrade.dns_suffix = Some("example.com".into());
    let outcome = run_agent(&device, &rps.ws, &upgrade)
        .await
        .expect("upgrade");
    let status = outcome.status.unwrap();
    assert_eq!(
        status["Status"], "Upgraded to admin control mode.",
        "{status}"
    );
    assert_eq!(device.control_mode(), ControlMode::Acm);
    assert_eq!(
        device.admin_ha1(),
        Some(wsman::digest::ha1(
            "admin",
            &device.digest_realm(),
            AMT_PASSWORD
        ))
    );
    let secret = rps.device_secret(&device.guid()).await.unwrap();
    assert_eq!(secret["AMT_PASSWORD"], AMT_PASSWORD);
    assert_eq!(secret["MEBX_PASSWORD"], "Mebx-P@ssw0rd1");

    // An ACM device with a CCM profile is refused.
    let mut ccm = activate("ccmrandom");
    ccm.password = Some(AMT_PASSWORD.into());
    let err = run_agent(&device, &rps.ws, &ccm).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("already enabled in admin control mode."),
        "{err}"
    );
    rps.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wireless_profiles_proxies_and_tls_as_the_profile_asks() {
    let rps = Rps::start_sqlite(None).await;
    let (s, b) = rps
        .post(
            "/api/v1/admin/wirelessconfigs",
            json!({"profileName": "home", "authenticationMethod": 6, "encryptionMethod": 4, "ssid": "home-net",
                "pskPassphrase": "Wifi-P@ss-1", "linkPolicy": [14, 16]}),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    let (s, b) = rps
        .post(
            "/api/v1/admin/proxyconfigs",
            json!({"name": "proxy1", "address": "proxy.example.com", "port": 8080, "networkDnsSuffix": "example.com"}),
        )
        .await;
    assert_eq!(s, 201, "{b}");
    rps.create_profile(
        "wifitls",
        "ccmactivate",
        None,
        json!({"wifiConfigs": [{"profileName": "home", "priority": 1}],
            "proxyConfigs": [{"name": "proxy1", "priority": 1}], "tlsMode": 2, "localWifiSyncEnabled": true}),
    )
    .await;
    let device = Device::new(DeviceSpec::fresh(10, 1));
    device.set_wireless(true);
    let outcome = run_agent(&device, &rps.ws, &activate("wifitls"))
        .await
        .expect("activation");
    let status = outcome.status.unwrap();
    // AddWiFiSettings names `WiFi Endpoint 0` by its CIM key `Name`, as the reference RPS does.
    assert_eq!(
        status["Network"], "Wired Network Configured. Wireless Configured. Proxy Configured",
        "{status}"
    );
    assert_eq!(status["TLSConfiguration"], "Configured", "{status}");
    assert_eq!(
        status["Components"]["WirelessNetwork"]["Details"], "Wireless Configured",
        "{status}"
    );
    assert_eq!(
        status["Components"]["CIRAProxy"]["Result"], "Success",
        "{status}"
    );
    assert_eq!(status["Components"]["TLS"]["Result"], "Success", "{status}");
    let (profiles, proxies, tls) = device.with_state(|s| {
        (
            s.network.wifi_profiles.clone(),
            s.network.proxies.clone(),
            (
                s.pki.remote_tls.clone(),
                s.pki.local_tls.clone(),
                s.pki.tls_certificate,
            ),
        )
    });
    assert_eq!(profiles.len(), 1, "the home profile is on the device");
    assert_eq!(profiles[0].ssid, "home-net", "{profiles:?}");
    assert_eq!(
        device.with_state(|s| s.network.wifi_port_state),
        32769,
        "WiFi enabled in S0 and Sx/AC"
    );
    assert_eq!(proxies.len(), 1);
    assert_eq!(proxies[0].access_info, "proxy.example.com");
    let (remote, local, certificate) = tls;
    assert!(remote.enabled && local.enabled && certificate.is_some());
    assert!(
        remote.accept_non_secure_connections,
        "tlsMode 2 accepts non-TLS too"
    );
    assert!(!remote.mutual_authentication);

    // Re-running clears what the first run configured and configures it again.
    let mut again = activate("wifitls");
    again.password = Some(AMT_PASSWORD.into());
    let outcome = run_agent(&device, &rps.ws, &again).await.expect("re-run");
    assert_eq!(outcome.status.unwrap()["TLSConfiguration"], "Configured");
    let (profiles, proxies) =
        device.with_state(|s| (s.network.wifi_profiles.len(), s.network.proxies.len()));
    assert_eq!(
        (profiles, proxies),
        (1, 1),
        "cleared, then configured once again"
    );
    rps.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn maintenance_tasks() {
    let rps = Rps::start_sqlite(None).await;
    rps.create_profile("ccm1", "ccmactivate", None, json!({}))
        .await;
    let device = Device::new(DeviceSpec::fresh(11, 1));
    run_agent(&device, &rps.ws, &activate("ccm1"))
        .await
        .expect("activation");
    let task = |t: &str, password: &str| {
        let mut o = options(Command::Maintenance { task: t.into() });
        o.password = Some(password.into());
        o
    };
    let status = |o: sim::agent::Outcome| o.status.unwrap()["Status"].as_str().unwrap().to_owned();

    // changepassword with a static password given after the flag.
    let mut change = task("changepassword N3w-P@ssword", AMT_PASSWORD);
    change.command = Command::Maintenance {
        task: "changepassword N3w-P@ssword".into(),
    };
    let done = run_agent(&device, &rps.ws, &change)
        .await
        .expect("changepassword");
    assert_eq!(status(done), "changepassword completed succesfully");
    assert_eq!(
        device.admin_ha1(),
        Some(wsman::digest::ha1(
            "admin",
            &device.digest_realm(),
            "N3w-P@ssword"
        ))
    );
    assert_eq!(
        rps.device_secret(&device.guid()).await.unwrap()["AMT_PASSWORD"],
        "N3w-P@ssword"
    );
    // The old password no longer passes the check.
    let err = run_agent(&device, &rps.ws, &task("synctime", AMT_PASSWORD))
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("AMT password DOES NOT match stored version"),
        "{err}"
    );

    let done = run_agent(&device, &rps.ws, &task("synctime", "N3w-P@ssword"))
        .await
        .expect("synctime");
    assert_eq!(status(done), "synctime completed succesfully");

    let mut hostname = task("synchostname", "N3w-P@ssword");
    hostname.hostname = Some("renamed-host".into());
    let done = run_agent(&device, &rps.ws, &hostname)
        .await
        .expect("synchostname");
    assert_eq!(status(done), "synchostname completed succesfully");
    assert_eq!(device.hostname(), "renamed-host");
    // Again: already synchronized.
    let err = run_agent(&device, &rps.ws, &hostname).await.unwrap_err();
    assert!(
        err.to_string()
            .contains("synchostname failed at PUT_GENERAL_SETTINGS"),
        "{err}"
    );
    assert!(
        err.to_string().contains("host name already synchronized"),
        "{err}"
    );

    // The agent reports the address AMT already has (the simulated host and AMT share it).
    let err = run_agent(&device, &rps.ws, &task("syncip", "N3w-P@ssword"))
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains("syncip failed at PUT_ETHERNET_PORT_SETTINGS IPAddress already synchronized"),
        "{err}"
    );

    // Device information goes to MPS as a device update event.
    let done = run_agent(&device, &rps.ws, &task("syncdeviceinfo", "N3w-P@ssword"))
        .await
        .expect("syncdeviceinfo");
    assert_eq!(status(done), "syncdeviceinfo completed succesfully");

    // Random password rotation.
    let done = run_agent(&device, &rps.ws, &task("changepassword", "N3w-P@ssword"))
        .await
        .expect("rotation");
    assert_eq!(status(done), "changepassword completed succesfully");
    let rotated = rps.device_secret(&device.guid()).await.unwrap()["AMT_PASSWORD"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_ne!(rotated, "N3w-P@ssword");
    assert_eq!(
        device.admin_ha1(),
        Some(wsman::digest::ha1(
            "admin",
            &device.digest_realm(),
            &rotated
        ))
    );
    rps.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tenant_and_orphan_checks_read_what_mps_said_about_the_device() {
    // prevent_orphaned_devices on: a pre-provisioned device MPS still knows is refused.
    let dir = tempfile::tempdir().unwrap();
    let secrets = secrets::open(&secrets::SecretStoreConfig::Local {
        dir: dir.path().join("secrets"),
    })
    .unwrap();
    let config = rps::RpsConfig {
        prevent_orphaned_devices: true,
        ..harness::test_config()
    };
    let rps = Rps::start(support::TestDb::sqlite(), secrets, None, config, dir).await;
    rps.create_profile("ccm1", "ccmactivate", None, json!({}))
        .await;
    let events = rps.running.as_ref().unwrap().events.clone();

    let orphan = Device::new(DeviceSpec::fresh(12, 1));
    let guid: schemas::Guid = orphan.guid().parse().unwrap();
    events.remember(
        guid,
        rps::activation::KnownDevice {
            tenant_id: String::new(),
            connected: false,
        },
    );
    let err = run_agent(&orphan, &rps.ws, &activate("ccm1"))
        .await
        .unwrap_err();
    assert!(
        err.to_string().contains(
            "already has a record in MPS and cannot be re-provisioned from pre-provisioning mode"
        ),
        "{err}"
    );
    assert_eq!(orphan.control_mode(), ControlMode::PreProvisioning);

    // A device MPS holds for another tenant cannot be re-activated in this one.
    let device = Device::new(DeviceSpec::fresh(12, 2));
    run_agent(&device, &rps.ws, &activate("ccm1"))
        .await
        .expect("activation");
    let guid: schemas::Guid = device.guid().parse().unwrap();
    events.remember(
        guid,
        rps::activation::KnownDevice {
            tenant_id: "other".into(),
            connected: true,
        },
    );
    let mut again = activate("ccm1");
    again.password = Some(AMT_PASSWORD.into());
    let err = run_agent(&device, &rps.ws, &again).await.unwrap_err();
    assert!(
        err.to_string().contains(
            "Device belongs to another tenant. Please unprovision and re-activate device."
        ),
        "{err}"
    );
    // Same tenant: fine.
    events.remember(
        guid,
        rps::activation::KnownDevice {
            tenant_id: String::new(),
            connected: true,
        },
    );
    run_agent(&device, &rps.ws, &again)
        .await
        .expect("re-run in the same tenant");
    rps.stop().await;
}
