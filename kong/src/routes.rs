//! The route table compiled from kong.yaml, matched with the precedence of Kong 3.x's router: regex
//! paths before prefix paths (higher `regex_priority` first), then the longest prefix, then the order of
//! declaration. Prefixes match bytes, not segments (`/mps` also matches `/mpsx`), as in Kong; regexes
//! are anchored at the start only.

use std::{
    collections::HashMap,
    sync::atomic::{AtomicUsize, Ordering},
    time::Duration,
};

use regex::Regex;

use crate::{
    cors::CorsConfig,
    declarative::{ConfigError, Declarative, Plugin, Route, Service},
    jwt::JwtConfig,
    transform::{Captures, UriTemplate},
};

/// The plugins in force on one route (route-scoped beat service-scoped beat global, per plugin name).
#[derive(Debug, Clone, Default)]
pub struct RoutePlugins {
    pub cors: Option<CorsConfig>,
    pub jwt: Option<JwtConfig>,
    pub uri: Option<UriTemplate>,
}

#[derive(Debug, Clone)]
pub struct CompiledRoute {
    pub name: String,
    pub service: String,
    pub strip_path: bool,
    pub preserve_host: bool,
    /// The service's host (a DNS name or an upstream's name) and port.
    pub host: String,
    pub port: u16,
    /// The service's `path`, `/` when it has none.
    pub service_path: String,
    pub connect_timeout: Duration,
    pub read_timeout: Duration,
    pub plugins: RoutePlugins,
}

enum Matcher {
    Prefix(String),
    Regex(Regex),
}

struct Entry {
    route: usize,
    matcher: Matcher,
}

/// A matched route: what the request path matched and the regex captures.
pub struct RouteMatch<'a> {
    pub route: &'a CompiledRoute,
    /// The matched part of the path (the prefix, or the whole regex match), stripped with `strip_path`.
    pub matched: String,
    pub captures: Captures,
}

pub struct RouteTable {
    routes: Vec<CompiledRoute>,
    entries: Vec<Entry>,
}

const KNOWN_PLUGINS: &[&str] = &["cors", "jwt", "request-transformer"];

impl RouteTable {
    pub fn compile(config: &Declarative) -> Result<RouteTable, ConfigError> {
        let plugins = config.all_plugins();
        if let Some(unknown) = plugins
            .iter()
            .find(|p| !KNOWN_PLUGINS.contains(&p.name.as_str()))
        {
            return Err(ConfigError::Invalid(format!(
                "plugin {:?} is not supported by the embedded gateway (supported: {})",
                unknown.name,
                KNOWN_PLUGINS.join(", ")
            )));
        }
        let mut routes = Vec::new();
        // (is_prefix, -regex_priority or -length, declaration order) → entry
        let mut keyed: Vec<((u8, i64, usize), Entry)> = Vec::new();
        for (service, route) in config.routes() {
            if service.is_stream() {
                tracing::debug!(route = %route.name, "stream route: served by Kong's stream proxy only");
                continue;
            }
            let index = routes.len();
            routes.push(compile_route(service, route, &plugins)?);
            for path in &route.paths {
                let order = keyed.len();
                if let Some(pattern) = path.strip_prefix('~') {
                    let regex = Regex::new(&format!("^{pattern}")).map_err(|e| {
                        ConfigError::Invalid(format!(
                            "route {:?}: bad regex {path:?}: {e}",
                            route.name
                        ))
                    })?;
                    keyed.push((
                        (0, -route.regex_priority, order),
                        Entry {
                            route: index,
                            matcher: Matcher::Regex(regex),
                        },
                    ));
                } else {
                    keyed.push((
                        (1, -(path.len() as i64), order),
                        Entry {
                            route: index,
                            matcher: Matcher::Prefix(path.clone()),
                        },
                    ));
                }
            }
        }
        keyed.sort_by_key(|(key, _)| *key);
        Ok(RouteTable {
            routes,
            entries: keyed.into_iter().map(|(_, e)| e).collect(),
        })
    }

    pub fn routes(&self) -> &[CompiledRoute] {
        &self.routes
    }

    /// The route for a normalised request path.
    pub fn find(&self, path: &str) -> Option<RouteMatch<'_>> {
        for entry in &self.entries {
            let route = &self.routes[entry.route];
            match &entry.matcher {
                Matcher::Prefix(prefix) => {
                    if path.starts_with(prefix.as_str()) {
                        return Some(RouteMatch {
                            route,
                            matched: prefix.clone(),
                            captures: Captures::default(),
                        });
                    }
                }
                Matcher::Regex(regex) => {
                    if let Some(found) = regex.captures(path) {
                        let positional = found
                            .iter()
                            .map(|m| m.map(|m| m.as_str().to_owned()))
                            .collect();
                        let named = regex
                            .capture_names()
                            .flatten()
                            .filter_map(|name| {
                                found
                                    .name(name)
                                    .map(|m| (name.to_owned(), m.as_str().to_owned()))
                            })
                            .collect();
                        return Some(RouteMatch {
                            route,
                            matched: found
                                .get(0)
                                .map(|m| m.as_str().to_owned())
                                .unwrap_or_default(),
                            captures: Captures { positional, named },
                        });
                    }
                }
            }
        }
        None
    }
}

fn compile_route(
    service: &Service,
    route: &Route,
    plugins: &[Plugin],
) -> Result<CompiledRoute, ConfigError> {
    let in_force = |name: &str| -> Option<&Plugin> {
        let enabled = |p: &&Plugin| p.enabled && p.name == name;
        plugins
            .iter()
            .filter(enabled)
            .find(|p| p.route.as_deref() == Some(route.name.as_str()))
            .or_else(|| {
                plugins.iter().filter(enabled).find(|p| {
                    p.route.is_none() && p.service.as_deref() == Some(service.name.as_str())
                })
            })
            .or_else(|| {
                plugins
                    .iter()
                    .filter(enabled)
                    .find(|p| p.route.is_none() && p.service.is_none())
            })
    };
    let context = |e: ConfigError| ConfigError::Invalid(format!("route {:?}: {e}", route.name));
    let plugins = RoutePlugins {
        cors: in_force("cors")
            .map(|p| CorsConfig::from_yaml(p.config.as_ref()))
            .transpose()
            .map_err(context)?,
        jwt: in_force("jwt")
            .map(|p| JwtConfig::from_yaml(p.config.as_ref()))
            .transpose()
            .map_err(context)?,
        uri: in_force("request-transformer")
            .map(|p| UriTemplate::from_yaml(p.config.as_ref()))
            .transpose()
            .map_err(context)?
            .flatten(),
    };
    Ok(CompiledRoute {
        name: route.name.clone(),
        service: service.name.clone(),
        strip_path: route.strip_path,
        preserve_host: route.preserve_host,
        host: service.host.clone(),
        port: service.port,
        service_path: service.path.clone().unwrap_or_else(|| "/".to_owned()),
        connect_timeout: Duration::from_millis(service.connect_timeout.unwrap_or(60_000)),
        read_timeout: Duration::from_millis(service.read_timeout.unwrap_or(60_000)),
        plugins,
    })
}

/// Where a service's `host:port` really is: an override given to the embedded gateway (compose names
/// such as `mpsrouter:8003` mean nothing outside compose), the targets of a kong.yaml upstream in
/// round robin, or the name itself.
pub struct Upstreams {
    overrides: HashMap<String, String>,
    balanced: HashMap<String, (Vec<String>, AtomicUsize)>,
}

impl Upstreams {
    pub fn new(config: &Declarative, overrides: HashMap<String, String>) -> Self {
        let balanced = config
            .upstreams
            .iter()
            .map(|u| {
                let targets = u.targets.iter().map(|t| t.target.clone()).collect();
                (u.name.clone(), (targets, AtomicUsize::new(0)))
            })
            .collect();
        Upstreams {
            overrides,
            balanced,
        }
    }

    /// `(address to connect to, name for the Host header)`.
    pub fn resolve(&self, host: &str, port: u16) -> (String, String) {
        let declared = format!("{host}:{port}");
        if let Some(address) = self.overrides.get(&declared) {
            return (address.clone(), declared);
        }
        if let Some((targets, next)) = self.balanced.get(host)
            && !targets.is_empty()
        {
            let target = &targets[next.fetch_add(1, Ordering::Relaxed) % targets.len()];
            let address = self.overrides.get(target).unwrap_or(target).clone();
            return (address, target.clone());
        }
        (declared.clone(), declared)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const YAML: &str = r#"
_format_version: "3.0"
services:
- name: a
  host: a
  port: 1
  routes:
  - name: short
    paths: [/mps]
  - name: long
    paths: [/mps/login/api/v1/authorize]
  - name: power
    paths: ['~/device/power/state/(?<id>[a-fA-F0-9\-]+)']
  - name: greedy-regex
    paths: ['~/mps/ws/relay/(.*)']
  - name: root
    paths: [/]
"#;

    #[test]
    fn kongs_precedence() {
        let table = RouteTable::compile(&Declarative::parse(YAML).unwrap()).unwrap();
        let name = |p: &str| table.find(p).map(|m| m.route.name.clone());
        assert_eq!(name("/mps/api/v1/devices").as_deref(), Some("short"));
        assert_eq!(name("/mps/login/api/v1/authorize").as_deref(), Some("long"));
        assert_eq!(
            name("/mps/ws/relay/webrelay.ashx").as_deref(),
            Some("greedy-regex")
        );
        assert_eq!(
            name("/mpsx").as_deref(),
            Some("short"),
            "prefixes are byte prefixes"
        );
        assert_eq!(name("/anything").as_deref(), Some("root"));
        let m = table.find("/device/power/state/4c4c4544-004b").unwrap();
        assert_eq!(m.route.name, "power");
        assert_eq!(m.captures.named("id"), Some("4c4c4544-004b"));
        assert_eq!(m.matched, "/device/power/state/4c4c4544-004b");
        assert_eq!(
            name("/x/device/power/state/1").as_deref(),
            Some("root"),
            "regexes are anchored"
        );
    }

    #[test]
    fn unknown_plugins_are_refused() {
        let yaml = format!("{YAML}plugins:\n- name: acl\n");
        assert!(RouteTable::compile(&Declarative::parse(&yaml).unwrap()).is_err());
    }

    #[test]
    fn upstreams_balance_and_overrides_win() {
        let config = Declarative::parse(
            "_format_version: '3.0'\nupstreams:\n- name: mps\n  targets:\n  - target: mps-1:3000\n  - target: mps-2:3000\n",
        )
        .unwrap();
        let upstreams = Upstreams::new(&config, HashMap::new());
        let first = upstreams.resolve("mps", 3000).0;
        let second = upstreams.resolve("mps", 3000).0;
        assert_ne!(first, second);
        assert_eq!(upstreams.resolve("rps", 8081).0, "rps:8081");
        let overrides = HashMap::from([("mps:3000".to_owned(), "127.0.0.1:3000".to_owned())]);
        let upstreams = Upstreams::new(&config, overrides);
        assert_eq!(
            upstreams.resolve("mps", 3000),
            ("127.0.0.1:3000".into(), "mps:3000".into())
        );
    }
}
