//! The CIRA server's TLS material, kept where the reference keeps it: the secret store's `MPSCerts`
//! object (`mps_tls_config.{cert,key}`, `web_tls_config.{ca,cert,key}`, `root_key`). An existing
//! reference Vault therefore keeps its root CA (devices already trust it through their CIRA
//! profiles), and `GET /api/v1/ciracert` serves `web_tls_config.ca` exactly as the reference does.
//!
//! When nothing is stored and `generate_certificates` is on, a root CA ("MPSRoot-<6 hex>", RSA-3072,
//! SHA-384, 30 years) and an RSA server certificate for `common_name` are generated and stored.
//!
//! Which devices may connect follows `mps_tls_config.minVersion` and `ciphers` as the reference reads
//! them (its default: TLS 1.0 and its legacy cipher string, so AMT 11/12 firmware connects);
//! `MPS_CIRA_TLS_MIN_VERSION` overrides what is stored. See [`CiraTls`].

use std::sync::Arc;

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, SanType,
};
use rsa::pkcs8::EncodePrivateKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use secrets::SecretStore;
use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("secret store: {0}")]
    Secrets(#[from] secrets::SecretError),
    #[error("MPSCerts is missing and generate_certificates is off")]
    Missing,
    #[error("MPSCerts is malformed: {0}")]
    Malformed(String),
    #[error("certificate generation failed: {0}")]
    Generate(String),
    #[error("TLS configuration: {0}")]
    Rustls(#[from] rustls::Error),
    #[error("legacy TLS configuration (OpenSSL): {0}")]
    OpenSsl(#[from] openssl::error::ErrorStack),
    #[error("unknown minimum TLS version {0:?} (TLSv1, TLSv1.1, TLSv1.2 or TLSv1.3)")]
    MinVersion(String),
}

/// The reference's default `mps_tls_config.minVersion` (its `.mpsrc`): every AMT generation connects.
pub const DEFAULT_MIN_VERSION: &str = "TLSv1";
/// The reference's cipher string when the minimum is below TLS 1.2: static-RSA and DHE suites with
/// CBC and GCM, at OpenSSL's security level 0 (TLS 1.0/1.1 sign with SHA-1).
pub const LEGACY_CIPHERS: &str =
    "HIGH:!aNULL:!eNULL:!EXPORT:!DES:!RC4:!MD5:!PSK:!SRP:!CAMELLIA:@SECLEVEL=0";
/// The reference's cipher list for a minimum of TLS 1.2 or 1.3 (TLS 1.3 suites are OpenSSL's own).
pub const SECURE_CIPHERS: &str =
    "ECDHE-ECDSA-AES256-GCM-SHA384:ECDHE-RSA-AES256-GCM-SHA384:DHE-RSA-AES256-GCM-SHA384";

/// The CIRA port's TLS: rustls serves what it can (TLS 1.2 ECDHE-RSA AEAD and TLS 1.3, the cheaper
/// handshake and the smaller idle tunnel); OpenSSL serves the rest within the minimum version and
/// cipher string (AMT 11/12: TLS 1.0–1.2, static RSA and DHE suites).
pub struct CiraTls {
    pub rustls: Arc<rustls::ServerConfig>,
    pub openssl: openssl::ssl::SslAcceptor,
    /// 0x0301 (TLS 1.0) … 0x0304 (TLS 1.3).
    pub min_version: u16,
}

impl CiraTls {
    /// `min_version_override`: `MPS_CIRA_TLS_MIN_VERSION`; empty means what `MPSCerts` says (and
    /// TLS 1.0 when it says nothing).
    pub fn new(certs: &MpsCerts, min_version_override: &str) -> Result<CiraTls, TlsError> {
        let name = match min_version_override {
            "" => certs.min_version.as_deref().unwrap_or(DEFAULT_MIN_VERSION),
            set => set,
        };
        let (min_version, ssl_version) = match name {
            "TLSv1" => (0x0301, openssl::ssl::SslVersion::TLS1),
            "TLSv1.1" => (0x0302, openssl::ssl::SslVersion::TLS1_1),
            "TLSv1.2" => (0x0303, openssl::ssl::SslVersion::TLS1_2),
            "TLSv1.3" => (0x0304, openssl::ssl::SslVersion::TLS1_3),
            other => return Err(TlsError::MinVersion(other.to_owned())),
        };
        // As the reference: the stored cipher string where one is stored and the minimum is the
        // stored one, else the string that goes with the minimum.
        let ciphers = match (&certs.ciphers, min_version_override) {
            (Some(stored), "") if !stored.is_empty() => stored.as_str(),
            _ if min_version < 0x0303 => LEGACY_CIPHERS,
            _ => SECURE_CIPHERS,
        };
        Ok(CiraTls {
            rustls: server_config(certs)?,
            openssl: openssl_acceptor(certs, ssl_version, ciphers)?,
            min_version,
        })
    }
}

fn openssl_acceptor(
    certs: &MpsCerts,
    min: openssl::ssl::SslVersion,
    ciphers: &str,
) -> Result<openssl::ssl::SslAcceptor, TlsError> {
    use openssl::ssl::{SslAcceptor, SslMethod, SslOptions, SslSessionCacheMode, SslVerifyMode};
    // Mozilla's intermediate profile (FFDHE-2048 for DHE suites, curves, TLS 1.3 suites), opened
    // down to the reference's minimum.
    let mut b = SslAcceptor::mozilla_intermediate_v5(SslMethod::tls_server())?;
    b.clear_options(SslOptions::NO_TLSV1 | SslOptions::NO_TLSV1_1);
    b.set_min_proto_version(Some(min))?;
    b.set_max_proto_version(None)?;
    // Level 0 before the list: Debian's system default (level 2) refuses TLS 1.0/1.1 and SHA-1.
    b.set_security_level(0);
    b.set_cipher_list(ciphers)?;
    let key = openssl::pkey::PKey::private_key_from_pem(certs.server_key_pem.as_bytes())?;
    let mut chain = openssl::x509::X509::stack_from_pem(certs.server_cert_pem.as_bytes())?;
    if chain.is_empty() {
        return Err(TlsError::Malformed("server certificate: no PEM".into()));
    }
    b.set_private_key(&key)?;
    b.set_certificate(&chain.remove(0))?;
    for extra in chain {
        b.add_extra_chain_cert(extra)?;
    }
    if let Ok(root) = openssl::x509::X509::from_pem(certs.root_cert_pem.as_bytes()) {
        b.add_extra_chain_cert(root)?;
    }
    b.check_private_key()?;
    // As the reference (`requestCert: true, rejectUnauthorized: false`): ask, never insist.
    b.set_verify_callback(SslVerifyMode::PEER, |_, _| true);
    // Devices never resume; a session cache would only hold memory.
    b.set_session_cache_mode(SslSessionCacheMode::OFF);
    b.set_options(SslOptions::NO_TICKET);
    Ok(b.build())
}

/// PEM texts of the root CA and the CIRA server certificate.
#[derive(Clone)]
pub struct MpsCerts {
    pub root_cert_pem: String,
    pub server_cert_pem: String,
    server_key_pem: String,
    /// `mps_tls_config.minVersion` as stored (`TLSv1`, `TLSv1.1`, `TLSv1.2`, `TLSv1.3`).
    pub min_version: Option<String>,
    /// `mps_tls_config.ciphers` as stored (an OpenSSL cipher string).
    pub ciphers: Option<String>,
}

impl std::fmt::Debug for MpsCerts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MpsCerts")
            .field("server_key_pem", &"<redacted>")
            .finish_non_exhaustive()
    }
}

/// rsa 0.10 takes a rand_core 0.10 generator; this adapts the thread-local CSPRNG of `rand`.
struct CryptoRng10;

impl rsa::rand_core::TryRng for CryptoRng10 {
    type Error = std::convert::Infallible;
    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        Ok(rand::random())
    }
    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        Ok(rand::random())
    }
    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        rand::fill(dst);
        Ok(())
    }
}
impl rsa::rand_core::TryCryptoRng for CryptoRng10 {}

fn rsa_key(
    bits: usize,
    alg: &'static rcgen::SignatureAlgorithm,
) -> Result<(KeyPair, String), TlsError> {
    let key = rsa::PrivateKey::new(&mut CryptoRng10, bits)
        .map_err(|e| TlsError::Generate(e.to_string()))?;
    let der = key
        .to_pkcs8_der()
        .map_err(|e| TlsError::Generate(e.to_string()))?;
    let pkd = rustls_pki_types::PrivatePkcs8KeyDer::from(der.as_bytes().to_vec());
    let kp = KeyPair::from_pkcs8_der_and_sign_algo(&pkd, alg)
        .map_err(|e| TlsError::Generate(e.to_string()))?;
    let pem = kp.serialize_pem();
    Ok((kp, pem))
}

/// Generates a root CA and a server certificate signed by it.
pub fn generate(common_name: &str, server_key_bits: usize) -> Result<(MpsCerts, String), TlsError> {
    let gen_err = |e: rcgen::Error| TlsError::Generate(e.to_string());
    let (root_key, root_key_pem) = rsa_key(3072, &rcgen::PKCS_RSA_SHA384)?;
    let fingerprint = hex::encode(Sha256::digest(root_key.public_key_raw()));
    let mut root = CertificateParams::new(Vec::<String>::new()).map_err(gen_err)?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, format!("MPSRoot-{}", &fingerprint[..6]));
    dn.push(DnType::OrganizationName, "unknown");
    dn.push(DnType::CountryName, "unknown");
    root.distinguished_name = dn;
    root.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    root.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let now = time::OffsetDateTime::now_utc();
    root.not_before = now - time::Duration::days(365);
    root.not_after = now + time::Duration::days(365 * 30);
    let root_cert = root.self_signed(&root_key).map_err(gen_err)?;

    let alg = &rcgen::PKCS_RSA_SHA256;
    let (leaf_key, leaf_key_pem) = rsa_key(server_key_bits, alg)?;
    // Devices (and the simulator) verify the name they dialled against DNS/IP names, so besides the
    // reference's URI names the leaf names `common_name` and this machine's loopback names.
    let mut names = vec![common_name.to_string()];
    for local in ["localhost", "127.0.0.1", "::1"] {
        if !names.iter().any(|n| n == local) {
            names.push(local.to_string());
        }
    }
    let mut leaf = CertificateParams::new(names).map_err(gen_err)?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    leaf.distinguished_name = dn;
    for uri in [
        format!("http://{common_name}/"),
        "http://localhost/".to_string(),
    ] {
        if let Ok(u) = uri.try_into() {
            leaf.subject_alt_names.push(SanType::URI(u));
        }
    }
    leaf.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    leaf.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    leaf.not_before = now - time::Duration::days(365);
    leaf.not_after = now + time::Duration::days(365 * 30);
    let issuer = Issuer::new(root, &root_key);
    let leaf_cert = leaf.signed_by(&leaf_key, &issuer).map_err(gen_err)?;
    Ok((
        MpsCerts {
            root_cert_pem: root_cert.pem(),
            server_cert_pem: leaf_cert.pem(),
            server_key_pem: leaf_key_pem,
            min_version: Some(DEFAULT_MIN_VERSION.into()),
            ciphers: Some(LEGACY_CIPHERS.into()),
        },
        root_key_pem,
    ))
}

fn str_at<'a>(m: &'a Map<String, Value>, obj: &str, key: &str) -> Option<&'a str> {
    m.get(obj)?.get(key)?.as_str()
}

/// Reads `MPSCerts`, generating and storing it first when allowed.
pub async fn load_or_create(
    store: &Arc<dyn SecretStore>,
    common_name: &str,
    server_key_bits: usize,
    generate_allowed: bool,
) -> Result<MpsCerts, TlsError> {
    if let Some(m) = store.get("MPSCerts").await? {
        let cert = str_at(&m, "mps_tls_config", "cert")
            .ok_or_else(|| TlsError::Malformed("mps_tls_config.cert".into()))?;
        let key = str_at(&m, "mps_tls_config", "key")
            .ok_or_else(|| TlsError::Malformed("mps_tls_config.key".into()))?;
        let ca = str_at(&m, "web_tls_config", "ca")
            .ok_or_else(|| TlsError::Malformed("web_tls_config.ca".into()))?;
        return Ok(MpsCerts {
            root_cert_pem: ca.into(),
            server_cert_pem: cert.into(),
            server_key_pem: key.into(),
            min_version: str_at(&m, "mps_tls_config", "minVersion").map(str::to_owned),
            ciphers: str_at(&m, "mps_tls_config", "ciphers").map(str::to_owned),
        });
    }
    if !generate_allowed {
        return Err(TlsError::Missing);
    }
    let (certs, root_key_pem) = tokio::task::spawn_blocking({
        let cn = common_name.to_string();
        move || generate(&cn, server_key_bits)
    })
    .await
    .map_err(|e| TlsError::Generate(e.to_string()))??;
    let stored = json!({
        "mps_tls_config": {
            "cert": certs.server_cert_pem, "key": certs.server_key_pem, "minVersion": DEFAULT_MIN_VERSION,
            "requestCert": true, "rejectUnauthorized": false, "ciphers": LEGACY_CIPHERS
        },
        "web_tls_config": { "ca": certs.root_cert_pem, "cert": certs.server_cert_pem, "key": certs.server_key_pem },
        "root_key": root_key_pem,
    });
    if let Value::Object(m) = stored {
        store.put("MPSCerts", m).await?;
    }
    tracing::info!(
        common_name,
        "generated CIRA root and server certificates into MPSCerts"
    );
    Ok(certs)
}

/// rustls server config for port 4433: TLS 1.2 and 1.3, aws-lc-rs, server chain = leaf + root.
pub fn server_config(certs: &MpsCerts) -> Result<Arc<rustls::ServerConfig>, TlsError> {
    let mut chain: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(certs.server_cert_pem.as_bytes())
            .collect::<Result<_, _>>()
            .map_err(|e| TlsError::Malformed(format!("server certificate: {e}")))?;
    if chain.len() == 1
        && let Ok(root) = CertificateDer::from_pem_slice(certs.root_cert_pem.as_bytes())
    {
        chain.push(root);
    }
    let key = PrivateKeyDer::from_pem_slice(certs.server_key_pem.as_bytes())
        .map_err(|e| TlsError::Malformed(format!("server key: {e}")))?;
    // aws-lc-rs signs RSA-2048 about twice as fast as ring on this hardware (spec/limits.md: 1,878 vs 841
    // handshakes per core-second), and every CIRA connect is one RSA signature: a reconnect storm of a
    // whole fleet is bounded by it. The rest of openamt stays on ring.
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let cfg = rustls::ServerConfig::builder_with_provider(provider)
        .with_protocol_versions(&[&rustls::version::TLS12, &rustls::version::TLS13])?
        .with_no_client_auth()
        .with_single_cert(chain, key)?;
    Ok(Arc::new(cfg))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_material_builds_a_tls_server() {
        let (c, root_key) = generate("mps.example", 2048).unwrap();
        assert!(c.root_cert_pem.starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(root_key.contains("PRIVATE KEY"));
        server_config(&c).unwrap();
        assert!(!format!("{c:?}").contains("PRIVATE"));
    }
}
