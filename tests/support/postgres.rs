//! A fresh database on the machine's Postgres (127.0.0.1:5432, user postgres, trust), dropped with
//! the value.

use std::process::Command;

pub struct Database {
    pub name: String,
}

fn psql(sql: &str) {
    let out = Command::new("psql")
        .args(["-h", "127.0.0.1", "-U", "postgres", "-d", "test"])
        .args(["-v", "ON_ERROR_STOP=1", "-c", sql])
        .output()
        .expect("psql must be installed to run the Postgres tests");
    assert!(
        out.status.success(),
        "psql {sql:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Database {
    /// `<prefix>_<random>`.
    pub fn create(prefix: &str) -> Database {
        let name = format!("{prefix}_{:016x}", rand::random::<u64>());
        psql(&format!("CREATE DATABASE {name}"));
        Database { name }
    }

    pub fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:5432/{}", self.name)
    }
}

impl Drop for Database {
    fn drop(&mut self) {
        psql(&format!(
            "DROP DATABASE IF EXISTS {} WITH (FORCE)",
            self.name
        ));
    }
}
