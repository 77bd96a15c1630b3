//! `/api/v1/admin/profiles`: AMT profiles on their own (their links to CIRA, WiFi, proxy and 802.1x configs
//! are in `integration`). Passwords are write-only; TLS profiles get self-signed material in the secret store.

use serde_json::{Value, json};

use super::case::{
    ANY, Backend, Case, FieldError, VERSION, bad_paging, body, delete, empty, field, get,
    including, invalid, patch, post, refused, secret, with,
};

const PROFILES: &str = "/api/v1/admin/profiles";
const CIRA: &str = "/api/v1/admin/ciraconfigs";

/// A CCM profile with random passwords, as most cases create one.
fn ccm(name: &str) -> Value {
    json!({"profileName": name, "activation": "ccmactivate", "tags": ["tag1"], "dhcpEnabled": false,
           "generateRandomPassword": true, "generateRandomMEBxPassword": true})
}

/// What the API answers for `ccm(name)`: the reference's defaults filled in, no password.
fn stored(name: &str) -> Value {
    json!({"profileName": name, "activation": "ccmactivate", "ciraConfigName": null,
           "generateRandomPassword": true, "generateRandomMEBxPassword": true, "tags": ["tag1"],
           "dhcpEnabled": false, "tlsMode": null, "userConsent": "All", "iderEnabled": false,
           "kvmEnabled": true, "solEnabled": false, "tenantId": "", "tlsSigningAuthority": null,
           "version": VERSION, "ieee8021xProfileName": null, "wifiConfigs": [], "ipSyncEnabled": null,
           "localWifiSyncEnabled": null, "uefiWifiSyncEnabled": null, "proxyConfigs": []})
}

const ACTIVATION_RULE: &str = "Activation accepts either acmactivate (admin control activation) or ccmactivate (client control mode activation)";
const AMT_PASSWORD_RULE: &str = "AMT password is required field should contains at least one lowercase letter, one uppercase letter, one numeric digit,and one special character and password length should be in between 8 to 32.";
const MEBX_PASSWORD_RULE: &str = "MEBx password is required field should contains at least one lowercase letter, one uppercase letter, one numeric digit,and one special character and password length should be in between 8 to 32.";
const TLS_MODE_RULE: &str = "tlsMode must be set to one of these values: 1 (Server Authentication Only), 2 (Server and Non-TLS Authentication), 3 (Mutual TLS only), 4 (Mutual and Non-TLS authentication)";
const NAME_RULE: &str =
    "AMT profile name accepts letters, numbers, special characters and no spaces";

/// The five errors of bad redirection options on a CCM profile.
fn bad_kvm_options() -> Vec<FieldError> {
    vec![
        field("userConsent", "User consent must be one of None,All,KVM"),
        field(
            "userConsent",
            "User consent is required for all the actions in client control mode",
        ),
        field("iderEnabled", "IDER enabled must be a boolean"),
        field("kvmEnabled", "KVM enabled must be a boolean"),
        field(
            "solEnabled",
            "Serial Over Lan (sol) enabled must be a boolean",
        ),
    ]
}

pub fn cases(_: Backend) -> Vec<Case> {
    let static_six = json!({"profileName": "profile6", "amtPassword": "Intel123!", "mebxPassword": "Intel123!",
                            "generateRandomPassword": false, "generateRandomMEBxPassword": false,
                            "dhcpEnabled": false});
    let bad = |changes: Value, errors| {
        post(PROFILES, with(static_six.clone(), changes)).answers(400, invalid(errors))
    };
    let profile6 = with(
        stored("profile6"),
        json!({"localWifiSyncEnabled": true, "uefiWifiSyncEnabled": true}),
    );
    let kvm = stored("profileKVMOptions");
    let tls = with(
        stored("profileTLS"),
        json!({"tlsMode": 4, "tlsSigningAuthority": "SelfSigned"}),
    );
    let test_tls = with(stored("testTLS"), json!({"ciraConfigName": "ciraconfig3"}));
    // (`?` and `#` pass the name rule too, but the secret store refuses them in its paths.)
    let odd_name = "Odd$@!%*&~^-_(1)[+]";
    let odd_path = format!("{PROFILES}/Odd%24%40%21%25%2A%26~%5E-_(1)%5B%2B%5D");
    vec![
        get(&format!("{PROFILES}/")).answers(200, body(json!([]))),
        get(&format!("{PROFILES}/profile1"))
            .answers(404, refused("Not Found", "AMT profile profile1 Not Found")),
        // Without `dhcpEnabled` (required, a "not empty" rule without its own message) nor an activation.
        post(
            PROFILES,
            json!({"profileName": "profile6", "amtPassword": "Intel123!", "mebxPassword": "Intel123!",
                   "generateRandomPassword": false, "generateRanodomMEBxPassword": false}),
        )
        .header("x-rps-api-key", "APIKEYFORRPS123!")
        .answers(
            400,
            invalid(vec![
                field("activation", "Activation is required"),
                field("activation", ACTIVATION_RULE),
                field("dhcpEnabled", "Invalid value"),
                field("dhcpEnabled", "DHCP enabled must be a boolean"),
            ]),
        ),
        bad(
            json!({"activation": "activate"}),
            vec![field("activation", ACTIVATION_RULE)],
        ),
        post(
            PROFILES,
            json!({"profileName": "profile6", "activation": "ccmactivate", "dhcpEnabled": false,
                   "generateRandomPassword": false, "generateRanodomMEBxPassword": false}),
        )
        .answers(
            400,
            invalid(vec![
                field(
                    "activation",
                    "Either generateRandomPassword should be enabled or provide amtPassword",
                ),
                field(
                    "generateRandomPassword",
                    "If generate random AMT password is disabled, amtPassword is mandatory",
                ),
            ]),
        ),
        bad(
            json!({"activation": "ccmactivate", "generateRandomPassword": true}),
            vec![
                field(
                    "generateRandomPassword",
                    "Either generate Random AMT Password should be enabled or should provide AMT Password but not both",
                )
                .value(json!(true)),
            ],
        ),
        bad(
            json!({"activation": "ccmactivate", "amtPassword": "Intel123"}),
            vec![field("amtPassword", AMT_PASSWORD_RULE)],
        ),
        post(
            PROFILES,
            json!({"profileName": "profile6", "amtPassword": "Intel123!", "activation": "acmactivate",
                   "dhcpEnabled": false, "generateRandomPassword": false, "generateRanodomMEBxPassword": false}),
        )
        .answers(
            400,
            invalid(vec![
                field("activation", "MEBx Password is required for acmactivate"),
                field(
                    "generateRandomMEBxPassword",
                    "If generate random MEBx password is disabled, mebxPassword is mandatory",
                ),
            ]),
        ),
        bad(
            json!({"activation": "acmactivate", "mebxPassword": "Intel123"}),
            vec![field("mebxPassword", MEBX_PASSWORD_RULE)],
        ),
        bad(
            json!({"activation": "acmactivate", "generateRandomMEBxPassword": true}),
            vec![field(
                "generateRandomMEBxPassword",
                "Either generate MEBx password should be enabled or should provide MEBx password, but not both",
            )],
        ),
        bad(
            json!({"activation": "acmactivate", "generateRandomMEBxPassword": "yes"}),
            vec![field(
                "generateRandomMEBxPassword",
                "Generate random MEBx password must be a boolean true or false",
            )],
        ),
        bad(
            json!({"activation": "acmactivate", "tlsSigningAuthority": "BogusCA"}),
            vec![
                field(
                    "tlsSigningAuthority",
                    "TLS Signing Authority must be one of SelfSigned,MicrosoftCA",
                )
                .value(json!("BogusCA")),
            ],
        ),
        bad(
            json!({"activation": "ccmactivate", "generateRandomPassword": "yes", "amtPassword": null}),
            vec![
                field(
                    "generateRandomPassword",
                    "Generate random AMT password must be a boolean true or false",
                ),
                field(
                    "generateRandomPassword",
                    "If generate random AMT password is disabled, amtPassword is mandatory",
                ),
            ],
        ),
        bad(
            json!({"activation": "ccmactivate", "dhcpEnabled": "no", "ipSyncEnabled": "no",
                   "localWifiSyncEnabled": 2, "uefiWifiSyncEnabled": "x"}),
            vec![
                field("dhcpEnabled", "DHCP enabled must be a boolean"),
                field("ipSyncEnabled", "ipSyncEnabled must be a boolean"),
                field("localWifiSyncEnabled", "localWifiSyncEnabled must be a boolean"),
                field("uefiWifiSyncEnabled", "uefiWifiSyncEnabled must be a boolean"),
            ],
        ),
        bad(
            json!({"activation": "ccmactivate", "profileName": "my profile"}),
            vec![field("profileName", NAME_RULE)],
        ),
        bad(
            json!({"activation": "ccmactivate", "profileName": ""}),
            vec![
                field("profileName", "AMT profile name is required"),
                field("profileName", NAME_RULE),
            ],
        ),
        // A CCM profile with random passwords: the defaults fill in user consent and redirection.
        post(
            PROFILES,
            with(
                ccm("profile6"),
                json!({"localWifiSyncEnabled": true, "uefiWifiSyncEnabled": true}),
            ),
        )
        .header("x-rps-api-key", "APIKEYFORRPS123!")
        .answers(201, body(profile6.clone())),
        post(
            CIRA,
            json!({"configName": "ciraconfig3", "mpsServerAddress": "192.168.8.50", "mpsPort": 4433,
                   "username": "admin", "commonName": "192.168.8.50", "serverAddressFormat": 3,
                   "authMethod": 2, "mpsRootCertificate": "rootcert", "proxyDetails": ""}),
        )
        .answers(
            201,
            body(json!({"configName": "ciraconfig3", "mpsServerAddress": "192.168.8.50", "mpsPort": 4433,
                        "username": "admin", "commonName": "192.168.8.50", "serverAddressFormat": 3,
                        "authMethod": 2, "mpsRootCertificate": "rootcert", "proxyDetails": "",
                        "tenantId": "", "version": VERSION})),
        ),
        post(
            PROFILES,
            with(
                ccm("profile6"),
                json!({"ciraConfigName": "ciraconfig3", "tlsMode": 4}),
            ),
        )
        .answers(
            400,
            invalid(vec![
                field("ciraConfigName", "CIRA cannot be configured if TLS is enabled")
                    .value(json!("ciraconfig3")),
            ]),
        ),
        post(
            PROFILES,
            with(
                ccm("testTLS"),
                json!({"ciraConfigName": "ciraconfig3", "tlsMode": null}),
            ),
        )
        .answers(201, body(test_tls.clone())),
        post(
            PROFILES,
            with(
                ccm("profileKVMOptions"),
                json!({"userConsent": "All", "iderEnabled": false, "kvmEnabled": true, "solEnabled": false}),
            ),
        )
        .answers(201, body(kvm.clone())),
        post(
            PROFILES,
            with(
                ccm("profileKVMOptions"),
                json!({"userConsent": "BadValue", "iderEnabled": "foo", "kvmEnabled": "foo", "solEnabled": "foo"}),
            ),
        )
        .answers(400, invalid(bad_kvm_options())),
        post(PROFILES, with(ccm("profileTLS"), json!({"tlsMode": 4})))
            .answers(201, body(tls.clone())),
        post(PROFILES, with(ccm("profiletlsinvalid"), json!({"tlsMode": 5}))).answers(
            400,
            invalid(vec![field("tlsMode", TLS_MODE_RULE).value(json!(5))]),
        ),
        get(&format!("{PROFILES}/Profile6")).answers(200, body(profile6.clone())),
        // Listing, sorted by name whatever its case.
        get(&format!("{PROFILES}?$top=25&$skip=0")).answers(
            200,
            body(json!([profile6, kvm, tls, test_tls])),
        ),
        get(&format!("{PROFILES}?$top=25&$skip=0"))
            .revalidating()
            .header("cache-control", "max-age")
            .answers(304, empty()),
        get(&format!(
            "{PROFILES}?$top=ten&$skip=zero&$count=notboolean"
        ))
        .answers(400, bad_paging()),
        get(&format!("{PROFILES}?$top=25&$skip=0&$count=true")).answers(
            200,
            body(json!({"data": [profile6, kvm, tls, test_tls], "totalCount": 4})),
        ),
        get(&format!("{PROFILES}?$top=25&$skip=0&$count=false")).answers(
            200,
            body(json!([profile6, kvm, tls, test_tls])),
        ),
        get(&format!("{PROFILES}?$top=2&$skip=2")).answers(200, body(json!([tls, test_tls]))),
        post(
            PROFILES,
            json!({"profileName": "profile6", "generateRandomPassword": true, "generateRandomMEBxPassword": true,
                   "activation": "acmactivate", "dhcpEnabled": false}),
        )
        .answers(
            400,
            refused("Unique key violation", "AMT profile profile6 already exists"),
        ),
        // PATCH rules (the same as POST's, most optional) and `version`, required.
        patch(
            PROFILES,
            json!({"profileName": "profile6", "mebxPassword": "Intel123!", "activation": "activate",
                   "generateRandomPassword": false, "generateRandomMEBxPassword": false}),
        )
        .with_current_version()
        .answers(400, invalid(vec![field("activation", ACTIVATION_RULE)])),
        patch(
            PROFILES,
            json!({"profileName": "profile6", "activation": "ccmactivate", "amtPassword": "Intel123",
                   "generateRandomPassword": false, "generateRandomMEBxPassword": false}),
        )
        .with_current_version()
        .answers(400, invalid(vec![field("amtPassword", AMT_PASSWORD_RULE)])),
        patch(
            PROFILES,
            with(
                ccm("profileKVMOptions"),
                json!({"userConsent": "BadValue", "iderEnabled": "foo", "kvmEnabled": "foo", "solEnabled": "foo"}),
            ),
        )
        .with_current_version()
        .answers(400, invalid(bad_kvm_options())),
        patch(
            PROFILES,
            json!({"profileName": "profileKVMOptions", "activation": "ccmactivate", "amtPassword": "Intel123!",
                   "generateRandomPassword": false, "generateRandomMEBxPassword": false, "userConsent": "All",
                   "iderEnabled": false, "kvmEnabled": true, "solEnabled": false}),
        )
        .with_current_version()
        .answers(
            200,
            body(with(
                kvm.clone(),
                json!({"generateRandomPassword": false, "generateRandomMEBxPassword": false}),
            )),
        ),
        patch(
            PROFILES,
            json!({"profileName": "profiletlsinvalid", "activation": "ccmactivate", "amtPassword": "Intel123!",
                   "generateRandomPassword": false, "generateRandomMEBxPassword": false, "tlsMode": "invalid"}),
        )
        .answers(
            400,
            invalid(vec![
                field("tlsMode", TLS_MODE_RULE).value(json!("invalid")),
                field("version", "Version is required to patch/update a record."),
            ]),
        ),
        patch(
            PROFILES,
            json!({"profileName": "profile6", "activation": "ccmactivate", "userConsent": "KVM"}),
        )
        .with_current_version()
        .answers(
            400,
            invalid(vec![field(
                "userConsent",
                "User consent is required for all the actions in client control mode",
            )]),
        ),
        // Without passwords a PATCH keeps the stored ones; a CCM profile keeps no MEBx password at all.
        patch(
            PROFILES,
            json!({"profileName": "profile6", "activation": "ccmactivate", "generateRandomPassword": false,
                   "generateRandomMEBxPassword": false}),
        )
        .with_current_version()
        .answers(
            200,
            body(with(profile6.clone(), json!({"generateRandomMEBxPassword": false}))),
        ),
        // CIRA → TLS → TLS → CIRA: the CIRA config and the TLS mode are taken from the body as they are, the
        // signing authority follows the TLS mode, and a CCM profile keeps no MEBx password.
        patch(
            PROFILES,
            json!({"profileName": "testTLS", "activation": "ccmactivate", "ciraConfigName": null,
                   "generateRandomPassword": true, "generateRandomMEBxPassword": true, "tags": ["tag1"],
                   "dhcpEnabled": true, "tlsMode": 2, "userConsent": "All", "iderEnabled": false,
                   "kvmEnabled": true, "solEnabled": false, "tenantId": "", "wifiConfigs": []}),
        )
        .with_current_version()
        .answers(
            200,
            body(with(
                stored("testTLS"),
                json!({"dhcpEnabled": true, "tlsMode": 2, "tlsSigningAuthority": "SelfSigned",
                       "generateRandomMEBxPassword": false}),
            )),
        ),
        // The self-signed TLS material is in the secret store, where the reference's collection reads it.
        secret("TLS/testTLS").answers(
            200,
            including(json!({"data": {"data": {"ROOT_CERTIFICATE": ANY, "ISSUED_CERTIFICATE": ANY}}})),
        ),
        patch(
            PROFILES,
            json!({"profileName": "testTLS", "activation": "ccmactivate", "ciraConfigName": null,
                   "generateRandomPassword": true, "generateRandomMEBxPassword": true, "tags": ["tag1"],
                   "dhcpEnabled": true, "tlsMode": 4, "userConsent": "All", "iderEnabled": false,
                   "kvmEnabled": true, "solEnabled": false, "tenantId": "", "wifiConfigs": []}),
        )
        .with_current_version()
        .answers(
            200,
            body(with(
                stored("testTLS"),
                json!({"dhcpEnabled": true, "tlsMode": 4, "tlsSigningAuthority": "SelfSigned",
                       "generateRandomMEBxPassword": false}),
            )),
        ),
        patch(
            PROFILES,
            json!({"profileName": "testTLS", "activation": "ccmactivate", "ciraConfigName": "ciraconfig3",
                   "generateRandomPassword": true, "generateRandomMEBxPassword": true, "tags": ["tag1"],
                   "dhcpEnabled": true, "tlsMode": null, "userConsent": "All", "iderEnabled": false,
                   "kvmEnabled": true, "solEnabled": false, "tenantId": "", "wifiConfigs": []}),
        )
        .with_current_version()
        .answers(
            200,
            body(with(
                stored("testTLS"),
                json!({"dhcpEnabled": true, "ciraConfigName": "ciraconfig3", "generateRandomMEBxPassword": false}),
            )),
        ),
        patch(
            PROFILES,
            json!({"profileName": "profile6", "activation": "ccmactivate", "tags": ["tag123"],
                   "generateRandomPassword": true, "generateRandomMEBxPassword": false}),
        )
        .with_current_version()
        .answers(
            200,
            body(with(
                profile6.clone(),
                json!({"tags": ["tag123"], "generateRandomMEBxPassword": false}),
            )),
        ),
        patch(
            PROFILES,
            json!({"profileName": "profile6", "activation": "ccmactivate", "tags": ["tag123"],
                   "generateRandomPassword": true, "generateRandomMEBxPassword": false}),
        )
        .answers(
            400,
            invalid(vec![field(
                "version",
                "Version is required to patch/update a record.",
            )]),
        ),
        // Switching to ACM needs a MEBx password; with one it takes.
        patch(
            PROFILES,
            json!({"profileName": "profile6", "activation": "acmactivate", "generateRandomPassword": false,
                   "generateRandomMEBxPassword": false}),
        )
        .with_current_version()
        .answers(
            400,
            refused("Error", "MEBx password is required for acmactivate"),
        ),
        patch(
            PROFILES,
            json!({"profileName": "profile6", "mebxPassword": "P@ssw0rd", "activation": "acmactivate",
                   "generateRandomPassword": true, "generateRandomMEBxPassword": false}),
        )
        .with_current_version()
        .answers(
            200,
            body(with(
                profile6.clone(),
                json!({"activation": "acmactivate", "tags": ["tag123"], "generateRandomMEBxPassword": false}),
            )),
        ),
        patch(
            PROFILES,
            json!({"profileName": "profile6", "activation": "ccmactivate", "mebxPassword": "P@ssw0rd",
                   "amtPassword": "P@ssw0rd", "generateRandomPassword": false, "generateRandomMEBxPassword": false}),
        )
        .with_current_version()
        .answers(
            200,
            body(with(
                profile6.clone(),
                json!({"tags": ["tag123"], "generateRandomPassword": false, "generateRandomMEBxPassword": false}),
            )),
        ),
        patch(
            PROFILES,
            json!({"profileName": "profile6", "activation": "ccmactivate", "ipSyncEnabled": false}),
        )
        .with_current_version()
        .answers(
            200,
            body(with(
                profile6.clone(),
                json!({"tags": ["tag123"], "generateRandomPassword": false, "generateRandomMEBxPassword": false,
                       "ipSyncEnabled": false}),
            )),
        ),
        patch(
            PROFILES,
            json!({"profileName": "profile6", "activation": "ccmactivate", "ipSyncEnabled": true}),
        )
        .with_current_version()
        .answers(
            200,
            body(with(
                profile6.clone(),
                json!({"tags": ["tag123"], "generateRandomPassword": false, "generateRandomMEBxPassword": false,
                       "ipSyncEnabled": true}),
            )),
        ),
        patch(
            PROFILES,
            json!({"profileName": "profile6", "activation": "ccmactivate", "localWifiSyncEnabled": false,
                   "uefiWifiSyncEnabled": true}),
        )
        .with_current_version()
        .answers(
            200,
            body(with(
                profile6.clone(),
                json!({"tags": ["tag123"], "generateRandomPassword": false, "generateRandomMEBxPassword": false,
                       "ipSyncEnabled": true, "localWifiSyncEnabled": false}),
            )),
        ),
        // Stale versions: 409, or 412 with If-Match; the answer is the record as it is.
        patch(
            PROFILES,
            json!({"profileName": "profile6", "activation": "acmactivate", "mebxPassword": "P@ssw0rd",
                   "amtPassword": "P@ssw0rd", "generateRandomPassword": false,
                   "generateRandomMEBxPassword": false, "version": "123"}),
        )
        .answers(
            409,
            body(with(
                profile6.clone(),
                json!({"tags": ["tag123"], "generateRandomPassword": false, "generateRandomMEBxPassword": false,
                       "ipSyncEnabled": true, "localWifiSyncEnabled": false}),
            )),
        ),
        patch(
            PROFILES,
            json!({"profileName": "profile6", "activation": "acmactivate", "mebxPassword": "P@ssw0rd",
                   "amtPassword": "P@ssw0rd", "generateRandomPassword": false,
                   "generateRandomMEBxPassword": false, "version": "123"}),
        )
        .header("if-match", "123")
        .answers(
            412,
            body(with(
                profile6.clone(),
                json!({"tags": ["tag123"], "generateRandomPassword": false, "generateRandomMEBxPassword": false,
                       "ipSyncEnabled": true, "localWifiSyncEnabled": false}),
            )),
        ),
        // If-Match wins over the body's version.
        patch(
            PROFILES,
            json!({"profileName": "profile6", "activation": "ccmactivate", "tags": ["tag9"], "version": "123"}),
        )
        .if_match_current()
        .answers(
            200,
            body(with(
                profile6.clone(),
                json!({"tags": ["tag9"], "generateRandomPassword": false, "generateRandomMEBxPassword": false,
                       "ipSyncEnabled": true, "localWifiSyncEnabled": false}),
            )),
        ),
        patch(
            PROFILES,
            json!({"profileName": "nosuchprofile", "activation": "ccmactivate", "version": "1"}),
        )
        .answers(404, refused("Not Found", "AMT profile nosuchprofile Not Found")),
        // Any character the name rule allows works in a path, percent-encoded.
        post(PROFILES, ccm(odd_name)).answers(201, body(stored(odd_name))),
        get(&odd_path).answers(200, body(stored(odd_name))),
        delete(&odd_path).answers(204, empty()),
        get(&odd_path).answers(404, refused("Not Found", format!("AMT profile {odd_name} Not Found"))),
        // Deleting takes the profile's secrets with it.
        delete(&format!("{PROFILES}/testTLS")).answers(204, empty()),
        secret("TLS/testTLS").answers(404, body(json!({"errors": []}))),
        delete(&format!("{PROFILES}/profileKVMOptions"))
            .header("x-rps-api-key", "APIKEYFORRPS123!")
            .answers(204, empty()),
        delete(&format!("{PROFILES}/PROFILE6")).answers(204, empty()),
        delete(&format!("{PROFILES}/profileTLS")).answers(204, empty()),
        delete(&format!("{PROFILES}/profileNA"))
            .answers(404, refused("Not Found", "AMT profile profileNA Not Found")),
        delete(&format!("{CIRA}/ciraconfig3")).answers(204, empty()),
        get(PROFILES).answers(200, body(json!([]))),
    ]
}
