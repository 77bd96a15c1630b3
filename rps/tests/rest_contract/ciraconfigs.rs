//! `/api/v1/admin/ciraconfigs`: where devices find the MPS. The password is write-only.

use serde_json::{Value, json};

use super::case::{
    Backend, Case, VERSION, bad_paging, body, delete, empty, field, get, invalid, patch, post,
    refused, with, without,
};

const CIRA: &str = "/api/v1/admin/ciraconfigs";

/// A valid POST body: an IPv4 MPS address with its certificate's CN.
fn config(name: &str) -> Value {
    json!({"configName": name, "mpsServerAddress": "192.168.8.50", "mpsPort": 4433, "username": "admin",
           "commonName": "192.168.8.50", "serverAddressFormat": 3, "authMethod": 2,
           "mpsRootCertificate": "rootcert", "proxyDetails": ""})
}

/// What the API answers for `config(name)`.
fn stored(name: &str) -> Value {
    json!({"configName": name, "mpsServerAddress": "192.168.8.50", "mpsPort": 4433, "username": "admin",
           "commonName": "192.168.8.50", "serverAddressFormat": 3, "authMethod": 2,
           "mpsRootCertificate": "rootcert", "proxyDetails": "", "tenantId": "", "version": VERSION})
}

const PORT_RANGE: &str = "MPS Port value should range between 1024 and 49151";
const FORMAT_RULE: &str =
    "MPS server address format should be either 3(IPV4) , 4(IPV6) or 201(FQDN)";
const AUTH_RULE: &str =
    "Authentication method should be either 1 (Mutual Auth) or 2 (username and password)";

pub fn cases(_: Backend) -> Vec<Case> {
    let bad = |changes: Value, errors| {
        post(CIRA, with(config("ciraconfig2"), changes)).answers(400, invalid(errors))
    };
    let missing = |key: &str, errors| {
        post(CIRA, without(config("ciraconfig2"), &[key])).answers(400, invalid(errors))
    };
    let bad_patch = |changes: Value, errors| {
        patch(CIRA, with(json!({"configName": "ciraconfig2"}), changes))
            .answers(400, invalid(errors))
    };
    let random_password = with(stored("test"), json!({"username": "adminuser"}));
    vec![
        get(CIRA).answers(200, body(json!([]))),
        get(&format!("{CIRA}?$top=10&$skip=0"))
            .revalidating()
            .header("cache-control", "max-age")
            .answers(304, empty()),
        get(&format!("{CIRA}/dontexist"))
            .answers(404, refused("Not Found", "CIRA profile dontexist Not Found")),
        // Every POST rule at once, in the reference's order.
        post(CIRA, json!({})).answers(
            400,
            invalid(vec![
                field("configName", "CIRA profile name is required"),
                field(
                    "configName",
                    "CIRA profile name accepts letters, numbers, underscore and hyphen only",
                ),
                field("serverAddressFormat", "MPS server address format is required"),
                field("serverAddressFormat", FORMAT_RULE),
                field("mpsServerAddress", "MPS server address is required"),
                field("mpsServerAddress", "serverAddressFormat is required"),
                field("mpsPort", "MPS port is required"),
                field("mpsPort", PORT_RANGE),
                field("username", "MPS user name is required"),
                field("username", "MPS user name should be alphanumeric"),
                field("username", "MPS user name length should be in between 5 to 16"),
                field("authMethod", "Authentication method is required"),
                field("authMethod", AUTH_RULE),
                field("mpsRootCertificate", "MPS public root certificate is required"),
            ]),
        ),
        missing(
            "mpsRootCertificate",
            vec![field(
                "mpsRootCertificate",
                "MPS public root certificate is required",
            )],
        ),
        missing(
            "mpsPort",
            vec![
                field("mpsPort", "MPS port is required"),
                field("mpsPort", PORT_RANGE),
            ],
        ),
        bad(json!({"mpsPort": 1000}), vec![field("mpsPort", PORT_RANGE)]),
        bad(json!({"mpsPort": 50000}), vec![field("mpsPort", PORT_RANGE)]),
        bad(json!({"mpsPort": "wrong"}), vec![field("mpsPort", PORT_RANGE)]),
        missing(
            "mpsServerAddress",
            vec![field("mpsServerAddress", "MPS server address is required")],
        ),
        bad(
            json!({"username": "admin user"}),
            vec![field("username", "MPS user name should be alphanumeric")],
        ),
        bad(
            json!({"username": "admin@user"}),
            vec![field("username", "MPS user name should be alphanumeric")],
        ),
        bad(
            json!({"username": "adm"}),
            vec![field(
                "username",
                "MPS user name length should be in between 5 to 16",
            )],
        ),
        bad(
            json!({"username": "abcdefghijklmnopq"}),
            vec![field(
                "username",
                "MPS user name length should be in between 5 to 16",
            )],
        ),
        missing(
            "username",
            vec![
                field("username", "MPS user name is required"),
                field("username", "MPS user name should be alphanumeric"),
                field("username", "MPS user name length should be in between 5 to 16"),
            ],
        ),
        missing(
            "serverAddressFormat",
            vec![
                field("serverAddressFormat", "MPS server address format is required"),
                field("serverAddressFormat", FORMAT_RULE),
                field("mpsServerAddress", "serverAddressFormat is required"),
            ],
        ),
        bad(
            json!({"serverAddressFormat": 4}),
            vec![field(
                "mpsServerAddress",
                "serverAddressFormat 4 requires IPV6 server address",
            )],
        ),
        bad(
            json!({"serverAddressFormat": 401}),
            vec![field("serverAddressFormat", FORMAT_RULE)],
        ),
        bad(
            json!({"serverAddressFormat": "FQDN"}),
            vec![field("serverAddressFormat", FORMAT_RULE)],
        ),
        bad(
            json!({"mpsServerAddress": "mps.example.com"}),
            vec![field(
                "mpsServerAddress",
                "serverAddressFormat 3 requires IPV4 server address",
            )],
        ),
        // An address that is not text fails inside the reference's format check, with JavaScript's words.
        bad(
            json!({"mpsServerAddress": 19216885}),
            vec![field("mpsServerAddress", "value.match is not a function")],
        ),
        missing(
            "commonName",
            vec![field(
                "mpsServerAddress",
                "commonName is required when serverAddressFormat is 3",
            )],
        ),
        bad(
            json!({"serverAddressFormat": 201, "mpsServerAddress": "MPS.example.com"}),
            vec![field(
                "mpsServerAddress",
                "serverAddressFormat 201 requires FQDN server address",
            )],
        ),
        bad(
            json!({"commonName": "mps.example.com"}),
            vec![field(
                "commonName",
                "Cert. Hostname(CN) should be an IP address.",
            )],
        ),
        missing(
            "authMethod",
            vec![
                field("authMethod", "Authentication method is required"),
                field("authMethod", AUTH_RULE),
            ],
        ),
        bad(json!({"authMethod": 5}), vec![field("authMethod", AUTH_RULE)]),
        bad(
            json!({"authMethod": "mutual"}),
            vec![field("authMethod", AUTH_RULE)],
        ),
        bad(
            json!({"configName": "cira config"}),
            vec![field(
                "configName",
                "CIRA profile name accepts letters, numbers, underscore and hyphen only",
            )],
        ),
        // Created without a password (each device gets a random one), and with one, never answered.
        post(
            CIRA,
            with(config("test"), json!({"username": "adminuser"})),
        )
        .answers(201, body(random_password.clone())),
        post(CIRA, config("ciraconfig2")).answers(201, body(stored("ciraconfig2"))),
        post(CIRA, config("ciraConfig2")).answers(
            400,
            refused(
                "Unique key violation",
                "CIRA Config ciraConfig2 already exists.",
            ),
        ),
        get(&format!("{CIRA}/ciraConfig2")).answers(200, body(stored("ciraconfig2"))),
        post(
            CIRA,
            with(config("ciraconfig2"), json!({"serverAddressFormat": 201})),
        )
        .answers(
            400,
            refused(
                "Unique key violation",
                "CIRA Config ciraconfig2 already exists.",
            ),
        ),
        // FQDN and IPv6 addresses are taken with their formats.
        post(
            CIRA,
            with(
                config("fqdnCira"),
                json!({"serverAddressFormat": 201, "mpsServerAddress": "mps.example.com", "commonName": "mps.example.com"}),
            ),
        )
        .answers(
            201,
            body(with(
                stored("fqdnCira"),
                json!({"serverAddressFormat": 201, "mpsServerAddress": "mps.example.com", "commonName": "mps.example.com"}),
            )),
        ),
        post(
            CIRA,
            with(
                config("v6Cira"),
                json!({"serverAddressFormat": 4, "mpsServerAddress": "2001:db8::50", "commonName": "192.168.8.50"}),
            ),
        )
        .answers(
            201,
            body(with(
                stored("v6Cira"),
                json!({"serverAddressFormat": 4, "mpsServerAddress": "2001:db8::50"}),
            )),
        ),
        delete(&format!("{CIRA}/fqdnCira")).answers(204, empty()),
        delete(&format!("{CIRA}/V6CIRA")).answers(204, empty()),
        // Paging.
        get(&format!("{CIRA}?$top=10&$skip=0"))
            .answers(200, body(json!([stored("ciraconfig2"), random_password]))),
        get(&format!("{CIRA}?$top=string&$skip=zero&$count=boolean")).answers(400, bad_paging()),
        get(&format!("{CIRA}?$top=10&$skip=0&$count=true")).answers(
            200,
            body(json!({"data": [stored("ciraconfig2"), random_password], "totalCount": 2})),
        ),
        get(&format!("{CIRA}?$top=10&$skip=0&$count=false"))
            .answers(200, body(json!([stored("ciraconfig2"), random_password]))),
        get(&format!("{CIRA}?$top=1&$skip=1&$count=true"))
            .answers(200, body(json!({"data": [random_password], "totalCount": 2}))),
        delete(&format!("{CIRA}/test")).answers(204, empty()),
        post(
            CIRA,
            with(
                config("ciraCfgWithStaticPassword"),
                json!({"username": "adminuser", "password": "TestPassw0rd!"}),
            ),
        )
        .answers(
            201,
            body(with(
                stored("ciraCfgWithStaticPassword"),
                json!({"username": "adminuser"}),
            )),
        ),
        delete(&format!("{CIRA}/ciraCfgWithStaticPassword")).answers(204, empty()),
        // PATCH rules: the address needs its format, format 3 needs a CN, a CN needs both.
        bad_patch(
            json!({"mpsServerAddress": "192.168.8.55"}),
            vec![field("mpsServerAddress", "serverAddressFormat is required")],
        ),
        bad_patch(
            json!({"mpsServerAddress": "192.168.8.55", "serverAddressFormat": 3}),
            vec![field(
                "mpsServerAddress",
                "commonName is required when serverAddressFormat is 3",
            )],
        ),
        bad_patch(
            json!({"commonName": "192.168.8.55"}),
            vec![field(
                "commonName",
                "serverAddressFormat and mpsServerAddress is required",
            )],
        ),
        bad_patch(
            json!({"serverAddressFormat": 5}),
            vec![
                field(
                    "serverAddressFormat",
                    "MPS server address format 3(IPV4) , 4(IPV6) or 201(FQDN)",
                ),
                field("serverAddressFormat", "Server address is required to update"),
            ],
        ),
        // The PATCH port bounds are exclusive, and the port must be a JSON number.
        bad_patch(json!({"mpsPort": 433}), vec![field("mpsPort", PORT_RANGE)]),
        bad_patch(json!({"mpsPort": 50000}), vec![field("mpsPort", PORT_RANGE)]),
        bad_patch(json!({"mpsPort": "wrong"}), vec![field("mpsPort", PORT_RANGE)]),
        bad_patch(json!({"mpsPort": 1024}), vec![field("mpsPort", PORT_RANGE)]),
        bad_patch(json!({"mpsPort": "4433"}), vec![field("mpsPort", PORT_RANGE)]),
        bad_patch(
            json!({"username": "admin user"}),
            vec![field("username", "MPS user name should be alphanumeric")],
        ),
        bad_patch(
            json!({"authMethod": 3}),
            vec![field(
                "authMethod",
                "Authentication method accepts either 1 - Mutual Auth or 2 -username/password)",
            )],
        ),
        patch(
            CIRA,
            json!({"configName": "", "mpsPort": 4433}),
        )
        .answers(
            400,
            invalid(vec![
                field("configName", "CIRA profile name is required"),
                field(
                    "configName",
                    "CIRA profile name accepts letters, numbers, underscore and hyphen only",
                ),
            ]),
        ),
        // Writes with the current version; stale versions are conflicts answered with the current record.
        patch(
            CIRA,
            with(config("ciraconfig2"), json!({"regeneratePassword": false})),
        )
        .with_current_version()
        .answers(200, body(stored("ciraconfig2"))),
        patch(
            CIRA,
            with(
                config("ciraconfig2"),
                json!({"regeneratePassword": false, "version": "123"}),
            ),
        )
        .answers(409, body(stored("ciraconfig2"))),
        patch(
            CIRA,
            with(
                config("ciraconfig2"),
                json!({"regeneratePassword": false, "version": "123"}),
            ),
        )
        .header("if-match", "123")
        .answers(412, body(stored("ciraconfig2"))),
        // If-Match wins over the body's version.
        patch(
            CIRA,
            with(config("ciraconfig2"), json!({"version": "123"})),
        )
        .if_match_current()
        .answers(200, body(stored("ciraconfig2"))),
        // Without a version the write is a conflict.
        patch(CIRA, config("ciraconfig2")).answers(409, body(stored("ciraconfig2"))),
        patch(
            CIRA,
            with(config("ciraconfig2"), json!({"regeneratePassword": true})),
        )
        .with_current_version()
        .answers(200, body(stored("ciraconfig2"))),
        patch(CIRA, config("ciraConfig2"))
            .with_current_version()
            .answers(200, body(stored("ciraconfig2"))),
        // A partial PATCH keeps every field it does not name.
        patch(CIRA, json!({"configName": "ciraconfig2", "mpsPort": 4434}))
            .with_current_version()
            .answers(200, body(with(stored("ciraconfig2"), json!({"mpsPort": 4434})))),
        patch(
            CIRA,
            json!({"configName": "ciraconfig2", "serverAddressFormat": 201, "mpsServerAddress": "mps.example.com",
                   "commonName": "mps.example.com", "username": "newadmin", "authMethod": 1}),
        )
        .with_current_version()
        .answers(
            200,
            body(with(
                stored("ciraconfig2"),
                json!({"mpsPort": 4434, "serverAddressFormat": 201, "mpsServerAddress": "mps.example.com",
                       "commonName": "mps.example.com", "username": "newadmin", "authMethod": 1}),
            )),
        ),
        delete(&format!("{CIRA}/ciraConfig2")).answers(204, empty()),
        patch(
            CIRA,
            with(config("ciraconfig2"), json!({"serverAddressFormat": 201})),
        )
        .answers(
            404,
            refused("Not Found", "CIRA profile ciraconfig2 Not Found"),
        ),
        delete(&format!("{CIRA}/ciraconfig2")).answers(
            404,
            refused("Not Found", "CIRA profile ciraconfig2 Not Found"),
        ),
        get(CIRA).answers(200, body(json!([]))),
    ]
}
