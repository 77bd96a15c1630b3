//! Issue 8's fault tests, with the production pieces as separate processes (`openamt mps`, `openamt
//! rps`), Debian's Mosquitto, a real Postgres and simulated devices:
//!
//! 1. Postgres stopped and started again under MPS and RPS: both report unhealthy, REST calls that need
//!    the database fail with a clear 5xx, events and registrations made during the outage are neither
//!    lost nor doubled, and both recover by themselves.
//! 2. The secret store (Vault KV v2, the fake test server) stopped and started again on the same port:
//!    clear errors within a bounded time, a device's CIRA connect refused and later accepted, no crash,
//!    recovery without restarting anything.
//! 3. RPS killed (SIGKILL) in the middle of an activation: the agent fails cleanly, the restarted RPS
//!    publishes a `failed` event for the interrupted attempt, and a retry reaches a clean end.
//!
//! Each test prints how long its phases took.

mod support;

use std::{
    collections::{HashMap, HashSet},
    net::SocketAddr,
    path::Path,
    process::Stdio,
    sync::{Arc, LazyLock, Mutex},
    time::{Duration, Instant},
};

use broker::{Bus, BusConfig, mosquitto::Mosquitto};
use rustls::pki_types::{CertificateDer, pem::PemObject};
use schemas::{DeviceEvent, Event, Guid, Topic, proto};
use serde_json::{Value, json};
use support::{
    Running, free_port,
    logs::{Logs, random},
    mosquitto_client, openamt,
    pg_cluster::PgCluster,
};

/// One fault test at a time: each starts several services and a fleet, on a shared 2-core machine.
static ONE_AT_A_TIME: LazyLock<tokio::sync::Mutex<()>> =
    LazyLock::new(|| tokio::sync::Mutex::new(()));

const AMT_PASSWORD: &str = "Amt!Faults7x9q";

async fn eventually(what: &str, secs: u64, mut check: impl AsyncFnMut() -> bool) -> Instant {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Instant::now()
}

async fn wait_listening(addr: SocketAddr, what: &str) {
    eventually(&format!("{what} listening on {addr}"), 60, async || {
        tokio::net::TcpStream::connect(addr).await.is_ok()
    })
    .await;
}

fn assert_running(process: &mut Running, what: &str) {
    let exited = process.child().try_wait().unwrap();
    assert!(exited.is_none(), "{what} exited: {exited:?}");
}

/// Plain HTTP to a service's REST port.
struct Http {
    client: reqwest::Client,
    base: String,
    token: Option<String>,
}

impl Http {
    fn new(addr: SocketAddr) -> Http {
        Http {
            client: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap(),
            base: format!("http://{addr}"),
            token: None,
        }
    }

    async fn send(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        if let Some(token) = &self.token {
            request = request.bearer_auth(token);
        }
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("an answer, not a hang");
        let status = response.status().as_u16();
        let text = response.text().await.unwrap_or_default();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        self.send(reqwest::Method::GET, path, None).await
    }

    async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(reqwest::Method::POST, path, Some(body)).await
    }

    /// MPS's login.
    async fn login(&mut self, password: &str) {
        let (status, body) = self
            .post(
                "/api/v1/authorize",
                json!({"username": "admin", "password": password}),
            )
            .await;
        assert_eq!(status, 200, "{body}");
        self.token = Some(body["token"].as_str().unwrap().to_owned());
    }

    /// Every row of MPS's device list, by GUID; `None` when the list did not answer 200.
    async fn devices(&self) -> Option<HashMap<String, Value>> {
        let (status, list) = self.get("/api/v1/devices?$top=1000").await;
        if status != 200 {
            return None;
        }
        Some(
            list.as_array()?
                .iter()
                .map(|d| (d["guid"].as_str().unwrap_or_default().to_owned(), d.clone()))
                .collect(),
        )
    }
}

/// What a dashboard on the broker saw.
#[derive(Default)]
struct Seen {
    /// (guid, event id) of every `connected` event, in arrival order.
    connected: Vec<(String, String)>,
    disconnected: Vec<(String, String)>,
    activation: Vec<(Instant, proto::ActivationEvent)>,
}

impl Seen {
    fn phases(&self, guid: &str) -> Vec<(proto::ActivationPhase, String)> {
        self.activation
            .iter()
            .filter(|(_, e)| e.guid == guid)
            .map(|(_, e)| (e.phase(), e.reason.clone()))
            .collect()
    }

    fn count(events: &[(String, String)], guid: &str) -> usize {
        events
            .iter()
            .filter(|(g, _)| g == guid)
            .map(|(_, id)| id)
            .collect::<HashSet<_>>()
            .len()
    }
}

async fn dashboard(mosquitto: &Mosquitto, client_id: &str) -> (Bus, Arc<Mutex<Seen>>) {
    let bus = mosquitto_client(mosquitto, "dashboard", client_id, Duration::ZERO).await;
    let mut events = bus
        .subscribe(&bus.topics().all_device_events())
        .await
        .unwrap();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let s = seen.clone();
    tokio::spawn(async move {
        while let Some(d) = events.next().await {
            let Some(event) = d.event.clone() else {
                continue;
            };
            let mut s = s.lock().unwrap();
            if event.ty == proto::DeviceConnected::TYPE {
                let e: proto::DeviceConnected = d.decode().unwrap();
                s.connected.push((e.guid, event.id));
            } else if event.ty == proto::DeviceDisconnected::TYPE {
                let e: proto::DeviceDisconnected = d.decode().unwrap();
                s.disconnected.push((e.guid, event.id));
            } else if event.ty == proto::ActivationEvent::TYPE {
                s.activation.push((Instant::now(), d.decode().unwrap()));
            }
        }
    });
    (bus, seen)
}

/// An `openamt mps` child.
struct MpsProcess {
    process: Running,
    cira: SocketAddr,
    web: SocketAddr,
}

struct MpsSettings<'a> {
    dir: &'a Path,
    logs: &'a Logs,
    name: &'a str,
    mosquitto: Option<&'a Mosquitto>,
    /// `MPS_*` settings of the test: database, secret store, enrolment.
    env: Vec<(&'static str, String)>,
    admin_password: &'a str,
}

fn start_mps(s: &MpsSettings) -> MpsProcess {
    let cira = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let web = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let mut command = openamt(s.dir);
    command
        .arg("mps")
        .env("MPS_INSTANCE_NAME", s.name)
        .env("MPS_INSTANCE_ADDRESS", web.to_string())
        .env("MPS_PORT", cira.port().to_string())
        .env("MPS_WEB_PORT", web.port().to_string())
        .env("MPS_BIND_ADDRESS", "127.0.0.1")
        .env("MPS_COMMON_NAME", "localhost")
        .env("MPS_JWT_SECRET", random(48))
        .env("MPS_WEB_ADMIN_USER", "admin")
        .env("MPS_WEB_ADMIN_PASSWORD", s.admin_password)
        .env("MPS_DATA_DIR", s.dir.join(format!("{}-data", s.name)))
        // Row repairs and keep-alive batches every second (default 5 s), so the test waits less.
        .env("MPS_LASTSEEN_FLUSH_MS", "1000")
        .env("RUST_LOG", "info,sqlx=warn")
        .stdout(Stdio::null())
        .stderr(s.logs.file(s.name));
    for (name, value) in &s.env {
        command.env(name, value);
    }
    if let Some(mosquitto) = s.mosquitto {
        command
            .env("OPENAMT_MQTT_URL", mosquitto.url())
            .env("OPENAMT_MQTT_CA", &mosquitto.ca_path)
            .env(
                "OPENAMT_MQTT_PASSWORD",
                mosquitto.credentials.password("mps").unwrap(),
            );
    }
    MpsProcess {
        process: Running::spawn(&mut command),
        cira,
        web,
    }
}

/// An `openamt rps` child on fixed ports (a restarted one answers where the first did).
struct RpsSettings<'a> {
    dir: &'a Path,
    logs: &'a Logs,
    name: &'a str,
    mosquitto: Option<&'a Mosquitto>,
    rest: SocketAddr,
    ws: SocketAddr,
    env: Vec<(&'static str, String)>,
}

fn start_rps(s: &RpsSettings) -> Running {
    let mut command = openamt(s.dir);
    command
        .arg("rps")
        .env("RPS_INSTANCE_NAME", s.name)
        .env("RPS_WEB_HOST", "127.0.0.1")
        .env("RPS_WEB_PORT", s.rest.port().to_string())
        .env("RPS_WEBSOCKETPORT", s.ws.port().to_string())
        .env("RUST_LOG", "info,sqlx=warn")
        .stdout(Stdio::null())
        .stderr(s.logs.file(s.name));
    for (name, value) in &s.env {
        command.env(name, value);
    }
    if let Some(mosquitto) = s.mosquitto {
        command
            .env("OPENAMT_MQTT_URL", mosquitto.url())
            .env("OPENAMT_MQTT_CA", &mosquitto.ca_path)
            .env(
                "OPENAMT_MQTT_PASSWORD",
                mosquitto.credentials.password("rps").unwrap(),
            );
    }
    Running::spawn(&mut command)
}

/// The MPS root certificate the devices must trust (DER).
async fn cira_root(mps: &Http) -> Vec<u8> {
    let (status, root) = mps.get("/api/v1/ciracert").await;
    assert_eq!(status, 200, "{root}");
    CertificateDer::from_pem_slice(root.as_str().unwrap().as_bytes())
        .unwrap()
        .to_vec()
}

fn fleet_config(
    seed: u64,
    start: u64,
    devices: u64,
    mps: &MpsProcess,
    user: &str,
    password: &str,
    root: &[u8],
) -> sim::fleet::FleetConfig {
    let mut config = sim::fleet::FleetConfig::provisioned(
        seed,
        devices,
        sim::device::CiraSettings {
            server: "localhost".into(),
            port: mps.cira.port(),
            username: user.into(),
            password: password.into(),
            root_cert_der: Some(root.to_vec()),
        },
        AMT_PASSWORD,
    );
    config.start_index = start;
    // A refused or lost tunnel is tried again after 1–3 s, as AMT retries its MPS.
    config.backoff = sim::cira::BackoffConfig {
        base: Duration::from_secs(1),
        max: Duration::from_secs(3),
    };
    config
}

fn guids(fleet: &sim::fleet::Fleet) -> Vec<String> {
    fleet.devices().iter().map(|d| d.guid()).collect()
}

/// A health route: its status, its body and how long it took.
async fn health(http: &Http, path: &str) -> (u16, Value, Duration) {
    let started = Instant::now();
    let (status, body) = http.get(path).await;
    (status, body, started.elapsed())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_restarted_under_mps_and_rps_loses_no_event_or_registration() {
    let _one = ONE_AT_A_TIME.lock().await;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let test_started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let logs = Logs {
        dir: dir.path().join("logs"),
    };
    let pg = PgCluster::start();
    pg.create_database("mps");
    pg.create_database("rps");
    let mosquitto = Mosquitto::start(&dir.path().join("mosquitto"), 0).unwrap();
    let (_dashboard, seen) = dashboard(&mosquitto, "dash-faults-pg").await;

    let admin_password = format!("Adm1n!{}", random(12));
    let enrolment_password = random(20);
    let mut mps = start_mps(&MpsSettings {
        dir: dir.path(),
        logs: &logs,
        name: "mps-pg",
        mosquitto: Some(&mosquitto),
        env: vec![
            ("MPS_CONNECTION_STRING", pg.url("mps")),
            ("MPS_SECRETS_PROVIDER", "local".into()),
            (
                "MPS_GLOBAL_CIRA_CREDENTIALS",
                json!({"username": "enrol-faults", "password": enrolment_password,
                    "amt_password": AMT_PASSWORD})
                .to_string(),
            ),
        ],
        admin_password: &admin_password,
    });
    let rps_rest = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let mut rps = start_rps(&RpsSettings {
        dir: dir.path(),
        logs: &logs,
        name: "rps-pg",
        mosquitto: Some(&mosquitto),
        rest: rps_rest,
        ws: SocketAddr::from(([127, 0, 0, 1], free_port())),
        env: vec![
            ("RPS_CONNECTION_STRING", pg.url("rps")),
            ("RPS_SECRETS_PROVIDER", "local".into()),
            (
                "RPS_SECRETS_DIR",
                dir.path().join("rps-secrets").display().to_string(),
            ),
        ],
    });
    wait_listening(mps.web, "MPS").await;
    wait_listening(rps_rest, "RPS").await;
    let mut mps_api = Http::new(mps.web);
    mps_api.login(&admin_password).await;
    let rps_api = Http::new(rps_rest);
    let root = cira_root(&mps_api).await;

    // Before: 6 devices that stay, 3 that leave during the outage, all connected and registered.
    let stay = sim::fleet::Fleet::start(&fleet_config(
        88,
        0,
        6,
        &mps,
        "enrol-faults",
        &enrolment_password,
        &root,
    ));
    let leave = sim::fleet::Fleet::start(&fleet_config(
        88,
        6,
        3,
        &mps,
        "enrol-faults",
        &enrolment_password,
        &root,
    ));
    let (stay_guids, leave_guids) = (guids(&stay), guids(&leave));
    let before: Vec<String> = stay_guids.iter().chain(&leave_guids).cloned().collect();
    eventually("9 devices connected and listed", 60, async || {
        mps_api.devices().await.is_some_and(|rows| {
            before
                .iter()
                .all(|g| rows.get(g).is_some_and(|r| r["connectionStatus"] == true))
        })
    })
    .await;
    eventually("their connected events", 30, async || {
        let s = seen.lock().unwrap();
        before.iter().all(|g| Seen::count(&s.connected, g) == 1)
    })
    .await;
    let (status, body, _) = health(&mps_api, "/api/v1/health").await;
    assert_eq!(status, 200, "{body}");

    // Postgres goes away.
    pg.stop();
    let outage = Instant::now();

    // During the outage RPS reports an activation MPS must register once it can (the event is
    // acknowledged to the broker only then), 3 devices leave (their disconnects must reach the
    // dashboard now, not later) and 4 new ones try to connect (refused: MPS cannot look them up; they
    // try again).
    let activated: Guid = "7d3b1f3e-5c2a-4e8b-9f10-2a3b4c5d6e7f".parse().unwrap();
    let mut rps_events = BusConfig::new(
        mosquitto.url().parse().unwrap(),
        "rps",
        mosquitto.credentials.password("rps").unwrap(),
        "rps-faults-publisher",
        "/openamt/rps/faults",
    );
    rps_events.ca_pem = Some(mosquitto.ca_pem.as_bytes().to_vec());
    let rps_events = Bus::connect(rps_events).await.unwrap();
    rps_events
        .publish(
            &Topic::DeviceEvent(activated, DeviceEvent::Activation),
            &proto::ActivationEvent {
                guid: activated.to_string(),
                phase: proto::ActivationPhase::Succeeded as i32,
                control_mode: proto::ControlMode::Ccm as i32,
                profile: "faults".into(),
                hostname: "activated-during-outage".into(),
                mps_username: "cira-faults".into(),
                tags: vec!["outage".into()],
                at: Some(schemas::now()),
                ..Default::default()
            },
        )
        .await
        .unwrap();
    rps_events.flush(Duration::from_secs(10)).await.unwrap();
    let published = Instant::now();
    leave.shutdown().await;
    let left = Instant::now();
    let disconnects_seen = eventually(
        "the disconnects of the leaving devices, while Postgres is down",
        30,
        async || {
            let s = seen.lock().unwrap();
            leave_guids
                .iter()
                .all(|g| Seen::count(&s.disconnected, g) == 1)
        },
    )
    .await;
    let late = sim::fleet::Fleet::start(&fleet_config(
        88,
        9,
        4,
        &mps,
        "enrol-faults",
        &enrolment_password,
        &root,
    ));
    let late_guids = guids(&late);

    // Both services say so, promptly, naming the database.
    let (status, body, took) = health(&mps_api, "/api/v1/health").await;
    assert_eq!(status, 503, "MPS health during the outage: {body}");
    assert_eq!(body["db"]["name"], "POSTGRES", "{body}");
    assert_ne!(body["db"]["status"], "OK", "{body}");
    assert!(took < Duration::from_secs(5), "MPS health took {took:?}");
    let mps_health_time = took;
    let (status, body, took) = health(&rps_api, "/api/v1/admin/health").await;
    assert_eq!(status, 503, "RPS health during the outage: {body}");
    assert_eq!(body["db"]["name"], "POSTGRES", "{body}");
    assert_eq!(body["db"]["status"], "unknown error", "{body}");
    assert!(took < Duration::from_secs(5), "RPS health took {took:?}");
    let rps_health_time = took;

    // REST that needs the database: a 5xx (with the reference's message where it has one), no hang.
    let started = Instant::now();
    let (status, body) = mps_api
        .post(
            "/api/v1/devices",
            json!({"guid": "d162b380-c330-11e3-82a5-40a8f0a2a536", "tags": []}),
        )
        .await;
    assert_eq!(status, 500, "{body}");
    assert_eq!(
        body["message"],
        "Failed to update device: d162b380-c330-11e3-82a5-40a8f0a2a536"
    );
    let (status, body) = mps_api.get("/api/v1/devices").await;
    assert_eq!(
        status, 500,
        "the reference answers a failed list with an empty 500: {body}"
    );
    let mps_rest_time = started.elapsed();
    let cira_config = json!({"configName": "faults-cira", "mpsServerAddress": "127.0.0.1",
        "mpsPort": mps.cira.port(), "username": "admin", "commonName": "127.0.0.1",
        "serverAddressFormat": 201, "authMethod": 2,
        "mpsRootCertificate": "MIIB", "proxyDetails": ""});
    let started = Instant::now();
    let (status, body) = rps_api
        .post("/api/v1/admin/ciraconfigs", cira_config.clone())
        .await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(
        body["message"],
        "Operation failed: faults-cira: the database is unavailable; try again later"
    );
    let rps_rest_time = started.elapsed();

    eventually("the new devices tried and were refused", 60, async || {
        late.stats().failed_attempts() >= 4
    })
    .await;
    assert_eq!(late.stats().connected(), 0);
    // The outage outlasts what MPS used to try before dropping an activation (4 attempts, ~45 s).
    tokio::time::sleep(Duration::from_secs(55).saturating_sub(published.elapsed())).await;
    assert_running(&mut mps.process, "MPS");
    assert_running(&mut rps, "RPS");
    let outage_time = outage.elapsed();

    // Postgres is back: health turns healthy by itself, REST works, nothing from the outage is lost.
    pg.start_again();
    let back = Instant::now();
    let mps_healthy = eventually("MPS healthy again", 30, async || {
        health(&mps_api, "/api/v1/health").await.0 == 200
    })
    .await;
    let rps_healthy = eventually("RPS healthy again", 30, async || {
        health(&rps_api, "/api/v1/admin/health").await.0 == 200
    })
    .await;
    let (status, body) = rps_api.post("/api/v1/admin/ciraconfigs", cira_config).await;
    assert_eq!(status, 201, "{body}");
    let listed = eventually(
        "rows: stayers and newcomers connected, leavers disconnected, the activated device registered",
        60,
        async || {
            let Some(rows) = mps_api.devices().await else {
                return false;
            };
            let connected = |g: &String| rows.get(g).is_some_and(|r| r["connectionStatus"] == true);
            let disconnected = |g: &String| {
                rows.get(g).is_some_and(|r| {
                    r["connectionStatus"] == false && r["mpsInstance"].is_null()
                })
            };
            stay_guids.iter().all(connected)
                && late_guids.iter().all(connected)
                && leave_guids.iter().all(disconnected)
                && rows
                    .get(&activated.to_string())
                    .is_some_and(|r| r["hostname"] == "activated-during-outage")
        },
    )
    .await;
    eventually("the newcomers' connected events", 30, async || {
        let s = seen.lock().unwrap();
        late_guids.iter().all(|g| Seen::count(&s.connected, g) == 1)
    })
    .await;
    // Give duplicates a chance to show up, then count: one `connected` per device, one `disconnected`
    // per leaver, none for the others.
    tokio::time::sleep(Duration::from_secs(3)).await;
    {
        let s = seen.lock().unwrap();
        for g in stay_guids.iter().chain(&leave_guids).chain(&late_guids) {
            assert_eq!(Seen::count(&s.connected, g), 1, "connected events of {g}");
        }
        for g in &leave_guids {
            assert_eq!(
                Seen::count(&s.disconnected, g),
                1,
                "disconnected events of {g}"
            );
        }
        for g in stay_guids.iter().chain(&late_guids) {
            assert_eq!(
                Seen::count(&s.disconnected, g),
                0,
                "disconnected events of {g}"
            );
        }
    }
    let row = &mps_api.devices().await.unwrap()[&activated.to_string()];
    assert_eq!(row["mpsusername"], "cira-faults", "{row}");
    assert_eq!(row["tags"], json!(["outage"]), "{row}");
    // The same processes throughout: nothing was restarted.
    assert_running(&mut mps.process, "MPS");
    assert_running(&mut rps, "RPS");
    let mps_log = logs.read("mps-pg");
    assert!(!mps_log.contains("panicked"), "MPS panicked:\n{mps_log}");

    eprintln!(
        "postgres restart: health answered 503 in {mps_health_time:.2?} (MPS) / {rps_health_time:.2?} (RPS); \
         REST failed in {mps_rest_time:.2?} (MPS, 2 calls) / {rps_rest_time:.2?} (RPS); the leavers' \
         disconnects seen {:.2?} after they left; outage {outage_time:.2?}; after the restart MPS healthy \
         in {:.2?}, RPS in {:.2?}, every row right in {:.2?}; whole test {:.2?}",
        disconnects_seen - left,
        mps_healthy - back,
        rps_healthy - back,
        listed - back,
        test_started.elapsed(),
    );
    stay.shutdown().await;
    late.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unreachable_secret_store_is_a_clear_error_and_everything_recovers() {
    let _one = ONE_AT_A_TIME.lock().await;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let test_started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let logs = Logs {
        dir: dir.path().join("logs"),
    };
    let mut vault = secrets::test_server::TestVault::start(&random(24))
        .await
        .unwrap();
    let store = secrets::open(&vault.config()).unwrap();

    let admin_password = format!("Adm1n!{}", random(12));
    let vault_env = |prefix: &str| -> Vec<(&'static str, String)> {
        let (provider, address, token, path) = match prefix {
            "MPS" => (
                "MPS_SECRETS_PROVIDER",
                "MPS_VAULT_ADDRESS",
                "MPS_VAULT_TOKEN",
                "MPS_SECRETS_PATH",
            ),
            _ => (
                "RPS_SECRETS_PROVIDER",
                "RPS_VAULT_ADDRESS",
                "RPS_VAULT_TOKEN",
                "RPS_SECRETS_PATH",
            ),
        };
        vec![
            (provider, "vault".into()),
            (address, vault.address()),
            (token, vault.token().to_owned()),
            (path, "secret/data/".into()),
        ]
    };
    let mut mps = start_mps(&MpsSettings {
        dir: dir.path(),
        logs: &logs,
        name: "mps-vault",
        mosquitto: None,
        env: vault_env("MPS"),
        admin_password: &admin_password,
    });
    let rps_rest = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let mut rps_env = vault_env("RPS");
    rps_env.push((
        "RPS_CONNECTION_STRING",
        format!("sqlite://{}?mode=rwc", dir.path().join("rps.db").display()),
    ));
    let mut rps = start_rps(&RpsSettings {
        dir: dir.path(),
        logs: &logs,
        name: "rps-vault",
        mosquitto: None,
        rest: rps_rest,
        ws: SocketAddr::from(([127, 0, 0, 1], free_port())),
        env: rps_env,
    });
    wait_listening(mps.web, "MPS").await;
    wait_listening(rps_rest, "RPS").await;
    let mut mps_api = Http::new(mps.web);
    mps_api.login(&admin_password).await;
    let rps_api = Http::new(rps_rest);
    let root = cira_root(&mps_api).await;

    // Two registered devices with their own CIRA passwords in the store (as RPS leaves them).
    let cira_password = random(16);
    let fleets: Vec<sim::fleet::FleetConfig> = (0..2)
        .map(|i| fleet_config(99, i, 1, &mps, "cira-vault", &cira_password, &root))
        .collect();
    for config in &fleets {
        let guid = config.build_devices()[0].guid();
        let (status, body) = mps_api
            .post(
                "/api/v1/devices",
                json!({"guid": guid, "mpsusername": "cira-vault", "tags": []}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        let secret = secrets::DeviceSecrets {
            mps_password: Some(cira_password.clone()),
            amt_password: Some(AMT_PASSWORD.into()),
            mebx_password: None,
        };
        store
            .put(&format!("devices/{guid}"), secret.to_map())
            .await
            .unwrap();
    }
    let first = sim::fleet::Fleet::start(&fleets[0]);
    assert!(
        first.wait_connected(1, Duration::from_secs(30)).await,
        "the first device connects while the store is up"
    );
    let first_guid = guids(&first)[0].clone();
    for (api, path) in [
        (&mps_api, "/api/v1/health"),
        (&rps_api, "/api/v1/admin/health"),
    ] {
        let (status, body, _) = health(api, path).await;
        assert_eq!(status, 200, "{path}: {body}");
    }

    // The store goes away.
    vault.stop().await;
    let outage = Instant::now();
    let (status, body, mps_took) = health(&mps_api, "/api/v1/health").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["db"]["status"], "OK", "{body}");
    assert_eq!(body["secretStore"]["name"], "VAULT", "{body}");
    let (status, body, rps_took) = health(&rps_api, "/api/v1/admin/health").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["db"]["status"], "OK", "{body}");
    assert_eq!(body["secretStore"]["name"], "VAULT", "{body}");
    assert!(
        mps_took < Duration::from_secs(6) && rps_took < Duration::from_secs(6),
        "health took {mps_took:?} (MPS), {rps_took:?} (RPS)"
    );

    // REST that needs a secret: a clear 5xx, bounded in time.
    let started = Instant::now();
    let profile = json!({"profileName": "vault-down", "activation": "ccmactivate",
        "generateRandomPassword": false, "amtPassword": AMT_PASSWORD, "tags": [],
        "dhcpEnabled": true, "userConsent": "All", "iderEnabled": true, "kvmEnabled": true,
        "solEnabled": true});
    let (status, body) = rps_api
        .post("/api/v1/admin/profiles", profile.clone())
        .await;
    assert!((500..600).contains(&status), "{status} {body}");
    assert!(
        body["message"].as_str().is_some_and(|m| !m.is_empty()),
        "a message: {body}"
    );
    assert!(
        !body.to_string().contains(AMT_PASSWORD),
        "no secret in the answer: {body}"
    );
    let rps_rest_time = started.elapsed();
    eprintln!("RPS POST profiles while the store is down: {status} {body}");
    let started = Instant::now();
    // MPS re-reads a device's AMT password from the store.
    let (status, body) = mps_api
        .send(
            reqwest::Method::DELETE,
            &format!("/api/v1/devices/refresh/{first_guid}"),
            None,
        )
        .await;
    assert!((500..600).contains(&status), "{status} {body}");
    let mps_rest_time = started.elapsed();
    eprintln!("MPS DELETE devices/refresh while the store is down: {status} {body}");
    assert!(
        rps_rest_time < Duration::from_secs(15) && mps_rest_time < Duration::from_secs(15),
        "REST took {rps_rest_time:?} (RPS), {mps_rest_time:?} (MPS)"
    );

    // A device connecting now is refused cleanly (its MPS password cannot be read) and keeps trying;
    // the one already connected stays.
    let second = sim::fleet::Fleet::start(&fleets[1]);
    eventually("the second device refused", 30, async || {
        second.stats().failed_attempts() >= 2
    })
    .await;
    assert_eq!(second.stats().connected(), 0);
    assert_eq!(first.stats().connected(), 1);
    assert_running(&mut mps.process, "MPS");
    assert_running(&mut rps, "RPS");
    let outage_time = outage.elapsed();

    // Back on the same port: everything works without a restart.
    vault.resume().await.unwrap();
    let back = Instant::now();
    let healthy = eventually("both healthy again", 30, async || {
        health(&mps_api, "/api/v1/health").await.0 == 200
            && health(&rps_api, "/api/v1/admin/health").await.0 == 200
    })
    .await;
    let connected = eventually("the second device connected", 30, async || {
        second.stats().connected() == 1
    })
    .await;
    let (status, body) = rps_api.post("/api/v1/admin/profiles", profile).await;
    assert_eq!(status, 201, "{body}");
    let (status, body) = mps_api
        .send(
            reqwest::Method::DELETE,
            &format!("/api/v1/devices/refresh/{first_guid}"),
            None,
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_running(&mut mps.process, "MPS");
    assert_running(&mut rps, "RPS");
    for name in ["mps-vault", "rps-vault"] {
        let log = logs.read(name);
        assert!(!log.contains("panicked"), "{name} panicked:\n{log}");
        assert!(
            !log.contains(&cira_password),
            "{name} logged a CIRA password"
        );
        assert!(!log.contains(AMT_PASSWORD), "{name} logged an AMT password");
    }
    eprintln!(
        "secret store outage: health answered 503 in {mps_took:.2?} (MPS) / {rps_took:.2?} (RPS); REST \
         failed in {rps_rest_time:.2?} (RPS) / {mps_rest_time:.2?} (MPS); outage {outage_time:.2?}; \
         after the restart both healthy in {:.2?}, the refused device connected in {:.2?}; whole test {:.2?}",
        healthy - back,
        connected - back,
        test_started.elapsed(),
    );
    first.shutdown().await;
    second.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rps_killed_mid_activation_leaves_a_failed_event_and_a_clean_retry() {
    let _one = ONE_AT_A_TIME.lock().await;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let test_started = Instant::now();
    let dir = tempfile::tempdir().unwrap();
    let logs = Logs {
        dir: dir.path().join("logs"),
    };
    let database = support::postgres::Database::create("faults_rps");
    let mosquitto = Mosquitto::start(&dir.path().join("mosquitto"), 0).unwrap();
    let (_dashboard, seen) = dashboard(&mosquitto, "dash-faults-rps").await;
    let rest = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let ws = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let settings = |activation_sync_ms: &str| RpsSettings {
        dir: dir.path(),
        logs: &logs,
        name: "rps-kill",
        mosquitto: Some(&mosquitto),
        rest,
        ws,
        env: vec![
            ("RPS_CONNECTION_STRING", database.url()),
            ("RPS_SECRETS_PROVIDER", "local".into()),
            (
                "RPS_SECRETS_DIR",
                dir.path().join("rps-secrets").display().to_string(),
            ),
            // The first RPS waits a minute after AMT reports the activation (the reference waits 12 s
            // for the new credentials): a deterministic middle in which to kill it.
            ("RPS_DELAY_ACTIVATION_SYNC", activation_sync_ms.into()),
        ],
    };
    let mut rps = start_rps(&settings("60000"));
    wait_listening(rest, "RPS").await;
    let api = Http::new(rest);
    let (status, body) = api
        .post(
            "/api/v1/admin/profiles",
            json!({"profileName": "ccm-kill", "activation": "ccmactivate",
                "generateRandomPassword": false, "amtPassword": AMT_PASSWORD, "tags": ["kill"],
                "dhcpEnabled": true, "userConsent": "All", "iderEnabled": true,
                "kvmEnabled": true, "solEnabled": true}),
        )
        .await;
    assert_eq!(status, 201, "{body}");

    let device = sim::device::Device::new(sim::device::DeviceSpec::fresh(4711, 0));
    let guid = device.guid();
    let connection = sim::agent::Connection {
        url: format!("ws://{ws}"),
        ca_file: None,
        insecure: false,
    };
    let options = |password: Option<&str>| sim::agent::AgentOptions {
        command: sim::agent::Command::Activate {
            profile: "ccm-kill".into(),
        },
        password: password.map(str::to_owned),
        tenant_id: String::new(),
        dns_suffix: None,
        hostname: None,
        friendly_name: None,
    };
    let agent = {
        let (device, connection, options) = (device.clone(), connection.clone(), options(None));
        tokio::spawn(async move { sim::agent::run(&device, &connection, &options).await })
    };

    // The middle: RPS published `started` and AMT is in client control mode, but RPS has not stored
    // the device's secrets nor finished (it waits out the activation sync).
    eventually("the started event", 30, async || {
        seen.lock().unwrap().phases(&guid).first().map(|p| p.0)
            == Some(proto::ActivationPhase::Started)
    })
    .await;
    eventually("AMT in client control mode", 30, async || {
        device.control_mode() == sim::device::ControlMode::Ccm
    })
    .await;
    rps.child().kill().unwrap(); // SIGKILL
    rps.take().wait().unwrap();
    let killed = Instant::now();

    // The agent ends with a clean failure, promptly.
    let outcome = tokio::time::timeout(Duration::from_secs(20), agent)
        .await
        .expect("the agent does not hang")
        .unwrap();
    let error = outcome.expect_err("the activation cannot succeed");
    let agent_failed = killed.elapsed();
    eprintln!("agent after kill -9 of RPS: {error}");
    assert!(!error.to_string().is_empty());
    assert_eq!(
        seen.lock().unwrap().phases(&guid).len(),
        1,
        "nothing but `started` yet"
    );

    // RPS again: it reports the interrupted activation failed, with a reason a user can act on.
    let mut rps = start_rps(&settings("0"));
    let restarted = Instant::now();
    let failed = eventually(
        "the failed event of the interrupted attempt",
        60,
        async || seen.lock().unwrap().phases(&guid).len() >= 2,
    )
    .await;
    {
        let s = seen.lock().unwrap();
        let phases = s.phases(&guid);
        assert_eq!(phases[1].0, proto::ActivationPhase::Failed, "{phases:?}");
        assert!(
            phases[1].1.contains("RPS stopped during the activation"),
            "{phases:?}"
        );
        assert!(
            phases[1].1.contains("run the activation again"),
            "{phases:?}"
        );
        let event = &s
            .activation
            .iter()
            .find(|(_, e)| e.phase() == proto::ActivationPhase::Failed)
            .unwrap()
            .1;
        assert_eq!(event.profile, "ccm-kill");
    }
    wait_listening(rest, "RPS again").await;

    // The retry: the device is in client control mode with the profile's password (set before the
    // kill), so the agent passes it, as rpc-go needs `--password` for an activated device. RPS finishes
    // the configuration: success.
    let retry = sim::agent::run(&device, &connection, &options(Some(AMT_PASSWORD))).await;
    let retried = restarted.elapsed();
    let outcome = retry.expect("the retry succeeds");
    let status = outcome.status.expect("status JSON");
    eprintln!("retry status: {status}");
    assert!(
        status["Status"]
            .as_str()
            .is_some_and(|s| s.contains("client mode") || s.contains("Client control mode")),
        "{status}"
    );
    eventually("started and succeeded for the retry", 30, async || {
        let phases: Vec<_> = seen
            .lock()
            .unwrap()
            .phases(&guid)
            .into_iter()
            .map(|p| p.0)
            .collect();
        phases
            == [
                proto::ActivationPhase::Started,
                proto::ActivationPhase::Failed,
                proto::ActivationPhase::Started,
                proto::ActivationPhase::Succeeded,
            ]
    })
    .await;
    // The restarted RPS stored the device's password, and keeps no activation open.
    let secret = std::fs::read_dir(dir.path().join("rps-secrets"))
        .unwrap()
        .count();
    assert!(secret > 0);
    let open = std::process::Command::new("psql")
        .args([
            "-h",
            "127.0.0.1",
            "-U",
            "postgres",
            "-d",
            &database.name,
            "-tAc",
        ])
        .arg("SELECT count(*) FROM openamt_activations_in_flight")
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&open.stdout).trim(), "0");
    assert_running(&mut rps, "RPS");
    eprintln!(
        "rps kill -9: the agent failed {agent_failed:.2?} after the kill; the failed event came \
         {:.2?} after the restart; the retry succeeded {retried:.2?} after the restart; whole test {:.2?}",
        failed - restarted,
        test_started.elapsed(),
    );
}
