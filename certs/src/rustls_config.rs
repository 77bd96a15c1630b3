//! rustls configurations from the PEM material (ring provider only, see spec/crates.md).

use std::{path::Path, sync::Arc};

use rustls::{ClientConfig, RootCertStore, ServerConfig, crypto::ring};
use rustls_pki_types::{CertificateDer, PrivateKeyDer, pem::PemObject};

use crate::{CertError, Issued};

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(ring::default_provider())
}

/// A server configuration presenting the leaf and its CA (TLS 1.2 and 1.3).
pub fn server_config(issued: &Issued) -> Result<ServerConfig, CertError> {
    let invalid = |path: &Path, what| CertError::Invalid {
        path: path.to_path_buf(),
        what,
    };
    let mut chain: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(issued.cert_pem.as_bytes())
            .collect::<Result<_, _>>()
            .map_err(|_| invalid(&issued.cert_path, "certificate"))?;
    chain.extend(
        CertificateDer::pem_slice_iter(issued.ca_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|_| invalid(&issued.ca_path, "CA certificate"))?,
    );
    let key = PrivateKeyDer::from_pem_slice(issued.key_pem.as_bytes())
        .map_err(|_| invalid(&issued.key_path, "private key"))?;
    Ok(ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_single_cert(chain, key)?)
}

/// A client configuration that trusts exactly the CA certificates in `ca_pem`.
pub fn client_config(ca_pem: &[u8]) -> Result<ClientConfig, CertError> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem) {
        let cert = cert.map_err(|_| CertError::Invalid {
            path: "<CA PEM>".into(),
            what: "CA certificate",
        })?;
        roots.add(cert)?;
    }
    Ok(ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// Reads a PEM file, with the path in the error.
pub fn read_pem_file(path: &Path) -> Result<String, CertError> {
    std::fs::read_to_string(path).map_err(|source| CertError::Io {
        action: "read",
        path: path.to_path_buf(),
        source,
    })
}
