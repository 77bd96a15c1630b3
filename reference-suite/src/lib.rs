//! The reference toolkit's own artifacts (its Postman collections, its init SQL, example WS-Man
//! answers of AMT) live outside this repository. Tests that run them find them through one setting,
//! `OPENAMT_REFERENCE_DIR`, defined here and nowhere else.
//!
//! - Set: that directory is used (an empty or missing one means "skip the reference suites").
//! - Unset: the `shared/reference` directory beside the checkout, when it exists (as it does in CI).
//! - Absent: each reference test says in one line what it skips and how to enable it, and passes.
//! - `OPENAMT_REFERENCE_REQUIRED=1` turns a missing artifact into a failure, so CI never skips
//!   them silently.
//!
//! Every test that runs a reference artifact is named `reference_suite_…`, so
//! `cargo test --workspace -- reference_suite_` runs exactly those.

use std::io::Write as _;
use std::path::{Path, PathBuf};

/// The setting naming the directory that holds the reference artifacts.
pub const DIR_VAR: &str = "OPENAMT_REFERENCE_DIR";
/// When `1`, a missing reference artifact fails the test instead of skipping it.
pub const REQUIRED_VAR: &str = "OPENAMT_REFERENCE_REQUIRED";

/// The repository's root (this crate sits directly under it).
fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .map(Path::to_path_buf)
        .unwrap_or_else(|| PathBuf::from("."))
}

/// The default: `shared/reference` in the directory that holds the checkout.
fn default_dir() -> PathBuf {
    workspace_root().join("../shared/reference")
}

/// The reference directory this run uses, whether or not it exists.
pub fn dir() -> PathBuf {
    match std::env::var_os(DIR_VAR) {
        Some(value) if !value.is_empty() => PathBuf::from(value),
        _ => default_dir(),
    }
}

/// Whether this run must have the reference artifacts (`OPENAMT_REFERENCE_REQUIRED=1`).
pub fn required() -> bool {
    std::env::var(REQUIRED_VAR).is_ok_and(|v| v == "1")
}

/// The artifact at `relative` (a file or a directory) under the reference directory, or `None`
/// after one line on stderr saying what is skipped and how to run it. `what` names the test's
/// subject, e.g. "the MPS Postman collection on SQLite".
///
/// Panics when the artifact is missing and [`REQUIRED_VAR`] is set.
pub fn artifact(relative: &str, what: &str) -> Option<PathBuf> {
    let path = dir().join(relative);
    if path.exists() {
        return Some(path);
    }
    let line = format!(
        "reference suite skipped: {what} needs {relative} under {}; set {DIR_VAR} to the reference toolkit's artifacts to run it",
        dir().display()
    );
    if required() {
        panic!("{line} ({REQUIRED_VAR}=1)");
    }
    // Written past the test harness's capture, so the skip shows in every run, passing or not.
    let _ = writeln!(std::io::stderr(), "{line}");
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_setting_wins_over_the_default() {
        // The only test of this binary touches the environment, so nothing can race it.
        let original = std::env::var_os(DIR_VAR);
        let empty = std::env::temp_dir().join(format!("no-reference-{}", std::process::id()));
        unsafe { std::env::set_var(DIR_VAR, &empty) };
        assert_eq!(dir(), empty);
        if !required() {
            assert_eq!(artifact("openamt-mps/initMPS.sql", "a unit test"), None);
        }
        unsafe { std::env::set_var(DIR_VAR, "") };
        assert_eq!(dir(), default_dir());
        unsafe { std::env::remove_var(DIR_VAR) };
        assert_eq!(dir(), default_dir());
        if let Some(original) = original {
            unsafe { std::env::set_var(DIR_VAR, original) };
        }
    }
}
