//! The self-signed TLS material RPS keeps for a profile with `tlsMode` and signing authority `SelfSigned`
//! (rps.md §1.6 step 5): a root (CN `oact-<profile>`) and a client certificate it issues
//! (CN `oact-issued-<profile>`, EKU clientAuth + Intel AMT 2.16.840.1.113741.1.2.1), both RSA 2048,
//! valid 2018-01-01 .. 2049-12-31, stored at `TLS/<profile>` as `{ROOT_CERTIFICATE, ISSUED_CERTIFICATE}`.
//!
//! Each certificate object has the reference's fields that readers use: `pem` (one line, no newlines), `certbin`
//! (base64 DER), `privateKeyBin` (PKCS#1 PEM of its key) and `checked: false`.

use base64::Engine;
use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, IsCa,
    Issuer, KeyPair, KeyUsagePurpose, PKCS_RSA_SHA256, SerialNumber, date_time_ymd,
};
use rsa::pkcs1::EncodeRsaPrivateKey;
use rsa::pkcs8::EncodePrivateKey;
use rustls::pki_types::PrivatePkcs8KeyDer;
use serde_json::{Value, json};

/// Intel AMT's client-certificate EKU, 2.16.840.1.113741.1.2.1.
const AMT_CLIENT_EKU: &[u64] = &[2, 16, 840, 1, 113741, 1, 2, 1];

#[derive(Debug, thiserror::Error)]
#[error("generating TLS certificates: {0}")]
pub struct TlsCertError(String);

fn err(e: impl std::fmt::Display) -> TlsCertError {
    TlsCertError(e.to_string())
}

struct RsaKey {
    pair: KeyPair,
    pkcs1_pem: String,
}

fn rsa_2048() -> Result<RsaKey, TlsCertError> {
    // ring cannot generate RSA keys: the rsa crate makes the key, rcgen signs with it.
    let key = rsa::PrivateKey::new(&mut getrandom::SysRng, 2048).map_err(err)?;
    let pkcs1_pem = key
        .to_pkcs1_pem(rsa::pkcs1::LineEnding::CRLF)
        .map_err(err)?
        .to_string();
    let der = key.to_pkcs8_der().map_err(err)?;
    let der = PrivatePkcs8KeyDer::from(der.as_bytes().to_vec());
    let pair = KeyPair::from_pkcs8_der_and_sign_algo(&der, &PKCS_RSA_SHA256).map_err(err)?;
    Ok(RsaKey { pair, pkcs1_pem })
}

fn name(cn: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    dn.push(DnType::CountryName, "country");
    dn.push(DnType::StateOrProvinceName, "state");
    dn.push(DnType::OrganizationName, "Intel");
    dn
}

fn base_params(cn: &str) -> Result<CertificateParams, TlsCertError> {
    let mut params = CertificateParams::new(Vec::<String>::new()).map_err(err)?;
    params.distinguished_name = name(cn);
    params.not_before = date_time_ymd(2018, 1, 1);
    params.not_after = date_time_ymd(2049, 12, 31);
    // RFC 5280: a positive serial; the top bit cleared keeps it positive in DER.
    let mut serial: [u8; 16] = rand::random();
    serial[0] &= 0x7f;
    params.serial_number = Some(SerialNumber::from_slice(&serial));
    Ok(params)
}

fn entry(der: &[u8], pem: &str, key_pem: &str) -> Value {
    json!({
        "pem": pem.replace(['\r', '\n'], ""),
        "certbin": base64::engine::general_purpose::STANDARD.encode(der),
        "privateKeyBin": key_pem,
        "checked": false,
    })
}

/// Generates the root and issued certificates for `profile`, as the object stored at `TLS/<profile>`.
pub fn generate(profile: &str) -> Result<Value, TlsCertError> {
    let root_key = rsa_2048()?;
    let mut root_params = base_params(&format!("oact-{profile}"))?;
    root_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    root_params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let root = root_params.self_signed(&root_key.pair).map_err(err)?;

    let issued_key = rsa_2048()?;
    let mut issued_params = base_params(&format!("oact-issued-{profile}"))?;
    issued_params.extended_key_usages = vec![
        ExtendedKeyUsagePurpose::ClientAuth,
        ExtendedKeyUsagePurpose::Other(AMT_CLIENT_EKU.to_vec()),
    ];
    issued_params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::KeyEncipherment,
    ];
    let issuer = Issuer::from_params(&root_params, &root_key.pair);
    let issued = issued_params
        .signed_by(&issued_key.pair, &issuer)
        .map_err(err)?;

    Ok(json!({
        "ROOT_CERTIFICATE": entry(root.der(), &root.pem(), &root_key.pkcs1_pem),
        "ISSUED_CERTIFICATE": entry(issued.der(), &issued.pem(), &issued_key.pkcs1_pem),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use x509_parser::prelude::{FromDer, X509Certificate};

    #[test]
    fn root_issues_the_client_certificate() {
        let tls = generate("testTLS").unwrap();
        let der = |k: &str| {
            base64::engine::general_purpose::STANDARD
                .decode(tls[k]["certbin"].as_str().unwrap())
                .unwrap()
        };
        let (root_der, issued_der) = (der("ROOT_CERTIFICATE"), der("ISSUED_CERTIFICATE"));
        let (_, root) = X509Certificate::from_der(&root_der).unwrap();
        let (_, issued) = X509Certificate::from_der(&issued_der).unwrap();
        assert_eq!(
            root.subject()
                .iter_common_name()
                .next()
                .unwrap()
                .as_str()
                .unwrap(),
            "oact-testTLS"
        );
        assert_eq!(issued.issuer().as_raw(), root.subject().as_raw());
        issued.verify_signature(Some(root.public_key())).unwrap();
        let eku = issued.extended_key_usage().unwrap().unwrap();
        assert!(eku.value.client_auth);
        assert!(
            eku.value
                .other
                .iter()
                .any(|o| o.to_id_string() == "2.16.840.1.113741.1.2.1")
        );
        assert!(
            !tls["ROOT_CERTIFICATE"]["pem"]
                .as_str()
                .unwrap()
                .contains('\n')
        );
        assert!(
            tls["ROOT_CERTIFICATE"]["privateKeyBin"]
                .as_str()
                .unwrap()
                .starts_with("-----BEGIN RSA PRIVATE KEY-----")
        );
    }
}
