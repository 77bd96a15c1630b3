//! Real brokers for the tests: the embedded one, and a Debian Mosquitto started with the production
//! configuration of broker/mosquitto/ on a free port.
#![allow(dead_code)]

use std::{
    net::{Ipv4Addr, SocketAddr, TcpListener},
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
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

/// Mosquitto with broker/mosquitto/mosquitto.conf and acl, its paths and port rewritten for a test.
pub struct Mosquitto {
    pub target: Target,
    dir: tempfile::TempDir,
    conf: PathBuf,
    port: u16,
    child: Option<Child>,
}

fn production_file(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("mosquitto")
        .join(name)
}

impl Mosquitto {
    pub fn start() -> Mosquitto {
        init();
        let dir = tempfile::tempdir().expect("temp dir");
        let config_dir = dir.path().join("config");
        let data_dir = dir.path().join("data");
        std::fs::create_dir_all(&config_dir).unwrap();
        std::fs::create_dir_all(&data_dir).unwrap();

        let store = certs::CertStore::open(&config_dir).expect("CA");
        let hosts = vec!["localhost".to_string(), "127.0.0.1".to_string()];
        store
            .leaf(&certs::LeafSpec {
                name: "broker",
                common_name: "localhost",
                hosts: &hosts,
                key: certs::KeyKind::EcdsaP256,
            })
            .expect("broker certificate");
        let credentials = Credentials::load_or_create(&config_dir).expect("credentials");
        let passwords = config_dir.join("passwords");
        for user in credentials.users() {
            let status = Command::new("mosquitto_passwd")
                .arg("-b")
                .args(if passwords.exists() {
                    vec![]
                } else {
                    vec!["-c"]
                })
                .arg(&passwords)
                .arg(user)
                .arg(credentials.password(user).unwrap())
                .status()
                .expect("mosquitto_passwd (Debian package mosquitto)");
            assert!(status.success());
        }
        std::fs::copy(production_file("acl"), config_dir.join("acl")).unwrap();

        let port = free_port();
        let production = std::fs::read_to_string(production_file("mosquitto.conf")).unwrap();
        let conf_text = production
            .replace("/mosquitto/config/", &format!("{}/", config_dir.display()))
            .replace("/mosquitto/data/", &format!("{}/", data_dir.display()))
            .replace("listener 8883", &format!("listener {port} 127.0.0.1"));
        assert!(
            conf_text.contains(&format!("listener {port}")),
            "production config changed shape"
        );
        // Started as root, Mosquitto drops to the `mosquitto` user, which cannot read the test's
        // private temporary directory; it stays the invoking user instead (ignored when not root).
        let conf_text = format!("{conf_text}\nuser {}\n", whoami());
        let conf = dir.path().join("mosquitto.conf");
        std::fs::write(&conf, conf_text).unwrap();

        let target = Target {
            url: format!("mqtts://localhost:{port}").parse().unwrap(),
            ca_pem: store.ca_pem().as_bytes().to_vec(),
            ca_path: store.ca_path(),
            credentials,
        };
        let mut mosquitto = Mosquitto {
            target,
            dir,
            conf,
            port,
            child: None,
        };
        mosquitto.resume();
        mosquitto
    }

    /// Starts (again) on the same port with the same persistence directory.
    pub fn resume(&mut self) {
        assert!(self.child.is_none());
        let log = std::fs::File::create(self.dir.path().join("mosquitto.log")).unwrap();
        let child = Command::new("mosquitto")
            .arg("-c")
            .arg(&self.conf)
            .stdout(Stdio::from(log.try_clone().unwrap()))
            .stderr(Stdio::from(log))
            .spawn()
            .expect("mosquitto (Debian package mosquitto)");
        self.child = Some(child);
        for _ in 0..300 {
            if std::net::TcpStream::connect((Ipv4Addr::LOCALHOST, self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("mosquitto did not start: {}", self.log());
    }

    /// Stops the broker gracefully (it saves its persistence file).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            terminate(child.id());
            let _ = child.wait();
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("mosquitto.log")).unwrap_or_default()
    }
}

fn whoami() -> String {
    Command::new("id")
        .arg("-un")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .unwrap_or_else(|_| "root".into())
}

fn terminate(pid: u32) {
    let _ = Command::new("kill")
        .arg("-TERM")
        .arg(pid.to_string())
        .status();
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
