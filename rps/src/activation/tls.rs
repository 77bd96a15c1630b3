//! TLS on AMT's network interface when the profile has a `tlsMode` (rps.md §3.8, decision 4 of §9): the
//! profile's self-signed root (`TLS/<profile>`, made by the REST API) is added as a trusted root, AMT makes a
//! key pair, RPS issues its server certificate (CN `AMT-<hostname>`, EKU serverAuth) with the root's key, binds
//! it as the TLS credential, syncs AMT's clock, enables TLS remotely then locally, and commits.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rcgen::{
    CertificateParams, DistinguishedName, DnType, ExtendedKeyUsagePurpose, Issuer, KeyPair,
    PKCS_RSA_SHA256, SerialNumber, SubjectPublicKeyInfo, date_time_ymd,
};
use rsa::pkcs1::{DecodeRsaPrivateKey as _, DecodeRsaPublicKey as _};
use rsa::pkcs8::{DecodePublicKey as _, EncodePrivateKey as _, EncodePublicKey as _};
use rustls::pki_types::{CertificateDer, PrivatePkcs8KeyDer};
use serde_json::Value;
use wsman::messages::amt;
use wsman::{Call, catalog};

use super::configure::{enumerate_pull, instance_selector};
use super::job::Job;
use super::relay::{self, CallOptions};
use super::status::{Component, Outcome};
use super::store::Profile;

pub async fn run(job: &mut Job, profile: &Profile) {
    let result = configure(job, profile).await;
    let (outcome, text) = match result {
        Ok(()) => (Outcome::Success, "Configured".to_owned()),
        Err(e) => {
            tracing::warn!(guid = %job.guid, reason = %e, "TLS configuration failed");
            (Outcome::Failure, e)
        }
    };
    job.status.tls_configuration = Some(text.clone());
    job.status
        .record(Component::Tls, outcome, None, Some(&text));
}

/// The profile's root: its certificate (DER) and its signing key.
struct Root {
    der: Vec<u8>,
    key: KeyPair,
}

fn root_of(material: &serde_json::Map<String, Value>) -> Result<Root, String> {
    let root = material
        .get("ROOT_CERTIFICATE")
        .ok_or("the profile has no TLS root certificate")?;
    let der = root["certbin"]
        .as_str()
        .and_then(|b| STANDARD.decode(b).ok())
        .ok_or("the profile's TLS root certificate is unreadable")?;
    let pem = root["privateKeyBin"]
        .as_str()
        .ok_or("the profile's TLS root key is missing")?;
    let key = rsa::PrivateKey::from_pkcs1_pem(pem)
        .map_err(|e| format!("the profile's TLS root key is unreadable: {e}"))?;
    let pkcs8 = key.to_pkcs8_der().map_err(|e| e.to_string())?;
    let key = KeyPair::from_pkcs8_der_and_sign_algo(
        &PrivatePkcs8KeyDer::from(pkcs8.as_bytes().to_vec()),
        &PKCS_RSA_SHA256,
    )
    .map_err(|e| e.to_string())?;
    Ok(Root { der, key })
}

/// AMT's `DERKey` (PKCS#1 RSAPublicKey, or a SubjectPublicKeyInfo) as SubjectPublicKeyInfo DER.
fn public_key_info(der_key_base64: &str) -> Result<Vec<u8>, String> {
    let der = STANDARD
        .decode(der_key_base64.trim())
        .map_err(|e| format!("DERKey is not base64: {e}"))?;
    let key = rsa::PublicKey::from_pkcs1_der(&der)
        .or_else(|_| rsa::PublicKey::from_public_key_der(&der))
        .map_err(|e| format!("DERKey is not an RSA public key: {e}"))?;
    Ok(key
        .to_public_key_der()
        .map_err(|e| e.to_string())?
        .as_bytes()
        .to_vec())
}

/// The device's TLS server certificate, issued by the profile root.
fn issue_certificate(root: &Root, spki: &[u8], common_name: &str) -> Result<Vec<u8>, String> {
    let mut params = CertificateParams::new(Vec::<String>::new()).map_err(|e| e.to_string())?;
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, common_name);
    dn.push(DnType::CountryName, "None");
    dn.push(DnType::StateOrProvinceName, "None");
    dn.push(DnType::OrganizationName, "None");
    params.distinguished_name = dn;
    params.not_before = date_time_ymd(2018, 1, 1);
    params.not_after = date_time_ymd(2049, 12, 31);
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    let mut serial: [u8; 16] = rand::random();
    serial[0] &= 0x7f;
    serial[15] |= 1;
    params.serial_number = Some(SerialNumber::from_slice(&serial));
    let public = SubjectPublicKeyInfo::from_der(spki).map_err(|e| e.to_string())?;
    let issuer = Issuer::from_ca_cert_der(&CertificateDer::from(root.der.clone()), &root.key)
        .map_err(|e| e.to_string())?;
    let cert = params
        .signed_by(&public, &issuer)
        .map_err(|e| e.to_string())?;
    Ok(cert.der().to_vec())
}

fn credential_context(action: &str, handle: &str) -> Call {
    let mut call = amt::tls_credential_context_create(handle);
    call.action = action.to_owned();
    call
}

async fn configure(job: &mut Job, profile: &Profile) -> Result<(), String> {
    if profile
        .tls_signing_authority
        .as_deref()
        .is_some_and(|a| a.eq_ignore_ascii_case("MicrosoftCA"))
    {
        return Err("TLS certificates signed by a Microsoft CA need the Enterprise Assistant, which is not supported".into());
    }
    let material = job
        .ctx
        .store
        .tls_material(&profile.name)
        .await
        .map_err(|e| format!("reading the profile's TLS material failed: {e}"))?
        .ok_or("the profile has no TLS certificates in the secret store")?;
    let root = root_of(&material)?;

    let added = job
        .relay
        .call(&amt::add_trusted_root_certificate(
            &STANDARD.encode(&root.der),
        ))
        .await;
    if let Err(e) = added
        && e.fault().and_then(|f| f.subcode_name()) != Some("AlreadyExists")
    {
        return Err("Failed to add trusted root certificates".into());
    }

    let generated = job
        .relay
        .call(&amt::generate_key_pair(0, 2048))
        .await
        .map_err(|_| "Failed to generate key pair")?;
    let handle = relay::text(
        &generated.body()["GenerateKeyPair_OUTPUT"]["KeyPair"]["ReferenceParameters"]["SelectorSet"]
            ["Selector"],
    )
    .ok_or("Failed to generate key pair")?;
    let pairs = enumerate_pull(&mut job.relay, "AMT_PublicPrivateKeyPair")
        .await
        .map_err(|_| "Failed to pull public private key pair")?;
    let der_key = pairs
        .iter()
        .find(|p| relay::text(&p["InstanceID"]).as_deref() == Some(handle.as_str()))
        .and_then(|p| relay::text(&p["DERKey"]))
        .ok_or("Failed to pull public private key pair")?;
    let spki = public_key_info(&der_key)?;
    let hostname = &job.request.payload.hostname;
    let common_name = format!(
        "AMT-{}",
        if hostname.is_empty() {
            job.uuid()
        } else {
            hostname.clone()
        }
    );
    let leaf = issue_certificate(&root, &spki, &common_name)?;
    let added = job
        .relay
        .call(&amt::add_certificate(&STANDARD.encode(&leaf)))
        .await
        .map_err(|_| "Failed to add certificate")?;
    let certificate = relay::text(
        &added.body()["AddCertificate_OUTPUT"]["CreatedCertificate"]["ReferenceParameters"]["SelectorSet"]["Selector"],
    )
    .ok_or("Failed to add certificate")?;

    let contexts = enumerate_pull(&mut job.relay, "AMT_TLSCredentialContext")
        .await
        .map_err(|_| "Failed to pull TLS credential context")?;
    if contexts.is_empty() {
        job.relay
            .call(&credential_context(catalog::action::CREATE, &certificate))
            .await
            .map_err(|_| "Failed to create TLS credential context")?;
    } else {
        job.relay
            .call(&credential_context(catalog::action::PUT, &certificate))
            .await
            .map_err(|_| "Failed to put TLS credential context")?;
    }

    // AMT checks certificate validity against its own clock.
    let low = job
        .relay
        .call(&amt::get_low_accuracy_time_synch())
        .await
        .map_err(|_| "Failed to get low accuracy time synch")?;
    let ta0 = relay::number(&low.body()["GetLowAccuracyTimeSynch_OUTPUT"]["Ta0"]).unwrap_or(0);
    let now = time::OffsetDateTime::now_utc().unix_timestamp().max(0) as u64;
    job.relay
        .call(&amt::set_high_accuracy_time_synch(
            ta0.max(0) as u64,
            now,
            now,
        ))
        .await
        .map_err(|_| "Failed to set high accuracy time synch")?;

    let timings = job.relay.timings().clone();
    let options = CallOptions::with_timeout(timings.tls_call_timeout());
    let settings = enumerate_pull(&mut job.relay, "AMT_TLSSettingData")
        .await
        .map_err(|_| "Failed to pull TLS data")?;
    let (Some(remote), Some(local)) = (settings.first(), settings.get(1)) else {
        return Err("Failed to pull TLS data".into());
    };
    let mode = profile.tls_mode.unwrap_or(1);
    let mut remote = remote.clone();
    if let Some(o) = remote.as_object_mut() {
        o.insert("Enabled".into(), Value::Bool(true));
        let non_secure_supported = o
            .get("NonSecureConnectionsSupported")
            .is_none_or(|v| v == &Value::Bool(true));
        if non_secure_supported {
            o.insert(
                "AcceptNonSecureConnections".into(),
                Value::Bool(mode != 1 && mode != 3),
            );
        }
        o.insert(
            "MutualAuthentication".into(),
            Value::Bool(mode == 3 || mode == 4),
        );
    }
    let selectors = instance_selector(&remote);
    job.relay
        .call_with(
            &Call::put_selected("AMT_TLSSettingData", &remote, selectors),
            options,
        )
        .await
        .map_err(|_| "Failed to update remote TLS data")?;
    if !timings.tls_settle.is_zero() {
        tokio::time::sleep(timings.tls_settle).await;
    }
    let mut local = local.clone();
    if let Some(o) = local.as_object_mut() {
        o.insert("Enabled".into(), Value::Bool(true));
    }
    let selectors = instance_selector(&local);
    job.relay
        .call_with(
            &Call::put_selected("AMT_TLSSettingData", &local, selectors),
            options,
        )
        .await
        .map_err(|_| "Failed to update local TLS data")?;
    job.relay
        .call_with(&amt::commit_changes(), options)
        .await
        .map_err(|_| "Failed to commit changes")?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use x509_parser::prelude::{FromDer, X509Certificate};

    #[test]
    fn issues_a_server_certificate_for_an_amt_key_from_the_profile_root() {
        let material = crate::tls_certs::generate("tlsprofile").unwrap();
        let root = root_of(material.as_object().unwrap()).unwrap();
        let device_key = rsa::PrivateKey::new(&mut getrandom::SysRng, 2048).unwrap();
        use rsa::pkcs1::EncodeRsaPublicKey as _;
        let amt_der_key = STANDARD.encode(
            device_key
                .to_public_key()
                .to_pkcs1_der()
                .unwrap()
                .as_bytes(),
        );
        let spki = public_key_info(&amt_der_key).unwrap();
        let leaf = issue_certificate(&root, &spki, "AMT-host1").unwrap();
        let (_, cert) = X509Certificate::from_der(&leaf).unwrap();
        let (_, root_cert) = X509Certificate::from_der(&root.der).unwrap();
        assert_eq!(cert.issuer().as_raw(), root_cert.subject().as_raw());
        cert.verify_signature(Some(root_cert.public_key())).unwrap();
        assert_eq!(
            cert.subject()
                .iter_common_name()
                .next()
                .unwrap()
                .as_str()
                .unwrap(),
            "AMT-host1"
        );
        assert!(
            cert.extended_key_usage()
                .unwrap()
                .unwrap()
                .value
                .server_auth
        );
        assert_eq!(cert.public_key().raw, &spki[..]);
    }
}
