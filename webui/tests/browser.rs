//! The web UI in a real browser (Debian's Chromium driven by playwright-core from tests/node), in
//! front of the real stack in this process: the embedded broker, MPS and RPS on the bus, the MPS
//! router (REST and relay to the MPS holding the device, learned from the bus), the embedded gateway
//! serving kong.yaml over TLS, the web UI behind the gateway's `/` route, and simulated AMT devices
//! activated by the simulator's agent (rpc-go's role).
//!
//! The browser script (tests/browser/ui.cjs) logs in; makes a CIRA config and a profile through the
//! forms (the profile first with an invalid AMT password, whose RPS message must show next to the
//! field); then asks this test to activate a device with that profile and watches it appear on the
//! dashboard without a reload; powers it off from its page and sees the state change (and this test
//! checks the simulated device really is off); opens its SOL terminal through the relay (after typing
//! the user-consent code the device shows) and sees the console's prompt; walks the other pages; and
//! finally meets an expired session. Screenshots of
//! every page land in target/ui-screenshots/.
//!
//! Needs /usr/bin/chromium (`apt-get install -y chromium`) and `npm ci --prefix tests/node`; set
//! OPENAMT_SKIP_BROWSER_TESTS=1 to skip on a machine without them.

mod support;

use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use broker::{Bus, OutboxConfig};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;
use secrets::SecretStore;
use secrets::test_server::TestVault;
use serde_json::{Value, json};
use sim::agent::{AgentOptions, Command, Connection};
use sim::cira::BackoffConfig;
use sim::device::Device;
use sim::fleet::{Fleet, FleetConfig};
use support::{Broker, WAIT, eventually, login_token, now};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio_util::sync::CancellationToken;

const JWT_SECRET: &str = "browser-test-jwt-secret";
const ADMIN_USER: &str = "standalone";
const ADMIN_PASSWORD: &str = "G@ppm0ym";
const VAULT_TOKEN: &str = "myroot";
const CIRA_USER: &str = "ciraUser1";
const AMT_PASSWORD: &str = "Amt-P@ssw0rd1";
/// The whole browser run; a hung page fails the test instead of hanging it.
const SCRIPT_TIMEOUT: Duration = Duration::from_secs(240);

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("a free port")
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// target/ui-screenshots (the CI artifact), beside this test's own tmp directory.
fn screenshots_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR"))
        .parent()
        .map(|target| target.join("ui-screenshots"))
        .unwrap_or_else(|| repo_root().join("target").join("ui-screenshots"))
}

fn chromium() -> PathBuf {
    std::env::var_os("OPENAMT_CHROMIUM")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/usr/bin/chromium"))
}

fn playwright() -> PathBuf {
    repo_root()
        .join("tests")
        .join("node")
        .join("node_modules")
        .join("playwright-core")
}

/// Everything the browser talks to, in this process.
struct Stack {
    gateway: SocketAddr,
    mps: mps::Mps,
    mps_cira_port: u16,
    rps_rest: String,
    rps_ws: String,
    fleet: Fleet,
    stop: CancellationToken,
    tasks: Vec<tokio::task::JoinHandle<()>>,
    buses: Vec<Bus>,
    _vault: TestVault,
    _broker: Broker,
    _dirs: Vec<tempfile::TempDir>,
}

impl Stack {
    async fn start() -> Stack {
        let broker = Broker::start().await;
        let vault = TestVault::start(VAULT_TOKEN).await.expect("fake KV v2");
        let stop = CancellationToken::new();
        let mut dirs = Vec::new();
        let mut tasks = Vec::new();
        let mut buses = Vec::new();

        // MPS on the bus, SQLite in its data directory, secrets in the shared store. Its web port is
        // chosen first: the router reaches it at the address MPS announces in presence and status.
        let mps_dir = tempfile::tempdir().expect("temp dir");
        let mps_web_port = free_port();
        let mps_config = mps::MpsConfig {
            port: 0,
            web_port: mps_web_port,
            instance_address: format!("127.0.0.1:{mps_web_port}"),
            bind_address: "127.0.0.1".into(),
            // The devices reach MPS at 127.0.0.1: its CIRA certificate must name that address.
            common_name: "127.0.0.1".into(),
            jwt_secret: JWT_SECRET.into(),
            web_admin_user: ADMIN_USER.into(),
            web_admin_password: ADMIN_PASSWORD.into(),
            secrets_provider: "vault".into(),
            vault_address: vault.address(),
            vault_token: VAULT_TOKEN.into(),
            secrets_path: "secret/data/".into(),
            data_dir: mps_dir.path().to_path_buf(),
            instance_name: "mps-1".into(),
            lastseen_flush_ms: 200,
            ..Default::default()
        };
        let mut bus_config = mps::events::bus_config(
            &mps_config,
            broker.url(),
            "mps",
            broker
                .broker
                .credentials()
                .password("mps")
                .expect("mps user"),
        )
        .expect("MPS bus configuration");
        bus_config.ca_pem = Some(broker.broker.ca_pem().as_bytes().to_vec());
        bus_config.outbox = OutboxConfig::File(mps_dir.path().join("outbox"));
        let mps_bus = broker.client_with(bus_config).await;
        buses.push(mps_bus.clone());
        let mut deps = mps::MpsDeps::from_config(&mps_config).expect("secret store");
        deps.bus = Some(mps_bus);
        let mps = mps::start(mps_config, deps, stop.clone())
            .await
            .expect("MPS starts");
        let mps_rest = mps.rest_addr;
        let mps_cira_port = mps.cira_addr.port();
        let mps_core = mps.mps.clone();
        tasks.push(tokio::spawn(async move {
            let _ = mps.wait().await;
        }));
        dirs.push(mps_dir);

        // RPS: REST and the activation WebSocket, on the bus, sharing the secret store.
        let rps_dir = tempfile::tempdir().expect("temp dir");
        let rps_config = rps::RpsConfig {
            web_host: [127, 0, 0, 1].into(),
            web_port: 0,
            websocketport: 0,
            delay_activation_sync: Some(0),
            delay_tls_timer: 0,
            delay_setup_and_config_sync: 0,
            rest_cache_ttl_ms: 0,
            ..Default::default()
        };
        let db_url = format!(
            "sqlite://{}?mode=rwc",
            rps_dir.path().join("rps.db").display()
        );
        let secrets: Arc<dyn SecretStore> = secrets::open(&vault.config()).expect("vault backend");
        let rps_bus = broker.client("rps", "rps-browser").await;
        buses.push(rps_bus.clone());
        let rps = rps::start(
            &rps_config,
            rps::RpsDeps {
                db: rps::Db::connect(&db_url).await.expect("RPS database"),
                secrets,
                bus: Some(rps_bus),
            },
            stop.clone(),
        )
        .await
        .expect("RPS starts");
        let (rps_rest, rps_activation) = (rps.rest_addr, rps.activation_addr);
        tasks.push(tokio::spawn(async move {
            let _ = rps.wait().await;
        }));
        dirs.push(rps_dir);

        // The web UI, as the gateway's `/` upstream: MPS and RPS on the same origin.
        let mut webui_bus = broker.config("webui", "webui-browser");
        webui_bus.last_will =
            Some(webui::last_will(&webui_bus.topics, "webui-1", "/openamt/webui/webui-1").unwrap());
        let webui_bus = broker.client_with(webui_bus).await;
        buses.push(webui_bus.clone());
        let ui = webui::start(
            webui::WebuiConfig {
                listen: SocketAddr::from(([127, 0, 0, 1], 0)),
                jwt_secret: JWT_SECRET.into(),
                instance: "webui-1".into(),
                ..Default::default()
            },
            webui_bus,
            stop.clone(),
        )
        .await
        .expect("the web UI starts");
        let ui_addr = ui.addr;
        tasks.push(tokio::spawn(async move {
            let _ = ui.wait().await;
        }));

        // The MPS router, learning from the bus where each device is.
        let router_bus = broker.client("router", "router-browser").await;
        buses.push(router_bus.clone());
        let mut router_config = router::RouterConfig::new(SocketAddr::from(([127, 0, 0, 1], 0)));
        router_config.instance = "router-1".into();
        let router = router::start(router_config, router_bus, stop.clone())
            .await
            .expect("the router starts");
        let router_addr = router.address;
        tasks.push(tokio::spawn(async move { router.wait().await }));

        // The embedded gateway serving kong.yaml over TLS: REST and relay through the router, login
        // to the one MPS (both `mps` upstream targets are it).
        let gw_dir = tempfile::tempdir().expect("temp dir");
        let hosts = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
        let tls = gateway::tls::from_data_dir(gw_dir.path(), &hosts).expect("gateway TLS");
        let mut resolver = gateway::Resolver::default();
        resolver.set("mps-jwt-secret", JWT_SECRET);
        let overrides = HashMap::from([
            ("mpsrouter:8003".to_owned(), router_addr.to_string()),
            ("mps-1:3000".to_owned(), mps_rest.to_string()),
            ("mps-2:3000".to_owned(), mps_rest.to_string()),
            ("rps:8081".to_owned(), rps_rest.to_string()),
            ("rps:8080".to_owned(), rps_activation.to_string()),
            ("webui:80".to_owned(), ui_addr.to_string()),
        ]);
        let gateway = gateway::start(
            gateway::GatewayConfig {
                listen: SocketAddr::from(([127, 0, 0, 1], 0)),
                declarative: gateway::Declarative::parse(gateway::KONG_YAML).expect("kong.yaml"),
                secrets: resolver,
                upstream_overrides: overrides,
                tls: Some(tls),
            },
            stop.clone(),
        )
        .await
        .expect("the gateway starts");
        let gateway_addr = gateway.address;
        tasks.push(tokio::spawn(async move { gateway.wait().await }));
        dirs.push(gw_dir);

        // Two simulated devices waiting for activation; they trust MPS's CA for CIRA.
        let root_pem = mps_core
            .certs()
            .expect("MPS certificates")
            .root_cert_pem
            .clone();
        let root_der = CertificateDer::from_pem_slice(root_pem.as_bytes())
            .expect("root PEM")
            .to_vec();
        let fleet = Fleet::start(&FleetConfig {
            seed: 7_020,
            start_index: 0,
            devices: 2,
            firmware_version: sim::device::DEFAULT_FIRMWARE.to_string(),
            cira: None,
            admin_password: String::new(),
            concurrency: 4,
            session: Default::default(),
            backoff: BackoffConfig {
                base: Duration::from_millis(200),
                max: Duration::from_secs(2),
            },
            fallback_roots: Some(vec![root_der]),
            tls13: false,
            generation: Default::default(),
            progress: false,
        });

        Stack {
            gateway: gateway_addr,
            mps: mps_core,
            mps_cira_port,
            rps_rest: format!("http://{rps_rest}"),
            rps_ws: format!("ws://{rps_activation}/activate"),
            fleet,
            stop,
            tasks,
            buses,
            _vault: vault,
            _broker: broker,
            _dirs: dirs,
        }
    }

    fn device(&self, index: usize) -> Device {
        self.fleet.devices()[index].clone()
    }

    /// rpc-go's part: activate `device` with `profile` through RPS's WebSocket.
    async fn activate(&self, device: &Device, profile: &str) {
        let outcome = sim::agent::run(
            device,
            &Connection {
                url: self.rps_ws.clone(),
                ca_file: None,
                insecure: false,
            },
            &AgentOptions {
                command: Command::Activate {
                    profile: profile.into(),
                },
                password: None,
                tenant_id: String::new(),
                dns_suffix: None,
                hostname: None,
                friendly_name: None,
            },
        )
        .await
        .unwrap_or_else(|e| panic!("activating {}: {e}", device.guid()));
        let status = outcome.status.expect("a status");
        assert_eq!(status["Status"], "Client control mode.", "{status}");
    }

    /// Until MPS holds the device's tunnel.
    async fn wait_connected(&self, device: &Device) {
        let guid = device.guid();
        let mps = self.mps.clone();
        eventually(&format!("{guid} connected to MPS"), async || {
            mps.connections().contains(&guid)
        })
        .await;
    }

    async fn rps_post(&self, path: &str, body: Value) {
        let client =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build_http::<http_body_util::Full<bytes::Bytes>>();
        let request = hyper::Request::post(format!("{}{path}", self.rps_rest))
            .header("content-type", "application/json")
            .body(http_body_util::Full::new(bytes::Bytes::from(
                body.to_string(),
            )))
            .expect("request");
        let response = client.request(request).await.expect("RPS answers");
        let status = response.status();
        let body = http_body_util::BodyExt::collect(response.into_body())
            .await
            .expect("body")
            .to_bytes();
        assert_eq!(
            status,
            201,
            "POST {path}: {}",
            String::from_utf8_lossy(&body)
        );
    }

    /// Another administrator's edit: the profile's version moves on under the browser's feet.
    async fn touch_profile(&self, name: &str) {
        let url = format!("{}/api/v1/admin/profiles/{name}", self.rps_rest);
        let (status, _, body) = support::http("GET", &url, &[]).await;
        assert_eq!(status, 200);
        let mut profile = support::json(&body);
        profile["tags"] = json!(["touched"]);
        let client =
            hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
                .build_http::<http_body_util::Full<bytes::Bytes>>();
        let request = hyper::Request::patch(format!("{}/api/v1/admin/profiles", self.rps_rest))
            .header("content-type", "application/json")
            .body(http_body_util::Full::new(bytes::Bytes::from(
                profile.to_string(),
            )))
            .expect("request");
        let response = client.request(request).await.expect("RPS answers");
        assert_eq!(response.status(), 200, "PATCH profile {name}");
    }

    async fn stop(self) {
        self.fleet.shutdown().await;
        self.stop.cancel();
        for task in self.tasks {
            let _ = tokio::time::timeout(Duration::from_secs(15), task).await;
        }
        for bus in self.buses {
            bus.shutdown(Duration::from_secs(1)).await;
        }
    }
}

/// A provisioning certificate the browser uploads as a file.
struct Pfx {
    path: PathBuf,
    suffix: String,
    password: String,
}

/// A provisioning certificate made for the test (root → intermediate → leaf with Intel's AMT
/// provisioning EKU, as a PKCS#12), written to a file the browser uploads.
fn provisioning_pfx(dir: &Path) -> Pfx {
    let password = "P@ssw0rd-Pfx1";
    let chain = certs::provisioning::provisioning_chain("vpro.openamt-test.com", password)
        .expect("a provisioning chain");
    let path = dir.join("provisioning.pfx");
    std::fs::write(&path, &chain.pfx).expect("write the PFX");
    Pfx {
        path,
        suffix: "openamt-test.com".to_owned(),
        password: password.to_owned(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_ui_in_chromium_against_the_whole_stack() {
    support::init();
    if std::env::var_os("OPENAMT_SKIP_BROWSER_TESTS").is_some() {
        eprintln!("OPENAMT_SKIP_BROWSER_TESTS is set: browser test skipped");
        return;
    }
    assert!(
        chromium().exists(),
        "{} is missing: `apt-get install -y chromium` (or set OPENAMT_CHROMIUM / OPENAMT_SKIP_BROWSER_TESTS=1)",
        chromium().display()
    );
    assert!(
        playwright().exists(),
        "{} is missing: `npm ci --prefix tests/node`",
        playwright().display()
    );
    let shots = screenshots_dir();
    let _ = std::fs::remove_dir_all(&shots);
    std::fs::create_dir_all(&shots).expect("screenshot directory");

    let stack = Stack::start().await;

    // One device is activated before the browser arrives (configs made through RPS's REST API):
    // the dashboard must count it at load.
    let root_body: String = stack
        .mps
        .certs()
        .expect("MPS certificates")
        .root_cert_pem
        .lines()
        .filter(|l| !l.starts_with("-----"))
        .collect();
    stack
        .rps_post(
            "/api/v1/admin/ciraconfigs",
            json!({"configName": "seed-cira", "mpsServerAddress": "127.0.0.1", "mpsPort": stack.mps_cira_port,
                "username": CIRA_USER, "commonName": "127.0.0.1", "serverAddressFormat": 3, "authMethod": 2,
                "mpsRootCertificate": root_body, "proxyDetails": ""}),
        )
        .await;
    stack
        .rps_post(
            "/api/v1/admin/profiles",
            json!({"profileName": "seed-ccm", "activation": "ccmactivate", "generateRandomPassword": false,
                "amtPassword": AMT_PASSWORD, "ciraConfigName": "seed-cira", "dhcpEnabled": true, "tags": ["seed"],
                "userConsent": "All", "kvmEnabled": true, "solEnabled": true, "iderEnabled": false}),
        )
        .await;
    let first = stack.device(0);
    stack.activate(&first, "seed-ccm").await;
    stack.wait_connected(&first).await;

    let live = stack.device(1);
    let pfx_dir = tempfile::tempdir().expect("temp dir");
    let pfx = provisioning_pfx(pfx_dir.path());
    let expired = login_token(JWT_SECRET, now() - 60);
    let base = format!("https://127.0.0.1:{}", stack.gateway.port());
    let script = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("browser")
        .join("ui.cjs");
    let mut node = tokio::process::Command::new("node")
        .arg(&script)
        .env("BASE_URL", &base)
        .env("PLAYWRIGHT", playwright())
        .env("CHROMIUM", chromium())
        .env("SCREENSHOTS", &shots)
        .env("MPS_USERNAME", ADMIN_USER)
        .env("MPS_PASSWORD", ADMIN_PASSWORD)
        .env("CIRA_PORT", stack.mps_cira_port.to_string())
        .env("FIRST_GUID", first.guid())
        .env("EXPIRED_TOKEN", &expired)
        .env("DOMAIN_PFX", &pfx.path)
        .env("DOMAIN_SUFFIX", &pfx.suffix)
        .env("DOMAIN_PASSWORD", &pfx.password)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()
        .expect("node runs the browser script");
    let mut to_node = node.stdin.take().expect("stdin");
    let mut from_node = BufReader::new(node.stdout.take().expect("stdout")).lines();

    // The script narrates its steps and asks for what only this side can do.
    let conversation = async {
        let mut steps = Vec::new();
        while let Some(line) = from_node.next_line().await.expect("script output") {
            eprintln!("browser: {line}");
            let answer = match line.split_whitespace().collect::<Vec<_>>().as_slice() {
                ["ASK", "activate", profile] => {
                    stack.activate(&live, profile).await;
                    stack.wait_connected(&live).await;
                    Some(live.guid())
                }
                ["ASK", "touch-profile", name] => {
                    stack.touch_profile(name).await;
                    Some("touched".to_owned())
                }
                ["ASK", "consent-code", guid] => {
                    assert_eq!(*guid, live.guid());
                    let code = live.with_state(|s| s.redirection.opt_in_code);
                    Some(code.expect("the device shows a consent code").to_string())
                }
                ["ASK", "power", guid] => {
                    assert_eq!(*guid, live.guid());
                    Some(live.power_state().to_string())
                }
                ["STEP", rest @ ..] => {
                    steps.push(rest.join(" "));
                    None
                }
                _ => None,
            };
            if let Some(answer) = answer {
                to_node
                    .write_all(format!("OK {answer}\n").as_bytes())
                    .await
                    .expect("answer the script");
            }
        }
        steps
    };
    let steps = tokio::time::timeout(SCRIPT_TIMEOUT, conversation)
        .await
        .expect("the browser script finishes in time");
    let status = node.wait().await.expect("node exit status");
    assert!(
        status.success(),
        "the browser script failed ({status}); steps done: {steps:?}"
    );

    // The simulated device was really powered off by the button.
    assert_eq!(live.power_state(), 8, "the device is off");
    for step in [
        "login",
        "dashboard",
        "cira config created",
        "profile error shown",
        "profile created",
        "device appeared live",
        "powered off",
        "sol prompt",
        "conflict shown",
        "domain uploaded",
        "wireless deleted",
        "session timed out",
    ] {
        assert!(
            steps.iter().any(|s| s == step),
            "step {step:?} missing from {steps:?}"
        );
    }
    let taken: Vec<_> = std::fs::read_dir(&shots)
        .expect("screenshots")
        .filter_map(|e| e.ok().map(|e| e.file_name().to_string_lossy().into_owned()))
        .collect();
    for page in [
        "login",
        "dashboard",
        "devices",
        "device",
        "profiles",
        "ciraconfigs",
        "domains",
        "wireless",
        "activations",
        "sol",
    ] {
        assert!(
            taken.iter().any(|f| f.contains(page)),
            "no screenshot of {page}: {taken:?}"
        );
    }
    eprintln!("screenshots in {}", shots.display());
    tokio::time::timeout(WAIT * 2, stack.stop())
        .await
        .expect("the stack stops");
}
