//! Runs the UI's JavaScript unit tests (webui/tests/js/*.test.mjs) with Node's own test runner, so
//! `cargo test` covers the browser-side AMT redirection module byte for byte.

use std::path::Path;
use std::process::Command;

#[test]
fn the_ui_modules_pass_their_node_tests() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests")
        .join("js");
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .expect("webui/tests/js")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.to_string_lossy().ends_with(".test.mjs"))
        .collect();
    files.sort();
    assert!(
        !files.is_empty(),
        "no JavaScript tests in {}",
        dir.display()
    );
    let output = Command::new("node")
        .arg("--test")
        .args(&files)
        .output()
        .expect("node is installed (scripts/test installs it)");
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "node --test failed:\n{report}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(report.contains("# fail 0"), "{report}");
}
