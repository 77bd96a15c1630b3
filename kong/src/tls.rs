//! The gateway's certificate: issued by the data directory's CA (the `certs` crate), so clients that
//! trust `ca.pem` trust the gateway, and reused across restarts.

use std::{path::Path, sync::Arc};

use certs::{CertError, CertStore, KeyKind, LeafSpec};

/// A TLS server configuration for the gateway covering `hosts` (the names clients use), HTTP/1.1 by ALPN.
pub fn from_data_dir(dir: &Path, hosts: &[String]) -> Result<Arc<rustls::ServerConfig>, CertError> {
    let store = CertStore::open(dir)?;
    let common_name = hosts.first().map(String::as_str).unwrap_or("localhost");
    let issued = store.leaf(&LeafSpec {
        name: "gateway",
        common_name,
        hosts,
        key: KeyKind::EcdsaP256,
    })?;
    let mut config = certs::server_config(&issued)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}
