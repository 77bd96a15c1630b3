//! MPS on the bus, end to end with real things: Debian's Mosquitto running the production
//! configuration and ACL, Postgres, the fake KV v2 secret store, and simulated AMT devices.
//!
//! - 200 devices registered by RPS's "activation succeeded" events connect; a dashboard sees 200
//!   `connected` events and 200 retained presences naming this instance; the instance's status is
//!   retained ONLINE;
//! - power off by MQTT command really turns the simulated devices off;
//! - killing the simulator process yields 200 `disconnected` events (connection lost) and offline
//!   presence; stopping MPS leaves its status OFFLINE;
//! - with two MPS replicas, a command is answered once: by the holder, or NOT_CONNECTED by one
//!   replica when nobody holds the device;
//! - no secret appears in any log line.

mod common;
mod simulated;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use broker::{Bus, BusConfig, OutboxConfig};
use common::{Db, JWT_SECRET, PgDatabase, TestMps, VAULT_TOKEN};
use schemas::{Command, DeviceEvent, Event, Guid, Service, Topic, proto};
use secrets::test_server::TestVault;
use serde_json::json;
use simulated::*;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio_util::sync::CancellationToken;

const WAIT: Duration = Duration::from_secs(15);

/// A real broker: Mosquitto with the production configuration, or the embedded one of
/// `openamt up`; either in a directory of its own.
struct Broker {
    url: broker::BrokerUrl,
    ca_pem: Vec<u8>,
    credentials: broker::Credentials,
    _mosquitto: Option<broker::mosquitto::Mosquitto>,
    _embedded: Option<broker::EmbeddedBroker>,
    _dir: tempfile::TempDir,
}

impl Broker {
    fn start() -> Broker {
        let dir = tempfile::tempdir().expect("temp dir");
        let process =
            broker::mosquitto::Mosquitto::start(dir.path(), 0).unwrap_or_else(|e| panic!("{e}"));
        Broker {
            url: process.url().parse().expect("broker URL"),
            ca_pem: process.ca_pem.as_bytes().to_vec(),
            credentials: process.credentials.clone(),
            _mosquitto: Some(process),
            _embedded: None,
            _dir: dir,
        }
    }

    async fn embedded() -> Broker {
        common::init_tracing();
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = broker::EmbeddedBrokerConfig::new(dir.path());
        config.listen = "127.0.0.1:0".parse().unwrap();
        let embedded = broker::EmbeddedBroker::start(config)
            .await
            .expect("embedded broker");
        Broker {
            url: embedded.url().parse().expect("broker URL"),
            ca_pem: embedded.ca_pem().as_bytes().to_vec(),
            credentials: embedded.credentials().clone(),
            _mosquitto: None,
            _embedded: Some(embedded),
            _dir: dir,
        }
    }

    fn url(&self) -> broker::BrokerUrl {
        self.url.clone()
    }

    fn password(&self, user: &str) -> String {
        self.credentials
            .password(user)
            .expect("known user")
            .to_owned()
    }

    /// A client as one of the ACL's users.
    async fn client(&self, user: &str, client_id: &str) -> Bus {
        let mut c = BusConfig::new(
            self.url(),
            user,
            &self.password(user),
            client_id,
            &format!("/openamt/test/{client_id}"),
        );
        c.ca_pem = Some(self.ca_pem.clone());
        c.session_expiry = Duration::ZERO;
        let bus = Bus::connect(c).await.expect("bus connect");
        bus.wait_connected(WAIT).await.expect("connected");
        bus
    }
}

/// An MPS on the bus, made as the integrator makes it: `events::bus_config` (last will OFFLINE).
async fn start_mps(broker: &Broker, db: Db, instance: &str, pg_url: Option<String>) -> TestMps {
    common::init_tracing();
    let vault = TestVault::start(VAULT_TOKEN).await.expect("fake KV v2");
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = common::base_config(dir.path(), &vault);
    config.instance_name = instance.into();
    config.reference_events = true;
    let pg = match (db, pg_url) {
        (Db::Postgres, Some(url)) => {
            config.connection_string = url;
            None
        }
        (Db::Postgres, None) => {
            let pg = PgDatabase::create();
            config.connection_string = pg.url();
            Some(pg)
        }
        (Db::Sqlite, _) => None,
    };
    let mut bus_config =
        mps::events::bus_config(&config, broker.url(), "mps", &broker.password("mps"))
            .expect("bus config");
    bus_config.ca_pem = Some(broker.ca_pem.clone());
    bus_config.outbox = OutboxConfig::File(dir.path().join("outbox"));
    let bus = Bus::connect(bus_config).await.expect("MPS bus");
    bus.wait_connected(WAIT)
        .await
        .expect("MPS connected to the broker");
    let mut deps = mps::MpsDeps::from_config(&config).expect("secret store");
    deps.bus = Some(bus);
    let shutdown = CancellationToken::new();
    let running = mps::start(config, deps, shutdown.clone())
        .await
        .expect("MPS starts");
    let rest = format!("127.0.0.1:{}", running.rest_addr.port());
    let cira = running.cira_addr;
    let mps = running.mps.clone();
    TestMps {
        running: Some(running),
        rest,
        cira,
        vault,
        shutdown,
        dir,
        pg,
        mps,
    }
}

/// What a dashboard saw on `events/devices/+/+`.
#[derive(Default)]
struct Seen {
    connected: HashMap<String, proto::DeviceConnected>,
    disconnected: HashMap<String, proto::DeviceDisconnected>,
    connected_count: usize,
    /// Every disconnected event in arrival order.
    disconnected_log: Vec<proto::DeviceDisconnected>,
}

async fn watch_device_events(dashboard: &Bus) -> Arc<Mutex<Seen>> {
    let mut sub = dashboard
        .subscribe(&dashboard.topics().all_device_events())
        .await
        .expect("subscribe");
    let seen = Arc::new(Mutex::new(Seen::default()));
    let s = seen.clone();
    tokio::spawn(async move {
        while let Some(d) = sub.next().await {
            let ty = d.event.as_ref().map(|e| e.ty.clone()).unwrap_or_default();
            let mut s = s.lock().unwrap();
            if ty == proto::DeviceConnected::TYPE {
                let e: proto::DeviceConnected = d.decode().expect("DeviceConnected");
                s.connected_count += 1;
                s.connected.insert(e.guid.clone(), e);
            } else if ty == proto::DeviceDisconnected::TYPE {
                let e: proto::DeviceDisconnected = d.decode().expect("DeviceDisconnected");
                s.disconnected_log.push(e.clone());
                s.disconnected.insert(e.guid.clone(), e);
            }
        }
    });
    seen
}

/// The state of each topic of a filter as a new subscriber learns it (the retained message, or a
/// newer live one), by topic.
async fn retained<E: Event>(bus: &Bus, filter: &str, expect: usize) -> HashMap<String, E> {
    let mut sub = bus.subscribe(filter).await.expect("subscribe");
    let mut out = HashMap::new();
    let deadline = tokio::time::Instant::now() + WAIT;
    while out.len() < expect {
        match tokio::time::timeout_at(deadline, sub.next_event::<E>()).await {
            Ok(Some((d, e))) => {
                out.insert(d.topic.clone(), e);
            }
            _ => break,
        }
    }
    out
}

fn activation_succeeded(d: &sim::device::Device) -> proto::ActivationEvent {
    proto::ActivationEvent {
        guid: d.guid(),
        phase: proto::ActivationPhase::Succeeded as i32,
        control_mode: proto::ControlMode::Acm as i32,
        profile: "acm-cira".into(),
        hostname: d.hostname(),
        dns_suffix: "vprodemo.com".into(),
        tags: vec!["sim".into()],
        mps_username: CIRA_USER.into(),
        device_info: Some(proto::DeviceInfo {
            fw_version: d.firmware_version(),
            current_mode: "2".into(),
            features: "AMT Pro Corporate".into(),
            ..Default::default()
        }),
        at: Some(schemas::now()),
        ..Default::default()
    }
}

/// Registers `devices` the way the product does: secrets in the store (RPS's job) and an
/// "activation succeeded" event on the bus.
async fn activate(rps: &Bus, mps: &TestMps, devices: &[sim::device::Device]) {
    for d in devices {
        store_secrets(&mps.mps, &d.guid()).await;
        let g: Guid = d.guid().parse().unwrap();
        rps.publish(
            &Topic::DeviceEvent(g, DeviceEvent::Activation),
            &activation_succeeded(d),
        )
        .await
        .expect("publish activation");
    }
}

async fn total_devices(mps: &TestMps) -> u64 {
    let (_, s) = common::http("GET", &mps.url("/api/v1/devices/stats"), None).await;
    s["totalCount"].as_u64().unwrap_or(0)
}

// ---- the simulator in a child process (so it can be killed) ---------------------------------

const CHILD_ENV: &str = "OPENAMT_TEST_SIM_CHILD";

/// Not a test of its own: the simulated fleet of `bus_events` run in a child process of this
/// test binary. It answers `STATE <guid>` with the device's power state on stdout.
/// Only meaningful as the child process of `two_hundred_devices_on_the_bus`: without its environment
/// variable it returns at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn simulated_fleet_child_process() {
    let Ok(spec) = std::env::var(CHILD_ENV) else {
        return;
    };
    common::init_tracing();
    let parts: Vec<&str> = spec.split(' ').collect();
    let [port, seed, n, root] = parts[..] else {
        panic!("bad child spec");
    };
    let config = fleet_config(
        port.parse().unwrap(),
        hex::decode(root).unwrap(),
        seed.parse().unwrap(),
        n.parse().unwrap(),
    );
    let fleet = start_fleet(&config);
    let states: HashMap<String, sim::device::Device> = fleet
        .devices()
        .iter()
        .map(|d| (d.guid(), d.clone()))
        .collect();
    println!("SIMCHILD READY");
    let mut lines = BufReader::new(tokio::io::stdin()).lines();
    while let Ok(Some(line)) = lines.next_line().await {
        if let Some(g) = line.strip_prefix("STATE ") {
            let s = states.get(g).map(|d| d.power_state()).unwrap_or(0);
            println!("SIMCHILD STATE {g} {s}");
        }
    }
    // The parent went away without killing us.
    fleet.shutdown().await;
}

struct SimChild {
    child: tokio::process::Child,
    stdin: tokio::process::ChildStdin,
    lines: tokio::io::Lines<BufReader<tokio::process::ChildStdout>>,
}

impl SimChild {
    async fn spawn(mps: &TestMps, seed: u64, n: u64) -> SimChild {
        let spec = format!(
            "{} {seed} {n} {}",
            mps.cira.port(),
            hex::encode(root_der(&mps.mps))
        );
        let mut child = tokio::process::Command::new(std::env::current_exe().unwrap())
            .args([
                "--exact",
                "simulated_fleet_child_process",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_ENV, spec)
            .env_remove("RUST_LOG")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .expect("spawn the simulator process");
        let stdin = child.stdin.take().unwrap();
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut c = SimChild {
            child,
            stdin,
            lines,
        };
        c.expect_line("SIMCHILD READY").await;
        c
    }

    async fn expect_line(&mut self, prefix: &str) -> String {
        loop {
            let line = tokio::time::timeout(Duration::from_secs(60), self.lines.next_line())
                .await
                .expect("simulator answered")
                .expect("read")
                .expect("simulator alive");
            // libtest prints "test <name> ... " on the line the child's first output continues.
            if let Some(i) = line.find(prefix) {
                return line[i..].to_owned();
            }
        }
    }

    async fn power_state(&mut self, guid: &str) -> u16 {
        self.stdin
            .write_all(format!("STATE {guid}\n").as_bytes())
            .await
            .unwrap();
        let line = self.expect_line(&format!("SIMCHILD STATE {guid} ")).await;
        line.rsplit(' ').next().unwrap().parse().unwrap()
    }

    /// SIGKILL: the devices vanish without APF DISCONNECT or TLS close.
    async fn kill(mut self) {
        self.child.kill().await.expect("kill the simulator");
    }
}

async fn power(operator: &Bus, guid: &str, action: i32) -> proto::CommandReply {
    let g: Guid = guid.parse().unwrap();
    operator
        .request::<proto::PowerActionRequest, proto::CommandReply>(
            &Topic::Command(g, Command::Power),
            &proto::PowerActionRequest {
                action,
                use_sol: false,
            },
            Duration::from_secs(30),
        )
        .await
        .expect("a reply")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_devices_on_the_bus() {
    const N: u64 = 200;
    let logs = capture_logs();
    let broker = Broker::start();
    let mut mps = start_mps(&broker, Db::Postgres, "mps-test", None).await;
    let expected_address = format!("mps-test:{}", mps.rest.rsplit(':').next().unwrap());
    let dashboard = broker.client("dashboard", "dash-e2e").await;
    let seen = watch_device_events(&dashboard).await;
    let topics = dashboard.topics().clone();
    // The reference's JSON events (reference_events is on).
    let reference = Arc::new(Mutex::new(Vec::<serde_json::Value>::new()));
    {
        let mut sub = dashboard.subscribe("mps/events").await.expect("subscribe");
        let reference = reference.clone();
        tokio::spawn(async move {
            while let Some(d) = sub.next().await {
                let v = serde_json::from_slice(&d.payload).expect("reference JSON");
                reference.lock().unwrap().push(v);
            }
        });
    }

    // The instance's retained status: ONLINE with the address the router should use.
    let status =
        retained::<proto::ServiceStatus>(&dashboard, &topics.all_status(Service::Mps), 1).await;
    let online = status
        .get("openamt/v1/mps/mps-test/status")
        .expect("status");
    assert_eq!(online.state, proto::ServiceState::Online as i32);
    assert_eq!(online.address, expected_address);

    // RPS registers the fleet over the bus.
    let rps = broker.client("rps", "rps-e2e").await;
    let config = fleet_config(mps.cira.port(), root_der(&mps.mps), 4711, N);
    let devices = config.build_devices();
    activate(&rps, &mps, &devices).await;
    eventually(
        "200 devices registered from activation events",
        60,
        async || total_devices(&mps).await == N,
    )
    .await;

    // The simulator connects them.
    let mut sim = SimChild::spawn(&mps, 4711, N).await;
    eventually("200 connected events", 120, async || {
        seen.lock().unwrap().connected.len() == N as usize
    })
    .await;
    {
        let s = seen.lock().unwrap();
        assert_eq!(
            s.connected_count, N as usize,
            "one connected event per device"
        );
        for d in &devices {
            let e = &s.connected[&d.guid()];
            assert_eq!(e.mps_instance, "mps-test");
            assert_eq!(e.mps_address, expected_address);
            assert_eq!(e.hostname, d.hostname());
            assert!(e.remote_address.starts_with("127.0.0.1:"), "{e:?}");
            assert!(e.connected_at.is_some());
        }
    }
    let presence =
        retained::<proto::DevicePresence>(&dashboard, &topics.all_presence(), N as usize).await;
    assert_eq!(presence.len(), N as usize);
    eventually("reference CIRA_Connected events", 10, async || {
        reference.lock().unwrap().len() >= N as usize
    })
    .await;
    {
        let r = reference.lock().unwrap();
        let e = r
            .iter()
            .find(|e| e["guid"] == devices[0].guid())
            .expect("a reference event for the first device");
        assert_eq!(e["type"], "success");
        assert_eq!(e["message"], "CIRA Connection Established");
        assert_eq!(e["methods"], json!(["CIRA_Connected"]));
        assert!(e["timestamp"].as_i64().unwrap() > 1_700_000_000_000);
    }
    assert!(
        presence.values().all(|p| p.connected
            && p.mps_instance == "mps-test"
            && p.mps_address == expected_address)
    );

    // Power off by MQTT command: the simulated devices really go off.
    let operator = broker.client("operator", "operator-e2e").await;
    for d in &devices[..10] {
        let reply = power(&operator, &d.guid(), 8).await;
        assert_eq!(
            reply.status,
            proto::command_reply::Status::Ok as i32,
            "{reply:?}"
        );
        assert_eq!(
            (reply.return_value, reply.return_value_str.as_str()),
            (0, "SUCCESS")
        );
        assert_eq!(sim.power_state(&d.guid()).await, 8, "{} is off", d.guid());
    }
    assert_eq!(
        sim.power_state(&devices[10].guid()).await,
        2,
        "untouched device still on"
    );
    // REST sees the same state through the same path.
    let (_, state) = common::http(
        "GET",
        &mps.url(&format!("/api/v1/amt/power/state/{}", devices[0].guid())),
        None,
    )
    .await;
    assert_eq!(state["powerstate"], 8);
    // Power on again by command.
    let reply = power(&operator, &devices[0].guid(), 2).await;
    assert_eq!(reply.status, proto::command_reply::Status::Ok as i32);
    assert_eq!(sim.power_state(&devices[0].guid()).await, 2);
    // A bad action for a held device, and a device nobody holds.
    let reply = power(&operator, &devices[1].guid(), 99).await;
    assert_eq!(
        reply.status,
        proto::command_reply::Status::Invalid as i32,
        "{reply:?}"
    );
    let reply = power(&operator, "d162b380-c330-11e3-82a5-40a8f0a2a536", 8).await;
    assert_eq!(
        reply.status,
        proto::command_reply::Status::NotConnected as i32,
        "{reply:?}"
    );

    // Kill the simulator: every device's disconnect is published, and presence goes offline.
    sim.kill().await;
    eventually("200 disconnected events", 60, async || {
        seen.lock().unwrap().disconnected.len() == N as usize
    })
    .await;
    {
        let s = seen.lock().unwrap();
        for e in s.disconnected.values() {
            assert_eq!(
                e.reason,
                proto::DisconnectReason::ConnectionLost as i32,
                "{e:?}"
            );
            assert_eq!(e.mps_instance, "mps-test");
            assert!(e.connected_for_ms > 0);
        }
    }
    eventually("presence offline", 10, async || {
        let p =
            retained::<proto::DevicePresence>(&dashboard, &topics.all_presence(), N as usize).await;
        p.len() == N as usize
            && p.values()
                .all(|p| !p.connected && p.mps_instance.is_empty())
    })
    .await;
    // The rows follow (each tunnel's row is written right after its event).
    eventually("no row connected", 15, async || {
        let (_, stats) = common::http("GET", &mps.url("/api/v1/devices/stats"), None).await;
        stats["connectedCount"] == 0
    })
    .await;

    // A clean stop leaves the instance's status OFFLINE.
    mps.stop().await;
    let status =
        retained::<proto::ServiceStatus>(&dashboard, &topics.all_status(Service::Mps), 1).await;
    assert_eq!(
        status["openamt/v1/mps/mps-test/status"].state,
        proto::ServiceState::Offline as i32
    );

    logs.assert_free_of(&[
        AMT_PASSWORD,
        CIRA_PASSWORD,
        JWT_SECRET,
        &broker.password("mps"),
        &broker.password("rps"),
        &broker.password("operator"),
    ]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn activation_events_register_update_and_deactivation_removes() {
    let broker = Broker::start();
    let mut mps = start_mps(&broker, Db::Sqlite, "mps-act", None).await;
    let rps = broker.client("rps", "rps-act").await;
    let config = fleet_config(mps.cira.port(), root_der(&mps.mps), 5150, 3);
    let devices = config.build_devices();
    let get = |g: String| {
        let url = mps.url(&format!("/api/v1/devices/{g}"));
        async move { common::http("GET", &url, None).await }
    };
    let publish = |d: &sim::device::Device, ev: proto::ActivationEvent| {
        let g: Guid = d.guid().parse().unwrap();
        let rps = rps.clone();
        async move {
            rps.publish(&Topic::DeviceEvent(g, DeviceEvent::Activation), &ev)
                .await
                .unwrap()
        }
    };

    // "started" registers nothing; an invalid device and a payload naming another device are
    // refused; "succeeded" registers.
    let mut started = activation_succeeded(&devices[0]);
    started.phase = proto::ActivationPhase::Started as i32;
    publish(&devices[0], started).await;
    let mut invalid = activation_succeeded(&devices[1]);
    invalid.dns_suffix = "None?injected_query_string=123".into();
    publish(&devices[1], invalid).await;
    publish(&devices[2], activation_succeeded(&devices[0])).await;
    publish(&devices[0], activation_succeeded(&devices[0])).await;
    eventually("device registered", 15, async || {
        get(devices[0].guid()).await.0 == 200
    })
    .await;
    let (_, row) = get(devices[0].guid()).await;
    assert_eq!(row["hostname"], devices[0].hostname());
    assert_eq!(row["mpsusername"], CIRA_USER);
    assert_eq!(row["tags"], json!(["sim"]));
    assert_eq!(row["dnsSuffix"], "vprodemo.com");
    assert_eq!(
        row["deviceInfo"]["fwVersion"],
        devices[0].firmware_version()
    );
    assert_eq!(row["deviceInfo"]["currentMode"], "2");
    assert_eq!(row["connectionStatus"], false);
    // Events are consumed in order, so the refused ones were handled before this one.
    assert_eq!(
        get(devices[1].guid()).await.0,
        404,
        "invalid device not registered"
    );
    assert_eq!(
        get(devices[2].guid()).await.0,
        404,
        "mismatched payload ignored"
    );

    // A second success updates the row.
    let mut again = activation_succeeded(&devices[0]);
    again.hostname = "renamed-host".into();
    again.tags = vec!["a".into(), "b".into()];
    publish(&devices[0], again).await;
    eventually("device updated", 15, async || {
        get(devices[0].guid()).await.1["hostname"] == "renamed-host"
    })
    .await;
    assert_eq!(get(devices[0].guid()).await.1["tags"], json!(["a", "b"]));

    // Deactivation removes it.
    let g: Guid = devices[0].guid().parse().unwrap();
    rps.publish(
        &Topic::DeviceEvent(g, DeviceEvent::Deactivated),
        &proto::DeviceDeactivated {
            guid: devices[0].guid(),
            tenant_id: String::new(),
            at: Some(schemas::now()),
        },
    )
    .await
    .unwrap();
    eventually("device removed", 15, async || {
        get(devices[0].guid()).await.0 == 404
    })
    .await;
    mps.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_answer_each_command_exactly_once() {
    let broker = Broker::start();
    let pg = PgDatabase::create();
    let mut a = start_mps(&broker, Db::Postgres, "mps-a", Some(pg.url())).await;
    let mut b = start_mps(&broker, Db::Postgres, "mps-b", Some(pg.url())).await;
    let dashboard = broker.client("dashboard", "dash-two").await;
    let topics = dashboard.topics().clone();
    // Every reply to the operator, whoever sends it.
    let mut replies = dashboard
        .subscribe("openamt/v1/replies/operator-two")
        .await
        .unwrap();
    let operator = broker.client("operator", "operator-two").await;

    // One device, registered through B's REST, connected to B.
    let config = fleet_config(b.cira.port(), root_der(&b.mps), 777, 1);
    let g = config.build_devices()[0].guid();
    let (status, _) = common::http(
        "POST",
        &b.url("/api/v1/devices"),
        Some(json!({"guid": g, "mpsusername": CIRA_USER, "tags": []})),
    )
    .await;
    assert_eq!(status, 201);
    store_secrets(&b.mps, &g).await;
    let fleet = start_fleet(&config);
    assert!(fleet.wait_connected(1, Duration::from_secs(30)).await);
    let device = fleet.devices()[0].clone();
    eventually("presence names mps-b", 15, async || {
        let p = retained::<proto::DevicePresence>(&dashboard, &topics.all_presence(), 1).await;
        p.values()
            .any(|p| p.guid == g && p.mps_instance == "mps-b" && p.connected)
    })
    .await;
    // Both replicas see each other online before the commands.
    eventually("both statuses online", 15, async || {
        let s =
            retained::<proto::ServiceStatus>(&dashboard, &topics.all_status(Service::Mps), 2).await;
        s.len() == 2
            && s.values()
                .all(|s| s.state == proto::ServiceState::Online as i32)
    })
    .await;
    tokio::time::sleep(Duration::from_millis(500)).await;

    let count_replies = async |replies: &mut broker::Subscription| {
        let mut got = Vec::new();
        while let Ok(Some((_, r))) = tokio::time::timeout(
            Duration::from_secs(3),
            replies.next_event::<proto::CommandReply>(),
        )
        .await
        {
            got.push(r);
        }
        got
    };

    // Held by B: B runs it, A stays silent.
    let reply = power(&operator, &g, 8).await;
    assert_eq!(
        reply.status,
        proto::command_reply::Status::Ok as i32,
        "{reply:?}"
    );
    assert_eq!(device.power_state(), 8);
    let all = count_replies(&mut replies).await;
    assert_eq!(all.len(), 1, "exactly one answer: {all:?}");

    // Held by nobody: one NOT_CONNECTED, from one replica.
    let reply = power(&operator, "d162b380-c330-11e3-82a5-40a8f0a2a536", 8).await;
    assert_eq!(
        reply.status,
        proto::command_reply::Status::NotConnected as i32
    );
    let all = count_replies(&mut replies).await;
    assert_eq!(all.len(), 1, "exactly one answer: {all:?}");

    fleet.shutdown().await;
    a.stop().await;
    b.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replaced_tunnel_keeps_the_device_online_and_an_operator_disconnect_takes_it_offline() {
    let broker = Broker::start();
    let mut mps = start_mps(&broker, Db::Sqlite, "mps-rep", None).await;
    let dashboard = broker.client("dashboard", "dash-rep").await;
    let seen = watch_device_events(&dashboard).await;
    let topics = dashboard.topics().clone();
    let g = "4c4c4544-004b-4210-8033-b6c04f504633";
    common::device::register(&mps, g, CIRA_USER, CIRA_PASSWORD, AMT_PASSWORD).await;
    let root = mps.mps.certs().unwrap().root_cert_pem.clone();

    let mut first = common::device::RawDevice::connect(mps.cira, &root).await;
    first.handshake(g, CIRA_USER, CIRA_PASSWORD).await;
    eventually("connected", 10, async || {
        seen.lock().unwrap().connected_count == 1
    })
    .await;

    // The same device authenticates on a new tunnel: the old one is reported REPLACED, the
    // device stays online.
    let mut second = common::device::RawDevice::connect(mps.cira, &root).await;
    second.handshake(g, CIRA_USER, CIRA_PASSWORD).await;
    assert!(
        first.closed_within(10).await,
        "MPS drops the replaced tunnel"
    );
    eventually("second connected", 10, async || {
        seen.lock().unwrap().connected_count == 2
    })
    .await;
    {
        let s = seen.lock().unwrap();
        assert_eq!(s.disconnected_log.len(), 1);
        assert_eq!(
            s.disconnected_log[0].reason,
            proto::DisconnectReason::Replaced as i32
        );
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let p = retained::<proto::DevicePresence>(&dashboard, &topics.all_presence(), 1).await;
    let p = p.values().next().expect("presence");
    assert!(p.connected && p.mps_instance == "mps-rep", "{p:?}");
    assert_eq!(seen.lock().unwrap().disconnected_log.len(), 1);

    // An operator disconnects it over REST: ADMINISTRATIVE, and offline.
    let (status, _) = common::http(
        "DELETE",
        &mps.url(&format!("/api/v1/devices/disconnect/{g}")),
        None,
    )
    .await;
    assert_eq!(status, 200);
    eventually("administrative disconnect", 10, async || {
        seen.lock().unwrap().disconnected_log.len() == 2
    })
    .await;
    assert_eq!(
        seen.lock().unwrap().disconnected_log[1].reason,
        proto::DisconnectReason::Administrative as i32
    );
    eventually("presence offline", 10, async || {
        let p = retained::<proto::DevicePresence>(&dashboard, &topics.all_presence(), 1).await;
        p.values().all(|p| !p.connected)
    })
    .await;
    mps.stop().await;
}

/// Maintenance by RPS reaches MPS as "updated" events: a synchronised host name and device
/// information change the row, a device MPS does not know stays unknown, and a rotated AMT password
/// is reloaded for the tunnel this instance holds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn maintenance_updates_change_the_row_and_reload_a_rotated_password() {
    let broker = Broker::start();
    let mut mps = start_mps(&broker, Db::Sqlite, "mps-upd", None).await;
    let rps = broker.client("rps", "rps-upd").await;
    let g = "4c4c4544-004b-4210-8033-b6c04f504633";
    let guid: Guid = g.parse().unwrap();
    common::device::register(&mps, g, CIRA_USER, CIRA_PASSWORD, AMT_PASSWORD).await;
    let root = mps.mps.certs().unwrap().root_cert_pem.clone();
    let mut device = common::device::RawDevice::connect(mps.cira, &root).await;
    device.handshake(g, CIRA_USER, CIRA_PASSWORD).await;
    let url = mps.url(&format!("/api/v1/devices/{g}"));
    let update = |ev: proto::DeviceUpdated| {
        let rps = rps.clone();
        let topic = Topic::DeviceEvent(ev.guid.parse().unwrap(), DeviceEvent::Updated);
        async move { rps.publish(&topic, &ev).await.unwrap() }
    };

    update(proto::DeviceUpdated {
        guid: g.into(),
        hostname: Some("maintained-host".into()),
        dns_suffix: Some("corp.example.com".into()),
        at: Some(schemas::now()),
        ..Default::default()
    })
    .await;
    update(proto::DeviceUpdated {
        guid: g.into(),
        device_info: Some(proto::DeviceInfo {
            fw_version: "16.1.27".into(),
            current_mode: "1".into(),
            ..Default::default()
        }),
        at: Some(schemas::now()),
        ..Default::default()
    })
    .await;
    let unknown = "143e4567-e89b-12d3-a456-426614174000";
    update(proto::DeviceUpdated {
        guid: unknown.into(),
        hostname: Some("ghost".into()),
        ..Default::default()
    })
    .await;
    eventually("device information applied", 15, async || {
        common::http("GET", &url, None).await.1["deviceInfo"]["fwVersion"] == "16.1.27"
    })
    .await;
    let (_, row) = common::http("GET", &url, None).await;
    assert_eq!(row["hostname"], "maintained-host", "{row}");
    assert_eq!(row["dnsSuffix"], "corp.example.com", "{row}");
    assert_eq!(
        row["mpsusername"], CIRA_USER,
        "an update keeps the rest of the row"
    );
    let (status, _) =
        common::http("GET", &mps.url(&format!("/api/v1/devices/{unknown}")), None).await;
    assert_eq!(status, 404, "an update registers nothing");

    // RPS rotated the password in the secret store; the event makes MPS use it.
    let path = format!("devices/{g}");
    let mut stored = mps.mps.secrets().get(&path).await.unwrap().unwrap();
    stored.insert("AMT_PASSWORD".into(), json!("R0tated-P@ss"));
    mps.mps.secrets().put(&path, stored).await.unwrap();
    update(proto::DeviceUpdated {
        guid: guid.to_string(),
        credentials_rotated: true,
        ..Default::default()
    })
    .await;
    eventually("rotated password reloaded", 15, async || {
        mps.mps
            .connections()
            .get(g)
            .and_then(|c| c.amt_password())
            .as_deref()
            == Some("R0tated-P@ss")
    })
    .await;
    mps.stop().await;
}

/// The same contract through the broker `openamt up` embeds (its TLS gate and the shipped ACL).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_embedded_broker_carries_status_registration_events_and_commands() {
    let broker = Broker::embedded().await;
    let mut mps = start_mps(&broker, Db::Sqlite, "mps-emb", None).await;
    let dashboard = broker.client("dashboard", "dash-emb").await;
    let seen = watch_device_events(&dashboard).await;
    let topics = dashboard.topics().clone();
    let status =
        retained::<proto::ServiceStatus>(&dashboard, &topics.all_status(Service::Mps), 1).await;
    assert_eq!(
        status["openamt/v1/mps/mps-emb/status"].state,
        proto::ServiceState::Online as i32
    );

    let rps = broker.client("rps", "rps-emb").await;
    let config = fleet_config(mps.cira.port(), root_der(&mps.mps), 6060, 3);
    activate(&rps, &mps, &config.build_devices()).await;
    eventually("3 devices registered", 15, async || {
        total_devices(&mps).await == 3
    })
    .await;
    let fleet = start_fleet(&config);
    eventually("3 connected events", 30, async || {
        seen.lock().unwrap().connected.len() == 3
    })
    .await;

    let operator = broker.client("operator", "operator-emb").await;
    let d = fleet.devices()[0].clone();
    let reply = power(&operator, &d.guid(), 8).await;
    assert_eq!(
        reply.status,
        proto::command_reply::Status::Ok as i32,
        "{reply:?}"
    );
    assert_eq!(d.power_state(), 8);

    fleet.shutdown().await;
    eventually("3 disconnected events", 30, async || {
        seen.lock().unwrap().disconnected.len() == 3
    })
    .await;
    assert!(
        seen.lock()
            .unwrap()
            .disconnected
            .values()
            .all(|e| e.reason == proto::DisconnectReason::DeviceDisconnect as i32),
        "the simulator says goodbye with APF DISCONNECT"
    );
    mps.stop().await;
    // A new client: rumqttd sends retained messages on a new subscription only.
    let late = broker.client("dashboard", "dash-emb-late").await;
    let status = retained::<proto::ServiceStatus>(&late, &topics.all_status(Service::Mps), 1).await;
    assert_eq!(
        status["openamt/v1/mps/mps-emb/status"].state,
        proto::ServiceState::Offline as i32
    );
}

/// A crash leaves presences naming the instance "connected"; the next run takes them offline,
/// but not those of devices that are connected to it again.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn presences_left_by_a_crashed_run_are_taken_offline_at_start() {
    let broker = Broker::start();
    let dashboard = broker.client("dashboard", "dash-crash").await;
    let topics = dashboard.topics().clone();
    // What the crashed run left behind (published as the mps user would).
    let crashed = broker.client("mps", "mps-crashed-run").await;
    let stale = "d162b380-c330-11e3-82a5-40a8f0a2a536";
    let old = prost_types::Timestamp {
        seconds: 1_700_000_000,
        nanos: 0,
    };
    let left = |guid: &str| proto::DevicePresence {
        guid: guid.into(),
        connected: true,
        mps_instance: "mps-crash".into(),
        mps_address: "mps-crash:3000".into(),
        tenant_id: String::new(),
        since: Some(old),
    };
    let g: Guid = stale.parse().unwrap();
    crashed
        .publish(&Topic::Presence(g), &left(stale))
        .await
        .unwrap();
    // Someone else's device is not this instance's business.
    let foreign = "4c4c4544-004b-4210-8033-b6c04f504633";
    let mut other = left(foreign);
    other.mps_instance = "mps-other".into();
    crashed
        .publish(&Topic::Presence(foreign.parse().unwrap()), &other)
        .await
        .unwrap();
    crashed.flush(WAIT).await.unwrap();
    drop(crashed);

    let mut mps = start_mps(&broker, Db::Sqlite, "mps-crash", None).await;
    eventually("stale presence offline", 15, async || {
        let p = retained::<proto::DevicePresence>(&dashboard, &topics.all_presence(), 2).await;
        p.len() == 2
            && p.values().any(|p| p.guid == stale && !p.connected)
            && p.values()
                .any(|p| p.guid == foreign && p.connected && p.mps_instance == "mps-other")
    })
    .await;
    mps.stop().await;
}
