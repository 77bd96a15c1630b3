//! The MPS certificate check of AMT firmware: the chain must lead to the root of the device's CIRA
//! policy, and the MPS name configured there must match the certificate. Firmware matches that name
//! against the subject CN; a SAN is honoured where the certificate has DNS or IP entries. The
//! reference MPS's generated certificate names its host in the CN only (its SANs are URIs), so a
//! check that insists on a DNS SAN would refuse a certificate real devices accept.

use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, Error, RootCertStore, SignatureScheme};
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::{FromDer, X509Certificate};

#[derive(Debug)]
pub struct FirmwareVerifier {
    webpki: Arc<WebPkiServerVerifier>,
}

impl FirmwareVerifier {
    pub fn new(
        roots: RootCertStore,
        provider: Arc<rustls::crypto::CryptoProvider>,
    ) -> Result<FirmwareVerifier, rustls::server::VerifierBuilderError> {
        let webpki =
            WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider).build()?;
        Ok(FirmwareVerifier { webpki })
    }
}

impl ServerCertVerifier for FirmwareVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, Error> {
        match self
            .webpki
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            // webpki checks the chain before the name, so a name error means the chain is good.
            Err(Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if common_name_matches(end_entity, server_name) => {
                Ok(ServerCertVerified::assertion())
            }
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.webpki.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, Error> {
        self.webpki.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.webpki.supported_verify_schemes()
    }
}

/// Whether a certificate without DNS or IP SANs names `server_name` in its subject CN (ASCII case
/// ignored, as DNS names are). A certificate that has such SANs is judged by them alone.
fn common_name_matches(end_entity: &CertificateDer<'_>, server_name: &ServerName<'_>) -> bool {
    let Ok((_, cert)) = X509Certificate::from_der(end_entity.as_ref()) else {
        return false;
    };
    let has_name_sans = cert
        .subject_alternative_name()
        .ok()
        .flatten()
        .is_some_and(|san| {
            san.value
                .general_names
                .iter()
                .any(|n| matches!(n, GeneralName::DNSName(_) | GeneralName::IPAddress(_)))
        });
    if has_name_sans {
        return false;
    }
    let wanted = server_name.to_str();
    cert.subject()
        .iter_common_name()
        .filter_map(|cn| cn.as_str().ok())
        .any(|cn| cn.eq_ignore_ascii_case(&wanted))
}

#[cfg(test)]
mod tests {
    use super::*;
    use rcgen::{CertificateParams, DnType, IsCa, KeyPair, SanType};

    struct Issued {
        root: CertificateDer<'static>,
        leaf: CertificateDer<'static>,
    }

    /// A root and a leaf for `cn` with `sans`, signed by that root.
    fn issue(cn: &str, sans: Vec<SanType>) -> Issued {
        let root_key = KeyPair::generate().unwrap();
        let mut root_params = CertificateParams::new(Vec::<String>::new()).unwrap();
        root_params.is_ca = IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
        root_params
            .distinguished_name
            .push(DnType::CommonName, "MPSRoot");
        let root = root_params.self_signed(&root_key).unwrap();
        let issuer = rcgen::Issuer::from_params(&root_params, &root_key);
        let leaf_key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, cn);
        params.subject_alt_names = sans;
        let leaf = params.signed_by(&leaf_key, &issuer).unwrap();
        Issued {
            root: root.der().clone(),
            leaf: leaf.der().clone(),
        }
    }

    fn verify(
        trusted: &CertificateDer<'static>,
        leaf: &CertificateDer<'static>,
        name: &str,
    ) -> Result<(), Error> {
        let mut roots = RootCertStore::empty();
        roots.add(trusted.clone()).unwrap();
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let verifier = FirmwareVerifier::new(roots, provider).unwrap();
        let name = ServerName::try_from(name.to_owned()).unwrap();
        verifier
            .verify_server_cert(leaf, &[], &name, &[], UnixTime::now())
            .map(|_| ())
    }

    #[test]
    fn a_cn_only_certificate_like_the_reference_mps_one_is_accepted() {
        let uri = SanType::URI("http://localhost/".try_into().unwrap());
        let issued = issue("localhost", vec![uri]);
        verify(&issued.root, &issued.leaf, "localhost").unwrap();
        verify(&issued.root, &issued.leaf, "LOCALHOST").unwrap();
    }

    #[test]
    fn a_wrong_cn_is_refused() {
        let issued = issue("mps.example.com", vec![]);
        let error = verify(&issued.root, &issued.leaf, "localhost").unwrap_err();
        assert!(matches!(error, Error::InvalidCertificate(_)), "{error:?}");
    }

    #[test]
    fn dns_sans_where_present_decide_and_the_cn_does_not_override_them() {
        let dns = SanType::DnsName("mps.example.com".try_into().unwrap());
        let issued = issue("localhost", vec![dns]);
        verify(&issued.root, &issued.leaf, "mps.example.com").unwrap();
        assert!(verify(&issued.root, &issued.leaf, "localhost").is_err());
    }

    #[test]
    fn a_certificate_from_another_root_is_refused_even_with_the_right_name() {
        let issued = issue("localhost", vec![]);
        let other = issue("localhost", vec![]);
        let error = verify(&other.root, &issued.leaf, "localhost").unwrap_err();
        // Both roots carry the same name, so the chain is built and its signature fails.
        assert!(
            matches!(
                error,
                Error::InvalidCertificate(
                    CertificateError::UnknownIssuer | CertificateError::BadSignature
                )
            ),
            "{error:?}"
        );
    }
}
