//! `/api/v1/admin/wirelessconfigs`: WiFi profiles. The passphrase is write-only (its column holds a
//! placeholder); 802.1x WiFi is in `integration`.

use serde_json::{Value, json};

use super::case::{
    Backend, Case, VERSION, bad_paging, body, delete, empty, field, get, invalid, patch, post,
    refused, with, without,
};

const WIFI: &str = "/api/v1/admin/wirelessconfigs";

/// A WPA PSK / CCMP profile.
fn psk(name: &str) -> Value {
    json!({"profileName": name, "authenticationMethod": 4, "encryptionMethod": 4, "ssid": "test",
           "pskPassphrase": "Intel@123", "linkPolicy": [14, 16]})
}

/// What the API answers for `psk(name)`.
fn stored(name: &str) -> Value {
    json!({"profileName": name, "authenticationMethod": 4, "encryptionMethod": 4, "ssid": "test",
           "pskValue": null, "linkPolicy": [14, 16], "tenantId": "", "ieee8021xProfileName": null,
           "version": VERSION})
}

const AUTH_RULE: &str = "Authentication method must be one of 4:WPA PSK, 5:WPA IEEE 802.1x, 6:WPA2 PSK, 7:WPA2 IEEE 802.1x";
const ENCRYPTION_RULE: &str = "Encryption method must be one of 3:TKIP, 4:CCMP";
const PSK_RULE: &str =
    "PSK Passphrase length should be greater than or equal to 8 and less than or equal to 63";
const LONG_PASSPHRASE: &str =
    "Intel@123!Intel@123!Intel@123!Intel@123!Intel@123!Intel@123!Intel@123!Intel@123!";

pub fn cases(_: Backend) -> Vec<Case> {
    let bad =
        |changes: Value, errors| post(WIFI, with(psk("P1"), changes)).answers(400, invalid(errors));
    let bad_patch = |changes: Value, errors| {
        patch(WIFI, with(psk("P1"), changes))
            .with_current_version()
            .answers(400, invalid(errors))
    };
    // The list rows carry the reference's stray window count.
    let listed = with(stored("P1"), json!({"total_count": "1"}));
    let edited = without(with(stored("P1"), json!({"ssid": "test1"})), &["pskValue"]);
    vec![
        get(&format!("{WIFI}/")).answers(200, body(json!([]))),
        get(&format!("{WIFI}/sampleProfile")).answers(
            404,
            refused("Not Found", "Wireless profile sampleProfile Not Found"),
        ),
        post(WIFI, json!({})).answers(
            400,
            invalid(vec![
                field("profileName", "Wireless profile name is required"),
                field(
                    "profileName",
                    "Wireless profile name should be alphanumeric",
                ),
                field("authenticationMethod", "Authentication method is required"),
                field("authenticationMethod", AUTH_RULE),
                field("encryptionMethod", "Encryption method is required"),
                field("encryptionMethod", ENCRYPTION_RULE),
                field("ssid", "SSID is required"),
            ]),
        ),
        bad(
            json!({"authenticationMethod": 10}),
            vec![field("authenticationMethod", AUTH_RULE)],
        ),
        bad(
            json!({"encryptionMethod": 6, "priority": 1}),
            vec![field("encryptionMethod", ENCRYPTION_RULE)],
        ),
        bad(
            json!({"ssid": "wirelessProfile1234512345123456789"}),
            vec![field("ssid", "Maximum length is 32")],
        ),
        bad(
            json!({"pskPassphrase": "Inte123"}),
            vec![field("pskPassphrase", PSK_RULE)],
        ),
        bad(
            json!({"pskPassphrase": LONG_PASSPHRASE}),
            vec![field("pskPassphrase", PSK_RULE)],
        ),
        bad(
            json!({"authenticationMethod": 6, "pskPassphrase": null}),
            vec![field("pskPassphrase", PSK_RULE)],
        ),
        bad(
            json!({"profileName": "P 1"}),
            vec![field(
                "profileName",
                "Wireless profile name should be alphanumeric",
            )],
        ),
        bad(
            json!({"profileName": "P0123456789012345678901234567890x"}),
            vec![field(
                "profileName",
                "Wireless profile name maximum length is 32",
            )],
        ),
        // Not an array: the reference's own check then fails on it too, with JavaScript's words.
        bad(
            json!({"linkPolicy": "14"}),
            vec![
                field("linkPolicy", "LinkPolicy should be an array of integers"),
                field("linkPolicy", "value.every is not a function"),
            ],
        ),
        bad(
            json!({"linkPolicy": [14, 1.5]}),
            vec![field("linkPolicy", "Array does not contain integers")],
        ),
        bad(
            json!({"linkPolicy": [14, 2]}),
            vec![field(
                "linkPolicy",
                "Array values should be either 1: available on S0 AC, 14: available on Sx AC, 16: available on S0 DC, 224: available on Sx DC",
            )],
        ),
        post(WIFI, psk("P1")).answers(201, body(stored("P1"))),
        post(WIFI, psk("P1")).answers(
            400,
            refused("Unique key violation", "Wireless profile P1 already exists"),
        ),
        post(WIFI, psk("p1")).answers(
            400,
            refused("Unique key violation", "Wireless profile p1 already exists"),
        ),
        get(&format!("{WIFI}/P1")).answers(200, body(stored("P1"))),
        get(&format!("{WIFI}/p1")).answers(200, body(stored("P1"))),
        // Link policies are optional; all four values are taken.
        post(
            WIFI,
            with(
                without(psk("P2"), &["linkPolicy"]),
                json!({"authenticationMethod": 6, "encryptionMethod": 3}),
            ),
        )
        .answers(
            201,
            body(with(
                stored("P2"),
                json!({"authenticationMethod": 6, "encryptionMethod": 3, "linkPolicy": null}),
            )),
        ),
        patch(
            WIFI,
            with(psk("P2"), json!({"linkPolicy": [1, 14, 16, 224]})),
        )
        .with_current_version()
        .answers(
            200,
            body(without(
                with(stored("P2"), json!({"linkPolicy": [1, 14, 16, 224]})),
                &["pskValue"],
            )),
        ),
        delete(&format!("{WIFI}/P2")).answers(204, empty()),
        // Paging.
        get(&format!("{WIFI}?$top=25&$skip=0")).answers(200, body(json!([listed]))),
        get(&format!("{WIFI}?$top=25&$skip=0"))
            .revalidating()
            .header("cache-control", "max-age")
            .answers(304, empty()),
        get(&format!("{WIFI}?$top=ten&$skip=zero&$count=notboolean")).answers(400, bad_paging()),
        get(&format!("{WIFI}?$top=25&$skip=0&$count=true"))
            .answers(200, body(json!({"data": [listed], "totalCount": 1}))),
        get(&format!("{WIFI}?$top=25&$skip=0&$count=false")).answers(200, body(json!([listed]))),
        // PATCH: the same rules plus the version.
        patch(
            WIFI,
            with(
                psk("P1"),
                json!({"ssid": "test1", "pskPassphrase": "Intel@123!"}),
            ),
        )
        .with_current_version()
        .answers(200, body(edited.clone())),
        patch(
            WIFI,
            with(
                psk("P1"),
                json!({"ssid": "test1", "pskPassphrase": "Intel@123!"}),
            ),
        )
        .answers(
            400,
            invalid(vec![field(
                "version",
                "Version is required to patch/update a record.",
            )]),
        ),
        // A conflict answers the record as a GET does (with `pskValue`).
        patch(
            WIFI,
            with(psk("P1"), json!({"ssid": "test2", "version": "123"})),
        )
        .answers(409, body(with(stored("P1"), json!({"ssid": "test1"})))),
        bad_patch(
            json!({"encryptionMethod": 6, "priority": 1}),
            vec![field("encryptionMethod", ENCRYPTION_RULE)],
        ),
        bad_patch(
            json!({"authenticationMethod": 10, "priority": 1}),
            vec![field("authenticationMethod", AUTH_RULE)],
        ),
        bad_patch(
            json!({"ssid": "wirelessProfile1234512345123456789"}),
            vec![field("ssid", "Maximum length is 32")],
        ),
        bad_patch(
            json!({"pskPassphrase": "Inte123"}),
            vec![field("pskPassphrase", PSK_RULE)],
        ),
        bad_patch(
            json!({"pskPassphrase": LONG_PASSPHRASE}),
            vec![field("pskPassphrase", PSK_RULE)],
        ),
        patch(
            WIFI,
            with(psk("P12"), json!({"priority": 1, "version": "1"})),
        )
        .answers(404, refused("Not Found", "Wireless profile P12 Not Found")),
        delete(&format!("{WIFI}/P1")).answers(204, empty()),
        delete(&format!("{WIFI}/P11"))
            .answers(404, refused("Not Found", "Wireless profile P11 Not Found")),
        get(WIFI).answers(200, body(json!([]))),
    ]
}
