//! Every request the reference message library (`@device-management-toolkit/wsman-messages`) can
//! build — every class and method of its AMT, CIM and IPS namespaces — sent through the simulated
//! device's WS-Man server with digest auth: each gets a 200 whose RelatesTo is the request's
//! MessageID and whose Body holds the expected element (or the fault AMT gives).
//!
//! Needs `node` on the PATH and the package installed: `npm ci --prefix tests/node` from the repo root.

mod wsman_support;

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Command;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rsa::pkcs8::EncodePrivateKey;
use rsa::signature::{SignatureEncoding, Signer};
use serde_json::{Value, json};
use sha2::Digest as _;
use sim::device::{ControlMode, Device, DeviceSpec};
use wsman_support::Client;

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..")
}

fn reference_steps(params: &Value) -> Vec<Value> {
    let root = repo_root();
    let package = root.join("tests/node/node_modules/@device-management-toolkit/wsman-messages");
    assert!(
        package.is_dir(),
        "the reference WS-Man library is not installed: run `npm ci --prefix tests/node` in {}",
        root.display()
    );
    let output = Command::new("node")
        .arg(root.join("wsman/tests/node/reference_requests.js"))
        .arg(&root)
        .arg(params.to_string())
        .output()
        .expect("`node` must be installed to run the reference library");
    assert!(
        output.status.success(),
        "generator failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("generator prints JSON")
}

fn between<'a>(xml: &'a str, open: &str, close: &str) -> &'a str {
    let start = xml.find(open).expect("opening tag") + open.len();
    let end = xml[start..].find(close).expect("closing tag");
    &xml[start..start + end]
}

/// A provisioning chain: a root CA and a leaf with an RSA key, as an ACM domain PFX holds.
struct Chain {
    root: rcgen::Certificate,
    root_params: rcgen::CertificateParams,
    root_key: rcgen::KeyPair,
    leaf: rcgen::Certificate,
    leaf_key: rsa::PrivateKey,
}

fn rcgen_key(rsa_key: &rsa::PrivateKey) -> rcgen::KeyPair {
    let der = rsa_key.to_pkcs8_der().expect("pkcs8");
    rcgen::KeyPair::from_pkcs8_der_and_sign_algo(
        &rustls_pki_types::PrivatePkcs8KeyDer::from(der.as_bytes().to_vec()),
        &rcgen::PKCS_RSA_SHA256,
    )
    .expect("RSA key for rcgen")
}

fn chain() -> Chain {
    let root_key = rcgen::KeyPair::generate().expect("root key");
    let mut root_params = rcgen::CertificateParams::new(Vec::<String>::new()).expect("params");
    root_params.is_ca = rcgen::IsCa::Ca(rcgen::BasicConstraints::Unconstrained);
    root_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "Library Test Root");
    let root = root_params.self_signed(&root_key).expect("root");
    let leaf_key = rsa::PrivateKey::new(&mut getrandom::SysRng, 2048).expect("leaf key");
    let mut leaf_params =
        rcgen::CertificateParams::new(vec!["amt.example.com".to_string()]).expect("params");
    leaf_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "amt.example.com");
    let leaf = leaf_params
        .signed_by(
            &rcgen_key(&leaf_key),
            &rcgen::Issuer::from_params(&root_params, &root_key),
        )
        .expect("leaf");
    Chain {
        root,
        root_params,
        root_key,
        leaf,
        leaf_key,
    }
}

const NONCE: [u8; 20] = [0x11; 20];
const MC_NONCE: [u8; 20] = [0x22; 20];

fn sign_nonces(key: &rsa::PrivateKey) -> String {
    let mut message = NONCE.to_vec();
    message.extend_from_slice(&MC_NONCE);
    let signer = rsa::pkcs1v15::SigningKey::<sha2::Sha256>::new(key.clone());
    STANDARD.encode(signer.sign(&message).to_vec())
}

fn admin_hash(device: &Device, password: &str) -> String {
    wsman::digest::md5_hex(format!("admin:{}:{password}", device.digest_realm()).as_bytes())
}

#[tokio::test]
async fn every_library_request_is_answered_like_amt() {
    let chain = chain();
    let root_hash = sha2::Sha256::digest(chain.root.der()).to_vec();
    let devices: HashMap<&str, Device> = ["main", "pre", "ccm"]
        .iter()
        .enumerate()
        .map(|(i, n)| (*n, Device::new(DeviceSpec::fresh(77, i as u64))))
        .collect();
    for name in ["pre", "ccm"] {
        let device = &devices[name];
        device.trust_root_hash(root_hash.clone());
        device.with_state(|s| s.hbs.configuration_nonce = NONCE);
    }
    let passwords: HashMap<&str, &str> = [
        ("main", "Main-P@ss1"),
        ("pre", "Pre-P@ss1"),
        ("ccm", "Ccm-P@ss1"),
    ]
    .into();

    // The main device is activated (CCM) and has WiFi hardware before the library's calls.
    let main = &devices["main"];
    main.set_wireless(true);
    let setup = wsman::messages::ips::setup(2, &admin_hash(main, passwords["main"]));
    assert_eq!(Client::lsa(main).invoke(&setup).await["ReturnValue"], 0);

    // A key AMT receives with AddKey, a certificate for it (signed by the root) and a CSR for it.
    let added_key = rsa::PrivateKey::new(&mut getrandom::SysRng, 2048).expect("key");
    let added_rcgen = rcgen_key(&added_key);
    let mut key_cert_params =
        rcgen::CertificateParams::new(vec!["tls.example.com".to_string()]).expect("params");
    key_cert_params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "tls.example.com");
    let key_cert = key_cert_params
        .signed_by(
            &added_rcgen,
            &rcgen::Issuer::from_params(&chain.root_params, &chain.root_key),
        )
        .expect("certificate for the added key");
    let csr = key_cert_params
        .serialize_request(&added_rcgen)
        .expect("csr");

    let realm = main.digest_realm();
    let params = json!({
        "leafCert": STANDARD.encode(chain.leaf.der()),
        "rootCert": STANDARD.encode(chain.root.der()),
        "preAdminHash": admin_hash(&devices["pre"], passwords["pre"]),
        "ccmAdminHash": admin_hash(&devices["ccm"], passwords["ccm"]),
        "mcNonce": STANDARD.encode(MC_NONCE),
        "preSignature": sign_nonces(&chain.leaf_key),
        "ccmSignature": sign_nonces(&chain.leaf_key),
        "userDigest": STANDARD.encode(wsman::digest::ha1("operator", &realm, "Op-P@ss1")),
        "mainAdminDigest": STANDARD.encode(wsman::digest::ha1("admin", &realm, passwords["main"])),
        "keyBlob": STANDARD.encode(added_key.to_pkcs8_der().expect("pkcs8").as_bytes()),
        "keyCert": STANDARD.encode(key_cert.der()),
        "csr": STANDARD.encode(csr.der()),
        "now": std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs(),
    });
    let steps = reference_steps(&params);

    let mut clients: HashMap<(String, String), Client> = HashMap::new();
    let mut contexts: HashMap<(String, String), String> = HashMap::new();
    let mut failures = Vec::new();
    let mut classes_seen = std::collections::BTreeSet::new();
    for step in &steps {
        let device_name = step["device"].as_str().expect("device").to_string();
        let auth = step["auth"].as_str().expect("auth").to_string();
        let name = step["name"].as_str().expect("name");
        let device = &devices[device_name.as_str()];
        let client = clients
            .entry((device_name.clone(), auth.clone()))
            .or_insert_with(|| match auth.as_str() {
                "lsa" => Client::lsa(device),
                _ => Client::new(device, "admin", passwords[device_name.as_str()]),
            });
        let mut xml = step["xml"].as_str().expect("xml").to_string();
        let resource = between(&xml, "<w:ResourceURI>", "</w:ResourceURI>").to_string();
        classes_seen.insert(wsman::catalog::class_name(&resource).to_string());
        if xml.contains("__CONTEXT__") {
            let Some(context) = contexts.get(&(device_name.clone(), resource.clone())) else {
                failures.push(format!("{name}: no enumeration context"));
                continue;
            };
            xml = xml.replace("__CONTEXT__", context);
        }
        let message_id = between(&xml, "<a:MessageID>", "</a:MessageID>").to_string();
        let response = client.send_xml(&xml).await;
        let text = response.body_text().to_string();
        let parsed = wsman::parse_response(&text, wsman::ParseOptions::MPS);
        let expect = &step["expect"];
        if let Some(fault_name) = expect["fault"].as_str() {
            match parsed {
                Err(wsman::ResponseError::Fault { fault, relates_to })
                    if fault.subcode_name() == Some(fault_name) =>
                {
                    if relates_to.as_deref() != Some(message_id.as_str()) {
                        failures.push(format!(
                            "{name}: fault RelatesTo {relates_to:?} != {message_id}"
                        ));
                    }
                }
                other => failures.push(format!(
                    "{name}: expected fault {fault_name}, got HTTP {} {other:?}",
                    response.status
                )),
            }
            continue;
        }
        let element = expect["element"].as_str().expect("expected element");
        let answer = match parsed {
            Ok(answer) if response.status == 200 && response.chunked => answer,
            other => {
                failures.push(format!("{name}: HTTP {} {other:?}", response.status));
                continue;
            }
        };
        if answer.relates_to().as_deref() != Some(message_id.as_str()) {
            failures.push(format!(
                "{name}: RelatesTo {:?} != {message_id}",
                answer.relates_to()
            ));
        }
        let body = answer.body();
        let found = if element.is_empty() {
            body == &json!("")
        } else {
            body.get(element).is_some()
        };
        if !found {
            failures.push(format!("{name}: body has no {element:?}: {body}"));
            continue;
        }
        if let Some(expected) = expect.get("returnValue").and_then(Value::as_u64) {
            let got = &body[element]["ReturnValue"];
            if got.as_u64() != Some(expected) {
                failures.push(format!("{name}: ReturnValue {got} != {expected}"));
            }
        }
        if element == "EnumerateResponse" {
            let context =
                wsman::parse::value_text(&body[element]["EnumerationContext"]).expect("context");
            contexts.insert((device_name.clone(), resource), context);
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} library requests failed:\n{}",
        failures.len(),
        steps.len(),
        failures.join("\n")
    );

    // Every class of the library is one the device serves.
    let served: std::collections::BTreeSet<String> = sim::wsman_server::supported_classes()
        .into_iter()
        .map(str::to_string)
        .collect();
    let unserved: Vec<_> = classes_seen.difference(&served).collect();
    assert!(
        unserved.is_empty(),
        "library classes the device does not serve: {unserved:?}"
    );

    // And the state really moved.
    assert_eq!(
        devices["pre"].control_mode(),
        ControlMode::Acm,
        "AdminSetup"
    );
    assert_eq!(
        devices["ccm"].control_mode(),
        ControlMode::Acm,
        "Setup then UpgradeClientToAdmin"
    );
    assert_eq!(
        main.control_mode(),
        ControlMode::PreProvisioning,
        "Unprovision"
    );
    assert_eq!(main.power_state(), 2);
    assert!(main.cira().borrow().is_none());
}
