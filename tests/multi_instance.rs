//! Issue 6's multi-instance test, with the production pieces as separate processes: two `openamt mps`
//! (one Postgres database and one local secret store shared), `openamt router`, `openamt gateway`
//! (the built-in kong.yaml, TLS, JWT), Debian's Mosquitto with the production configuration, and 200
//! simulated devices reaching the MPS through a balancer (what Kong's stream proxy does in compose).
//!
//! All 200 connect, split across both instances; each answers REST through the gateway and the
//! router. Then one MPS is killed with SIGKILL: a subscriber sees its OFFLINE status (the last will)
//! and a `disconnected` event for each of its devices, the REST device list shows them disconnected,
//! and, once they reconnect through the balancer to the survivor, every device answers again. When
//! the fleet finally leaves, every row and every presence shows its device disconnected.
//! The test prints how long detection, the reports and the failover took.

mod support;

use std::{
    collections::{HashMap, HashSet},
    net::SocketAddr,
    path::Path,
    process::Stdio,
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use broker::Bus;
use futures::StreamExt;
use rustls::pki_types::{CertificateDer, pem::PemObject};
use schemas::{Event, Service, proto};
use serde_json::{Value, json};
use support::{
    Running,
    balancer::Balancer,
    free_port,
    logs::{Logs, random},
    mosquitto_client, openamt,
    postgres::Database,
};

const DEVICES: u64 = 200;
const AMT_PASSWORD: &str = "Amt!Multi7x9q";

async fn wait_listening(addr: SocketAddr, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while tokio::net::TcpStream::connect(addr).await.is_err() {
        assert!(Instant::now() < deadline, "{what} never listened on {addr}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn eventually(what: &str, secs: u64, mut check: impl AsyncFnMut() -> bool) -> Instant {
    let deadline = Instant::now() + Duration::from_secs(secs);
    while !check().await {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Instant::now()
}

/// What a dashboard on the broker saw, with arrival times.
#[derive(Default)]
struct Seen {
    connected: Vec<(Instant, proto::DeviceConnected)>,
    disconnected: Vec<(Instant, proto::DeviceDisconnected)>,
    /// Latest state of each MPS instance, and when it last changed.
    status: HashMap<String, (i32, Instant)>,
}

async fn watch(dashboard: &Bus) -> Arc<Mutex<Seen>> {
    let topics = dashboard.topics().clone();
    let mut events = dashboard
        .subscribe(&topics.all_device_events())
        .await
        .unwrap();
    let mut status = dashboard
        .subscribe(&topics.all_status(Service::Mps))
        .await
        .unwrap();
    let seen = Arc::new(Mutex::new(Seen::default()));
    let s = seen.clone();
    tokio::spawn(async move {
        loop {
            tokio::select! {
                d = events.next() => {
                    let Some(d) = d else { return };
                    let ty = d.event.as_ref().map(|e| e.ty.clone()).unwrap_or_default();
                    let mut s = s.lock().unwrap();
                    if ty == proto::DeviceConnected::TYPE {
                        s.connected.push((Instant::now(), d.decode().unwrap()));
                    } else if ty == proto::DeviceDisconnected::TYPE {
                        s.disconnected.push((Instant::now(), d.decode().unwrap()));
                    }
                }
                st = status.next_event::<proto::ServiceStatus>() => {
                    let Some((_, st)) = st else { return };
                    s.lock().unwrap().status.insert(st.instance, (st.state, Instant::now()));
                }
            }
        }
    });
    seen
}

/// The retained presence of every device, by GUID.
async fn presences(bus: &Bus) -> HashMap<String, proto::DevicePresence> {
    let mut sub = bus.subscribe(&bus.topics().all_presence()).await.unwrap();
    let mut out = HashMap::new();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    while out.len() < DEVICES as usize {
        match tokio::time::timeout_at(deadline, sub.next_event::<proto::DevicePresence>()).await {
            Ok(Some((_, p))) => {
                out.insert(p.guid.clone(), p);
            }
            _ => break,
        }
    }
    out
}

/// The REST API through the gateway, as a logged-in user.
struct Api {
    http: reqwest::Client,
    gateway: String,
    token: String,
}

impl Api {
    async fn login(gateway_data: &Path, gateway: String, password: &str) -> Api {
        let ca = std::fs::read(gateway_data.join("ca.pem")).unwrap();
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(certs::client_config(&ca).unwrap())
            .build()
            .unwrap();
        let response = http
            .post(format!("{gateway}/mps/login/api/v1/authorize"))
            .json(&json!({"username": "admin", "password": password}))
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), 200);
        let token = response.json::<Value>().await.unwrap()["token"]
            .as_str()
            .unwrap()
            .to_owned();
        Api {
            http,
            gateway,
            token,
        }
    }

    async fn get(&self, path: &str) -> (u16, Value) {
        let response = self
            .http
            .get(format!("{}{path}", self.gateway))
            .bearer_auth(&self.token)
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        let text = response.text().await.unwrap();
        (
            status,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    /// Every row, by GUID; `None` when the list did not answer (the router may pick an MPS it has
    /// not yet learned is dead: 502).
    async fn devices(&self) -> Option<HashMap<String, Value>> {
        let (status, list) = self.get("/mps/api/v1/devices?$top=1000").await;
        if status != 200 {
            eprintln!("device list: {status} {list}");
            return None;
        }
        Some(
            list.as_array()?
                .iter()
                .map(|d| (d["guid"].as_str().unwrap_or_default().to_owned(), d.clone()))
                .collect(),
        )
    }

    /// The devices that do not answer GET power/state (through the router, from the MPS holding
    /// them) with their power state.
    async fn not_answering(&self, guids: &[String]) -> Vec<String> {
        futures::stream::iter(guids.iter().cloned())
            .map(|g| async move {
                let (status, body) = self.get(&format!("/mps/api/v1/amt/power/state/{g}")).await;
                if status == 200 && body["powerstate"] == 2 {
                    None
                } else {
                    Some(g)
                }
            })
            .buffer_unordered(16)
            .filter_map(|g| async move { g })
            .collect()
            .await
    }
}

/// One `openamt mps` child.
struct MpsProcess {
    process: Running,
    cira: SocketAddr,
    web: SocketAddr,
}

/// What both MPS instances share.
struct MpsShared<'a> {
    dir: &'a Path,
    logs: &'a Logs,
    mosquitto: &'a broker::mosquitto::Mosquitto,
    database: String,
    jwt_secret: String,
    admin_password: String,
    enrolment: Value,
}

fn start_mps(shared: &MpsShared, name: &'static str) -> MpsProcess {
    let cira = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let web = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let password = shared.mosquitto.credentials.password("mps").unwrap();
    let process = Running::spawn(
        openamt(shared.dir)
            .arg("mps")
            .env("MPS_INSTANCE_NAME", name)
            .env("MPS_INSTANCE_ADDRESS", web.to_string())
            .env("MPS_PORT", cira.port().to_string())
            .env("MPS_WEB_PORT", web.port().to_string())
            .env("MPS_BIND_ADDRESS", "127.0.0.1")
            .env("MPS_COMMON_NAME", "localhost")
            .env("MPS_JWT_SECRET", &shared.jwt_secret)
            .env("MPS_WEB_ADMIN_USER", "admin")
            .env("MPS_WEB_ADMIN_PASSWORD", &shared.admin_password)
            .env("MPS_CONNECTION_STRING", &shared.database)
            .env("MPS_SECRETS_PROVIDER", "local")
            .env("MPS_DATA_DIR", shared.dir.join("mps-data"))
            .env("MPS_GLOBAL_CIRA_CREDENTIALS", shared.enrolment.to_string())
            .env("OPENAMT_MQTT_URL", shared.mosquitto.url())
            .env("OPENAMT_MQTT_CA", &shared.mosquitto.ca_path)
            .env("OPENAMT_MQTT_PASSWORD", password)
            .stdout(Stdio::null())
            .stderr(shared.logs.file(name)),
    );
    MpsProcess { process, cira, web }
}

async fn wait_online(seen: &Mutex<Seen>, name: &str) {
    eventually(&format!("{name} ONLINE on the bus"), 60, async || {
        seen.lock()
            .unwrap()
            .status
            .get(name)
            .is_some_and(|(state, _)| *state == proto::ServiceState::Online as i32)
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_mps_instances_share_the_fleet_and_one_fails_over_to_the_other() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let logs = Logs {
        dir: dir.path().join("logs"),
    };
    let mosquitto = broker::mosquitto::Mosquitto::start(&dir.path().join("mosquitto"), 0).unwrap();
    let database = Database::create("mi");

    let dashboard = mosquitto_client(
        &mosquitto,
        "dashboard",
        "dash-multi-instance",
        Duration::ZERO,
    )
    .await;
    let seen = watch(&dashboard).await;

    // Two MPS: the first makes the CIRA certificates in the shared store, the second finds them.
    let enrolment_password = random(20);
    let shared = MpsShared {
        dir: dir.path(),
        logs: &logs,
        mosquitto: &mosquitto,
        database: database.url(),
        jwt_secret: random(48),
        admin_password: format!("Adm1n!{}", random(12)),
        enrolment: json!({"username": "enrol-multi", "password": enrolment_password,
            "amt_password": AMT_PASSWORD}),
    };
    let mut mps_1 = start_mps(&shared, "mps-1");
    wait_online(&seen, "mps-1").await;
    let mps_2 = start_mps(&shared, "mps-2");
    wait_online(&seen, "mps-2").await;

    // The router learns from the broker; the gateway serves the built-in kong.yaml.
    let router = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let _router = Running::spawn(
        openamt(dir.path())
            .args(["router", "--listen", &router.to_string()])
            .args(["--mqtt-url", &mosquitto.url(), "--mqtt-user", "router"])
            .arg("--mqtt-ca")
            .arg(&mosquitto.ca_path)
            .env(
                "OPENAMT_MQTT_PASSWORD",
                mosquitto.credentials.password("router").unwrap(),
            )
            .stdout(Stdio::null())
            .stderr(logs.file("router")),
    );
    let gateway = SocketAddr::from(([127, 0, 0, 1], free_port()));
    let gateway_data = dir.path().join("gateway-data");
    let _gateway = Running::spawn(
        openamt(dir.path())
            .args(["gateway", "--listen", &gateway.to_string()])
            .args(["--upstream", &format!("mpsrouter:8003={router}")])
            .args(["--upstream", &format!("mps-1:3000={}", mps_1.web)])
            .args(["--upstream", &format!("mps-2:3000={}", mps_2.web)])
            .arg("--data-dir")
            .arg(&gateway_data)
            // Kong's env vault: {vault://env/mps-jwt-secret} in kong.yaml.
            .env("MPS_JWT_SECRET", &shared.jwt_secret)
            .stdout(Stdio::null())
            .stderr(logs.file("gateway")),
    );
    wait_listening(router, "the router").await;
    wait_listening(gateway, "the gateway").await;
    let api = Api::login(
        &gateway_data,
        format!("https://127.0.0.1:{}", gateway.port()),
        &shared.admin_password,
    )
    .await;

    // The devices trust the MPS root the API hands out, and dial the balancer.
    let (status, root) = api.get("/mps/api/v1/ciracert").await;
    assert_eq!(status, 200);
    let root = CertificateDer::from_pem_slice(root.as_str().unwrap().as_bytes())
        .unwrap()
        .to_vec();
    let balancer = Balancer::start(vec![mps_1.cira, mps_2.cira]).await;
    let mut fleet_config = sim::fleet::FleetConfig::provisioned(
        4242,
        DEVICES,
        sim::device::CiraSettings {
            server: "localhost".into(),
            port: balancer.addr.port(),
            username: "enrol-multi".into(),
            password: enrolment_password,
            root_cert_der: Some(root),
        },
        AMT_PASSWORD,
    );
    // A lost tunnel is retried after 1–2 s (then longer), as AMT retries its MPS.
    fleet_config.backoff = sim::cira::BackoffConfig {
        base: Duration::from_secs(2),
        max: Duration::from_secs(10),
    };
    let fleet = sim::fleet::Fleet::start(&fleet_config);
    let guids: Vec<String> = fleet.devices().iter().map(|d| d.guid()).collect();

    let connect_started = Instant::now();
    eventually("200 devices connected", 120, async || {
        let s = seen.lock().unwrap();
        s.connected
            .iter()
            .map(|(_, e)| e.guid.as_str())
            .collect::<HashSet<_>>()
            .len()
            == DEVICES as usize
    })
    .await;
    let connect_time = connect_started.elapsed();

    // Split across both instances, in presence and in the REST device list alike.
    let presence = presences(&dashboard).await;
    assert_eq!(presence.len(), DEVICES as usize);
    let held = |instance: &str| -> HashSet<String> {
        presence
            .values()
            .filter(|p| p.connected && p.mps_instance == instance)
            .map(|p| p.guid.clone())
            .collect()
    };
    let (on_1, on_2) = (held("mps-1"), held("mps-2"));
    assert_eq!(on_1.len() + on_2.len(), DEVICES as usize);
    assert!(
        on_1.len() >= 50 && on_2.len() >= 50,
        "the balancer splits the fleet: {} on mps-1, {} on mps-2",
        on_1.len(),
        on_2.len()
    );
    eventually(
        "the device list names each device's instance",
        30,
        async || {
            let Some(rows) = api.devices().await else {
                return false;
            };
            rows.len() == DEVICES as usize
                && rows.iter().all(|(g, row)| {
                    row["connectionStatus"] == true
                        && row["mpsInstance"] == presence[g].mps_instance.as_str()
                })
        },
    )
    .await;

    // Every device answers through gateway → router → the MPS holding it.
    let silent = api.not_answering(&guids).await;
    assert!(silent.is_empty(), "devices not answering REST: {silent:?}");

    // kill -9 mps-1.
    let killed = Instant::now();
    mps_1.process.child().kill().unwrap();
    mps_1.process.take().wait().unwrap();

    // Its devices show disconnected in the REST list (before they come back through the balancer).
    let listed_disconnected = eventually(
        "the device list shows mps-1's devices disconnected",
        30,
        async || {
            let Some(rows) = api.devices().await else {
                return false;
            };
            on_1.iter().all(|g| {
                rows.get(g).is_some_and(|row| {
                    row["connectionStatus"] == false && row["mpsInstance"].is_null()
                })
            })
        },
    )
    .await;
    eventually("mps-1 OFFLINE (its last will)", 30, async || {
        seen.lock()
            .unwrap()
            .status
            .get("mps-1")
            .is_some_and(|(state, _)| *state == proto::ServiceState::Offline as i32)
    })
    .await;
    eventually(
        "a disconnected event for each device of mps-1",
        30,
        async || {
            let s = seen.lock().unwrap();
            let reported: HashSet<&str> = s
                .disconnected
                .iter()
                .filter(|(at, e)| *at > killed && e.mps_instance == "mps-1")
                .map(|(_, e)| e.guid.as_str())
                .collect();
            on_1.iter().all(|g| reported.contains(g.as_str()))
        },
    )
    .await;
    eventually("mps-1's devices reconnected to mps-2", 60, async || {
        let s = seen.lock().unwrap();
        let back: HashSet<&str> = s
            .connected
            .iter()
            .filter(|(at, e)| *at > killed && e.mps_instance == "mps-2")
            .map(|(_, e)| e.guid.as_str())
            .collect();
        on_1.iter().all(|g| back.contains(g.as_str()))
    })
    .await;
    let answering = eventually("every device answers REST again", 60, async || {
        api.not_answering(&guids).await.is_empty()
    })
    .await;

    // The whole record: one report per device of mps-1, CONNECTION_LOST, from the survivor; none for
    // mps-2's devices; all devices now held by mps-2 in presence and in the database.
    {
        let s = seen.lock().unwrap();
        let after: Vec<&proto::DeviceDisconnected> = s
            .disconnected
            .iter()
            .filter(|(at, _)| *at > killed)
            .map(|(_, e)| e)
            .collect();
        assert_eq!(after.len(), on_1.len(), "{after:?}");
        for e in &after {
            assert!(on_1.contains(&e.guid), "{e:?}");
            assert_eq!(e.mps_instance, "mps-1");
            assert_eq!(e.reason, proto::DisconnectReason::ConnectionLost as i32);
            assert!(e.detail.contains("reported by mps-2"), "{e:?}");
        }
    }
    let presence = presences(&dashboard).await;
    assert!(
        presence
            .values()
            .all(|p| p.connected && p.mps_instance == "mps-2"),
        "{presence:?}"
    );
    eventually("every row names mps-2", 30, async || {
        api.devices().await.is_some_and(|rows| {
            rows.values()
                .all(|row| row["connectionStatus"] == true && row["mpsInstance"] == "mps-2")
        })
    })
    .await;

    let figures = {
        let s = seen.lock().unwrap();
        let offline = s.status["mps-1"].1 - killed;
        let reported = s
            .disconnected
            .iter()
            .filter(|(at, _)| *at > killed)
            .map(|(at, _)| *at - killed)
            .max()
            .unwrap_or_default();
        let reconnected = s
            .connected
            .iter()
            .filter(|(at, e)| *at > killed && on_1.contains(&e.guid))
            .map(|(at, _)| *at - killed)
            .max()
            .unwrap_or_default();
        format!(
            "{DEVICES} devices connected in {connect_time:.2?} ({} on mps-1, {} on mps-2); after kill -9 \
             of mps-1: OFFLINE seen in {offline:.2?}, {} devices reported disconnected within \
             {reported:.2?}, REST list showed them disconnected at {:.2?}, all reconnected to mps-2 \
             within {reconnected:.2?}, all {DEVICES} answering REST again at {:.2?}",
            on_1.len(),
            on_2.len(),
            on_1.len(),
            listed_disconnected - killed,
            answering - killed,
        )
    };
    eprintln!("multi-instance: {figures}");

    // When the devices leave, no row and no presence stays connected for a device that is not.
    fleet.shutdown().await;
    eventually(
        "every row disconnected once the fleet left",
        30,
        async || {
            api.devices().await.is_some_and(|rows| {
                rows.len() == DEVICES as usize
                    && rows
                        .values()
                        .all(|row| row["connectionStatus"] == false && row["mpsInstance"].is_null())
            })
        },
    )
    .await;
    eventually(
        "every presence offline once the fleet left",
        30,
        async || {
            let presence = presences(&dashboard).await;
            presence.len() == DEVICES as usize && presence.values().all(|p| !p.connected)
        },
    )
    .await;
}
