//! The TLS side of a CIRA tunnel: which roots a device trusts, and one shared client config per
//! distinct trust anchor (thousands of devices must not each build their own). The MPS certificate
//! is checked as firmware checks it (see [`super::verify`]).

use rustls::ClientConfig;
use rustls::pki_types::{CertificateDer, pem::PemObject};
use std::collections::HashMap;
use std::path::Path;
use std::sync::{Arc, Mutex};
use thiserror::Error;

use super::generation::{Generation, LEGACY_SUITES};
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
    #[error("legacy TLS (OpenSSL): {0}")]
    Legacy(String),
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

/// How a device makes its TLS connection to the MPS.
#[derive(Clone)]
pub enum Connector {
    /// AMT 16 and later: rustls, TLS 1.2 (and 1.3 for AMT 19) with ECDHE.
    Rustls(Arc<ClientConfig>),
    /// AMT 11/12: OpenSSL, TLS 1.0 to 1.2 with static-RSA and DHE suites. The MPS name is checked
    /// by OpenSSL's host check, which reads the CN only when the certificate has no DNS SAN, as
    /// firmware does.
    OpenSsl(Arc<openssl::ssl::SslConnector>),
}

/// Hands out connectors, one per set of trusted roots.
///
/// Real AMT devices never resume each other's sessions, so resumption is disabled: with one shared
/// config every simulated device would otherwise resume the first one's session and spare the MPS
/// the full handshake it has to make for real devices.
pub struct TlsConfigs {
    /// Trust anchors used when a device has no root of its own (`--ca`); `None` = system roots.
    fallback_roots: Option<Vec<Vec<u8>>>,
    tls13: bool,
    legacy: bool,
    cache: Mutex<HashMap<Option<Vec<u8>>, Connector>>,
}

impl TlsConfigs {
    /// `fallback_roots`: the roots of a CA file, trusted by devices without their own root.
    /// `tls13`: also offer TLS 1.3 (AMT firmware of the 11–16 generations speaks TLS 1.2 only).
    pub fn new(fallback_roots: Option<Vec<Vec<u8>>>, tls13: bool) -> TlsConfigs {
        TlsConfigs {
            fallback_roots,
            tls13,
            legacy: false,
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// Connectors of a firmware generation (`--tls13` adds TLS 1.3 to a modern one).
    pub fn for_generation(
        fallback_roots: Option<Vec<Vec<u8>>>,
        generation: Generation,
        tls13: bool,
    ) -> TlsConfigs {
        TlsConfigs {
            fallback_roots,
            tls13: tls13 || generation.offers_tls13(),
            legacy: generation.legacy_tls(),
            cache: Mutex::new(HashMap::new()),
        }
    }

    /// The connector for a device that trusts `device_root` (the root of its CIRA configuration).
    pub fn for_root(&self, device_root: Option<&[u8]>) -> Result<Connector, TlsSetupError> {
        let key = device_root.map(<[u8]>::to_vec);
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(connector) = cache.get(&key) {
            return Ok(connector.clone());
        }
        let roots: Option<Vec<Vec<u8>>> = match (device_root, &self.fallback_roots) {
            (Some(der), _) => Some(vec![der.to_vec()]),
            (None, Some(ders)) => Some(ders.clone()),
            (None, None) => None,
        };
        let connector = if self.legacy {
            Connector::OpenSsl(Arc::new(legacy_connector(roots.as_deref())?))
        } else {
            Connector::Rustls(self.rustls(roots.as_deref())?)
        };
        cache.insert(key, connector.clone());
        Ok(connector)
    }

    fn rustls(&self, ders: Option<&[Vec<u8>]>) -> Result<Arc<ClientConfig>, TlsSetupError> {
        let mut roots = rustls::RootCertStore::empty();
        match ders {
            Some(ders) => {
                for der in ders {
                    roots
                        .add(CertificateDer::from(der.clone()))
                        .map_err(TlsSetupError::BadRoot)?;
                }
            }
            None => roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned()),
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
        Ok(Arc::new(config))
    }
}

/// AMT 11/12's TLS: 1.0 to 1.2, static RSA and DHE, SHA-1 signatures allowed (security level 0).
fn legacy_connector(ders: Option<&[Vec<u8>]>) -> Result<openssl::ssl::SslConnector, TlsSetupError> {
    use openssl::ssl::{SslConnector, SslMethod, SslVerifyMode, SslVersion};
    let bad = |e: openssl::error::ErrorStack| TlsSetupError::Legacy(e.to_string());
    let mut b = SslConnector::builder(SslMethod::tls_client()).map_err(bad)?;
    b.set_security_level(0);
    b.set_min_proto_version(Some(SslVersion::TLS1))
        .map_err(bad)?;
    b.set_max_proto_version(Some(SslVersion::TLS1_2))
        .map_err(bad)?;
    b.set_cipher_list(LEGACY_SUITES).map_err(bad)?;
    match ders {
        Some(ders) => {
            for der in ders {
                let cert = openssl::x509::X509::from_der(der).map_err(bad)?;
                b.cert_store_mut().add_cert(cert).map_err(bad)?;
            }
        }
        None => b.set_default_verify_paths().map_err(bad)?,
    }
    b.set_verify(SslVerifyMode::PEER);
    Ok(b.build())
}
