//! The secrets of the production stack, made once into one directory (compose.yaml's `secrets` volume)
//! by `openamt secrets`, and never committed:
//!
//! | file | what | read by |
//! |---|---|---|
//! | `ca.pem`, `ca-key.pem` | the installation's CA (`certs`) | every client of the broker and gateway |
//! | `broker.pem`, `broker-key.pem` | Mosquitto's TLS certificate | Mosquitto |
//! | `gateway.pem`, `gateway-key.pem` | the gateway's TLS certificate | Kong |
//! | `mosquitto.conf`, `acl` | the shipped broker configuration (`broker/mosquitto/`) | Mosquitto |
//! | `passwords` | Mosquitto's password file (`$7$` PBKDF2-SHA512) | Mosquitto |
//! | `mqtt-credentials.json`, `mqtt/<user>.password` | each service's broker password | the services |
//! | `mps-jwt-secret` | the HMAC secret MPS signs logins with and Kong verifies | MPS, Kong |
//! | `mps-admin-password` | the MPS web login (`MPS_WEB_ADMIN_PASSWORD`) | MPS, the operator |
//! | `postgres-password`, `vault-token` | Postgres and Vault (dev mode) credentials | db, vault, MPS, RPS |
//! | `mps-database-url`, `rps-database-url` | `postgresql://…` with that password (mpsdb, rpsdb) | MPS, RPS |
//! | `kong.yml` | kong.yaml with the JWT secret filled in (Kong cannot resolve it) | Kong |
//!
//! Existing secrets are kept: running it again never rotates a password behind a running stack's back.
//! Secret files are readable by their owner only; files for Mosquitto and Kong are handed to the user
//! those images run as, when asked (compose runs this as root).

use std::{
    io::Write,
    path::{Path, PathBuf},
};

use broker::Credentials;
use rand::{Rng, distr::Alphanumeric};

use crate::{mosquitto_passwd, vault_ref};

/// The uid and gid the official `eclipse-mosquitto` image runs Mosquitto as.
pub const MOSQUITTO_IMAGE_USER: (u32, u32) = (1883, 1883);
/// The uid and gid the official `kong` image runs Kong as.
pub const KONG_IMAGE_USER: (u32, u32) = (1000, 1000);

#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    #[error("cannot {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: PathBuf,
        source: std::io::Error,
    },
    #[error(transparent)]
    Certs(#[from] certs::CertError),
    #[error(transparent)]
    Credentials(#[from] broker::CredentialsError),
    #[error("kong.yaml: {0}")]
    Kong(#[from] crate::ConfigError),
    #[error("{0}")]
    Invalid(String),
}

/// What to make.
#[derive(Debug, Clone)]
pub struct SecretsOptions {
    /// Names clients reach the gateway by (the first is the certificate's CN), e.g. the
    /// `MPS_COMMON_NAME` of the reference plus `localhost`.
    pub gateway_hosts: Vec<String>,
    /// Names the services reach Mosquitto by.
    pub broker_hosts: Vec<String>,
    /// The kong.yaml text to fill in for Kong.
    pub kong_yaml: String,
    /// Hand Mosquitto's files to this uid/gid.
    pub mosquitto_owner: Option<(u32, u32)>,
    /// Hand Kong's files to this uid/gid.
    pub kong_owner: Option<(u32, u32)>,
    /// The Postgres user and `host:port` the services' database URLs name.
    pub postgres_user: String,
    pub postgres_address: String,
}

impl SecretsOptions {
    /// The compose stack's defaults: the official images' users, broker host `mosquitto`.
    pub fn for_compose(common_name: &str) -> Self {
        let mut gateway_hosts = vec![common_name.to_owned()];
        for extra in ["localhost", "127.0.0.1"] {
            if !gateway_hosts.iter().any(|h| h == extra) {
                gateway_hosts.push(extra.to_owned());
            }
        }
        SecretsOptions {
            gateway_hosts,
            broker_hosts: vec!["mosquitto".into(), "localhost".into(), "127.0.0.1".into()],
            kong_yaml: crate::KONG_YAML.to_owned(),
            mosquitto_owner: Some(MOSQUITTO_IMAGE_USER),
            kong_owner: Some(KONG_IMAGE_USER),
            postgres_user: "postgresadmin".into(),
            postgres_address: "db:5432".into(),
        }
    }
}

/// What was written (paths only: the values never leave the files).
#[derive(Debug, Clone)]
pub struct Generated {
    pub dir: PathBuf,
    pub files: Vec<PathBuf>,
}

/// Makes (or completes) the secrets directory.
pub fn generate(dir: &Path, options: &SecretsOptions) -> Result<Generated, SecretsError> {
    let io = |action: &'static str, path: &Path| {
        let path = path.to_path_buf();
        move |source| SecretsError::Io {
            action,
            path,
            source,
        }
    };
    std::fs::create_dir_all(dir).map_err(io("create", dir))?;
    let mut files = Vec::new();

    let store = certs::CertStore::open(dir)?;
    files.push(store.ca_path());
    let broker = store.leaf(&certs::LeafSpec {
        name: "broker",
        common_name: options
            .broker_hosts
            .first()
            .map_or("mosquitto", |h| h.as_str()),
        hosts: &options.broker_hosts,
        key: certs::KeyKind::EcdsaP256,
    })?;
    let gateway = store.leaf(&certs::LeafSpec {
        name: "gateway",
        common_name: options
            .gateway_hosts
            .first()
            .map_or("localhost", |h| h.as_str()),
        hosts: &options.gateway_hosts,
        key: certs::KeyKind::EcdsaP256,
    })?;

    let credentials = Credentials::load_or_create(dir)?;
    files.push(dir.join("mqtt-credentials.json"));
    let mut passwords = String::new();
    for user in credentials.users() {
        let password = credentials.password(user).unwrap_or_default();
        passwords.push_str(&mosquitto_passwd::line(user, password).map_err(SecretsError::Invalid)?);
        passwords.push('\n');
        let per_user = dir.join("mqtt").join(format!("{user}.password"));
        write_file(&per_user, password, true)?;
        files.push(per_user);
    }
    let passwords_path = dir.join("passwords");
    write_file(&passwords_path, &passwords, true)?;
    let acl_path = dir.join("acl");
    write_file(&acl_path, broker::embedded::SHIPPED_ACL, false)?;
    let conf_path = dir.join("mosquitto.conf");
    write_file(&conf_path, broker::mosquitto::PRODUCTION_CONF, false)?;

    let jwt_secret = keep_or_create(dir, "mps-jwt-secret", || random_alphanumeric(48))?;
    keep_or_create(dir, "mps-admin-password", strong_password)?;
    let postgres_password = keep_or_create(dir, "postgres-password", || random_alphanumeric(32))?;
    keep_or_create(dir, "vault-token", || {
        format!("hvs.{}", random_alphanumeric(24))
    })?;
    for (name, database) in [("mps-database-url", "mpsdb"), ("rps-database-url", "rpsdb")] {
        let url = format!(
            "postgresql://{}:{postgres_password}@{}/{database}",
            options.postgres_user, options.postgres_address
        );
        write_file(&dir.join(name), &url, true)?;
    }
    for name in [
        "mps-jwt-secret",
        "mps-admin-password",
        "postgres-password",
        "vault-token",
        "mps-database-url",
        "rps-database-url",
    ] {
        files.push(dir.join(name));
    }

    let mut resolver = vault_ref::Resolver::default();
    resolver.set("mps-jwt-secret", &jwt_secret);
    let kong_path = dir.join("kong.yml");
    let rendered = vault_ref::render(&options.kong_yaml, &resolver)?;
    crate::Declarative::parse(&rendered)?;
    write_file(&kong_path, &rendered, true)?;

    if let Some(owner) = options.mosquitto_owner {
        for path in [
            &broker.cert_path,
            &broker.key_path,
            &passwords_path,
            &acl_path,
            &conf_path,
        ] {
            chown(path, owner)?;
        }
    }
    if let Some(owner) = options.kong_owner {
        for path in [&gateway.cert_path, &gateway.key_path, &kong_path] {
            chown(path, owner)?;
        }
    }
    files.extend([
        broker.cert_path,
        broker.key_path,
        gateway.cert_path,
        gateway.key_path,
        passwords_path,
        acl_path,
        conf_path,
        kong_path,
    ]);
    tracing::info!(dir = %dir.display(), files = files.len(), "secrets ready");
    Ok(Generated {
        dir: dir.to_path_buf(),
        files,
    })
}

/// The value in `dir/name`, or a new one written there.
fn keep_or_create(
    dir: &Path,
    name: &str,
    make: impl FnOnce() -> String,
) -> Result<String, SecretsError> {
    let path = dir.join(name);
    match std::fs::read_to_string(&path) {
        Ok(existing) if !existing.trim().is_empty() => Ok(existing.trim().to_owned()),
        Ok(_) => {
            let value = make();
            write_file(&path, &value, true)?;
            Ok(value)
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let value = make();
            write_file(&path, &value, true)?;
            Ok(value)
        }
        Err(source) => Err(SecretsError::Io {
            action: "read",
            path,
            source,
        }),
    }
}

fn random_alphanumeric(len: usize) -> String {
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

/// A password MPS accepts as "strong": 8–32 characters with upper, lower, digit and special.
fn strong_password() -> String {
    let mut rng = rand::rng();
    let specials = b"!@#$%^&*";
    let mut password = random_alphanumeric(20).into_bytes();
    password.push(b'A' + rng.random_range(0..26));
    password.push(b'a' + rng.random_range(0..26));
    password.push(b'0' + rng.random_range(0..10));
    password.push(specials[rng.random_range(0..specials.len())]);
    String::from_utf8(password).unwrap_or_default()
}

/// Writes atomically; private files are readable by their owner only.
fn write_file(path: &Path, contents: &str, private: bool) -> Result<(), SecretsError> {
    let io = |action: &'static str| {
        let path = path.to_path_buf();
        move |source| SecretsError::Io {
            action,
            path,
            source,
        }
    };
    if let Some(parent) = path.parent() {
        std::fs::create_dir_all(parent).map_err(io("create the directory of"))?;
    }
    let mut temp_name = path.file_name().unwrap_or_default().to_os_string();
    temp_name.push(".tmp");
    let temp = path.with_file_name(temp_name);
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(if private { 0o600 } else { 0o644 });
    }
    let mut file = options.open(&temp).map_err(io("create"))?;
    file.write_all(contents.as_bytes())
        .and_then(|_| file.sync_all())
        .map_err(io("write"))?;
    std::fs::rename(&temp, path).map_err(io("rename into"))
}

fn chown(path: &Path, (uid, gid): (u32, u32)) -> Result<(), SecretsError> {
    #[cfg(unix)]
    std::os::unix::fs::chown(path, Some(uid), Some(gid)).map_err(|source| SecretsError::Io {
        action: "hand over (chown; run as root, or without owners)",
        path: path.to_path_buf(),
        source,
    })?;
    Ok(())
}
