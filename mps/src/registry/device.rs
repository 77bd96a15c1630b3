//! The Device record as REST shows it (field names of the reference's JSON).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};

/// One row of `devices`, in the reference's JSON naming.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct Device {
    pub guid: String,
    #[serde(default)]
    pub hostname: Option<String>,
    #[serde(default)]
    pub tags: Option<Vec<String>>,
    #[serde(default)]
    pub mps_instance: Option<String>,
    #[serde(default)]
    pub connection_status: Option<bool>,
    #[serde(default)]
    pub mpsusername: Option<String>,
    #[serde(default)]
    pub tenant_id: String,
    #[serde(default)]
    pub friendly_name: Option<String>,
    #[serde(default)]
    pub dns_suffix: Option<String>,
    #[serde(default)]
    pub last_connected: Option<String>,
    #[serde(default)]
    pub last_seen: Option<String>,
    #[serde(default)]
    pub last_disconnected: Option<String>,
    #[serde(default)]
    pub device_info: Option<Value>,
}

/// Keys a client may not set: the connection state belongs to the MPS holding the tunnel
/// (the reference let clients overwrite them; spec §11 lists that as a bug to fix).
const SERVER_OWNED: [&str; 5] = [
    "connectionStatus",
    "mpsInstance",
    "lastConnected",
    "lastSeen",
    "lastDisconnected",
];

impl Device {
    /// The full JSON object (GET by guid, POST/PATCH results).
    pub fn to_full_json(&self) -> Value {
        serde_json::to_value(self).unwrap_or(Value::Null)
    }

    /// The list shape: the reference's list queries do not select the three timestamps.
    pub fn to_list_json(&self) -> Value {
        let mut v = self.to_full_json();
        if let Value::Object(m) = &mut v {
            m.remove("lastConnected");
            m.remove("lastSeen");
            m.remove("lastDisconnected");
        }
        v
    }

    /// Merges a validated request body over this record, as the reference's `{...device, ...body}`
    /// does, except for the server-owned connection fields.
    pub fn merged_with(&self, body: &Map<String, Value>) -> Result<Device, serde_json::Error> {
        let mut base = match self.to_full_json() {
            Value::Object(m) => m,
            _ => Map::new(),
        };
        for (k, v) in body {
            if !SERVER_OWNED.contains(&k.as_str()) {
                base.insert(k.clone(), v.clone());
            }
        }
        serde_json::from_value(Value::Object(base))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn merge_keeps_connection_state_server_owned() {
        let d = Device {
            guid: "143e4567-e89b-12d3-a456-426614174000".into(),
            connection_status: Some(false),
            ..Default::default()
        };
        let body =
            json!({"hostname":"h","connectionStatus":true,"mpsInstance":"evil","tags":["a"]});
        let m = d.merged_with(body.as_object().unwrap()).unwrap();
        assert_eq!(m.hostname.as_deref(), Some("h"));
        assert_eq!(m.connection_status, Some(false));
        assert_eq!(m.mps_instance, None);
        assert_eq!(m.tags, Some(vec!["a".to_string()]));
        let list = m.to_list_json();
        assert!(list.get("lastSeen").is_none());
        assert!(m.to_full_json().get("lastSeen").unwrap().is_null());
    }
}
