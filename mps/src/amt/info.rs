//! General settings, version and hardware information.

use axum::Json;
use axum::response::{IntoResponse, Response};
use serde_json::{Map, Value, json};

use super::{Amt, Failure, pulled};

pub async fn general_settings(amt: &Amt<'_>, guid: &str) -> Response {
    let run = async {
        let mut env = amt.get("AMT_GeneralSettings").await?;
        let body = env["Body"]["AMT_GeneralSettings"].take();
        if body.is_null() {
            return Err(Failure::NoData);
        }
        Ok(json!({ "Header": env["Header"].take(), "Body": body }))
    };
    match run.await {
        Ok(v) => Json(v).into_response(),
        Err(f) => f.respond("General Settings", guid),
    }
}

pub async fn version(amt: &Amt<'_>, guid: &str) -> Response {
    let run = async {
        let ids = amt.enum_pull("CIM_SoftwareIdentity").await?;
        let mut scs = amt.get("AMT_SetupAndConfigurationService").await?;
        let response = scs["Body"]["AMT_SetupAndConfigurationService"].clone();
        Ok::<_, Failure>(json!({
            "CIM_SoftwareIdentity": { "responses": pulled(&ids, "CIM_SoftwareIdentity"), "status": 200 },
            "AMT_SetupAndConfigurationService": {
                "response": response,
                // As the reference: `Body` is the instance itself, not the body around it.
                "responses": {
                    "Header": scs["Header"].take(),
                    "Body": scs["Body"]["AMT_SetupAndConfigurationService"].take()
                },
                "status": 200
            }
        }))
    };
    match run.await {
        Ok(v) => Json(v).into_response(),
        Err(f) => f.respond("AMT Version", guid),
    }
}

/// The reference's per-class status: a number, 200 when the class answered, else 400.
fn status(ok: bool) -> Value {
    json!(if ok { 200 } else { 400 })
}

/// The shape of reference v2.34.1 (`getHardwareInfo.ts`, "matches version 2.x API"): a class read
/// with Get has its instance as `response` and the whole envelope in a one-item `responses`; an
/// enumerated class has its items in `responses`, some always wrapped in one more list, some only
/// when AMT answered a single item.
pub async fn hardware(amt: &Amt<'_>, guid: &str) -> Response {
    let run = async {
        let mut out = Map::new();
        // (class, whether its status looks at the instance (else at the body))
        for (class, status_on_instance) in [
            ("CIM_ComputerSystemPackage", true),
            ("CIM_Chassis", true),
            ("CIM_Card", false),
            ("CIM_BIOSElement", false),
        ] {
            let env = amt.get(class).await?;
            let body = env["Body"][class].clone();
            let answered = if status_on_instance {
                !body.is_null()
            } else {
                !env["Body"].is_null()
            };
            out.insert(
                class.into(),
                json!({ "response": body, "responses": [env], "status": status(answered) }),
            );
        }
        enum Items {
            /// `[items]`, whatever AMT answered.
            Wrapped,
            /// The list as AMT answered it; a single item becomes a list of one.
            AsList,
        }
        // (key and class enumerated, class of the items, how the items are listed, whether the
        // status looks at the items (else at the body))
        let pulls = [
            ("CIM_Processor", "CIM_Processor", Items::Wrapped, true),
            (
                "CIM_PhysicalMemory",
                "CIM_PhysicalMemory",
                Items::AsList,
                true,
            ),
            (
                "CIM_MediaAccessDevice",
                "CIM_MediaAccessDevice",
                Items::AsList,
                true,
            ),
            ("CIM_PhysicalPackage", "CIM_Card", Items::Wrapped, true),
            (
                "CIM_SystemPackaging",
                "CIM_ComputerSystemPackage",
                Items::Wrapped,
                true,
            ),
            ("CIM_Chip", "CIM_Chip", Items::Wrapped, false),
        ];
        for (class, item, listing, status_on_items) in pulls {
            let env = amt.enum_pull(class).await?;
            let items = env["Body"]["PullResponse"]["Items"][item].clone();
            let answered = if status_on_items {
                !items.is_null()
            } else {
                !env["Body"].is_null()
            };
            let responses = match listing {
                Items::AsList if items.is_array() => items,
                Items::AsList | Items::Wrapped => Value::Array(vec![items]),
            };
            out.insert(
                class.into(),
                json!({ "responses": responses, "status": status(answered) }),
            );
        }
        Ok::<_, Failure>(Value::Object(out))
    };
    match run.await {
        Ok(v) => Json(v).into_response(),
        Err(f) => f.respond("AMT Hardware Information", guid),
    }
}
