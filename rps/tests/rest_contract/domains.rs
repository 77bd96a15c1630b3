//! `/api/v1/admin/domains`: ACM provisioning certificates. The PFX files are generated for each run
//! (`certs::provisioning`) with fixed validity windows, so every expected `expirationDate` is written out.

use std::sync::LazyLock;

use certs::provisioning::{ChainOptions, Pkcs12Encryption, ProvisioningChain};
use serde_json::{Value, json};
use time::OffsetDateTime;
use time::macros::datetime;

use super::case::{
    Backend, Case, VERSION, bad_paging, body, delete, empty, field, get, invalid, invalid_first,
    patch, post, refused, with, without,
};

const DOMAINS: &str = "/api/v1/admin/domains";

/// The certificates the cases upload, made once per test binary.
struct Chains {
    /// CN `test.test.com`, legacy 3DES PKCS#12 (as most CAs export), valid until the end of 2099.
    test_com: ProvisioningChain,
    /// CN `intel.vprodemo.com`, AES PKCS#12, valid until mid-2095.
    vprodemo: ProvisioningChain,
    /// CN `intel.vprodemo.com`, expired in mid-2023.
    expired: ProvisioningChain,
    /// CN `intel.vprodemo.com`, valid only from 2098.
    not_yet_valid: ProvisioningChain,
    /// CN `intel.vprodemo.com`, without its root.
    rootless: ProvisioningChain,
    /// CN `intel.vprodemo.com`, without Intel's AMT provisioning EKU.
    no_amt_eku: ProvisioningChain,
}

fn chain(cn: &str, password: &str, from: OffsetDateTime, to: OffsetDateTime) -> ChainOptions {
    ChainOptions::new(cn, password).valid(from, to)
}

static CHAINS: LazyLock<Chains> = LazyLock::new(|| {
    let make = |options: ChainOptions| ProvisioningChain::generate(&options).expect("chain");
    let valid = (
        datetime!(2025-01-01 00:00:00 UTC),
        datetime!(2095-06-30 12:00:00 UTC),
    );
    Chains {
        test_com: make(
            chain(
                "test.test.com",
                "Intel123!",
                datetime!(2024-01-01 00:00:00 UTC),
                datetime!(2099-12-31 23:59:59 UTC),
            )
            .encryption(Pkcs12Encryption::Legacy),
        ),
        vprodemo: make(chain("intel.vprodemo.com", "P@ssw0rd", valid.0, valid.1)),
        expired: make(chain(
            "intel.vprodemo.com",
            "P@ssw0rd",
            datetime!(2020-01-01 00:00:00 UTC),
            datetime!(2023-06-30 00:00:00 UTC),
        )),
        not_yet_valid: make(chain(
            "intel.vprodemo.com",
            "P@ssw0rd",
            datetime!(2098-01-01 00:00:00 UTC),
            datetime!(2099-01-01 00:00:00 UTC),
        )),
        rootless: make(chain("intel.vprodemo.com", "P@ssw0rd", valid.0, valid.1).without_root()),
        no_amt_eku: make(
            chain("intel.vprodemo.com", "P@ssw0rd", valid.0, valid.1).without_amt_eku(),
        ),
    }
});

/// A POST body uploading `chain` for `name` and `suffix`.
fn upload(name: &str, suffix: &str, chain: &ProvisioningChain) -> Value {
    json!({"profileName": name, "domainSuffix": suffix, "provisioningCert": chain.pfx_base64(),
           "provisioningCertStorageFormat": "raw", "provisioningCertPassword": chain.password})
}

/// What the API answers for a domain: never the certificate or its password.
fn domain(name: &str, suffix: &str, expires: &str) -> Value {
    json!({"profileName": name, "domainSuffix": suffix, "provisioningCertStorageFormat": "raw",
           "expirationDate": expires, "tenantId": "", "version": VERSION})
}

const DECRYPT_FAILED: &str = "Unable to decrypt provisioning certificate. Please check that the password is correct, and that the certificate is a valid certificate.";

pub fn cases(_: Backend) -> Vec<Case> {
    let c = &*CHAINS;
    let new_domain = domain("NewDomain", "test.com", "2099-12-31T23:59:59.000Z");
    let vprodemo = domain("vprodemo", "vprodemo.com", "2095-06-30T12:00:00.000Z");
    let moved = domain("vprodemo", "newvprodemo.com", "2023-06-30T00:00:00.000Z");
    let name_rule =
        "AMT Domain profile name accepts letters, numbers, hyphens (-), and underscores (_)";
    vec![
        // An empty store: a bare empty list, and the same answer again is "not modified".
        get(DOMAINS).answers(200, body(json!([]))),
        get(&format!("{DOMAINS}/"))
            .revalidating()
            .header("cache-control", "max-age")
            .answers(304, empty()),
        get(&format!("{DOMAINS}/dontexist"))
            .answers(404, refused("Not Found", "Domain profile dontexist Not Found")),
        // Every POST rule at once, in the reference's order.
        post(DOMAINS, json!({})).answers(
            400,
            invalid(vec![
                field("profileName", "AMT Domain profile name is required"),
                field("profileName", name_rule),
                field(
                    "provisioningCertPassword",
                    "Provisioning Cert Password is required",
                ),
                field("domainSuffix", "Domain suffix name is required"),
                field("provisioningCert", "Provisioning certificate is required"),
                field(
                    "provisioningCertStorageFormat",
                    "Provisioning Cert Storage Format is required",
                ),
                field(
                    "provisioningCertStorageFormat",
                    "Provisioning Cert Storage Format should be either 'raw' or 'string'",
                ),
            ]),
        ),
        // Without a suffix the reference also fails inside its suffix check (a JavaScript TypeError's
        // text), so only the first error is the contract.
        post(
            DOMAINS,
            without(upload("NewDomain", "test.com", &c.test_com), &["domainSuffix"]),
        )
        .answers(
            400,
            invalid_first(vec![field("domainSuffix", "Domain suffix name is required")]),
        ),
        post(DOMAINS, upload("NewDomain", "", &c.test_com)).answers(
            400,
            invalid(vec![
                field("domainSuffix", "Domain suffix name is required"),
                field(
                    "provisioningCert",
                    "FQDN not associated with provisioning certificate",
                ),
            ]),
        ),
        post(
            DOMAINS,
            json!({"profileName": "vprodemo", "domainSuffix": "vprodemo.com", "provisioningCert": "test",
                   "provisioningCertStorageFormat": "raw"}),
        )
        .answers(
            400,
            invalid(vec![field(
                "provisioningCertPassword",
                "Provisioning Cert Password is required",
            )]),
        ),
        post(
            DOMAINS,
            json!({"profileName": "vprodemo1", "domainSuffix": "vprodemo.1com", "provisioningCert": "test",
                   "provisioningCertStorageFormat": "raw", "provisioningCertPassword": "0123456789".repeat(6) + "01234"}),
        )
        .answers(
            400,
            invalid(vec![
                field(
                    "provisioningCertPassword",
                    "Password should not exceed 64 characters in length",
                ),
                field("provisioningCert", DECRYPT_FAILED),
            ]),
        ),
        post(
            DOMAINS,
            without(
                upload("NewDomain", "test.com", &c.test_com),
                &["provisioningCert"],
            ),
        )
        .answers(
            400,
            invalid(vec![field(
                "provisioningCert",
                "Provisioning certificate is required",
            )]),
        ),
        post(
            DOMAINS,
            without(
                upload("NewDomain", "test.com", &c.test_com),
                &["provisioningCertStorageFormat"],
            ),
        )
        .answers(
            400,
            invalid(vec![
                field(
                    "provisioningCertStorageFormat",
                    "Provisioning Cert Storage Format is required",
                ),
                field(
                    "provisioningCertStorageFormat",
                    "Provisioning Cert Storage Format should be either 'raw' or 'string'",
                ),
            ]),
        ),
        post(
            DOMAINS,
            with(
                upload("NewDomain", "test.com", &c.test_com),
                json!({"provisioningCertStorageFormat": "wrong"}),
            ),
        )
        .answers(
            400,
            invalid(vec![field(
                "provisioningCertStorageFormat",
                "Provisioning Cert Storage Format should be either 'raw' or 'string'",
            )]),
        ),
        post(
            DOMAINS,
            with(
                upload("New Domain!", "test.com", &c.test_com),
                json!({"profileName": "New Domain!"}),
            ),
        )
        .answers(400, invalid(vec![field("profileName", name_rule)])),
        // The certificate checks, each with its message.
        post(
            DOMAINS,
            with(
                upload("vprodemo", "vprodemo.com", &c.vprodemo),
                json!({"provisioningCertPassword": "Wr0ng!pass"}),
            ),
        )
        .answers(400, invalid(vec![field("provisioningCert", DECRYPT_FAILED)])),
        post(
            DOMAINS,
            with(
                upload("vprodemo", "vprodemo.com", &c.vprodemo),
                json!({"provisioningCert": "bm90IGEgUEZY"}),
            ),
        )
        .answers(400, invalid(vec![field("provisioningCert", DECRYPT_FAILED)])),
        post(DOMAINS, upload("vprodemo", "example.org", &c.vprodemo)).answers(
            400,
            invalid(vec![field(
                "provisioningCert",
                "FQDN not associated with provisioning certificate",
            )]),
        ),
        post(DOMAINS, upload("vprodemo", "vprodemo.com", &c.expired)).answers(
            400,
            invalid(vec![field(
                "provisioningCert",
                "Uploaded certificate has expired",
            )]),
        ),
        post(DOMAINS, upload("vprodemo", "vprodemo.com", &c.not_yet_valid)).answers(
            400,
            invalid(vec![field(
                "provisioningCert",
                "Uploaded certificate is not yet valid: notBefore date 2098-01-01T00:00:00.000Z is in the future",
            )]),
        ),
        post(DOMAINS, upload("vprodemo", "vprodemo.com", &c.rootless)).answers(
            400,
            invalid(vec![field(
                "provisioningCert",
                "Provisioning certificate does not contain a root certificate",
            )]),
        ),
        post(DOMAINS, upload("vprodemo", "vprodemo.com", &c.no_amt_eku)).answers(
            400,
            invalid(vec![field(
                "provisioningCert",
                "Leaf certificate is missing the Intel AMT Activation EKU OID (2.16.840.1.113741.1.2.3)",
            )]),
        ),
        // Two domains. Unknown fields (a client's own expirationDate) are ignored; the stored case of the
        // name is answered whatever case the path uses.
        post(
            DOMAINS,
            with(
                upload("NewDomain", "test.com", &c.test_com),
                json!({"expirationDate": "12/25/2023"}),
            ),
        )
        .header("x-rps-api-key", "APIKEYFORRPS123!")
        .answers(201, body(new_domain.clone())),
        get(&format!("{DOMAINS}/newdomain")).answers(200, body(new_domain.clone())),
        post(DOMAINS, upload("vprodemo", "vprodemo.com", &c.vprodemo))
            .answers(201, body(vprodemo.clone())),
        // A name or a suffix taken already, in any case, is a 400 naming the new name.
        post(DOMAINS, upload("vproDemo", "vprodemo.com", &c.vprodemo)).answers(
            400,
            refused(
                "Unique key violation",
                "Domain vproDemo ID or Suffix already exists",
            ),
        ),
        post(DOMAINS, upload("VPRODEMO", "lab.vprodemo.com", &c.vprodemo)).answers(
            400,
            refused(
                "Unique key violation",
                "Domain VPRODEMO ID or Suffix already exists",
            ),
        ),
        post(
            &format!("{DOMAINS}/"),
            upload("newvprodemo", "vprodemo.com", &c.vprodemo),
        )
        .answers(
            400,
            refused(
                "Unique key violation",
                "Domain newvprodemo ID or Suffix already exists",
            ),
        ),
        // Paging.
        get(&format!("{DOMAINS}?$top=10&$skip=0"))
            .answers(200, body(json!([new_domain, vprodemo]))),
        get(&format!(
            "{DOMAINS}?$top=ten&$skip=zero&$count=notboolean"
        ))
        .answers(400, bad_paging()),
        get(&format!("{DOMAINS}?$top=10&$skip=0&$count=true")).answers(
            200,
            body(json!({"data": [new_domain, vprodemo], "totalCount": 2})),
        ),
        get(&format!("{DOMAINS}?$top=10&$skip=0&$count=false"))
            .answers(200, body(json!([new_domain, vprodemo]))),
        get(&format!("{DOMAINS}?$top=1&$skip=1")).answers(200, body(json!([vprodemo]))),
        get(&format!("{DOMAINS}?$top=1&$count=true")).answers(
            200,
            body(json!({"data": [new_domain], "totalCount": 2})),
        ),
        get(&format!("{DOMAINS}?$skip=5")).answers(200, body(json!([]))),
        // PATCH: no certificate checks (an expired PFX is taken), the expiration follows the new PFX.
        patch(
            DOMAINS,
            upload("vprodemo", "newvprodemo.com", &c.expired),
        )
        .with_current_version()
        .answers(200, body(moved.clone())),
        patch(
            DOMAINS,
            with(
                upload("vprodemo", "newvprodemo.com", &c.expired),
                json!({"version": "123"}),
            ),
        )
        .answers(409, body(moved.clone())),
        patch(
            DOMAINS,
            with(
                upload("vprodemo", "newvprodemo.com", &c.expired),
                json!({"version": "123"}),
            ),
        )
        .header("if-match", "123")
        .answers(412, body(moved.clone())),
        // Domains do not require a version: without one the write is a conflict.
        patch(DOMAINS, upload("vprodemo", "newvprodemo.com", &c.expired))
            .answers(409, body(moved.clone())),
        patch(DOMAINS, upload("vprodemo", "test.com", &c.expired))
            .with_current_version()
            .answers(
                400,
                refused(
                    "Unique key violation",
                    "Domain vprodemo ID or Suffix already exists",
                ),
            ),
        // Suffixes are unique whatever their case.
        patch(
            DOMAINS,
            json!({"profileName": "NewDomain", "domainSuffix": "NEWVPRODEMO.COM", "provisioningCertStorageFormat": "raw"}),
        )
        .with_current_version()
        .answers(
            400,
            refused(
                "Unique key violation",
                "Domain NewDomain ID or Suffix already exists",
            ),
        ),
        patch(
            DOMAINS,
            json!({"profileName": "vprodemo", "domainSuffix": "newvprodemo.com", "provisioningCert": "test",
                   "provisioningCertStorageFormat": "raw", "provisioningCertPassword": "0123456789".repeat(6) + "01234"}),
        )
        .with_current_version()
        .answers(
            400,
            invalid(vec![field(
                "provisioningCertPassword",
                "Password should not exceed 64 characters in length",
            )]),
        ),
        patch(
            DOMAINS,
            json!({"profileName": "vprodemo", "domainSuffix": "newvprodemo.com"}),
        )
        .with_current_version()
        .answers(
            400,
            invalid(vec![field(
                "provisioningCertStorageFormat",
                "Provisioning Cert Storage Format is either \"raw\" or \"string\"",
            )]),
        ),
        patch(
            DOMAINS,
            json!({"profileName": "bad name", "provisioningCertStorageFormat": "pem"}),
        )
        .answers(
            400,
            invalid(vec![
                field("profileName", name_rule),
                field(
                    "provisioningCertStorageFormat",
                    "Provisioning Cert Storage Format is either \"raw\" or \"string\"",
                ),
            ]),
        ),
        patch(DOMAINS, upload("vprodemo", "newvprodemo.com", &c.vprodemo))
            .with_current_version()
            .answers(
                200,
                body(domain(
                    "vprodemo",
                    "newvprodemo.com",
                    "2095-06-30T12:00:00.000Z",
                )),
            ),
        // A suffix alone keeps the certificate.
        patch(
            DOMAINS,
            json!({"profileName": "VPRODEMO", "domainSuffix": "vprodemo.com", "provisioningCertStorageFormat": "raw"}),
        )
        .with_current_version()
        .answers(200, body(vprodemo.clone())),
        patch(
            DOMAINS,
            json!({"profileName": "Domain", "domainSuffix": "test.com", "provisioningCert": "test",
                   "provisioningCertStorageFormat": "raw", "provisioningCertPassword": "P@ssw0rd", "version": "751"}),
        )
        .answers(404, refused("Not Found", "Domain profile Domain Not Found")),
        // Deleting, by any case of the name.
        delete(&format!("{DOMAINS}/vprodemo")).answers(204, empty()),
        delete(&format!("{DOMAINS}/vprodemo"))
            .answers(404, refused("Not Found", "Domain profile vprodemo Not Found")),
        delete(&format!("{DOMAINS}/NEWDOMAIN")).answers(204, empty()),
        get(DOMAINS).answers(200, body(json!([]))),
    ]
}
