//! Kong's secret references, `{vault://env/<name>}`, so no secret is committed in kong.yaml.
//!
//! Kong's `env` vault reads the environment variable named by upper-casing `<name>` and turning `-` into
//! `_` (`{vault://env/mps-jwt-secret}` → `MPS_JWT_SECRET`). The embedded gateway resolves the same
//! syntax, first from values its caller supplies, then from that environment variable.
//!
//! Caution, found in Kong 3.9's source: a reference is only resolved in fields Kong marks
//! `referenceable`, and `jwt_secrets.secret` is not one of them. Real Kong would take the reference
//! text literally as the HMAC secret, so compose.yaml hands Kong a copy of kong.yaml with the reference
//! already replaced (see [`render`], used by `secrets::generate`).

use std::collections::HashMap;

use crate::declarative::ConfigError;

/// A parsed `{vault://env/<name>}`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reference {
    pub name: String,
}

impl Reference {
    /// `Some` when the whole value is a reference. Only the `env` vault is supported.
    pub fn parse(value: &str) -> Result<Option<Reference>, ConfigError> {
        let Some(inner) = value
            .trim()
            .strip_prefix("{vault://")
            .and_then(|v| v.strip_suffix('}'))
        else {
            return Ok(None);
        };
        let unsupported = || {
            ConfigError::Invalid(format!(
                "secret reference {value:?} is not supported (use {{vault://env/<name>}})"
            ))
        };
        let (vault, name) = inner.split_once('/').ok_or_else(unsupported)?;
        let valid_name = !name.is_empty()
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        if vault != "env" || !valid_name {
            return Err(unsupported());
        }
        Ok(Some(Reference {
            name: name.to_owned(),
        }))
    }

    /// The environment variable Kong's env vault reads.
    pub fn env_var(&self) -> String {
        self.name.to_ascii_uppercase().replace('-', "_")
    }
}

/// Resolves references: explicit values first (keyed by reference name), then the environment.
#[derive(Clone, Default)]
pub struct Resolver {
    values: HashMap<String, String>,
    use_environment: bool,
}

impl std::fmt::Debug for Resolver {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Resolver")
            .field("names", &self.values.keys().collect::<Vec<_>>())
            .field("use_environment", &self.use_environment)
            .finish()
    }
}

impl Resolver {
    /// Values from the process environment only.
    pub fn from_environment() -> Self {
        Resolver {
            values: HashMap::new(),
            use_environment: true,
        }
    }

    /// Explicit values only (tests, and callers that hold the secret already).
    pub fn with_values(values: HashMap<String, String>) -> Self {
        Resolver {
            values,
            use_environment: false,
        }
    }

    /// Adds one explicit value (taking precedence over the environment).
    pub fn set(&mut self, name: &str, value: &str) {
        self.values.insert(name.to_owned(), value.to_owned());
    }

    pub fn and_environment(mut self) -> Self {
        self.use_environment = true;
        self
    }

    /// The value itself, or what its reference points at. A reference that resolves to nothing or to
    /// an empty string is an error: a gateway must never run with an empty HMAC secret.
    pub fn resolve(&self, value: &str) -> Result<String, ConfigError> {
        let Some(reference) = Reference::parse(value)? else {
            return Ok(value.to_owned());
        };
        let found = self.values.get(&reference.name).cloned().or_else(|| {
            self.use_environment
                .then(|| std::env::var(reference.env_var()).ok())
                .flatten()
        });
        match found {
            Some(v) if !v.is_empty() => Ok(v),
            _ => Err(ConfigError::Invalid(format!(
                "secret reference {value:?} has no value (set {} or pass it to the gateway)",
                reference.env_var()
            ))),
        }
    }
}

/// Replaces every `{vault://env/<name>}` in a kong.yaml text with its value, leaving the rest of the file
/// byte for byte as it was. Values must be YAML-safe inside the quotes they replace (the generated
/// secrets are alphanumeric).
pub fn render(text: &str, resolver: &Resolver) -> Result<String, ConfigError> {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(start) = rest.find("{vault://") {
        let Some(len) = rest[start..].find('}') else {
            break;
        };
        let reference = &rest[start..start + len + 1];
        out.push_str(&rest[..start]);
        let value = resolver.resolve(reference)?;
        if value.chars().any(|c| matches!(c, '"' | '\\' | '\n' | '\r')) {
            return Err(ConfigError::Invalid(format!(
                "the value of {reference} contains characters that cannot be placed in kong.yaml"
            )));
        }
        out.push_str(&value);
        rest = &rest[start + len + 1..];
    }
    out.push_str(rest);
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_env_references_like_kong() {
        let r = Reference::parse("{vault://env/mps-jwt-secret}")
            .unwrap()
            .unwrap();
        assert_eq!(r.env_var(), "MPS_JWT_SECRET");
        assert_eq!(Reference::parse("plain").unwrap(), None);
        assert!(Reference::parse("{vault://aws/thing}").is_err());
        assert!(Reference::parse("{vault://env/a/b}").is_err());
        assert!(Reference::parse("{vault://env/}").is_err());
    }

    #[test]
    fn explicit_values_first_and_never_empty() {
        let mut resolver = Resolver::default();
        assert!(resolver.resolve("{vault://env/x}").is_err());
        resolver.set("x", "");
        assert!(resolver.resolve("{vault://env/x}").is_err());
        resolver.set("x", "s3cret");
        assert_eq!(resolver.resolve("{vault://env/x}").unwrap(), "s3cret");
        assert_eq!(resolver.resolve("literal").unwrap(), "literal");
        assert!(!format!("{resolver:?}").contains("s3cret"));
    }

    #[test]
    fn renders_in_place() {
        let mut resolver = Resolver::default();
        resolver.set("mps-jwt-secret", "abc123");
        let text = "a: 1\n    secret: \"{vault://env/mps-jwt-secret}\" # the MPS secret\nb: 2\n";
        assert_eq!(
            render(text, &resolver).unwrap(),
            "a: 1\n    secret: \"abc123\" # the MPS secret\nb: 2\n"
        );
        resolver.set("mps-jwt-secret", "bad\"quote");
        assert!(render(text, &resolver).is_err());
    }
}
