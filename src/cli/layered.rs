//! Service configuration the way the reference reads it: defaults, then a JSON rc file (`.mpsrc`,
//! `.rpsrc`), then environment variables named `<PREFIX>_<KEY>` (e.g. `MPS_WEB_PORT`), then flags.
//! Environment values are strings; each is read as the type the setting has (number, boolean, string,
//! JSON object), so a password made of digits stays a string.

use std::path::Path;

use anyhow::Context;
use serde::{Serialize, de::DeserializeOwned};
use serde_json::Value;

/// Reads `T` from its defaults, `rc_file` (if it exists) and the environment.
pub fn load<T: Serialize + DeserializeOwned + Default>(
    prefix: &str,
    rc_file: &Path,
) -> anyhow::Result<T> {
    let env: Vec<(String, String)> = std::env::vars().collect();
    load_from(prefix, rc_file, &env)
}

fn load_from<T: Serialize + DeserializeOwned + Default>(
    prefix: &str,
    rc_file: &Path,
    env: &[(String, String)],
) -> anyhow::Result<T> {
    let Value::Object(mut settings) = serde_json::to_value(T::default())? else {
        anyhow::bail!("settings must be a JSON object");
    };
    if let Ok(text) = std::fs::read_to_string(rc_file) {
        let Value::Object(rc) = serde_json::from_str(&text)
            .with_context(|| format!("{} is not JSON", rc_file.display()))?
        else {
            anyhow::bail!("{} must hold a JSON object", rc_file.display());
        };
        settings.extend(rc);
    }
    let env_prefix = format!("{prefix}_");
    for (name, value) in env {
        let Some(key) = name.strip_prefix(&env_prefix) else {
            continue;
        };
        let key = key.to_lowercase();
        let typed = typed_value(settings.get(&key), value)
            .with_context(|| format!("{name}: cannot read {value:?} as the setting's type"))?;
        settings.insert(key, typed);
    }
    serde_json::from_value(Value::Object(settings)).context("invalid settings")
}

/// Reads an environment string as the type of the setting's current value.
fn typed_value(current: Option<&Value>, raw: &str) -> anyhow::Result<Value> {
    Ok(match current {
        Some(Value::Bool(_)) => Value::Bool(match raw.trim().to_lowercase().as_str() {
            "true" | "1" | "yes" | "on" => true,
            "false" | "0" | "no" | "off" => false,
            _ => anyhow::bail!("not a boolean"),
        }),
        Some(Value::Number(_)) => Value::Number(raw.trim().parse()?),
        Some(Value::String(_)) => Value::String(raw.to_owned()),
        // Optional settings and objects: JSON when it parses, else the text.
        Some(Value::Null | Value::Object(_) | Value::Array(_)) | None => {
            serde_json::from_str(raw).unwrap_or_else(|_| Value::String(raw.to_owned()))
        }
    })
}

#[cfg(test)]
mod tests {
    use serde::Deserialize;
    use serde_json::Map;

    use super::*;

    #[derive(Serialize, Deserialize, Debug, PartialEq)]
    #[serde(default)]
    struct Settings {
        web_port: u16,
        web_auth_enabled: bool,
        web_admin_password: String,
        jwt_issuer: String,
        extra: Option<Map<String, Value>>,
    }

    impl Default for Settings {
        fn default() -> Self {
            Settings {
                web_port: 3000,
                web_auth_enabled: true,
                web_admin_password: String::new(),
                jwt_issuer: "issuer".into(),
                extra: None,
            }
        }
    }

    #[test]
    fn defaults_then_rc_file_then_environment() {
        let dir = tempfile::tempdir().unwrap();
        let rc = dir.path().join(".mpsrc");
        std::fs::write(&rc, r#"{"web_port": 4000, "jwt_issuer": "from-rc"}"#).unwrap();
        let env = vec![
            ("MPS_WEB_PORT".to_owned(), "5000".to_owned()),
            ("MPS_WEB_AUTH_ENABLED".to_owned(), "false".to_owned()),
            ("MPS_WEB_ADMIN_PASSWORD".to_owned(), "12345".to_owned()),
            ("MPS_EXTRA".to_owned(), r#"{"a":1}"#.to_owned()),
            ("RPS_WEB_PORT".to_owned(), "9".to_owned()),
        ];
        let settings: Settings = load_from("MPS", &rc, &env).unwrap();
        assert_eq!(settings.web_port, 5000);
        assert!(!settings.web_auth_enabled);
        assert_eq!(settings.web_admin_password, "12345", "digits stay a string");
        assert_eq!(settings.jwt_issuer, "from-rc");
        assert_eq!(settings.extra.unwrap()["a"], 1);
    }

    #[test]
    fn bad_values_name_the_variable() {
        let env = vec![("MPS_WEB_PORT".to_owned(), "lots".to_owned())];
        let error = load_from::<Settings>("MPS", Path::new("/nonexistent"), &env).unwrap_err();
        assert!(format!("{error:#}").contains("MPS_WEB_PORT"));
    }
}
