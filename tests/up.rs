//! As a new user would: in an empty directory start `openamt up`; log in through the gateway; create a
//! CIRA config and a profile; activate 20 simulated devices through `/activate`; watch them connect with
//! `mosquitto_sub` over TLS; list them and power one off through the gateway; open a SOL session through
//! `/mps/ws/relay/...`. Then restart `openamt up`: the devices and profiles are still there.

mod support;

use std::{
    path::Path,
    process::{Command, Stdio},
    sync::Arc,
    time::{Duration, Instant},
};

use serde_json::{Value, json};
use support::{Running, free_port, openamt, start_up_with};

const DEVICES: usize = 20;

fn client(data: &Path) -> reqwest::Client {
    let ca = std::fs::read(data.join("ca.pem")).unwrap();
    reqwest::Client::builder()
        .use_preconfigured_tls(certs::client_config(&ca).unwrap())
        .build()
        .unwrap()
}

async fn login(http: &reqwest::Client, gateway: &str, password: &str) -> String {
    let response = http
        .post(format!("{gateway}/mps/login/api/v1/authorize"))
        .json(&json!({"username": "admin", "password": password}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    response.json::<Value>().await.unwrap()["token"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn call(
    http: &reqwest::Client,
    token: &str,
    method: reqwest::Method,
    url: String,
    body: Option<Value>,
) -> (u16, Value) {
    let mut request = http.request(method, url).bearer_auth(token);
    if let Some(body) = body {
        request = request.json(&body);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    (
        status,
        serde_json::from_str(&text).unwrap_or(Value::String(text)),
    )
}

async fn eventually(what: &str, secs: u64, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_new_user_runs_the_whole_system_with_one_command() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("openamt-data");
    // CIRA keeps its port across the restart (devices were told where MPS is), like 4433 would.
    // Logs at debug level: the end of the test checks that no secret reached any of them.
    let cira_env = [
        ("MPS_PORT", free_port().to_string()),
        ("RUST_LOG", "debug".to_owned()),
    ];
    let mut up = start_up_with(dir.path(), &cira_env);
    let password = up
        .password
        .clone()
        .expect("the first start prints the password");
    let gw = up.gateway.clone();
    let http = client(&data);
    let token = login(&http, &gw, &password).await;
    let first_token = token.clone();
    use reqwest::Method;

    // Without a token the gateway answers as Kong does.
    let (status, body) = call(
        &http,
        "",
        Method::GET,
        format!("{gw}/mps/api/v1/devices"),
        None,
    )
    .await;
    assert_eq!((status, body), (401, json!({"message": "Unauthorized"})));

    // A CIRA config pointing at this MPS, with its root certificate, and a CCM profile using it.
    let (status, root) = call(
        &http,
        &token,
        Method::GET,
        format!("{gw}/mps/api/v1/ciracert"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let root_body: String = root
        .as_str()
        .unwrap()
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    let cira_port: u16 = up.cira.rsplit(':').next().unwrap().parse().unwrap();
    let (status, body) = call(
        &http,
        &token,
        Method::POST,
        format!("{gw}/rps/api/v1/admin/ciraconfigs"),
        Some(json!({"configName": "local-mps", "mpsServerAddress": "127.0.0.1", "mpsPort": cira_port,
            "username": "admin", "commonName": "127.0.0.1", "serverAddressFormat": 3, "authMethod": 2,
            "mpsRootCertificate": root_body, "proxyDetails": ""})),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = call(
        &http,
        &token,
        Method::POST,
        format!("{gw}/rps/api/v1/admin/profiles"),
        Some(json!({"profileName": "ccm-cira", "activation": "ccmactivate", "ciraConfigName": "local-mps",
            "generateRandomPassword": false, "amtPassword": "Amt-P@ssw0rd1", "tags": ["demo"],
            "dhcpEnabled": true, "userConsent": "All", "iderEnabled": true, "kvmEnabled": true,
            "solEnabled": true})),
    )
    .await;
    assert_eq!(status, 201, "{body}");

    // An outside MQTT client watches devices connect.
    let dashboard = broker::Credentials::load_password(&data, "dashboard").unwrap();
    let watcher = Running(Some(
        Command::new("mosquitto_sub")
            .args(["-V", "mqttv5", "-h", "localhost", "-p", &up.mqtt_port])
            .arg("--cafile")
            .arg(data.join("ca.pem"))
            .args(["-u", "dashboard", "-P", &dashboard])
            .args([
                "-t",
                "openamt/v1/events/devices/+/connected",
                "-C",
                &DEVICES.to_string(),
                "-W",
                "120",
            ])
            .args(["-F", "%t"])
            .stdout(Stdio::piped())
            .spawn()
            .expect("mosquitto_sub"),
    ));
    // Everything a dashboard may read, payloads included, for the secrets check at the end.
    let _everything = Running(Some(
        Command::new("mosquitto_sub")
            .args(["-V", "mqttv5", "-h", "localhost", "-p", &up.mqtt_port])
            .arg("--cafile")
            .arg(data.join("ca.pem"))
            .args(["-u", "dashboard", "-P", &dashboard])
            .args(["-t", "openamt/v1/#", "-F", "%t %p"])
            .stdout(log_file(dir.path(), "events"))
            .spawn()
            .expect("mosquitto_sub"),
    ));
    tokio::time::sleep(Duration::from_millis(500)).await;

    // Twenty simulated devices activate through the gateway's /activate and stay, connecting over CIRA.
    let devices = activate(dir.path(), &gw, DEVICES, 7, "sim-activate");

    let mut watcher = watcher;
    let watched = watcher.0.take().unwrap();
    let seen = tokio::task::spawn_blocking(move || watched.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let connected: Vec<String> = String::from_utf8_lossy(&seen.stdout)
        .lines()
        .map(str::to_owned)
        .collect();
    assert_eq!(
        connected.len(),
        DEVICES,
        "connected events seen by mosquitto_sub: {connected:?}"
    );

    // The devices through the gateway, all connected (the row may be marked a moment after the
    // event went out).
    eventually(
        "the device list to show every device connected",
        30,
        async || {
            let (status, stats) = call(
                &http,
                &token,
                Method::GET,
                format!("{gw}/mps/api/v1/devices/stats"),
                None,
            )
            .await;
            status == 200 && stats["connectedCount"] == DEVICES
        },
    )
    .await;
    let (_, list) = call(
        &http,
        &token,
        Method::GET,
        format!("{gw}/mps/api/v1/devices?$top=100"),
        None,
    )
    .await;
    let guid = list[0]["guid"].as_str().unwrap().to_owned();
    assert_eq!(list[0]["tags"], json!(["demo"]));

    // Power one off through the gateway; the simulated device really goes off.
    let (status, body) = call(
        &http,
        &token,
        Method::POST,
        format!("{gw}/mps/api/v1/amt/power/action/{guid}"),
        Some(json!({"action": 8})),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["Body"]["ReturnValueStr"], "SUCCESS", "{body}");
    let (_, state) = call(
        &http,
        &token,
        Method::GET,
        format!("{gw}/mps/api/v1/amt/power/state/{guid}"),
        None,
    )
    .await;
    assert_eq!(state["powerstate"], 8, "{state}");

    // A serial-over-LAN session through the gateway's relay route shows the device's console.
    let (status, redirection) = call(
        &http,
        &token,
        Method::GET,
        format!("{gw}/mps/api/v1/authorize/redirection/{guid}"),
        None,
    )
    .await;
    assert_eq!(status, 200);
    let tls = Arc::new(certs::client_config(&std::fs::read(data.join("ca.pem")).unwrap()).unwrap());
    let relay = sim::sol_console::relay_url(
        &format!("{}/mps/ws/relay", gw.replace("https://", "wss://")),
        &guid,
    );
    let mut console = sim::sol_console::SolConsole::open(
        &relay,
        redirection["token"].as_str().unwrap(),
        Some(tls),
    )
    .await
    .expect("SOL through the relay");
    console
        .read_until(b"login: ")
        .await
        .expect("the console's prompt");
    console.type_keys(b"admin").await.unwrap();
    console
        .read_until(b"admin")
        .await
        .expect("typed keys echoed");
    console.close().await.unwrap();

    // A device activated and then deactivated through the gateway is gone from MPS, and leaves no
    // retained presence (through the embedded broker, where a shared-subscription quirk once kept
    // MPS from ever hearing of deactivations).
    let deactivated = sim::device::guid_for(99, 0).to_string();
    let cycle = openamt(dir.path())
        .args(["sim", "activate", "--rps-url"])
        .arg(format!("{}/activate", gw.replace("https://", "wss://")))
        .arg("--ca")
        .arg(data.join("ca.pem"))
        .args(["--profile", "ccm-cira", "--devices", "1", "--seed", "99"])
        // Connected over CIRA for a few seconds first, so it had a presence.
        .args(["--stay", "--duration", "4"])
        .args(["--deactivate", "--password", "Amt-P@ssw0rd1"])
        .env("RUST_LOG", "debug")
        .stdout(Stdio::piped())
        .stderr(log_file(dir.path(), "sim-deactivate"))
        .output()
        .unwrap();
    let summary: Value = serde_json::from_slice(&cycle.stdout).expect("the summary is JSON");
    assert_eq!(
        summary["deactivation"]["succeeded"],
        1,
        "{}",
        String::from_utf8_lossy(&cycle.stdout)
    );
    eventually("the deactivated device to be removed", 30, async || {
        let (status, _) = call(
            &http,
            &token,
            Method::GET,
            format!("{gw}/mps/api/v1/devices/{deactivated}"),
            None,
        )
        .await;
        status == 404
    })
    .await;
    let retained_presences = || {
        let out = std::process::Command::new("mosquitto_sub")
            .args([
                "-V",
                "mqttv5",
                "-h",
                "localhost",
                "-p",
                &up.mqtt_port,
                "--cafile",
            ])
            .arg(data.join("ca.pem"))
            .args(["-u", "dashboard", "-P", &dashboard])
            .args([
                "-t",
                "openamt/v1/devices/+/presence",
                "--retained-only",
                "-W",
                "2",
            ])
            .args(["-F", "%t"])
            .output()
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    eventually(
        "the deactivated device's presence to be cleared",
        30,
        async || {
            let retained = retained_presences();
            !retained.contains(&deactivated) && retained.lines().count() == DEVICES
        },
    )
    .await;
    assert_eq!(summary["fleet"]["ever_connected"], 1, "{summary}");

    // Ctrl-C stops everything cleanly; the devices are reported disconnected.
    drop(devices);
    assert!(
        up.process.interrupt().success(),
        "openamt up exits cleanly on Ctrl-C"
    );

    // Started again: the devices and the profile are still there.
    let mut again = start_up_with(dir.path(), &cira_env);
    assert!(
        again.password.is_none(),
        "the password is printed on the first start only"
    );
    let gw = again.gateway.clone();
    let token = login(&http, &gw, &password).await;
    let (_, stats) = call(
        &http,
        &token,
        Method::GET,
        format!("{gw}/mps/api/v1/devices/stats"),
        None,
    )
    .await;
    assert_eq!(stats["totalCount"], DEVICES, "{stats}");
    assert_eq!(stats["connectedCount"], 0, "{stats}");
    let (status, profile) = call(
        &http,
        &token,
        Method::GET,
        format!("{gw}/rps/api/v1/admin/profiles/ccm-cira"),
        None,
    )
    .await;
    assert_eq!(status, 200, "{profile}");
    assert_eq!(profile["ciraConfigName"], "local-mps");
    // And the devices come back when they reconnect.
    let devices = activate(dir.path(), &gw, 1, 8, "sim-activate-again");
    eventually(
        "a device activated after the restart to connect",
        60,
        async || {
            let (_, stats) = call(
                &http,
                &token,
                Method::GET,
                format!("{gw}/mps/api/v1/devices/stats"),
                None,
            )
            .await;
            stats["connectedCount"] == 1
        },
    )
    .await;
    drop(devices);
    assert!(again.process.interrupt().success());

    // No password, token or key in any log line or event of the whole run.
    let mut secrets = vec![
        ("admin password".to_owned(), password.clone()),
        ("login token".to_owned(), token.clone()),
        ("first login token".to_owned(), first_token),
        (
            "redirection token".to_owned(),
            redirection["token"].as_str().unwrap().to_owned(),
        ),
        (
            "profile AMT password".to_owned(),
            "Amt-P@ssw0rd1".to_owned(),
        ),
    ];
    secrets.extend(support::leaks::installation_secrets(&data));
    // What the secret store holds for each device: the CIRA and AMT passwords RPS generated.
    let store = secrets::open(&secrets::SecretStoreConfig::Local {
        dir: data.join("secrets"),
    })
    .unwrap();
    for device in list.as_array().unwrap() {
        let guid = device["guid"].as_str().unwrap();
        let stored = store
            .get(&format!("devices/{guid}"))
            .await
            .unwrap()
            .unwrap();
        secrets.extend(support::leaks::secret_values(&Value::Object(stored), guid));
    }
    // At least each device's CIRA and AMT passwords.
    assert!(secrets.len() > 2 * DEVICES, "{} secrets", secrets.len());
    let texts = support::leaks::read_all(&support::leaks::log_files(&dir.path().join("logs")));
    support::leaks::assert_free_of_secrets(&texts, &secrets);
}

/// Simulated devices that activate through the gateway's `/activate` with the `ccm-cira` profile
/// and stay, connecting over CIRA; their logs (debug level) go to `<dir>/logs/<log>.log`.
fn activate(dir: &Path, gateway: &str, devices: usize, seed: u64, log: &str) -> Running {
    Running(Some(
        openamt(dir)
            .args(["sim", "activate", "--rps-url"])
            .arg(format!(
                "{}/activate",
                gateway.replace("https://", "wss://")
            ))
            .arg("--ca")
            .arg(dir.join("openamt-data/ca.pem"))
            .args(["--profile", "ccm-cira", "--stay", "--concurrency", "10"])
            .args([
                "--devices",
                &devices.to_string(),
                "--seed",
                &seed.to_string(),
            ])
            .env("RUST_LOG", "debug")
            .stdout(Stdio::null())
            .stderr(log_file(dir, log))
            .spawn()
            .unwrap(),
    ))
}

/// A log file under `<dir>/logs`.
fn log_file(dir: &Path, name: &str) -> std::fs::File {
    std::fs::create_dir_all(dir.join("logs")).unwrap();
    std::fs::File::create(dir.join("logs").join(format!("{name}.log"))).unwrap()
}
