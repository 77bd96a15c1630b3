//! ACM provisioning certificates (PKCS#12 / PFX, base64): opening them and the reference's create-time checks
//! (rps.md §1.4), with its exact messages.
//!
//! PFX files exported for AMT are often legacy (RC2/3DES PBE, OpenSSL `-legacy`); both those and PBES2 open.

use base64::Engine;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use x509_parser::der_parser::parse_der;
use x509_parser::prelude::{FromDer, X509Certificate};
use x509_parser::public_key::PublicKey;

pub const DECRYPT_FAILED: &str = "Unable to decrypt provisioning certificate. Please check that the password is correct, and that the certificate is a valid certificate.";
pub const NO_RSA_CERTIFICATES: &str = "No certificates could be parsed from the provisioning certificate. The certificate may use an unsupported public-key algorithm; an RSA-keyed certificate is required.";
const AMT_ACTIVATION_OID: &str = "2.16.840.1.113741.1.2.3";
const MIN_KEY_BITS: usize = 2048;

/// Base64 as Node's `Buffer.from(s, 'base64')` reads it: whitespace ignored, padding optional.
fn decode_base64(text: &str) -> Option<Vec<u8>> {
    let cleaned: String = text.chars().filter(|c| !c.is_whitespace()).collect();
    let engine = GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
    );
    engine.decode(cleaned.as_bytes()).ok()
}

/// The decrypted content of a PFX: certificates (DER, in bag order, the first is the leaf) and private keys
/// (PKCS#8 DER).
pub struct Pfx {
    certs: Vec<Vec<u8>>,
    keys: Vec<Vec<u8>>,
}

impl Pfx {
    /// Opens a base64 PFX. Errors carry the reference's message.
    pub fn open(pfx_base64: &str, password: &str) -> Result<Pfx, String> {
        let der = decode_base64(pfx_base64).ok_or_else(|| DECRYPT_FAILED.to_owned())?;
        let archive = p12_keystore::Pkcs12Archive::from_pkcs12(&der, password)
            .map_err(|_| DECRYPT_FAILED.to_owned())?;
        // Only RSA certificates are usable for AMT (and the reference's parser reads no others).
        let certs: Vec<Vec<u8>> = archive
            .certs
            .iter()
            .map(|bag| bag.cert.as_der().to_vec())
            .filter(|der| {
                X509Certificate::from_der(der)
                    .is_ok_and(|(_, c)| matches!(c.public_key().parsed(), Ok(PublicKey::RSA(_))))
            })
            .collect();
        if certs.is_empty() {
            return Err(NO_RSA_CERTIFICATES.to_owned());
        }
        let keys: Vec<Vec<u8>> = archive
            .keys
            .iter()
            .map(|bag| bag.key.as_der().to_vec())
            .collect();
        if keys.is_empty() {
            return Err(DECRYPT_FAILED.to_owned());
        }
        Ok(Pfx { certs, keys })
    }

    fn parsed(&self) -> Vec<X509Certificate<'_>> {
        // Every entry parsed already in `open`.
        self.certs
            .iter()
            .filter_map(|der| X509Certificate::from_der(der).ok().map(|(_, c)| c))
            .collect()
    }

    /// The certificates in bag order, DER.
    pub fn certificates(&self) -> &[Vec<u8>] {
        &self.certs
    }

    /// The first private key, PKCS#8 DER.
    pub fn private_key(&self) -> &[u8] {
        &self.keys[0]
    }

    /// The earliest `notAfter` of all certificates: the domain's `expirationDate`.
    pub fn expiration(&self) -> OffsetDateTime {
        self.parsed()
            .iter()
            .filter_map(|c| {
                OffsetDateTime::from_unix_timestamp(c.validity().not_after.timestamp()).ok()
            })
            .min()
            .unwrap_or(OffsetDateTime::UNIX_EPOCH)
    }

    /// The reference's create-time checks, in its order, against `domain_suffix` at time `now`.
    pub fn check(&self, domain_suffix: &str, now: OffsetDateTime) -> Result<(), String> {
        let certs = self.parsed();
        let leaf = certs
            .first()
            .ok_or("No certificates found in the provisioning certificate")?;

        let cn = leaf
            .subject()
            .iter_common_name()
            .next()
            .and_then(|a| a.as_str().ok())
            .ok_or("Provisioning certificate does not contain a Common Name (CN) in the subject")?;
        if last_two_labels(cn) != last_two_labels(domain_suffix) {
            return Err("FQDN not associated with provisioning certificate".into());
        }

        for c in &certs {
            let not_before = c.validity().not_before.timestamp();
            if not_before > now.unix_timestamp() {
                let iso = OffsetDateTime::from_unix_timestamp(not_before)
                    .map(js_iso)
                    .unwrap_or_default();
                return Err(format!(
                    "Uploaded certificate is not yet valid: notBefore date {iso} is in the future"
                ));
            }
            if c.validity().not_after.timestamp() < now.unix_timestamp() {
                return Err("Uploaded certificate has expired".into());
            }
        }

        if !certs
            .iter()
            .any(|c| c.subject().as_raw() == c.issuer().as_raw())
        {
            return Err("Provisioning certificate does not contain a root certificate".into());
        }

        for c in &certs {
            let bits = match c.public_key().parsed() {
                Ok(PublicKey::RSA(rsa)) => rsa.key_size(),
                _ => 0,
            };
            if bits < MIN_KEY_BITS {
                return Err(format!(
                    "Certificate key size {bits} bits is below the minimum required {MIN_KEY_BITS} bits for AMT"
                ));
            }
        }

        let leaf_modulus = match leaf.public_key().parsed() {
            Ok(PublicKey::RSA(rsa)) => strip_zeros(rsa.modulus).to_vec(),
            _ => Vec::new(),
        };
        match rsa_modulus_of_pkcs8(self.private_key()) {
            Some(m) if strip_zeros(&m) == leaf_modulus.as_slice() => {}
            _ => {
                return Err(
                    "Private key in the PFX does not match the leaf certificate public key".into(),
                );
            }
        }

        check_chain(&certs)?;

        let has_oid = matches!(leaf.extended_key_usage(), Ok(Some(eku))
            if eku.value.other.iter().any(|oid| oid.to_id_string() == AMT_ACTIVATION_OID));
        if !has_oid {
            return Err(format!(
                "Leaf certificate is missing the Intel AMT Activation EKU OID ({AMT_ACTIVATION_OID})"
            ));
        }
        Ok(())
    }
}

/// Orders leaf → intermediates → root by issuer links and verifies each signature with the next key up.
fn check_chain(certs: &[X509Certificate<'_>]) -> Result<(), String> {
    if certs.len() <= 1 {
        return Ok(());
    }
    let mut pool: Vec<&X509Certificate<'_>> = certs.iter().skip(1).collect();
    let mut chain = vec![&certs[0]];
    loop {
        let current = chain[chain.len() - 1];
        if current.subject().as_raw() == current.issuer().as_raw() {
            break;
        }
        let Some(i) = pool
            .iter()
            .position(|c| c.subject().as_raw() == current.issuer().as_raw())
        else {
            return Err(
                "Certificate chain is broken: cannot find issuer for a certificate in the chain"
                    .into(),
            );
        };
        chain.push(pool.remove(i));
    }
    for pair in chain.windows(2) {
        pair[0]
            .verify_signature(Some(pair[1].public_key()))
            .map_err(|e| format!("Certificate chain signature verification failed: {e}"))?;
    }
    let root = chain[chain.len() - 1];
    root.verify_signature(None)
        .map_err(|e| format!("Certificate chain signature verification failed: {e}"))
}

/// `a.b.corp.com` → "corp.com", as the reference splits (a single label gives "undefined.<label>").
fn last_two_labels(name: &str) -> String {
    let labels: Vec<&str> = name.split('.').collect();
    let n = labels.len();
    let second = if n >= 2 { labels[n - 2] } else { "undefined" };
    format!("{second}.{}", labels[n - 1]).trim().to_owned()
}

fn strip_zeros(bytes: &[u8]) -> &[u8] {
    let first = bytes.iter().position(|b| *b != 0).unwrap_or(bytes.len());
    &bytes[first..]
}

/// The modulus of an RSA key in a PKCS#8 PrivateKeyInfo:
/// `SEQUENCE { version, algorithm, OCTET STRING { RSAPrivateKey SEQUENCE { version, modulus, ... } } }`.
fn rsa_modulus_of_pkcs8(der: &[u8]) -> Option<Vec<u8>> {
    let (_, info) = parse_der(der).ok()?;
    let fields = info.as_sequence().ok()?;
    let inner = fields.get(2)?.as_slice().ok()?;
    let (_, rsa) = parse_der(inner).ok()?;
    let modulus = rsa.as_sequence().ok()?.get(1)?.as_slice().ok()?;
    Some(modulus.to_vec())
}

/// JavaScript's `Date.prototype.toISOString`: `2033-11-09T18:56:25.000Z`.
pub fn js_iso(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    let ms = t.millisecond();
    let base = t
        .replace_nanosecond(0)
        .unwrap_or(t)
        .format(&Rfc3339)
        .unwrap_or_default();
    match base.strip_suffix('Z') {
        Some(stem) => format!("{stem}.{ms:03}Z"),
        None => base,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suffix_comparison_uses_the_last_two_labels() {
        assert_eq!(last_two_labels("intel.vprodemo.com"), "vprodemo.com");
        assert_eq!(last_two_labels("vprodemo.com"), "vprodemo.com");
        assert_eq!(last_two_labels("localhost"), "undefined.localhost");
    }

    #[test]
    fn iso_dates_print_like_javascript() {
        let t = OffsetDateTime::from_unix_timestamp(2_015_170_585).unwrap();
        assert_eq!(js_iso(t), "2033-11-09T17:36:25.000Z");
        let t = OffsetDateTime::from_unix_timestamp_nanos(2_015_170_585_123_000_000).unwrap();
        assert_eq!(js_iso(t), "2033-11-09T17:36:25.123Z");
    }

    #[test]
    fn garbage_is_a_decrypt_failure() {
        for input in ["test", "", "!!!", "AAAA"] {
            assert_eq!(
                Pfx::open(input, "pw").err().as_deref(),
                Some(DECRYPT_FAILED),
                "{input:?}"
            );
        }
    }
}
