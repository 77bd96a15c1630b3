//! The broker `openamt up` runs in-process: rumqttd on a loopback port behind a TLS gate on 8883.
//! On first start it makes its certificate (from the data directory's CA) and one credential per user;
//! later starts reuse both.

mod gate;
/// The MQTT packet reading the gate does before any client is authenticated (public for the fuzz target).
pub mod packet;

use std::{
    collections::HashMap,
    net::{Ipv4Addr, SocketAddr, TcpListener as StdListener},
    path::{Path, PathBuf},
    sync::Arc,
    time::Duration,
};

use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use crate::{Acl, Credentials, CredentialsError, acl::AclError};

/// The ACL both ways of running enforce.
pub const SHIPPED_ACL: &str = include_str!("../../mosquitto/acl");

#[derive(Debug, thiserror::Error)]
pub enum BrokerError {
    #[error(transparent)]
    Certificates(#[from] certs::CertError),
    #[error(transparent)]
    Credentials(#[from] CredentialsError),
    #[error(transparent)]
    Acl(#[from] AclError),
    #[error("cannot listen on {addr}: {source}")]
    Listen {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("the embedded MQTT broker did not start: {0}")]
    Start(String),
}

/// How to run the embedded broker.
#[derive(Clone, Debug)]
pub struct EmbeddedBrokerConfig {
    /// Certificates and credentials live here.
    pub data_dir: PathBuf,
    /// The TLS listener, 0.0.0.0:8883 by default.
    pub listen: SocketAddr,
    /// Names and addresses clients use to reach the broker (the certificate covers them).
    pub hosts: Vec<String>,
    /// The ACL text; the shipped `broker/mosquitto/acl` when `None`.
    pub acl: Option<String>,
}

impl EmbeddedBrokerConfig {
    pub fn new(data_dir: &Path) -> Self {
        EmbeddedBrokerConfig {
            data_dir: data_dir.to_path_buf(),
            listen: SocketAddr::from((Ipv4Addr::UNSPECIFIED, 8883)),
            hosts: vec!["localhost".into(), "127.0.0.1".into()],
            acl: None,
        }
    }
}

/// A running embedded broker.
pub struct EmbeddedBroker {
    address: SocketAddr,
    ca_path: PathBuf,
    ca_pem: String,
    credentials: Credentials,
    gate: Arc<gate::Gate>,
    listener_config: SocketAddr,
    shutdown: CancellationToken,
}

impl EmbeddedBroker {
    pub async fn start(config: EmbeddedBrokerConfig) -> Result<EmbeddedBroker, BrokerError> {
        let store = certs::CertStore::open(&config.data_dir)?;
        let issued = store.leaf(&certs::LeafSpec {
            name: "broker",
            common_name: config
                .hosts
                .first()
                .map(String::as_str)
                .unwrap_or("localhost"),
            hosts: &config.hosts,
            key: certs::KeyKind::EcdsaP256,
        })?;
        let tls = certs::server_config(&issued)?;
        let credentials = Credentials::load_or_create(&config.data_dir)?;
        let acl = Acl::parse(config.acl.as_deref().unwrap_or(SHIPPED_ACL))?;

        let backend = start_rumqttd(&credentials).await?;
        let gate = Arc::new(gate::Gate {
            acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(tls)),
            backend,
            credentials: credentials.clone(),
            acl,
        });
        let mut broker = EmbeddedBroker {
            address: config.listen,
            ca_path: store.ca_path(),
            ca_pem: store.ca_pem().to_owned(),
            credentials,
            gate,
            listener_config: config.listen,
            shutdown: CancellationToken::new(),
        };
        broker.open_gate().await?;
        Ok(broker)
    }

    async fn open_gate(&mut self) -> Result<(), BrokerError> {
        let listener = TcpListener::bind(self.listener_config)
            .await
            .map_err(|source| BrokerError::Listen {
                addr: self.listener_config,
                source,
            })?;
        self.address = listener
            .local_addr()
            .map_err(|source| BrokerError::Listen {
                addr: self.listener_config,
                source,
            })?;
        // Reopening after `close` binds the same port again.
        self.listener_config = self.address;
        self.shutdown = CancellationToken::new();
        tokio::spawn(gate::serve(
            listener,
            self.gate.clone(),
            self.shutdown.clone(),
        ));
        tracing::info!(address = %self.address, "MQTT broker listening (TLS)");
        Ok(())
    }

    /// Where clients connect (TLS).
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// `mqtts://host:port` for clients on this machine.
    pub fn url(&self) -> String {
        format!("mqtts://localhost:{}", self.address.port())
    }

    /// The CA file clients must trust.
    pub fn ca_path(&self) -> &Path {
        &self.ca_path
    }

    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    pub fn credentials(&self) -> &Credentials {
        &self.credentials
    }

    /// Stops accepting and drops every client connection, as if the broker went away; sessions and
    /// retained messages stay in the broker. Used at shutdown and to test outages.
    pub fn close(&self) {
        self.shutdown.cancel();
    }

    /// Accepts clients again on the same address after `close`.
    pub async fn reopen(&mut self) -> Result<(), BrokerError> {
        self.open_gate().await
    }
}

impl Drop for EmbeddedBroker {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

/// Starts rumqttd on a free loopback port and waits until it accepts connections. rumqttd cannot bind
/// port 0 and report it, so the port is picked first; it has no shutdown either, so it lives as long
/// as the process.
async fn start_rumqttd(credentials: &Credentials) -> Result<SocketAddr, BrokerError> {
    let start_error = |e: std::io::Error| BrokerError::Start(e.to_string());
    let port = StdListener::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|l| l.local_addr())
        .map_err(start_error)?
        .port();
    let backend = SocketAddr::from((Ipv4Addr::LOCALHOST, port));

    let mut connections = rumqttd::ConnectionSettings {
        connection_timeout_ms: 10_000,
        max_payload_size: 1 << 20,
        max_inflight_count: 1000,
        auth: None,
        external_auth: None,
        dynamic_filters: true,
    };
    // The gate authenticates first; the broker checks again so the loopback port is no back door.
    let known = credentials.clone();
    connections.set_auth_handler(move |_client, user, pass| {
        let ok = known.verify(&user, pass.as_bytes());
        async move { ok }
    });
    let server = rumqttd::ServerSettings {
        name: "openamt-embedded".into(),
        listen: backend,
        tls: None,
        next_connection_delay_ms: 0,
        connections,
    };
    let config = rumqttd::Config {
        id: 0,
        router: rumqttd::RouterConfig {
            max_connections: 10_000,
            max_outgoing_packet_count: 1000,
            // rumqttd keeps, per subscribed filter, an in-memory log of at most size × count; a
            // subscriber that falls further behind than that loses the oldest messages ("read cursor
            // jumped"), QoS 1 or not. 32 MiB is about 130,000 events of lag, far beyond what a fleet's
            // bursts need, and memory is only taken as messages flow (spec/limits.md §3).
            max_segment_size: 4 << 20,
            max_segment_count: 8,
            ..Default::default()
        },
        v5: Some(HashMap::from([("embedded".to_owned(), server)])),
        ..Default::default()
    };
    std::thread::Builder::new()
        .name("mqtt-broker".into())
        .spawn(move || {
            let mut broker = rumqttd::Broker::new(config);
            if let Err(error) = broker.start() {
                tracing::error!(%error, "embedded MQTT broker stopped");
            }
        })
        .map_err(start_error)?;

    let (user, password) = credentials
        .users()
        .next()
        .and_then(|u| Some((u, credentials.password(u)?)))
        .ok_or_else(|| BrokerError::Start("no credentials".into()))?;
    for _ in 0..200 {
        if probe(backend, user, password).await.is_ok() {
            return Ok(backend);
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    Err(BrokerError::Start(format!(
        "no MQTT broker answers on {backend} after 2 s"
    )))
}

/// A complete MQTT 5 session (CONNECT, CONNACK, DISCONNECT): proves the broker is up without making it
/// log a broken connection.
async fn probe(backend: SocketAddr, user: &str, password: &str) -> std::io::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let string = |s: &[u8]| [&(s.len() as u16).to_be_bytes()[..], s].concat();
    let mut body = vec![0, 4, b'M', b'Q', b'T', b'T', 5, 0b1100_0010, 0, 10, 0];
    body.extend(string(b"openamt-startup-probe"));
    body.extend(string(user.as_bytes()));
    body.extend(string(password.as_bytes()));
    let mut connect = vec![0x10];
    let mut remaining = body.len();
    loop {
        let byte = (remaining % 128) as u8;
        remaining /= 128;
        connect.push(if remaining > 0 { byte | 0x80 } else { byte });
        if remaining == 0 {
            break;
        }
    }
    connect.extend(body);
    let mut stream = tokio::net::TcpStream::connect(backend).await?;
    stream.write_all(&connect).await?;
    let mut connack = [0u8; 4];
    tokio::time::timeout(Duration::from_secs(1), stream.read_exact(&mut connack)).await??;
    if connack[0] != 0x20 || connack[3] != 0 {
        return Err(std::io::Error::other("broker refused the startup probe"));
    }
    stream.write_all(&[0xe0, 0]).await?;
    // Wait for the broker to close its side, so neither side resets a connection with unread data.
    stream.shutdown().await?;
    let mut rest = Vec::new();
    let _ = tokio::time::timeout(Duration::from_secs(1), stream.read_to_end(&mut rest)).await;
    Ok(())
}
