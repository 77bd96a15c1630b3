//! AMT's certificate store and TLS configuration: certificates (trusted roots and leaves), key pairs
//! (generated on the device or added), the two TLS setting instances and the TLS credential context.

use std::fmt;

use x509_parser::prelude::{FromDer, X509Certificate};

/// A certificate in the store.
#[derive(Clone, PartialEq, Eq)]
pub struct Certificate {
    pub handle: u32,
    pub der: Vec<u8>,
    pub trusted_root: bool,
    /// AMT's own text forms, e.g. `C=unknown,O=unknown,CN=MPSRoot-0af1d5`.
    pub subject: String,
    pub issuer: String,
    /// Handle of the key pair holding this certificate's private key, when AMT has it.
    pub key_handle: Option<u32>,
}

impl fmt::Debug for Certificate {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Certificate")
            .field("handle", &self.handle)
            .field("subject", &self.subject)
            .field("trusted_root", &self.trusted_root)
            .finish_non_exhaustive()
    }
}

impl Certificate {
    pub fn instance_id(&self) -> String {
        certificate_instance_id(self.handle)
    }
}

pub fn certificate_instance_id(handle: u32) -> String {
    format!("Intel(r) AMT Certificate: Handle: {handle}")
}

pub fn key_instance_id(handle: u32) -> String {
    format!("Intel(r) AMT Key: Handle: {handle}")
}

/// A key pair; the private half never leaves the device (only its PKCS#8 form is kept for signing).
#[derive(Clone)]
pub struct KeyPair {
    pub handle: u32,
    /// PKCS#1 RSAPublicKey DER (what AMT_PublicPrivateKeyPair.DERKey carries, base64).
    pub public_der: Vec<u8>,
    pub private_pkcs8: Vec<u8>,
}

impl fmt::Debug for KeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyPair")
            .field("handle", &self.handle)
            .finish_non_exhaustive()
    }
}

/// One AMT_TLSSettingData instance.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TlsSetting {
    pub instance_id: &'static str,
    pub enabled: bool,
    pub accept_non_secure_connections: bool,
    pub mutual_authentication: bool,
    pub trusted_cn: Vec<String>,
}

/// The certificate store and TLS state.
#[derive(Clone, Debug)]
pub struct PkiState {
    pub certificates: Vec<Certificate>,
    pub key_pairs: Vec<KeyPair>,
    pub next_certificate: u32,
    pub next_key: u32,
    /// "Intel(r) AMT 802.3 TLS Settings" (remote) and "Intel(r) AMT LMS TLS Settings" (local).
    pub remote_tls: TlsSetting,
    pub local_tls: TlsSetting,
    /// Certificate handle bound by AMT_TLSCredentialContext.
    pub tls_certificate: Option<u32>,
}

/// Most certificates the store holds (AMT's limit is in this range).
pub const MAX_CERTIFICATES: usize = 16;

impl Default for PkiState {
    fn default() -> Self {
        PkiState {
            certificates: Vec::new(),
            key_pairs: Vec::new(),
            next_certificate: 0,
            next_key: 0,
            remote_tls: TlsSetting {
                instance_id: "Intel(r) AMT 802.3 TLS Settings",
                enabled: false,
                accept_non_secure_connections: false,
                mutual_authentication: false,
                trusted_cn: Vec::new(),
            },
            local_tls: TlsSetting {
                instance_id: "Intel(r) AMT LMS TLS Settings",
                enabled: false,
                accept_non_secure_connections: true,
                mutual_authentication: false,
                trusted_cn: Vec::new(),
            },
            tls_certificate: None,
        }
    }
}

/// Why a certificate was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum CertificateError {
    #[error("not an X.509 certificate: {0}")]
    Invalid(String),
    #[error("certificate already in the store")]
    Duplicate,
    #[error("certificate store is full")]
    Full,
}

impl PkiState {
    /// Adds a certificate (DER). Returns its handle.
    pub fn add_certificate(
        &mut self,
        der: Vec<u8>,
        trusted_root: bool,
    ) -> Result<u32, CertificateError> {
        let parsed = ParsedCertificate::parse(&der)?;
        if self.certificates.iter().any(|c| c.der == der) {
            return Err(CertificateError::Duplicate);
        }
        if self.certificates.len() >= MAX_CERTIFICATES {
            return Err(CertificateError::Full);
        }
        let key_handle = self
            .key_pairs
            .iter()
            .find(|k| parsed.rsa_public_key.as_deref() == Some(k.public_der.as_slice()))
            .map(|k| k.handle);
        let handle = self.next_certificate;
        self.next_certificate += 1;
        self.certificates.push(Certificate {
            handle,
            der,
            trusted_root,
            subject: parsed.subject,
            issuer: parsed.issuer,
            key_handle,
        });
        Ok(handle)
    }

    pub fn certificate_by_instance(&self, instance_id: &str) -> Option<&Certificate> {
        self.certificates
            .iter()
            .find(|c| c.instance_id() == instance_id)
    }

    pub fn key_by_instance(&self, instance_id: &str) -> Option<&KeyPair> {
        self.key_pairs
            .iter()
            .find(|k| key_instance_id(k.handle) == instance_id)
    }

    pub fn add_key_pair(&mut self, public_der: Vec<u8>, private_pkcs8: Vec<u8>) -> u32 {
        let handle = self.next_key;
        self.next_key += 1;
        self.key_pairs.push(KeyPair {
            handle,
            public_der,
            private_pkcs8,
        });
        handle
    }

    /// The most recently added trusted root (what the device checks an MPS certificate against).
    pub fn latest_trusted_root(&self) -> Option<&Certificate> {
        self.certificates.iter().rev().find(|c| c.trusted_root)
    }
}

/// The parts of a certificate the device uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParsedCertificate {
    pub subject: String,
    pub issuer: String,
    /// DER SubjectPublicKeyInfo.
    pub spki: Vec<u8>,
    /// PKCS#1 RSAPublicKey when the key is RSA.
    pub rsa_public_key: Option<Vec<u8>>,
    pub common_name: Option<String>,
}

impl ParsedCertificate {
    pub fn parse(der: &[u8]) -> Result<ParsedCertificate, CertificateError> {
        let (rest, cert) =
            X509Certificate::from_der(der).map_err(|e| CertificateError::Invalid(e.to_string()))?;
        if !rest.is_empty() {
            return Err(CertificateError::Invalid(
                "trailing bytes after the certificate".into(),
            ));
        }
        let spki = cert.public_key();
        let is_rsa = spki.algorithm.algorithm.to_id_string() == "1.2.840.113549.1.1.1";
        Ok(ParsedCertificate {
            subject: amt_name(cert.subject()),
            issuer: amt_name(cert.issuer()),
            spki: spki.raw.to_vec(),
            rsa_public_key: is_rsa.then(|| spki.subject_public_key.data.to_vec()),
            common_name: cert
                .subject()
                .iter_common_name()
                .next()
                .and_then(|cn| cn.as_str().ok())
                .map(str::to_string),
        })
    }
}

/// AMT prints names as `KEY=value` pairs, last RDN first, joined by commas.
fn amt_name(name: &x509_parser::x509::X509Name<'_>) -> String {
    let mut parts: Vec<String> = name
        .iter_rdn()
        .flat_map(|rdn| rdn.iter())
        .map(|attr| {
            let key = match attr.attr_type().to_id_string().as_str() {
                "2.5.4.3" => "CN".to_string(),
                "2.5.4.6" => "C".to_string(),
                "2.5.4.7" => "L".to_string(),
                "2.5.4.8" => "ST".to_string(),
                "2.5.4.10" => "O".to_string(),
                "2.5.4.11" => "OU".to_string(),
                "1.2.840.113549.1.9.1" => "E".to_string(),
                other => other.to_string(),
            };
            let value = attr
                .as_str()
                .map(str::to_string)
                .unwrap_or_else(|_| hex::encode(attr.attr_value().data));
            format!("{key}={value}")
        })
        .collect();
    parts.reverse();
    parts.join(",")
}
