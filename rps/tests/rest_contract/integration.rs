//! Rules across resources: AMT profiles linked to CIRA, WiFi, proxy and 802.1x configs, WiFi profiles linked
//! to 802.1x configs. Links must point at what exists (and of the right kind), come back in order, follow
//! PATCHes, and keep what they point at from being deleted.

use serde_json::{Value, json};

use super::case::{
    Backend, Case, VERSION, body, delete, empty, field, get, invalid, patch, post, refused,
    starting_with, with, without,
};

const PROFILES: &str = "/api/v1/admin/profiles";
const CIRA: &str = "/api/v1/admin/ciraconfigs";
const WIFI: &str = "/api/v1/admin/wirelessconfigs";
const PROXIES: &str = "/api/v1/admin/proxyconfigs";
const IEEE: &str = "/api/v1/admin/ieee8021xconfigs";

/// An AMT profile as answered: a random-password CCM profile with DHCP and no links, but for `changes`.
fn profile(name: &str, changes: Value) -> Value {
    with(
        json!({"profileName": name, "activation": "ccmactivate", "ciraConfigName": null,
               "generateRandomPassword": true, "generateRandomMEBxPassword": true, "tags": ["tag1"],
               "dhcpEnabled": true, "tlsMode": null, "userConsent": "All", "iderEnabled": false,
               "kvmEnabled": true, "solEnabled": false, "tenantId": "", "tlsSigningAuthority": null,
               "version": VERSION, "ieee8021xProfileName": null, "wifiConfigs": [], "ipSyncEnabled": null,
               "localWifiSyncEnabled": null, "uefiWifiSyncEnabled": null, "proxyConfigs": []}),
        changes,
    )
}

fn cira(name: &str) -> Value {
    json!({"configName": name, "mpsServerAddress": "192.168.8.50", "mpsPort": 4433, "username": "admin",
           "commonName": "192.168.8.50", "serverAddressFormat": 3, "authMethod": 2,
           "mpsRootCertificate": "rootcert", "proxyDetails": ""})
}

fn cira_stored(name: &str) -> Value {
    with(cira(name), json!({"tenantId": "", "version": VERSION}))
}

fn wifi(name: &str, ssid: &str) -> Value {
    json!({"profileName": name, "authenticationMethod": 4, "encryptionMethod": 4, "ssid": ssid,
           "pskPassphrase": "Intel@123", "linkPolicy": [14, 16]})
}

fn wifi_stored(name: &str, ssid: &str) -> Value {
    json!({"profileName": name, "authenticationMethod": 4, "encryptionMethod": 4, "ssid": ssid,
           "pskValue": null, "linkPolicy": [14, 16], "tenantId": "", "ieee8021xProfileName": null,
           "version": VERSION})
}

fn links(names: &[&str]) -> Value {
    json!(
        names
            .iter()
            .enumerate()
            .map(|(i, n)| json!({"priority": i + 1, "profileName": n}))
            .collect::<Vec<_>>()
    )
}

fn proxy_links(names: &[&str]) -> Value {
    json!(
        names
            .iter()
            .enumerate()
            .map(|(i, n)| json!({"priority": i + 1, "name": n}))
            .collect::<Vec<_>>()
    )
}

fn ieee(name: &str, wired: bool) -> Value {
    json!({"profileName": name, "authenticationProtocol": 0, "pxeTimeout": 120, "wiredInterface": wired})
}

fn ieee_stored(name: &str, wired: bool) -> Value {
    with(
        ieee(name, wired),
        json!({"tenantId": "", "version": VERSION}),
    )
}

const WIFI_ONLY_DHCP: &str = "Wifi supports only DHCP in AMT";
const WIFI_PRIORITY: &str = "wifi config priority should be an integer and between 1 and 255";

pub fn cases(_: Backend) -> Vec<Case> {
    let mut cases = with_cira();
    cases.extend(with_wifi());
    cases.extend(with_proxies());
    cases.extend(with_8021x());
    cases.extend(wifi_with_8021x());
    cases
}

/// AMT profiles that use a CIRA config.
fn with_cira() -> Vec<Case> {
    let acm = |name: &str, cira: &str, dhcp: bool| {
        json!({"profileName": name, "generateRandomPassword": true, "generateRandomMEBxPassword": true,
               "activation": "acmactivate", "ciraConfigName": cira, "dhcpEnabled": dhcp})
    };
    let acm_stored = |name: &str, dhcp: bool| {
        profile(
            name,
            json!({"activation": "acmactivate", "ciraConfigName": "ciraconfig", "tags": null,
                   "userConsent": "KVM", "dhcpEnabled": dhcp}),
        )
    };
    vec![
        post(CIRA, cira("ciraconfig")).answers(201, body(cira_stored("ciraconfig"))),
        post(PROFILES, acm("profile-ciraconfig", "nociraconfig", true)).answers(
            400,
            // The reference adds the database's own words after the error's name.
            refused(
                starting_with("Foreign key constraint violation"),
                "Referenced constraint nociraconfig doesn't exist",
            ),
        ),
        post(
            PROFILES,
            acm("profile-ciraconfig-static", "ciraconfig", false),
        )
        .answers(201, body(acm_stored("profile-ciraconfig-static", false))),
        post(PROFILES, acm("profile-ciraconfig", "CIRACONFIG", true)).answers(
            201,
            body(with(
                acm_stored("profile-ciraconfig", true),
                json!({"ciraConfigName": "CIRACONFIG"}),
            )),
        ),
        delete(&format!("{CIRA}/ciraconfig")).answers(
            400,
            refused(
                "Foreign key violation",
                "CIRA Config: ciraconfig is associated with an AMT profile",
            ),
        ),
        // The config in use can still change.
        patch(
            CIRA,
            json!({"configName": "ciraconfig", "regeneratePassword": true}),
        )
        .with_current_version()
        .answers(200, body(cira_stored("ciraconfig"))),
        patch(
            CIRA,
            json!({"configName": "ciraconfig", "regeneratePassword": true, "version": "123"}),
        )
        .answers(409, body(cira_stored("ciraconfig"))),
        patch(
            CIRA,
            json!({"configName": "ciraconfig", "regeneratePassword": true, "version": "123"}),
        )
        .header("if-match", "123")
        .answers(412, body(cira_stored("ciraconfig"))),
        patch(
            PROFILES,
            acm("profile-ciraconfig-static", "ciraconfig", false),
        )
        .with_current_version()
        .answers(200, body(acm_stored("profile-ciraconfig-static", false))),
        patch(
            PROFILES,
            acm("profile-ciraconfig-static", "nociraconfig", false),
        )
        .with_current_version()
        .answers(
            400,
            refused(
                "Foreign key constraint violation",
                "Referenced config nociraconfig doesn't exist",
            ),
        ),
        // A PATCH without the CIRA config name unlinks it, and the config can go once unused.
        patch(
            PROFILES,
            json!({"profileName": "profile-ciraconfig", "activation": "acmactivate"}),
        )
        .with_current_version()
        .answers(
            200,
            body(with(
                acm_stored("profile-ciraconfig", true),
                json!({"ciraConfigName": null}),
            )),
        ),
        delete(&format!("{PROFILES}/profile-ciraconfig-static")).answers(204, empty()),
        delete(&format!("{CIRA}/ciraconfig")).answers(204, empty()),
        delete(&format!("{PROFILES}/profile-ciraconfig")).answers(204, empty()),
    ]
}

/// AMT profiles that use WiFi profiles.
fn with_wifi() -> Vec<Case> {
    let amt = |name: &str, changes: Value| {
        with(
            json!({"profileName": name, "amtPassword": "Intel123!", "mebxPassword": "Intel123!",
                   "activation": "ccmactivate", "tags": ["tag1"], "dhcpEnabled": true}),
            changes,
        )
    };
    let bad = |changes: Value, errors| {
        post(PROFILES, amt("wifi-profile", changes)).answers(400, invalid(errors))
    };
    let bad_patch = |changes: Value, errors| {
        patch(PROFILES, amt("wifi-profile", changes))
            .with_current_version()
            .answers(400, invalid(errors))
    };
    let static_ccm = json!({"generateRandomPassword": false, "generateRandomMEBxPassword": false});
    let nine: Vec<&str> = vec!["home"; 9];
    vec![
        post(&format!("{WIFI}/"), wifi("home", "test")).answers(201, body(wifi_stored("home", "test"))),
        post(&format!("{WIFI}/"), wifi("office", "admin"))
            .answers(201, body(wifi_stored("office", "admin"))),
        bad(
            json!({"dhcpEnabled": false, "wifiConfigs": links(&["home2", "office"])}),
            vec![field("wifiConfigs", WIFI_ONLY_DHCP)],
        ),
        bad(
            json!({"wifiConfigs": [{"priority": 355, "profileName": "home2"}, {"priority": 1, "profileName": "office"}]}),
            vec![field("wifiConfigs", WIFI_PRIORITY)],
        ),
        bad(
            json!({"wifiConfigs": [{"priority": 1, "profileName": "home2"}, {"priority": -1, "profileName": "office"}]}),
            vec![field("wifiConfigs", WIFI_PRIORITY)],
        ),
        post(
            PROFILES,
            json!({"profileName": "wifi-profile", "amtPassword": "Intel123!", "mebxPassword": "Intel123!",
                   "activation": "ccmactivate", "tags": ["tag1"], "wifiConfigs": links(&["home2", "office"])}),
        )
        .answers(
            400,
            invalid(vec![
                field("dhcpEnabled", "Invalid value"),
                field("dhcpEnabled", "DHCP enabled must be a boolean"),
                field("wifiConfigs", WIFI_ONLY_DHCP),
            ]),
        ),
        bad(
            json!({"wifiConfigs": links(&["home2", "test"])}),
            vec![field("wifiConfigs", "wifi configs home2,test does not exists in db")],
        ),
        bad(
            json!({"wifiConfigs": links(&nine)}),
            vec![field(
                "wifiConfigs",
                "A maximum of 8 wifi profiles can be stored at a time.",
            )],
        ),
        post(
            PROFILES,
            json!({"profileName": "wifi-profile", "amtPassword": "P@ssw0rd", "activation": "ccmactivate",
                   "tags": ["acm"], "dhcpEnabled": true, "wifiConfigs": links(&["home", "office"])}),
        )
        .answers(
            201,
            body(profile(
                "wifi-profile",
                with(
                    static_ccm.clone(),
                    json!({"tags": ["acm"], "wifiConfigs": links(&["home", "office"])}),
                ),
            )),
        ),
        get(&format!("{PROFILES}/wifi-profile")).answers(
            200,
            body(profile(
                "wifi-profile",
                with(
                    static_ccm.clone(),
                    json!({"tags": ["acm"], "wifiConfigs": links(&["home", "office"])}),
                ),
            )),
        ),
        bad_patch(
            json!({"wifiConfigs": links(&["home", "test"])}),
            vec![field("wifiConfigs", "wifi configs test does not exists in db")],
        ),
        bad_patch(
            json!({"dhcpEnabled": false, "wifiConfigs": links(&["home2", "office"])}),
            vec![field("wifiConfigs", WIFI_ONLY_DHCP)],
        ),
        bad_patch(
            json!({"wifiConfigs": [{"priority": 355, "profileName": "home2"}, {"priority": 1, "profileName": "office"}]}),
            vec![field("wifiConfigs", WIFI_PRIORITY)],
        ),
        bad_patch(
            json!({"wifiConfigs": [{"priority": 1, "profileName": "home2"}, {"priority": -1, "profileName": "office"}]}),
            vec![field("wifiConfigs", WIFI_PRIORITY)],
        ),
        // Turning DHCP off drops the WiFi links.
        patch(PROFILES, amt("wifi-profile", json!({"dhcpEnabled": false})))
            .with_current_version()
            .answers(
                200,
                body(profile(
                    "wifi-profile",
                    with(static_ccm.clone(), json!({"dhcpEnabled": false})),
                )),
            ),
        patch(
            PROFILES,
            amt("wifi-profile", json!({"dhcpEnabled": false, "version": "123"})),
        )
        .header("if-match", "123")
        .answers(
            412,
            body(profile(
                "wifi-profile",
                with(static_ccm.clone(), json!({"dhcpEnabled": false})),
            )),
        ),
        patch(
            PROFILES,
            without(
                amt("wifi-profile", json!({"wifiConfigs": links(&["home", "office"])})),
                &["dhcpEnabled"],
            ),
        )
        .with_current_version()
        .answers(
            400,
            invalid(vec![field("wifiConfigs", "DHCP enabled should be true")]),
        ),
        patch(
            PROFILES,
            amt("wifi-profile", json!({"wifiConfigs": links(&["home", "office"])})),
        )
        .with_current_version()
        .answers(
            200,
            body(profile(
                "wifi-profile",
                with(static_ccm.clone(), json!({"wifiConfigs": links(&["home", "office"])})),
            )),
        ),
        post(&format!("{WIFI}/"), wifi("business", "admin"))
            .answers(201, body(wifi_stored("business", "admin"))),
        // The links follow the body, ordered by priority whatever order they came in.
        patch(
            PROFILES,
            json!({"profileName": "wifi-profile", "amtPassword": "Intel123!", "activation": "ccmactivate",
                   "dhcpEnabled": true, "wifiConfigs": [{"priority": 3, "profileName": "business"},
                   {"priority": 1, "profileName": "home"}, {"priority": 2, "profileName": "office"}]}),
        )
        .with_current_version()
        .answers(
            200,
            body(profile(
                "wifi-profile",
                with(
                    static_ccm.clone(),
                    json!({"wifiConfigs": links(&["home", "office", "business"])}),
                ),
            )),
        ),
        post(
            PROFILES,
            json!({"profileName": "wifi-profile2", "activation": "acmactivate", "amtPassword": "P@ssw0rd",
                   "mebxPassword": "P@ssw0rd", "tags": ["acm", "random password"], "dhcpEnabled": true,
                   "wifiConfigs": links(&["home", "office", "business"])}),
        )
        .answers(
            201,
            body(profile(
                "wifi-profile2",
                with(
                    static_ccm.clone(),
                    json!({"activation": "acmactivate", "userConsent": "KVM", "tags": ["acm", "random password"],
                           "wifiConfigs": links(&["home", "office", "business"])}),
                ),
            )),
        ),
        get(&format!("{PROFILES}/")).answers(
            200,
            body(json!([
                profile(
                    "wifi-profile",
                    with(
                        static_ccm.clone(),
                        json!({"wifiConfigs": links(&["home", "office", "business"])}),
                    ),
                ),
                profile(
                    "wifi-profile2",
                    with(
                        static_ccm,
                        json!({"activation": "acmactivate", "userConsent": "KVM",
                               "tags": ["acm", "random password"],
                               "wifiConfigs": links(&["home", "office", "business"])}),
                    ),
                ),
            ])),
        ),
        delete(&format!("{WIFI}/office"))
            .header("x-rps-api-key", "APIKEYFORRPS123!")
            .answers(
                400,
                refused(
                    "Foreign key violation",
                    "Wireless profile: office is associated with an AMT Profile.",
                ),
            ),
        delete(&format!("{PROFILES}/wifi-profile2")).answers(204, empty()),
        delete(&format!("{PROFILES}/wifi-profile")).answers(204, empty()),
        delete(&format!("{WIFI}/home")).answers(204, empty()),
        delete(&format!("{WIFI}/office")).answers(204, empty()),
        delete(&format!("{WIFI}/business")).answers(204, empty()),
    ]
}

/// AMT profiles that use proxy configs.
fn with_proxies() -> Vec<Case> {
    let amt = |name: &str, proxies: Value| {
        json!({"profileName": name, "amtPassword": "P@ssw0rd", "generateRandomPassword": false,
               "generateRandomMEBxPassword": true, "activation": "ccmactivate", "tags": ["acm"],
               "dhcpEnabled": true, "proxyConfigs": proxies})
    };
    let stored = |name: &str, proxies: Value| {
        profile(
            name,
            json!({"generateRandomPassword": false, "tags": ["acm"], "proxyConfigs": proxies}),
        )
    };
    // After a PATCH a CCM profile keeps no MEBx password, random or not.
    let patched = |name: &str, proxies: Value| {
        with(
            stored(name, proxies),
            json!({"generateRandomMEBxPassword": false}),
        )
    };
    let sixteen: Vec<&str> = vec!["proxyabc"; 16];
    vec![
        post(
            PROXIES,
            json!({"name": "proxyabc", "address": "www.proxy-abc.com", "port": 902, "networkDnsSuffix": "intel.com"}),
        )
        .answers(
            201,
            body(json!({"name": "proxyabc", "address": "www.proxy-abc.com", "infoFormat": 201, "port": 902,
                        "networkDnsSuffix": "intel.com", "tenantId": ""})),
        ),
        post(
            PROXIES,
            json!({"name": "proxyabctest", "address": "www.proxy-abc.test.com", "port": 800, "networkDnsSuffix": "intel.com"}),
        )
        .answers(
            201,
            body(json!({"name": "proxyabctest", "address": "www.proxy-abc.test.com", "infoFormat": 201,
                        "port": 800, "networkDnsSuffix": "intel.com", "tenantId": ""})),
        ),
        post(PROFILES, amt("wifi-profile", proxy_links(&["proxy"]))).answers(
            400,
            invalid(vec![field(
                "proxyConfigs",
                "proxy configs proxy does not exists in db",
            )]),
        ),
        post(
            PROFILES,
            amt("wifi-profile", json!([{"priority": 0, "name": "proxyabc"}])),
        )
        .answers(
            400,
            invalid(vec![field(
                "proxyConfigs",
                "proxy config priority should be an integer and between 1 and 255",
            )]),
        ),
        post(PROFILES, amt("wifi-profile", proxy_links(&sixteen))).answers(
            400,
            invalid(vec![field(
                "proxyConfigs",
                "A maximum of 15 proxy profiles can be stored at a time.",
            )]),
        ),
        post(
            PROFILES,
            amt("proxy-profile1", proxy_links(&["proxyabc", "proxyabctest"])),
        )
        .header("x-rps-api-key", "APIKEYFORRPS123!")
        .answers(
            201,
            body(stored(
                "proxy-profile1",
                proxy_links(&["proxyabc", "proxyabctest"]),
            )),
        ),
        post(PROFILES, amt("proxy-profile2", proxy_links(&["proxyabc"])))
            .answers(201, body(stored("proxy-profile2", proxy_links(&["proxyabc"])))),
        get(PROFILES).answers(
            200,
            body(json!([
                stored("proxy-profile1", proxy_links(&["proxyabc", "proxyabctest"])),
                stored("proxy-profile2", proxy_links(&["proxyabc"])),
            ])),
        ),
        post(
            PROXIES,
            json!({"name": "proxy", "address": "www.proxy.com", "port": 8080, "networkDnsSuffix": "intel.com"}),
        )
        .answers(
            201,
            body(json!({"name": "proxy", "address": "www.proxy.com", "infoFormat": 201, "port": 8080,
                        "networkDnsSuffix": "intel.com", "tenantId": ""})),
        ),
        // The links are replaced by the body's; a PATCH without them removes them.
        patch(PROFILES, amt("proxy-profile1", proxy_links(&["proxy"])))
            .with_current_version()
            .answers(200, body(patched("proxy-profile1", proxy_links(&["proxy"])))),
        patch(
            PROFILES,
            json!({"profileName": "proxy-profile2", "activation": "ccmactivate"}),
        )
        .with_current_version()
        .answers(200, body(patched("proxy-profile2", json!([])))),
        delete(&format!("{PROXIES}/proxy")).answers(
            400,
            refused(
                "Foreign key violation",
                "Proxy profile: proxy is associated with an AMT Profile.",
            ),
        ),
        delete(&format!("{PROFILES}/proxy-profile1")).answers(204, empty()),
        delete(&format!("{PROFILES}/proxy-profile2")).answers(204, empty()),
        delete(&format!("{PROXIES}/proxy")).answers(204, empty()),
        delete(&format!("{PROXIES}/proxyabc")).answers(204, empty()),
        delete(&format!("{PROXIES}/proxyabctest")).answers(204, empty()),
    ]
}

/// AMT profiles that use a (wired) 802.1x config.
fn with_8021x() -> Vec<Case> {
    let amt = |ieee: &str| {
        json!({"profileName": "test8021x", "activation": "ccmactivate", "tags": ["tag1"], "dhcpEnabled": false,
               "generateRandomPassword": true, "generateRandomMEBxPassword": true, "ciraConfigName": null,
               "ieee8021xProfileName": ieee, "tlsMode": null})
    };
    let stored = |ieee: &str| {
        profile(
            "test8021x",
            json!({"dhcpEnabled": false, "ieee8021xProfileName": ieee}),
        )
    };
    vec![
        post(&format!("{IEEE}/"), ieee("test8021x", true))
            .answers(201, body(ieee_stored("test8021x", true))),
        post(&format!("{IEEE}/"), ieee("extraProf", true))
            .answers(201, body(ieee_stored("extraProf", true))),
        post(&format!("{IEEE}/"), ieee("test28021x", false))
            .answers(201, body(ieee_stored("test28021x", false))),
        post(PROFILES, amt("test28021x")).answers(
            400,
            invalid(vec![
                field(
                    "ieee8021xProfileName",
                    "Ieee8021x profile test28021x is for wireless interfaces",
                )
                .value(json!("test28021x")),
            ]),
        ),
        post(PROFILES, amt("notInDb")).answers(
            400,
            invalid(vec![
                field(
                    "ieee8021xProfileName",
                    "Ieee8021x profile notInDb does not exist in db",
                )
                .value(json!("notInDb")),
            ]),
        ),
        post(PROFILES, amt("test8021x")).answers(201, body(stored("test8021x"))),
        patch(PROFILES, amt("extraProf"))
            .with_current_version()
            .answers(
                200,
                body(with(
                    stored("extraProf"),
                    json!({"generateRandomMEBxPassword": false}),
                )),
            ),
        patch(PROFILES, amt("notInDb"))
            .with_current_version()
            .answers(
                400,
                invalid(vec![
                    field(
                        "ieee8021xProfileName",
                        "IEEEProfile config notInDb does not exists in db",
                    )
                    .value(json!("notInDb")),
                ]),
            ),
        delete(&format!("{IEEE}/extraProf")).answers(
            400,
            refused(
                "Error",
                "802.1x config: extraProf is associated with an AMT Profile.",
            ),
        ),
        delete(&format!("{PROFILES}/test8021x")).answers(204, empty()),
        delete(&format!("{IEEE}/test8021x")).answers(204, empty()),
        delete(&format!("{IEEE}/extraProf")).answers(204, empty()),
        delete(&format!("{IEEE}/test28021x")).answers(204, empty()),
    ]
}

/// WiFi profiles that use a (wireless) 802.1x config.
fn wifi_with_8021x() -> Vec<Case> {
    let enterprise = |ieee: Option<&str>| {
        let mut body = json!({"profileName": "P1", "authenticationMethod": 5, "encryptionMethod": 4,
                              "ssid": "test", "pskPassphrase": "Intel@123", "linkPolicy": [14, 16]});
        if let Some(ieee) = ieee {
            body["ieee8021xProfileName"] = json!(ieee);
        }
        body
    };
    let stored = json!({"profileName": "P1", "authenticationMethod": 5, "encryptionMethod": 4, "ssid": "test",
                        "pskValue": null, "linkPolicy": [14, 16], "tenantId": "",
                        "ieee8021xProfileName": "test28021x", "version": VERSION});
    vec![
        post(&format!("{IEEE}/"), ieee("test8021x", true)).answers(201, body(ieee_stored("test8021x", true))),
        post(&format!("{IEEE}/"), ieee("test28021x", false))
            .answers(201, body(ieee_stored("test28021x", false))),
        post(&format!("{WIFI}/"), enterprise(None)).answers(
            400,
            invalid(vec![field(
                "ieee8021xProfileName",
                "ieee8021xProfileName is required",
            )]),
        ),
        post(
            &format!("{WIFI}/"),
            with(enterprise(Some("errant")), json!({"authenticationMethod": 4})),
        )
        .answers(
            400,
            invalid(vec![
                field(
                    "ieee8021xProfileName",
                    "ieee8021xProfileName can not be specified with the provided authenticationMethod",
                )
                .value(json!("errant")),
                field(
                    "ieee8021xProfileName",
                    "Ieee8021x profile errant does not exist in db",
                )
                .value(json!("errant")),
            ]),
        ),
        post(&format!("{WIFI}/"), enterprise(Some("notInDb"))).answers(
            400,
            invalid(vec![
                field(
                    "ieee8021xProfileName",
                    "Ieee8021x profile notInDb does not exist in db",
                )
                .value(json!("notInDb")),
            ]),
        ),
        post(&format!("{WIFI}/"), enterprise(Some("test8021x"))).answers(
            400,
            invalid(vec![
                field(
                    "ieee8021xProfileName",
                    "Ieee8021x profile test8021x is for wired interfaces",
                )
                .value(json!("test8021x")),
            ]),
        ),
        post(&format!("{WIFI}/"), enterprise(Some("test28021x"))).answers(201, body(stored.clone())),
        patch(&format!("{WIFI}/"), enterprise(Some("test8021x")))
            .with_current_version()
            .answers(
                400,
                invalid(vec![
                    field(
                        "ieee8021xProfileName",
                        "Ieee8021x profile test8021x is for wired interfaces",
                    )
                    .value(json!("test8021x")),
                ]),
            ),
        get(&format!("{WIFI}/P1")).answers(200, body(stored)),
        delete(&format!("{IEEE}/test28021x")).answers(
            400,
            refused(
                "Error",
                "802.1x config: test28021x is associated with a wireless profile.",
            ),
        ),
        delete(&format!("{WIFI}/P1")).answers(204, empty()),
        delete(&format!("{IEEE}/test8021x")).answers(204, empty()),
        delete(&format!("{IEEE}/test28021x")).answers(204, empty()),
        get(WIFI).answers(200, body(json!([]))),
        get(IEEE).answers(200, body(json!([]))),
    ]
}
