//! What is around the resources: version, health, the admin root, the routes Express answers with its 404
//! page, paths in any case and with a trailing slash, and bodies that are not JSON objects.

use serde_json::json;

use super::case::{
    Backend, Case, body, call, field, get, including, invalid, no_route, post, refused,
};

pub fn cases(backend: Backend) -> Vec<Case> {
    let db = match backend {
        Backend::Sqlite => "SQLITE",
        Backend::Postgres => "POSTGRES",
    };
    // The secret store's status is its own `sys/health` answer, passed on.
    let health = json!({"db": {"name": db, "status": "OK"},
                        "secretStore": {"name": "VAULT", "status": {"initialized": true, "sealed": false}}});
    vec![
        get("/api/v1/admin/version/")
            .header("x-rps-api-key", "APIKEYFORRPS123!")
            .answers(
                200,
                body(json!({"serviceVersion": "2.40.0", "protocolVersion": "4.0.0"})),
            ),
        get("/api/v1/admin/health").answers(200, including(health)),
        get("/api/v1/admin").answers(
            200,
            body(json!({"message": "admin path. use admin/profiles"})),
        ),
        // Static segments match in any case; names keep theirs.
        get("/API/V1/ADMIN/VERSION").answers(
            200,
            body(json!({"serviceVersion": "2.40.0", "protocolVersion": "4.0.0"})),
        ),
        get("/Api/V1/Admin/Profiles/").answers(200, body(json!([]))),
        get("/api/v1/admin/DOMAINS/NoSuchDomain").answers(
            404,
            refused("Not Found", "Domain profile NoSuchDomain Not Found"),
        ),
        // Verbs and paths the API has not: Express's page, whatever the resource.
        call("PUT", "/api/v1/admin/wirelessconfigs", Some(json!({"profileName": "x"})))
            .answers(404, no_route("PUT", "/api/v1/admin/wirelessconfigs")),
        call("PUT", "/api/v1/admin/profiles", Some(json!({})))
            .answers(404, no_route("PUT", "/api/v1/admin/profiles")),
        call("DELETE", "/api/v1/admin/ciraconfigs", None)
            .answers(404, no_route("DELETE", "/api/v1/admin/ciraconfigs")),
        call("COPY", "/api/v1/admin/domains", None)
            .answers(404, no_route("COPY", "/api/v1/admin/domains")),
        call("POST", "/api/v1/admin/domains/vprodemo", Some(json!({})))
            .answers(404, no_route("POST", "/api/v1/admin/domains/vprodemo")),
        call("PATCH", "/api/v1/admin/proxyconfigs/proxy1", Some(json!({})))
            .answers(404, no_route("PATCH", "/api/v1/admin/proxyconfigs/proxy1")),
        get("/api/v1/admin/devices").answers(404, no_route("GET", "/api/v1/admin/devices")),
        get("/api/v1/health").answers(404, no_route("GET", "/api/v1/health")),
        // A JSON body that is not an object is read as no fields at all.
        post("/api/v1/admin/proxyconfigs", json!([1, 2])).answers(
            400,
            invalid(vec![
                field("name", "Proxy profile name is required"),
                field("name", "Proxy profile name should be alphanumeric"),
                field("address", "Server address is required"),
                field("address", "Server address must be a valid IPv4, IPv6, or FQDN"),
                field("port", "Invalid value"),
                field("port", "Port value should range between 1 and 65535"),
                field("networkDnsSuffix", "Domain name of the network is required"),
                field(
                    "networkDnsSuffix",
                    "Domain name of the network should contain alphanumeric and hyphens in the middle",
                ),
            ]),
        ),
    ]
}
