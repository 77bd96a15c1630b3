//! MPS configuration: the reference keys of `.mpsrc` with the same names and defaults, plus what the
//! embedded product needs (data directory, SQLite default, global CIRA credentials).
//!
//! The CLI layers `.mpsrc` JSON → `MPS_*` environment → flags onto this struct with serde; every field
//! has a default so a partial JSON object deserialises.

use std::path::PathBuf;

use serde::{Deserialize, Serialize};

/// Lowest and highest CIRA receive window the reference accepts; anything else falls back to the default.
const CIRA_WINDOW_MIN: u32 = 32_768;
const CIRA_WINDOW_MAX: u32 = 1_048_576;
pub const CIRA_WINDOW_DEFAULT: u32 = 81_920;

#[derive(Clone, Serialize, Deserialize)]
#[serde(default)]
pub struct MpsConfig {
    /// CIRA (APF over TLS) listener port.
    pub port: u16,
    /// REST + relay listener port (plain HTTP; TLS ends at the gateway).
    pub web_port: u16,
    /// Address both listeners bind to.
    pub bind_address: String,
    /// Address the REST and relay listener binds; empty: `bind_address`. `openamt up` keeps it on
    /// loopback, where only the gateway (which checks the JWT) reaches it.
    pub web_bind_address: String,
    /// CN of the generated CIRA server certificate.
    pub common_name: String,
    pub jwt_secret: String,
    pub jwt_issuer: String,
    /// Login token lifetime, minutes.
    pub jwt_expiration: u64,
    /// Redirection token lifetime, minutes.
    pub redirection_expiration_time: u64,
    pub web_auth_enabled: bool,
    pub web_admin_user: String,
    pub web_admin_password: String,
    /// `vault` or `local` (encrypted files under `data_dir/secrets`).
    pub secrets_provider: String,
    pub vault_address: String,
    pub vault_token: String,
    pub secrets_path: String,
    /// `postgresql://…` or `sqlite://…`; empty means SQLite at `data_dir/mps.db`.
    pub connection_string: String,
    /// Value written to `devices.mpsinstance`.
    pub instance_name: String,
    pub mqtt_address: String,
    pub cira_window_size: u32,
    /// Record `lastseen` on keep-alives (batched, see `registry::lastseen`).
    pub cira_last_seen: bool,
    pub timeout_ms_default: u64,
    pub generate_certificates: bool,
    /// Directory for the SQLite file, local secrets and generated certificates.
    pub data_dir: PathBuf,
    /// Enrolment without RPS: a device presenting these CIRA credentials is registered on first connect.
    pub global_cira_credentials: Option<GlobalCiraCredentials>,
    /// Length of the CIRA listener's accept queue. A fleet reconnecting at once (after an MPS
    /// restart or a network outage) must not overflow it: an overflowed SYN waits for the device's
    /// retransmit, a second or more. The kernel caps it at `net.core.somaxconn`.
    pub cira_listen_backlog: u32,
    /// The oldest TLS version a device may connect with: `TLSv1` (the reference's default; AMT
    /// 11/12 firmware needs it), `TLSv1.1`, `TLSv1.2` (modern suites only, as the reference's
    /// restricted set) or `TLSv1.3`. Empty: `mps_tls_config.minVersion` of the stored MPSCerts.
    pub cira_tls_min_version: String,
    /// Seconds a new CIRA connection may take to finish its TLS handshake.
    pub tls_handshake_timeout_secs: u64,
    /// Seconds a CIRA connection may take from its TLS handshake to a successful USERAUTH; a client
    /// that connects and never authenticates is dropped then.
    pub cira_auth_timeout_secs: u64,
    /// Seconds without any CIRA traffic before the tunnel is closed (reference: 90).
    pub cira_idle_timeout_secs: u64,
    /// Failed password checks (CIRA USERAUTH, REST login) one address may make before its further
    /// attempts are delayed.
    pub auth_free_failures: u32,
    /// The delay after the first failure past the free ones, milliseconds; it doubles with each
    /// further failure.
    pub auth_failure_delay_ms: u64,
    /// The longest such delay, milliseconds.
    pub auth_failure_max_delay_ms: u64,
    /// Seconds one WS-Man call over CIRA may take.
    pub wsman_timeout_secs: u64,
    /// WS-Man calls in flight per device.
    pub wsman_max_concurrent: usize,
    /// How often batched `lastseen` writes are flushed, milliseconds.
    pub lastseen_flush_ms: u64,
    /// `host:port` at which the router reaches this instance's REST and relay listener, published
    /// in its status and in device presence. Empty: `<instance_name>:<bound web port>`; port 0: the
    /// bound web port.
    pub instance_address: String,
    /// Also publish the reference's JSON events on `mps/events` (for existing subscribers).
    pub reference_events: bool,
}

#[derive(Clone, Serialize, Deserialize)]
pub struct GlobalCiraCredentials {
    pub username: String,
    pub password: String,
    /// The AMT admin password of devices enrolled this way (for WS-Man and the relay), stored as each
    /// device's own `AMT_PASSWORD` on its first connect. Without it their AMT routes answer 500 until
    /// RPS stores one.
    #[serde(default)]
    pub amt_password: Option<String>,
}

impl std::fmt::Debug for GlobalCiraCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GlobalCiraCredentials")
            .field("username", &self.username)
            .field("password", &"<redacted>")
            .field(
                "amt_password",
                &self.amt_password.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

impl std::fmt::Debug for MpsConfig {
    // Every secret is redacted: this struct is logged at start-up.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MpsConfig")
            .field("port", &self.port)
            .field("web_port", &self.web_port)
            .field("bind_address", &self.bind_address)
            .field("web_bind_address", &self.web_bind_address)
            .field("common_name", &self.common_name)
            .field("jwt_secret", &"<redacted>")
            .field("jwt_issuer", &self.jwt_issuer)
            .field("jwt_expiration", &self.jwt_expiration)
            .field(
                "redirection_expiration_time",
                &self.redirection_expiration_time,
            )
            .field("web_auth_enabled", &self.web_auth_enabled)
            .field("web_admin_user", &self.web_admin_user)
            .field("web_admin_password", &"<redacted>")
            .field("secrets_provider", &self.secrets_provider)
            .field("vault_address", &self.vault_address)
            .field("vault_token", &"<redacted>")
            .field("secrets_path", &self.secrets_path)
            .field("connection_string", &redact_url(&self.connection_string))
            .field("instance_name", &self.instance_name)
            .field("mqtt_address", &self.mqtt_address)
            .field("cira_window_size", &self.cira_window_size)
            .field("cira_last_seen", &self.cira_last_seen)
            .field("timeout_ms_default", &self.timeout_ms_default)
            .field("generate_certificates", &self.generate_certificates)
            .field("data_dir", &self.data_dir)
            .field("global_cira_credentials", &self.global_cira_credentials)
            .field("instance_address", &self.instance_address)
            .field("reference_events", &self.reference_events)
            .finish_non_exhaustive()
    }
}

/// Hides the password of a `scheme://user:password@host` URL.
pub fn redact_url(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => {
            let userinfo = &url[s + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}://{}:<redacted>@{}", &url[..s], user, &url[at + 1..])
        }
        _ => url.to_string(),
    }
}

impl Default for MpsConfig {
    fn default() -> Self {
        Self {
            port: 4433,
            web_port: 3000,
            bind_address: "0.0.0.0".into(),
            web_bind_address: String::new(),
            common_name: "localhost".into(),
            jwt_secret: String::new(),
            jwt_issuer: "9EmRJTbIiIb4bIeSsmgcWIjrR6HyETqc".into(),
            jwt_expiration: 1440,
            redirection_expiration_time: 5,
            web_auth_enabled: true,
            web_admin_user: String::new(),
            web_admin_password: String::new(),
            secrets_provider: "local".into(),
            vault_address: "http://localhost:8200".into(),
            vault_token: "myroot".into(),
            secrets_path: "secret/data/".into(),
            connection_string: String::new(),
            instance_name: "localhost".into(),
            mqtt_address: String::new(),
            cira_window_size: CIRA_WINDOW_DEFAULT,
            cira_last_seen: true,
            timeout_ms_default: 10_000,
            generate_certificates: true,
            data_dir: PathBuf::from("data"),
            global_cira_credentials: None,
            cira_listen_backlog: 1_024,
            cira_tls_min_version: String::new(),
            tls_handshake_timeout_secs: 10,
            cira_auth_timeout_secs: 30,
            cira_idle_timeout_secs: 90,
            auth_free_failures: 5,
            auth_failure_delay_ms: 1_000,
            auth_failure_max_delay_ms: 30_000,
            wsman_timeout_secs: 30,
            wsman_max_concurrent: 3,
            lastseen_flush_ms: 5_000,
            instance_address: String::new(),
            reference_events: false,
        }
    }
}

impl MpsConfig {
    /// How password guessing is slowed down (CIRA USERAUTH and the REST login alike).
    pub fn auth_throttle(&self) -> crate::throttle::ThrottlePolicy {
        crate::throttle::ThrottlePolicy {
            free_failures: self.auth_free_failures,
            base_delay: std::time::Duration::from_millis(self.auth_failure_delay_ms),
            max_delay: std::time::Duration::from_millis(
                self.auth_failure_max_delay_ms
                    .max(self.auth_failure_delay_ms),
            ),
            // A handful queued per address; more are turned away at once instead of piling up.
            max_waiting: 8,
            forget_after: std::time::Duration::from_secs(15 * 60),
        }
    }

    /// The reference clamps a bad window to the default rather than refusing to start.
    pub fn effective_window(&self) -> u32 {
        if (CIRA_WINDOW_MIN..=CIRA_WINDOW_MAX).contains(&self.cira_window_size) {
            self.cira_window_size
        } else {
            CIRA_WINDOW_DEFAULT
        }
    }

    /// `{{.Task.Name}}` is the reference's swarm placeholder; it becomes `mps`.
    pub fn effective_instance_name(&self) -> String {
        self.instance_name.replace("{{.Task.Name}}", "mps")
    }

    /// The database URL: the configured one, or SQLite in the data directory.
    pub fn database_url(&self) -> String {
        if self.connection_string.is_empty() {
            format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("mps.db").display()
            )
        } else {
            self.connection_string.clone()
        }
    }

    /// Refuses configurations the reference refuses (it exits at start-up).
    pub fn validate(&self) -> Result<(), String> {
        if self.jwt_secret.is_empty() {
            return Err("jwt_secret is mandatory".into());
        }
        if self.web_auth_enabled
            && (self.web_admin_user.is_empty() || self.web_admin_password.is_empty())
        {
            return Err(
                "web_admin_user and web_admin_password are mandatory when web_auth_enabled".into(),
            );
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_is_clamped_like_the_reference() {
        let mut c = MpsConfig {
            cira_window_size: 1000,
            ..Default::default()
        };
        assert_eq!(c.effective_window(), CIRA_WINDOW_DEFAULT);
        c.cira_window_size = 65536;
        assert_eq!(c.effective_window(), 65536);
        c.cira_window_size = 2_000_000;
        assert_eq!(c.effective_window(), CIRA_WINDOW_DEFAULT);
    }

    #[test]
    fn partial_json_keeps_defaults_and_debug_hides_secrets() {
        let c: MpsConfig = serde_json::from_str(
            r#"{"web_port":3001,"jwt_secret":"s3cr3t","web_admin_password":"pw-xyz"}"#,
        )
        .unwrap();
        assert_eq!(c.web_port, 3001);
        assert_eq!(c.port, 4433);
        let dbg = format!("{c:?}");
        assert!(!dbg.contains("s3cr3t") && !dbg.contains("pw-xyz"));
        assert_eq!(
            redact_url("postgresql://postgresadmin:admin123@db:5432/mpsdb"),
            "postgresql://postgresadmin:<redacted>@db:5432/mpsdb"
        );
    }
}
