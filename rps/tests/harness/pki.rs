//! A test ACM provisioning certificate: root → intermediate → leaf (RSA 2048, the leaf with Intel's AMT
//! provisioning EKU 2.16.840.1.113741.1.2.3), exported as a PKCS#12 the domains API accepts.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use p12_keystore::{Certificate, KeyStore, KeyStoreEntry, PrivateKey, PrivateKeyChain};
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, PKCS_RSA_SHA256,
};
use rsa::pkcs8::EncodePrivateKey as _;
use rustls::pki_types::PrivatePkcs8KeyDer;
use sha2::Digest as _;

pub struct ProvisioningChain {
    /// Base64 PKCS#12 (leaf, intermediate, root and the leaf's key).
    pub pfx_base64: String,
    pub password: String,
    /// DER of the root the firmware must trust.
    pub root_der: Vec<u8>,
}

impl ProvisioningChain {
    pub fn root_sha256(&self) -> Vec<u8> {
        sha2::Sha256::digest(&self.root_der).to_vec()
    }
}

fn rsa_key() -> (KeyPair, Vec<u8>) {
    let key = rsa::PrivateKey::new(&mut getrandom::SysRng, 2048).expect("RSA key");
    let der = key.to_pkcs8_der().expect("PKCS#8").as_bytes().to_vec();
    let pair = KeyPair::from_pkcs8_der_and_sign_algo(
        &PrivatePkcs8KeyDer::from(der.clone()),
        &PKCS_RSA_SHA256,
    )
    .expect("rcgen key");
    (pair, der)
}

fn params(cn: &str, ca: bool) -> CertificateParams {
    let mut p = CertificateParams::new(Vec::<String>::new()).expect("params");
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    dn.push(DnType::OrganizationName, "openamt tests");
    p.distinguished_name = dn;
    let now = time::OffsetDateTime::now_utc();
    p.not_before = now - time::Duration::days(1);
    p.not_after = now + time::Duration::days(365);
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

/// A chain whose leaf is `leaf_cn` (its last two labels must match the domain suffix).
pub fn provisioning_chain(leaf_cn: &str, password: &str) -> ProvisioningChain {
    let (root_key, _) = rsa_key();
    let root_params = params("openamt test provisioning root", true);
    let root = root_params.self_signed(&root_key).expect("root");
    let root_issuer = Issuer::from_params(&root_params, &root_key);

    let (inter_key, _) = rsa_key();
    let inter_params = params("openamt test provisioning intermediate", true);
    let inter = inter_params
        .signed_by(&inter_key, &root_issuer)
        .expect("intermediate");
    let inter_issuer = Issuer::from_params(&inter_params, &inter_key);

    let (leaf_key, leaf_der) = rsa_key();
    let mut leaf_params = params(leaf_cn, false);
    leaf_params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ServerAuth,
        ExtendedKeyUsagePurpose::Other(vec![2, 16, 840, 1, 113741, 1, 2, 3]),
    ];
    let leaf = leaf_params
        .signed_by(&leaf_key, &inter_issuer)
        .expect("leaf");

    let certs = [leaf.der(), inter.der(), root.der()]
        .iter()
        .map(|d| Certificate::from_der(d).expect("certificate"))
        .collect::<Vec<_>>();
    let chain = PrivateKeyChain::new(
        vec![1u8; 20],
        PrivateKey::from_der(&leaf_der).expect("private key"),
        certs,
    );
    let mut store = KeyStore::new();
    store.add_entry("provisioning", KeyStoreEntry::PrivateKeyChain(chain));
    let pfx = store.writer(password).write().expect("PKCS#12");
    ProvisioningChain {
        pfx_base64: STANDARD.encode(pfx),
        password: password.to_owned(),
        root_der: root.der().to_vec(),
    }
}
