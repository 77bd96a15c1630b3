//! Runs Debian's `mosquitto` with the production configuration of `broker/mosquitto/` in a directory of
//! its own: certificates from that directory's CA, a password file made with `mosquitto_passwd`, the
//! shipped ACL, persistence. The tests and `openamt bench bus` measure and prove the production broker
//! with it.

use std::{
    net::Ipv4Addr,
    path::{Path, PathBuf},
    process::{Child, Command, Stdio},
    time::Duration,
};

use crate::Credentials;

/// The production configuration, as shipped.
pub const PRODUCTION_CONF: &str = include_str!("../mosquitto/mosquitto.conf");

#[derive(Debug, thiserror::Error)]
pub enum MosquittoError {
    #[error("cannot run {program} (install Debian's mosquitto package): {source}")]
    Missing {
        program: &'static str,
        source: std::io::Error,
    },
    #[error("{0}")]
    Setup(String),
    #[error("mosquitto did not start: {0}")]
    Start(String),
}

/// A Mosquitto process and what clients need to reach it.
pub struct Mosquitto {
    pub port: u16,
    pub ca_pem: String,
    pub ca_path: PathBuf,
    pub credentials: Credentials,
    dir: PathBuf,
    conf: PathBuf,
    child: Option<Child>,
}

fn setup(e: impl std::fmt::Display) -> MosquittoError {
    MosquittoError::Setup(e.to_string())
}

impl Mosquitto {
    /// Prepares `dir` (config/ and data/) and starts Mosquitto on 127.0.0.1:`port`.
    pub fn start(dir: &Path, port: u16) -> Result<Mosquitto, MosquittoError> {
        let config_dir = dir.join("config");
        let data_dir = dir.join("data");
        std::fs::create_dir_all(&config_dir).map_err(setup)?;
        std::fs::create_dir_all(&data_dir).map_err(setup)?;

        let store = certs::CertStore::open(&config_dir).map_err(setup)?;
        let hosts = vec!["localhost".to_string(), "127.0.0.1".to_string()];
        store
            .leaf(&certs::LeafSpec {
                name: "broker",
                common_name: "localhost",
                hosts: &hosts,
                key: certs::KeyKind::EcdsaP256,
            })
            .map_err(setup)?;
        let credentials = Credentials::load_or_create(&config_dir).map_err(setup)?;
        let passwords = config_dir.join("passwords");
        let _ = std::fs::remove_file(&passwords);
        for user in credentials.users() {
            let password = credentials.password(user).unwrap_or_default();
            let mut command = Command::new("mosquitto_passwd");
            command.arg("-b");
            if !passwords.exists() {
                command.arg("-c");
            }
            let status = command
                .arg(&passwords)
                .arg(user)
                .arg(password)
                .status()
                .map_err(|source| MosquittoError::Missing {
                    program: "mosquitto_passwd",
                    source,
                })?;
            if !status.success() {
                return Err(setup("mosquitto_passwd failed"));
            }
        }
        std::fs::write(config_dir.join("acl"), crate::embedded::SHIPPED_ACL).map_err(setup)?;

        let conf_text = PRODUCTION_CONF
            .replace("/mosquitto/config/", &format!("{}/", config_dir.display()))
            .replace("/mosquitto/data/", &format!("{}/", data_dir.display()))
            .replace("listener 8883", &format!("listener {port} 127.0.0.1"));
        if !conf_text.contains(&format!("listener {port}")) {
            return Err(setup(
                "the production configuration has no `listener 8883` line",
            ));
        }
        // Started as root, Mosquitto drops to the `mosquitto` user, which cannot read a private
        // directory; it stays the invoking user instead (the line is ignored when not root).
        let conf_text = format!("{conf_text}\nuser {}\n", current_user());
        let conf = dir.join("mosquitto.conf");
        std::fs::write(&conf, conf_text).map_err(setup)?;

        let mut mosquitto = Mosquitto {
            port,
            ca_pem: store.ca_pem().to_owned(),
            ca_path: store.ca_path(),
            credentials,
            dir: dir.to_path_buf(),
            conf,
            child: None,
        };
        mosquitto.resume()?;
        Ok(mosquitto)
    }

    /// `mqtts://localhost:<port>`.
    pub fn url(&self) -> String {
        format!("mqtts://localhost:{}", self.port)
    }

    /// Starts the process (again) with the same port and persistence.
    pub fn resume(&mut self) -> Result<(), MosquittoError> {
        if self.child.is_some() {
            return Ok(());
        }
        let log = std::fs::File::create(self.dir.join("mosquitto.log")).map_err(setup)?;
        let log_err = log.try_clone().map_err(setup)?;
        let child = Command::new("mosquitto")
            .arg("-c")
            .arg(&self.conf)
            .stdout(Stdio::from(log))
            .stderr(Stdio::from(log_err))
            .spawn()
            .map_err(|source| MosquittoError::Missing {
                program: "mosquitto",
                source,
            })?;
        self.child = Some(child);
        for _ in 0..500 {
            if std::net::TcpStream::connect((Ipv4Addr::LOCALHOST, self.port)).is_ok() {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        Err(MosquittoError::Start(self.log()))
    }

    /// Stops the process gracefully (it writes its persistence file first).
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(child.id().to_string())
                .status();
            let _ = child.wait();
        }
    }

    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("mosquitto.log")).unwrap_or_default()
    }

    /// The process id, for CPU accounting.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }
}

fn current_user() -> String {
    Command::new("id")
        .arg("-un")
        .output()
        .ok()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned())
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "root".into())
}

impl Drop for Mosquitto {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}
