//! `/api/v1/admin/ieee8021xconfigs`: 802.1x profiles for wired and wireless interfaces (their use by AMT
//! and WiFi profiles is in `integration`).

use serde_json::{Value, json};

use super::case::{
    Backend, Case, VERSION, bad_paging, body, delete, empty, field, get, invalid, patch, post,
    refused, with, without,
};

const IEEE: &str = "/api/v1/admin/ieee8021xconfigs";

fn wired(name: &str) -> Value {
    json!({"profileName": name, "authenticationProtocol": 0, "pxeTimeout": 120, "wiredInterface": true})
}

fn stored(name: &str) -> Value {
    json!({"profileName": name, "authenticationProtocol": 0, "pxeTimeout": 120, "wiredInterface": true,
           "tenantId": "", "version": VERSION})
}

const WIRED_PROTOCOLS: &str = "Authentication protocol must be one of 0:EAP-TLS, 3:PEAPv1/EAP-GTC, 5:EAP-FAST/GTC, 10:EAP-FAST/TLS, 2:PEAPv0/EAP-MSCHAPv2";
const WIRELESS_PROTOCOLS: &str =
    "Authentication protocol must be one of 0:EAP-TLS, 2:PEAPv0/EAP-MSCHAPv2";

pub fn cases(_: Backend) -> Vec<Case> {
    let bad = |changes: Value, errors| {
        post(IEEE, with(wired("test8021x"), changes)).answers(400, invalid(errors))
    };
    let edited = with(
        stored("test8021x"),
        json!({"authenticationProtocol": 5, "pxeTimeout": 0}),
    );
    vec![
        get(&format!("{IEEE}/")).answers(200, body(json!([]))),
        bad(
            json!({"profileName": ""}),
            vec![
                field("profileName", "802.1x profile name is required"),
                field("profileName", "802.1x profile name should be alphanumeric"),
            ],
        ),
        bad(
            json!({"profileName": "test_#"}),
            vec![field("profileName", "802.1x profile name should be alphanumeric")],
        ),
        bad(
            json!({"profileName": "test012345678901234567890123456789"}),
            vec![field("profileName", "802.1x profile name maximum length is 32")],
        ),
        bad(
            json!({"authenticationProtocol": 1}),
            vec![field("authenticationProtocol", WIRED_PROTOCOLS).value(json!(1))],
        ),
        bad(
            json!({"pxeTimeout": 86401}),
            vec![field("pxeTimeout", "PXE Timeout value should be 0 - 86400").value(json!(86401))],
        ),
        bad(
            json!({"pxeTimeout": -1}),
            vec![field("pxeTimeout", "PXE Timeout value should be 0 - 86400").value(json!(-1))],
        ),
        bad(
            json!({"pxeTimeout": "120"}),
            vec![field("pxeTimeout", "PXE Timeout must be number").value(json!("120"))],
        ),
        post(IEEE, without(wired("test8021x"), &["pxeTimeout"])).answers(
            400,
            invalid(vec![
                field("pxeTimeout", "PXE Timeout is required"),
                field("pxeTimeout", "PXE Timeout must be number"),
            ]),
        ),
        bad(
            json!({"wiredInterface": false, "authenticationProtocol": 3}),
            vec![field("authenticationProtocol", WIRELESS_PROTOCOLS).value(json!(3))],
        ),
        post(IEEE, without(wired("test8021x"), &["wiredInterface"])).answers(
            400,
            invalid(vec![field("wiredInterface", "Wired interface flag is required")]),
        ),
        post(IEEE, without(wired("test8021x"), &["authenticationProtocol"])).answers(
            400,
            invalid(vec![
                field("authenticationProtocol", "Authentication protocol is required"),
                field("authenticationProtocol", WIRED_PROTOCOLS),
            ]),
        ),
        // A wireless profile needs no PXE timeout and gets the default one.
        post(
            IEEE,
            json!({"profileName": "wireless8021x", "authenticationProtocol": 2, "wiredInterface": false}),
        )
        .answers(
            201,
            body(with(
                stored("wireless8021x"),
                json!({"authenticationProtocol": 2, "wiredInterface": false}),
            )),
        ),
        post(IEEE, wired("test8021x")).answers(201, body(stored("test8021x"))),
        post(
            IEEE,
            with(
                wired("test8021x"),
                json!({"authenticationProtocol": 10, "pxeTimeout": 0}),
            ),
        )
        .answers(
            400,
            refused("Unique key violation", "802.1x config: test8021x already exists"),
        ),
        post(IEEE, wired("TEST8021X")).answers(
            400,
            refused("Unique key violation", "802.1x config: TEST8021X already exists"),
        ),
        get(&format!("{IEEE}/test8021x")).answers(200, body(stored("test8021x"))),
        get(&format!("{IEEE}/Test8021X")).answers(200, body(stored("test8021x"))),
        get(&format!("{IEEE}/testProfile"))
            .answers(404, refused("Not Found", "802.1x profile testProfile Not Found")),
        // Paging, sorted by name.
        get(&format!("{IEEE}?$top=25&$skip=0")).answers(
            200,
            body(json!([stored("test8021x"), with(stored("wireless8021x"),
                json!({"authenticationProtocol": 2, "wiredInterface": false}))])),
        ),
        get(&format!("{IEEE}?$top=25&$skip=0"))
            .revalidating()
            .answers(304, empty()),
        get(&format!("{IEEE}?$top=ten&$skip=zero&$count=notboolean")).answers(400, bad_paging()),
        get(&format!("{IEEE}?$top=1&$skip=1&$count=true")).answers(
            200,
            body(json!({"data": [with(stored("wireless8021x"),
                json!({"authenticationProtocol": 2, "wiredInterface": false}))], "totalCount": 2})),
        ),
        delete(&format!("{IEEE}/wireless8021x")).answers(204, empty()),
        // PATCH: the same rules plus the version.
        patch(
            IEEE,
            with(
                wired("test8021x"),
                json!({"authenticationProtocol": 5, "pxeTimeout": 0}),
            ),
        )
        .answers(
            400,
            invalid(vec![field(
                "version",
                "Version is required to patch/update a record.",
            )]),
        ),
        patch(
            IEEE,
            with(
                wired("test8021x"),
                json!({"authenticationProtocol": 5, "pxeTimeout": 0, "version": 100}),
            ),
        )
        .answers(409, body(stored("test8021x"))),
        patch(
            IEEE,
            with(wired("test8021x"), json!({"authenticationProtocol": 6})),
        )
        .with_current_version()
        .answers(
            400,
            invalid(vec![field("authenticationProtocol", WIRED_PROTOCOLS).value(json!(6))]),
        ),
        patch(
            IEEE,
            with(
                wired("test8021x"),
                json!({"authenticationProtocol": 5, "pxeTimeout": 0}),
            ),
        )
        .with_current_version()
        .answers(200, body(edited.clone())),
        get(&format!("{IEEE}/test8021x")).answers(200, body(edited)),
        patch(IEEE, with(wired("nothere"), json!({"version": "1"})))
            .answers(404, refused("Not Found", "802.1x profile nothere Not Found")),
        delete(&format!("{IEEE}/test8021x")).answers(204, empty()),
        delete(&format!("{IEEE}/test8021x"))
            .answers(404, refused("Not Found", "802.1x profile test8021x Not Found")),
        get(IEEE).answers(200, body(json!([]))),
    ]
}
