//! Where the tests' child processes write, and what a failing test shows of it.

use std::{fs::File, path::PathBuf};

/// A random alphanumeric string (passwords, secrets, names) of `len` characters.
pub fn random(len: usize) -> String {
    use rand::{Rng, distr::Alphanumeric};
    rand::rng()
        .sample_iter(&Alphanumeric)
        .take(len)
        .map(char::from)
        .collect()
}

/// Every child's stderr in a file of `dir`; the last lines of each are printed if the test fails.
pub struct Logs {
    pub dir: PathBuf,
}

impl Logs {
    /// `<dir>/<name>.log`, appended to (a restarted process keeps one log).
    pub fn file(&self, name: &str) -> File {
        std::fs::create_dir_all(&self.dir).unwrap();
        File::options()
            .create(true)
            .append(true)
            .open(self.dir.join(format!("{name}.log")))
            .unwrap()
    }

    pub fn read(&self, name: &str) -> String {
        std::fs::read_to_string(self.dir.join(format!("{name}.log"))).unwrap_or_default()
    }
}

impl Drop for Logs {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            return;
        }
        for entry in std::fs::read_dir(&self.dir).into_iter().flatten().flatten() {
            let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
            let lines: Vec<&str> = text.lines().collect();
            let tail = lines[lines.len().saturating_sub(60)..].join("\n");
            eprintln!("---- {} ----\n{tail}", entry.path().display());
        }
    }
}
