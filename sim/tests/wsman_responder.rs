//! The simulated AMT's WS-Man endpoint, driven like MPS and RPS drive real devices: digest challenge
//! and answer, chunked SOAP, real state changes, and faults for what AMT does not serve.

mod wsman_support;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde_json::json;
use sim::device::{ControlMode, Device, DeviceSpec};
use wsman::Call;
use wsman::http::{RequestFraming, encode_request, host};
use wsman::messages::{amt, cim, ips};
use wsman_support::{Client, Connection};

fn device(index: u64) -> Device {
    Device::new(DeviceSpec::fresh(0x5EED, index))
}

/// Activates the device in client control mode with `password` as the admin password.
async fn activate_ccm(device: &Device, password: &str) {
    let mut lsa = Client::lsa(device).rps_style();
    let ha1 =
        wsman::digest::md5_hex(format!("admin:{}:{password}", device.digest_realm()).as_bytes());
    let output = lsa.invoke(&ips::setup(2, &ha1)).await;
    assert_eq!(output["ReturnValue"], 0);
}

#[tokio::test]
async fn unauthenticated_requests_get_the_amt_challenge() {
    let device = device(1);
    let mut connection = Connection::open(&device);
    let request = encode_request(
        RequestFraming::ContentLength,
        &host(&device.guid(), 16992),
        None,
        Call::get("AMT_GeneralSettings").to_xml(0).as_bytes(),
    );
    let response = connection.exchange(&request).await;
    assert_eq!(response.status, 401);
    let challenge = response.www_authenticate().expect("WWW-Authenticate");
    let pattern = regex::Regex::new(
        r#"^Digest realm="Digest:[0-9A-F]{32}", nonce="[^"]+", stale="false", qop="auth"$"#,
    )
    .expect("pattern");
    assert!(pattern.is_match(challenge), "{challenge}");
    assert!(challenge.contains(&device.digest_realm()));
    assert!(response.body_text().trim_end().ends_with("</html>"));
}

#[tokio::test]
async fn digest_answer_then_chunked_soap_on_one_connection() {
    let device = device(2);
    let mut client = Client::lsa(&device);
    let settings = client.ok(&Call::get("AMT_GeneralSettings")).await;
    let body = &settings.body()["AMT_GeneralSettings"];
    assert_eq!(body["DigestRealm"], device.digest_realm());
    assert_eq!(body["HostName"], device.hostname());
    assert_eq!(body["SharedFQDN"], true);
    assert_eq!(body["AMTNetworkEnabled"], 1);
    assert_eq!(
        settings.action().as_deref(),
        Some("http://schemas.xmlsoap.org/ws/2004/09/transfer/GetResponse")
    );
    // Keep-alive: the next call reuses the challenge and the connection.
    let identity = client.enumerate("CIM_SoftwareIdentity").await;
    let amt = identity
        .iter()
        .find(|i| i["InstanceID"] == "AMT")
        .expect("AMT version entry");
    assert_eq!(amt["VersionString"], "16.1.25");
}

#[tokio::test]
async fn wrong_credentials_are_refused() {
    let device = device(3);
    let mut client = Client::new(&device, "$$OsAdmin", "not-the-password");
    let (_, response) = client.call(&Call::get("AMT_GeneralSettings")).await;
    assert_eq!(response.status, 401);
    let mut admin = Client::new(&device, "admin", "whatever");
    let (_, response) = admin.call(&Call::get("AMT_GeneralSettings")).await;
    assert_eq!(
        response.status, 401,
        "no admin account exists before activation"
    );
}

#[tokio::test]
async fn rps_framing_closes_the_connection() {
    let device = device(4);
    let mut connection = Connection::open(&device);
    let first = encode_request(
        RequestFraming::ChunkedClose,
        &host(&device.guid(), 16992),
        None,
        b"<x/>",
    );
    let response = connection.exchange(&first).await;
    assert_eq!(response.status, 401);
    assert!(
        connection.closed_by_server().await,
        "Connection: close is honoured"
    );
    assert!(connection.server.await.expect("server task").is_ok());
}

#[tokio::test]
async fn ccm_activation_changes_mode_and_credentials() {
    let device = device(5);
    activate_ccm(&device, "P@ssw0rd-CCM1").await;
    assert_eq!(device.control_mode(), ControlMode::Ccm);
    let mut admin = Client::new(&device, "admin", "P@ssw0rd-CCM1");
    let hbs = admin.ok(&Call::get("IPS_HostBasedSetupService")).await;
    assert_eq!(
        hbs.body()["IPS_HostBasedSetupService"]["CurrentControlMode"],
        1
    );
    // Setup is refused once provisioned.
    let again = Client::lsa(&device)
        .invoke(&ips::setup(2, &"0".repeat(32)))
        .await;
    assert_eq!(again["ReturnValue"], 2);
    // RPS rotates the password with SetAdminAclEntryEx (base64 of the raw HA1).
    let ha1 = wsman::digest::ha1("admin", &device.digest_realm(), "N3w-P@ssword!");
    let output = admin
        .invoke(&amt::set_admin_acl_entry_ex("admin", &STANDARD.encode(ha1)))
        .await;
    assert_eq!(output["ReturnValue"], 0);
    let mut old = Client::new(&device, "admin", "P@ssw0rd-CCM1");
    assert_eq!(
        old.call(&Call::get("AMT_GeneralSettings")).await.1.status,
        401
    );
    let mut new = Client::new(&device, "admin", "N3w-P@ssword!");
    new.ok(&Call::get("AMT_GeneralSettings")).await;
    assert_eq!(device.admin_ha1(), Some(ha1));
}

#[tokio::test]
async fn power_actions_change_the_power_state_and_log_them() {
    let device = device(6);
    activate_ccm(&device, "P@ssw0rd-Pow1").await;
    let mut admin = Client::new(&device, "admin", "P@ssw0rd-Pow1");
    let before = admin
        .enumerate("CIM_AssociatedPowerManagementService")
        .await;
    assert_eq!(before[0]["PowerState"], 2);
    let output = admin.invoke(&cim::request_power_state_change(8)).await;
    assert_eq!(output["ReturnValue"], 0);
    assert_eq!(device.power_state(), 8);
    let after = admin.enumerate("CIM_ServiceAvailableToElement").await;
    assert_eq!(after[0]["PowerState"], 8);
    // Sleep needs a running host.
    assert_eq!(
        admin.invoke(&cim::request_power_state_change(4)).await["ReturnValue"],
        2
    );
    assert_eq!(
        admin.invoke(&cim::request_power_state_change(2)).await["ReturnValue"],
        0
    );
    assert_eq!(device.power_state(), 2);
    // The audit log records "Performed Power Down" (app 17, event 1) by admin.
    let log = admin.invoke(&amt::audit_log_read_records(1)).await;
    let records: Vec<Vec<u8>> = log["EventRecords"]
        .as_array()
        .expect("several records")
        .iter()
        .map(|r| {
            STANDARD
                .decode(r.as_str().expect("base64 text"))
                .expect("base64")
        })
        .collect();
    let power_down = records
        .iter()
        .find(|r| r[..4] == [0, 17, 0, 1])
        .expect("power down record");
    assert_eq!(power_down[4], 0, "digest initiator");
    assert_eq!(&power_down[6..6 + usize::from(power_down[5])], b"admin");
    // The event log shows the boot.
    admin
        .invoke(&amt::message_log_position_to_first_record())
        .await;
    let events = admin.invoke(&amt::message_log_get_records(1)).await;
    assert!(
        events["RecordArray"]
            .as_array()
            .is_some_and(|a| a.len() >= 4)
    );
}

#[tokio::test]
async fn cira_configuration_publishes_the_target_and_unprovision_clears_it() {
    let device = device(7);
    activate_ccm(&device, "P@ssw0rd-Cira").await;
    let mut cira = device.cira();
    assert!(cira.borrow().is_none());
    let mut admin = Client::new(&device, "admin", "P@ssw0rd-Cira").rps_style();

    let root = rcgen::generate_simple_self_signed(vec!["mps.example".to_string()])
        .expect("root certificate");
    let root_der = root.cert.der().to_vec();
    let added = admin
        .invoke(&amt::add_trusted_root_certificate(
            &STANDARD.encode(&root_der),
        ))
        .await;
    assert_eq!(added["ReturnValue"], 0);
    let server = amt::MpServer {
        access_info: "mps.example".into(),
        info_format: 201,
        port: 4433,
        auth_method: 2,
        username: "ciraUser".into(),
        password: "Cira-P@ss1".into(),
        common_name: "mps.example".into(),
    };
    assert_eq!(
        admin.invoke(&amt::add_mp_server(&server)).await["ReturnValue"],
        0
    );
    let saps = admin.enumerate("AMT_ManagementPresenceRemoteSAP").await;
    let sap_name = saps[0]["Name"].as_str().expect("SAP name").to_string();
    let periodic = amt::RemoteAccessPolicyRule {
        trigger: 2,
        tunnel_life_time: 0,
        extended_data: "AAAAAAAAABk=".into(),
    };
    let sap = wsman::Selector::new("Name", &sap_name);
    assert_eq!(
        admin
            .invoke(&amt::add_remote_access_policy_rule(&periodic, &sap))
            .await["ReturnValue"],
        0
    );
    let user = amt::RemoteAccessPolicyRule {
        trigger: 0,
        tunnel_life_time: 300,
        extended_data: String::new(),
    };
    assert_eq!(
        admin
            .invoke(&amt::add_remote_access_policy_rule(&user, &sap))
            .await["ReturnValue"],
        0
    );
    let bindings = admin.enumerate("AMT_RemoteAccessPolicyAppliesToMPS").await;
    assert_eq!(bindings.len(), 2);
    assert_eq!(
        admin
            .invoke(&Call::request_state_change(
                "AMT_UserInitiatedConnectionService",
                32771
            ))
            .await["ReturnValue"],
        0
    );

    cira.changed().await.expect("CIRA target published");
    let target = cira.borrow().clone().expect("CIRA configured");
    assert_eq!(target.server, "mps.example");
    assert_eq!(target.port, 4433);
    assert_eq!(target.username, "ciraUser");
    assert_eq!(target.password, "Cira-P@ss1");
    assert_eq!(target.root_cert_der.as_deref(), Some(root_der.as_slice()));

    let output = admin.invoke(&amt::unprovision(1)).await;
    assert_eq!(output["ReturnValue"], 0);
    assert_eq!(device.control_mode(), ControlMode::PreProvisioning);
    assert!(device.cira().borrow().is_none());
    assert!(device.admin_ha1().is_none());
    // The old admin password no longer works; the local account does.
    assert_eq!(
        admin.call(&Call::get("AMT_GeneralSettings")).await.1.status,
        401
    );
    let hbs = Client::lsa(&device)
        .ok(&Call::get("IPS_HostBasedSetupService"))
        .await;
    assert_eq!(
        hbs.body()["IPS_HostBasedSetupService"]["CurrentControlMode"],
        0
    );
}

#[tokio::test]
async fn acm_admin_setup_verifies_the_provisioning_chain_and_signature() {
    use rsa::pkcs8::EncodePrivateKey;
    use rsa::signature::{SignatureEncoding, Signer};

    let device = device(8);
    // A provisioning root and a leaf with an RSA key (what an ACM domain PFX holds).
    let root_key = rcgen::KeyPair::generate().expect("root key");
    let mut root_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
    root_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    root_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Test Provisioning Root");
    let root = root_params.self_signed(&root_key).expect("root");
    let leaf_rsa = rsa::PrivateKey::new(&mut getrandom::SysRng, 2048).expect("rsa key");
    let leaf_pkcs8 = leaf_rsa.to_pkcs8_der().expect("pkcs8");
    let leaf_key = rcgen::KeyPair::from_pkcs8_der_and_sign_algo(
        &rustls_pki_types::PrivatePkcs8KeyDer::from(leaf_pkcs8.as_bytes().to_vec()),
        &rcgen::PKCS_RSA_SHA256,
    )
    .expect("leaf key");
    let mut leaf_params =
        rcgen::CertificateParams::new(vec!["provisioning.example.com".to_string()])
            .expect("params");
    leaf_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "provisioning.example.com");
    let issuer = rcgen::Issuer::from_params(&root_params, &root_key);
    let leaf = leaf_params.signed_by(&leaf_key, &issuer).expect("leaf");

    let mut lsa = Client::lsa(&device).rps_style();
    // Untrusted root: the chain is refused.
    assert_eq!(
        lsa.invoke(&ips::add_next_cert_in_chain(
            &STANDARD.encode(leaf.der()),
            true,
            false
        ))
        .await["ReturnValue"],
        0
    );
    assert_eq!(
        lsa.invoke(&ips::add_next_cert_in_chain(
            &STANDARD.encode(root.der()),
            false,
            true
        ))
        .await["ReturnValue"],
        5
    );

    use sha2::Digest as _;
    device.trust_root_hash(sha2::Sha256::digest(root.der()).to_vec());
    assert_eq!(
        lsa.invoke(&ips::add_next_cert_in_chain(
            &STANDARD.encode(leaf.der()),
            true,
            false
        ))
        .await["ReturnValue"],
        0
    );
    assert_eq!(
        lsa.invoke(&ips::add_next_cert_in_chain(
            &STANDARD.encode(root.der()),
            false,
            true
        ))
        .await["ReturnValue"],
        0
    );

    let hbs = lsa.ok(&Call::get("IPS_HostBasedSetupService")).await;
    let nonce =
        wsman::parse::value_text(&hbs.body()["IPS_HostBasedSetupService"]["ConfigurationNonce"])
            .expect("nonce");
    let fw_nonce = STANDARD.decode(nonce).expect("base64 nonce");
    let mc_nonce = [7u8; 20];
    let mut signed = fw_nonce.clone();
    signed.extend_from_slice(&mc_nonce);
    let signer = rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new(leaf_rsa);
    let signature = STANDARD.encode(signer.sign(&signed).to_vec());
    let password_hash =
        wsman::digest::md5_hex(format!("admin:{}:Acm-P@ssw0rd", device.digest_realm()).as_bytes());

    // A signature over the wrong bytes fails.
    let wrong = STANDARD.encode(signer.sign(b"something else").to_vec());
    let refused = lsa
        .invoke(&ips::admin_setup(
            2,
            &password_hash,
            &STANDARD.encode(mc_nonce),
            2,
            &wrong,
        ))
        .await;
    assert_eq!(refused["ReturnValue"], 5);
    assert_eq!(device.control_mode(), ControlMode::PreProvisioning);
    // The nonce changed with the failed attempt: sign the new one.
    let hbs = lsa.ok(&Call::get("IPS_HostBasedSetupService")).await;
    let nonce =
        wsman::parse::value_text(&hbs.body()["IPS_HostBasedSetupService"]["ConfigurationNonce"])
            .expect("nonce");
    let mut signed = STANDARD.decode(nonce).expect("base64 nonce");
    assert_ne!(signed, fw_nonce);
    signed.extend_from_slice(&mc_nonce);
    let signature_ok = STANDARD.encode(signer.sign(&signed).to_vec());
    assert_ne!(signature_ok, signature);
    let output = lsa
        .invoke(&ips::admin_setup(
            2,
            &password_hash,
            &STANDARD.encode(mc_nonce),
            2,
            &signature_ok,
        ))
        .await;
    assert_eq!(output["ReturnValue"], 0);
    assert_eq!(device.control_mode(), ControlMode::Acm);
    let mut admin = Client::new(&device, "admin", "Acm-P@ssw0rd");
    assert_eq!(
        admin.invoke(&amt::set_mebx_password("Mebx-P@ss1")).await["ReturnValue"],
        0
    );
}

#[tokio::test]
async fn unknown_classes_and_actions_get_real_faults() {
    let device = device(9);
    let mut client = Client::lsa(&device);
    let (_, response) = client.call(&Call::get("AMT_NoSuchClass")).await;
    assert_eq!(response.status, 400);
    match wsman::parse_response(&response.body_text(), wsman::ParseOptions::MPS) {
        Err(wsman::ResponseError::Fault { fault, .. }) => {
            assert_eq!(fault.subcode_name(), Some("DestinationUnreachable"));
            assert!(
                response
                    .body_text()
                    .contains("http://schemas.xmlsoap.org/ws/2004/08/addressing/fault")
            );
        }
        other => panic!("expected a fault, got {other:?}"),
    }
    let (id, response) = client
        .call(&Call::invoke("AMT_GeneralSettings", "Explode", &[]))
        .await;
    match wsman::parse_response(&response.body_text(), wsman::ParseOptions::MPS) {
        Err(wsman::ResponseError::Fault { fault, relates_to }) => {
            assert_eq!(fault.subcode_name(), Some("ActionNotSupported"));
            assert_eq!(relates_to.as_deref(), Some(id.as_str()));
        }
        other => panic!("expected a fault, got {other:?}"),
    }
    let (_, response) = client
        .call(&Call::pull(
            "AMT_GeneralSettings",
            "DEADBEEF-0000-0000-0000-000000000000",
        ))
        .await;
    assert!(response.body_text().contains("InvalidEnumerationContext"));
    let (_, response) = client
        .call(&Call::delete("AMT_GeneralSettings", vec![]))
        .await;
    assert!(response.body_text().contains("ActionNotSupported"));
    // Not XML at all: HTTP 400 without a SOAP body.
    let response = client.send_xml("this is <not xml").await;
    assert_eq!(response.status, 400);
    assert!(response.body.is_empty());
    // A schema (CIM class under the Intel URI) AMT does not serve.
    let mut wrong = Call::get("AMT_GeneralSettings");
    wrong.resource_uri = "http://intel.com/wbem/wscim/1/amt-schema/1/CIM_Chassis".into();
    let (_, response) = client.call(&wrong).await;
    assert!(response.body_text().contains("DestinationUnreachable"));
}

#[tokio::test]
async fn puts_change_state_and_echo_it() {
    let device = device(10);
    activate_ccm(&device, "P@ssw0rd-Put1").await;
    let mut admin = Client::new(&device, "admin", "P@ssw0rd-Put1");
    let general = admin.ok(&Call::get("AMT_GeneralSettings")).await;
    let mut settings = general.body()["AMT_GeneralSettings"].clone();
    settings["HostName"] = json!("renamed-host");
    settings["DomainName"] = json!("corp.example.com");
    let put = admin.ok(&Call::put("AMT_GeneralSettings", &settings)).await;
    assert_eq!(
        put.body()["AMT_GeneralSettings"]["HostName"],
        "renamed-host"
    );
    assert_eq!(device.hostname(), "renamed-host");

    let features = admin
        .invoke(&Call::request_state_change("AMT_RedirectionService", 32768))
        .await;
    assert_eq!(features["ReturnValue"], 0);
    assert!(!device.sol_enabled());
    admin
        .invoke(&Call::request_state_change("AMT_RedirectionService", 32771))
        .await;
    assert!(device.sol_enabled());

    let ports = admin.enumerate("AMT_EthernetPortSettings").await;
    let mut wired = ports
        .iter()
        .find(|p| p["InstanceID"] == "Intel(r) AMT Ethernet Port Settings 0")
        .expect("wired")
        .clone();
    wired["DHCPEnabled"] = json!(false);
    wired["IpSyncEnabled"] = json!(false);
    wired["IPAddress"] = json!("192.168.50.20");
    wired["SubnetMask"] = json!("255.255.255.0");
    let put = admin
        .ok(&Call::put_selected(
            "AMT_EthernetPortSettings",
            &wired,
            vec![wsman::Selector::new(
                "InstanceID",
                "Intel(r) AMT Ethernet Port Settings 0",
            )],
        ))
        .await;
    let echoed = &put.body()["AMT_EthernetPortSettings"];
    assert_eq!(echoed["DHCPEnabled"], false);
    assert_eq!(echoed["IPAddress"], "192.168.50.20");
    // The WiFi port has no MAC address until the device has WiFi hardware.
    let wifi = ports
        .iter()
        .find(|p| p["InstanceID"] == "Intel(r) AMT Ethernet Port Settings 1")
        .expect("wifi");
    assert!(wifi.get("MACAddress").is_none());
}

#[tokio::test]
async fn alarms_and_opt_in_follow_amt_rules() {
    let device = device(11);
    activate_ccm(&device, "P@ssw0rd-Alm1").await;
    let mut admin = Client::new(&device, "admin", "P@ssw0rd-Alm1");
    for i in 0..5 {
        let alarm = amt::AlarmTemplate {
            instance_id: format!("alarm{i}"),
            element_name: Some(format!("alarm{i}")),
            start_time: time::macros::datetime!(2030-01-01 08:00 UTC),
            interval_minutes: Some(1440),
            delete_on_completion: true,
        };
        assert_eq!(
            admin.invoke(&amt::add_alarm(&alarm)).await["ReturnValue"],
            0
        );
    }
    let sixth = amt::AlarmTemplate {
        instance_id: "alarm5".into(),
        element_name: None,
        start_time: time::macros::datetime!(2030-01-01 08:00 UTC),
        interval_minutes: None,
        delete_on_completion: true,
    };
    let (_, response) = admin.call(&amt::add_alarm(&sixth)).await;
    assert!(response.body_text().contains("QuotaLimit"));
    let alarms = admin.enumerate("IPS_AlarmClockOccurrence").await;
    assert_eq!(alarms.len(), 5);
    assert_eq!(alarms[0]["StartTime"]["Datetime"], "2030-01-01T08:00:00Z");
    assert_eq!(alarms[0]["Interval"]["Interval"], "P1DT0H0M");
    let delete = Call::delete(
        "IPS_AlarmClockOccurrence",
        vec![wsman::Selector::new("InstanceID", "alarm0")],
    );
    admin.ok(&delete).await;
    assert_eq!(admin.enumerate("IPS_AlarmClockOccurrence").await.len(), 4);

    // User consent: the code shown on the screen is accepted, a wrong one is not.
    assert_eq!(admin.invoke(&ips::start_opt_in()).await["ReturnValue"], 0);
    let code = device
        .with_state(|s| s.redirection.opt_in_code)
        .expect("code on screen");
    assert_ne!(
        admin
            .invoke(&ips::send_opt_in_code(code.wrapping_add(1)))
            .await["ReturnValue"],
        0
    );
    assert_eq!(
        admin.invoke(&ips::send_opt_in_code(code)).await["ReturnValue"],
        0
    );
    let opt_in = admin.ok(&Call::get("IPS_OptInService")).await;
    assert_eq!(opt_in.body()["IPS_OptInService"]["OptInState"], 3);
    // Client control mode cannot drop the consent requirement.
    let (_, response) = admin
        .call(&Call::put("IPS_OptInService", &json!({"OptInRequired": 0})))
        .await;
    assert_eq!(response.status, 400);
}

#[tokio::test]
async fn generated_keys_are_real_rsa_keys() {
    use rsa::pkcs1::DecodeRsaPublicKey;
    let device = device(12);
    activate_ccm(&device, "P@ssw0rd-Key1").await;
    let mut admin = Client::new(&device, "admin", "P@ssw0rd-Key1");
    let output = admin.invoke(&amt::generate_key_pair(0, 2048)).await;
    assert_eq!(output["ReturnValue"], 0);
    let handle = output["KeyPair"]["ReferenceParameters"]["SelectorSet"]["Selector"]
        .as_str()
        .expect("handle");
    let keys = admin.enumerate("AMT_PublicPrivateKeyPair").await;
    let key = keys
        .iter()
        .find(|k| k["InstanceID"] == handle)
        .expect("key listed");
    let der = STANDARD
        .decode(key["DERKey"].as_str().expect("DERKey"))
        .expect("base64");
    let public = rsa::PublicKey::from_pkcs1_der(&der).expect("PKCS#1 RSA public key");
    assert_eq!(rsa::traits::PublicKeyParts::size(&public), 256);
}

#[tokio::test]
async fn reference_suite_certificates_are_described_like_amt_describes_them() {
    // The reference answer holds a real MPS root and AMT's own Subject/Issuer text for it.
    let Some(path) = reference_suite::artifact(
        "wsman-responses/amt/publickey/certificate/get.xml",
        "the simulator describing certificates as AMT does",
    ) else {
        return;
    };
    let xml = std::fs::read_to_string(path).expect("reference answer");
    let reference = wsman::parse_response(&xml, wsman::ParseOptions::MPS).expect("parses");
    let expected = &reference.body()["AMT_PublicKeyCertificate"];
    let der = expected["X509Certificate"].as_str().expect("certificate");

    let device = device(13);
    activate_ccm(&device, "P@ssw0rd-Crt1").await;
    let mut admin = Client::new(&device, "admin", "P@ssw0rd-Crt1");
    let added = admin.invoke(&amt::add_trusted_root_certificate(der)).await;
    assert_eq!(added["ReturnValue"], 0);
    let duplicate = admin.invoke(&amt::add_trusted_root_certificate(der)).await;
    assert_eq!(
        duplicate["ReturnValue"], 2058,
        "AMT refuses the same certificate twice"
    );
    let certificates = admin.enumerate("AMT_PublicKeyCertificate").await;
    assert_eq!(certificates.len(), 1);
    assert_eq!(certificates[0]["Subject"], expected["Subject"]);
    assert_eq!(certificates[0]["Issuer"], expected["Issuer"]);
    assert_eq!(
        certificates[0]["X509Certificate"],
        expected["X509Certificate"]
    );
    assert_eq!(certificates[0]["TrustedRootCertficate"], true);
    let garbage = admin
        .invoke(&amt::add_trusted_root_certificate(
            "bm90IGEgY2VydGlmaWNhdGU=",
        ))
        .await;
    assert_eq!(garbage["ReturnValue"], 36);
}

#[tokio::test]
async fn pulls_page_through_large_enumerations() {
    let device = device(14);
    let mut client = Client::lsa(&device);
    let enumerate = client.ok(&Call::enumerate("CIM_SoftwareIdentity")).await;
    let context =
        wsman::parse::value_text(&enumerate.body()["EnumerateResponse"]["EnumerationContext"])
            .expect("context");
    let mut seen = Vec::new();
    for _ in 0..20 {
        let page = client
            .ok(&Call::pull_with_limits(
                "CIM_SoftwareIdentity",
                &context,
                4,
                99_999,
            ))
            .await;
        let pull = &page.body()["PullResponse"];
        match &pull["Items"]["CIM_SoftwareIdentity"] {
            serde_json::Value::Array(items) => seen.extend(items.iter().cloned()),
            one => seen.push(one.clone()),
        }
        if pull.get("EndOfSequence").is_some() {
            break;
        }
        assert_eq!(
            wsman::parse::value_text(&pull["EnumerationContext"]).as_deref(),
            Some(context.as_str())
        );
    }
    assert_eq!(seen.len(), 11, "every firmware entry once");
    // The finished context is gone.
    let (_, response) = client
        .call(&Call::pull("CIM_SoftwareIdentity", &context))
        .await;
    assert!(response.body_text().contains("InvalidEnumerationContext"));
}
