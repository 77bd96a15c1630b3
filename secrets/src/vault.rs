//! Vault KV v2 backend (vaultrs), at the reference's mount and paths.

use std::time::Duration;

use vaultrs::client::{VaultClient, VaultClientSettingsBuilder};
use vaultrs::error::ClientError;

use crate::{SecretError, SecretMap, SecretStore, SecretStoreHealth, check_path};

/// How long a health probe may take before the store counts as unreachable.
const HEALTH_TIMEOUT: Duration = Duration::from_secs(5);
/// How long any other request may take: a Vault that stopped answering (not merely refusing
/// connections) makes callers fail with [`SecretError::Unavailable`] instead of waiting for ever.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Vault KV v2 at `<address>/v1/<mount>/data/<prefix><path>`.
pub struct VaultStore {
    client: VaultClient,
    address: String,
    mount: String,
    prefix: String,
}

impl VaultStore {
    /// `secrets_path` is the reference's setting, "<mount>/data/<prefix>": "secret/data/" gives mount "secret" and
    /// no prefix, "kv/data/openamt/" gives mount "kv" and prefix "openamt/".
    pub fn new(address: &str, token: &str, secrets_path: &str) -> Result<Self, SecretError> {
        let (mount, prefix) = split_secrets_path(secrets_path)?;
        // reqwest (under vaultrs, built without a provider of its own) panics unless a process-wide rustls provider
        // is installed; ring is the only one in this tree. A binary that installed one already keeps its own.
        if rustls::crypto::CryptoProvider::get_default().is_none() {
            let _ = rustls::crypto::ring::default_provider().install_default();
        }
        let settings = VaultClientSettingsBuilder::default()
            .address(address)
            .token(token)
            .timeout(Some(REQUEST_TIMEOUT))
            .build()
            .map_err(|e| SecretError::Config(format!("vault address {address:?}: {e}")))?;
        let client = VaultClient::new(settings)
            .map_err(|e| SecretError::Config(format!("vault client for {address:?}: {e}")))?;
        Ok(Self {
            client,
            address: address.trim_end_matches('/').to_owned(),
            mount,
            prefix,
        })
    }

    /// The KV v2 mount, e.g. "secret".
    pub fn mount(&self) -> &str {
        &self.mount
    }

    /// The path under the mount. A profile may be named `a?b` or `x#1` (the reference's name rule
    /// allows both); vaultrs escapes the path segment in the request URL, and Vault decodes it.
    fn full_path(&self, path: &str) -> Result<String, SecretError> {
        check_path(path)?;
        Ok(format!("{}{}", self.prefix, path))
    }

    fn error(&self, path: &str, source: ClientError) -> SecretError {
        match source {
            ClientError::JsonParseError { .. } => SecretError::Malformed {
                path: path.to_owned(),
            },
            ClientError::RestClientError { .. } => SecretError::Unavailable {
                address: self.address.clone(),
                message: source.to_string(),
            },
            other => SecretError::Vault {
                path: path.to_owned(),
                source: Box::new(other),
            },
        }
    }
}

fn split_secrets_path(secrets_path: &str) -> Result<(String, String), SecretError> {
    let trimmed = secrets_path.trim_start_matches('/');
    let with_slash = if trimmed.ends_with('/') {
        trimmed.to_owned()
    } else {
        format!("{trimmed}/")
    };
    match with_slash.split_once("/data/") {
        Some((mount, prefix)) if !mount.is_empty() => Ok((mount.to_owned(), prefix.to_owned())),
        _ => Err(SecretError::Config(format!(
            "secrets_path {secrets_path:?} is not a KV v2 data path like \"secret/data/\""
        ))),
    }
}

fn is_not_found(e: &ClientError) -> bool {
    matches!(e, ClientError::APIError { code: 404, .. })
}

#[async_trait::async_trait]
impl SecretStore for VaultStore {
    async fn get(&self, path: &str) -> Result<Option<SecretMap>, SecretError> {
        let full = self.full_path(path)?;
        match vaultrs::kv2::read::<SecretMap>(&self.client, &self.mount, &full).await {
            Ok(map) => Ok(Some(map)),
            Err(e) if is_not_found(&e) => Ok(None),
            Err(e) => Err(self.error(path, e)),
        }
    }

    async fn put(&self, path: &str, data: SecretMap) -> Result<(), SecretError> {
        let full = self.full_path(path)?;
        vaultrs::kv2::set(&self.client, &self.mount, &full, &data)
            .await
            .map_err(|e| self.error(path, e))?;
        Ok(())
    }

    async fn delete(&self, path: &str) -> Result<(), SecretError> {
        let full = self.full_path(path)?;
        match vaultrs::kv2::delete_metadata(&self.client, &self.mount, &full).await {
            Ok(()) => Ok(()),
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(self.error(path, e)),
        }
    }

    /// `GET /v1/sys/health?standbyok=true`. Vault answers sealed (503), uninitialised (501) and the standby states
    /// with a JSON body too, so the body is the status whatever the code; only no answer at all is an error.
    async fn health(&self) -> Result<SecretStoreHealth, SecretError> {
        let url = format!("{}/v1/sys/health?standbyok=true", self.address);
        let unavailable = |message: String| SecretError::Unavailable {
            address: self.address.clone(),
            message,
        };
        let response = self
            .client
            .http
            .http
            .get(&url)
            .timeout(HEALTH_TIMEOUT)
            .send()
            .await
            .map_err(|e| unavailable(e.to_string()))?;
        let code = response.status().as_u16();
        let body = response
            .bytes()
            .await
            .map_err(|e| unavailable(e.to_string()))?;
        let status: serde_json::Value = serde_json::from_slice(&body)
            .map_err(|e| unavailable(format!("sys/health answered {code} without JSON: {e}")))?;
        let flag = |key: &str| status.get(key).and_then(serde_json::Value::as_bool);
        let ready = flag("initialized") == Some(true) && flag("sealed") == Some(false);
        Ok(SecretStoreHealth {
            name: "VAULT".into(),
            status,
            ready,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_path_gives_mount_and_prefix() {
        let split = |s: &str| split_secrets_path(s).unwrap();
        assert_eq!(split("secret/data/"), ("secret".into(), "".into()));
        assert_eq!(split("secret/data"), ("secret".into(), "".into()));
        assert_eq!(split("kv/data/"), ("kv".into(), "".into()));
        assert_eq!(split("/kv/data/openamt/"), ("kv".into(), "openamt/".into()));
        assert_eq!(split("kv/data/openamt"), ("kv".into(), "openamt/".into()));
        assert!(split_secrets_path("secret/").is_err());
        assert!(split_secrets_path("data/").is_err());
    }
}
