//! Reading and writing PEM files; private keys are written readable by the owner only.

use std::{
    fs,
    io::Write,
    path::{Path, PathBuf},
};

use crate::CertError;

fn io(action: &'static str, path: &Path) -> impl FnOnce(std::io::Error) -> CertError {
    let path = path.to_path_buf();
    move |source| CertError::Io {
        action,
        path,
        source,
    }
}

pub(crate) fn read(path: &Path) -> Result<Option<String>, CertError> {
    match fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io("read", path)(e)),
    }
}

/// Writes atomically (temporary file, then rename) so a crash never leaves half a certificate behind.
pub(crate) fn write(path: &Path, contents: &str, private: bool) -> Result<(), CertError> {
    let dir = path.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir).map_err(io("create", dir))?;
    let temp = temp_path(path);
    let mut options = fs::OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        options.mode(if private { 0o600 } else { 0o644 });
    }
    let mut file = options.open(&temp).map_err(io("create", &temp))?;
    file.write_all(contents.as_bytes())
        .and_then(|_| file.sync_all())
        .map_err(io("write", &temp))?;
    fs::rename(&temp, path).map_err(io("rename into", path))
}

fn temp_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_os_string();
    name.push(".tmp");
    path.with_file_name(name)
}
