//! The router against the real embedded broker: MPS instances announce themselves and their devices
//! with retained events published as user `mps` (no mock of the bus), fake MPS REST servers answer, and
//! an MPS *process* killed with SIGKILL is dropped from routing by its last will.

use std::{
    io::{BufRead, BufReader},
    net::SocketAddr,
    process::{Child, Command, Stdio},
    sync::{Arc, Mutex},
    time::Duration,
};

use broker::{
    BrokerUrl, Bus, BusConfig, EmbeddedBroker, EmbeddedBrokerConfig, LastWill, OutboxConfig,
};
use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response, StatusCode, body::Incoming, header};
use hyper_util::rt::TokioIo;
use router::RouterConfig;
use schemas::{
    Guid, Service, Topic,
    proto::{DevicePresence, ServiceState, ServiceStatus},
};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::{self, Message, handshake::derive_accept_key, protocol::Role};
use tokio_util::sync::CancellationToken;

fn init() {
    let _ = rustls::crypto::ring::default_provider().install_default();
}

fn guid(i: usize) -> Guid {
    format!("4c4c4544-0000-4000-8000-{i:012x}").parse().unwrap()
}

/// A fake MPS REST server that says who it is; it echoes WebSocket messages prefixed with its name.
struct FakeMps {
    address: SocketAddr,
    hits: Arc<Mutex<usize>>,
    _stop: tokio_util::sync::DropGuard,
}

async fn fake_mps(name: &'static str) -> FakeMps {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let hits = Arc::new(Mutex::new(0));
    let counted = hits.clone();
    let stop = CancellationToken::new();
    let handler = move |request: Request<Incoming>, _peer: SocketAddr| {
        *counted.lock().unwrap() += 1;
        answer(name, request)
    };
    tokio::spawn(gateway::listener::serve(
        listener,
        None,
        handler,
        stop.clone(),
    ));
    FakeMps {
        address,
        hits,
        _stop: stop.drop_guard(),
    }
}

async fn answer(name: &str, mut request: Request<Incoming>) -> Response<gateway::http::Body> {
    let target = request.uri().path_and_query().unwrap().to_string();
    if let Some(key) = request.headers().get(header::SEC_WEBSOCKET_KEY).cloned() {
        let upgrade = hyper::upgrade::on(&mut request);
        let name = name.to_owned();
        tokio::spawn(async move {
            let Ok(upgraded) = upgrade.await else { return };
            let mut ws = tokio_tungstenite::WebSocketStream::from_raw_socket(
                TokioIo::new(upgraded),
                Role::Server,
                None,
            )
            .await;
            while let Some(Ok(Message::Text(text))) = ws.next().await {
                let _ = ws.send(Message::text(format!("{name}:{text}"))).await;
            }
        });
        return Response::builder()
            .status(StatusCode::SWITCHING_PROTOCOLS)
            .header(header::CONNECTION, "upgrade")
            .header(header::UPGRADE, "websocket")
            .header(
                header::SEC_WEBSOCKET_ACCEPT,
                derive_accept_key(key.as_bytes()),
            )
            .body(gateway::http::empty())
            .unwrap();
    }
    let body = serde_json::json!({ "instance": name, "target": target });
    Response::builder()
        .header(header::CONTENT_TYPE, "application/json")
        .body(gateway::http::full(body.to_string()))
        .unwrap()
}

struct Fixture {
    broker: EmbeddedBroker,
    mps_bus: Bus,
    router: router::RunningRouter,
    stop: CancellationToken,
    _dir: tempfile::TempDir,
}

impl Drop for Fixture {
    fn drop(&mut self) {
        self.stop.cancel();
        self.broker.close();
    }
}

fn bus_config(broker: &EmbeddedBroker, user: &str, client_id: &str) -> BusConfig {
    let url: BrokerUrl = broker.url().parse().unwrap();
    let mut config = BusConfig::new(
        url,
        user,
        broker.credentials().password(user).unwrap(),
        client_id,
        &format!("/openamt/test/{client_id}"),
    );
    config.ca_pem = Some(broker.ca_pem().as_bytes().to_vec());
    config.outbox = OutboxConfig::Memory;
    config
}

async fn connect(config: BusConfig) -> Bus {
    let bus = Bus::connect(config).await.unwrap();
    bus.wait_connected(Duration::from_secs(10)).await.unwrap();
    bus
}

async fn fixture() -> Fixture {
    init();
    let dir = tempfile::tempdir().unwrap();
    let mut config = EmbeddedBrokerConfig::new(dir.path());
    config.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    let broker = EmbeddedBroker::start(config).await.unwrap();
    let mps_bus = connect(bus_config(&broker, "mps", "mps-test")).await;
    let mut router_bus_config = bus_config(&broker, "router", "router-test");
    router_bus_config.last_will = Some(
        router::last_will(
            &router_bus_config.topics,
            "router-1",
            &router_bus_config.source,
        )
        .unwrap(),
    );
    let router_bus = connect(router_bus_config).await;
    let stop = CancellationToken::new();
    let mut router_config = RouterConfig::new(SocketAddr::from(([127, 0, 0, 1], 0)));
    router_config.instance = "router-1".into();
    let router = router::start(router_config, router_bus, stop.clone())
        .await
        .unwrap();
    Fixture {
        broker,
        mps_bus,
        router,
        stop,
        _dir: dir,
    }
}

fn status(instance: &str, address: &str, state: ServiceState) -> ServiceStatus {
    ServiceStatus {
        service: "mps".into(),
        instance: instance.into(),
        state: state as i32,
        address: address.into(),
        version: "test".into(),
        started_at: Some(schemas::now()),
    }
}

async fn announce(bus: &Bus, instance: &str, address: SocketAddr) {
    let topic = bus.topics().status(Service::Mps, instance).unwrap();
    bus.publish(
        &topic,
        &status(instance, &address.to_string(), ServiceState::Online),
    )
    .await
    .unwrap();
}

async fn connect_device(bus: &Bus, device: Guid, instance: &str, address: SocketAddr) {
    let presence = DevicePresence {
        guid: device.to_string(),
        connected: true,
        mps_instance: instance.into(),
        mps_address: address.to_string(),
        tenant_id: String::new(),
        since: Some(schemas::now()),
    };
    bus.publish(&Topic::Presence(device), &presence)
        .await
        .unwrap();
}

async fn until(what: &str, mut condition: impl FnMut() -> bool) {
    for _ in 0..500 {
        if condition() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out waiting for {what}");
}

/// A keep-alive HTTP/1.1 connection to the router.
struct Client {
    sender: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
}

impl Client {
    async fn open(address: SocketAddr) -> Client {
        let stream = TcpStream::connect(address).await.unwrap();
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap();
        tokio::spawn(connection);
        Client { sender }
    }

    async fn get(&mut self, path: &str) -> (StatusCode, serde_json::Value) {
        let request = Request::get(path)
            .header(header::HOST, "mpsrouter:8003")
            .body(Full::new(Bytes::new()))
            .unwrap();
        let response = self.sender.send_request(request).await.unwrap();
        let status = response.status();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, serde_json::from_slice(&body).unwrap())
    }
}

#[tokio::test]
async fn routes_each_device_to_the_instance_that_holds_it() {
    let f = fixture().await;
    let a = fake_mps("mps-a").await;
    let b = fake_mps("mps-b").await;
    announce(&f.mps_bus, "mps-a", a.address).await;
    announce(&f.mps_bus, "mps-b", b.address).await;
    for i in 0..40 {
        let (instance, address) = if i % 2 == 0 {
            ("mps-a", a.address)
        } else {
            ("mps-b", b.address)
        };
        connect_device(&f.mps_bus, guid(i), instance, address).await;
    }
    until("40 devices", || f.router.table.summary().devices == 40).await;

    // One kept-alive connection carries requests for devices on both instances: each is routed on its
    // own (the reference routed a whole TCP connection by its first request).
    let mut client = Client::open(f.router.address).await;
    for i in 0..40 {
        let expected = if i % 2 == 0 { "mps-a" } else { "mps-b" };
        for path in [
            format!("/api/v1/amt/power/state/{}", guid(i)),
            format!("/api/v1/devices/{}", guid(i)),
            format!("/api/v1/authorize/redirection/{}", guid(i)),
            format!("/api/v1/devices/redirectstatus/{}", guid(i)),
        ] {
            let (status, body) = client.get(&path).await;
            assert_eq!(status, 200, "{path}");
            assert_eq!(body["instance"], expected, "{path}");
            assert_eq!(body["target"], path);
        }
    }

    // No device in the request: any online instance, round robin.
    let mut seen = std::collections::BTreeSet::new();
    for _ in 0..4 {
        let (status, body) = client
            .get("/api/v1/devices?$top=25&$skip=0&$count=true")
            .await;
        assert_eq!(status, 200);
        seen.insert(body["instance"].as_str().unwrap().to_owned());
    }
    assert_eq!(seen.len(), 2, "both instances served device-less requests");

    // A device connected nowhere: the reference MPS's 404 for tunnel routes; inventory routes still
    // reach an MPS (the database knows devices that are offline).
    let unknown = guid(999);
    let (status, body) = client
        .get(&format!("/api/v1/amt/power/state/{unknown}"))
        .await;
    assert_eq!(status, 404);
    assert_eq!(
        body,
        serde_json::json!({
            "error": "Device not found/connected. Please connect again using CIRA.",
            "errorDescription": format!("guid : {unknown}"),
        })
    );
    let (status, _) = client.get(&format!("/api/v1/devices/{unknown}")).await;
    assert_eq!(status, 200);
    let upper = unknown.to_string().to_uppercase();
    let (_, body) = client.get(&format!("/api/v1/amt/version/{upper}")).await;
    assert_eq!(
        body["errorDescription"],
        format!("guid : {upper}"),
        "echoed as given"
    );

    // A device that disconnects is routed nowhere.
    f.mps_bus
        .publish(
            &Topic::Presence(guid(0)),
            &DevicePresence {
                guid: guid(0).to_string(),
                connected: false,
                ..Default::default()
            },
        )
        .await
        .unwrap();
    until("guid 0 gone", || f.router.table.holder(&guid(0)).is_none()).await;
    let (status, _) = client
        .get(&format!("/api/v1/amt/power/state/{}", guid(0)))
        .await;
    assert_eq!(status, 404);
    assert!(*a.hits.lock().unwrap() > 0 && *b.hits.lock().unwrap() > 0);

    let (status, health) = client.get("/healthz").await;
    assert_eq!(status, 200);
    assert_eq!(health["mpsOnline"], 2);
    assert_eq!(health["devices"], 39);
}

#[tokio::test]
async fn the_relay_websocket_reaches_the_instance_holding_the_device() {
    let f = fixture().await;
    let a = fake_mps("mps-a").await;
    let b = fake_mps("mps-b").await;
    announce(&f.mps_bus, "mps-a", a.address).await;
    announce(&f.mps_bus, "mps-b", b.address).await;
    connect_device(&f.mps_bus, guid(7), "mps-b", b.address).await;
    until("the device", || f.router.table.holder(&guid(7)).is_some()).await;

    let url = format!(
        "ws://{}/relay/webrelay.ashx?p=2&host={}&port=16994&tls=0&tls1only=0&mode=sol",
        f.router.address,
        guid(7)
    );
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
    ws.send(Message::text("ping")).await.unwrap();
    let echo = ws.next().await.unwrap().unwrap();
    assert_eq!(echo.into_text().unwrap().as_str(), "mps-b:ping");

    let url = format!(
        "ws://{}/relay/webrelay.ashx?p=2&host={}&port=16994&tls=0&mode=kvm",
        f.router.address,
        guid(8)
    );
    match tokio_tungstenite::connect_async(url).await {
        Err(tungstenite::Error::Http(response)) => assert_eq!(response.status(), 404),
        other => panic!("a relay to an unconnected device must fail: {other:?}"),
    }
}

#[tokio::test]
async fn no_mps_online_is_503() {
    let f = fixture().await;
    let mut client = Client::open(f.router.address).await;
    let (status, body) = client.get("/api/v1/devices").await;
    assert_eq!(status, 503);
    assert_eq!(body["errorDescription"], "no MPS instance is online");
}

#[tokio::test]
async fn the_router_announces_itself() {
    let f = fixture().await;
    let dashboard = connect(bus_config(&f.broker, "dashboard", "dash-test")).await;
    let mut statuses = dashboard
        .subscribe(&dashboard.topics().all_status(Service::Router))
        .await
        .unwrap();
    let (delivery, status) = tokio::time::timeout(
        Duration::from_secs(10),
        statuses.next_event::<ServiceStatus>(),
    )
    .await
    .unwrap()
    .unwrap();
    assert!(delivery.retained);
    assert_eq!(status.instance, "router-1");
    assert_eq!(status.state, ServiceState::Online as i32);
    assert_eq!(status.address, f.router.address.to_string());

    // A clean stop says goodbye with OFFLINE (a crash would leave it to the last will).
    f.stop.cancel();
    let (_, status) = tokio::time::timeout(
        Duration::from_secs(10),
        statuses.next_event::<ServiceStatus>(),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(status.state, ServiceState::Offline as i32);
}

/// When run as the child process of `a_killed_mps_is_dropped_by_its_last_will`: a fake MPS that
/// announces itself with an OFFLINE last will and serves until killed.
#[tokio::test]
async fn child_mps_process() {
    let Ok(spec) = std::env::var("ROUTER_TEST_CHILD_MPS") else {
        return; // an ordinary test run: nothing to do
    };
    init();
    let spec: serde_json::Value = serde_json::from_str(&spec).unwrap();
    let url: BrokerUrl = spec["url"].as_str().unwrap().parse().unwrap();
    let instance = spec["instance"].as_str().unwrap().to_owned();
    let mut config = BusConfig::new(
        url,
        "mps",
        spec["password"].as_str().unwrap(),
        &instance,
        &format!("/openamt/mps/{instance}"),
    );
    config.ca_pem = Some(spec["ca"].as_str().unwrap().as_bytes().to_vec());
    config.outbox = OutboxConfig::Memory;
    let topic = Topic::Status {
        service: Service::Mps,
        instance: instance.clone(),
    };
    config.last_will = Some(LastWill::new(
        topic.clone(),
        &config.source.clone(),
        &status(&instance, "", ServiceState::Offline),
    ));
    let bus = connect(config).await;
    let name: &'static str = Box::leak(instance.clone().into_boxed_str());
    let mps = fake_mps(name).await;
    bus.publish(
        &topic,
        &status(&instance, &mps.address.to_string(), ServiceState::Online),
    )
    .await
    .unwrap();
    for i in 100..110 {
        connect_device(&bus, guid(i), &instance, mps.address).await;
    }
    bus.flush(Duration::from_secs(10)).await.unwrap();
    println!("READY {}", mps.address);
    tokio::time::sleep(Duration::from_secs(120)).await;
}

struct KillOnDrop(Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test]
async fn a_killed_mps_is_dropped_by_its_last_will() {
    let f = fixture().await;
    let survivor = fake_mps("mps-a").await;
    announce(&f.mps_bus, "mps-a", survivor.address).await;
    connect_device(&f.mps_bus, guid(1), "mps-a", survivor.address).await;

    let spec = serde_json::json!({
        "url": f.broker.url(),
        "password": f.broker.credentials().password("mps").unwrap(),
        "ca": f.broker.ca_pem(),
        "instance": "mps-doomed",
    });
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_mps_process",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("ROUTER_TEST_CHILD_MPS", spec.to_string())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let mut child = KillOnDrop(child);
    let ready = tokio::task::spawn_blocking(move || {
        BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
            // libtest may print "test child_mps_process ... " on the same line first.
            .find_map(|line| {
                line.split_once("READY ")
                    .map(|(_, address)| address.to_owned())
            })
    })
    .await
    .unwrap()
    .expect("the child MPS started");
    assert!(ready.starts_with("127.0.0.1:"), "{ready}");
    until("the child's devices", || {
        f.router.table.summary().devices == 11
    })
    .await;

    let mut client = Client::open(f.router.address).await;
    let (status, body) = client
        .get(&format!("/api/v1/amt/power/state/{}", guid(105)))
        .await;
    assert_eq!(
        (status, body["instance"].as_str()),
        (StatusCode::OK, Some("mps-doomed"))
    );

    // kill -9: no goodbye; the broker notices the dead connection and publishes the will.
    let pid = child.0.id();
    let killed = Command::new("kill")
        .args(["-9", &pid.to_string()])
        .status()
        .unwrap();
    assert!(killed.success());
    let _ = child.0.wait();
    until("the will", || {
        f.router.table.summary()
            == router::Summary {
                instances_online: 1,
                devices: 1,
            }
    })
    .await;

    for i in 100..110 {
        let (status, body) = client
            .get(&format!("/api/v1/amt/power/state/{}", guid(i)))
            .await;
        assert_eq!(status, 404, "device {i} of the dead instance");
        assert_eq!(body["errorDescription"], format!("guid : {}", guid(i)));
    }
    for _ in 0..4 {
        let (status, body) = client.get("/api/v1/devices").await;
        assert_eq!(
            (status, body["instance"].as_str()),
            (StatusCode::OK, Some("mps-a"))
        );
    }
    // The devices reconnect to the survivor and answer again.
    for i in 100..110 {
        connect_device(&f.mps_bus, guid(i), "mps-a", survivor.address).await;
    }
    until("the devices back", || {
        f.router.table.summary().devices == 11
    })
    .await;
    let (status, body) = client
        .get(&format!("/api/v1/amt/power/state/{}", guid(105)))
        .await;
    assert_eq!(
        (status, body["instance"].as_str()),
        (StatusCode::OK, Some("mps-a"))
    );
}
