//! The local encrypted store: one file per secret path, sealed with ChaCha20-Poly1305.
//!
//! Layout of `dir`:
//! - `secret.key`: 32 random bytes, mode 0600, created on first open;
//! - `<sha256(path) hex>.secret`: `MAGIC ‖ nonce(12) ‖ ciphertext+tag` of the JSON object. The path is the
//!   associated data, so a file copied over another path's file fails authentication instead of answering for it.
//!
//! Writes go to a unique temporary file that is synced and renamed over the target, so a reader sees the old
//! or the new object, never half of one, and concurrent writers (threads or processes) cannot corrupt a file.

use std::fs;
use std::io::{ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chacha20poly1305::aead::{Aead, KeyInit, Payload};
use chacha20poly1305::{ChaCha20Poly1305, Key, Nonce};
use rand::RngCore;
use sha2::{Digest, Sha256};

use crate::{SecretError, SecretMap, SecretStore, SecretStoreHealth, check_path};

const KEY_FILE: &str = "secret.key";
const KEY_LEN: usize = 32;
const NONCE_LEN: usize = 12;
/// File format tag and version: lets a future format change be recognised instead of failing as "tampered".
const MAGIC: &[u8; 4] = b"OAS1";

/// Encrypted file store in one directory. Cheap to clone.
#[derive(Clone)]
pub struct LocalStore {
    inner: Arc<Files>,
}

struct Files {
    dir: PathBuf,
    cipher: ChaCha20Poly1305,
}

impl LocalStore {
    /// Opens (creating on first use) the store in `dir` and its key.
    pub fn open(dir: &Path) -> Result<Self, SecretError> {
        create_private_dir(dir)?;
        let key = load_or_create_key(&dir.join(KEY_FILE))?;
        let files = Files {
            dir: dir.to_owned(),
            cipher: ChaCha20Poly1305::new(Key::from_slice(&key)),
        };
        Ok(Self {
            inner: Arc::new(files),
        })
    }
}

impl Files {
    fn file_for(&self, path: &str) -> Result<PathBuf, SecretError> {
        check_path(path)?;
        Ok(self.dir.join(format!(
            "{}.secret",
            hex::encode(Sha256::digest(path.as_bytes()))
        )))
    }

    fn seal(&self, path: &str, data: &SecretMap) -> Result<Vec<u8>, SecretError> {
        let plain = serde_json::to_vec(data).map_err(|_| SecretError::Malformed {
            path: path.to_owned(),
        })?;
        let mut nonce = [0u8; NONCE_LEN];
        rand::rng().fill_bytes(&mut nonce);
        let sealed = self
            .cipher
            .encrypt(
                Nonce::from_slice(&nonce),
                Payload {
                    msg: &plain,
                    aad: path.as_bytes(),
                },
            )
            .map_err(|_| SecretError::Malformed {
                path: path.to_owned(),
            })?;
        let mut out = Vec::with_capacity(MAGIC.len() + NONCE_LEN + sealed.len());
        out.extend_from_slice(MAGIC);
        out.extend_from_slice(&nonce);
        out.extend_from_slice(&sealed);
        Ok(out)
    }

    fn open_sealed(&self, path: &str, file: &Path, bytes: &[u8]) -> Result<SecretMap, SecretError> {
        let tampered = || SecretError::Tampered {
            path: file.to_owned(),
        };
        let rest = bytes.strip_prefix(MAGIC.as_slice()).ok_or_else(tampered)?;
        if rest.len() < NONCE_LEN {
            return Err(tampered());
        }
        let (nonce, sealed) = rest.split_at(NONCE_LEN);
        let plain = self
            .cipher
            .decrypt(
                Nonce::from_slice(nonce),
                Payload {
                    msg: sealed,
                    aad: path.as_bytes(),
                },
            )
            .map_err(|_| tampered())?;
        serde_json::from_slice(&plain).map_err(|_| SecretError::Malformed {
            path: path.to_owned(),
        })
    }

    fn get_blocking(&self, path: &str) -> Result<Option<SecretMap>, SecretError> {
        let file = self.file_for(path)?;
        match fs::read(&file) {
            Ok(bytes) => self.open_sealed(path, &file, &bytes).map(Some),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(None),
            Err(e) => Err(SecretError::io(file, e)),
        }
    }

    fn put_blocking(&self, path: &str, data: &SecretMap) -> Result<(), SecretError> {
        let file = self.file_for(path)?;
        let sealed = self.seal(path, data)?;
        write_atomically(&file, &sealed)
    }

    fn delete_blocking(&self, path: &str) -> Result<(), SecretError> {
        let file = self.file_for(path)?;
        match fs::remove_file(&file) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == ErrorKind::NotFound => Ok(()),
            Err(e) => Err(SecretError::io(file, e)),
        }
    }
}

/// Runs blocking file work off the async workers.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> Result<T, SecretError> + Send + 'static,
) -> Result<T, SecretError> {
    tokio::task::spawn_blocking(work).await.unwrap_or_else(|e| {
        Err(SecretError::io(
            "<blocking task>",
            std::io::Error::other(e.to_string()),
        ))
    })
}

#[async_trait::async_trait]
impl SecretStore for LocalStore {
    async fn get(&self, path: &str) -> Result<Option<SecretMap>, SecretError> {
        let (store, path) = (Arc::clone(&self.inner), path.to_owned());
        blocking(move || store.get_blocking(&path)).await
    }

    async fn put(&self, path: &str, data: SecretMap) -> Result<(), SecretError> {
        let (store, path) = (Arc::clone(&self.inner), path.to_owned());
        blocking(move || store.put_blocking(&path, &data)).await
    }

    async fn delete(&self, path: &str) -> Result<(), SecretError> {
        let (store, path) = (Arc::clone(&self.inner), path.to_owned());
        blocking(move || store.delete_blocking(&path)).await
    }

    async fn health(&self) -> Result<SecretStoreHealth, SecretError> {
        let dir = self.inner.dir.clone();
        let ready = tokio::task::spawn_blocking(move || dir.join(KEY_FILE).is_file())
            .await
            .unwrap_or(false);
        Ok(SecretStoreHealth {
            name: "LOCAL".into(),
            status: serde_json::json!({ "initialized": ready, "sealed": false }),
            ready,
        })
    }
}

fn create_private_dir(dir: &Path) -> Result<(), SecretError> {
    let mut builder = fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    std::os::unix::fs::DirBuilderExt::mode(&mut builder, 0o700);
    builder.create(dir).map_err(|e| SecretError::io(dir, e))
}

/// Reads the key, or creates it. Creation writes a private temporary file and hard-links it to `secret.key`: the
/// link either wins or finds another process's key, so concurrent first opens agree on one key and no reader can
/// see a half-written key.
fn load_or_create_key(file: &Path) -> Result<[u8; KEY_LEN], SecretError> {
    match read_key(file) {
        Err(SecretError::Io { source, .. }) if source.kind() == ErrorKind::NotFound => {}
        other => return other,
    }
    let mut key = [0u8; KEY_LEN];
    rand::rng().fill_bytes(&mut key);
    let tmp = temp_name(file);
    write_private(&tmp, &key)?;
    let linked = fs::hard_link(&tmp, file);
    let _ = fs::remove_file(&tmp);
    match linked {
        Ok(()) => {
            tracing::info!(path = %file.display(), "created a new secret store key");
            Ok(key)
        }
        Err(e) if e.kind() == ErrorKind::AlreadyExists => read_key(file),
        Err(e) => Err(SecretError::io(file, e)),
    }
}

fn read_key(file: &Path) -> Result<[u8; KEY_LEN], SecretError> {
    let bytes = fs::read(file).map_err(|e| SecretError::io(file, e))?;
    bytes
        .as_slice()
        .try_into()
        .map_err(|_| SecretError::BadKey {
            path: file.to_owned(),
            reason: format!("expected {KEY_LEN} bytes, found {}", bytes.len()),
        })
}

fn temp_name(target: &Path) -> PathBuf {
    let mut name = target.as_os_str().to_owned();
    name.push(format!(".{:016x}.tmp", rand::random::<u64>()));
    PathBuf::from(name)
}

/// Creates `file` (which must not exist) with mode 0600 and `bytes`, synced to disk.
fn write_private(file: &Path, bytes: &[u8]) -> Result<(), SecretError> {
    let mut options = fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut f = options.open(file).map_err(|e| SecretError::io(file, e))?;
    f.write_all(bytes)
        .and_then(|()| f.sync_all())
        .map_err(|e| SecretError::io(file, e))
}

fn write_atomically(file: &Path, bytes: &[u8]) -> Result<(), SecretError> {
    let tmp = temp_name(file);
    let result = write_private(&tmp, bytes)
        .and_then(|()| fs::rename(&tmp, file).map_err(|e| SecretError::io(file, e)));
    if result.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    result
}
