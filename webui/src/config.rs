//! What the web UI server needs: where to listen, where the browser finds MPS and RPS, and the MPS
//! JWT secret it checks event-stream tokens with.

use std::net::SocketAddr;
use std::time::Duration;

/// The reference's default `MPS_JWT_ISSUER` (also Kong's `jwt_secrets.key`).
pub const DEFAULT_JWT_ISSUER: &str = "9EmRJTbIiIb4bIeSsmgcWIjrR6HyETqc";

#[derive(Clone)]
pub struct WebuiConfig {
    /// Address of the HTTP listener (the gateway's `/` route points here; reference port 80).
    pub listen: SocketAddr,
    /// Base URL of MPS as the browser sees it: `/mps` behind the gateway (same origin, the default),
    /// or e.g. `http://localhost:3000` for an MPS without a gateway (the reference's dev setting).
    pub mps_server: String,
    /// Base URL of RPS as the browser sees it: `/rps` behind the gateway, or `http://localhost:8081`.
    pub rps_server: String,
    /// MPS's `jwt_secret`: the event stream accepts only login tokens MPS signed (HS256).
    pub jwt_secret: String,
    /// MPS's `jwt_issuer`: like Kong, tokens from another issuer are refused.
    pub jwt_issuer: String,
    /// Instance name in this server's retained status topic (`openamt/v1/webui/{instance}/status`).
    pub instance: String,
    /// Publish this server's online status (the `webui` broker user may; `dashboard` may not).
    pub publish_status: bool,
    /// Browsers streaming events at once; more get 503.
    pub max_stream_clients: usize,
    /// Interval of the SSE comment that keeps idle proxies from closing the stream.
    pub keep_alive: Duration,
    /// Devices whose latest activation event the server keeps for pages opened later.
    pub recent_activations: usize,
}

impl Default for WebuiConfig {
    fn default() -> Self {
        WebuiConfig {
            listen: SocketAddr::from(([0, 0, 0, 0], 80)),
            mps_server: "/mps".into(),
            rps_server: "/rps".into(),
            jwt_secret: String::new(),
            jwt_issuer: DEFAULT_JWT_ISSUER.into(),
            instance: "webui".into(),
            publish_status: true,
            max_stream_clients: 1000,
            keep_alive: Duration::from_secs(15),
            recent_activations: 500,
        }
    }
}

impl std::fmt::Debug for WebuiConfig {
    // Logged at start-up: the secret never is.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("WebuiConfig")
            .field("listen", &self.listen)
            .field("mps_server", &self.mps_server)
            .field("rps_server", &self.rps_server)
            .field("jwt_secret", &"<redacted>")
            .field("jwt_issuer", &self.jwt_issuer)
            .field("instance", &self.instance)
            .field("publish_status", &self.publish_status)
            .field("max_stream_clients", &self.max_stream_clients)
            .field("keep_alive", &self.keep_alive)
            .field("recent_activations", &self.recent_activations)
            .finish()
    }
}

impl WebuiConfig {
    /// Refuses settings the server cannot work with.
    pub fn validate(&self) -> Result<(), String> {
        if self.jwt_secret.is_empty() {
            return Err(
                "jwt_secret (MPS's MPS_JWT_SECRET) is required to check event-stream tokens".into(),
            );
        }
        for (name, url) in [
            ("mps_server", &self.mps_server),
            ("rps_server", &self.rps_server),
        ] {
            if !(url.starts_with('/') || url.starts_with("http://") || url.starts_with("https://"))
            {
                return Err(format!(
                    "{name} must be a path on this origin (/mps) or an http(s) URL, not {url:?}"
                ));
            }
            if url.contains(['"', '\'', '<', '>', ' ', ';']) {
                return Err(format!("{name} contains characters a URL cannot: {url:?}"));
            }
        }
        schemas::Topics::default()
            .status(schemas::Service::Webui, &self.instance)
            .map_err(|e| format!("instance: {e}"))?;
        if self.max_stream_clients == 0 {
            return Err("max_stream_clients must be at least 1".into());
        }
        Ok(())
    }

    /// Origins outside this one that pages may fetch from and open WebSockets to (for the CSP).
    pub(crate) fn remote_origins(&self) -> Vec<String> {
        let mut origins = Vec::new();
        for url in [&self.mps_server, &self.rps_server] {
            if let Some(origin) = origin_of(url) {
                let ws = origin
                    .replacen("https://", "wss://", 1)
                    .replacen("http://", "ws://", 1);
                for o in [origin, ws] {
                    if !origins.contains(&o) {
                        origins.push(o);
                    }
                }
            }
        }
        origins
    }
}

/// `scheme://host[:port]` of an absolute URL; `None` for a path.
fn origin_of(url: &str) -> Option<String> {
    let (scheme, rest) = url.split_once("://")?;
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    (!host.is_empty()).then(|| format!("{scheme}://{host}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn valid() -> WebuiConfig {
        WebuiConfig {
            jwt_secret: "s".into(),
            ..Default::default()
        }
    }

    #[test]
    fn defaults_point_at_the_gateway_on_the_same_origin() {
        let c = valid();
        assert_eq!(c.validate(), Ok(()));
        assert_eq!(c.mps_server, "/mps");
        assert_eq!(c.rps_server, "/rps");
        assert!(c.remote_origins().is_empty());
    }

    #[test]
    fn refuses_a_missing_secret_and_odd_urls() {
        assert!(WebuiConfig::default().validate().is_err());
        for bad in ["mps", "javascript:alert(1)", "/mps\"", "http://a b"] {
            let c = WebuiConfig {
                mps_server: bad.into(),
                ..valid()
            };
            assert!(c.validate().is_err(), "{bad}");
        }
        let c = WebuiConfig {
            instance: "a/b".into(),
            ..valid()
        };
        assert!(c.validate().is_err());
    }

    #[test]
    fn absolute_servers_become_csp_origins_with_their_websocket_twins() {
        let c = WebuiConfig {
            mps_server: "http://127.0.0.1:3000".into(),
            rps_server: "https://rps.example:8443/base".into(),
            ..valid()
        };
        assert_eq!(
            c.remote_origins(),
            [
                "http://127.0.0.1:3000",
                "ws://127.0.0.1:3000",
                "https://rps.example:8443",
                "wss://rps.example:8443"
            ]
        );
    }

    #[test]
    fn debug_hides_the_secret() {
        let c = WebuiConfig {
            jwt_secret: "very-secret".into(),
            ..Default::default()
        };
        assert!(!format!("{c:?}").contains("very-secret"));
    }
}
