//! For the activation tests: RPS (REST + activation WebSocket) in-process on free ports, over a fresh database
//! and a secret store the test can read; profiles and CIRA configs made through REST; simulated devices
//! activated by the simulator's agent (rpc-go's role).

#![allow(dead_code)]

use std::sync::Arc;
use std::time::Duration;

use certs::provisioning::ProvisioningChain;
use rps::{RpsConfig, RpsDeps, RunningRps};
use secrets::SecretStore;
use serde_json::{Value, json};
use sim::agent::{self, AgentOptions, Command, Connection, Outcome};
use sim::device::Device;
use tokio_util::sync::CancellationToken;

use crate::support::{self, TestDb};

pub mod stack;

pub const AMT_PASSWORD: &str = "Amt-P@ssw0rd1";
pub const CIRA_USER: &str = "ciraUser1";
pub const CIRA_PASSWORD: &str = "Cira-P@ssw0rd1";

pub struct Rps {
    pub rest: String,
    pub ws: String,
    pub secrets: Arc<dyn SecretStore>,
    pub running: Option<RunningRps>,
    pub shutdown: CancellationToken,
    pub db: TestDb,
    _dir: tempfile::TempDir,
}

/// A configuration for tests: free ports on loopback, no waits, no read cache.
pub fn test_config() -> RpsConfig {
    RpsConfig {
        web_host: [127, 0, 0, 1].into(),
        web_port: 0,
        websocketport: 0,
        delay_activation_sync: Some(0),
        delay_tls_timer: 0,
        delay_setup_and_config_sync: 0,
        rest_cache_ttl_ms: 0,
        ..RpsConfig::default()
    }
}

impl Rps {
    /// RPS on a fresh SQLite file with a local secret store of its own.
    pub async fn start_sqlite(bus: Option<broker::Bus>) -> Rps {
        let dir = tempfile::tempdir().expect("temp dir");
        let secrets = secrets::open(&secrets::SecretStoreConfig::Local {
            dir: dir.path().join("secrets"),
        })
        .expect("local secret store");
        Rps::start(TestDb::sqlite(), secrets, bus, test_config(), dir).await
    }

    pub async fn start(
        db: TestDb,
        secrets: Arc<dyn SecretStore>,
        bus: Option<broker::Bus>,
        config: RpsConfig,
        dir: tempfile::TempDir,
    ) -> Rps {
        let _ = rustls::crypto::ring::default_provider().install_default();
        init_logs();
        let database = rps::Db::connect(db.url()).await.expect("database");
        let shutdown = CancellationToken::new();
        let running = rps::start(
            &config,
            RpsDeps {
                db: database,
                secrets: Arc::clone(&secrets),
                bus,
            },
            shutdown.clone(),
        )
        .await
        .expect("RPS starts");
        Rps {
            rest: format!("http://{}", running.rest_addr),
            ws: format!("ws://{}/activate", running.activation_addr),
            secrets,
            running: Some(running),
            shutdown,
            db,
            _dir: dir,
        }
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        let (status, _, body) =
            support::request("POST", &format!("{}{path}", self.rest), &[], Some(&body)).await;
        (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
    }

    /// A CIRA config pointing at `mps_host:port`, trusting `root_pem`.
    pub async fn create_cira_config(&self, name: &str, mps_host: &str, port: u16, root_pem: &str) {
        let root: String = root_pem
            .lines()
            .filter(|l| !l.starts_with("-----"))
            .collect();
        let (status, body) = self
            .post(
                "/api/v1/admin/ciraconfigs",
                json!({"configName": name, "mpsServerAddress": mps_host, "mpsPort": port,
                    "username": CIRA_USER, "password": CIRA_PASSWORD, "commonName": mps_host,
                    "serverAddressFormat": 201, "authMethod": 2, "mpsRootCertificate": root,
                    "proxyDetails": ""}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
    }

    /// A profile with a static AMT password (and MEBx password for ACM).
    pub async fn create_profile(
        &self,
        name: &str,
        activation: &str,
        cira: Option<&str>,
        extra: Value,
    ) {
        let mut body = json!({"profileName": name, "activation": activation, "generateRandomPassword": false,
            "amtPassword": AMT_PASSWORD, "tags": ["sim"], "dhcpEnabled": true,
            "userConsent": if activation == "acmactivate" { "None" } else { "All" },
            "iderEnabled": true, "kvmEnabled": true, "solEnabled": true});
        if activation == "acmactivate" {
            body["generateRandomMEBxPassword"] = json!(false);
            body["mebxPassword"] = json!("Mebx-P@ssw0rd1");
        }
        if let Some(c) = cira {
            body["ciraConfigName"] = json!(c);
        }
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            for (k, v) in e {
                b.insert(k.clone(), v.clone());
            }
        }
        let (status, body) = self.post("/api/v1/admin/profiles", body).await;
        assert_eq!(status, 201, "{body}");
    }

    /// An ACM domain for `suffix` with the provisioning certificate `chain`.
    pub async fn create_domain(&self, name: &str, suffix: &str, chain: &ProvisioningChain) {
        let (status, body) = self
            .post(
                "/api/v1/admin/domains",
                json!({"profileName": name, "domainSuffix": suffix, "provisioningCert": chain.pfx_base64(),
                    "provisioningCertStorageFormat": "string", "provisioningCertPassword": chain.password}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
    }

    pub async fn device_secret(&self, guid: &str) -> Option<serde_json::Map<String, Value>> {
        self.secrets
            .get(&format!("devices/{guid}"))
            .await
            .expect("secret store")
    }

    pub async fn stop(mut self) {
        self.shutdown.cancel();
        if let Some(r) = self.running.take() {
            let _ = tokio::time::timeout(Duration::from_secs(10), r.wait()).await;
        }
        let db = std::mem::replace(&mut self.db, TestDb::sqlite());
        db.drop_database().await;
    }
}

/// Logs to the test output when `RUST_LOG` is set.
pub fn init_logs() {
    if std::env::var_os("RUST_LOG").is_some() {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
    }
}

pub fn options(command: Command) -> AgentOptions {
    AgentOptions {
        command,
        password: None,
        tenant_id: String::new(),
        dns_suffix: None,
        hostname: None,
        friendly_name: None,
    }
}

/// Runs the simulator's agent for `device` against `url`.
pub async fn run_agent(
    device: &Device,
    url: &str,
    options: &AgentOptions,
) -> Result<Outcome, agent::AgentError> {
    let connection = Connection {
        url: url.to_owned(),
        ca_file: None,
        insecure: false,
    };
    agent::run(device, &connection, options).await
}

pub fn activate(profile: &str) -> AgentOptions {
    options(Command::Activate {
        profile: profile.into(),
    })
}
