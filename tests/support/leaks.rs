//! The check that no secret reached what a test produced: logs, captured events, responses.

use std::path::{Path, PathBuf};

use serde_json::Value;

/// Every file under `dir` (recursively) whose name ends with `.log`.
pub fn log_files(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            out.extend(log_files(&path));
        } else if path.extension().is_some_and(|e| e == "log") {
            out.push(path);
        }
    }
    out
}

/// Panics naming the file and the kind of secret when any of `secrets` (name, value) occurs in any of
/// `texts` (name, bytes). Values shorter than 8 bytes are too likely to occur by chance and are
/// skipped; the PEM header of a private key is always looked for.
pub fn assert_free_of_secrets(texts: &[(String, Vec<u8>)], secrets: &[(String, String)]) {
    let mut needles: Vec<(&str, &[u8])> = secrets
        .iter()
        .filter(|(_, value)| value.len() >= 8)
        .map(|(name, value)| (name.as_str(), value.as_bytes()))
        .collect();
    needles.push(("a private key", b"PRIVATE KEY-----"));
    assert!(
        needles.len() > 1,
        "no secrets to look for: the check would prove nothing"
    );
    for (name, text) in texts {
        for (what, needle) in &needles {
            assert!(
                !text.windows(needle.len()).any(|w| w == *needle),
                "{what} appears in {name}"
            );
        }
    }
}

/// The files as (path, contents), for [`assert_free_of_secrets`]; panics when there are none.
pub fn read_all(files: &[PathBuf]) -> Vec<(String, Vec<u8>)> {
    assert!(!files.is_empty(), "no log files to check");
    files
        .iter()
        .map(|f| {
            (
                f.display().to_string(),
                std::fs::read(f).unwrap_or_default(),
            )
        })
        .collect()
}

/// Every string under a key that names a password, secret, token or key, as (where, value).
pub fn secret_values(value: &Value, context: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    if let Value::Object(map) = value {
        for (key, value) in map {
            let lower = key.to_lowercase();
            let named_secret = ["password", "secret", "token", "key"]
                .iter()
                .any(|k| lower.contains(k));
            match value {
                Value::String(s) if named_secret => {
                    out.push((format!("{context}: {key}"), s.clone()))
                }
                Value::Object(_) | Value::Array(_) => {
                    out.extend(secret_values(value, &format!("{context}: {key}")))
                }
                _ => {}
            }
        }
    } else if let Value::Array(items) = value {
        for item in items {
            out.extend(secret_values(item, context));
        }
    }
    out
}

/// The secrets `openamt up` keeps in its data directory: the admin password and JWT secret, every
/// broker password, the enrolment credentials.
pub fn installation_secrets(data: &Path) -> Vec<(String, String)> {
    let read = |file: &str| -> Value {
        serde_json::from_slice(&std::fs::read(data.join(file)).expect("data file")).expect("JSON")
    };
    let mut out = secret_values(&read("installation.json"), "installation.json");
    out.extend(secret_values(
        &read("cira-enrolment.json"),
        "cira-enrolment.json",
    ));
    // The broker's credentials file maps each user to a password.
    if let Value::Object(users) = read("mqtt-credentials.json") {
        out.extend(users.into_iter().filter_map(|(user, password)| {
            Some((
                format!("broker password of {user}"),
                password.as_str()?.to_owned(),
            ))
        }));
    }
    out
}
