//! Every example AMT answer of the shared reference set parses with both the MPS and the RPS
//! conventions, and a sample of values lands where the reference services read them.
//! The files are read from the reference directory at test time (never copied here); without it
//! these tests say so and skip.

use std::path::{Path, PathBuf};

use serde_json::{Value, json};
use wsman::{ParseOptions, ResponseError, parse_response};

fn reference_dir(what: &str) -> Option<PathBuf> {
    reference_suite::artifact("wsman-responses", what)
}

fn xml_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries =
        std::fs::read_dir(dir).unwrap_or_else(|e| panic!("cannot read {}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("directory entry").path();
        if path.is_dir() {
            xml_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "xml") {
            out.push(path);
        }
    }
}

fn load(dir: &Path, relative: &str) -> String {
    std::fs::read_to_string(dir.join(relative)).expect("reference file")
}

#[test]
fn reference_suite_every_answer_parses() {
    let Some(dir) = reference_dir("parsing every example AMT answer") else {
        return;
    };
    let mut files = Vec::new();
    xml_files(&dir, &mut files);
    assert!(
        files.len() > 250,
        "expected the full reference set, found {} files",
        files.len()
    );
    for file in &files {
        let text = std::fs::read_to_string(file).expect("readable file");
        for options in [ParseOptions::MPS, ParseOptions::RPS] {
            match parse_response(&text, options) {
                Ok(response) => {
                    assert!(
                        response.json["Envelope"]["Header"].is_object(),
                        "{}: no Header",
                        file.display()
                    );
                    assert!(
                        !response.json["Envelope"]["Body"].is_null(),
                        "{}: no Body",
                        file.display()
                    );
                    assert!(response.action().is_some(), "{}: no Action", file.display());
                }
                Err(ResponseError::Fault { .. }) => {}
                Err(other) => panic!("{} does not parse: {other}", file.display()),
            }
        }
    }
}

#[test]
fn reference_suite_values_land_where_mps_reads_them() {
    let Some(dir) = reference_dir("reading values from example AMT answers") else {
        return;
    };
    let load = |relative: &str| load(&dir, relative);
    let general = parse_response(&load("amt/general/get.xml"), ParseOptions::MPS).unwrap();
    assert_eq!(general.relates_to().as_deref(), Some("1"));
    let settings = &general.body()["AMT_GeneralSettings"];
    assert_eq!(
        settings["DigestRealm"],
        "Digest:F3EB554784E729164447A89F60B641C5"
    );
    assert_eq!(settings["AMTNetworkEnabled"], 1);
    assert_eq!(settings["SharedFQDN"], true);
    assert_eq!(settings["InstanceID"], "Intel(r) AMT: General Settings");

    let audit = parse_response(&load("amt/auditlog/readrecords.xml"), ParseOptions::MPS).unwrap();
    let output = &audit.body()["ReadRecords_OUTPUT"];
    assert_eq!(output["TotalRecordCount"], 2);
    assert_eq!(output["EventRecords"].as_array().map(Vec::len), Some(2));

    let identity =
        parse_response(&load("cim/software/identity/pull.xml"), ParseOptions::MPS).unwrap();
    let items = &identity.body()["PullResponse"]["Items"]["CIM_SoftwareIdentity"];
    assert_eq!(
        items[3],
        json!({"InstanceID":"AMT","IsEntity":true,"VersionString":"12.0.67"})
    );
    assert_eq!(identity.body()["PullResponse"]["EndOfSequence"], "");

    let created = parse_response(
        &load("amt/publickey/management/addtrustedrootcertificate.xml"),
        ParseOptions::MPS,
    )
    .unwrap();
    let selector = &created.body()["AddTrustedRootCertificate_OUTPUT"]["CreatedCertificate"]["ReferenceParameters"]
        ["SelectorSet"]["Selector"];
    assert_eq!(
        selector,
        &Value::String("Intel(r) AMT Certificate: Handle: 2".into())
    );

    // RPS keeps attributes: the same selector carries its Name.
    let rps = parse_response(
        &load("amt/publickey/management/addtrustedrootcertificate.xml"),
        ParseOptions::RPS,
    )
    .unwrap();
    let selector = &rps.body()["AddTrustedRootCertificate_OUTPUT"]["CreatedCertificate"]["ReferenceParameters"]
        ["SelectorSet"]["Selector"];
    assert_eq!(
        selector,
        &json!({"_":"Intel(r) AMT Certificate: Handle: 2","$":{"Name":"InstanceID"}})
    );
}
