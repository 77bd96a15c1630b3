//! Certificates, keys and TLS: AMT_PublicKeyManagementService (add roots, certificates and keys,
//! generate RSA key pairs, sign CSRs), AMT_PublicKeyCertificate, AMT_PublicPrivateKeyPair,
//! AMT_TLSSettingData, AMT_TLSCredentialContext and the association classes that tie them together.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use wsman::response::{FaultSpec, Instance, Prop};
use wsman::{EndpointReference, Selector};

use super::{AMT_SYSTEM, flag, reference, service};
use crate::device::pki::{CertificateError, certificate_instance_id, key_instance_id};
use crate::device::{DeviceState, Identity};
use crate::wsman_server::dispatch::{ClassDef, Ctx, OpResult, Output, return_value};

pub const CLASSES: &[ClassDef] = &[
    ClassDef {
        name: "AMT_PublicKeyManagementService",
        instances: key_management_service,
        put: None,
        delete: None,
        create: None,
        methods: &[
            ("AddTrustedRootCertificate", add_trusted_root_certificate),
            ("AddCertificate", add_certificate),
            ("AddKey", add_key),
            ("GenerateKeyPair", generate_key_pair),
            ("GeneratePKCS10RequestEx", generate_pkcs10_request_ex),
        ],
    },
    ClassDef {
        name: "AMT_PublicKeyCertificate",
        instances: certificates,
        put: Some(put_certificate),
        delete: Some(delete_certificate),
        create: None,
        methods: &[],
    },
    ClassDef {
        name: "AMT_PublicPrivateKeyPair",
        instances: key_pairs,
        put: None,
        delete: Some(delete_key_pair),
        create: None,
        methods: &[],
    },
    ClassDef {
        name: "AMT_TLSSettingData",
        instances: tls_settings,
        put: Some(put_tls_setting),
        delete: None,
        create: None,
        methods: &[],
    },
    ClassDef {
        name: "AMT_TLSCredentialContext",
        instances: tls_credential_contexts,
        put: Some(put_tls_credential_context),
        delete: Some(delete_tls_credential_context),
        create: Some(create_tls_credential_context),
        methods: &[],
    },
    ClassDef::read_only("AMT_TLSProtocolEndpointCollection", tls_endpoint_collection),
    ClassDef::read_only("CIM_ConcreteDependency", concrete_dependencies),
    ClassDef::read_only("CIM_CredentialContext", no_instances),
];

const PT_MAX_LIMIT: u32 = 23;
const PT_INVALID_PARAMETER: u32 = 36;
const PT_DUPLICATE: u32 = 2058;
const TLS_COLLECTION: &str = "TLSProtocolEndpoint Instances Collection";

/// A fresh RSA-2048 key: (PKCS#1 public DER, PKCS#8 private DER). Runs off the async threads.
pub fn generate_rsa_key() -> Option<(Vec<u8>, Vec<u8>)> {
    use rsa::pkcs1::EncodeRsaPublicKey;
    use rsa::pkcs8::EncodePrivateKey;
    let key = match rsa::PrivateKey::new(&mut getrandom::SysRng, 2048) {
        Ok(key) => key,
        Err(error) => {
            tracing::warn!(%error, "RSA key generation failed");
            return None;
        }
    };
    let public = key.to_public_key().to_pkcs1_der().ok()?.as_bytes().to_vec();
    let private = key.to_pkcs8_der().ok()?.as_bytes().to_vec();
    Some((public, private))
}

fn no_instances(_: &Identity, _: &DeviceState) -> Vec<Instance> {
    Vec::new()
}

fn key_management_service(_: &Identity, _: &DeviceState) -> Vec<Instance> {
    vec![service(
        "AMT_PublicKeyManagementService",
        "Intel(r) AMT Certificate Store Service",
        "Intel(r) AMT Public Key Management Service",
        AMT_SYSTEM,
        &[
            ("EnabledDefault", "5".into()),
            ("EnabledState", "5".into()),
            ("RequestedState", "12".into()),
        ],
    )]
}

fn certificate_reference(handle: u32) -> EndpointReference {
    reference(
        "AMT_PublicKeyCertificate",
        &[("InstanceID", &certificate_instance_id(handle))],
    )
}

fn key_reference(handle: u32) -> EndpointReference {
    reference(
        "AMT_PublicPrivateKeyPair",
        &[("InstanceID", &key_instance_id(handle))],
    )
}

fn store_certificate(ctx: &mut Ctx<'_>, trusted_root: bool) -> OpResult<Output> {
    let blob = ctx.required("CertificateBlob")?;
    let Ok(der) = STANDARD.decode(blob.split_whitespace().collect::<String>().as_bytes()) else {
        return Ok(return_value(PT_INVALID_PARAMETER));
    };
    match ctx.state.pki.add_certificate(der, trusted_root) {
        Ok(handle) => {
            // TLS Trusted Root Certificate Added (app 16, event 10).
            if trusted_root {
                ctx.audit(16, 10, Vec::new());
            }
            Ok(vec![
                (
                    "CreatedCertificate".into(),
                    Prop::Reference(certificate_reference(handle)),
                ),
                ("ReturnValue".into(), Prop::text(0)),
            ])
        }
        Err(CertificateError::Invalid(reason)) => {
            tracing::debug!(%reason, "certificate refused");
            Ok(return_value(PT_INVALID_PARAMETER))
        }
        Err(CertificateError::Duplicate) => Ok(return_value(PT_DUPLICATE)),
        Err(CertificateError::Full) => Ok(return_value(PT_MAX_LIMIT)),
    }
}

fn add_trusted_root_certificate(ctx: &mut Ctx<'_>) -> OpResult<Output> {
    store_certificate(ctx, true)
}

fn add_certificate(ctx: &mut Ctx<'_>) -> OpResult<Output> {
    store_certificate(ctx, false)
}

/// AddKey(KeyBlob): an RSA private key (PKCS#1 or PKCS#8 DER, base64).
fn add_key(ctx: &mut Ctx<'_>) -> OpResult<Output> {
    use rsa::pkcs1::{DecodeRsaPrivateKey, EncodeRsaPublicKey};
    use rsa::pkcs8::{DecodePrivateKey, EncodePrivateKey};
    let blob = ctx.required("KeyBlob")?;
    let der = STANDARD
        .decode(blob.split_whitespace().collect::<String>().as_bytes())
        .unwrap_or_default();
    let key =
        rsa::PrivateKey::from_pkcs8_der(&der).or_else(|_| rsa::PrivateKey::from_pkcs1_der(&der));
    let Ok(key) = key else {
        return Ok(return_value(PT_INVALID_PARAMETER));
    };
    let (Ok(public), Ok(private)) = (key.to_public_key().to_pkcs1_der(), key.to_pkcs8_der()) else {
        return Ok(return_value(PT_INVALID_PARAMETER));
    };
    let public = public.as_bytes().to_vec();
    if ctx
        .state
        .pki
        .key_pairs
        .iter()
        .any(|k| k.public_der == public)
    {
        return Ok(return_value(PT_DUPLICATE));
    }
    let handle = ctx
        .state
        .pki
        .add_key_pair(public, private.as_bytes().to_vec());
    Ok(vec![
        ("CreatedKey".into(), Prop::Reference(key_reference(handle))),
        ("ReturnValue".into(), Prop::text(0)),
    ])
}

/// GenerateKeyPair(KeyAlgorithm 0 = RSA, KeyLength 2048).
fn generate_key_pair(ctx: &mut Ctx<'_>) -> OpResult<Output> {
    let algorithm = ctx.required_u32("KeyAlgorithm")?;
    let length = ctx.required_u32("KeyLength")?;
    if algorithm != 0 || length != 2048 {
        return Ok(return_value(PT_INVALID_PARAMETER));
    }
    let Some((public, private)) = ctx.generated_key.take() else {
        return Ok(return_value(1));
    };
    let handle = ctx.state.pki.add_key_pair(public, private);
    Ok(vec![
        ("KeyPair".into(), Prop::Reference(key_reference(handle))),
        ("ReturnValue".into(), Prop::text(0)),
    ])
}

/// GeneratePKCS10RequestEx(KeyPair, SigningAlgorithm, NullSignedCertificateRequest): signs the
/// request info of the null-signed CSR with the device-held key (SHA-256, PKCS#1 v1.5).
fn generate_pkcs10_request_ex(ctx: &mut Ctx<'_>) -> OpResult<Output> {
    use rsa::pkcs8::DecodePrivateKey;
    use rsa::signature::{SignatureEncoding, Signer};
    let key_id = ctx
        .reference("KeyPair")
        .and_then(|r| r.selector("InstanceID").map(str::to_string));
    let csr = ctx.required("NullSignedCertificateRequest")?;
    let _signing_algorithm = ctx.field_u32("SigningAlgorithm")?;
    let Some(key) = key_id.and_then(|id| ctx.state.pki.key_by_instance(&id).cloned()) else {
        return Ok(return_value(PT_INVALID_PARAMETER));
    };
    let csr = STANDARD
        .decode(csr.split_whitespace().collect::<String>().as_bytes())
        .unwrap_or_default();
    let Some(info) = der::first_element_of_sequence(&csr) else {
        return Ok(return_value(PT_INVALID_PARAMETER));
    };
    let Ok(private) = rsa::PrivateKey::from_pkcs8_der(&key.private_pkcs8) else {
        return Ok(return_value(1));
    };
    let signer = rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new(private);
    let signature = signer.sign(info).to_vec();
    let signed = der::signed_request(info, &signature);
    Ok(vec![
        (
            "SignedCertificateRequest".into(),
            Prop::text(STANDARD.encode(signed)),
        ),
        ("ReturnValue".into(), Prop::text(0)),
    ])
}

fn certificates(_: &Identity, state: &DeviceState) -> Vec<Instance> {
    state
        .pki
        .certificates
        .iter()
        .map(|c| {
            Instance::new("AMT_PublicKeyCertificate")
                .with("ElementName", "Intel(r) AMT Certificate")
                .with("InstanceID", c.instance_id())
                .with("Issuer", &c.issuer)
                .with("ReadOnlyCertificate", "false")
                .with("Subject", &c.subject)
                .with("TrustedRootCertficate", flag(c.trusted_root))
                .with("X509Certificate", STANDARD.encode(&c.der))
        })
        .collect()
}

fn selected_certificate(ctx: &Ctx<'_>) -> OpResult<u32> {
    let id = ctx
        .request
        .selector("InstanceID")
        .map(str::to_string)
        .or_else(|| ctx.field("InstanceID"));
    id.and_then(|id| ctx.state.pki.certificate_by_instance(&id).map(|c| c.handle))
        .ok_or_else(FaultSpec::invalid_selectors)
}

/// Only the trusted-root flag can change.
fn put_certificate(ctx: &mut Ctx<'_>) -> OpResult<()> {
    let handle = selected_certificate(ctx)?;
    let trusted = ctx.field_bool("TrustedRootCertficate")?;
    if let (Some(trusted), Some(cert)) = (
        trusted,
        ctx.state
            .pki
            .certificates
            .iter_mut()
            .find(|c| c.handle == handle),
    ) {
        cert.trusted_root = trusted;
    }
    Ok(())
}

/// A certificate bound by the TLS credential context cannot be deleted.
fn delete_certificate(ctx: &mut Ctx<'_>) -> OpResult<()> {
    let handle = selected_certificate(ctx)?;
    if ctx.state.pki.tls_certificate == Some(handle) {
        return Err(FaultSpec::access_denied());
    }
    ctx.state.pki.certificates.retain(|c| c.handle != handle);
    Ok(())
}

fn key_pairs(_: &Identity, state: &DeviceState) -> Vec<Instance> {
    state
        .pki
        .key_pairs
        .iter()
        .map(|k| {
            Instance::new("AMT_PublicPrivateKeyPair")
                .with("DERKey", STANDARD.encode(&k.public_der))
                .with("ElementName", "Intel(r) AMT Key")
                .with("InstanceID", key_instance_id(k.handle))
        })
        .collect()
}

fn delete_key_pair(ctx: &mut Ctx<'_>) -> OpResult<()> {
    let id = ctx
        .request
        .selector("InstanceID")
        .map(str::to_string)
        .ok_or_else(FaultSpec::invalid_selectors)?;
    let handle = ctx
        .state
        .pki
        .key_by_instance(&id)
        .map(|k| k.handle)
        .ok_or_else(FaultSpec::invalid_selectors)?;
    ctx.state.pki.key_pairs.retain(|k| k.handle != handle);
    for cert in &mut ctx.state.pki.certificates {
        if cert.key_handle == Some(handle) {
            cert.key_handle = None;
        }
    }
    Ok(())
}

fn tls_settings(_: &Identity, state: &DeviceState) -> Vec<Instance> {
    [&state.pki.remote_tls, &state.pki.local_tls]
        .into_iter()
        .map(|t| {
            let mut i = Instance::new("AMT_TLSSettingData")
                .with(
                    "AcceptNonSecureConnections",
                    flag(t.accept_non_secure_connections),
                )
                .with("ElementName", t.instance_id)
                .with("Enabled", flag(t.enabled))
                .with("InstanceID", t.instance_id)
                .with("MutualAuthentication", flag(t.mutual_authentication));
            if !t.trusted_cn.is_empty() {
                i = i.with_prop("TrustedCN", Prop::List(t.trusted_cn.clone()));
            }
            i
        })
        .collect()
}

/// Enabling TLS needs a certificate bound by AMT_TLSCredentialContext.
fn put_tls_setting(ctx: &mut Ctx<'_>) -> OpResult<()> {
    let id = ctx
        .request
        .selector("InstanceID")
        .map(str::to_string)
        .or_else(|| ctx.field("InstanceID"));
    let id = id.ok_or_else(FaultSpec::invalid_selectors)?;
    let enabled = ctx.field_bool("Enabled")?;
    let accept = ctx.field_bool("AcceptNonSecureConnections")?;
    let mutual = ctx.field_bool("MutualAuthentication")?;
    let trusted_cn = ctx.fields("TrustedCN");
    let has_certificate = ctx.state.pki.tls_certificate.is_some();
    let pki = &mut ctx.state.pki;
    let setting = if id == pki.remote_tls.instance_id {
        &mut pki.remote_tls
    } else if id == pki.local_tls.instance_id {
        &mut pki.local_tls
    } else {
        return Err(FaultSpec::invalid_selectors());
    };
    if enabled == Some(true) && !has_certificate {
        return Err(FaultSpec::schema_validation_error(
            "TLS needs a certificate bound by AMT_TLSCredentialContext.",
        ));
    }
    if let Some(v) = enabled {
        setting.enabled = v;
    }
    if let Some(v) = accept {
        setting.accept_non_secure_connections = v;
    }
    if let Some(v) = mutual {
        setting.mutual_authentication = v;
    }
    if !trusted_cn.is_empty() {
        setting.trusted_cn = trusted_cn;
    }
    let remote = u8::from(ctx.state.pki.remote_tls.enabled)
        + u8::from(ctx.state.pki.remote_tls.mutual_authentication);
    let local = u8::from(ctx.state.pki.local_tls.enabled);
    ctx.audit(16, 7, vec![remote, local]); // TLS State Changed
    Ok(())
}

fn tls_context_properties(handle: u32) -> Vec<(String, Prop)> {
    vec![
        (
            "ElementInContext".into(),
            Prop::Reference(certificate_reference(handle)),
        ),
        (
            "ElementProvidingContext".into(),
            Prop::Reference(reference(
                "AMT_TLSProtocolEndpointCollection",
                &[("ElementName", TLS_COLLECTION)],
            )),
        ),
    ]
}

fn tls_credential_contexts(_: &Identity, state: &DeviceState) -> Vec<Instance> {
    state
        .pki
        .tls_certificate
        .map(|handle| Instance {
            class: "AMT_TLSCredentialContext".into(),
            props: tls_context_properties(handle),
        })
        .into_iter()
        .collect()
}

/// The certificate handle named by `ElementInContext`.
fn context_certificate(ctx: &Ctx<'_>) -> OpResult<u32> {
    let id = ctx
        .reference("ElementInContext")
        .and_then(|r| r.selector("InstanceID").map(str::to_string));
    id.and_then(|id| ctx.state.pki.certificate_by_instance(&id).map(|c| c.handle))
        .ok_or_else(|| {
            FaultSpec::schema_validation_error(
                "ElementInContext names no certificate in the store.",
            )
        })
}

fn create_tls_credential_context(ctx: &mut Ctx<'_>) -> OpResult<EndpointReference> {
    let handle = context_certificate(ctx)?;
    if ctx.state.pki.tls_certificate.is_some() {
        return Err(FaultSpec::already_exists());
    }
    ctx.state.pki.tls_certificate = Some(handle);
    ctx.audit(16, 8, Vec::new()); // TLS Server Certificate Set
    Ok(EndpointReference::to_class(
        "AMT_TLSCredentialContext",
        vec![
            Selector::reference("ElementInContext", certificate_reference(handle)),
            Selector::reference(
                "ElementProvidingContext",
                reference(
                    "AMT_TLSProtocolEndpointCollection",
                    &[("ElementName", TLS_COLLECTION)],
                ),
            ),
        ],
    ))
}

fn put_tls_credential_context(ctx: &mut Ctx<'_>) -> OpResult<()> {
    let handle = context_certificate(ctx)?;
    ctx.state.pki.tls_certificate = Some(handle);
    ctx.audit(16, 8, Vec::new());
    Ok(())
}

/// Removing the TLS certificate binding; TLS must be off first.
fn delete_tls_credential_context(ctx: &mut Ctx<'_>) -> OpResult<()> {
    if ctx.state.pki.tls_certificate.is_none() {
        return Err(FaultSpec::invalid_selectors());
    }
    if ctx.state.pki.remote_tls.enabled || ctx.state.pki.local_tls.enabled {
        return Err(FaultSpec::access_denied());
    }
    ctx.state.pki.tls_certificate = None;
    ctx.audit(16, 9, Vec::new()); // TLS Server Certificate Removed
    Ok(())
}

fn tls_endpoint_collection(_: &Identity, _: &DeviceState) -> Vec<Instance> {
    vec![Instance::new("AMT_TLSProtocolEndpointCollection").with("ElementName", TLS_COLLECTION)]
}

/// Certificate ↔ key-pair associations (a certificate whose private key AMT holds).
fn concrete_dependencies(_: &Identity, state: &DeviceState) -> Vec<Instance> {
    state
        .pki
        .certificates
        .iter()
        .filter_map(|c| c.key_handle.map(|k| (c.handle, k)))
        .map(|(cert, key)| {
            Instance::new("CIM_ConcreteDependency")
                .with_prop("Antecedent", Prop::Reference(certificate_reference(cert)))
                .with_prop("Dependent", Prop::Reference(key_reference(key)))
        })
        .collect()
}

/// Just enough DER to re-sign a PKCS#10 request.
mod der {
    /// Returns (header length, content length) of the element at the start of `bytes`.
    fn header(bytes: &[u8]) -> Option<(usize, usize)> {
        let first = *bytes.get(1)?;
        if first < 0x80 {
            return Some((2, usize::from(first)));
        }
        let count = usize::from(first & 0x7f);
        if count == 0 || count > 4 {
            return None;
        }
        let mut length = 0usize;
        for i in 0..count {
            length = (length << 8) | usize::from(*bytes.get(2 + i)?);
        }
        Some((2 + count, length))
    }

    /// The complete first element inside the outer SEQUENCE of `bytes` (the CertificationRequestInfo).
    pub fn first_element_of_sequence(bytes: &[u8]) -> Option<&[u8]> {
        if bytes.first() != Some(&0x30) {
            return None;
        }
        let (outer_header, outer_length) = header(bytes)?;
        let content = bytes.get(outer_header..outer_header + outer_length)?;
        if content.first() != Some(&0x30) {
            return None;
        }
        let (h, l) = header(content)?;
        content.get(..h + l)
    }

    fn encode_length(length: usize, out: &mut Vec<u8>) {
        if length < 0x80 {
            out.push(length as u8);
        } else {
            let bytes = length.to_be_bytes();
            let skip = bytes.iter().take_while(|b| **b == 0).count();
            out.push(0x80 | (bytes.len() - skip) as u8);
            out.extend_from_slice(&bytes[skip..]);
        }
    }

    /// SEQUENCE { info, sha256WithRSAEncryption, BIT STRING signature }.
    pub fn signed_request(info: &[u8], signature: &[u8]) -> Vec<u8> {
        const SHA256_WITH_RSA: [u8; 15] = [
            0x30, 0x0d, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x01, 0x0b, 0x05,
            0x00,
        ];
        let mut bit_string = vec![0x03];
        encode_length(signature.len() + 1, &mut bit_string);
        bit_string.push(0);
        bit_string.extend_from_slice(signature);
        let mut out = vec![0x30];
        encode_length(
            info.len() + SHA256_WITH_RSA.len() + bit_string.len(),
            &mut out,
        );
        out.extend_from_slice(info);
        out.extend_from_slice(&SHA256_WITH_RSA);
        out.extend_from_slice(&bit_string);
        out
    }
}
