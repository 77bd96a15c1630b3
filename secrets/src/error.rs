use std::path::PathBuf;

/// Everything that can go wrong with a secret store. No variant carries a secret value.
#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("invalid secret store configuration: {0}")]
    Config(String),
    #[error("invalid secret path {0:?}")]
    InvalidPath(String),
    #[error("vault request for {path:?} failed: {source}")]
    Vault {
        path: String,
        #[source]
        source: Box<vaultrs::error::ClientError>,
    },
    #[error("vault at {address} is unreachable: {message}")]
    Unavailable { address: String, message: String },
    #[error("secret at {path:?} is not a JSON object")]
    Malformed { path: String },
    #[error("secret store file {}: {source}", path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("secret store file {} failed authentication: tampered, or encrypted under another key", path.display())]
    Tampered { path: PathBuf },
    #[error("secret store key {} is invalid: {reason}", path.display())]
    BadKey { path: PathBuf, reason: String },
}

impl SecretError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}
