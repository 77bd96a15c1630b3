//! RPS configuration: the reference's keys (rps.md §0) with its defaults.
//!
//! The reference reads `.rpsrc` (JSON), then `RPS_<KEY>` environment variables (lower-cased keys), so a value may
//! arrive as a JSON number or as a string; numeric and boolean keys accept both. The CLI layers the sources and
//! deserializes the result into [`RpsConfig`].

use std::fmt;
use std::net::IpAddr;
use std::path::PathBuf;

use serde::{Deserialize, Deserializer, Serialize};

use secrets::SecretStoreConfig;

#[derive(Clone, Deserialize, Serialize)]
#[serde(default)]
pub struct RpsConfig {
    /// REST port (reference 8081).
    #[serde(deserialize_with = "number")]
    pub web_port: u16,
    /// Address the REST and WebSocket listeners bind (not a reference key; all interfaces by default).
    pub web_host: IpAddr,
    /// Device WebSocket port (reference 8080).
    #[serde(deserialize_with = "number")]
    pub websocketport: u16,
    /// "postgres" or "sqlite"; informational, the connection string decides.
    pub db_provider: String,
    /// `postgresql://user:pw@host:5432/rpsdb` or `sqlite://path?mode=rwc`.
    pub connection_string: String,
    /// "vault" or "local" (our embedded encrypted store).
    pub secrets_provider: String,
    pub vault_address: String,
    pub vault_token: String,
    /// KV v2 data path, "secret/data/".
    pub secrets_path: String,
    /// Directory of the local secret store (not a reference key).
    pub secrets_dir: PathBuf,
    pub mps_server: String,
    /// Seconds: the wait after activation and the per-WS-Man-call timeout.
    #[serde(deserialize_with = "number")]
    pub delay_timer: u64,
    /// Seconds: TLS settle waits and retry back-off.
    #[serde(deserialize_with = "number")]
    pub delay_tls_timer: u64,
    #[serde(deserialize_with = "number")]
    pub wsman_max_attempts: u32,
    /// Milliseconds to wait after AMT reports activation before using the new credentials. The reference derives it
    /// from `delay_timer` (12 000); unset keeps that, 0 removes the wait (simulated devices need none).
    #[serde(deserialize_with = "optional_number")]
    pub delay_activation_sync: Option<u64>,
    /// Milliseconds to wait after CommitChanges when unconfiguration turned TLS off (reference: 5 000).
    #[serde(deserialize_with = "number")]
    pub delay_setup_and_config_sync: u64,
    /// e.g. `mqtt://mosquitto:8883`; empty = no reference `rps/events`.
    pub mqtt_address: String,
    pub disable_cira_domain_name: String,
    pub enterprise_assistant_url: String,
    #[serde(deserialize_with = "boolean")]
    pub amt_legacy_tls_compatibility: bool,
    #[serde(deserialize_with = "boolean")]
    pub amt_post_tls_reject: bool,
    #[serde(deserialize_with = "boolean")]
    pub amt_tls_tunnel_persistent: bool,
    #[serde(deserialize_with = "boolean")]
    pub prevent_orphaned_devices: bool,
    /// Names this instance on the bus (status topic, client id); unique per replica (not a reference key).
    pub instance_name: String,
    /// Milliseconds a cached GET answer is kept (not a reference key). Every hit is first checked against the
    /// database's configuration generation, which any write by anyone sharing the database moves, so a cached
    /// answer is never older than a write that returned. 0 turns the cache off.
    #[serde(deserialize_with = "number")]
    pub rest_cache_ttl_ms: u64,
}

impl Default for RpsConfig {
    fn default() -> Self {
        Self {
            web_port: 8081,
            web_host: IpAddr::from([0, 0, 0, 0]),
            websocketport: 8080,
            db_provider: "postgres".into(),
            connection_string: "postgresql://postgresadmin:admin123@localhost:5432/rpsdb".into(),
            secrets_provider: "vault".into(),
            vault_address: "http://localhost:8200".into(),
            vault_token: "myroot".into(),
            secrets_path: "secret/data/".into(),
            secrets_dir: PathBuf::from(".openamt/secrets"),
            mps_server: "http://localhost:3000".into(),
            delay_timer: 12,
            delay_tls_timer: 15,
            wsman_max_attempts: 3,
            delay_activation_sync: None,
            delay_setup_and_config_sync: 5000,
            mqtt_address: String::new(),
            disable_cira_domain_name: String::new(),
            enterprise_assistant_url: "http://localhost:8000".into(),
            amt_legacy_tls_compatibility: true,
            amt_post_tls_reject: true,
            amt_tls_tunnel_persistent: true,
            prevent_orphaned_devices: false,
            rest_cache_ttl_ms: 60_000,
            instance_name: "rps".into(),
        }
    }
}

impl RpsConfig {
    /// The secret store these settings name.
    pub fn secret_store(&self) -> SecretStoreConfig {
        if self.secrets_provider.eq_ignore_ascii_case("local") {
            SecretStoreConfig::Local {
                dir: self.secrets_dir.clone(),
            }
        } else {
            SecretStoreConfig::Vault {
                address: self.vault_address.clone(),
                token: self.vault_token.clone(),
                secrets_path: self.secrets_path.clone(),
            }
        }
    }
}

/// Hides the Vault token and any password in the connection string.
impl fmt::Debug for RpsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RpsConfig")
            .field("web_port", &self.web_port)
            .field("web_host", &self.web_host)
            .field("websocketport", &self.websocketport)
            .field("db_provider", &self.db_provider)
            .field("connection_string", &redact_url(&self.connection_string))
            .field("secrets_provider", &self.secrets_provider)
            .field("vault_address", &self.vault_address)
            .field("vault_token", &"<redacted>")
            .field("secrets_path", &self.secrets_path)
            .field("secrets_dir", &self.secrets_dir)
            .field("mps_server", &self.mps_server)
            .field("delay_timer", &self.delay_timer)
            .field("delay_tls_timer", &self.delay_tls_timer)
            .field("wsman_max_attempts", &self.wsman_max_attempts)
            .field("delay_activation_sync", &self.delay_activation_sync)
            .field(
                "delay_setup_and_config_sync",
                &self.delay_setup_and_config_sync,
            )
            .field("mqtt_address", &self.mqtt_address)
            .field("prevent_orphaned_devices", &self.prevent_orphaned_devices)
            .field("rest_cache_ttl_ms", &self.rest_cache_ttl_ms)
            .field("instance_name", &self.instance_name)
            .finish_non_exhaustive()
    }
}

/// `scheme://user:password@host/...` → `scheme://user:<redacted>@host/...`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let Some((credentials, host)) = rest.rsplit_once('@') else {
        return url.to_owned();
    };
    match credentials.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:<redacted>@{host}"),
        None => url.to_owned(),
    }
}

#[derive(Deserialize)]
#[serde(untagged)]
enum NumberOrText<T> {
    Number(T),
    Text(String),
}

fn number<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + std::str::FromStr,
{
    match NumberOrText::<T>::deserialize(d)? {
        NumberOrText::Number(n) => Ok(n),
        NumberOrText::Text(s) => s
            .trim()
            .parse()
            .map_err(|_| serde::de::Error::custom(format!("{s:?} is not a number"))),
    }
}

fn optional_number<'de, D, T>(d: D) -> Result<Option<T>, D::Error>
where
    D: Deserializer<'de>,
    T: Deserialize<'de> + std::str::FromStr,
{
    match Option::<NumberOrText<T>>::deserialize(d)? {
        None => Ok(None),
        Some(NumberOrText::Number(n)) => Ok(Some(n)),
        Some(NumberOrText::Text(s)) if s.trim().is_empty() => Ok(None),
        Some(NumberOrText::Text(s)) => s
            .trim()
            .parse()
            .map(Some)
            .map_err(|_| serde::de::Error::custom(format!("{s:?} is not a number"))),
    }
}

fn boolean<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    match NumberOrText::<bool>::deserialize(d)? {
        NumberOrText::Number(b) => Ok(b),
        NumberOrText::Text(s) => match s.trim().to_ascii_lowercase().as_str() {
            "true" | "1" | "yes" => Ok(true),
            "false" | "0" | "no" | "" => Ok(false),
            other => Err(serde::de::Error::custom(format!(
                "{other:?} is not a boolean"
            ))),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reference_keys_from_file_or_environment_strings() {
        let c: RpsConfig = serde_json::from_str(
            r#"{"web_port":"9081","delay_timer":5,"secrets_provider":"local","prevent_orphaned_devices":"true",
                "vault_token":"s.tok","connection_string":"postgresql://u:pw@db:5432/rpsdb"}"#,
        )
        .unwrap();
        assert_eq!(c.web_port, 9081);
        assert_eq!(c.delay_timer, 5);
        assert_eq!(c.websocketport, 8080);
        assert!(c.prevent_orphaned_devices);
        assert!(matches!(c.secret_store(), SecretStoreConfig::Local { .. }));
        let shown = format!("{c:?}");
        assert!(
            !shown.contains("s.tok") && !shown.contains(":pw@"),
            "{shown}"
        );
    }
}
