//! What the benchmark reads about processes and the machine (Linux /proc), and how it sums up a
//! set of timings.

use std::time::Duration;

/// Resident memory of this process, KiB (`VmRSS` of /proc/self/status; 0 when unreadable).
pub fn rss_kib() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .map(|s| parse_vm_rss(&s))
        .unwrap_or(0)
}

fn parse_vm_rss(status: &str) -> u64 {
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// Resident memory of this process after handing freed heap back to the system, KiB.
///
/// The allocator keeps freed pages (the registration phase frees a lot before the fleet
/// connects); without the trim, tunnels reuse those pages and their memory would not show as
/// growth. Trimming before both readings makes the difference the live memory of the tunnels.
pub fn live_rss_kib() -> u64 {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free heap memory; it has no preconditions.
    unsafe {
        libc::malloc_trim(0);
    }
    rss_kib()
}

/// CPU time (user + system) of a process, `None` for this one (0 when unreadable).
pub fn cpu_time(pid: Option<u32>) -> Duration {
    broker::bench::cpu_time(pid)
}

/// The 1, 5 and 15 minute load averages of the machine.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LoadAverage(pub f64, pub f64, pub f64);

impl LoadAverage {
    pub fn now() -> LoadAverage {
        std::fs::read_to_string("/proc/loadavg")
            .ok()
            .and_then(|s| parse_loadavg(&s))
            .unwrap_or_default()
    }
}

fn parse_loadavg(text: &str) -> Option<LoadAverage> {
    let mut f = text.split_whitespace().map(|v| v.parse::<f64>().ok());
    Some(LoadAverage(f.next()??, f.next()??, f.next()??))
}

impl std::fmt::Display for LoadAverage {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:.2} {:.2} {:.2}", self.0, self.1, self.2)
    }
}

/// A set of timings summed up: how many, how many failed, and the percentiles.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Latencies {
    pub count: usize,
    pub failed: usize,
    pub p50: Duration,
    pub p99: Duration,
    pub max: Duration,
}

impl Latencies {
    pub fn from_samples(mut samples: Vec<Duration>, failed: usize) -> Latencies {
        samples.sort_unstable();
        Latencies {
            count: samples.len(),
            failed,
            p50: percentile(&samples, 0.50),
            p99: percentile(&samples, 0.99),
            max: samples.last().copied().unwrap_or_default(),
        }
    }
}

/// Nearest-rank percentile of sorted samples (`p` in 0..=1).
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

/// Milliseconds, for printing.
pub fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vm_rss_is_read_from_the_status_text() {
        let status = "Name:\tmps\nVmPeak:\t  9000 kB\nVmRSS:\t  12345 kB\nThreads:\t4\n";
        assert_eq!(parse_vm_rss(status), 12345);
        assert_eq!(parse_vm_rss("Name:\tmps\n"), 0);
    }

    #[test]
    fn this_process_has_resident_memory_and_cpu() {
        assert!(rss_kib() > 0);
        assert!(live_rss_kib() > 0);
        let spin = std::time::Instant::now();
        while cpu_time(None) == Duration::ZERO && spin.elapsed() < Duration::from_secs(2) {}
        assert!(cpu_time(None) > Duration::ZERO);
    }

    #[test]
    fn load_average_parses_the_first_three_fields() {
        assert_eq!(
            parse_loadavg("1.75 1.57 1.89 3/412 12345\n"),
            Some(LoadAverage(1.75, 1.57, 1.89))
        );
        assert_eq!(parse_loadavg("1.0 oops"), None);
        assert_eq!(LoadAverage(1.75, 1.5, 0.0).to_string(), "1.75 1.50 0.00");
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let samples: Vec<Duration> = (1..=100).rev().map(Duration::from_millis).collect();
        let l = Latencies::from_samples(samples, 2);
        assert_eq!(l.count, 100);
        assert_eq!(l.failed, 2);
        // Ranks round((n - 1) p): 50th of 100 is index 50 (51 ms), 99th is index 98 (99 ms).
        assert_eq!(l.p50, Duration::from_millis(51));
        assert_eq!(l.p99, Duration::from_millis(99));
        assert_eq!(l.max, Duration::from_millis(100));
        assert_eq!(Latencies::from_samples(Vec::new(), 0).p99, Duration::ZERO);
    }
}
