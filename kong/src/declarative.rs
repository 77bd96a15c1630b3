//! The subset of Kong's declarative (DB-less) configuration that openamt's kong.yaml uses, read strictly:
//! a field this gateway does not implement is an error, never silently ignored, so the embedded gateway
//! can not quietly behave differently from Kong.

use std::collections::BTreeMap;

use serde::Deserialize;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("kong.yaml: {0}")]
    Yaml(#[from] serde_yaml::Error),
    #[error("cannot read {path}: {source}")]
    Read {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("kong.yaml: {0}")]
    Invalid(String),
}

fn invalid(message: impl Into<String>) -> ConfigError {
    ConfigError::Invalid(message.into())
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Declarative {
    #[serde(rename = "_format_version")]
    pub format_version: String,
    #[serde(rename = "_transform", default)]
    pub transform: Option<bool>,
    #[serde(default)]
    pub services: Vec<Service>,
    #[serde(default)]
    pub upstreams: Vec<Upstream>,
    #[serde(default)]
    pub plugins: Vec<Plugin>,
    #[serde(default)]
    pub consumers: Vec<Consumer>,
    #[serde(default)]
    pub jwt_secrets: Vec<JwtSecret>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Service {
    pub name: String,
    pub host: String,
    #[serde(default = "default_port")]
    pub port: u16,
    #[serde(default = "default_protocol")]
    pub protocol: String,
    #[serde(default)]
    pub path: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    /// Milliseconds, as in Kong (default 60 000 each).
    #[serde(default)]
    pub connect_timeout: Option<u64>,
    #[serde(default)]
    pub read_timeout: Option<u64>,
    #[serde(default)]
    pub write_timeout: Option<u64>,
    #[serde(default)]
    pub routes: Vec<Route>,
    #[serde(default)]
    pub plugins: Vec<Plugin>,
}

fn default_port() -> u16 {
    80
}

fn default_protocol() -> String {
    "http".to_owned()
}

fn default_true() -> bool {
    true
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Route {
    pub name: String,
    #[serde(default)]
    pub paths: Vec<String>,
    #[serde(default = "default_true")]
    pub strip_path: bool,
    #[serde(default)]
    pub preserve_host: bool,
    #[serde(default)]
    pub regex_priority: i64,
    /// `http`/`https` (the default) or, for stream routes served by Kong only, `tcp`/`tls`.
    #[serde(default)]
    pub protocols: Vec<String>,
    /// Stream routes: the ports they listen for.
    #[serde(default)]
    pub destinations: Vec<Destination>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub plugins: Vec<Plugin>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Destination {
    #[serde(default)]
    pub ip: Option<String>,
    #[serde(default)]
    pub port: Option<u16>,
}

/// A load-balanced upstream: a service whose `host` names it is spread round robin over the targets.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Upstream {
    pub name: String,
    #[serde(default)]
    pub targets: Vec<Target>,
    #[serde(default)]
    pub tags: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    /// `host:port`.
    pub target: String,
    #[serde(default)]
    pub weight: Option<u32>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plugin {
    pub name: String,
    #[serde(default)]
    pub service: Option<String>,
    #[serde(default)]
    pub route: Option<String>,
    #[serde(default)]
    pub consumer: Option<String>,
    #[serde(default = "default_true")]
    pub enabled: bool,
    #[serde(default)]
    pub config: Option<serde_yaml::Value>,
    #[serde(default)]
    pub tags: Vec<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Consumer {
    #[serde(default)]
    pub username: Option<String>,
    #[serde(default)]
    pub custom_id: Option<String>,
    #[serde(default)]
    pub tags: Vec<String>,
    #[serde(default)]
    pub jwt_secrets: Vec<JwtSecret>,
}

#[derive(Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JwtSecret {
    /// The consumer's username (top-level entries only; nested ones belong to their consumer).
    #[serde(default)]
    pub consumer: Option<String>,
    pub key: String,
    #[serde(default)]
    pub secret: Option<String>,
    #[serde(default = "default_algorithm")]
    pub algorithm: String,
    #[serde(default)]
    pub tags: Vec<String>,
}

impl std::fmt::Debug for JwtSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JwtSecret")
            .field("consumer", &self.consumer)
            .field("key", &self.key)
            .field("secret", &"<redacted>")
            .field("algorithm", &self.algorithm)
            .finish()
    }
}

fn default_algorithm() -> String {
    "HS256".to_owned()
}

impl Service {
    /// Stream services (`tcp`, `tls`) are Kong's alone: the embedded gateway serves HTTP.
    pub fn is_stream(&self) -> bool {
        matches!(self.protocol.as_str(), "tcp" | "tls" | "udp")
    }
}

impl Declarative {
    pub fn parse(text: &str) -> Result<Declarative, ConfigError> {
        let config: Declarative = serde_yaml::from_str(text)?;
        config.validate()?;
        Ok(config)
    }

    pub fn read(path: &std::path::Path) -> Result<Declarative, ConfigError> {
        let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        Declarative::parse(&text)
    }

    /// Every route with its service, in declaration order.
    pub fn routes(&self) -> impl Iterator<Item = (&Service, &Route)> {
        self.services
            .iter()
            .flat_map(|s| s.routes.iter().map(move |r| (s, r)))
    }

    /// Every JWT credential, nested under consumers or top-level, as (consumer, credential).
    pub fn all_jwt_secrets(&self) -> Vec<(String, &JwtSecret)> {
        let mut all = Vec::new();
        for consumer in &self.consumers {
            let name = consumer_name(consumer);
            all.extend(consumer.jwt_secrets.iter().map(|s| (name.clone(), s)));
        }
        for secret in &self.jwt_secrets {
            all.push((secret.consumer.clone().unwrap_or_default(), secret));
        }
        all
    }

    /// Every plugin, wherever it was declared, with its scope filled in.
    pub fn all_plugins(&self) -> Vec<Plugin> {
        let mut all = self.plugins.clone();
        for service in &self.services {
            for plugin in &service.plugins {
                all.push(Plugin {
                    service: Some(service.name.clone()),
                    ..plugin.clone()
                });
            }
            for route in &service.routes {
                for plugin in &route.plugins {
                    all.push(Plugin {
                        route: Some(route.name.clone()),
                        ..plugin.clone()
                    });
                }
            }
        }
        all
    }

    fn validate(&self) -> Result<(), ConfigError> {
        let major = self.format_version.split('.').next().unwrap_or("");
        if !matches!(major, "1" | "2" | "3") {
            return Err(invalid(format!(
                "unsupported _format_version {:?}",
                self.format_version
            )));
        }
        let mut service_names = BTreeMap::new();
        let mut route_names = BTreeMap::new();
        for service in &self.services {
            if service_names.insert(&service.name, ()).is_some() {
                return Err(invalid(format!(
                    "service {:?} is declared twice",
                    service.name
                )));
            }
            if !matches!(service.protocol.as_str(), "http" | "tcp" | "tls") {
                return Err(invalid(format!(
                    "service {:?}: protocol {:?} is not supported (http, or tcp/tls for Kong's stream proxy)",
                    service.name, service.protocol
                )));
            }
            if let Some(path) = &service.path
                && !path.starts_with('/')
            {
                return Err(invalid(format!(
                    "service {:?}: path must start with /",
                    service.name
                )));
            }
            for route in &service.routes {
                if route_names.insert(&route.name, ()).is_some() {
                    return Err(invalid(format!("route {:?} is declared twice", route.name)));
                }
                let stream = route
                    .protocols
                    .iter()
                    .any(|p| matches!(p.as_str(), "tcp" | "tls"));
                if stream != service.is_stream() && !route.protocols.is_empty() {
                    return Err(invalid(format!(
                        "route {:?}: protocols {:?} do not fit service {:?} ({})",
                        route.name, route.protocols, service.name, service.protocol
                    )));
                }
                if service.is_stream() {
                    if route.destinations.is_empty() {
                        return Err(invalid(format!(
                            "stream route {:?} has no destinations",
                            route.name
                        )));
                    }
                    continue;
                }
                if let Some(p) = route
                    .protocols
                    .iter()
                    .find(|p| !matches!(p.as_str(), "http" | "https"))
                {
                    return Err(invalid(format!(
                        "route {:?}: protocol {p:?} is not supported",
                        route.name
                    )));
                }
                if route.paths.is_empty() {
                    return Err(invalid(format!(
                        "route {:?} has no paths (only path routing is supported)",
                        route.name
                    )));
                }
                for path in &route.paths {
                    if !path.starts_with('/') && !path.starts_with("~/") {
                        return Err(invalid(format!(
                            "route {:?}: path {path:?} must start with / (or ~/ for a regex)",
                            route.name
                        )));
                    }
                }
                // Kong splits a route into one per regex/prefix group; mixing them is fine.
            }
        }
        for upstream in &self.upstreams {
            if upstream.targets.is_empty() {
                return Err(invalid(format!(
                    "upstream {:?} has no targets",
                    upstream.name
                )));
            }
            for target in &upstream.targets {
                if target
                    .target
                    .rsplit_once(':')
                    .and_then(|(_, p)| p.parse::<u16>().ok())
                    .is_none()
                {
                    return Err(invalid(format!(
                        "upstream {:?}: target {:?} must be host:port",
                        upstream.name, target.target
                    )));
                }
            }
        }
        for plugin in self.all_plugins() {
            if let Some(service) = &plugin.service
                && !service_names.contains_key(service)
            {
                return Err(invalid(format!(
                    "plugin {:?} names unknown service {service:?}",
                    plugin.name
                )));
            }
            if let Some(route) = &plugin.route
                && !route_names.contains_key(route)
            {
                return Err(invalid(format!(
                    "plugin {:?} names unknown route {route:?}",
                    plugin.name
                )));
            }
            if plugin.consumer.is_some() {
                return Err(invalid(format!(
                    "plugin {:?}: consumer-scoped plugins are not supported",
                    plugin.name
                )));
            }
        }
        let consumers: Vec<String> = self.consumers.iter().map(consumer_name).collect();
        for (consumer, secret) in self.all_jwt_secrets() {
            if !consumers.contains(&consumer) {
                return Err(invalid(format!(
                    "jwt_secrets key {:?} names unknown consumer {consumer:?}",
                    secret.key
                )));
            }
        }
        Ok(())
    }
}

fn consumer_name(consumer: &Consumer) -> String {
    consumer
        .username
        .clone()
        .or_else(|| consumer.custom_id.clone())
        .unwrap_or_default()
}
