//! Broker credentials: one per service, a read-only `dashboard` one and an `operator` one for command
//! scripts. The embedded broker makes them on first start and keeps them in the data directory
//! (readable by the owner only), so every `openamt` command run in that directory finds them.

use std::{collections::BTreeMap, fmt, path::Path};

use rand::{Rng, distr::Alphanumeric};
use serde::{Deserialize, Serialize};

/// The users the shipped ACL knows.
pub const USERS: &[&str] = &["mps", "rps", "router", "webui", "dashboard", "operator"];

const FILE: &str = "mqtt-credentials.json";

/// User name → password.
#[derive(Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Credentials(BTreeMap<String, String>);

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_set().entries(self.0.keys()).finish()
    }
}

#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    #[error("cannot {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("{path} is not a credentials file: {source}")]
    Format {
        path: std::path::PathBuf,
        source: serde_json::Error,
    },
    #[error("no MQTT credential for user {0:?} in {1}")]
    Missing(String, std::path::PathBuf),
}

impl Credentials {
    pub fn password(&self, user: &str) -> Option<&str> {
        self.0.get(user).map(String::as_str)
    }

    pub fn set(&mut self, user: &str, password: &str) {
        self.0.insert(user.to_owned(), password.to_owned());
    }

    pub fn users(&self) -> impl Iterator<Item = &str> {
        self.0.keys().map(String::as_str)
    }

    /// Constant-time comparison, so a wrong password reveals nothing by its timing.
    pub fn verify(&self, user: &str, password: &[u8]) -> bool {
        let Some(expected) = self.0.get(user) else {
            return false;
        };
        let expected = expected.as_bytes();
        expected.len() == password.len()
            && expected
                .iter()
                .zip(password)
                .fold(0u8, |acc, (a, b)| acc | (a ^ b))
                == 0
    }

    /// Reads the credentials of a data directory.
    pub fn load(dir: &Path) -> Result<Credentials, CredentialsError> {
        let path = dir.join(FILE);
        let text = std::fs::read_to_string(&path).map_err(|source| CredentialsError::Io {
            action: "read",
            path: path.clone(),
            source,
        })?;
        serde_json::from_str(&text).map_err(|source| CredentialsError::Format { path, source })
    }

    /// The password of `user` in a data directory, with a clear error when there is none.
    pub fn load_password(dir: &Path, user: &str) -> Result<String, CredentialsError> {
        Credentials::load(dir)?
            .password(user)
            .map(str::to_owned)
            .ok_or_else(|| CredentialsError::Missing(user.to_owned(), dir.join(FILE)))
    }

    /// Loads the credentials of a data directory, adding a random password for every known user that has
    /// none (all of them on first start), and saves them back when anything was added.
    pub fn load_or_create(dir: &Path) -> Result<Credentials, CredentialsError> {
        let path = dir.join(FILE);
        let mut credentials = match Credentials::load(dir) {
            Ok(existing) => existing,
            Err(CredentialsError::Io { source, .. })
                if source.kind() == std::io::ErrorKind::NotFound =>
            {
                Credentials::default()
            }
            Err(e) => return Err(e),
        };
        let mut added = false;
        for user in USERS {
            if !credentials.0.contains_key(*user) {
                credentials.set(user, &random_password());
                added = true;
            }
        }
        if added {
            write_private(
                &path,
                &serde_json::to_string_pretty(&credentials).unwrap_or_default(),
            )?;
        }
        Ok(credentials)
    }
}

fn random_password() -> String {
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(24)
        .map(char::from)
        .collect()
}

fn write_private(path: &Path, contents: &str) -> Result<(), CredentialsError> {
    use std::io::Write;
    let io = |action| {
        move |source| CredentialsError::Io {
            action,
            path: path.to_path_buf(),
            source,
        }
    };
    if let Some(dir) = path.parent() {
        std::fs::create_dir_all(dir).map_err(io("create the directory of"))?;
    }
    let temp = path.with_extension("json.tmp");
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(0o600);
    }
    let mut file = options.open(&temp).map_err(io("create"))?;
    file.write_all(contents.as_bytes())
        .and_then(|_| file.sync_all())
        .map_err(io("write"))?;
    std::fs::rename(&temp, path).map_err(io("rename into"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_once_then_reused_and_never_printed() {
        let dir = tempfile::tempdir().unwrap();
        let first = Credentials::load_or_create(dir.path()).unwrap();
        for user in USERS {
            assert_eq!(first.password(user).map(str::len), Some(24));
        }
        let again = Credentials::load_or_create(dir.path()).unwrap();
        assert_eq!(first, again);
        let shown = format!("{first:?}");
        assert!(!shown.contains(first.password("mps").unwrap()));
        assert!(first.verify("mps", first.password("mps").unwrap().as_bytes()));
        assert!(!first.verify("mps", b"wrong"));
        assert!(!first.verify("nobody", b""));
    }
}
