//! Issue 8's security tests, against the whole system as a user runs it (`openamt up`, logs at debug
//! level): the gateway lets in only what kong.yaml's routes allow; login guessing is slowed down; CIRA
//! refuses wrong credentials and slows down an address that keeps trying; clients that never finish
//! their TLS or APF handshake are dropped and do not stop real devices; and after each test no
//! password, token or key is in any log line it produced.

mod support;

use std::{
    net::{SocketAddr, ToSocketAddrs},
    path::{Path, PathBuf},
    process::Stdio,
    time::{Duration, Instant, SystemTime, UNIX_EPOCH},
};

use base64::Engine;
use futures::StreamExt;
use serde_json::{Value, json};
use support::{Running, Up, cira, leaks, openamt, start_up_with};

/// A running `openamt up` with an HTTP client that trusts its CA and an admin token.
struct Stack {
    up: Up,
    dir: PathBuf,
    http: reqwest::Client,
    token: String,
    /// Every secret the test saw, by kind, for the final check.
    secrets: Vec<(String, String)>,
}

impl Stack {
    async fn start(dir: &Path, env: &[(&str, &str)]) -> Stack {
        let mut env: Vec<(&str, String)> = env.iter().map(|(k, v)| (*k, v.to_string())).collect();
        env.push(("RUST_LOG", "debug".into()));
        let up = start_up_with(dir, &env);
        let ca = std::fs::read(dir.join("openamt-data/ca.pem")).unwrap();
        let http = reqwest::Client::builder()
            .use_preconfigured_tls(certs::client_config(&ca).unwrap())
            .build()
            .unwrap();
        let mut stack = Stack {
            dir: dir.to_owned(),
            http,
            token: String::new(),
            secrets: Vec::new(),
            up,
        };
        let password = stack.up.password.clone().expect("first start");
        let (status, body) = stack.login(&password).await;
        assert_eq!(status, 200, "{body}");
        stack.token = body["token"].as_str().unwrap().to_owned();
        stack.remember("login token", &stack.token.clone());
        stack
    }

    fn data(&self) -> PathBuf {
        self.dir.join("openamt-data")
    }

    fn remember(&mut self, what: &str, secret: &str) {
        self.secrets.push((what.to_owned(), secret.to_owned()));
    }

    async fn login(&self, password: &str) -> (u16, Value) {
        let response = self
            .http
            .post(format!("{}/mps/login/api/v1/authorize", self.up.gateway))
            .json(&json!({"username": "admin", "password": password}))
            .send()
            .await
            .unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap_or(Value::Null))
    }

    async fn get(&self, path: &str, token: Option<&str>) -> (u16, String, Value) {
        let mut request = self.http.get(format!("{}{path}", self.up.gateway));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        let response = request.send().await.unwrap();
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_owned();
        let text = response.text().await.unwrap();
        (
            status,
            content_type,
            serde_json::from_str(&text).unwrap_or(Value::String(text)),
        )
    }

    async fn connected_devices(&self) -> u64 {
        let (_, _, stats) = self
            .get("/mps/api/v1/devices/stats", Some(&self.token))
            .await;
        stats["connectedCount"].as_u64().unwrap_or(0)
    }

    fn cira(&self) -> SocketAddr {
        self.up
            .cira
            .to_socket_addrs()
            .unwrap()
            .find(SocketAddr::is_ipv4)
            .unwrap()
    }

    fn mps_root(&self) -> Vec<u8> {
        std::fs::read(self.data().join("mps-root.pem")).unwrap()
    }

    fn enrolment(&self) -> Value {
        read_json(&self.data().join("cira-enrolment.json"))
    }

    /// Simulated devices enrolling with `openamt up`'s credentials, logging beside `openamt up`.
    fn devices(&self, count: u64, seed: u64) -> Running {
        let log = std::fs::File::create(self.dir.join(format!("logs/sim-{seed}.log"))).unwrap();
        Running::spawn(
            openamt(&self.dir)
                .env("RUST_LOG", "debug")
                .args(["sim", "cira", "--mps", &self.up.cira])
                .args(["--devices", &count.to_string(), "--seed", &seed.to_string()])
                .arg("--data-dir")
                .arg(self.data())
                .stdout(Stdio::null())
                .stderr(log),
        )
    }

    /// Stops `openamt up` (so every log line is written) and checks that no secret the test knows
    /// of, nor any the installation holds, is in any log it produced.
    fn stop_and_check_logs(mut self) {
        assert!(
            self.up.process.interrupt().success(),
            "clean exit on Ctrl-C"
        );
        let mut secrets = std::mem::take(&mut self.secrets);
        secrets.extend(leaks::installation_secrets(&self.data()));
        let files = leaks::log_files(&self.dir.join("logs"));
        let texts = leaks::read_all(&files);
        // The check must be able to fail: the logs are at debug level and not empty.
        assert!(
            texts.iter().any(|(_, t)| t.len() > 1000),
            "the logs are too short to mean anything: {files:?}"
        );
        leaks::assert_free_of_secrets(&texts, &secrets);
    }
}

fn read_json(path: &Path) -> Value {
    serde_json::from_slice(&std::fs::read(path).unwrap()).unwrap()
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

fn hs256(claims: &Value, secret: &[u8]) -> String {
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        claims,
        &jsonwebtoken::EncodingKey::from_secret(secret).unwrap(),
    )
    .unwrap()
}

async fn eventually(what: &str, secs: u64, mut check: impl AsyncFnMut() -> bool) -> Duration {
    let start = Instant::now();
    while !check().await {
        assert!(
            start.elapsed() < Duration::from_secs(secs),
            "timed out waiting for {what}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    start.elapsed()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_lets_in_only_what_its_routes_allow() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let mut stack = Stack::start(dir.path(), &[]).await;

    // Tokens a caller might try: the login's claims re-signed with a guessed key, expired, unsigned.
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let claims: Value =
        serde_json::from_slice(&b64.decode(stack.token.split('.').nth(1).unwrap()).unwrap())
            .unwrap();
    let jwt_secret = read_json(&stack.data().join("installation.json"))["jwt_secret"]
        .as_str()
        .unwrap()
        .to_owned();
    let forged = hs256(&claims, b"a-guessed-signing-key-of-some-length");
    let mut expired_claims = claims.clone();
    expired_claims["exp"] = json!(now() - 60);
    let expired = hs256(&expired_claims, jwt_secret.as_bytes());
    let unsigned = format!(
        "{}.{}.",
        b64.encode(br#"{"alg":"none","typ":"JWT"}"#),
        b64.encode(claims.to_string())
    );
    stack.remember("expired token", &expired);

    for path in [
        "/mps/api/v1/devices",
        "/mps/api/v1/devices/stats",
        "/mps/api/v1/ciracert",
        "/rps/api/v1/admin/profiles",
        "/rps/api/v1/admin/ciraconfigs",
        "/rps/api/v1/admin/domains",
    ] {
        let refusals = [
            (None, json!({"message": "Unauthorized"})),
            (Some(&forged), json!({"message": "Invalid signature"})),
            (Some(&expired), json!({"exp": "token expired"})),
            // Kong's parser refuses `none` before it looks at the consumer.
            (
                Some(&unsigned),
                json!({"message": "Bad token; invalid alg"}),
            ),
        ];
        for (token, body) in refusals {
            let (status, _, answer) = stack.get(path, token.map(String::as_str)).await;
            assert_eq!((status, &answer), (401, &body), "{path} with {token:?}");
        }
        let (status, _, answer) = stack.get(path, Some(&stack.token)).await;
        assert_eq!(status, 200, "{path} with the login token: {answer}");
    }

    // The login is the one MPS route open without a token, and only under its own path.
    let response = stack
        .http
        .post(format!("{}/mps/api/v1/authorize", stack.up.gateway))
        .json(&json!({"username": "admin", "password": "whatever-it-is"}))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    // Nothing but the web UI answers outside /mps and /rps: no service API, no Vault, no broker.
    for path in [
        "/api/v1/devices",
        "/api/v1/admin/profiles",
        "/vault/v1/secret/data/devices",
        "/mosquitto",
    ] {
        let (status, content_type, body) = stack.get(path, Some(&stack.token)).await;
        assert!(
            status == 404 || !content_type.starts_with("application/json"),
            "{path} reached an API: {status} {content_type} {body}"
        );
    }
    // The relay route skips the gateway's JWT check, so the relay checks its own token.
    let relay = sim::sol_console::relay_url(
        &format!(
            "{}/mps/ws/relay",
            stack.up.gateway.replace("https://", "wss://")
        ),
        "6c4243ba-334d-11ea-b3a3-6f2b10e9c5a7",
    );
    let tls = std::sync::Arc::new(
        certs::client_config(&std::fs::read(stack.data().join("ca.pem")).unwrap()).unwrap(),
    );
    assert!(
        sim::sol_console::SolConsole::open(&relay, &forged, Some(tls))
            .await
            .is_err(),
        "the relay opened with a forged token"
    );
    // Past the gateway nothing is reachable from other machines but the CIRA port (the test asked for
    // the gateway and the broker on loopback): MPS's REST port and RPS stay on loopback.
    let pid = stack.up.process.child().id();
    let exposed: Vec<SocketAddr> = listening(pid)
        .into_iter()
        .filter(|a| !a.ip().is_loopback())
        .collect();
    assert_eq!(
        exposed.iter().map(SocketAddr::port).collect::<Vec<_>>(),
        vec![stack.cira().port()],
        "listeners on every interface: {exposed:?}"
    );
    stack.stop_and_check_logs();
}

/// The TCP addresses process `pid` listens on (from /proc: its socket inodes, matched in net/tcp*).
fn listening(pid: u32) -> Vec<SocketAddr> {
    let inodes: std::collections::HashSet<String> = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap()
        .flatten()
        .filter_map(|fd| std::fs::read_link(fd.path()).ok())
        .filter_map(|target| {
            let target = target.to_string_lossy().into_owned();
            Some(
                target
                    .strip_prefix("socket:[")?
                    .strip_suffix(']')?
                    .to_owned(),
            )
        })
        .collect();
    let mut out = Vec::new();
    for (table, v6) in [("tcp", false), ("tcp6", true)] {
        let text = std::fs::read_to_string(format!("/proc/{pid}/net/{table}")).unwrap_or_default();
        for line in text.lines().skip(1) {
            let fields: Vec<&str> = line.split_whitespace().collect();
            // local_address, state 0A = LISTEN, inode is the tenth field.
            if fields.len() < 10 || fields[3] != "0A" || !inodes.contains(fields[9]) {
                continue;
            }
            let (ip, port) = fields[1].split_once(':').unwrap();
            let port = u16::from_str_radix(port, 16).unwrap();
            let ip: std::net::IpAddr = if v6 {
                let bytes: Vec<u8> = (0..16)
                    .map(|i| u8::from_str_radix(&ip[i * 2..i * 2 + 2], 16).unwrap())
                    .collect();
                // Four host-order 32-bit words.
                let mut octets = [0u8; 16];
                for word in 0..4 {
                    for b in 0..4 {
                        octets[word * 4 + b] = bytes[word * 4 + 3 - b];
                    }
                }
                std::net::Ipv6Addr::from(octets).into()
            } else {
                std::net::Ipv4Addr::from(u32::from_str_radix(ip, 16).unwrap().swap_bytes()).into()
            };
            out.push(SocketAddr::new(ip, port));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_guessing_from_one_address_is_slowed_down() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let stack = Stack::start(
        dir.path(),
        &[
            ("MPS_AUTH_FREE_FAILURES", "3"),
            ("MPS_AUTH_FAILURE_DELAY_MS", "300"),
            ("MPS_AUTH_FAILURE_MAX_DELAY_MS", "600"),
        ],
    )
    .await;
    let password = stack.up.password.clone().unwrap();

    // Three free failures, then each guess waits longer: 300 ms, then 600 ms (the ceiling).
    let mut took = Vec::new();
    for guess in 0..5 {
        let start = Instant::now();
        let (status, body) = stack.login(&format!("guess-number-{guess}")).await;
        took.push(start.elapsed());
        assert_eq!(
            (status, body),
            (
                401,
                json!({"message": "Incorrect Username and/or Password!"})
            )
        );
    }
    assert!(took[3] >= Duration::from_millis(300), "{took:?}");
    assert!(took[4] >= Duration::from_millis(600), "{took:?}");

    // A crowd of parallel guesses waits in line; past a few waiting, the rest are turned away at once.
    let answers: Vec<(u16, Value)> = futures::stream::iter(0..16)
        .map(|i| {
            let stack = &stack;
            async move { stack.login(&format!("parallel-guess-{i}")).await }
        })
        .buffer_unordered(16)
        .collect()
        .await;
    let refused: Vec<&(u16, Value)> = answers.iter().filter(|(s, _)| *s == 429).collect();
    assert!(!refused.is_empty(), "{answers:?}");
    assert!(
        refused[0].1["message"]
            .as_str()
            .unwrap()
            .starts_with("Too many failed login attempts"),
        "{refused:?}"
    );
    assert!(
        answers.iter().all(|(s, _)| *s == 401 || *s == 429),
        "{answers:?}"
    );

    // The right password still gets in (after its turn), and clears the address.
    let (status, body) = stack.login(&password).await;
    assert_eq!(status, 200, "{body}");
    let start = Instant::now();
    let (status, _) = stack.login("one-more-wrong-guess").await;
    assert_eq!(status, 401);
    assert!(start.elapsed() < Duration::from_millis(300));
    stack.stop_and_check_logs();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cira_refuses_wrong_credentials_and_slows_an_address_that_keeps_trying() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let stack = Stack::start(
        dir.path(),
        &[
            ("MPS_AUTH_FREE_FAILURES", "2"),
            ("MPS_AUTH_FAILURE_DELAY_MS", "400"),
            ("MPS_AUTH_FAILURE_MAX_DELAY_MS", "800"),
        ],
    )
    .await;
    let username = stack.enrolment()["username"].as_str().unwrap().to_owned();
    let root = stack.mps_root();
    let guid = "8d9e0f1a-2b3c-4d5e-8f70-81928394a5b6";

    // A device may not ask for anything before it has authenticated.
    let mut tls = cira::connect(stack.cira(), &root).await.unwrap();
    let early = [
        cira::protocol_version(guid),
        apf::Message::ChannelOpenConfirmation(apf::ChannelOpenConfirmation {
            recipient_channel: 1,
            sender_channel: 1,
            initial_window: 4096,
            reserved: 0xffff_ffff,
        }),
    ];
    assert_eq!(
        cira::send_and_await_auth(&mut tls, &early, Duration::from_secs(10)).await,
        cira::Answer::Closed
    );

    // Wrong passwords: refused each time, the third and later answered only after a growing delay.
    let mut took = Vec::new();
    for attempt in 0..4 {
        let mut tls = cira::connect(stack.cira(), &root).await.unwrap();
        let start = Instant::now();
        let answer = cira::send_and_await_auth(
            &mut tls,
            &cira::login(guid, &username, &format!("wrong-password-{attempt}")),
            Duration::from_secs(10),
        )
        .await;
        took.push(start.elapsed());
        assert_eq!(answer, cira::Answer::Failure, "attempt {attempt}");
        assert!(
            cira::closed_within(&mut tls, Duration::from_secs(5)).await,
            "the connection ends after a failure"
        );
    }
    assert!(took[2] >= Duration::from_millis(400), "{took:?}");
    assert!(took[3] >= Duration::from_millis(800), "{took:?}");
    assert_eq!(stack.connected_devices().await, 0);

    // A real device from the same address is slowed, not locked out.
    let devices = stack.devices(1, 31);
    let waited = eventually("the real device to connect", 60, async || {
        stack.connected_devices().await == 1
    })
    .await;
    eprintln!("wrong-password answers took {took:?}; the real device connected in {waited:?}");
    drop(devices);
    stack.stop_and_check_logs();
}

fn open_descriptors(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clients_that_never_finish_a_handshake_are_dropped_and_do_not_stop_devices() {
    const STALLED_TCP: usize = 500;
    const STALLED_APF: usize = 500;
    const DEVICES: u64 = 20;
    let _ = rustls::crypto::ring::default_provider().install_default();
    let dir = tempfile::tempdir().unwrap();
    let mut stack = Stack::start(
        dir.path(),
        &[
            ("MPS_TLS_HANDSHAKE_TIMEOUT_SECS", "8"),
            ("MPS_CIRA_AUTH_TIMEOUT_SECS", "8"),
        ],
    )
    .await;
    let pid = stack.up.process.child().id();
    let baseline = open_descriptors(pid);
    let root = stack.mps_root();
    let cira_addr = stack.cira();

    // Half finish TLS and then say nothing; half never even start TLS.
    let started = Instant::now();
    let mut stalled_apf: Vec<_> = futures::stream::iter(0..STALLED_APF)
        .map(|_| cira::connect(cira_addr, &root))
        .buffer_unordered(32)
        .collect::<Vec<_>>()
        .await
        .into_iter()
        .map(|r| r.expect("TLS to the CIRA port"))
        .collect();
    let mut stalled_tcp = Vec::new();
    for _ in 0..STALLED_TCP {
        stalled_tcp.push(tokio::net::TcpStream::connect(cira_addr).await.unwrap());
    }
    let held = open_descriptors(pid);
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap_or_default();
    eprintln!(
        "{}",
        limits
            .lines()
            .find(|l| l.starts_with("Max open files"))
            .unwrap_or("")
    );
    assert!(
        held >= baseline + STALLED_APF,
        "MPS holds the stalled clients ({baseline} → {held} descriptors)"
    );

    // Real devices connect while all of them are held.
    let devices = stack.devices(DEVICES, 77);
    let took = eventually("the real devices to connect", 60, async || {
        stack.connected_devices().await == DEVICES
    })
    .await;

    // Every stalled client is dropped by MPS once its handshake time is up.
    let deadline = Duration::from_secs(8 + 20);
    let apf_closed = futures::stream::iter(stalled_apf.iter_mut())
        .map(|s| cira::closed_within(s, deadline))
        .buffer_unordered(STALLED_APF)
        .filter(|closed| std::future::ready(*closed))
        .count()
        .await;
    let tcp_closed = futures::stream::iter(stalled_tcp.iter_mut())
        .map(|s| cira::closed_within(s, deadline))
        .buffer_unordered(STALLED_TCP)
        .filter(|closed| std::future::ready(*closed))
        .count()
        .await;
    let dropped_after = started.elapsed();
    assert_eq!(
        (apf_closed, tcp_closed),
        (STALLED_APF, STALLED_TCP),
        "stalled clients MPS dropped"
    );
    drop(stalled_apf);
    drop(stalled_tcp);
    // And it holds nothing for them afterwards: its descriptors are the baseline plus the devices.
    // (The slack is the database pool, which grows while the devices register.)
    let settled = baseline + DEVICES as usize + 64;
    let mut now_open = open_descriptors(pid);
    for _ in 0..50 {
        if now_open <= settled {
            break;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        now_open = open_descriptors(pid);
    }
    assert!(
        now_open <= settled,
        "descriptors: {baseline} at start, {held} while stalled, {now_open} after"
    );
    assert_eq!(stack.connected_devices().await, DEVICES);
    eprintln!(
        "{STALLED_TCP} silent TCP + {STALLED_APF} silent TLS clients: devices connected in {took:?}; \
         all dropped {dropped_after:?} after they began; descriptors {baseline} → {held} → {now_open}"
    );
    stack.remember(
        "enrolment password",
        stack.enrolment()["password"].as_str().unwrap(),
    );
    drop(devices);
    stack.stop_and_check_logs();
}
