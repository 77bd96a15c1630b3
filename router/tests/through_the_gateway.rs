//! The production path in one test: kong/kong.yaml served by the embedded gateway, in front of the
//! router, in front of two MPS instances that announced themselves and their devices on the embedded
//! broker. Every device answers REST and the relay through both hops, each from the instance holding it.

use std::{collections::HashMap, net::SocketAddr, time::Duration};

use broker::{BrokerUrl, Bus, BusConfig, EmbeddedBroker, EmbeddedBrokerConfig, OutboxConfig};
use bytes::Bytes;
use futures::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Full};
use hyper::{Request, Response, StatusCode, body::Incoming, header};
use hyper_util::rt::TokioIo;
use schemas::{
    Guid, Service, Topic,
    proto::{DevicePresence, ServiceState, ServiceStatus},
};
use tokio::net::{TcpListener, TcpStream};
use tokio_tungstenite::tungstenite::{Message, handshake::derive_accept_key, protocol::Role};
use tokio_util::sync::CancellationToken;

const SECRET: &str = "e2e-secret";
const ISSUER: &str = "9EmRJTbIiIb4bIeSsmgcWIjrR6HyETqc";

fn guid(i: usize) -> Guid {
    format!("7f000000-0000-4000-8000-{i:012x}").parse().unwrap()
}

async fn fake_mps(name: &'static str, stop: CancellationToken) -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let handler = move |mut request: Request<Incoming>, _peer: SocketAddr| async move {
        let target = request.uri().path_and_query().unwrap().to_string();
        if let Some(key) = request.headers().get(header::SEC_WEBSOCKET_KEY).cloned() {
            let upgrade = hyper::upgrade::on(&mut request);
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
        Response::new(gateway::http::full(body.to_string()))
    };
    tokio::spawn(gateway::listener::serve(listener, None, handler, stop));
    address
}

fn bus_config(broker: &EmbeddedBroker, user: &str, id: &str) -> BusConfig {
    let url: BrokerUrl = broker.url().parse().unwrap();
    let mut config = BusConfig::new(
        url,
        user,
        broker.credentials().password(user).unwrap(),
        id,
        &format!("/openamt/test/{id}"),
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

/// A login token as MPS signs it: HS256 over `{tenantId, iss, deviceId, exp}`.
fn token(exp_in: i64) -> String {
    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
        + exp_in;
    let claims = serde_json::json!({"tenantId": "", "iss": ISSUER, "deviceId": "*", "exp": exp});
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &claims,
        &jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes()).unwrap(),
    )
    .unwrap()
}

#[tokio::test]
async fn devices_answer_through_the_gateway_and_the_router() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let stop = CancellationToken::new();
    let _guard = stop.clone().drop_guard();
    let dir = tempfile::tempdir().unwrap();
    let mut broker_config = EmbeddedBrokerConfig::new(dir.path());
    broker_config.listen = SocketAddr::from(([127, 0, 0, 1], 0));
    let broker = EmbeddedBroker::start(broker_config).await.unwrap();

    // Two MPS instances announce themselves and split 50 devices.
    let mps_bus = connect(bus_config(&broker, "mps", "mps-e2e")).await;
    let instances = [
        ("mps-1", fake_mps("mps-1", stop.clone()).await),
        ("mps-2", fake_mps("mps-2", stop.clone()).await),
    ];
    for (name, address) in &instances {
        let status = ServiceStatus {
            service: "mps".into(),
            instance: (*name).into(),
            state: ServiceState::Online as i32,
            address: address.to_string(),
            version: String::new(),
            started_at: Some(schemas::now()),
        };
        let topic = mps_bus.topics().status(Service::Mps, name).unwrap();
        mps_bus.publish(&topic, &status).await.unwrap();
    }
    for i in 0..50 {
        let (name, address) = &instances[i % 2];
        let presence = DevicePresence {
            guid: guid(i).to_string(),
            connected: true,
            mps_instance: (*name).into(),
            mps_address: address.to_string(),
            tenant_id: String::new(),
            since: Some(schemas::now()),
        };
        mps_bus
            .publish(&Topic::Presence(guid(i)), &presence)
            .await
            .unwrap();
    }

    let router_bus = connect(bus_config(&broker, "router", "router-e2e")).await;
    let router = router::start(
        router::RouterConfig::new(SocketAddr::from(([127, 0, 0, 1], 0))),
        router_bus,
        stop.clone(),
    )
    .await
    .unwrap();
    for _ in 0..500 {
        if router.table.summary().devices == 50 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(router.table.summary().devices, 50);

    let mut secrets = gateway::Resolver::default();
    secrets.set("mps-jwt-secret", SECRET);
    let gateway = gateway::start(
        gateway::GatewayConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 0)),
            declarative: gateway::Declarative::parse(gateway::KONG_YAML).unwrap(),
            secrets,
            upstream_overrides: HashMap::from([(
                "mpsrouter:8003".to_owned(),
                router.address.to_string(),
            )]),
            tls: None,
        },
        stop.clone(),
    )
    .await
    .unwrap();

    // One kept-alive connection to the gateway, pooled connections from it to the router: each request
    // still reaches the instance holding its device.
    let stream = TcpStream::connect(gateway.address).await.unwrap();
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(connection);
    let authorization = format!("Bearer {}", token(3600));
    for i in 0..50 {
        for path in [
            format!("/mps/api/v1/amt/power/state/{}", guid(i)),
            format!("/device/power/state/{}", guid(i)),
        ] {
            let request = Request::get(&path)
                .header(header::HOST, "localhost")
                .header(header::AUTHORIZATION, &authorization)
                .body(Full::new(Bytes::new()))
                .unwrap();
            let response = sender.send_request(request).await.unwrap();
            assert_eq!(response.status(), 200, "{path}");
            let body: serde_json::Value =
                serde_json::from_slice(&response.into_body().collect().await.unwrap().to_bytes())
                    .unwrap();
            assert_eq!(body["instance"], instances[i % 2].0, "{path}");
            assert_eq!(
                body["target"],
                format!("/api/v1/amt/power/state/{}", guid(i))
            );
        }
    }
    // Expired login: Kong's body, and the router never sees it.
    let request = Request::get("/mps/api/v1/devices")
        .header(header::HOST, "localhost")
        .header(header::AUTHORIZATION, format!("Bearer {}", token(-5)))
        .body(Full::new(Bytes::new()))
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    assert_eq!(response.status(), 401);
    let body = response.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(&body[..], br#"{"exp":"token expired"}"#);

    // The relay, as the web UI opens it, lands on the holder of the device.
    for i in [3, 4] {
        let url = format!(
            "ws://{}/mps/ws/relay/webrelay.ashx?p=2&host={}&port=16994&tls=0&tls1only=0&mode=kvm",
            gateway.address,
            guid(i)
        );
        let (mut ws, _) = tokio_tungstenite::connect_async(url).await.unwrap();
        ws.send(Message::text("hi")).await.unwrap();
        let echo = ws.next().await.unwrap().unwrap().into_text().unwrap();
        assert_eq!(echo.as_str(), format!("{}:hi", instances[i % 2].0));
    }
    broker.close();
}
