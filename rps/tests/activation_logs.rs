//! No secret appears in RPS's logs: every log line of an activation with CIRA, a password change and a
//! deactivation (all levels, RPS's modules) is captured and searched for the passwords involved.

mod harness;
mod support;

use std::io::Write;
use std::sync::{Arc, Mutex};

use harness::{AMT_PASSWORD, CIRA_PASSWORD, Rps, activate, options, run_agent};
use serde_json::json;
use sim::agent::Command;
use sim::device::{Device, DeviceSpec};

#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn no_secret_in_any_log_line() {
    let captured = Captured::default();
    let writer = captured.clone();
    tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::new(
            "rps=trace,broker=trace,secrets=trace",
        ))
        .with_writer(move || writer.clone())
        .init();

    let rps = Rps::start_sqlite(None).await;
    let root = rcgen::generate_simple_self_signed(vec!["mps.example.com".into()])
        .unwrap()
        .cert
        .pem();
    rps.create_cira_config("cira1", "mps.example.com", 4433, &root)
        .await;
    rps.create_profile("ccm1", "ccmactivate", Some("cira1"), json!({}))
        .await;
    let device = Device::new(DeviceSpec::fresh(30, 1));
    let (_, lsa_password) = device.lsa_credentials();
    run_agent(&device, &rps.ws, &activate("ccm1"))
        .await
        .expect("activation");

    let new_password = "Rot@ted-Passw0rd";
    let mut change = options(Command::Maintenance {
        task: format!("changepassword {new_password}"),
    });
    change.password = Some(AMT_PASSWORD.into());
    run_agent(&device, &rps.ws, &change)
        .await
        .expect("changepassword");
    // A refused deactivation with a wrong password, then the real one.
    let mut wrong = options(Command::Deactivate { force: false });
    wrong.password = Some("Wr0ng-Secret!x".into());
    let _ = run_agent(&device, &rps.ws, &wrong).await;
    let mut deactivate = options(Command::Deactivate { force: false });
    deactivate.password = Some(new_password.into());
    run_agent(&device, &rps.ws, &deactivate)
        .await
        .expect("deactivation");
    rps.stop().await;

    let logs = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
    assert!(
        logs.contains("device provisioned"),
        "the logs were captured"
    );
    for secret in [
        AMT_PASSWORD,
        CIRA_PASSWORD,
        new_password,
        "Wr0ng-Secret!x",
        lsa_password.as_str(),
        "Mebx-P@ssw0rd1",
    ] {
        assert!(!logs.contains(secret), "a secret is in the logs");
    }
}
