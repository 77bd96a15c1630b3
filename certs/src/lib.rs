//! TLS material for an installation: one local certificate authority, and leaf certificates it issues for the
//! broker, the gateway and the MPS CIRA listener. Everything is made on first start in the data directory and
//! reused afterwards, so clients that trust the CA keep trusting it across restarts.
//!
//! [`provisioning`] makes test and demo ACM provisioning chains (PKCS#12) for RPS's domains API.

mod authority;
mod files;
mod leaf;
pub mod provisioning;
mod rustls_config;

pub use authority::CertStore;
pub use leaf::{Issued, KeyKind, LeafSpec};
pub use rustls_config::{client_config, read_pem_file, server_config};

#[derive(Debug, thiserror::Error)]
pub enum CertError {
    #[error("cannot {action} {path}: {source}")]
    Io {
        action: &'static str,
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("cannot generate a key: {0}")]
    KeyGeneration(String),
    #[error("cannot issue the certificate: {0}")]
    Issue(#[from] rcgen::Error),
    #[error("{path} does not hold a usable {what}")]
    Invalid {
        path: std::path::PathBuf,
        what: &'static str,
    },
    #[error("cannot write the PKCS#12: {0}")]
    Pkcs12(String),
    #[error("TLS configuration: {0}")]
    Tls(#[from] rustls::Error),
}
