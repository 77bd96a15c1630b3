//! What one benchmark run measured, and the table it prints with the aims beside the figures.

use std::fmt;
use std::time::Duration;

use super::power::CallRun;
use super::stats::{Latencies, LoadAverage, ms};

/// The aims set for this MPS, and what the reference MPS measured on this kind of machine.
pub const AIM_CONNECTS_PER_SECOND: f64 = 1_500.0;
pub const AIM_RSS_PER_CONNECTION_BYTES: f64 = 16.0 * 1024.0;
pub const AIM_POWER_P99: Duration = Duration::from_millis(20);

/// Every figure of one run.
#[derive(Debug, Clone, Default)]
pub struct Figures {
    pub devices: u64,
    /// MPS's database ("SQLite" or "Postgres") and where its event outbox is.
    pub database: String,
    pub outbox: String,
    pub load_before: LoadAverage,
    pub load_after: LoadAverage,
    /// Activation events published (as RPS does) until MPS had every device's row.
    pub registration: Duration,
    /// Tunnels MPS held at the end of the connect phase.
    pub connected: u64,
    /// From starting the device process until MPS held every tunnel.
    pub connect_time: Duration,
    /// From starting the device process until MPS held the first tunnel (process start-up).
    pub first_tunnel: Option<Duration>,
    /// CPU used during the connect phase by MPS (this process), the devices and Mosquitto.
    pub connect_cpu_mps: Duration,
    pub connect_cpu_devices: Duration,
    pub connect_cpu_broker: Duration,
    /// This process's resident memory before the fleet connected and with every tunnel idle,
    /// after returning freed heap to the system (`live`) and as read (`raw`), KiB.
    pub rss_before_kib: u64,
    pub rss_connected_kib: u64,
    pub raw_rss_before_kib: u64,
    pub raw_rss_connected_kib: u64,
    pub idle: Duration,
    pub idle_cpu_mps: Duration,
    pub idle_cpu_broker: Duration,
    /// `connected` events the dashboard saw, and their delay (see `watch`).
    pub connected_events: usize,
    pub connect_event: Latencies,
    /// Devices the power actions went to (the first of the fleet).
    pub power_targets: usize,
    pub rest_serial: CallRun,
    pub mqtt_serial: CallRun,
    pub rest_concurrent: CallRun,
    pub mqtt_concurrent: CallRun,
    /// After the device process was killed: until every row said disconnected, and until the
    /// dashboard had every `disconnected` event (`None`: not within the time limit).
    pub rows_disconnected: Option<Duration>,
    /// Rows that still said connected when the wait ended (0 when all went offline).
    pub rows_still_connected: u64,
    pub disconnected_events: usize,
    pub events_disconnected: Option<Duration>,
}

impl Figures {
    pub fn connects_per_second(&self) -> f64 {
        self.connected as f64 / self.connect_time.as_secs_f64().max(1e-9)
    }

    /// The rate without the device process's start-up: from the first tunnel to the last.
    pub fn connects_per_second_after_first(&self) -> f64 {
        let first = self.first_tunnel.unwrap_or_default();
        self.connected.saturating_sub(1) as f64
            / self
                .connect_time
                .saturating_sub(first)
                .as_secs_f64()
                .max(1e-9)
    }

    /// Growth of live resident memory per tunnel, bytes.
    pub fn rss_per_connection(&self) -> f64 {
        per_connection(self.rss_before_kib, self.rss_connected_kib, self.connected)
    }

    pub fn raw_rss_per_connection(&self) -> f64 {
        per_connection(
            self.raw_rss_before_kib,
            self.raw_rss_connected_kib,
            self.connected,
        )
    }

    /// Share of one core MPS used while every tunnel was idle.
    pub fn idle_core_share(&self) -> f64 {
        self.idle_cpu_mps.as_secs_f64() / self.idle.as_secs_f64().max(1e-9)
    }
}

fn per_connection(before_kib: u64, after_kib: u64, connections: u64) -> f64 {
    after_kib.saturating_sub(before_kib) as f64 * 1024.0 / connections.max(1) as f64
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "NOT met" }
}

fn p50_p99(l: &Latencies) -> String {
    format!("{:.2} / {:.2} ms", ms(l.p50), ms(l.p99))
}

fn secs(d: Option<Duration>) -> String {
    d.map_or_else(
        || "not within the limit".to_owned(),
        |d| format!("{:.2} s", d.as_secs_f64()),
    )
}

fn calls(run: &CallRun) -> String {
    format!(
        "{} calls, {} failed, max {:.2} ms, {:.0} calls/s",
        run.latencies.count,
        run.latencies.failed,
        ms(run.latencies.max),
        run.per_second()
    )
}

impl fmt::Display for Figures {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let row = |f: &mut fmt::Formatter<'_>,
                   what: &str,
                   value: String,
                   aim: &str,
                   reference: &str,
                   met: &str| {
            writeln!(
                f,
                "{what:<44} {value:>20}   {aim:<14} {reference:<14} {met}"
            )
        };
        writeln!(
            f,
            "MPS benchmark: {} simulated devices in their own process, MPS in this one, Mosquitto (production configuration) in a third",
            self.devices
        )?;
        writeln!(
            f,
            "MPS's database: {}; its event outbox: {}",
            self.database, self.outbox
        )?;
        writeln!(
            f,
            "load average before {}, after {} (the machine is shared)",
            self.load_before, self.load_after
        )?;
        writeln!(f)?;
        row(f, "", "measured".into(), "aim", "reference MPS", "")?;
        let cps = self.connects_per_second();
        row(
            f,
            "connects per second",
            format!("{cps:.0} /s"),
            ">= 1,500 /s",
            "110-130 /s",
            verdict(cps >= AIM_CONNECTS_PER_SECOND),
        )?;
        let rss = self.rss_per_connection();
        row(
            f,
            "MPS RSS per idle connection",
            format!("{:.1} KiB", rss / 1024.0),
            "<= 16 KiB",
            "25-50 KB",
            verdict(rss <= AIM_RSS_PER_CONNECTION_BYTES),
        )?;
        row(
            f,
            &format!("MPS idle CPU, 30 s keep-alives ({} s)", self.idle.as_secs()),
            format!("{:.2} % of a core", self.idle_core_share() * 100.0),
            "-",
            "-",
            "",
        )?;
        row(
            f,
            "connect -> dashboard event, p50 / p99",
            p50_p99(&self.connect_event),
            "-",
            "-",
            "",
        )?;
        for (what, run) in [
            ("power round trip over REST, p50 / p99", &self.rest_serial),
            ("power round trip over MQTT, p50 / p99", &self.mqtt_serial),
        ] {
            let met = run.latencies.failed == 0 && run.latencies.p99 < AIM_POWER_P99;
            row(
                f,
                what,
                p50_p99(&run.latencies),
                "p99 < 20 ms",
                if what.contains("REST") {
                    "~750 ms"
                } else {
                    "-"
                },
                verdict(met),
            )?;
        }
        writeln!(f)?;
        writeln!(
            f,
            "registration:   {} devices registered from activation events in {:.2} s",
            self.devices,
            self.registration.as_secs_f64()
        )?;
        writeln!(
            f,
            "connect:        {} of {} tunnels in {:.2} s (first after {}, {:.0} /s from then on); CPU meanwhile: MPS {:.2} s ({:.0} us per connect), devices {:.2} s, Mosquitto {:.2} s",
            self.connected,
            self.devices,
            self.connect_time.as_secs_f64(),
            self.first_tunnel
                .map_or_else(|| "-".to_owned(), |d| format!("{:.0} ms", ms(d))),
            self.connects_per_second_after_first(),
            self.connect_cpu_mps.as_secs_f64(),
            self.connect_cpu_mps.as_secs_f64() * 1e6 / self.connected.max(1) as f64,
            self.connect_cpu_devices.as_secs_f64(),
            self.connect_cpu_broker.as_secs_f64(),
        )?;
        writeln!(
            f,
            "memory:         live RSS {:.1} -> {:.1} MiB; as read {:.1} -> {:.1} MiB ({:.1} KiB per connection)",
            self.rss_before_kib as f64 / 1024.0,
            self.rss_connected_kib as f64 / 1024.0,
            self.raw_rss_before_kib as f64 / 1024.0,
            self.raw_rss_connected_kib as f64 / 1024.0,
            self.raw_rss_per_connection() / 1024.0,
        )?;
        writeln!(
            f,
            "idle:           MPS {:.3} s CPU, Mosquitto {:.3} s CPU over {} s",
            self.idle_cpu_mps.as_secs_f64(),
            self.idle_cpu_broker.as_secs_f64(),
            self.idle.as_secs()
        )?;
        writeln!(
            f,
            "events:         {} connected events seen; connect -> event max {:.2} ms",
            self.connected_events,
            ms(self.connect_event.max)
        )?;
        writeln!(f, "REST, serial:   {}", calls(&self.rest_serial))?;
        writeln!(f, "MQTT, serial:   {}", calls(&self.mqtt_serial))?;
        for (what, run) in [
            ("REST", &self.rest_concurrent),
            ("MQTT", &self.mqtt_concurrent),
        ] {
            writeln!(
                f,
                "{what}, {:>2} in flight: p50 / p99 {}; {}",
                run.in_flight,
                p50_p99(&run.latencies),
                calls(run)
            )?;
        }
        let rows = match self.rows_disconnected {
            Some(d) => format!("every row disconnected after {:.2} s", d.as_secs_f64()),
            None => format!(
                "{} rows STILL CONNECTED when the wait ended",
                self.rows_still_connected
            ),
        };
        writeln!(
            f,
            "device process killed: {rows}; {} disconnected events, all after {}",
            self.disconnected_events,
            secs(self.events_disconnected)
        )?;
        writeln!(f)?;
        writeln!(
            f,
            "RSS: this process holds MPS (its database pool, local secret store, its bus client) and the measuring clients; the dashboard's duplicate filter keeps one event id per event (about 150 B per device). Live RSS is read after returning freed heap to the system."
        )?;
        writeln!(
            f,
            "connect -> event: receipt by a dashboard subscriber minus connected_at (MPS's time when the authenticated tunnel was installed): MPS's publisher, its outbox, TLS to Mosquitto and back, under the full connect load."
        )?;
        write!(
            f,
            "power: one call at a time over {} devices, off/on alternating; REST on a kept-alive HTTP/1.1 connection, MQTT as an operator request answered on the response topic.",
            self.power_targets
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(p99_ms: u64, failed: usize) -> CallRun {
        CallRun {
            in_flight: 1,
            elapsed: Duration::from_secs(1),
            latencies: Latencies {
                count: 100,
                failed,
                p50: Duration::from_millis(1),
                p99: Duration::from_millis(p99_ms),
                max: Duration::from_millis(p99_ms),
            },
        }
    }

    #[test]
    fn the_table_puts_the_aims_beside_the_figures_and_judges_them() {
        let figures = Figures {
            devices: 10_000,
            connected: 10_000,
            connect_time: Duration::from_secs(5),
            rss_before_kib: 100_000,
            rss_connected_kib: 200_000,
            idle: Duration::from_secs(30),
            idle_cpu_mps: Duration::from_millis(300),
            rest_serial: run(3, 0),
            mqtt_serial: run(25, 0),
            ..Default::default()
        };
        assert_eq!(figures.connects_per_second(), 2_000.0);
        let started_late = Figures {
            first_tunnel: Some(Duration::from_millis(1_000)),
            connected: 10_001,
            ..figures.clone()
        };
        assert_eq!(started_late.connects_per_second_after_first(), 2_500.0);
        assert_eq!(figures.rss_per_connection(), 10_240.0);
        assert!((figures.idle_core_share() - 0.01).abs() < 1e-9);
        let text = figures.to_string();
        let line = |start: &str| {
            text.lines()
                .find(|l| l.starts_with(start))
                .unwrap_or_else(|| panic!("no line {start:?} in\n{text}"))
                .to_owned()
        };
        let connects = line("connects per second");
        assert!(connects.contains("2000 /s") && connects.contains(">= 1,500 /s"));
        assert!(connects.ends_with(" met"), "{connects}");
        let rss = line("MPS RSS per idle connection");
        assert!(rss.contains("10.0 KiB") && rss.contains("<= 16 KiB") && rss.ends_with(" met"));
        assert!(line("MPS idle CPU").contains("1.00 % of a core"));
        assert!(line("power round trip over REST").ends_with(" met"));
        assert!(line("power round trip over MQTT").ends_with("NOT met"));
    }

    #[test]
    fn failed_calls_miss_the_aim_whatever_their_speed() {
        let figures = Figures {
            rest_serial: run(1, 3),
            ..Default::default()
        };
        let text = figures.to_string();
        assert!(
            text.lines()
                .any(|l| l.starts_with("power round trip over REST") && l.ends_with("NOT met"))
        );
    }
}
