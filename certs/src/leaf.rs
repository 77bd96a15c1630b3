//! Leaf certificates for servers: issuing them and deciding whether the one on disk can be reused.

use std::{
    net::IpAddr,
    path::{Path, PathBuf},
};

use rcgen::{
    CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, Issuer, KeyPair,
    KeyUsagePurpose, PKCS_ECDSA_P256_SHA256, PKCS_RSA_SHA256, SanType,
};
use rustls_pki_types::PrivatePkcs8KeyDer;
use time::{Duration, OffsetDateTime};

use crate::{CertError, files};

/// The key algorithm of a certificate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyKind {
    /// What AMT firmware expects of the MPS (CIRA on 4433).
    Rsa2048,
    Rsa3072,
    /// Cheap handshakes, for listeners only our own clients and browsers use.
    EcdsaP256,
}

impl KeyKind {
    fn is_rsa(self) -> bool {
        matches!(self, KeyKind::Rsa2048 | KeyKind::Rsa3072)
    }
}

/// What a server certificate must cover.
#[derive(Clone, Debug)]
pub struct LeafSpec<'a> {
    /// File stem in the data directory: `<name>.pem`, `<name>-key.pem`.
    pub name: &'a str,
    pub common_name: &'a str,
    /// DNS names and IP addresses clients use to reach the server.
    pub hosts: &'a [String],
    pub key: KeyKind,
}

/// A server certificate on disk, with its CA.
#[derive(Clone)]
pub struct Issued {
    pub cert_path: PathBuf,
    pub key_path: PathBuf,
    pub ca_path: PathBuf,
    /// The leaf certificate alone.
    pub cert_pem: String,
    pub key_pem: String,
    pub ca_pem: String,
}

impl std::fmt::Debug for Issued {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Issued")
            .field("cert_path", &self.cert_path)
            .field("ca_path", &self.ca_path)
            .field("key_pem", &"<redacted>")
            .finish_non_exhaustive()
    }
}

impl Issued {
    pub(crate) fn paths(dir: &Path, name: &str, ca_path: PathBuf) -> Issued {
        Issued {
            cert_path: dir.join(format!("{name}.pem")),
            key_path: dir.join(format!("{name}-key.pem")),
            ca_path,
            cert_pem: String::new(),
            key_pem: String::new(),
            ca_pem: String::new(),
        }
    }
}

pub(crate) fn generate_key(kind: KeyKind) -> Result<KeyPair, CertError> {
    let bits = match kind {
        KeyKind::EcdsaP256 => {
            return KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).map_err(CertError::from);
        }
        KeyKind::Rsa2048 => 2048,
        KeyKind::Rsa3072 => 3072,
    };
    // ring cannot generate RSA keys, so the rsa crate makes the key and rcgen signs with it.
    use rsa::pkcs8::EncodePrivateKey;
    let key = rsa::PrivateKey::new(&mut getrandom::SysRng, bits)
        .map_err(|e| CertError::KeyGeneration(e.to_string()))?;
    let der = key
        .to_pkcs8_der()
        .map_err(|e| CertError::KeyGeneration(e.to_string()))?;
    let der = PrivatePkcs8KeyDer::from(der.as_bytes().to_vec());
    KeyPair::from_pkcs8_der_and_sign_algo(&der, &PKCS_RSA_SHA256).map_err(CertError::from)
}

fn subject_alt_names(hosts: &[String]) -> Result<Vec<SanType>, CertError> {
    hosts
        .iter()
        .map(|host| match host.parse::<IpAddr>() {
            Ok(ip) => Ok(SanType::IpAddress(ip)),
            Err(_) => Ok(SanType::DnsName(host.as_str().try_into()?)),
        })
        .collect()
}

pub(crate) fn issue(
    issuer: &Issuer<'static, KeyPair>,
    ca_pem: &str,
    spec: &LeafSpec,
    mut issued: Issued,
) -> Result<Issued, CertError> {
    let key = generate_key(spec.key)?;
    let mut params = CertificateParams::default();
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, spec.common_name);
    name.push(DnType::OrganizationName, "openamt");
    params.distinguished_name = name;
    params.subject_alt_names = subject_alt_names(spec.hosts)?;
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    params.use_authority_key_identifier_extension = true;
    let now = OffsetDateTime::now_utc();
    params.not_before = now - Duration::days(1);
    params.not_after = now + Duration::days(825);
    let cert = params.signed_by(&key, issuer)?;

    issued.cert_pem = cert.pem();
    issued.key_pem = key.serialize_pem();
    issued.ca_pem = ca_pem.to_owned();
    files::write(&issued.key_path, &issued.key_pem, true)?;
    files::write(&issued.cert_path, &issued.cert_pem, false)?;
    tracing::info!(path = %issued.cert_path.display(), hosts = ?spec.hosts, "issued a server certificate");
    Ok(issued)
}

/// The certificate on disk, if it was issued by this CA, uses the asked key kind, covers every host and
/// stays valid for at least 30 more days.
pub(crate) fn load_if_current(
    issued: &Issued,
    spec: &LeafSpec,
) -> Result<Option<Issued>, CertError> {
    let (Some(cert_pem), Some(key_pem), Some(ca_pem)) = (
        files::read(&issued.cert_path)?,
        files::read(&issued.key_path)?,
        files::read(&issued.ca_path)?,
    ) else {
        return Ok(None);
    };
    let current = (|| {
        let (_, cert) = x509_parser::pem::parse_x509_pem(cert_pem.as_bytes()).ok()?;
        let cert = cert.parse_x509().ok()?;
        let (_, ca) = x509_parser::pem::parse_x509_pem(ca_pem.as_bytes()).ok()?;
        let ca = ca.parse_x509().ok()?;
        let issued_by_ca =
            cert.issuer() == ca.subject() && cert.verify_signature(Some(ca.public_key())).is_ok();
        let rsa = cert.public_key().algorithm.algorithm
            == x509_parser::oid_registry::OID_PKCS1_RSAENCRYPTION;
        let fresh = cert.validity().not_after.timestamp()
            > (OffsetDateTime::now_utc() + Duration::days(30)).unix_timestamp();
        let names: Vec<String> = cert
            .subject_alternative_name()
            .ok()
            .flatten()
            .map(|san| {
                san.value
                    .general_names
                    .iter()
                    .filter_map(|name| match name {
                        x509_parser::extensions::GeneralName::DNSName(dns) => Some(dns.to_string()),
                        x509_parser::extensions::GeneralName::IPAddress(ip) => ip_to_string(ip),
                        _ => None,
                    })
                    .collect()
            })
            .unwrap_or_default();
        let covers = spec.hosts.iter().all(|h| names.iter().any(|n| n == h));
        Some(issued_by_ca && rsa == spec.key.is_rsa() && fresh && covers)
    })()
    .unwrap_or(false);
    if !current {
        return Ok(None);
    }
    Ok(Some(Issued {
        cert_pem,
        key_pem,
        ca_pem,
        ..issued.clone()
    }))
}

fn ip_to_string(bytes: &[u8]) -> Option<String> {
    match bytes.len() {
        4 => Some(IpAddr::from(<[u8; 4]>::try_from(bytes).ok()?).to_string()),
        16 => Some(IpAddr::from(<[u8; 16]>::try_from(bytes).ok()?).to_string()),
        _ => None,
    }
}
