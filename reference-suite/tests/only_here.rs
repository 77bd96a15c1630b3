//! The reference directory is named in one place: this crate. Any other tracked file that names the
//! directory beside the checkout, or builds its path, would make a test depend on files a fresh
//! clone does not have.

use std::path::Path;
use std::process::Command;

/// What naming or building that path looks like. Built from pieces so that this file, which is
/// part of the definition, does not match itself.
fn forbidden() -> Vec<String> {
    let dir = "shared";
    vec![
        format!("../{dir}"),
        format!("/work/{dir}"),
        format!("join(\"{dir}\")"),
        format!("OPENAMT_{}_DIR", dir.to_uppercase()),
    ]
}

#[test]
fn no_file_outside_this_crate_names_the_reference_directory() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let listed = Command::new("git")
        .args(["ls-files", "-z"])
        .current_dir(&root)
        .output()
        .expect("git runs");
    assert!(listed.status.success(), "git ls-files failed");
    let patterns = forbidden();
    let mut offenders = Vec::new();
    for name in listed.stdout.split(|b| *b == 0).filter(|n| !n.is_empty()) {
        let name = String::from_utf8_lossy(name);
        if name.starts_with("reference-suite/") {
            continue;
        }
        let Ok(text) = std::fs::read(root.join(name.as_ref())) else {
            continue; // listed but deleted in the work tree
        };
        let text = String::from_utf8_lossy(&text);
        for (number, line) in text.lines().enumerate() {
            if let Some(p) = patterns.iter().find(|p| line.contains(p.as_str())) {
                offenders.push(format!("{name}:{}: names {p:?}", number + 1));
            }
        }
    }
    assert!(
        offenders.is_empty(),
        "only reference-suite/ may name the reference directory (use reference_suite::artifact):\n{}",
        offenders.join("\n")
    );
}

#[test]
fn reference_suite_directory_is_present() {
    // Runs with the reference suites; it fails when CI requires them and they are not there.
    for part in ["openamt-mps", "openamt-rps", "wsman-responses"] {
        reference_suite::artifact(part, "the reference directory check");
    }
}
