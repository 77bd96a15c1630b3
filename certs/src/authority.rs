//! The installation's certificate authority (RSA 3072 with SHA-384, like the reference MPS root, because AMT
//! firmware validates the MPS chain against it).

use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, PKCS_RSA_SHA384, PublicKeyData,
};
use time::{Duration, OffsetDateTime};

use crate::{
    CertError, files,
    leaf::{self, Issued, KeyKind, LeafSpec},
};

const CA_CERT: &str = "ca.pem";
const CA_KEY: &str = "ca-key.pem";

/// The CA of one data directory and the leaves it issued there.
pub struct CertStore {
    dir: PathBuf,
    ca_pem: String,
    issuer: Issuer<'static, KeyPair>,
}

impl CertStore {
    /// Opens the CA in `dir`, creating it on first use.
    pub fn open(dir: &Path) -> Result<Self, CertError> {
        let cert_path = dir.join(CA_CERT);
        let key_path = dir.join(CA_KEY);
        let (ca_pem, key_pem) = match (files::read(&cert_path)?, files::read(&key_path)?) {
            (Some(cert), Some(key)) => (cert, key),
            _ => {
                let (cert, key) = create_authority()?;
                files::write(&key_path, &key, true)?;
                files::write(&cert_path, &cert, false)?;
                tracing::info!(path = %cert_path.display(), "created a new certificate authority");
                (cert, key)
            }
        };
        let key = KeyPair::from_pem_and_sign_algo(&key_pem, &PKCS_RSA_SHA384).map_err(|_| {
            CertError::Invalid {
                path: key_path.clone(),
                what: "RSA private key",
            }
        })?;
        let issuer = Issuer::from_ca_cert_pem(&ca_pem, key).map_err(|_| CertError::Invalid {
            path: cert_path.clone(),
            what: "CA certificate",
        })?;
        Ok(CertStore {
            dir: dir.to_path_buf(),
            ca_pem,
            issuer,
        })
    }

    /// The CA certificate in PEM form: what clients trust and what RPS gives AMT as the MPS root.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    pub fn ca_path(&self) -> PathBuf {
        self.dir.join(CA_CERT)
    }

    /// The leaf `spec.name`, reused when it still covers `spec.hosts` and is valid for 30 more days,
    /// otherwise issued anew.
    pub fn leaf(&self, spec: &LeafSpec) -> Result<Issued, CertError> {
        let issued = Issued::paths(&self.dir, spec.name, self.ca_path());
        if let Some(existing) = leaf::load_if_current(&issued, spec)? {
            return Ok(existing);
        }
        leaf::issue(&self.issuer, &self.ca_pem, spec, issued)
    }
}

fn create_authority() -> Result<(String, String), CertError> {
    let key = leaf::generate_key(KeyKind::Rsa3072)?;
    let fingerprint = hex::encode(&sha2_digest(key.subject_public_key_info())[..3]);
    let mut params = CertificateParams::default();
    let mut name = DistinguishedName::new();
    name.push(DnType::CommonName, format!("openamt root CA {fingerprint}"));
    name.push(DnType::OrganizationName, "openamt");
    params.distinguished_name = name;
    params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let now = OffsetDateTime::now_utc();
    params.not_before = now - Duration::days(1);
    params.not_after = now + Duration::days(365 * 20);
    let cert = params.self_signed(&key)?;
    Ok((cert.pem(), key.serialize_pem()))
}

fn sha2_digest(bytes: Vec<u8>) -> Vec<u8> {
    use sha2::Digest;
    sha2::Sha256::digest(bytes).to_vec()
}
