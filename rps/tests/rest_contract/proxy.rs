//! `/api/v1/admin/proxyconfigs`: HTTP proxies for AMT. No versions; the address format is worked out by the
//! server (3 IPv4, 4 IPv6, 201 FQDN).

use serde_json::{Value, json};

use super::case::{
    Backend, Case, bad_paging, body, delete, empty, field, get, invalid, patch, post, refused,
    with, without,
};

const PROXIES: &str = "/api/v1/admin/proxyconfigs";

fn proxy(name: &str, address: &str, port: u16) -> Value {
    json!({"name": name, "address": address, "port": port, "networkDnsSuffix": "intel.com"})
}

fn stored(name: &str, address: &str, port: u16, format: u16) -> Value {
    json!({"name": name, "address": address, "infoFormat": format, "port": port,
           "networkDnsSuffix": "intel.com", "tenantId": ""})
}

const ADDRESS_RULE: &str = "Server address must be a valid IPv4, IPv6, or FQDN";
const PORT_RULE: &str = "Port value should range between 1 and 65535";
const SUFFIX_RULE: &str =
    "Domain name of the network should contain alphanumeric and hyphens in the middle";

pub fn cases(_: Backend) -> Vec<Case> {
    let bad = |changes: Value, errors| {
        post(
            &format!("{PROXIES}/"),
            with(proxy("proxy1", "192.168.9.58", 900), changes),
        )
        .answers(400, invalid(errors))
    };
    let proxy1 = stored("proxy1", "www.vprotest.com", 900, 201);
    let v4 = stored("proxy4", "192.168.9.58", 901, 3);
    let v6 = stored("proxy6", "2001:db8::58", 902, 4);
    vec![
        get(PROXIES).answers(200, body(json!([]))),
        bad(
            json!({"name": "", "address": "proxy.dummy.com"}),
            vec![
                field("name", "Proxy profile name is required"),
                field("name", "Proxy profile name should be alphanumeric"),
            ],
        ),
        bad(
            json!({"name": "proxy 1"}),
            vec![field("name", "Proxy profile name should be alphanumeric")],
        ),
        bad(
            json!({"name": "p1234567890123456789012345678901x"}),
            vec![field("name", "Proxy profile name maximum length is 32")],
        ),
        bad(
            json!({"address": ""}),
            vec![
                field("address", "Server address is required"),
                field("address", ADDRESS_RULE),
            ],
        ),
        bad(
            json!({"address": "invalid@address!format"}),
            vec![field("address", ADDRESS_RULE)],
        ),
        bad(json!({"port": 65536}), vec![field("port", PORT_RULE)]),
        post(
            PROXIES,
            without(proxy("proxy1", "192.168.9.58", 900), &["port"]),
        )
        .answers(
            400,
            invalid(vec![
                field("port", "Invalid value"),
                field("port", PORT_RULE),
            ]),
        ),
        bad(
            json!({"networkDnsSuffix": "-intel.com"}),
            vec![field("networkDnsSuffix", SUFFIX_RULE)],
        ),
        bad(
            json!({"networkDnsSuffix": "intel"}),
            vec![field("networkDnsSuffix", SUFFIX_RULE)],
        ),
        bad(
            json!({"networkDnsSuffix": format!("{}.{}.{}.com", "a".repeat(63), "b".repeat(63), "c".repeat(63))}),
            vec![field(
                "networkDnsSuffix",
                "Domain name of the network maximum length is 192",
            )],
        ),
        bad(
            json!({"networkDnsSuffix": ""}),
            vec![
                field("networkDnsSuffix", "Domain name of the network is required"),
                field("networkDnsSuffix", SUFFIX_RULE),
            ],
        ),
        // The format follows the address.
        post(
            &format!("{PROXIES}/"),
            proxy("proxy1", "www.vprodemo.com", 900),
        )
        .answers(201, body(stored("proxy1", "www.vprodemo.com", 900, 201))),
        post(PROXIES, proxy("proxy4", "192.168.9.58", 901)).answers(201, body(v4.clone())),
        post(PROXIES, proxy("proxy6", "2001:db8::58", 902)).answers(201, body(v6.clone())),
        post(PROXIES, proxy("proxy1", "www.vprodemo.com", 900)).answers(
            400,
            refused(
                "Unique key violation",
                "Proxy profile proxy1 already exists",
            ),
        ),
        // The same address and port under another name is a duplicate too.
        post(PROXIES, proxy("proxy9", "WWW.VPRODEMO.COM", 900)).answers(
            400,
            refused(
                "Unique key violation",
                "Proxy profile proxy9 already exists",
            ),
        ),
        patch(PROXIES, proxy("proxy1", "www.vprotest.com", 900)).answers(200, body(proxy1.clone())),
        patch(PROXIES, proxy("nonExistingProxy", "www.vprotest.com", 900)).answers(
            404,
            refused("Not Found", "Proxy profile nonExistingProxy Not Found"),
        ),
        patch(
            PROXIES,
            json!({"name": "proxy1", "address": "", "networkDnsSuffix": "intel.com"}),
        )
        .answers(
            400,
            invalid(vec![
                field("address", "Server address is required"),
                field("address", ADDRESS_RULE),
                field("port", "Invalid value"),
                field("port", PORT_RULE),
            ]),
        ),
        get(&format!("{PROXIES}/proxy1")).answers(200, body(proxy1.clone())),
        get(&format!("{PROXIES}/PROXY1")).answers(200, body(proxy1.clone())),
        get(&format!("{PROXIES}/nonExistingProxy")).answers(
            404,
            refused("Not Found", "Proxy profile nonExistingProxy Not Found"),
        ),
        // Paging, sorted by name.
        get(&format!("{PROXIES}?$top=25&$skip=0")).answers(200, body(json!([proxy1, v4, v6]))),
        get(&format!("{PROXIES}?$top=25&$skip=0"))
            .revalidating()
            .header("cache-control", "max-age")
            .answers(304, empty()),
        get(&format!("{PROXIES}?$top=ten&$skip=zero&$count=notboolean")).answers(400, bad_paging()),
        get(&format!("{PROXIES}?$top=25&$skip=0&$count=true")).answers(
            200,
            body(json!({"data": [proxy1, v4, v6], "totalCount": 3})),
        ),
        get(&format!("{PROXIES}?$top=25&$skip=0&$count=false"))
            .answers(200, body(json!([proxy1, v4, v6]))),
        get(&format!("{PROXIES}?$top=2&$skip=1")).answers(200, body(json!([v4, v6]))),
        delete(&format!("{PROXIES}/proxy1")).answers(204, empty()),
        delete(&format!("{PROXIES}/nonExistingProxy")).answers(
            404,
            refused("Not Found", "Proxy profile nonExistingProxy Not Found"),
        ),
        delete(&format!("{PROXIES}/PROXY4")).answers(204, empty()),
        delete(&format!("{PROXIES}/proxy6")).answers(204, empty()),
        get(PROXIES).answers(200, body(json!([]))),
    ]
}
