//! `openamt bench all [--quick]`: every benchmark in sequence, each in a process of its own
//! (`openamt bench <name> ... --rows-out FILE`, so one benchmark's memory figures are not
//! another's leftovers and a crash stops only that one), then one table of figure, value, aim.
//! A benchmark whose external tool is missing is skipped, or run without it, with a line saying so.

use std::path::Path;
use std::time::Instant;

use anyhow::bail;

use super::table::{self, NO_AIM, Row};

#[derive(clap::Args)]
pub struct AllArgs {
    /// Smaller sizes (1,000 devices instead of 10,000, shorter runs): about a minute in all.
    #[arg(long)]
    pub quick: bool,
}

/// One benchmark of the run: its subcommand and the flags that size it.
struct Step {
    name: &'static str,
    args: Vec<&'static str>,
}

/// What runs, in order, and how big. The MPS with 10,000 devices is the headline figure.
fn plan(quick: bool) -> Vec<Step> {
    let step = |name, full: &[&'static str], small: &[&'static str]| Step {
        name,
        args: if quick { small } else { full }.to_vec(),
    };
    vec![
        step("apf", &["--scale", "1"], &["--scale", "1"]),
        step(
            "bus",
            &["--events", "50000", "--seconds", "10"],
            &["--events", "10000", "--seconds", "3"],
        ),
        step(
            "wsman",
            &["--devices", "10000", "--seconds", "3"],
            &["--devices", "1000", "--seconds", "1"],
        ),
        step(
            "fleet",
            &["--devices", "10000", "--idle-secs", "30"],
            &["--devices", "1000", "--idle-secs", "5"],
        ),
        step(
            "mps",
            &[
                "--devices",
                "10000",
                "--idle-secs",
                "30",
                "--power-calls",
                "1000",
            ],
            &[
                "--devices",
                "1000",
                "--idle-secs",
                "5",
                "--power-calls",
                "200",
            ],
        ),
        step(
            "activation",
            &["--devices", "100", "--rounds", "3"],
            &["--devices", "100", "--rounds", "1"],
        ),
        step("rest", &["--seconds", "5"], &["--seconds", "2"]),
        step("hops", &["--seconds", "5"], &["--seconds", "2"]),
        step(
            "stream",
            &["--streams", "200", "--events", "5000", "--rate", "500"],
            &["--streams", "50", "--events", "1000", "--rate", "500"],
        ),
    ]
}

/// Whether an executable of that name is on PATH.
fn on_path(name: &str) -> bool {
    std::env::var_os("PATH").is_some_and(|paths| {
        std::env::split_paths(&paths)
            .any(|dir| std::fs::metadata(dir.join(name)).is_ok_and(|m| m.is_file()))
    })
}

/// What a missing tool does to a step: `Err(reason)` skips it, extra flags run it without.
fn adapt(step: &mut Step, mosquitto: bool, wrk: bool) -> Result<Option<String>, String> {
    match step.name {
        "bus" if !mosquitto => {
            step.args.push("--no-mosquitto");
            Ok(Some(
                "mosquitto is not installed: the bus through the embedded broker only".into(),
            ))
        }
        "activation" if !mosquitto => {
            step.args.push("--no-bus");
            Ok(Some(
                "mosquitto is not installed: activations without events".into(),
            ))
        }
        "mps" if !mosquitto => Err("mosquitto is not installed".into()),
        "hops" if !wrk => Err("wrk is not installed".into()),
        _ => Ok(None),
    }
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
}

pub async fn run(args: AllArgs) -> anyhow::Result<()> {
    let started = Instant::now();
    let load_before = load_average();
    let (mosquitto, wrk) = (on_path("mosquitto"), on_path("wrk"));
    let dir = tempfile::tempdir()?;
    let mut rows = Vec::new();
    let mut failed = Vec::new();
    for mut step in plan(args.quick) {
        match adapt(&mut step, mosquitto, wrk) {
            Err(reason) => {
                println!("\n== bench {}: skipped, {reason}", step.name);
                rows.push(Row::new(
                    format!("{} benchmark", step.name),
                    format!("skipped: {reason}"),
                    NO_AIM,
                ));
                continue;
            }
            Ok(Some(note)) => println!("\n== bench {}: {note}", step.name),
            Ok(None) => {}
        }
        println!("\n== bench {} {}", step.name, step.args.join(" "));
        let out = dir.path().join(format!("{}.json", step.name));
        let t = Instant::now();
        match run_step(&step, &out).await {
            Ok(step_rows) => {
                println!(
                    "== bench {} took {:.0} s",
                    step.name,
                    t.elapsed().as_secs_f64()
                );
                rows.extend(step_rows);
            }
            Err(error) => {
                eprintln!("openamt bench {}: {error:#}", step.name);
                rows.push(Row::new(
                    format!("{} benchmark", step.name),
                    "FAILED (see its output above)",
                    NO_AIM,
                ));
                failed.push(step.name);
            }
        }
    }
    println!(
        "\n## openamt bench all{}: {} in {:.1} min; load average before {load_before}, after {} (2 cores, shared)\n",
        if args.quick { " --quick" } else { "" },
        if failed.is_empty() {
            "every benchmark".to_owned()
        } else {
            format!("{} failed", failed.join(", "))
        },
        started.elapsed().as_secs_f64() / 60.0,
        load_average()
    );
    print!("{}", table::markdown(&rows));
    if !failed.is_empty() {
        bail!("{} failed", failed.join(", "));
    }
    Ok(())
}

/// Runs one benchmark as `openamt bench <name> <args> --rows-out <out>` and reads its rows.
async fn run_step(step: &Step, out: &Path) -> anyhow::Result<Vec<Row>> {
    let mut command = tokio::process::Command::new(std::env::current_exe()?);
    command
        .arg("bench")
        .arg(step.name)
        .args(&step.args)
        .arg("--rows-out")
        .arg(out)
        .kill_on_drop(true);
    // Services narrating every connection would measure their own logging.
    if std::env::var_os("RUST_LOG").is_none() {
        command.env(
            "RUST_LOG",
            "warn,rumqttd=off,sqlx::pool=error,mps::bench=info",
        );
    }
    let status = command.status().await?;
    if !status.success() {
        bail!("exited with {status}");
    }
    table::read(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn missing_tools_skip_or_trim_their_benchmarks() {
        let mut steps = plan(true);
        let results: Vec<_> = steps
            .iter_mut()
            .map(|s| (s.name, adapt(s, false, false)))
            .collect();
        let outcome = |name: &str| &results.iter().find(|(n, _)| *n == name).unwrap().1;
        assert!(outcome("mps").is_err());
        assert!(outcome("hops").is_err());
        assert!(matches!(outcome("bus"), Ok(Some(_))));
        assert!(matches!(outcome("apf"), Ok(None)));
        let bus = steps.iter().find(|s| s.name == "bus").unwrap();
        assert!(bus.args.contains(&"--no-mosquitto"));
        let activation = steps.iter().find(|s| s.name == "activation").unwrap();
        assert!(activation.args.contains(&"--no-bus"));
    }

    #[test]
    fn the_full_run_measures_ten_thousand_devices() {
        let steps = plan(false);
        let mps = steps.iter().find(|s| s.name == "mps").unwrap();
        assert!(mps.args.windows(2).any(|w| w == ["--devices", "10000"]));
        assert_eq!(plan(true).len(), steps.len());
        assert!(on_path("sh"));
        assert!(!on_path("no-such-tool-anywhere"));
    }
}
