//! Running wrk and reading its summary.

use std::process::Command;
use std::time::Duration;

use anyhow::{Context, bail};

/// What wrk measured for one URL.
#[derive(Debug, Clone, Default)]
pub struct WrkResult {
    pub requests_per_second: f64,
    pub p50: Duration,
    pub p99: Duration,
}

/// Whether wrk is installed (Debian's `wrk` package).
pub fn available() -> bool {
    Command::new("wrk").arg("--version").output().is_ok()
}

/// One thread, `connections` keep-alive connections for `seconds`; any non-2xx answer makes the
/// run invalid.
pub fn run(
    url: &str,
    header: Option<&str>,
    connections: u64,
    seconds: u64,
) -> anyhow::Result<WrkResult> {
    let mut command = Command::new("wrk");
    command.args([
        "-t1",
        &format!("-c{connections}"),
        &format!("-d{seconds}s"),
        "--latency",
    ]);
    if let Some(header) = header {
        command.args(["-H", header]);
    }
    let output = command.arg(url).output().context("running wrk")?;
    let text = String::from_utf8_lossy(&output.stdout).into_owned();
    if !output.status.success() {
        bail!(
            "wrk failed on {url}: {text}{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    parse(&text).with_context(|| format!("{url}: wrk's output:\n{text}"))
}

fn parse(text: &str) -> anyhow::Result<WrkResult> {
    if let Some(line) = text.lines().find(|l| l.contains("Non-2xx")) {
        bail!("{}", line.trim());
    }
    let field = |prefix: &str| {
        text.lines()
            .map(str::trim)
            .find_map(|l| l.strip_prefix(prefix))
            .map(str::trim)
            .with_context(|| format!("no {prefix:?}"))
    };
    Ok(WrkResult {
        requests_per_second: field("Requests/sec:")?.parse()?,
        p50: latency(field("50%")?)?,
        p99: latency(field("99%")?)?,
    })
}

/// wrk's latencies: `318.00us`, `1.23ms`, `2.00s`, `1.50m`.
fn latency(text: &str) -> anyhow::Result<Duration> {
    let split = text
        .find(|c: char| c.is_ascii_alphabetic())
        .with_context(|| format!("no unit in {text:?}"))?;
    let value: f64 = text[..split].parse()?;
    let seconds = match &text[split..] {
        "us" => value / 1e6,
        "ms" => value / 1e3,
        "s" => value,
        "m" => value * 60.0,
        unit => bail!("unknown unit {unit:?} in {text:?}"),
    };
    Ok(Duration::from_secs_f64(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;

    const OUTPUT: &str = "Running 2s test @ http://127.0.0.1:1/api/v1/devices
  1 threads and 50 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     1.02ms  300.00us   9.00ms   90.00%
  Latency Distribution
     50%  950.00us
     75%    1.10ms
     90%    1.30ms
     99%    2.50ms
  40000 requests in 2.00s, 80.00MB read
Requests/sec:  20000.50
Transfer/sec:     40.00MB
";

    #[test]
    fn the_summary_gives_the_rate_and_the_percentiles() {
        let result = parse(OUTPUT).unwrap();
        assert_eq!(result.requests_per_second, 20000.5);
        assert_eq!(result.p50, Duration::from_micros(950));
        assert_eq!(result.p99, Duration::from_micros(2500));
    }

    #[test]
    fn non_2xx_answers_invalidate_the_run() {
        let text = format!("{OUTPUT}  Non-2xx or 3xx responses: 12\n");
        assert!(parse(&text).is_err());
        assert!(latency("3.5parsecs").is_err());
        assert_eq!(latency("2.00s").unwrap(), Duration::from_secs(2));
    }
}
