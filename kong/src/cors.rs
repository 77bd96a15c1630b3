//! Kong's `cors` plugin: preflights are answered by the gateway (not forwarded), and every other
//! response gets the allow-origin headers.

use hyper::{HeaderMap, Method, Response, StatusCode, header, header::HeaderValue};
use serde::Deserialize;

use crate::{
    declarative::ConfigError,
    http::{Body, empty},
};

const DEFAULT_METHODS: &str = "GET,HEAD,PUT,PATCH,POST,DELETE,OPTIONS,TRACE,CONNECT";

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CorsConfig {
    #[serde(default)]
    pub origins: Vec<String>,
    #[serde(default)]
    pub methods: Vec<String>,
    #[serde(default)]
    pub headers: Vec<String>,
    #[serde(default)]
    pub exposed_headers: Vec<String>,
    #[serde(default)]
    pub credentials: bool,
    #[serde(default)]
    pub max_age: Option<u64>,
    #[serde(default)]
    pub preflight_continue: bool,
    #[serde(default)]
    pub private_network: bool,
}

impl CorsConfig {
    pub fn from_yaml(config: Option<&serde_yaml::Value>) -> Result<CorsConfig, ConfigError> {
        let config: CorsConfig = match config {
            Some(value) => serde_yaml::from_value(value.clone())?,
            None => CorsConfig::default(),
        };
        if let Some(origin) = config.origins.iter().find(|o| {
            *o != "*"
                && !o
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b".:/-".contains(&b))
        }) {
            return Err(ConfigError::Invalid(format!(
                "cors: origin patterns such as {origin:?} are not supported (use exact origins or *)"
            )));
        }
        Ok(config)
    }

    fn allows_all(&self) -> bool {
        self.origins.is_empty() || (self.origins.len() == 1 && self.origins[0] == "*")
    }

    /// The preflight answer, when the request is one and the plugin answers it itself.
    pub fn preflight(&self, method: &Method, request: &HeaderMap) -> Option<Response<Body>> {
        if method != Method::OPTIONS
            || !request.contains_key(header::ORIGIN)
            || !request.contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
            || self.preflight_continue
        {
            return None;
        }
        let mut response = Response::builder()
            .status(StatusCode::OK)
            .header(header::CONTENT_LENGTH, 0)
            .header(header::SERVER, crate::SERVER)
            .body(empty())
            .unwrap_or_else(|_| Response::new(empty()));
        let headers = response.headers_mut();
        self.apply_origin(request, headers);
        if self.headers.is_empty() {
            if let Some(asked) = request.get(header::ACCESS_CONTROL_REQUEST_HEADERS) {
                headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, asked.clone());
            }
        } else if let Ok(v) = HeaderValue::from_str(&self.headers.join(",")) {
            headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, v);
        }
        let methods = if self.methods.is_empty() {
            DEFAULT_METHODS.to_owned()
        } else {
            self.methods.join(",")
        };
        if let Ok(v) = HeaderValue::from_str(&methods) {
            headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, v);
        }
        if let Some(max_age) = self.max_age {
            headers.insert(header::ACCESS_CONTROL_MAX_AGE, max_age.into());
        }
        if self.private_network
            && request
                .get("access-control-request-private-network")
                .is_some_and(|v| v == "true")
        {
            headers.insert(
                "access-control-allow-private-network",
                HeaderValue::from_static("true"),
            );
        }
        Some(response)
    }

    /// The headers every other response gets (Kong's `header_filter`).
    pub fn apply(&self, request: &HeaderMap, response: &mut HeaderMap) {
        self.apply_origin(request, response);
        if !self.exposed_headers.is_empty()
            && let Ok(v) = HeaderValue::from_str(&self.exposed_headers.join(","))
        {
            response.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, v);
        }
    }

    fn apply_origin(&self, request: &HeaderMap, response: &mut HeaderMap) {
        let origin = request.get(header::ORIGIN);
        if self.allows_all() {
            response.insert(
                header::ACCESS_CONTROL_ALLOW_ORIGIN,
                HeaderValue::from_static("*"),
            );
            if self.credentials
                && let Some(origin) = origin
            {
                // `*` cannot go with credentials: echo the origin instead.
                response.insert(header::VARY, HeaderValue::from_static("Origin"));
                response.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin.clone());
                response.insert(
                    header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                    HeaderValue::from_static("true"),
                );
            }
            return;
        }
        response.insert(header::VARY, HeaderValue::from_static("Origin"));
        let allowed = if self.origins.len() == 1 {
            HeaderValue::from_str(&self.origins[0]).ok()
        } else {
            origin
                .and_then(|o| o.to_str().ok())
                .filter(|o| self.origins.iter().any(|allowed| allowed == o))
                .and_then(|o| HeaderValue::from_str(o).ok())
        };
        match allowed {
            Some(v) => {
                response.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, v);
                if self.credentials {
                    response.insert(
                        header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
                        HeaderValue::from_static("true"),
                    );
                }
            }
            None => {
                response.remove(header::ACCESS_CONTROL_ALLOW_ORIGIN);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_preflight_echoes_the_asked_headers() {
        let cors = CorsConfig::from_yaml(None).unwrap();
        let mut request = HeaderMap::new();
        request.insert(header::ORIGIN, "https://ui.example".parse().unwrap());
        request.insert(
            header::ACCESS_CONTROL_REQUEST_METHOD,
            "PATCH".parse().unwrap(),
        );
        request.insert(
            header::ACCESS_CONTROL_REQUEST_HEADERS,
            "authorization,content-type".parse().unwrap(),
        );
        let response = cors.preflight(&Method::OPTIONS, &request).unwrap();
        assert_eq!(response.status(), 200);
        let h = response.headers();
        assert_eq!(h[header::ACCESS_CONTROL_ALLOW_ORIGIN], "*");
        assert_eq!(
            h[header::ACCESS_CONTROL_ALLOW_HEADERS],
            "authorization,content-type"
        );
        assert_eq!(h[header::ACCESS_CONTROL_ALLOW_METHODS], DEFAULT_METHODS);
        assert!(cors.preflight(&Method::GET, &request).is_none());
        request.remove(header::ACCESS_CONTROL_REQUEST_METHOD);
        assert!(
            cors.preflight(&Method::OPTIONS, &request).is_none(),
            "not a preflight"
        );
    }

    #[test]
    fn exact_origins_and_rejected_patterns() {
        let yaml = serde_yaml::from_str("origins: [https://a.example, https://b.example]").unwrap();
        let cors = CorsConfig::from_yaml(Some(&yaml)).unwrap();
        let mut request = HeaderMap::new();
        request.insert(header::ORIGIN, "https://b.example".parse().unwrap());
        let mut response = HeaderMap::new();
        cors.apply(&request, &mut response);
        assert_eq!(
            response[header::ACCESS_CONTROL_ALLOW_ORIGIN],
            "https://b.example"
        );
        request.insert(header::ORIGIN, "https://evil.example".parse().unwrap());
        let mut response = HeaderMap::new();
        cors.apply(&request, &mut response);
        assert!(!response.contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN));
        let pattern = serde_yaml::from_str("origins: ['.*\\.example']").unwrap();
        assert!(CorsConfig::from_yaml(Some(&pattern)).is_err());
    }
}
