//! Real brokers for the tests: the embedded one, and a Debian Mosquitto started with the production
//! configuration of broker/mosquitto/ on a free port.
#![allow(dead_code)]

use std::{
    net::{Ipv4Addr, SocketAddr, TcpListener},
    path::PathBuf,
    time::Duration,
};

use broker::{
    BrokerUrl, Bus, BusConfig, Credentials, EmbeddedBroker, EmbeddedBrokerConfig, OutboxConfig,
};

pub fn init() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let _ = tracing_subscriber_init();
}

fn tracing_subscriber_init() -> Option<()> {
    // Keep test output readable; RUST_LOG=debug shows the bus at work.
    let filter = std::env::var("RUST_LOG").unwrap_or_else(|_| "warn,rumqttd=off".into());
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_test_writer()
        .try_init()
        .ok()
}

pub fn free_port() -> u16 {
    TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

/// A broker under test: where it is, its CA and its credentials.
pub struct Target {
    pub url: BrokerUrl,
    pub ca_pem: Vec<u8>,
    pub ca_path: PathBuf,
    pub credentials: Credentials,
}

impl Target {
    pub fn config(&self, user: &str, client_id: &str) -> BusConfig {
        let mut config = BusConfig::new(
            self.url.clone(),
            user,
            self.credentials.password(user).expect("known user"),
            client_id,
            &format!("/openamt/test/{client_id}"),
        );
        config.ca_pem = Some(self.ca_pem.clone());
        config
    }

    pub async fn connect(&self, user: &str, client_id: &str) -> Bus {
        let bus = Bus::connect(self.config(user, client_id))
            .await
            .expect("connect");
        bus.wait_connected(Duration::from_secs(10))
            .await
            .expect("connected");
        bus
    }

    pub async fn connect_with(&self, user: &str, client_id: &str, outbox: OutboxConfig) -> Bus {
        let mut config = self.config(user, client_id);
        config.outbox = outbox;
        let bus = Bus::connect(config).await.expect("connect");
        bus.wait_connected(Duration::from_secs(10))
            .await
            .expect("connected");
        bus
    }
}

pub struct Embedded {
    pub broker: EmbeddedBroker,
    pub target: Target,
    _dir: tempfile::TempDir,
}

pub async fn embedded() -> Embedded {
    init();
    let dir = tempfile::tempdir().expect("temp dir");
    let mut config = EmbeddedBrokerConfig::new(dir.path());
    config.listen = SocketAddr::from((Ipv4Addr::LOCALHOST, 0));
    let broker = EmbeddedBroker::start(config)
        .await
        .expect("embedded broker");
    let target = Target {
        url: broker.url().parse().expect("url"),
        ca_pem: broker.ca_pem().as_bytes().to_vec(),
        ca_path: broker.ca_path().to_path_buf(),
        credentials: broker.credentials().clone(),
    };
    Embedded {
        broker,
        target,
        _dir: dir,
    }
}

/// Mosquitto running the production configuration on a free port.
pub struct Mosquitto {
    pub target: Target,
    process: broker::mosquitto::Mosquitto,
    _dir: tempfile::TempDir,
}

impl Mosquitto {
    pub fn start() -> Mosquitto {
        init();
        let dir = tempfile::tempdir().expect("temp dir");
        let process =
            broker::mosquitto::Mosquitto::start(dir.path(), 0).unwrap_or_else(|e| panic!("{e}"));
        let target = Target {
            url: process.url().parse().unwrap(),
            ca_pem: process.ca_pem.as_bytes().to_vec(),
            ca_path: process.ca_path.clone(),
            credentials: process.credentials.clone(),
        };
        Mosquitto {
            target,
            process,
            _dir: dir,
        }
    }

    pub fn resume(&mut self) {
        self.process.resume().unwrap_or_else(|e| panic!("{e}"));
    }

    pub fn stop(&mut self) {
        self.process.stop();
    }
}
