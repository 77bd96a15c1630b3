//! `mps::bench::run` end to end on a small fleet: a device process (this test binary again),
//! Mosquitto with the production configuration, every phase. Proves that each figure comes from
//! real traffic: every device connects, every `connected` event reaches the dashboard and is
//! timed, every power action over REST and MQTT succeeds, and killing the device process takes
//! every row and presence offline. No timing is asserted.
//!
//! Its own `main` (no test harness) because the device process is this binary run again.

use std::time::Duration;

use mps::bench::{BenchOptions, DeviceCommand};

const DEVICE_PROCESS: &str = "--device-process";
const DEVICES: u64 = 20;
const CALLS: usize = 24;

fn check(figures: &mps::bench::Figures) {
    assert_eq!(figures.devices, DEVICES);
    assert_eq!(figures.connected, DEVICES, "every device connected");
    assert!(figures.first_tunnel.is_some());
    assert!(figures.connect_time >= figures.first_tunnel.unwrap_or_default());
    assert_eq!(figures.connected_events, DEVICES as usize);
    assert_eq!(
        figures.connect_event.count, DEVICES as usize,
        "every connected event carried connected_at"
    );
    assert!(figures.connect_event.max > Duration::ZERO);
    for (what, run, in_flight) in [
        ("REST serial", &figures.rest_serial, 1),
        ("MQTT serial", &figures.mqtt_serial, 1),
        ("REST concurrent", &figures.rest_concurrent, 4),
        ("MQTT concurrent", &figures.mqtt_concurrent, 4),
    ] {
        assert_eq!(run.latencies.count, CALLS, "{what}");
        assert_eq!(
            run.latencies.failed, 0,
            "{what}: every power action succeeded"
        );
        assert_eq!(run.in_flight, in_flight, "{what}");
        assert!(run.latencies.p50 > Duration::ZERO, "{what}");
    }
    assert!(figures.rss_before_kib > 0 && figures.raw_rss_connected_kib > 0);
    assert!(
        figures.rows_disconnected.is_some(),
        "every row went offline"
    );
    assert!(figures.events_disconnected.is_some());
    assert!(figures.disconnected_events >= DEVICES as usize);
    let table = figures.to_string();
    for line in [
        "connects per second",
        "MPS RSS per idle connection",
        "MPS idle CPU, 30 s keep-alives",
        "connect -> dashboard event, p50 / p99",
        "power round trip over REST, p50 / p99",
        "power round trip over MQTT, p50 / p99",
    ] {
        assert!(table.contains(line), "{line:?} missing from\n{table}");
    }
}

fn main() -> anyhow::Result<()> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let mut args = std::env::args_os().skip(1).peekable();
    if args.peek().is_some_and(|a| a == DEVICE_PROCESS) {
        return runtime.block_on(mps::bench::device_process(args.skip(1)));
    }
    if std::env::args().any(|a| a == "--list") {
        println!("bench_end_to_end: test");
        return Ok(());
    }
    let mut options = BenchOptions::new(DeviceCommand::this_executable([DEVICE_PROCESS])?);
    options.devices = DEVICES;
    options.handshakes = 8;
    options.idle = Duration::from_secs(1);
    options.power_calls = CALLS;
    options.in_flight = 4;
    let figures = runtime.block_on(mps::bench::run(options))?;
    println!("{figures}");
    check(&figures);
    println!("test bench_end_to_end ... ok");
    Ok(())
}
