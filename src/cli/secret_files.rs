//! The `<NAME>_FILE` convention of container images: when `MPS_JWT_SECRET_FILE` is set and
//! `MPS_JWT_SECRET` is not, the file's contents become `MPS_JWT_SECRET`. Secrets then reach the
//! services as files in a volume (compose.yaml), never in the environment of the compose file.
//! Only openamt's own variables take part (`MPS_`, `RPS_`, `OPENAMT_`, `WEBUI_`).

use anyhow::Context;

const PREFIXES: &[&str] = &["MPS_", "RPS_", "OPENAMT_", "WEBUI_"];

/// Reads every `<NAME>_FILE` of ours into `<NAME>`. Call before any thread starts: it sets environment
/// variables.
pub fn load() -> anyhow::Result<()> {
    let files: Vec<(String, std::ffi::OsString)> = std::env::vars_os()
        .filter_map(|(name, value)| {
            let name = name.into_string().ok()?;
            let base = name.strip_suffix("_FILE")?.to_owned();
            if !PREFIXES.iter().any(|p| base.starts_with(p)) {
                return None;
            }
            (!base.is_empty() && std::env::var_os(&base).is_none()).then_some((base, value))
        })
        .collect();
    for (name, path) in files {
        let value = std::fs::read_to_string(&path)
            .with_context(|| format!("{name}_FILE: cannot read {}", path.to_string_lossy()))?;
        let value = value.trim_end_matches(['\n', '\r']);
        // SAFETY: called at the top of `main`, before the async runtime or any other thread exists,
        // so nothing can read the environment concurrently.
        unsafe { std::env::set_var(&name, value) };
    }
    Ok(())
}
