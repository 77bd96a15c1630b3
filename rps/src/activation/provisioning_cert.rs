//! The ACM provisioning certificate of a domain: the chain in the order AMT wants it (leaf first, root last),
//! the root's fingerprints the firmware must trust, and the RSA signature over the nonces AdminSetup and
//! UpgradeClientToAdmin carry (rps.md §3.7).

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rsa::pkcs8::DecodePrivateKey as _;
use rsa::signature::{SignatureEncoding as _, Signer as _};
use sha1::Digest as _;
use x509_parser::prelude::{FromDer, X509Certificate};

use crate::pfx::Pfx;

/// A provisioning certificate ready for AddNextCertInChain and AdminSetup.
pub struct ProvisioningCert {
    /// Base64 DER of each certificate, leaf first, root last.
    pub chain: Vec<String>,
    /// Lower-case hex SHA-1, SHA-256 and SHA-384 of the root.
    pub root_sha1: String,
    pub root_sha256: String,
    pub root_sha384: String,
    key: rsa::PrivateKey,
}

impl std::fmt::Debug for ProvisioningCert {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProvisioningCert")
            .field("chain", &self.chain.len())
            .field("root_sha256", &self.root_sha256)
            .finish_non_exhaustive()
    }
}

/// Longest chain AMT accepts.
const MAX_CHAIN: usize = 4;

impl ProvisioningCert {
    /// Opens the base64 PFX and orders its chain. Errors are for logs; the agent gets the reference's text.
    pub fn open(pfx_base64: &str, password: &str) -> Result<ProvisioningCert, String> {
        let pfx = Pfx::open(pfx_base64, password)?;
        let certs = pfx.certificates();
        let parsed: Vec<X509Certificate<'_>> = certs
            .iter()
            .map(|der| X509Certificate::from_der(der).map(|(_, c)| c))
            .collect::<Result<_, _>>()
            .map_err(|e| format!("unreadable certificate in the PFX: {e}"))?;
        let order = chain_order(&parsed)
            .ok_or("the PFX holds no chain from a leaf to a self-signed root")?;
        if order.len() > MAX_CHAIN {
            return Err(format!(
                "the chain has {} certificates; AMT accepts at most {MAX_CHAIN}",
                order.len()
            ));
        }
        let root = &certs[order[order.len() - 1]];
        let key = rsa::PrivateKey::from_pkcs8_der(pfx.private_key())
            .map_err(|e| format!("the PFX key is not an RSA key: {e}"))?;
        Ok(ProvisioningCert {
            chain: order.iter().map(|&i| STANDARD.encode(&certs[i])).collect(),
            root_sha1: hex::encode(sha1::Sha1::digest(root)),
            root_sha256: hex::encode(sha2::Sha256::digest(root)),
            root_sha384: hex::encode(sha2::Sha384::digest(root)),
            key,
        })
    }

    /// Whether one of the device's trusted hashes is this root's (compared by the hash's length).
    pub fn trusted_by(&self, device_hashes: &[String]) -> bool {
        device_hashes.iter().any(|hash| {
            let hash = hash.to_ascii_lowercase();
            let ours = match hash.len() {
                40 => &self.root_sha1,
                64 => &self.root_sha256,
                96 => &self.root_sha384,
                _ => return false,
            };
            &hash == ours
        })
    }

    /// Base64 RSA PKCS#1 v1.5 SHA-256 signature over `fw_nonce ‖ mc_nonce` (the firmware's nonce first).
    pub fn sign_nonces(&self, fw_nonce: &[u8], mc_nonce: &[u8]) -> String {
        let signer = rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new(self.key.clone());
        let mut message = fw_nonce.to_vec();
        message.extend_from_slice(mc_nonce);
        STANDARD.encode(signer.sign(&message).to_vec())
    }
}

/// Indices leaf → … → root: from the first certificate (the leaf, as the reference takes it) up the issuer
/// links to a self-signed certificate.
fn chain_order(certs: &[X509Certificate<'_>]) -> Option<Vec<usize>> {
    let mut order = vec![0];
    loop {
        let current = &certs[*order.last()?];
        if current.subject().as_raw() == current.issuer().as_raw() {
            return Some(order);
        }
        let next = (0..certs.len()).find(|i| {
            !order.contains(i) && certs[*i].subject().as_raw() == current.issuer().as_raw()
        })?;
        order.push(next);
    }
}

/// A fresh 20-byte console nonce (McNonce).
pub fn mc_nonce() -> [u8; 20] {
    rand::random()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_compare_by_length_and_case() {
        let cert = ProvisioningCert {
            chain: vec![],
            root_sha1: "a".repeat(40),
            root_sha256: "b".repeat(64),
            root_sha384: "c".repeat(96),
            key: rsa::PrivateKey::new(&mut getrandom::SysRng, 1024).unwrap(),
        };
        assert!(cert.trusted_by(&["B".repeat(64)]));
        assert!(cert.trusted_by(&["x".into(), "a".repeat(40)]));
        assert!(!cert.trusted_by(&["b".repeat(40)]));
        assert!(!cert.trusted_by(&[]));
    }
}
