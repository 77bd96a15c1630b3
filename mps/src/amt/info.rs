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
                "responses": { "Header": scs["Header"].take(), "Body": scs["Body"].take() },
                "status": 200
            }
        }))
    };
    match run.await {
        Ok(v) => Json(v).into_response(),
        Err(f) => f.respond("AMT Version", guid),
    }
}

fn status(ok: bool) -> Value {
    Value::String(if ok { "200" } else { "400" }.into())
}

pub async fn hardware(amt: &Amt<'_>, guid: &str) -> Response {
    let run = async {
        let mut out = Map::new();
        for class in [
            "CIM_ComputerSystemPackage",
            "CIM_Chassis",
            "CIM_Card",
            "CIM_BIOSElement",
        ] {
            let env = amt.get(class).await?;
            let body = env["Body"][class].clone();
            out.insert(
                class.into(),
                json!({ "response": body, "status": status(!body.is_null()) }),
            );
        }
        // (key, class enumerated, class of the items, wrap the item list in another list)
        let pulls = [
            ("CIM_Processor", "CIM_Processor", "CIM_Processor", true),
            (
                "CIM_PhysicalMemory",
                "CIM_PhysicalMemory",
                "CIM_PhysicalMemory",
                false,
            ),
            (
                "CIM_MediaAccessDevice",
                "CIM_MediaAccessDevice",
                "CIM_MediaAccessDevice",
                true,
            ),
            (
                "CIM_PhysicalPackage",
                "CIM_PhysicalPackage",
                "CIM_Card",
                true,
            ),
            (
                "CIM_SystemPackaging",
                "CIM_SystemPackaging",
                "CIM_ComputerSystemPackage",
                true,
            ),
            ("CIM_Chip", "CIM_Chip", "CIM_Chip", true),
        ];
        for (key, class, item, wrap) in pulls {
            let env = amt.enum_pull(class).await?;
            let items = env["Body"]["PullResponse"]["Items"][item].clone();
            let found = !items.is_null();
            let responses = if wrap {
                Value::Array(vec![items])
            } else if items.is_array() || items.is_null() {
                items
            } else {
                Value::Array(vec![items])
            };
            out.insert(
                key.into(),
                json!({ "responses": responses, "status": status(found) }),
            );
        }
        Ok::<_, Failure>(Value::Object(out))
    };
    match run.await {
        Ok(v) => Json(v).into_response(),
        Err(f) => f.respond("AMT Hardware Information", guid),
    }
}
