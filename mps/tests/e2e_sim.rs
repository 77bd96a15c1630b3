//! End to end with the AMT simulator: a fleet of simulated devices registered through REST
//! connects over CIRA, REST shows them connected, AMT routes answer with the simulator's data,
//! a power action really changes a simulated device's power state, and the fleet going away
//! marks the rows disconnected. Real Postgres, secrets on the fake KV v2 server.

mod common;

use std::time::Duration;

use common::{Db, TestMps, eventually, http};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use serde_json::{Value, json};
use sim::device::CiraSettings;
use sim::fleet::{Fleet, FleetConfig};

const CIRA_USER: &str = "ciraUser";
const CIRA_PASSWORD: &str = "Cira-P@ss-1";
const AMT_PASSWORD: &str = "Amt-P@ss-1";

/// The device side of every channel the MPS opens: WS-Man on 16992, redirection on 16994.
/// (Composed from the simulator's public services, whatever its default set serves.)
struct DeviceServices;

impl sim::cira::ChannelServices for DeviceServices {
    fn accepts(&self, port: u32) -> bool {
        matches!(port, 16992 | 16994)
    }

    fn spawn(&self, port: u32, device: sim::device::Device, stream: sim::cira::ChannelStream) {
        tokio::spawn(async move {
            let _ = match port {
                16992 => sim::wsman_server::serve(device, stream).await,
                _ => sim::redirection::serve(device, stream).await,
            };
        });
    }
}

async fn start_fleet(mps: &TestMps, seed: u64, devices: u64) -> Fleet {
    let root = mps.mps.certs().unwrap().root_cert_pem.clone();
    let der = CertificateDer::from_pem_slice(root.as_bytes())
        .unwrap()
        .to_vec();
    let cira = CiraSettings {
        server: "localhost".into(),
        port: mps.cira.port(),
        username: CIRA_USER.into(),
        password: CIRA_PASSWORD.into(),
        root_cert_der: Some(der),
    };
    let config = FleetConfig::provisioned(seed, devices, cira, AMT_PASSWORD);
    let fleet_devices = config.build_devices();
    for d in &fleet_devices {
        common::device::register(mps, &d.guid(), CIRA_USER, CIRA_PASSWORD, AMT_PASSWORD).await;
    }
    Fleet::start_with(&config, fleet_devices, std::sync::Arc::new(DeviceServices))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_simulated_devices_connect_answer_and_power_off() {
    let mut mps = TestMps::start(Db::Postgres).await;
    let fleet = start_fleet(&mps, 42, 200).await;
    assert!(
        fleet.wait_connected(200, Duration::from_secs(60)).await,
        "200 simulated devices connected"
    );
    eventually("REST shows 200 connected", 10, async || {
        let (_, s) = http("GET", &mps.url("/api/v1/devices/stats"), None).await;
        s["connectedCount"] == 200
    })
    .await;
    let (_, list) = http("GET", &mps.url("/api/v1/devices?$top=500&status=1"), None).await;
    assert_eq!(list.as_array().map(Vec::len), Some(200));

    // Power off ten devices through REST: the simulated devices really change state.
    let targets: Vec<_> = fleet.devices()[..10].to_vec();
    for d in &targets {
        let g = d.guid();
        let (status, body) = http(
            "POST",
            &mps.url(&format!("/api/v1/amt/power/action/{g}")),
            Some(json!({"action": 8})),
        )
        .await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["Body"]["ReturnValueStr"], "SUCCESS", "{body}");
        assert_eq!(d.power_state(), 8, "device {g} is off");
        let (status, state) = http(
            "GET",
            &mps.url(&format!("/api/v1/amt/power/state/{g}")),
            None,
        )
        .await;
        assert_eq!(status, 200);
        assert_eq!(state["powerstate"], 8);
    }
    // An untouched device is still on.
    assert_eq!(fleet.devices()[10].power_state(), 2);

    // The other AMT routes answer with the simulator's data.
    let d = &fleet.devices()[11];
    let g = d.guid();
    let get = |path: &str| {
        let url = mps.url(&format!("/api/v1/amt/{path}/{g}"));
        async move { http("GET", &url, None).await }
    };
    let (s, version) = get("version").await;
    assert_eq!(s, 200, "{version}");
    let amt = version["CIM_SoftwareIdentity"]["responses"]
        .as_array()
        .and_then(|a| a.iter().find(|i| i["InstanceID"] == "AMT"))
        .cloned()
        .unwrap_or(Value::Null);
    assert_eq!(amt["VersionString"], d.firmware_version(), "{version}");
    let scs = &version["AMT_SetupAndConfigurationService"];
    assert!(scs["response"].is_object(), "{version}");
    // v2.34.1's shape: `responses.Body` is the instance itself, numbers stay numbers.
    assert_eq!(scs["responses"]["Body"], scs["response"], "{version}");
    assert!(scs["responses"]["Header"].is_object(), "{version}");
    assert_eq!(scs["status"], 200);

    let (s, hw) = get("hardwareInfo").await;
    assert_eq!(s, 200, "{hw}");
    for key in [
        "CIM_ComputerSystemPackage",
        "CIM_SystemPackaging",
        "CIM_Chassis",
        "CIM_Chip",
        "CIM_Card",
        "CIM_BIOSElement",
        "CIM_Processor",
        "CIM_PhysicalMemory",
        "CIM_MediaAccessDevice",
        "CIM_PhysicalPackage",
    ] {
        assert_eq!(hw[key]["status"], 200, "{key}: {hw}");
        let responses = hw[key]["responses"].as_array().expect("a list");
        assert!(!responses.is_empty(), "{key}: {hw}");
    }
    // Classes read with Get: the instance, and the whole envelope as the only item of the list.
    for key in [
        "CIM_ComputerSystemPackage",
        "CIM_Chassis",
        "CIM_Card",
        "CIM_BIOSElement",
    ] {
        assert!(hw[key]["response"].is_object(), "{key}: {hw}");
        assert_eq!(
            hw[key]["responses"][0]["Body"][key], hw[key]["response"],
            "{key}"
        );
        assert_eq!(
            hw[key]["responses"].as_array().map(Vec::len),
            Some(1),
            "{key}"
        );
    }
    // Media and memory are listed flat: each item is an instance, not another list.
    for key in ["CIM_MediaAccessDevice", "CIM_PhysicalMemory"] {
        let items = hw[key]["responses"].as_array().expect("a list");
        assert!(items.iter().all(Value::is_object), "{key}: {hw}");
    }
    // Processors, chips and packages are one list more deep, as the reference answers them.
    for key in [
        "CIM_Processor",
        "CIM_Chip",
        "CIM_PhysicalPackage",
        "CIM_SystemPackaging",
    ] {
        let first = &hw[key]["responses"][0];
        assert!(first.is_object() || first.is_array(), "{key}: {hw}");
    }

    let (s, general) = get("generalSettings").await;
    assert_eq!(s, 200, "{general}");
    assert_eq!(general["Body"]["HostName"], d.hostname(), "{general}");

    let (s, features) = get("features").await;
    assert_eq!(s, 200, "{features}");
    assert!(
        features["userConsent"].is_string() && features["SOL"].is_boolean(),
        "{features}"
    );
    let mut keys: Vec<&str> = features
        .as_object()
        .map(|o| o.keys().map(String::as_str).collect())
        .unwrap_or_default();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "IDER",
            "KVM",
            "SOL",
            "httpsBootSupported",
            "kvmAvailable",
            "localPBABootSupported",
            "ocr",
            "optInState",
            "redirection",
            "remoteErase",
            "userConsent",
            "winREBootSupported"
        ],
        "v2.34.1's fields, no more: {features}"
    );

    let (s, caps) = get("power/capabilities").await;
    assert_eq!(s, 200, "{caps}");
    assert_eq!(caps["Power down"], 8);
    assert_eq!(caps["Reset to PXE"], 400);

    // The power actions above were audited by the powered devices; this one has its own log.
    let (s, audit) = http(
        "GET",
        &mps.url(&format!(
            "/api/v1/amt/log/audit/{}?startIndex=0",
            targets[0].guid()
        )),
        None,
    )
    .await;
    assert_eq!(s, 200, "{audit}");
    let records = audit["records"].as_array().cloned().unwrap_or_default();
    assert!(audit["totalCnt"].as_i64().unwrap_or(0) >= 1, "{audit}");
    assert!(
        records.iter().any(|r| r["Event"] == "Performed Power Down"),
        "{audit}"
    );

    let (s, events) = get("log/event").await;
    assert_eq!(s, 200, "{events}");
    assert!(events.is_array());

    let (s, boot) = http(
        "POST",
        &mps.url(&format!("/api/v1/amt/power/bootOptions/{g}")),
        Some(json!({"action": 400, "useSOL": false})),
    )
    .await;
    assert_eq!(s, 200, "{boot}");
    assert_eq!(boot["Body"]["ReturnValueStr"], "SUCCESS", "{boot}");

    let (s, consent) = get("userConsentCode").await;
    assert!(s == 200 || s == 400, "{consent}");
    assert!(consent["Body"]["ReturnValueStr"].is_string(), "{consent}");

    // The fleet goes away: every row ends disconnected.
    let summary = fleet.shutdown().await;
    assert!(summary.to_string().contains("200"), "{summary}");
    eventually("all rows disconnected", 20, async || {
        let (_, s) = http("GET", &mps.url("/api/v1/devices/stats"), None).await;
        s["connectedCount"] == 0 && s["totalCount"] == 200
    })
    .await;
    mps.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wrong_amt_password_fails_the_call_and_a_gone_tunnel_is_a_404() {
    let mut mps = TestMps::start_with(Db::Sqlite, |c| c.wsman_timeout_secs = 2).await;
    let fleet = start_fleet(&mps, 7, 1).await;
    assert!(fleet.wait_connected(1, Duration::from_secs(20)).await);
    let g = fleet.devices()[0].guid();
    let (s, _) = http(
        "GET",
        &mps.url(&format!("/api/v1/amt/power/state/{g}")),
        None,
    )
    .await;
    assert_eq!(s, 200);
    // A wrong AMT password: digest fails, the call ends with an error instead of hanging.
    mps.mps
        .connections()
        .get(&g)
        .unwrap()
        .set_amt_password(Some("wrong".into()));
    let conn = mps.mps.connections().get(&g).unwrap();
    let started = std::time::Instant::now();
    let r = conn
        .wsman(
            &wsman::Call::get("AMT_GeneralSettings"),
            Duration::from_secs(5),
        )
        .await;
    assert!(r.is_err(), "a wrong password must not succeed");
    assert!(started.elapsed() < Duration::from_secs(5));
    fleet.shutdown().await;
    // With the tunnel gone the route is a 404 at once.
    eventually("tunnel gone", 10, async || {
        mps.mps.connections().get(&g).is_none()
    })
    .await;
    let (s, body) = http(
        "GET",
        &mps.url(&format!("/api/v1/amt/power/state/{g}")),
        None,
    )
    .await;
    assert_eq!(s, 404, "{body}");
    mps.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn network_settings_routes_read_and_change_the_simulated_device() {
    let mut mps = TestMps::start(Db::Sqlite).await;
    let fleet = start_fleet(&mps, 11, 2).await;
    assert!(fleet.wait_connected(2, Duration::from_secs(20)).await);
    // Device 1 has WiFi hardware, device 0 has none.
    fleet.devices()[1].set_wireless(true);
    for d in fleet.devices() {
        check_network_routes(&mps, &d.guid()).await;
    }
    fleet.shutdown().await;
    mps.stop().await;
}

async fn check_network_routes(mps: &TestMps, g: &str) {
    let url = |p: &str| mps.url(&format!("/api/v1/amt/{p}/{g}"));

    let (s, all) = http("GET", &url("networkSettings"), None).await;
    assert_eq!(s, 200, "{all}");
    assert!(all["wired"]["macAddress"].is_string(), "{all}");
    assert!(all["wired"]["ieee8021x"].is_object(), "{all}");
    assert!(
        all["wired"]["linkPolicy"]
            .as_array()
            .is_some_and(|p| p.contains(&json!("S0 AC"))),
        "{all}"
    );
    let (s, wired) = http("GET", &url("networkSettings/wired"), None).await;
    assert_eq!(s, 200, "{wired}");

    // Static addresses need the whole set; DHCP is accepted (204).
    let (s, v) = http(
        "PATCH",
        &url("networkSettings/wired"),
        Some(json!({"dhcpEnabled": false, "ipAddress": "10.0.0.5"})),
    )
    .await;
    assert_eq!(s, 400, "{v}");
    assert_eq!(
        v["errorDescription"],
        "subnetMask is required for static IP configuration"
    );
    let (s, v) = http(
        "PATCH",
        &url("networkSettings/wired"),
        Some(json!({"dhcpEnabled": true})),
    )
    .await;
    assert_eq!(s, 204, "{v}");
    let (s, v) = http(
        "PATCH",
        &url("networkSettings/wired"),
        Some(json!({"dhcpEnabled": true, "ieee8021x": {}})),
    )
    .await;
    assert_eq!(
        (s, v["errorDescription"].clone()),
        (
            501,
            json!("Wired 802.1X configuration is not yet supported")
        )
    );

    let has_wifi = all["wireless"]["macAddress"]
        .as_str()
        .is_some_and(|m| !m.is_empty());
    if !has_wifi {
        // The simulated device has no WiFi hardware: AMT refuses, MPS answers 400 with the reason.
        let (s, v) = http(
            "POST",
            &url("networkSettings/wireless/state"),
            Some(json!({"state": "WifiEnabledS0"})),
        )
        .await;
        assert_eq!(s, 400, "{v}");
        let (s, v) = http("GET", &url("networkSettings/wireless/profile"), None).await;
        assert_eq!((s, v), (200, json!([])));
    } else {
        let (s, v) = http(
            "POST",
            &url("networkSettings/wireless/state"),
            Some(json!({"state": "WifiEnabledS0SxAC"})),
        )
        .await;
        assert_eq!(s, 200, "{v}");
        let (s, v) = http("GET", &url("networkSettings/wireless/state"), None).await;
        assert_eq!(
            (s, v["state"].clone()),
            (200, json!("WifiEnabledS0SxAC")),
            "{v}"
        );

        let (s, v) = http(
            "POST",
            &url("networkSettings/wireless/profile"),
            Some(json!({"profileName":"home","ssid":"home-ssid","priority":1,"authenticationMethod":"WPA2PSK","encryptionMethod":"CCMP","password":"superSecret1"})),
        )
        .await;
        assert_eq!(s, 200, "{v}");
        let (s, v) = http("GET", &url("networkSettings/wireless/profile"), None).await;
        assert_eq!(s, 200, "{v}");
        assert!(
            v.as_array()
                .is_some_and(|l| l.iter().any(|p| p["ssid"] == "home-ssid")),
            "{v}"
        );
        assert!(
            !v.to_string().contains("superSecret1"),
            "the passphrase is never read back"
        );
        let (s, _) = http(
            "DELETE",
            &mps.url(&format!(
                "/api/v1/amt/networkSettings/wireless/profile/{g}/home"
            )),
            None,
        )
        .await;
        assert_eq!(s, 204);

        let (s, v) = http("GET", &url("networkSettings/wireless/profileSync"), None).await;
        assert_eq!(s, 200, "{v}");
        assert!(v["localProfileSync"].is_boolean(), "{v}");
        let (s, v) = http(
            "POST",
            &url("network/linkPreference"),
            Some(json!({"linkPreference": 1, "timeout": 60})),
        )
        .await;
        assert_eq!(s, 200, "{v}");
    }
}
