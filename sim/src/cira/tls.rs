//! The TLS side of a CIRA tunnel: which roots a device trusts, and one shared client config per
//! distinct trust anchor (thousands of devices must not each build their own). The MPS certificate
//! is checked as firmware checks it (see [`super::verify`]).

use rustls::ClientConfig;
use rustls::pki_types::{CertificateDer, pem::PemObject};
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use thiserror::Error;

use super::verify::FirmwareVerifier;

#[derive(Debug, Error)]
pub enum TlsSetupError {
    #[error("reading CA file {path}: {source}")]
    ReadCa {
        path: String,
        source: std::io::Error,
    },
    #[error("CA file {path} holds no PEM certificate")]
    EmptyCa { path: String },
    #[error("CA certificate rejected: {0}")]
    BadRoot(rustls::Error),
}

/// Reads every certificate of a PEM file (DER bytes each).
pub fn read_ca_file(path: &Path) -> Result<Vec<Vec<u8>>, TlsSetupError> {
    let shown = path.display().to_string();
    let pem = std::fs::read(path).map_err(|source| TlsSetupError::ReadCa {
        path: shown.clone(),
        source,
    })?;
    let certs: Vec<Vec<u8>> = CertificateDer::pem_slice_iter(&pem)
        .filter_map(Result::ok)
        .map(|c| c.as_ref().to_vec())
        .collect();
    if certs.is_empty() {
        return Err(TlsSetupError::EmptyCa { path: shown });
    }
    Ok(certs)
}

/// Hands out client configs, one per set of trusted roots.
///
/// Real AMT devices never resume each other's sessions, so resumption is disabled: with one shared
/// config every simulated device would otherwise resume the first one's session and spare the MPS
/// the full handshake it has to make for real devices.
pub struct TlsConfigs {
    /// Trust anchors used when a device has no root of its own (`--ca`); `None` = system roots.
    fallback_roots: Option<Vec<Vec<u8>>>,
    tls13: bool,
    cache: Mutex<HashMap<Option<Vec<u8>>, Arc<ClientConfig>>>,
}

impl TlsConfigs {
    /// `fallback_roots`: the roots of a CA file, trusted by devices without their own root.
    /// `tls13`: also offer TLS 1.3 (AMT firmware of the 11–16 generations speaks TLS 1.2 only).
    pub fn new(fallback_roots: Option<Vec<Vec<u8>>>, tls13: bool) -> TlsConfigs {
        TlsConfigs {
            fallback_roots,
            tls13,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The config for a device that trusts `device_root` (the root of its CIRA configuration).
    pub fn for_root(&self, device_root: Option<&[u8]>) -> Result<Arc<ClientConfig>, TlsSetupError> {
        let key = device_root.map(<[u8]>::to_vec);
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(config) = cache.get(&key) {
            return Ok(config.clone());
        }
        let mut roots = rustls::RootCertStore::empty();
        match (device_root, &self.fallback_roots) {
            (Some(der), _) => roots
                .add(CertificateDer::from(der.to_vec()))
                .map_err(TlsSetupError::BadRoot)?,
            (None, Some(ders)) => {
                for der in ders {
                    roots
                        .add(CertificateDer::from(der.clone()))
                        .map_err(TlsSetupError::BadRoot)?;
                }
            }
            (None, None) => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let versions: &[&rustls::SupportedProtocolVersion] = if self.tls13 {
            &[&rustls::version::TLS12, &rustls::version::TLS13]
        } else {
            &[&rustls::version::TLS12]
        };
        let provider_for_verifier = provider.clone();
        let mut config = ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(versions)
            .map_err(TlsSetupError::BadRoot)?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(
                FirmwareVerifier::new(roots, provider_for_verifier)
                    .map_err(|e| TlsSetupError::BadRoot(rustls::Error::General(e.to_string())))?,
            ))
            .with_no_client_auth();
        config.resumption = rustls::client::Resumption::disabled();
        let config = Arc::new(config);
        cache.insert(key, config.clone());
        Ok(config)
    }
}
