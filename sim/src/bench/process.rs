//! What the benchmarks read about a process from Linux's /proc, and nearest-rank percentiles.

use std::time::Duration;

/// CPU time (user + system) of a process, `None` for this one (0 when unreadable).
pub fn cpu_time(pid: Option<u32>) -> Duration {
    let path = match pid {
        Some(pid) => format!("/proc/{pid}/stat"),
        None => "/proc/self/stat".to_owned(),
    };
    std::fs::read_to_string(path)
        .map(|stat| Duration::from_secs_f64(stat_ticks(&stat) as f64 / 100.0))
        .unwrap_or_default()
}

/// utime + stime in clock ticks (100 a second on Linux) from the text of /proc/<pid>/stat.
fn stat_ticks(stat: &str) -> u64 {
    // The command name may contain spaces and ')': the fields start after the last ')'; there
    // the state is index 0, so utime is 11 and stime 12.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    [11, 12]
        .iter()
        .filter_map(|i| fields.get(*i)?.parse::<u64>().ok())
        .sum()
}

/// Resident memory of a process, `None` for this one: (`VmRSS`, peak `VmHWM`) in KiB, 0 when
/// unreadable.
pub fn memory_kib(pid: Option<u32>) -> (u64, u64) {
    let path = match pid {
        Some(pid) => format!("/proc/{pid}/status"),
        None => "/proc/self/status".to_owned(),
    };
    let status = std::fs::read_to_string(path).unwrap_or_default();
    (
        status_field(&status, "VmRSS:"),
        status_field(&status, "VmHWM:"),
    )
}

/// This process's resident memory after handing freed heap back to the system, KiB.
///
/// The allocator keeps freed pages, and new allocations reuse them without growing the resident
/// set; trimming before each reading makes a difference of two readings the live memory added.
pub fn live_rss_kib() -> u64 {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only releases free heap memory; it has no preconditions.
    unsafe {
        libc::malloc_trim(0);
    }
    memory_kib(None).0
}

fn status_field(status: &str, name: &str) -> u64 {
    status
        .lines()
        .find_map(|l| l.strip_prefix(name))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// Nearest-rank percentile of sorted samples, `p` in 0..=1 (zero for no samples).
pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let rank = ((sorted.len() - 1) as f64 * p).round() as usize;
    sorted[rank.min(sorted.len() - 1)]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_fields_are_counted_after_the_command_name() {
        let stat = "42 (a b) c) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 1";
        assert_eq!(stat_ticks(stat), 300);
        assert_eq!(stat_ticks("garbage"), 0);
    }

    #[test]
    fn status_fields_are_read_in_kib() {
        let status = "Name:\tx\nVmHWM:\t  900 kB\nVmRSS:\t  800 kB\n";
        assert_eq!(status_field(status, "VmRSS:"), 800);
        assert_eq!(status_field(status, "VmHWM:"), 900);
        assert_eq!(status_field(status, "VmSwap:"), 0);
        assert!(memory_kib(None).0 > 0);
    }

    #[test]
    fn percentiles_are_nearest_rank() {
        let samples: Vec<Duration> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&samples, 0.5), Duration::from_millis(51));
        assert_eq!(percentile(&samples, 0.99), Duration::from_millis(99));
        assert_eq!(percentile(&[], 0.5), Duration::ZERO);
    }
}
