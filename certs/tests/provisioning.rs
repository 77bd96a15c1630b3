//! The generated provisioning chains are what they claim, as OpenSSL (an independent PKCS#12 and X.509
//! implementation) reads them: the password opens them, the chain verifies up to the root, the leaf has the
//! common name, validity and (or not) Intel's AMT provisioning EKU asked for.

use std::path::Path;
use std::process::Command;

use certs::provisioning::{ChainOptions, Pkcs12Encryption, ProvisioningChain};
use time::macros::datetime;

fn openssl(args: &[&str]) -> String {
    let output = Command::new("openssl")
        .args(args)
        .output()
        .expect("openssl runs");
    assert!(
        output.status.success(),
        "openssl {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// The certificates OpenSSL finds in the PKCS#12, as PEM blocks in file order.
fn certificates(dir: &Path, chain: &ProvisioningChain) -> Vec<String> {
    let file = dir.join("chain.p12");
    std::fs::write(&file, &chain.pfx).unwrap();
    let pass = format!("pass:{}", chain.password);
    let pem = openssl(&[
        "pkcs12",
        "-in",
        file.to_str().unwrap(),
        "-passin",
        &pass,
        "-nokeys",
    ]);
    // The key opens with the same password too.
    let key = openssl(&[
        "pkcs12",
        "-in",
        file.to_str().unwrap(),
        "-passin",
        &pass,
        "-nocerts",
        "-nodes",
    ]);
    assert!(key.contains("BEGIN PRIVATE KEY"), "{key}");
    pem.split_inclusive("-----END CERTIFICATE-----\n")
        .filter_map(|block| {
            block
                .find("-----BEGIN CERTIFICATE-----")
                .map(|at| block[at..].to_owned())
        })
        .collect()
}

fn text(dir: &Path, name: &str, pem: &str) -> String {
    let file = dir.join(name);
    std::fs::write(&file, pem).unwrap();
    openssl(&["x509", "-in", file.to_str().unwrap(), "-noout", "-text"])
}

#[test]
fn a_default_chain_opens_verifies_and_carries_the_amt_eku() {
    let dir = tempfile::tempdir().unwrap();
    for encryption in [Pkcs12Encryption::Aes256, Pkcs12Encryption::Legacy] {
        let options =
            ChainOptions::new("provisioning.example.com", "P@ssPfx1").encryption(encryption);
        let chain = ProvisioningChain::generate(&options).unwrap();
        let pems = certificates(dir.path(), &chain);
        assert_eq!(pems.len(), 3, "leaf, intermediate, root ({encryption:?})");
        let (leaf, inter, root) = (&pems[0], &pems[1], &pems[2]);
        let leaf_text = text(dir.path(), "leaf.pem", leaf);
        assert!(
            leaf_text.contains("CN = provisioning.example.com"),
            "{leaf_text}"
        );
        assert!(leaf_text.contains("2.16.840.1.113741.1.2.3"), "{leaf_text}");
        std::fs::write(dir.path().join("root.pem"), root).unwrap();
        std::fs::write(dir.path().join("inter.pem"), inter).unwrap();
        let verified = openssl(&[
            "verify",
            "-CAfile",
            dir.path().join("root.pem").to_str().unwrap(),
            "-untrusted",
            dir.path().join("inter.pem").to_str().unwrap(),
            dir.path().join("leaf.pem").to_str().unwrap(),
        ]);
        assert!(verified.trim_end().ends_with("OK"), "{verified}");
        // The root the device is told to trust is the one in the file.
        let root_der = openssl(&[
            "x509",
            "-in",
            dir.path().join("root.pem").to_str().unwrap(),
            "-outform",
            "DER",
            "-fingerprint",
            "-sha256",
            "-noout",
        ]);
        let fingerprint: String = root_der
            .trim()
            .rsplit('=')
            .next()
            .unwrap()
            .split(':')
            .collect::<String>()
            .to_lowercase();
        assert_eq!(fingerprint, hex::encode(chain.root_sha256()));
    }
}

#[test]
fn options_change_the_validity_the_eku_and_the_root() {
    let dir = tempfile::tempdir().unwrap();
    let options = ChainOptions::new("intel.vprodemo.com", "Other!pass1")
        .valid(
            datetime!(2020-01-01 00:00:00 UTC),
            datetime!(2023-06-30 12:00:00 UTC),
        )
        .without_amt_eku()
        .without_root();
    let chain = ProvisioningChain::generate(&options).unwrap();
    assert_eq!(chain.not_after, datetime!(2023-06-30 12:00:00 UTC));
    let pems = certificates(dir.path(), &chain);
    assert_eq!(pems.len(), 2, "leaf and intermediate only");
    let leaf = text(dir.path(), "leaf.pem", &pems[0]);
    assert!(leaf.contains("CN = intel.vprodemo.com"), "{leaf}");
    assert!(
        leaf.contains("Not Before: Jan  1 00:00:00 2020 GMT"),
        "{leaf}"
    );
    assert!(
        leaf.contains("Not After : Jun 30 12:00:00 2023 GMT"),
        "{leaf}"
    );
    assert!(!leaf.contains("2.16.840.1.113741.1.2.3"), "{leaf}");
    // A wrong password does not open it.
    let file = dir.path().join("chain.p12");
    let wrong = Command::new("openssl")
        .args(["pkcs12", "-in", file.to_str().unwrap()])
        .args(["-passin", "pass:wrong", "-nokeys"])
        .output()
        .unwrap();
    assert!(!wrong.status.success());
    assert!(
        !format!("{chain:?}").contains("Other!pass1"),
        "Debug redacts the password"
    );
}
