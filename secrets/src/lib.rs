//! The secret store shared by MPS and RPS.
//!
//! One interface, [`SecretStore`], with two backends:
//! - [`vault`]: HashiCorp Vault (or OpenBao) KV v2, at the same paths and keys the reference toolkit uses, so an
//!   existing Vault keeps working;
//! - [`local`]: an encrypted file store (ChaCha20-Poly1305), the embedded default of `openamt up`.
//!
//! Paths are relative to the KV v2 mount's data prefix, exactly as the reference writes them:
//! `devices/<guid>`, `MPSCerts`, `profiles/<name>`, `CIRAConfigs/<name>`, `TLS/<name>`, `certs/<domain>`, ...
//!
//! With the `test-server` feature, [`test_server::TestVault`] is an in-process fake Vault KV v2 HTTP server for tests.

mod device;
mod error;
pub mod local;
#[cfg(feature = "test-server")]
pub mod test_server;
pub mod vault;

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use serde::Deserialize;

pub use device::DeviceSecrets;
pub use error::SecretError;

/// A JSON object: the value stored at one secret path.
pub type SecretMap = serde_json::Map<String, serde_json::Value>;

/// A store of JSON objects keyed by path. Implementations never log secret values.
#[async_trait::async_trait]
pub trait SecretStore: Send + Sync + 'static {
    /// `path` is relative to the KV v2 mount's data prefix, exactly as the reference uses it:
    /// "devices/<guid>", "MPSCerts", "profiles/<name>", "CIRAConfigs/<name>", "TLS/<name>", "certs/<domain>", ...
    async fn get(&self, path: &str) -> Result<Option<SecretMap>, SecretError>;
    /// Replaces the whole object at `path`.
    async fn put(&self, path: &str, data: SecretMap) -> Result<(), SecretError>;
    /// Permanent delete of every version (KV v2 metadata delete). Deleting a missing path is Ok.
    async fn delete(&self, path: &str) -> Result<(), SecretError>;
    /// For the services' /health routes: name ("VAULT" / "LOCAL") and the status object the reference returns
    /// (Vault: the sys/health JSON: initialized, sealed, standby, ...; local: {initialized:true, sealed:false}).
    async fn health(&self) -> Result<SecretStoreHealth, SecretError>;
}

/// What a service's /health route reports about its secret store.
#[derive(Debug, Clone, PartialEq)]
pub struct SecretStoreHealth {
    /// "VAULT" or "LOCAL".
    pub name: String,
    /// The status object: Vault's own sys/health JSON, or `{initialized, sealed}` for the local store.
    pub status: serde_json::Value,
    /// Initialized and unsealed: the store can serve reads and writes.
    pub ready: bool,
}

/// Which backend to open, and where.
#[derive(Clone, PartialEq, Eq, Deserialize)]
#[serde(tag = "provider", rename_all = "lowercase")]
pub enum SecretStoreConfig {
    Vault {
        /// e.g. "http://localhost:8200".
        address: String,
        token: String,
        /// "<mount>/data/<prefix>", reference default "secret/data/".
        secrets_path: String,
    },
    /// Encrypted files in `dir` (created on first open), key in `dir/secret.key`.
    Local { dir: PathBuf },
}

impl fmt::Debug for SecretStoreConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Vault {
                address,
                secrets_path,
                ..
            } => f
                .debug_struct("Vault")
                .field("address", address)
                .field("token", &"<redacted>")
                .field("secrets_path", secrets_path)
                .finish(),
            Self::Local { dir } => f.debug_struct("Local").field("dir", dir).finish(),
        }
    }
}

/// Opens the configured backend. Vault: builds the client (no request is made yet); local: creates the directory
/// and the key on first use.
pub fn open(config: &SecretStoreConfig) -> Result<Arc<dyn SecretStore>, SecretError> {
    match config {
        SecretStoreConfig::Vault {
            address,
            token,
            secrets_path,
        } => Ok(Arc::new(vault::VaultStore::new(
            address,
            token,
            secrets_path,
        )?)),
        SecretStoreConfig::Local { dir } => Ok(Arc::new(local::LocalStore::open(dir)?)),
    }
}

/// Rejects paths that could escape the store or that Vault would read differently: empty, absolute, `.`/`..`
/// segments, empty segments, control characters.
pub(crate) fn check_path(path: &str) -> Result<(), SecretError> {
    let bad = path.is_empty()
        || path
            .split('/')
            .any(|seg| seg.is_empty() || seg == "." || seg == "..")
        || path.chars().any(char::is_control);
    if bad {
        Err(SecretError::InvalidPath(path.to_owned()))
    } else {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_that_could_escape_are_rejected() {
        for ok in [
            "devices/8c5c4f3e-1d2b-4c3a-9e8f-0a1b2c3d4e5f",
            "MPSCerts",
            "profiles/My Profile",
            "certs/a.b",
            // Profile names may hold these; the Vault backend escapes them in the URL.
            "profiles/a?version=1",
            "profiles/a#b%c",
        ] {
            assert!(check_path(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "/devices/x",
            "devices/",
            "a//b",
            "../x",
            "a/./b",
            "a/..",
            "a\nb",
        ] {
            assert!(
                matches!(check_path(bad), Err(SecretError::InvalidPath(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn config_debug_hides_the_token() {
        let c = SecretStoreConfig::Vault {
            address: "http://v:8200".into(),
            token: "s.supersecret".into(),
            secrets_path: "secret/data/".into(),
        };
        let shown = format!("{c:?}");
        assert!(!shown.contains("supersecret"), "{shown}");
        assert!(shown.contains("http://v:8200"));
    }

    #[test]
    fn config_deserializes_from_tagged_json() {
        let c: SecretStoreConfig = serde_json::from_str(
            r#"{"provider":"vault","address":"http://v:8200","token":"t","secrets_path":"kv/data/"}"#,
        )
        .unwrap();
        assert!(
            matches!(c, SecretStoreConfig::Vault { ref secrets_path, .. } if secrets_path == "kv/data/")
        );
        let c: SecretStoreConfig =
            serde_json::from_str(r#"{"provider":"local","dir":"/tmp/x"}"#).unwrap();
        assert_eq!(
            c,
            SecretStoreConfig::Local {
                dir: "/tmp/x".into()
            }
        );
    }
}
