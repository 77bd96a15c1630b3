//! compose.yaml checked against the seed's service table (DESIGN.md), kong/kong.yaml and the files
//! `openamt secrets` makes. No Docker engine runs here; when a compose tool is installed its own
//! validation (`docker compose config`) runs too.

use std::{
    collections::{BTreeMap, BTreeSet},
    path::Path,
    process::Command,
};

use gateway::{Declarative, routes::RouteTable};
use serde_yaml::Value;

fn root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/.."))
}

/// compose.yaml with its merge keys applied and `${VAR:-default}` replaced by the default.
fn compose() -> Value {
    let text = std::fs::read_to_string(root().join("compose.yaml")).unwrap();
    let mut value: Value = serde_yaml::from_str(&text).unwrap();
    value.apply_merge().unwrap();
    value
}

fn interpolate(s: &str) -> String {
    let mut out = String::new();
    let mut rest = s;
    while let Some(start) = rest.find('$') {
        out.push_str(&rest[..start]);
        rest = &rest[start..];
        if let Some(after) = rest.strip_prefix("$$") {
            out.push('$');
            rest = after;
        } else if let Some(inner) = rest.strip_prefix("${") {
            let end = inner.find('}').expect("closed ${");
            let expression = &inner[..end];
            let default = expression.split_once(":-").map_or("", |(_, d)| d);
            out.push_str(default);
            rest = &inner[end + 1..];
        } else {
            out.push('$');
            rest = &rest[1..];
        }
    }
    out.push_str(rest);
    out
}

fn services(compose: &Value) -> BTreeMap<String, Value> {
    compose["services"]
        .as_mapping()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.as_str().unwrap().to_owned(), v.clone()))
        .collect()
}

fn environment(service: &Value) -> BTreeMap<String, String> {
    match &service["environment"] {
        Value::Mapping(map) => map
            .iter()
            .map(|(k, v)| {
                let value = match v {
                    Value::String(s) => s.clone(),
                    other => serde_yaml::to_string(other).unwrap().trim().to_owned(),
                };
                (k.as_str().unwrap().to_owned(), interpolate(&value))
            })
            .collect(),
        Value::Null => BTreeMap::new(),
        other => panic!("environment must be a mapping: {other:?}"),
    }
}

/// Container ports a service declares (expose, and the container side of ports).
fn container_ports(service: &Value) -> BTreeSet<u16> {
    let mut ports = BTreeSet::new();
    for entry in service["expose"].as_sequence().into_iter().flatten() {
        ports.insert(interpolate(entry.as_str().unwrap()).parse().unwrap());
    }
    for entry in service["ports"].as_sequence().into_iter().flatten() {
        let text = interpolate(entry.as_str().unwrap());
        ports.insert(text.rsplit(':').next().unwrap().parse().unwrap());
    }
    ports
}

fn image(service: &Value) -> String {
    interpolate(service["image"].as_str().unwrap_or(""))
}

fn command(service: &Value) -> Vec<String> {
    service["command"]
        .as_sequence()
        .into_iter()
        .flatten()
        .map(|c| interpolate(c.as_str().unwrap()))
        .collect()
}

fn volumes(service: &Value) -> Vec<String> {
    service["volumes"]
        .as_sequence()
        .into_iter()
        .flatten()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect()
}

/// The seed's table (DESIGN.md): service → the ports it serves on.
const SEED: &[(&str, &[u16])] = &[
    ("webui", &[80]),
    ("mps-1", &[3000, 4433]),
    ("mps-2", &[3000, 4433]),
    ("mpsrouter", &[8003]),
    ("rps", &[8080, 8081]),
    ("db", &[5432]),
    ("vault", &[8200]),
    ("kong", &[8443]),
    ("mosquitto", &[8883]),
];

#[test]
fn services_images_and_ports_follow_the_seed_table() {
    let compose = compose();
    let services = services(&compose);
    for (name, ports) in SEED {
        let service = services
            .get(*name)
            .unwrap_or_else(|| panic!("compose.yaml has no service {name}"));
        let declared = container_ports(service);
        for port in *ports {
            assert!(
                declared.contains(port),
                "{name} must serve on {port}: {declared:?}"
            );
        }
    }
    assert!(image(&services["db"]).starts_with("postgres:"));
    assert!(image(&services["vault"]).starts_with("hashicorp/vault:"));
    assert!(image(&services["kong"]).starts_with("kong:"));
    assert!(image(&services["mosquitto"]).starts_with("eclipse-mosquitto"));
    // Our services: the one image, each with its subcommand; health via `openamt health`.
    for (name, subcommand) in [
        ("secrets", "secrets"),
        ("mps-1", "mps"),
        ("mps-2", "mps"),
        ("mpsrouter", "router"),
        ("rps", "rps"),
        ("webui", "webui"),
    ] {
        let service = &services[name];
        assert!(image(service).starts_with("openamt:"), "{name}");
        assert_eq!(
            service["build"].as_str(),
            Some("."),
            "{name} builds the root Dockerfile"
        );
        assert_eq!(command(service)[0], subcommand, "{name}");
        if name != "secrets" {
            let test: Vec<String> = service["healthcheck"]["test"]
                .as_sequence()
                .unwrap_or_else(|| panic!("{name} has a health check"))
                .iter()
                .map(|t| t.as_str().unwrap().to_owned())
                .collect();
            assert_eq!(test[..3], ["CMD", "openamt", "health"], "{name}");
            let port: u16 = test[3]
                .split(':')
                .nth(2)
                .unwrap()
                .split('/')
                .next()
                .unwrap()
                .parse()
                .unwrap();
            assert!(
                container_ports(service).contains(&port),
                "{name} checks a port it serves"
            );
            assert_eq!(
                service["depends_on"]["secrets"]["condition"].as_str(),
                Some("service_completed_successfully"),
                "{name} starts after the secrets exist"
            );
        }
    }
    assert!(root().join("Dockerfile").exists());
    // Only the front doors are published: HTTPS, CIRA and MQTT.
    let published: BTreeSet<String> = services
        .values()
        .flat_map(|s| s["ports"].as_sequence().cloned().unwrap_or_default())
        .map(|p| interpolate(p.as_str().unwrap()))
        .collect();
    assert_eq!(
        published,
        BTreeSet::from(["443:8443".into(), "4433:4433".into(), "8883:8883".into()])
    );
}

#[test]
fn kong_yaml_routes_reach_compose_services() {
    let compose = compose();
    let services = services(&compose);
    let kong = Declarative::parse(gateway::KONG_YAML).unwrap();
    let upstreams: BTreeMap<&str, Vec<&str>> = kong
        .upstreams
        .iter()
        .map(|u| {
            (
                u.name.as_str(),
                u.targets.iter().map(|t| t.target.as_str()).collect(),
            )
        })
        .collect();
    // Every host:port Kong may connect to is a compose service serving that port.
    let reachable = |host: &str, port: u16| {
        let targets: Vec<(String, u16)> = match upstreams.get(host) {
            Some(targets) => targets
                .iter()
                .map(|t| {
                    let (h, p) = t.rsplit_once(':').unwrap();
                    (h.to_owned(), p.parse().unwrap())
                })
                .collect(),
            None => vec![(host.to_owned(), port)],
        };
        for (host, port) in &targets {
            let service = services
                .get(host)
                .unwrap_or_else(|| panic!("kong.yaml names {host}, which compose.yaml lacks"));
            assert!(
                container_ports(service).contains(port),
                "{host} does not serve {port}"
            );
        }
        targets
    };
    for service in &kong.services {
        reachable(&service.host, service.port);
    }

    // The seed's routes, each to the service the seed names.
    let table = RouteTable::compile(&kong).unwrap();
    let route = |path: &str| {
        let found = table
            .find(path)
            .unwrap_or_else(|| panic!("no route for {path}"));
        (
            found.route.host.clone(),
            found.route.port,
            found.route.plugins.jwt.is_some(),
        )
    };
    let seed: &[(&str, &str, u16, bool)] = &[
        ("/", "webui", 80, false),
        ("/mps/api/v1/devices", "mpsrouter", 8003, true),
        ("/mps/login/api/v1/authorize", "mps", 3000, false),
        ("/mps/ws/relay/webrelay.ashx", "mpsrouter", 8003, false),
        ("/activate", "rps", 8080, false),
        ("/deactivate", "rps", 8080, false),
        ("/maintenance", "rps", 8080, false),
        ("/rps/api/v1/admin/profiles", "rps", 8081, true),
    ];
    for (path, host, port, jwt) in seed {
        assert_eq!(route(path), ((*host).to_owned(), *port, *jwt), "{path}");
    }
    let mps_targets: BTreeSet<String> =
        reachable("mps", 3000).into_iter().map(|(h, _)| h).collect();
    assert_eq!(
        mps_targets,
        BTreeSet::from(["mps-1".into(), "mps-2".into()])
    );

    // CIRA: Kong's stream listener is the port of kong.yaml's stream route, spread over both MPS.
    let kong_env = environment(&services["kong"]);
    let stream_port = kong
        .routes()
        .flat_map(|(_, r)| r.destinations.iter().filter_map(|d| d.port))
        .next()
        .unwrap();
    assert_eq!(
        kong_env["KONG_STREAM_LISTEN"],
        format!("0.0.0.0:{stream_port}")
    );
    let cira: Vec<(String, u16)> = reachable("mps-cira", 4433);
    assert_eq!(cira.len(), 2);
}

#[test]
fn environment_wires_secrets_broker_and_jwt_consistently() {
    let compose = compose();
    let services = services(&compose);
    let kong = Declarative::parse(gateway::KONG_YAML).unwrap();

    // The files `openamt secrets` makes, relative to the volume.
    let dir = tempfile::tempdir().unwrap();
    let _ = rustls::crypto::ring::default_provider().install_default();
    let mut options = gateway::secrets::SecretsOptions::for_compose("localhost");
    options.mosquitto_owner = None;
    options.kong_owner = None;
    let generated: BTreeSet<String> = gateway::secrets::generate(dir.path(), &options)
        .unwrap()
        .files
        .iter()
        .map(|f| {
            f.strip_prefix(dir.path())
                .unwrap()
                .to_string_lossy()
                .into_owned()
        })
        .collect();

    let acl_users = broker::credentials::USERS;
    for (name, service) in &services {
        let env = environment(service);
        for (key, value) in &env {
            let secret_like = key.contains("CONNECTION_STRING")
                || key
                    .split('_')
                    .any(|word| matches!(word, "PASSWORD" | "SECRET" | "TOKEN"));
            if secret_like {
                assert!(
                    key.ends_with("_FILE"),
                    "{name}: {key} must come from a file, not the environment"
                );
            }
            if let Some(file) = value.strip_prefix("/secrets/") {
                assert!(
                    generated.contains(file),
                    "{name}: {key}={value} is not made by `openamt secrets`"
                );
                assert!(
                    volumes(service)
                        .iter()
                        .any(|v| v.starts_with("secrets:/secrets")),
                    "{name} reads /secrets without mounting it"
                );
            }
        }
        if let Some(user) = env.get("OPENAMT_MQTT_USER") {
            assert!(
                acl_users.contains(&user.as_str()),
                "{name}: {user} is not a broker user"
            );
            assert_eq!(env["OPENAMT_MQTT_URL"], "mqtts://mosquitto:8883", "{name}");
            assert_eq!(env["OPENAMT_MQTT_CA"], "/secrets/ca.pem", "{name}");
            assert_eq!(
                env["OPENAMT_MQTT_PASSWORD_FILE"],
                format!("/secrets/mqtt/{user}.password")
            );
        }
        for volume in volumes(service) {
            if volume.starts_with("secrets:") && name != "secrets" {
                assert!(
                    volume.ends_with(":ro"),
                    "{name} mounts the secrets read-only"
                );
            }
        }
    }

    // MPS signs with the issuer Kong knows; both read the same secret.
    let issuer = &kong.all_jwt_secrets()[0].1.key;
    for name in ["mps-1", "mps-2", "webui"] {
        let env = environment(&services[name]);
        assert_eq!(&env["MPS_JWT_ISSUER"], issuer, "{name}");
        assert_eq!(
            env["MPS_JWT_SECRET_FILE"], "/secrets/mps-jwt-secret",
            "{name}"
        );
    }
    let kong_secret = kong.all_jwt_secrets()[0].1.secret.clone().unwrap();
    assert_eq!(
        kong_secret, "{vault://env/mps-jwt-secret}",
        "no secret in kong.yaml"
    );

    // Each MPS announces an address the router can reach, under its own name.
    for name in ["mps-1", "mps-2"] {
        let env = environment(&services[name]);
        assert_eq!(env["MPS_INSTANCE_NAME"], name);
        assert_eq!(env["MPS_INSTANCE_ADDRESS"], format!("{name}:3000"));
        assert_eq!(services[name]["hostname"].as_str(), Some(name));
    }

    // Kong: DB-less on the filled-in copy, TLS with the gateway certificate.
    let env = environment(&services["kong"]);
    assert_eq!(env["KONG_DATABASE"], "off");
    let declarative = env["KONG_DECLARATIVE_CONFIG"]
        .strip_prefix("/secrets/")
        .unwrap();
    assert!(generated.contains(declarative));
    assert_eq!(env["KONG_PROXY_LISTEN"], "0.0.0.0:8443 ssl");
    for key in ["KONG_SSL_CERT", "KONG_SSL_CERT_KEY"] {
        assert!(
            generated.contains(env[key].strip_prefix("/secrets/").unwrap()),
            "{key}"
        );
    }
    assert!(
        !env.contains_key("KONG_UPSTREAM_KEEPALIVE_POOL_SIZE"),
        "our router routes per request"
    );

    // Mosquitto reads the generated configuration from the volume it mounts as its config directory.
    let mosquitto = volumes(&services["mosquitto"]);
    assert!(mosquitto.contains(&"secrets:/mosquitto/config:ro".to_owned()));
    for file in [
        "mosquitto.conf",
        "acl",
        "passwords",
        "ca.pem",
        "broker.pem",
        "broker-key.pem",
    ] {
        assert!(generated.contains(file), "{file}");
        assert!(
            broker::mosquitto::PRODUCTION_CONF.contains(&format!("/mosquitto/config/{file}"))
                || file == "mosquitto.conf"
        );
    }
    assert!(broker::mosquitto::PRODUCTION_CONF.contains("listener 8883"));
}

#[test]
fn the_compose_tool_accepts_the_file() {
    let file = root().join("compose.yaml");
    let tools: [(&str, &[&str]); 2] = [("docker", &["compose"]), ("docker-compose", &[])];
    for (program, prefix) in tools {
        let installed = Command::new(program)
            .args(prefix)
            .arg("version")
            .output()
            .is_ok_and(|o| o.status.success());
        if !installed {
            continue;
        }
        let output = Command::new(program)
            .args(prefix)
            .arg("-f")
            .arg(&file)
            .args(["config", "-q"])
            .output()
            .unwrap();
        assert!(
            output.status.success(),
            "{program} rejects compose.yaml: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        println!("{program} {} config: valid", prefix.join(" "));
        return;
    }
    println!(
        "skipped: neither `docker compose` nor `docker-compose` is installed (apt-get install docker-compose)"
    );
}
