//! Running the `openamt` command the way a user does, for the tests beside this module.
#![allow(dead_code)]

pub mod balancer;
pub mod cira;
pub mod leaks;
pub mod logs;
pub mod pg_cluster;
pub mod postgres;

use std::{
    io::{BufRead, BufReader},
    path::Path,
    process::{Child, Command, Stdio},
};

/// A child process killed when the test ends, however it ends.
pub struct Running(pub Option<Child>);

impl Running {
    pub fn spawn(command: &mut Command) -> Running {
        Running(Some(command.spawn().expect("start openamt")))
    }

    pub fn child(&mut self) -> &mut Child {
        self.0.as_mut().expect("running")
    }

    pub fn take(&mut self) -> Child {
        self.0.take().expect("running")
    }

    /// SIGINT, as Ctrl-C, then the exit status.
    pub fn interrupt(&mut self) -> std::process::ExitStatus {
        let mut child = self.take();
        Command::new("kill")
            .args(["-INT", &child.id().to_string()])
            .status()
            .expect("kill");
        child.wait().expect("wait")
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        if let Some(mut child) = self.0.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// `openamt` in `dir`, on free ports, with the activation waits simulated devices do not need.
pub fn openamt(dir: &Path) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_openamt"));
    command
        .current_dir(dir)
        .env_remove("RUST_LOG")
        .env("MPS_PORT", "0")
        .env("MPS_WEB_PORT", "0")
        .env("RPS_WEB_PORT", "0")
        .env("RPS_WEBSOCKETPORT", "0")
        .env("RPS_DELAY_ACTIVATION_SYNC", "0")
        .env("RPS_DELAY_SETUP_AND_CONFIG_SYNC", "0")
        .env("RPS_DELAY_TLS_TIMER", "0");
    command
}

/// A running `openamt up` and what its banner told the user.
pub struct Up {
    pub process: Running,
    pub banner: String,
    pub gateway: String,
    pub cira: String,
    pub mqtt_port: String,
    /// Printed on the first start only.
    pub password: Option<String>,
}

/// Starts `openamt up` in `dir` on free ports and reads its banner.
pub fn start_up(dir: &Path) -> Up {
    start_up_with(dir, &[])
}

/// A port free right now (for settings that must survive a restart).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

/// Where `openamt up`'s logs go: appended to `<dir>/logs/openamt-up.log`, for the secrets check.
pub fn up_log(dir: &Path) -> std::fs::File {
    let logs = dir.join("logs");
    std::fs::create_dir_all(&logs).expect("log directory");
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(logs.join("openamt-up.log"))
        .expect("log file")
}

/// `start_up` with extra environment variables.
pub fn start_up_with(dir: &Path, env: &[(&str, String)]) -> Up {
    let mut command = openamt(dir);
    for (name, value) in env {
        command.env(name, value);
    }
    let mut process = Running::spawn(
        command
            .args([
                "up",
                "--mqtt-listen",
                "127.0.0.1:0",
                "--gateway-listen",
                "127.0.0.1:0",
            ])
            .args(["--router-listen", "127.0.0.1:0"])
            .stdout(Stdio::piped())
            .stderr(up_log(dir)),
    );
    let stdout = BufReader::new(process.child().stdout.take().expect("stdout"));
    let mut banner = String::new();
    let (mut gateway, mut cira, mut mqtt_port, mut password) = (None, None, None, None);
    for line in stdout.lines() {
        let line = line.expect("banner line");
        banner.push_str(&line);
        banner.push('\n');
        let words: Vec<&str> = line.split_whitespace().collect();
        match words.as_slice() {
            ["Web", "UI", "and", "APIs", url, ..] => {
                gateway = Some(url.trim_end_matches('/').to_owned())
            }
            ["Login", _user, "/", pw, ..] if !pw.starts_with('(') => {
                password = Some((*pw).to_owned())
            }
            ["CIRA", "(devices)", address, ..] => cira = Some((*address).to_owned()),
            ["MQTT", "broker", url, ..] => mqtt_port = url.rsplit(':').next().map(str::to_owned),
            _ => {}
        }
        if line.contains("Ctrl-C stops everything") {
            break;
        }
    }
    Up {
        process,
        gateway: gateway.unwrap_or_else(|| panic!("no gateway URL in the banner:\n{banner}")),
        cira: cira.unwrap_or_else(|| panic!("no CIRA address in the banner:\n{banner}")),
        mqtt_port: mqtt_port.unwrap_or_else(|| panic!("no MQTT port in the banner:\n{banner}")),
        password,
        banner,
    }
}

/// A bus client of the test Mosquitto as `user`; `session_expiry` zero starts clean each time.
pub async fn mosquitto_client(
    mosquitto: &broker::mosquitto::Mosquitto,
    user: &str,
    client_id: &str,
    session_expiry: std::time::Duration,
) -> broker::Bus {
    let mut config = broker::BusConfig::new(
        mosquitto.url().parse().unwrap(),
        user,
        mosquitto.credentials.password(user).unwrap(),
        client_id,
        &format!("/openamt/test/{client_id}"),
    );
    config.ca_pem = Some(mosquitto.ca_pem.as_bytes().to_vec());
    config.session_expiry = session_expiry;
    let bus = broker::Bus::connect(config).await.unwrap();
    bus.wait_connected(std::time::Duration::from_secs(10))
        .await
        .unwrap();
    bus
}
