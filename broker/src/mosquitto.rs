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
    /// Prepares `dir` (config/ and data/) and starts Mosquitto on 127.0.0.1:`port`; port 0 picks a
    /// free one (read it from [`Mosquitto::port`]).
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

        let conf = dir.join("mosquitto.conf");
        let mut mosquitto = Mosquitto {
            port,
            ca_pem: store.ca_pem().to_owned(),
            ca_path: store.ca_path(),
            credentials,
            dir: dir.to_path_buf(),
            conf,
            child: None,
        };
        if port != 0 {
            mosquitto.write_conf(&config_dir, &data_dir)?;
            mosquitto.resume()?;
            return Ok(mosquitto);
        }
        // Port 0: a free port of our choosing. Another process may bind it between our probe and
        // Mosquitto's bind, so a taken port is tried again with a fresh one.
        let mut last = None;
        for _ in 0..8 {
            mosquitto.port = free_port().map_err(setup)?;
            mosquitto.write_conf(&config_dir, &data_dir)?;
            match mosquitto.resume() {
                Ok(()) => return Ok(mosquitto),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| MosquittoError::Start("no free port".into())))
    }

    fn write_conf(&self, config_dir: &Path, data_dir: &Path) -> Result<(), MosquittoError> {
        let port = self.port;
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
        std::fs::write(&self.conf, conf_text).map_err(setup)
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
        let pid = child.id();
        self.child = Some(child);
        // Ready when this process listens on the port: a connection alone could reach another
        // server that holds the port while ours fails to bind it.
        for _ in 0..500 {
            if let Some(child) = self.child.as_mut()
                && let Ok(Some(status)) = child.try_wait()
            {
                self.child = None;
                return Err(MosquittoError::Start(format!(
                    "port {} ({status}): {}",
                    self.port,
                    self.log()
                )));
            }
            if listens_on(pid, self.port) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        self.stop();
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

fn free_port() -> std::io::Result<u16> {
    std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
        .local_addr()
        .map(|a| a.port())
}

/// Whether process `pid` holds a socket listening on 127.0.0.1:`port` (Linux `/proc`).
fn listens_on(pid: u32, port: u16) -> bool {
    let Ok(table) = std::fs::read_to_string("/proc/net/tcp") else {
        return false;
    };
    let wanted = format!("0100007F:{port:04X}");
    let inodes: Vec<String> = table
        .lines()
        .skip(1)
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // local_address, state 0A = LISTEN, inode.
            (fields.get(1) == Some(&wanted.as_str()) && fields.get(3) == Some(&"0A"))
                .then(|| fields.get(9).map(|i| format!("socket:[{i}]")))
                .flatten()
        })
        .collect();
    if inodes.is_empty() {
        return false;
    }
    let Ok(fds) = std::fs::read_dir(format!("/proc/{pid}/fd")) else {
        return false;
    };
    fds.flatten().any(|fd| {
        std::fs::read_link(fd.path())
            .map(|target| inodes.iter().any(|i| target.as_os_str() == i.as_str()))
            .unwrap_or(false)
    })
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
