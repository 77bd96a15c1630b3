//! A test and demo ACM provisioning certificate: root → intermediate → leaf, RSA 2048, the leaf carrying
//! Intel's AMT provisioning EKU (2.16.840.1.113741.1.2.3), exported as the base64 PKCS#12 that RPS's
//! domains API takes (`provisioningCert`, `provisioningCertPassword`).
//!
//! Real AMT devices trust only roots whose hash is in their firmware (the commercial CAs); a chain made
//! here is trusted by devices told its [`ProvisioningChain::root_sha256`], such as the simulator's. Its
//! use is tests and demos: every fixture a test needs (valid, expired, not yet valid, for another domain,
//! legacy-encrypted like the PFX files most CAs export, without the EKU, without the root) is made on the
//! spot instead of being read from a file beside the checkout.
//!
//! ```no_run
//! use certs::provisioning::{ChainOptions, ProvisioningChain};
//!
//! let chain = ProvisioningChain::generate(&ChainOptions::new("provisioning.example.com", "P@ssPfx1"))?;
//! let body = (chain.pfx_base64(), &chain.password); // for POST /api/v1/admin/domains
//! # Ok::<(), certs::CertError>(())
//! ```

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use p12_keystore::{
    Certificate, EncryptionAlgorithm, KeyStore, KeyStoreEntry, MacAlgorithm, PrivateKey,
    PrivateKeyChain,
};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose,
};
use sha2::Digest as _;
use time::{Duration, OffsetDateTime};

use crate::CertError;
use crate::leaf::{KeyKind, generate_key};

/// Intel's AMT provisioning ("activation") extended key usage, which RPS requires on the leaf.
pub const AMT_PROVISIONING_EKU: [u64; 8] = [2, 16, 840, 1, 113741, 1, 2, 3];

/// How the PKCS#12 is encrypted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Pkcs12Encryption {
    /// PBES2 with AES-256 and an HMAC-SHA256 MAC, what current OpenSSL writes by default.
    Aes256,
    /// 3DES PBE with an HMAC-SHA1 MAC, as `openssl pkcs12 -export -legacy` and older CA tooling write:
    /// the kind of file the reference's examples are.
    Legacy,
}

/// What chain to make. [`ChainOptions::new`] gives a chain RPS accepts; the other settings break one
/// rule each.
#[derive(Clone, Debug)]
pub struct ChainOptions {
    /// The leaf's common name; RPS compares its last two labels with the domain suffix.
    pub leaf_cn: String,
    /// The PKCS#12 password.
    pub password: String,
    /// Validity of every certificate of the chain.
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    pub encryption: Pkcs12Encryption,
    /// Whether the leaf carries [`AMT_PROVISIONING_EKU`].
    pub amt_eku: bool,
    /// Whether the self-signed root is in the PKCS#12 (RPS requires it).
    pub include_root: bool,
}

impl ChainOptions {
    /// A chain valid from yesterday for a year, AES-encrypted, with the EKU and the root.
    pub fn new(leaf_cn: &str, password: &str) -> ChainOptions {
        let now = OffsetDateTime::now_utc();
        ChainOptions {
            leaf_cn: leaf_cn.to_owned(),
            password: password.to_owned(),
            not_before: now - Duration::days(1),
            not_after: now + Duration::days(365),
            encryption: Pkcs12Encryption::Aes256,
            amt_eku: true,
            include_root: true,
        }
    }

    /// Every certificate valid from `not_before` to `not_after` (either may be in the past or future).
    pub fn valid(mut self, not_before: OffsetDateTime, not_after: OffsetDateTime) -> ChainOptions {
        self.not_before = not_before;
        self.not_after = not_after;
        self
    }

    pub fn encryption(mut self, encryption: Pkcs12Encryption) -> ChainOptions {
        self.encryption = encryption;
        self
    }

    pub fn without_amt_eku(mut self) -> ChainOptions {
        self.amt_eku = false;
        self
    }

    pub fn without_root(mut self) -> ChainOptions {
        self.include_root = false;
        self
    }
}

/// A generated chain and its PKCS#12.
#[derive(Clone)]
pub struct ProvisioningChain {
    /// PKCS#12 DER: the leaf's key, then the leaf, the intermediate and (unless left out) the root.
    pub pfx: Vec<u8>,
    pub password: String,
    pub leaf_der: Vec<u8>,
    /// DER of the root a device must trust.
    pub root_der: Vec<u8>,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
}

impl std::fmt::Debug for ProvisioningChain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProvisioningChain")
            .field("pfx", &format_args!("<{} bytes>", self.pfx.len()))
            .field("password", &"<redacted>")
            .field("not_before", &self.not_before)
            .field("not_after", &self.not_after)
            .finish_non_exhaustive()
    }
}

impl ProvisioningChain {
    /// Makes three fresh RSA 2048 keys and the chain `options` asks for.
    pub fn generate(options: &ChainOptions) -> Result<ProvisioningChain, CertError> {
        let root_key = generate_key(KeyKind::Rsa2048)?;
        let root_params = params("openamt test provisioning root", true, options);
        let root = root_params.self_signed(&root_key)?;
        let root_issuer = Issuer::from_params(&root_params, &root_key);

        let inter_key = generate_key(KeyKind::Rsa2048)?;
        let inter_params = params("openamt test provisioning intermediate", true, options);
        let inter = inter_params.signed_by(&inter_key, &root_issuer)?;
        let inter_issuer = Issuer::from_params(&inter_params, &inter_key);

        let leaf_key = generate_key(KeyKind::Rsa2048)?;
        let mut leaf_params = params(&options.leaf_cn, false, options);
        leaf_params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        if options.amt_eku {
            leaf_params
                .extended_key_usages
                .push(ExtendedKeyUsagePurpose::Other(
                    AMT_PROVISIONING_EKU.to_vec(),
                ));
        }
        let leaf = leaf_params.signed_by(&leaf_key, &inter_issuer)?;

        let mut ders = vec![leaf.der().to_vec(), inter.der().to_vec()];
        if options.include_root {
            ders.push(root.der().to_vec());
        }
        let pfx = pkcs12(&ders, &leaf_key, options)?;
        Ok(ProvisioningChain {
            pfx,
            password: options.password.clone(),
            leaf_der: leaf.der().to_vec(),
            root_der: root.der().to_vec(),
            not_before: options.not_before,
            not_after: options.not_after,
        })
    }

    /// The PKCS#12 in base64, as the domains API takes it.
    pub fn pfx_base64(&self) -> String {
        STANDARD.encode(&self.pfx)
    }

    /// SHA-256 of the root's DER: the hash a device's firmware must hold to trust the chain.
    pub fn root_sha256(&self) -> Vec<u8> {
        sha2::Sha256::digest(&self.root_der).to_vec()
    }
}

/// The default chain for `leaf_cn` (valid now, AES-encrypted, EKU and root present).
pub fn provisioning_chain(leaf_cn: &str, password: &str) -> Result<ProvisioningChain, CertError> {
    ProvisioningChain::generate(&ChainOptions::new(leaf_cn, password))
}

fn params(cn: &str, ca: bool, options: &ChainOptions) -> CertificateParams {
    let mut p = CertificateParams::default();
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    dn.push(DnType::OrganizationName, "openamt tests");
    p.distinguished_name = dn;
    p.not_before = options.not_before;
    p.not_after = options.not_after;
    if ca {
        p.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        p.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
    }
    p
}

fn pkcs12(ders: &[Vec<u8>], key: &KeyPair, options: &ChainOptions) -> Result<Vec<u8>, CertError> {
    let p12 = |e: p12_keystore::error::Error| CertError::Pkcs12(e.to_string());
    let certs = ders
        .iter()
        .map(|der| Certificate::from_der(der).map_err(p12))
        .collect::<Result<Vec<_>, _>>()?;
    let key = PrivateKey::from_der(&key.serialize_der()).map_err(p12)?;
    let mut store = KeyStore::new();
    store.add_entry(
        "provisioning",
        KeyStoreEntry::PrivateKeyChain(PrivateKeyChain::new(vec![1u8; 20], key, certs)),
    );
    let writer = store.writer(&options.password);
    let writer = match options.encryption {
        Pkcs12Encryption::Aes256 => writer,
        Pkcs12Encryption::Legacy => writer
            .encryption_algorithm(EncryptionAlgorithm::PbeWithShaAnd3KeyTripleDesCbc)
            .mac_algorithm(MacAlgorithm::HmacSha1)
            .encryption_iterations(2048)
            .mac_iterations(2048),
    };
    writer.write().map_err(p12)
}
