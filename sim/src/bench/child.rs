//! A benchmark's other side in its own process: this executable again, started with the
//! arguments that select the server mode. The child prints one `READY ...` line on stdout with
//! what the parent needs (addresses, ports) and runs until its stdin closes; the parent closes
//! it to stop the child, and the kernel kills the child if the parent dies first.

use std::ffi::OsString;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// How to start the child: a program and the arguments that select its server mode.
#[derive(Debug, Clone)]
pub struct ChildCommand {
    pub program: PathBuf,
    pub args: Vec<OsString>,
}

impl ChildCommand {
    pub fn new(
        program: impl Into<PathBuf>,
        args: impl IntoIterator<Item = impl Into<OsString>>,
    ) -> ChildCommand {
        ChildCommand {
            program: program.into(),
            args: args.into_iter().map(Into::into).collect(),
        }
    }

    /// This executable again with `args` first (e.g. `["bench", "apf-server"]` for `openamt`).
    pub fn this_executable(
        args: impl IntoIterator<Item = impl Into<OsString>>,
    ) -> std::io::Result<ChildCommand> {
        Ok(ChildCommand::new(std::env::current_exe()?, args))
    }

    /// Starts the child with `extra` arguments and `env` after the mode arguments, and waits
    /// for its `READY` line.
    pub async fn spawn(
        &self,
        extra: &[OsString],
        env: &[(&str, String)],
    ) -> anyhow::Result<ChildProcess> {
        let mut command = Command::new(&self.program);
        command
            .args(&self.args)
            .args(extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        for (key, value) in env {
            command.env(key, value);
        }
        // A server logging every request at info would measure its own logging.
        if std::env::var_os("RUST_LOG").is_none() {
            command.env("RUST_LOG", "warn,sqlx::pool=error");
        }
        die_with_parent(&mut command);
        let mut child = command
            .spawn()
            .with_context(|| format!("starting {}", self.program.display()))?;
        let stdout = child.stdout.take().context("the child has no stdout")?;
        let stdin = child.stdin.take();
        let mut process = ChildProcess {
            child,
            stdin,
            ready: Vec::new(),
        };
        let (line, lines) = tokio::task::spawn_blocking(move || {
            let mut lines = BufReader::new(stdout).lines();
            let line = lines.next().transpose();
            (line, lines)
        })
        .await?;
        let line = line?.unwrap_or_default();
        let mut words = line.split_whitespace().map(str::to_owned);
        if words.next().as_deref() != Some("READY") {
            bail!(
                "{} did not start (first line {line:?})",
                self.program.display()
            );
        }
        process.ready = words.collect();
        // Whatever the child prints later goes to our stdout; an unread pipe would fill up and
        // stall it.
        std::thread::spawn(move || {
            for line in lines.map_while(Result::ok) {
                println!("{line}");
            }
        });
        Ok(process)
    }
}

/// A running child; killed when dropped, so no error path leaves it running.
pub struct ChildProcess {
    child: Child,
    stdin: Option<ChildStdin>,
    ready: Vec<String>,
}

impl ChildProcess {
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The words of the `READY` line after `READY`.
    pub fn ready(&self) -> &[String] {
        &self.ready
    }

    /// The `index`th word of the `READY` line, parsed.
    pub fn ready_field<T: std::str::FromStr>(&self, index: usize) -> anyhow::Result<T>
    where
        T::Err: std::error::Error + Send + Sync + 'static,
    {
        let word = self
            .ready
            .get(index)
            .with_context(|| format!("the READY line has no field {index}: {:?}", self.ready))?;
        word.parse()
            .with_context(|| format!("READY field {index} {word:?}"))
    }

    /// Closes the child's stdin and gives it `grace` to finish (a clean shutdown), then kills it.
    pub async fn stop(mut self, grace: Duration) {
        drop(self.stdin.take());
        let started = Instant::now();
        while started.elapsed() < grace {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tracing::warn!(
            pid = self.pid(),
            "the child did not stop in time; killing it"
        );
    }
}

impl Drop for ChildProcess {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// The child's side: announces `fields` to the parent on one `READY` line.
pub fn ready_line(fields: &[String]) -> std::io::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "READY {}", fields.join(" "))?;
    out.flush()
}

/// The child's side: returns once the parent has closed our stdin (or died).
pub async fn wait_for_stdin_close() {
    let _ = tokio::task::spawn_blocking(|| {
        let mut sink = Vec::new();
        let _ = std::io::Read::read_to_end(&mut std::io::stdin(), &mut sink);
    })
    .await;
}

/// The child must not outlive the benchmark, even one killed before it could clean up.
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
