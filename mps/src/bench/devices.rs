//! The simulated fleet in its own process, so that MPS's memory and CPU figures are MPS's alone.
//!
//! The child is `openamt sim cira` or anything that runs [`device_process`] on the same flags:
//! the benchmark appends the fleet's flags (`--mps`, `--devices`, `--seed`, `--username`, `--ca`,
//! `--concurrency`) to a [`DeviceCommand`] and passes the two passwords in the environment,
//! never on the command line.

use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

use anyhow::Context;
use clap::Parser;

/// How to start the device process: a program and the arguments that select the fleet mode
/// (`this_executable(["sim", "cira"])` for `openamt`).
pub type DeviceCommand = sim::bench::ChildCommand;

/// What the device process needs to know.
pub(crate) struct FleetSpec<'a> {
    pub cira: SocketAddr,
    pub devices: u64,
    pub seed: u64,
    pub username: &'a str,
    pub password: &'a str,
    pub amt_password: &'a str,
    /// PEM file of the MPS root the devices trust.
    pub ca: &'a Path,
    /// TLS handshakes in flight at once.
    pub handshakes: usize,
}

/// The device process; killed when dropped, so no error path leaves it running.
pub(crate) struct DeviceProcess {
    child: Child,
    log: PathBuf,
}

impl DeviceProcess {
    pub fn spawn(
        command: &DeviceCommand,
        spec: &FleetSpec,
        log: PathBuf,
    ) -> anyhow::Result<DeviceProcess> {
        let out =
            std::fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        let err = out.try_clone()?;
        let child = build(command, spec)
            .stdin(Stdio::null())
            .stdout(Stdio::from(out))
            .stderr(Stdio::from(err))
            .spawn()
            .with_context(|| format!("starting {}", command.program.display()))?;
        Ok(DeviceProcess { child, log })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `Some(status)` once the process has ended.
    pub fn exited(&mut self) -> Option<std::process::ExitStatus> {
        self.child.try_wait().ok().flatten()
    }

    /// The last lines the process wrote, for error messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// Kills the process at once (its sockets are closed by the kernel, as when a fleet loses
    /// power or network), and reaps it.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for DeviceProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

fn build(command: &DeviceCommand, spec: &FleetSpec) -> Command {
    let mut c = Command::new(&command.program);
    c.args(&command.args)
        .arg("--mps")
        .arg(spec.cira.to_string())
        .args(["--devices", &spec.devices.to_string()])
        .args(["--seed", &spec.seed.to_string()])
        .args(["--username", spec.username])
        .arg("--ca")
        .arg(spec.ca)
        .args(["--concurrency", &spec.handshakes.to_string()])
        .env("OPENAMT_SIM_CIRA_PASSWORD", spec.password)
        .env("OPENAMT_SIM_AMT_PASSWORD", spec.amt_password);
    die_with_parent(&mut c);
    c
}

/// The fleet must not outlive the benchmark, even one killed before it could clean up.
#[cfg(target_os = "linux")]
fn die_with_parent(c: &mut Command) {
    use std::os::unix::process::CommandExt;
    // SAFETY: prctl is async-signal-safe and touches no memory of the parent.
    unsafe {
        c.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL) == 0 {
                Ok(())
            } else {
                Err(std::io::Error::last_os_error())
            }
        });
    }
}

#[cfg(not(target_os = "linux"))]
fn die_with_parent(_: &mut Command) {}

#[derive(Parser)]
#[command(name = "device-process")]
struct DeviceProcessArgs {
    #[command(flatten)]
    cira: sim::cli_cira::CiraArgs,
}

/// The device process's `main`: parses the flags of `openamt sim cira` from `args` (without the
/// program name) and keeps the fleet connected until killed or interrupted.
pub async fn device_process(args: impl IntoIterator<Item = OsString>) -> anyhow::Result<()> {
    let parsed = DeviceProcessArgs::try_parse_from(
        std::iter::once(OsString::from("device-process")).chain(args),
    )?;
    let summary = sim::cli_cira::run(parsed.cira).await?;
    println!("{summary}");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fleet_flags_follow_the_mode_arguments_and_passwords_stay_off_the_command_line() {
        let command = DeviceCommand::new("/usr/bin/openamt", ["sim", "cira"]);
        let spec = FleetSpec {
            cira: "127.0.0.1:4433".parse().unwrap(),
            devices: 10_000,
            seed: 7,
            username: "benchUser",
            password: "cira-secret",
            amt_password: "amt-secret",
            ca: Path::new("/tmp/root.pem"),
            handshakes: 256,
        };
        let c = build(&command, &spec);
        let args: Vec<String> = c
            .get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect();
        assert_eq!(
            args,
            [
                "sim",
                "cira",
                "--mps",
                "127.0.0.1:4433",
                "--devices",
                "10000",
                "--seed",
                "7",
                "--username",
                "benchUser",
                "--ca",
                "/tmp/root.pem",
                "--concurrency",
                "256"
            ]
        );
        assert!(!args.iter().any(|a| a.contains("secret")));
        let env: Vec<(String, String)> = c
            .get_envs()
            .filter_map(|(k, v)| Some((k.to_string_lossy().into(), v?.to_string_lossy().into())))
            .collect();
        assert!(env.contains(&("OPENAMT_SIM_CIRA_PASSWORD".into(), "cira-secret".into())));
        assert!(env.contains(&("OPENAMT_SIM_AMT_PASSWORD".into(), "amt-secret".into())));
    }

    #[test]
    fn the_device_process_takes_the_flags_of_openamt_sim_cira() {
        let parsed = DeviceProcessArgs::try_parse_from([
            "device-process",
            "--mps",
            "127.0.0.1:4433",
            "--devices",
            "3",
            "--seed",
            "7",
            "--username",
            "u",
            "--ca",
            "/tmp/root.pem",
            "--concurrency",
            "8",
        ])
        .unwrap();
        assert_eq!(parsed.cira.devices, 3);
        assert_eq!(parsed.cira.seed, 7);
        assert_eq!(parsed.cira.concurrency, 8);
        assert!(DeviceProcessArgs::try_parse_from(["device-process", "--devices", "x"]).is_err());
    }
}
