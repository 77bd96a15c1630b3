//! The typed view of `devices/<guid>`, the secret RPS writes after activation and MPS reads for digest auth
//! towards AMT and for the CIRA (APF) login.

use std::fmt;

use serde_json::Value;

use crate::SecretMap;

const AMT_PASSWORD: &str = "AMT_PASSWORD";
const MPS_PASSWORD: &str = "MPS_PASSWORD";
const MEBX_PASSWORD: &str = "MEBX_PASSWORD";

/// Keys `AMT_PASSWORD`, `MPS_PASSWORD`, `MEBX_PASSWORD` as the reference writes them. The reference writes
/// `MEBX_PASSWORD: null` for client-control-mode devices, so a JSON null reads as `None`.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct DeviceSecrets {
    pub amt_password: Option<String>,
    pub mps_password: Option<String>,
    pub mebx_password: Option<String>,
}

impl DeviceSecrets {
    /// Reads the three keys; other keys (e.g. `TLS_ISSUED_CERTIFICATE`) are ignored, non-string values read as
    /// `None`.
    pub fn from_map(map: &SecretMap) -> Self {
        let text = |key: &str| map.get(key).and_then(Value::as_str).map(str::to_owned);
        Self {
            amt_password: text(AMT_PASSWORD),
            mps_password: text(MPS_PASSWORD),
            mebx_password: text(MEBX_PASSWORD),
        }
    }

    /// The map as the reference writes it: `AMT_PASSWORD` and `MEBX_PASSWORD` always (null when absent),
    /// `MPS_PASSWORD` only for CIRA devices.
    pub fn to_map(&self) -> SecretMap {
        let mut map = SecretMap::new();
        self.apply_to(&mut map);
        map
    }

    /// Writes the three keys into an existing object, keeping its other keys (the reference merges an existing
    /// `TLS_ISSUED_CERTIFICATE` this way).
    pub fn apply_to(&self, map: &mut SecretMap) {
        let value = |v: &Option<String>| v.clone().map_or(Value::Null, Value::String);
        map.insert(AMT_PASSWORD.into(), value(&self.amt_password));
        map.insert(MEBX_PASSWORD.into(), value(&self.mebx_password));
        match &self.mps_password {
            Some(p) => map.insert(MPS_PASSWORD.into(), Value::String(p.clone())),
            None => map.remove(MPS_PASSWORD),
        };
    }
}

impl fmt::Debug for DeviceSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let shown = |v: &Option<String>| {
            if v.is_some() {
                "Some(<redacted>)"
            } else {
                "None"
            }
        };
        f.debug_struct("DeviceSecrets")
            .field(
                "amt_password",
                &format_args!("{}", shown(&self.amt_password)),
            )
            .field(
                "mps_password",
                &format_args!("{}", shown(&self.mps_password)),
            )
            .field(
                "mebx_password",
                &format_args!("{}", shown(&self.mebx_password)),
            )
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn reads_the_reference_shape() {
        let map = json!({"AMT_PASSWORD": "Amt!pass1", "MEBX_PASSWORD": null, "MPS_PASSWORD": "Mps!pass1",
                         "TLS_ISSUED_CERTIFICATE": {"pem": "x"}});
        let s = DeviceSecrets::from_map(map.as_object().unwrap());
        assert_eq!(s.amt_password.as_deref(), Some("Amt!pass1"));
        assert_eq!(s.mebx_password, None);
        assert_eq!(s.mps_password.as_deref(), Some("Mps!pass1"));
    }

    #[test]
    fn writes_the_reference_shape_and_keeps_other_keys() {
        let s = DeviceSecrets {
            amt_password: Some("a".into()),
            mps_password: None,
            mebx_password: None,
        };
        assert_eq!(
            serde_json::Value::Object(s.to_map()),
            json!({"AMT_PASSWORD": "a", "MEBX_PASSWORD": null})
        );

        let mut existing = json!({"TLS_ISSUED_CERTIFICATE": {"pem": "x"}, "MPS_PASSWORD": "old"});
        let s = DeviceSecrets {
            amt_password: Some("a".into()),
            mps_password: None,
            mebx_password: Some("m".into()),
        };
        s.apply_to(existing.as_object_mut().unwrap());
        assert_eq!(
            existing,
            json!({"TLS_ISSUED_CERTIFICATE": {"pem": "x"}, "AMT_PASSWORD": "a", "MEBX_PASSWORD": "m"})
        );
    }

    #[test]
    fn debug_redacts_every_value() {
        let s = DeviceSecrets {
            amt_password: Some("Amt!pass1".into()),
            mps_password: Some("Mps!pass1".into()),
            mebx_password: None,
        };
        let shown = format!("{s:?}");
        assert!(!shown.contains("pass1"), "{shown}");
        assert!(
            shown.contains("Some(<redacted>)") && shown.contains("None"),
            "{shown}"
        );
    }
}
