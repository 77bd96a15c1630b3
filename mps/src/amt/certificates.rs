//! AMT certificate routes: the certificate inventory, adding trusted roots and client
//! certificates, and deleting them (with the reference's read-only and in-use checks).

use super::{Amt, AmtRequest, Failure, pulled, truthy};
use crate::rest::errors::{BAD_REQUEST, api_error};
use crate::rest::validate::as_bool;
use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use base64::Engine;
use serde_json::{Value, json};
use wsman::messages::amt as amt_msgs;
use wsman::{Call, Selector};

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

/// The selector value of an endpoint reference as xml2js leaves it (attributes dropped).
fn epr_selector(epr: &Value) -> Option<String> {
    match &epr["ReferenceParameters"]["SelectorSet"]["Selector"] {
        Value::Array(a) => a.first().and_then(wsman::parse::value_text),
        v => wsman::parse::value_text(v),
    }
}

fn epr_class(epr: &Value) -> String {
    wsman::parse::value_text(&epr["ReferenceParameters"]["ResourceURI"])
        .map(|u| wsman::catalog::class_name(&u).to_string())
        .unwrap_or_default()
}

/// Profile type of the class providing a credential context.
fn profile_type(class: &str) -> &'static str {
    match class {
        "AMT_TLSProtocolEndpointCollection" | "AMT_TLSCredentialContext" => "TLS",
        "CIM_IEEE8021xSettings" | "IPS_IEEE8021xSettings" => "Wireless",
        _ => "Wired",
    }
}

struct Inventory {
    certs: Vec<Value>,
    keys: Vec<Value>,
    contexts: Vec<Value>,
    dependencies: Vec<Value>,
}

async fn inventory(amt: &Amt<'_>) -> Result<Inventory, Failure> {
    Ok(Inventory {
        dependencies: pulled(
            &amt.enum_pull("CIM_ConcreteDependency").await?,
            "CIM_ConcreteDependency",
        ),
        certs: pulled(
            &amt.enum_pull("AMT_PublicKeyCertificate").await?,
            "AMT_PublicKeyCertificate",
        ),
        keys: pulled(
            &amt.enum_pull("AMT_PublicPrivateKeyPair").await?,
            "AMT_PublicPrivateKeyPair",
        ),
        contexts: pulled(
            &amt.enum_pull("CIM_CredentialContext").await?,
            "CIM_CredentialContext",
        ),
    })
}

impl Inventory {
    /// (profile type, profile id) of every profile a certificate is used by.
    fn profiles_of(&self, cert_id: &str) -> Vec<(String, String)> {
        self.contexts
            .iter()
            .filter(|c| epr_selector(&c["ElementInContext"]).as_deref() == Some(cert_id))
            .map(|c| {
                let p = &c["ElementProvidingContext"];
                (
                    profile_type(&epr_class(p)).to_string(),
                    epr_selector(p).unwrap_or_default(),
                )
            })
            .collect()
    }

    /// The key pair a certificate is bound to (CIM_ConcreteDependency antecedent → dependent).
    fn key_of(&self, cert_id: &str) -> Option<String> {
        self.dependencies
            .iter()
            .find(|d| {
                epr_class(&d["Antecedent"]) == "AMT_PublicKeyCertificate"
                    && epr_selector(&d["Antecedent"]).as_deref() == Some(cert_id)
            })
            .and_then(|d| epr_selector(&d["Dependent"]))
    }

    fn cert_of_key(&self, key_id: &str) -> Option<String> {
        self.dependencies
            .iter()
            .find(|d| {
                epr_class(&d["Dependent"]) == "AMT_PublicPrivateKeyPair"
                    && epr_selector(&d["Dependent"]).as_deref() == Some(key_id)
            })
            .and_then(|d| epr_selector(&d["Antecedent"]))
    }
}

pub async fn get(amt: &Amt<'_>, guid: &str) -> Response {
    let inv = match inventory(amt).await {
        Ok(i) => i,
        Err(f) => return f.respond("AMT Certificates", guid),
    };
    let cert_items: Vec<Value> = inv
        .certs
        .iter()
        .map(|c| {
            let id = wsman::parse::value_text(&c["InstanceID"]).unwrap_or_default();
            let profiles: Vec<String> = inv
                .profiles_of(&id)
                .into_iter()
                .map(|(t, p)| format!("{t} ({p})"))
                .collect();
            json!({
                "elementName": c["ElementName"],
                "instanceID": id,
                "x509Certificate": c["X509Certificate"],
                "trustedRootCertificate": truthy(&c["TrustedRootCertificate"]),
                "issuer": c["Issuer"],
                "subject": c["Subject"],
                "readOnlyCertificate": truthy(&c["ReadOnlyCertificate"]),
                "publicKeyHandle": inv.key_of(&id),
                "associatedProfiles": profiles,
                "displayName": c["ElementName"],
            })
        })
        .collect();
    let key_items: Vec<Value> = inv
        .keys
        .iter()
        .map(|k| {
            let id = wsman::parse::value_text(&k["InstanceID"]).unwrap_or_default();
            json!({ "elementName": k["ElementName"], "instanceID": id, "derKey": k["DERKey"], "certificateHandle": inv.cert_of_key(&id) })
        })
        .collect();
    let mut associations: Vec<Value> = Vec::new();
    for c in &inv.contexts {
        let p = &c["ElementProvidingContext"];
        let cert = epr_selector(&c["ElementInContext"]).unwrap_or_default();
        let kind = profile_type(&epr_class(p));
        let trusted = inv.certs.iter().any(|x| {
            wsman::parse::value_text(&x["InstanceID"]).as_deref() == Some(&cert)
                && truthy(&x["TrustedRootCertificate"])
        });
        let mut a = json!({ "type": kind, "profileID": epr_selector(p).unwrap_or_default() });
        let slot = if trusted {
            "rootCertificate"
        } else {
            "clientCertificate"
        };
        a[slot] = Value::String(cert.clone());
        if !trusted && let Some(key) = inv.key_of(&cert) {
            a["publicKey"] = Value::String(key);
        }
        associations.push(a);
    }
    Json(json!({
        "certificates": { "keyManagementItems": [], "publicKeyCertificateItems": cert_items },
        "publicKeys": { "publicPrivateKeyPairItems": key_items },
        "profileAssociation": associations,
    }))
    .into_response()
}

/// The certificate as base64 DER (the input may be base64 of DER or of PEM text).
fn der_base64(input: &str) -> Option<String> {
    let b64 = base64::engine::general_purpose::STANDARD;
    let raw = b64.decode(input.trim()).ok()?;
    if x509_parser::parse_x509_certificate(&raw).is_ok() {
        return Some(b64.encode(raw));
    }
    let (_, pem) = x509_parser::pem::parse_x509_pem(&raw).ok()?;
    Some(b64.encode(pem.contents))
}

pub async fn add(amt: &Amt<'_>, req: &AmtRequest) -> Response {
    let invalid = || {
        api_error(
            StatusCode::BAD_REQUEST,
            BAD_REQUEST,
            "Failed to validate or process certificate",
        )
    };
    let Some(blob) = req
        .body
        .get("cert")
        .and_then(Value::as_str)
        .and_then(der_base64)
    else {
        return invalid();
    };
    let trusted = as_bool(req.body.get("isTrusted"));
    let (call, output) = if trusted {
        (
            amt_msgs::add_trusted_root_certificate(&blob),
            "AddTrustedRootCertificate_OUTPUT",
        )
    } else {
        (amt_msgs::add_certificate(&blob), "AddCertificate_OUTPUT")
    };
    match amt.call(&call).await {
        Ok(env) => match epr_selector(&env["Body"][output]["CreatedCertificate"]) {
            Some(handle) => Json(json!({ "handle": handle })).into_response(),
            None => invalid(),
        },
        Err(e) if e.fault().is_some() => invalid(),
        Err(e) => Failure::from(e).respond("Add Certificate", &req.guid),
    }
}

pub async fn delete(amt: &Amt<'_>, req: &AmtRequest) -> Response {
    let handle = req
        .instance_id
        .clone()
        .filter(|h| !h.is_empty())
        .or_else(|| {
            req.body
                .get("handle")
                .and_then(Value::as_str)
                .map(str::to_string)
        })
        .unwrap_or_default();
    let inv = match inventory(amt).await {
        Ok(i) => i,
        Err(f) => return f.respond("Delete Certificate", &req.guid),
    };
    let Some(cert) = inv
        .certs
        .iter()
        .find(|c| wsman::parse::value_text(&c["InstanceID"]).as_deref() == Some(&handle))
    else {
        return api_error(
            StatusCode::NOT_FOUND,
            "Not Found",
            format!("Certificate not found: {handle}"),
        );
    };
    if truthy(&cert["ReadOnlyCertificate"]) {
        return api_error(
            StatusCode::BAD_REQUEST,
            BAD_REQUEST,
            "Cannot delete certificate: Certificate is read-only and cannot be removed",
        );
    }
    if !inv.profiles_of(&handle).is_empty() {
        return api_error(
            StatusCode::CONFLICT,
            "Conflict",
            "Cannot delete certificate: Certificate is currently referenced by AMT profiles/configurations",
        );
    }
    match amt
        .call(&Call::delete(
            "AMT_PublicKeyCertificate",
            vec![Selector::new("InstanceID", &handle)],
        ))
        .await
    {
        Ok(_) => Json(json!({ "message": "Certificate deleted successfully", "handle": handle }))
            .into_response(),
        Err(e) => Failure::from(e).respond("Delete Certificate", &req.guid),
    }
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
