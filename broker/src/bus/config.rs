//! How a service reaches the broker.

use std::{fmt, time::Duration};

use schemas::Topics;

use crate::outbox::OutboxConfig;

/// `mqtts://host:port` (TLS) or `mqtt://host:port` (plain, for a broker on a trusted loopback only).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct BrokerUrl {
    pub host: String,
    pub port: u16,
    pub tls: bool,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("{0:?} is not a broker URL (expected mqtts://host:port or mqtt://host:port)")]
pub struct BrokerUrlError(pub String);

impl std::str::FromStr for BrokerUrl {
    type Err = BrokerUrlError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let error = || BrokerUrlError(s.to_owned());
        let (tls, rest, default_port) = if let Some(rest) = s.strip_prefix("mqtts://") {
            (true, rest, 8883)
        } else if let Some(rest) = s.strip_prefix("mqtt://") {
            (false, rest, 1883)
        } else {
            return Err(error());
        };
        let rest = rest.trim_end_matches('/');
        let (host, port) = match rest.rsplit_once(':') {
            Some((host, port)) if !host.ends_with(']') || host.starts_with('[') => {
                (host, port.parse().map_err(|_| error())?)
            }
            _ => (rest, default_port),
        };
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if host.is_empty() || host.contains('/') {
            return Err(error());
        }
        Ok(BrokerUrl {
            host: host.to_owned(),
            port,
            tls,
        })
    }
}

impl fmt::Display for BrokerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.tls { "mqtts" } else { "mqtt" };
        if self.host.contains(':') {
            write!(f, "{scheme}://[{}]:{}", self.host, self.port)
        } else {
            write!(f, "{scheme}://{}:{}", self.host, self.port)
        }
    }
}

/// A last will: published by the broker, retained, if the connection dies without a goodbye.
#[derive(Clone, Debug)]
pub struct LastWill {
    pub topic: schemas::Topic,
    pub event: schemas::CloudEvent,
    pub payload: Vec<u8>,
}

impl LastWill {
    pub fn new<E: schemas::Event>(topic: schemas::Topic, source: &str, event: &E) -> LastWill {
        LastWill {
            topic,
            event: schemas::CloudEvent::new(source, E::TYPE),
            payload: event.encode_to_vec(),
        }
    }
}

/// Everything a bus client needs.
pub struct BusConfig {
    pub url: BrokerUrl,
    pub username: String,
    pub password: String,
    /// PEM of the CA that signed the broker's certificate (required for mqtts).
    pub ca_pem: Option<Vec<u8>>,
    /// Unique per connection; also names the client's reply topic.
    pub client_id: String,
    /// The CloudEvents `source` of everything this client publishes, e.g. `/openamt/mps/mps-1`.
    pub source: String,
    pub topics: Topics,
    pub outbox: OutboxConfig,
    pub last_will: Option<LastWill>,
    pub keep_alive: Duration,
    /// How long the broker keeps this client's subscriptions and queued events while it is away.
    /// Zero starts clean every time (for tools like `openamt events`).
    pub session_expiry: Duration,
}

impl fmt::Debug for BusConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BusConfig")
            .field("url", &self.url)
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field("client_id", &self.client_id)
            .field("source", &self.source)
            .field("outbox", &self.outbox)
            .finish_non_exhaustive()
    }
}

impl BusConfig {
    /// A configuration with the usual defaults: keep-alive 30 s, session kept for a day.
    pub fn new(
        url: BrokerUrl,
        username: &str,
        password: &str,
        client_id: &str,
        source: &str,
    ) -> Self {
        BusConfig {
            url,
            username: username.to_owned(),
            password: password.to_owned(),
            ca_pem: None,
            client_id: client_id.to_owned(),
            source: source.to_owned(),
            topics: Topics::default(),
            outbox: OutboxConfig::Memory,
            last_will: None,
            keep_alive: Duration::from_secs(30),
            session_expiry: Duration::from_secs(24 * 3600),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_broker_urls() {
        let url: BrokerUrl = "mqtts://localhost:8883".parse().unwrap();
        assert_eq!(
            url,
            BrokerUrl {
                host: "localhost".into(),
                port: 8883,
                tls: true
            }
        );
        let url: BrokerUrl = "mqtt://10.0.0.1".parse().unwrap();
        assert_eq!((url.port, url.tls), (1883, false));
        let url: BrokerUrl = "mqtts://[::1]:9000".parse().unwrap();
        assert_eq!((url.host.as_str(), url.port), ("::1", 9000));
        for bad in [
            "localhost:1883",
            "http://x",
            "mqtt://",
            "mqtt://h:port",
            "mqtts://a/b:1",
        ] {
            assert!(bad.parse::<BrokerUrl>().is_err(), "{bad}");
        }
        assert_eq!(url.to_string(), "mqtts://[::1]:9000");
    }
}
