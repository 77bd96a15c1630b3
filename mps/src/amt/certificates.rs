//! AMT certificate routes: input checks of `POST /amt/certificates`.

/// The reference's certificate check: base64 of DER, or base64 of PEM text; not expired.
pub fn check_certificate(input: &str) -> Result<(), &'static str> {
    use base64::Engine;
    const BAD: &str = "Invalid certificate format (not valid DER or PEM)";
    let raw = base64::engine::general_purpose::STANDARD
        .decode(input.trim())
        .map_err(|_| BAD)?;
    let der = match x509_parser::parse_x509_certificate(&raw) {
        Ok(_) => raw,
        Err(_) => {
            let text = std::str::from_utf8(&raw).map_err(|_| BAD)?;
            if !text.contains("-----BEGIN CERTIFICATE-----") {
                return Err(BAD);
            }
            let (_, pem) = x509_parser::pem::parse_x509_pem(text.as_bytes()).map_err(|_| BAD)?;
            pem.contents
        }
    };
    let (_, cert) = x509_parser::parse_x509_certificate(&der).map_err(|_| BAD)?;
    if cert.validity().not_after.timestamp() < time::OffsetDateTime::now_utc().unix_timestamp() {
        return Err("Certificate has expired");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;

    #[test]
    fn der_and_pem_are_accepted_garbage_is_not() {
        let (c, _) = crate::tls::generate("x", 2048).unwrap();
        let b64 = base64::engine::general_purpose::STANDARD;
        assert_eq!(
            check_certificate(&b64.encode(c.root_cert_pem.as_bytes())),
            Ok(())
        );
        let der = x509_parser::pem::parse_x509_pem(c.root_cert_pem.as_bytes())
            .unwrap()
            .1
            .contents;
        assert_eq!(check_certificate(&b64.encode(der)), Ok(()));
        assert_eq!(
            check_certificate("dummy"),
            Err("Invalid certificate format (not valid DER or PEM)")
        );
        assert_eq!(
            check_certificate(""),
            Err("Invalid certificate format (not valid DER or PEM)")
        );
    }
}
