//! The rest of the system around RPS for end-to-end tests: Debian's Mosquitto with the production
//! configuration and ACL, the real MPS on the bus, a shared (fake KV v2) secret store, a dashboard that records
//! activation events, and a simulated fleet whose CIRA tunnels wait for activation.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use broker::{Bus, BusConfig, OutboxConfig};
use schemas::{DeviceEvent, Event, proto};
use secrets::SecretStore;
use secrets::test_server::TestVault;
use serde_json::Value;
use sim::cira::BackoffConfig;
use sim::fleet::{Fleet, FleetConfig};
use tokio_util::sync::CancellationToken;

use super::{Rps, test_config};
use crate::support::{self, TestDb};

pub const WAIT: Duration = Duration::from_secs(30);

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// Mosquitto with the production configuration and ACL, in a directory of its own.
pub struct Broker {
    pub process: broker::mosquitto::Mosquitto,
    _dir: tempfile::TempDir,
}

impl Broker {
    pub fn start() -> Broker {
        let dir = tempfile::tempdir().expect("temp dir");
        let process =
            broker::mosquitto::Mosquitto::start(dir.path(), 0).unwrap_or_else(|e| panic!("{e}"));
        Broker { process, _dir: dir }
    }

    pub fn url(&self) -> broker::BrokerUrl {
        self.process.url().parse().expect("broker URL")
    }

    pub fn password(&self, user: &str) -> String {
        self.process
            .credentials
            .password(user)
            .expect("known user")
            .to_owned()
    }

    /// A bus client as one of the ACL's users, with a durable outbox in `outbox` when given.
    pub async fn client(
        &self,
        user: &str,
        client_id: &str,
        outbox: Option<std::path::PathBuf>,
    ) -> Bus {
        let mut c = BusConfig::new(
            self.url(),
            user,
            &self.password(user),
            client_id,
            &format!("/openamt/test/{client_id}"),
        );
        c.ca_pem = Some(self.process.ca_pem.as_bytes().to_vec());
        if let Some(path) = outbox {
            c.outbox = OutboxConfig::File(path);
        } else {
            c.session_expiry = Duration::ZERO;
        }
        let bus = Bus::connect(c).await.expect("bus connect");
        bus.wait_connected(WAIT)
            .await
            .expect("connected to the broker");
        bus
    }
}

/// The real MPS on the bus, sharing the secret store with RPS.
pub struct Mps {
    pub running: Option<mps::RunningMps>,
    pub rest: String,
    pub cira_port: u16,
    pub shutdown: CancellationToken,
    pub mps: mps::Mps,
    _dir: tempfile::TempDir,
}

impl Mps {
    pub async fn start(broker: &Broker, vault: &TestVault, database_url: &str) -> Mps {
        Mps::start_named(broker, vault, database_url, "mps-e2e").await
    }

    /// One replica of several sharing the database and the secret store, told apart by `instance`.
    pub async fn start_named(
        broker: &Broker,
        vault: &TestVault,
        database_url: &str,
        instance: &str,
    ) -> Mps {
        let dir = tempfile::tempdir().expect("temp dir");
        let config = mps::MpsConfig {
            port: 0,
            web_port: 0,
            bind_address: "127.0.0.1".into(),
            jwt_secret: "mpssecret".into(),
            web_admin_user: "standalone".into(),
            web_admin_password: "G@ppm0ym".into(),
            secrets_provider: "vault".into(),
            vault_address: vault.address(),
            vault_token: crate::support::VAULT_TOKEN.into(),
            secrets_path: "secret/data/".into(),
            data_dir: dir.path().to_path_buf(),
            instance_name: instance.into(),
            // The address devices dial: MPS issues its CIRA certificate for it.
            common_name: "127.0.0.1".into(),
            connection_string: database_url.into(),
            lastseen_flush_ms: 200,
            ..Default::default()
        };
        let mut bus_config =
            mps::events::bus_config(&config, broker.url(), "mps", &broker.password("mps"))
                .expect("bus config");
        bus_config.ca_pem = Some(broker.process.ca_pem.as_bytes().to_vec());
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
        Mps {
            rest: format!("http://127.0.0.1:{}", running.rest_addr.port()),
            cira_port: running.cira_addr.port(),
            mps: running.mps.clone(),
            running: Some(running),
            shutdown,
            _dir: dir,
        }
    }

    /// `GET /api/v1/devices/<guid>`: the registered device, if any.
    pub async fn device(&self, guid: &str) -> Option<Value> {
        let (status, _, body) = support::request(
            "GET",
            &format!("{}/api/v1/devices/{guid}", self.rest),
            &[],
            None,
        )
        .await;
        let body: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
        (status == 200 && body.get("guid").is_some()).then_some(body)
    }

    /// The HTTP status of `GET /api/v1/amt/power/state/<guid>`: 200 when MPS reaches the device over
    /// CIRA with the AMT password it holds.
    pub async fn power_state(&self, guid: &str) -> Option<u16> {
        let (status, _, _) = support::request(
            "GET",
            &format!("{}/api/v1/amt/power/state/{guid}", self.rest),
            &[],
            None,
        )
        .await;
        Some(status)
    }

    pub async fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(r) = self.running.take() {
            let _ = tokio::time::timeout(Duration::from_secs(15), r.wait()).await;
        }
    }
}

/// What a dashboard saw on the activation and deactivation topics, by device.
#[derive(Default, Debug)]
pub struct Seen {
    pub activation: HashMap<String, Vec<proto::ActivationEvent>>,
    pub deactivated: HashMap<String, proto::DeviceDeactivated>,
}

impl Seen {
    pub fn phases(&self, guid: &str) -> Vec<proto::ActivationPhase> {
        self.activation
            .get(guid)
            .map(|v| v.iter().map(|e| e.phase()).collect())
            .unwrap_or_default()
    }
}

pub async fn watch_activations(dashboard: &Bus) -> Arc<Mutex<Seen>> {
    let topics = dashboard.topics().clone();
    let mut activations = dashboard
        .subscribe(&topics.device_events(DeviceEvent::Activation))
        .await
        .expect("subscribe");
    let mut deactivations = dashboard
        .subscribe(&topics.device_events(DeviceEvent::Deactivated))
        .await
        .expect("subscribe");
    let seen = Arc::new(Mutex::new(Seen::default()));
    let s = Arc::clone(&seen);
    tokio::spawn(async move {
        loop {
            tokio::select! {
                d = activations.next() => {
                    let Some(d) = d else { return };
                    let ty = d.event.as_ref().map(|e| e.ty.clone()).unwrap_or_default();
                    assert_eq!(ty, proto::ActivationEvent::TYPE);
                    let e: proto::ActivationEvent = d.decode().expect("ActivationEvent");
                    s.lock().unwrap().activation.entry(e.guid.clone()).or_default().push(e);
                }
                d = deactivations.next() => {
                    let Some(d) = d else { return };
                    let e: proto::DeviceDeactivated = d.decode().expect("DeviceDeactivated");
                    s.lock().unwrap().deactivated.insert(e.guid.clone(), e);
                }
            }
        }
    });
    seen
}

/// RPS on the bus as the integrator makes it (`rps::bus::bus_config`: user `rps`, OFFLINE last will, durable
/// outbox), on Postgres, sharing the fake Vault with MPS.
pub async fn start_rps(broker: &Broker, vault: &TestVault, db: TestDb) -> Rps {
    let dir = tempfile::tempdir().expect("temp dir");
    let config = rps::RpsConfig {
        instance_name: "rps-e2e".into(),
        ..test_config()
    };
    let mut bus_config =
        rps::bus::bus_config(&config, broker.url(), "rps", &broker.password("rps"))
            .expect("bus config");
    bus_config.ca_pem = Some(broker.process.ca_pem.as_bytes().to_vec());
    bus_config.outbox = OutboxConfig::File(dir.path().join("outbox"));
    let bus = Bus::connect(bus_config).await.expect("RPS bus");
    bus.wait_connected(WAIT)
        .await
        .expect("RPS connected to the broker");
    let secrets: Arc<dyn SecretStore> = secrets::open(&vault.config()).expect("vault backend");
    Rps::start(db, secrets, Some(bus), config, dir).await
}

/// Pre-provisioned simulated devices whose CIRA tasks start once activation configures CIRA.
pub fn fleet(seed: u64, devices: u64, mps_root_der: Vec<u8>) -> Fleet {
    let config = FleetConfig {
        seed,
        start_index: 0,
        devices,
        firmware_version: sim::device::DEFAULT_FIRMWARE.to_string(),
        cira: None,
        admin_password: String::new(),
        concurrency: 64,
        session: Default::default(),
        backoff: BackoffConfig {
            base: Duration::from_millis(200),
            max: Duration::from_secs(2),
        },
        fallback_roots: Some(vec![mps_root_der]),
        tls13: false,
        generation: Default::default(),
        progress: false,
    };
    Fleet::start(&config)
}

/// Polls `f` until it holds or `secs` pass.
pub async fn eventually(what: &str, secs: u64, mut f: impl AsyncFnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    while tokio::time::Instant::now() < deadline {
        if f().await {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("timed out waiting for: {what}");
}
