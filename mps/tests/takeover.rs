//! An MPS instance that dies without a goodbye: its devices are reported disconnected by a survivor.
//!
//! Two MPS instances in this process share a Postgres database, a secret store and Debian's
//! Mosquitto with the production configuration. Simulated devices reach them through a balancer
//! (round robin over the CIRA listeners that accept, as Kong's stream proxy does). Instance `mps-b`
//! reaches the broker, the database and its devices through links that the test cuts at once, as
//! a kill -9 would: the broker publishes its last will, and `mps-b` can write nothing anywhere.
//!
//! - `takeover_after_a_crash`: a dashboard sees `mps-b` OFFLINE and one `disconnected` event
//!   (CONNECTION_LOST, naming `mps-b`, reported by `mps-a`) for each device presence showed at
//!   `mps-b`; devices that cannot reconnect end offline in presence and disconnected in the
//!   database; the others reconnect through the balancer to `mps-a`, connected there in presence
//!   and database; `mps-a`'s own devices are left alone.
//! - `a_clean_stop_is_reported_once`: an instance that stops cleanly reports its devices itself;
//!   the survivor adds nothing.
//! - `an_instance_declared_dead_by_mistake_reasserts_itself`: `mps-b`'s broker connection drops
//!   for a moment (its last will goes out, `mps-a` reports its devices disconnected) and comes
//!   back: `mps-b` publishes ONLINE again and announces its devices again, in presence and in the
//!   database.

mod common;
mod simulated;
mod tcp;

use std::collections::{HashMap, HashSet};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use broker::{Bus, BusConfig, OutboxConfig};
use common::{PgDatabase, VAULT_TOKEN};
use schemas::{Event, Service, proto};
use secrets::test_server::TestVault;
use simulated::*;
use tcp::{Balancer, Link};
use tokio_util::sync::CancellationToken;

const WAIT: Duration = Duration::from_secs(15);

/// Debian's Mosquitto with the production configuration and ACL.
struct Broker {
    process: broker::mosquitto::Mosquitto,
    _dir: tempfile::TempDir,
}

impl Broker {
    fn start() -> Broker {
        let dir = tempfile::tempdir().expect("temp dir");
        let process =
            broker::mosquitto::Mosquitto::start(dir.path(), 0).unwrap_or_else(|e| panic!("{e}"));
        Broker { process, _dir: dir }
    }

    fn addr(&self) -> SocketAddr {
        SocketAddr::from(([127, 0, 0, 1], self.process.port))
    }

    fn password(&self, user: &str) -> String {
        self.process
            .credentials
            .password(user)
            .expect("known user")
            .to_owned()
    }

    async fn client(&self, user: &str, client_id: &str) -> Bus {
        let mut c = BusConfig::new(
            self.process.url().parse().expect("broker URL"),
            user,
            &self.password(user),
            client_id,
            &format!("/openamt/test/{client_id}"),
        );
        c.ca_pem = Some(self.process.ca_pem.as_bytes().to_vec());
        c.session_expiry = Duration::ZERO;
        let bus = Bus::connect(c).await.expect("bus connect");
        bus.wait_connected(WAIT).await.expect("connected");
        bus
    }
}

/// One MPS instance, reaching the broker at `broker_port` and Postgres at `db_url`.
struct Instance {
    running: Option<mps::RunningMps>,
    shutdown: CancellationToken,
    cira: SocketAddr,
    rest: String,
    mps: mps::Mps,
    _dir: tempfile::TempDir,
}

impl Instance {
    async fn start(
        broker: &Broker,
        broker_port: u16,
        db_url: String,
        vault: &TestVault,
        name: &str,
    ) -> Instance {
        common::init_tracing();
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = common::base_config(dir.path(), vault);
        config.instance_name = name.into();
        config.connection_string = db_url;
        // Devices enrol on first connect, as with `openamt up`.
        config.global_cira_credentials = Some(mps::GlobalCiraCredentials {
            username: CIRA_USER.into(),
            password: CIRA_PASSWORD.into(),
            amt_password: Some(AMT_PASSWORD.into()),
        });
        let url = format!("mqtts://localhost:{broker_port}")
            .parse()
            .expect("broker URL");
        let mut bus_config =
            mps::events::bus_config(&config, url, "mps", &broker.password("mps")).expect("bus");
        bus_config.ca_pem = Some(broker.process.ca_pem.as_bytes().to_vec());
        bus_config.outbox = OutboxConfig::File(dir.path().join("outbox"));
        let bus = Bus::connect(bus_config).await.expect("MPS bus");
        bus.wait_connected(WAIT).await.expect("MPS on the broker");
        let mut deps = mps::MpsDeps::from_config(&config).expect("secret store");
        deps.bus = Some(bus);
        let shutdown = CancellationToken::new();
        let running = mps::start(config, deps, shutdown.clone())
            .await
            .expect("MPS starts");
        Instance {
            cira: running.cira_addr,
            rest: format!("http://127.0.0.1:{}", running.rest_addr.port()),
            mps: running.mps.clone(),
            running: Some(running),
            shutdown,
            _dir: dir,
        }
    }

    async fn stop(&mut self) {
        self.shutdown.cancel();
        if let Some(r) = self.running.take() {
            r.wait().await.expect("MPS stops cleanly");
        }
    }

    async fn device(&self, guid: &str) -> serde_json::Value {
        let (status, row) =
            common::http("GET", &format!("{}/api/v1/devices/{guid}", self.rest), None).await;
        assert_eq!(status, 200, "{row}");
        row
    }
}

/// What a dashboard saw: device events in arrival order, and MPS statuses.
#[derive(Default)]
struct Seen {
    connected: Vec<(Instant, proto::DeviceConnected)>,
    disconnected: Vec<(Instant, proto::DeviceDisconnected)>,
    offline: HashMap<String, Instant>,
    /// Every status, in arrival order.
    statuses: Vec<(Instant, String, i32)>,
}

async fn watch(dashboard: &Bus) -> Arc<Mutex<Seen>> {
    let topics = dashboard.topics().clone();
    let mut events = dashboard
        .subscribe(&topics.all_device_events())
        .await
        .expect("subscribe");
    let mut status = dashboard
        .subscribe(&topics.all_status(Service::Mps))
        .await
        .expect("subscribe");
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
                        s.connected.push((Instant::now(), d.decode().expect("DeviceConnected")));
                    } else if ty == proto::DeviceDisconnected::TYPE {
                        s.disconnected.push((Instant::now(), d.decode().expect("DeviceDisconnected")));
                    }
                }
                st = status.next_event::<proto::ServiceStatus>() => {
                    let Some((_, st)) = st else { return };
                    let mut s = s.lock().unwrap();
                    s.statuses.push((Instant::now(), st.instance.clone(), st.state));
                    if st.state == proto::ServiceState::Offline as i32 {
                        s.offline.entry(st.instance).or_insert_with(Instant::now);
                    }
                }
            }
        }
    });
    seen
}

/// The retained presence of every device, by GUID.
async fn presences(bus: &Bus, expect: usize) -> HashMap<String, proto::DevicePresence> {
    let mut sub = bus
        .subscribe(&bus.topics().all_presence())
        .await
        .expect("subscribe");
    let mut out = HashMap::new();
    let deadline = tokio::time::Instant::now() + WAIT;
    while out.len() < expect {
        match tokio::time::timeout_at(deadline, sub.next_event::<proto::DevicePresence>()).await {
            Ok(Some((_, p))) => {
                out.insert(p.guid.clone(), p);
            }
            _ => break,
        }
    }
    out
}

fn guids(fleet: &sim::fleet::Fleet) -> Vec<String> {
    fleet.devices().iter().map(|d| d.guid()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn takeover_after_a_crash() {
    const MOVING: u64 = 30;
    const STRANDED: u64 = 6;
    let broker = Broker::start();
    let pg = PgDatabase::create();
    let vault = TestVault::start(VAULT_TOKEN).await.expect("fake KV v2");
    let dashboard = broker.client("dashboard", "dash-takeover").await;
    let seen = watch(&dashboard).await;

    // mps-a first (it makes the CIRA certificates both serve), then mps-b behind its links.
    let mut a = Instance::start(&broker, broker.process.port, pg.url(), &vault, "mps-a").await;
    let bus_link = Link::to(broker.addr()).await;
    let db_link = Link::to(SocketAddr::from(([127, 0, 0, 1], 5432))).await;
    let b_db = format!(
        "postgres://postgres@127.0.0.1:{}/{}",
        db_link.addr.port(),
        pg.name
    );
    let b = Instance::start(&broker, bus_link.addr.port(), b_db, &vault, "mps-b").await;
    let root = root_der(&a.mps);
    assert_eq!(root, root_der(&b.mps), "both serve the same CIRA root");
    let cira_link = Link::to(b.cira).await;
    let balancer = Balancer::start(vec![cira_link.addr, a.cira]).await;

    // Devices through the balancer (they split and can fail over), and a few that reach mps-b
    // only (they cannot reconnect once it is gone).
    let moving = start_fleet(&fleet_config(
        balancer.addr.port(),
        root.clone(),
        31,
        MOVING,
    ));
    let stranded = start_fleet(&fleet_config(cira_link.addr.port(), root, 32, STRANDED));
    let total = (MOVING + STRANDED) as usize;
    eventually("every device connected", 60, async || {
        seen.lock().unwrap().connected.len() >= total
    })
    .await;
    let before = presences(&dashboard, total).await;
    let on_b: HashSet<String> = before
        .values()
        .filter(|p| p.connected && p.mps_instance == "mps-b")
        .map(|p| p.guid.clone())
        .collect();
    let on_a: HashSet<String> = before
        .values()
        .filter(|p| p.connected && p.mps_instance == "mps-a")
        .map(|p| p.guid.clone())
        .collect();
    assert_eq!(on_a.len() + on_b.len(), total, "{before:?}");
    assert!(guids(&stranded).iter().all(|g| on_b.contains(g)));
    assert!(
        !on_a.is_empty() && on_b.len() > STRANDED as usize,
        "the balancer split the fleet: {} on mps-a, {} on mps-b",
        on_a.len(),
        on_b.len()
    );
    for g in guids(&stranded) {
        assert_eq!(b.device(&g).await["mpsInstance"], "mps-b");
    }

    // mps-b dies: broker, database and devices all lose it at once.
    let killed = Instant::now();
    bus_link.cut();
    db_link.cut();
    cira_link.cut();

    eventually("mps-b OFFLINE (its last will)", 30, async || {
        seen.lock().unwrap().offline.contains_key("mps-b")
    })
    .await;
    eventually(
        "a disconnected event for each device of mps-b",
        30,
        async || {
            let s = seen.lock().unwrap();
            let reported: HashSet<&str> = s
                .disconnected
                .iter()
                .filter(|(_, e)| e.mps_instance == "mps-b")
                .map(|(_, e)| e.guid.as_str())
                .collect();
            on_b.iter().all(|g| reported.contains(g.as_str()))
        },
    )
    .await;
    let moved: Vec<String> = guids(&moving)
        .into_iter()
        .filter(|g| on_b.contains(g))
        .collect();
    eventually(
        "mps-b's reachable devices connected to mps-a",
        60,
        async || {
            let s = seen.lock().unwrap();
            moved.iter().all(|g| {
                s.connected
                    .iter()
                    .any(|(at, e)| *at > killed && e.guid == *g && e.mps_instance == "mps-a")
            })
        },
    )
    .await;

    let figures = {
        let s = seen.lock().unwrap();
        let offline = s.offline["mps-b"] - killed;
        let reported = s
            .disconnected
            .iter()
            .map(|(at, _)| *at - killed)
            .max()
            .unwrap_or_default();
        let back = s
            .connected
            .iter()
            .filter(|(at, e)| *at > killed && e.mps_instance == "mps-a")
            .map(|(at, _)| *at - killed)
            .max()
            .unwrap_or_default();
        format!(
            "mps-b held {} devices: OFFLINE seen after {offline:?}, all reported disconnected after \
             {reported:?}, {} reconnected to mps-a after {back:?}",
            on_b.len(),
            moved.len()
        )
    };
    eprintln!("takeover: {figures}");

    // Give late duplicates a chance to show up, then check the whole record.
    tokio::time::sleep(Duration::from_secs(2)).await;
    {
        let s = seen.lock().unwrap();
        let mut per_device: HashMap<&str, usize> = HashMap::new();
        for (_, e) in &s.disconnected {
            assert!(
                on_b.contains(&e.guid),
                "only mps-b's devices disconnected: {e:?}"
            );
            assert_eq!(e.mps_instance, "mps-b");
            assert_eq!(
                e.reason,
                proto::DisconnectReason::ConnectionLost as i32,
                "{e:?}"
            );
            assert!(e.detail.contains("reported by mps-a"), "{e:?}");
            assert!(e.connected_for_ms > 0, "{e:?}");
            *per_device.entry(e.guid.as_str()).or_default() += 1;
        }
        assert!(
            per_device.values().all(|n| *n == 1),
            "one report per device: {per_device:?}"
        );
    }
    let after = presences(&dashboard, total).await;
    for g in guids(&stranded) {
        let p = &after[&g];
        assert!(!p.connected && p.mps_instance.is_empty(), "{p:?}");
        let row = a.device(&g).await;
        assert_eq!(row["connectionStatus"], false, "{row}");
        assert!(row["mpsInstance"].is_null(), "{row}");
        assert!(row["lastDisconnected"].is_string(), "{row}");
    }
    for g in guids(&moving) {
        let p = &after[&g];
        assert!(p.connected && p.mps_instance == "mps-a", "{p:?}");
    }
    eventually("the moved devices' rows name mps-a", 15, async || {
        for g in &moved {
            let row = a.device(g).await;
            if row["connectionStatus"] != true || row["mpsInstance"] != "mps-a" {
                return false;
            }
        }
        true
    })
    .await;

    moving.shutdown().await;
    stranded.shutdown().await;
    a.stop().await;
    // mps-b is left as it died: it can reach nothing, and the runtime ends with the test.
    drop(b);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clean_stop_is_reported_once() {
    const N: u64 = 5;
    let broker = Broker::start();
    let pg = PgDatabase::create();
    let vault = TestVault::start(VAULT_TOKEN).await.expect("fake KV v2");
    let dashboard = broker.client("dashboard", "dash-clean").await;
    let seen = watch(&dashboard).await;
    let mut a = Instance::start(&broker, broker.process.port, pg.url(), &vault, "mps-a").await;
    let mut b = Instance::start(&broker, broker.process.port, pg.url(), &vault, "mps-b").await;
    let fleet = start_fleet(&fleet_config(b.cira.port(), root_der(&b.mps), 33, N));
    eventually("devices connected to mps-b", 60, async || {
        seen.lock().unwrap().connected.len() == N as usize
    })
    .await;

    b.stop().await;
    eventually("mps-b OFFLINE", 30, async || {
        seen.lock().unwrap().offline.contains_key("mps-b")
    })
    .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    {
        let s = seen.lock().unwrap();
        assert_eq!(s.disconnected.len(), N as usize, "{:?}", s.disconnected);
        assert!(
            s.disconnected.iter().all(|(_, e)| e.reason
                == proto::DisconnectReason::Shutdown as i32
                && e.mps_instance == "mps-b"),
            "{:?}",
            s.disconnected
        );
    }
    let after = presences(&dashboard, N as usize).await;
    assert!(after.values().all(|p| !p.connected));
    for g in guids(&fleet) {
        assert_eq!(a.device(&g).await["connectionStatus"], false);
    }
    fleet.shutdown().await;
    a.stop().await;
}

/// The rows of a dead instance are released on both backends, except those connected again after
/// its death was seen, and other instances' rows are left alone.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dead_instance_s_rows_are_released() {
    use mps::registry::{Device, Registry};
    let dir = tempfile::tempdir().expect("temp dir");
    let pg = PgDatabase::create();
    let sqlite = format!("sqlite://{}?mode=rwc", dir.path().join("mps.db").display());
    for url in [sqlite, pg.url()] {
        let registry = Registry::connect(&url).await.expect("database");
        let guids = [
            "4c4c4544-004b-4210-8033-b6c04f504633",
            "d162b380-c330-11e3-82a5-40a8f0a2a536",
            "143e4567-e89b-12d3-a456-426614174000",
        ];
        for g in guids {
            registry
                .insert(&Device {
                    guid: g.into(),
                    tenant_id: String::new(),
                    ..Default::default()
                })
                .await
                .expect("insert");
        }
        registry.mark_connected(guids[0], "mps-b").await.unwrap();
        registry.mark_connected(guids[1], "mps-a").await.unwrap();
        // Seen dead an hour ago: a row connected since then is not the dead instance's any more.
        let an_hour_ago = std::time::SystemTime::now() - Duration::from_secs(3600);
        registry.mark_connected(guids[2], "mps-b").await.unwrap();
        assert_eq!(
            registry
                .release_instance("mps-b", an_hour_ago)
                .await
                .unwrap(),
            0,
            "{url}"
        );
        let seen_dead = std::time::SystemTime::now() + Duration::from_secs(1);
        assert_eq!(
            registry.release_instance("mps-b", seen_dead).await.unwrap(),
            2,
            "{url}"
        );
        for g in [guids[0], guids[2]] {
            let row = registry.get(g, None).await.unwrap().unwrap();
            assert_eq!(row.connection_status, Some(false), "{url}");
            assert_eq!(row.mps_instance, None, "{url}");
            assert!(row.last_disconnected.is_some(), "{url}");
        }
        let other = registry.get(guids[1], None).await.unwrap().unwrap();
        assert_eq!(other.connection_status, Some(true), "{url}");
        assert_eq!(other.mps_instance.as_deref(), Some("mps-a"), "{url}");
        // Nothing is released twice.
        assert_eq!(
            registry.release_instance("mps-b", seen_dead).await.unwrap(),
            0,
            "{url}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_instance_declared_dead_by_mistake_reasserts_itself() {
    const N: u64 = 5;
    let broker = Broker::start();
    let pg = PgDatabase::create();
    let vault = TestVault::start(VAULT_TOKEN).await.expect("fake KV v2");
    let dashboard = broker.client("dashboard", "dash-flap").await;
    let seen = watch(&dashboard).await;
    let mut a = Instance::start(&broker, broker.process.port, pg.url(), &vault, "mps-a").await;
    let bus_link = Link::to(broker.addr()).await;
    let mut b = Instance::start(&broker, bus_link.addr.port(), pg.url(), &vault, "mps-b").await;
    let fleet = start_fleet(&fleet_config(b.cira.port(), root_der(&b.mps), 34, N));
    eventually("devices connected to mps-b", 60, async || {
        seen.lock().unwrap().connected.len() == N as usize
    })
    .await;

    // mps-b's broker connection drops and comes back; mps-b itself and its tunnels live on.
    let flapped = Instant::now();
    bus_link.flap();
    eventually("mps-b's last will", 30, async || {
        seen.lock().unwrap().offline.contains_key("mps-b")
    })
    .await;
    eventually("mps-b ONLINE again", 30, async || {
        seen.lock().unwrap().statuses.iter().any(|(at, i, st)| {
            *at > flapped && i == "mps-b" && *st == proto::ServiceState::Online as i32
        })
    })
    .await;
    eventually("mps-b's devices announced again", 30, async || {
        let s = seen.lock().unwrap();
        let again: HashSet<&str> = s
            .connected
            .iter()
            .filter(|(at, e)| *at > flapped && e.mps_instance == "mps-b")
            .map(|(_, e)| e.guid.as_str())
            .collect();
        guids(&fleet).iter().all(|g| again.contains(g.as_str()))
    })
    .await;
    eventually("presence shows every device at mps-b", 30, async || {
        let p = presences(&dashboard, N as usize).await;
        p.len() == N as usize && p.values().all(|p| p.connected && p.mps_instance == "mps-b")
    })
    .await;
    eventually("every row names mps-b", 30, async || {
        for g in guids(&fleet) {
            let row = a.device(&g).await;
            if row["connectionStatus"] != true || row["mpsInstance"] != "mps-b" {
                return false;
            }
        }
        true
    })
    .await;
    {
        // The survivor did report them (it had every reason to believe mps-b dead).
        let s = seen.lock().unwrap();
        let reported: HashSet<&str> = s
            .disconnected
            .iter()
            .filter(|(_, e)| e.detail.contains("reported by mps-a"))
            .map(|(_, e)| e.guid.as_str())
            .collect();
        assert_eq!(reported.len(), N as usize, "{:?}", s.disconnected);
        // And mps-b's status ends ONLINE.
        let last = s.statuses.iter().rev().find(|(_, i, _)| i == "mps-b");
        assert_eq!(
            last.map(|(_, _, st)| *st),
            Some(proto::ServiceState::Online as i32)
        );
    }
    fleet.shutdown().await;
    b.stop().await;
    a.stop().await;
}
