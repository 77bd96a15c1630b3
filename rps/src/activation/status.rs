//! The status a job reports to the agent in its terminal message (rps.md §3.10): the legacy flat strings
//! (`Status`, `Network`, `CIRAConnection`, `TLSConfiguration`) rpc-go prints, and the per-component results.

use std::collections::BTreeMap;

use serde::Serialize;
use serde_json::{Map, Value};

/// The components RPS reports on, in the reference's order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize)]
pub enum Component {
    Activation,
    WiredNetwork,
    WirelessNetwork,
    #[serde(rename = "TLS")]
    Tls,
    #[serde(rename = "CIRAProxy")]
    CiraProxy,
    #[serde(rename = "CIRAConnection")]
    CiraConnection,
}

impl Component {
    pub const ALL: [Component; 6] = [
        Component::Activation,
        Component::WiredNetwork,
        Component::WirelessNetwork,
        Component::Tls,
        Component::CiraProxy,
        Component::CiraConnection,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Component::Activation => "Activation",
            Component::WiredNetwork => "WiredNetwork",
            Component::WirelessNetwork => "WirelessNetwork",
            Component::Tls => "TLS",
            Component::CiraProxy => "CIRAProxy",
            Component::CiraConnection => "CIRAConnection",
        }
    }

    fn not_applicable(self) -> &'static str {
        match self {
            Component::Activation => "Activation not part of this configuration",
            Component::WiredNetwork => "Wired network not part of this configuration",
            Component::WirelessNetwork => "Wireless network not part of this configuration",
            Component::Tls => "TLS not part of this configuration",
            Component::CiraProxy => "CIRA proxy not part of this configuration",
            Component::CiraConnection => "CIRA connection not part of this configuration",
        }
    }
}

/// Outcome of one component.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Outcome {
    Success,
    Failure,
    NotApplicable,
}

/// Mode of a component result.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
pub enum Mode {
    #[serde(rename = "ACM")]
    Acm,
    #[serde(rename = "CCM")]
    Ccm,
    LocalProfileSync,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct ComponentResult {
    #[serde(rename = "Result")]
    pub result: Outcome,
    #[serde(rename = "Mode", skip_serializing_if = "Option::is_none")]
    pub mode: Option<Mode>,
    #[serde(rename = "Details", skip_serializing_if = "Option::is_none")]
    pub details: Option<String>,
}

/// Sentence case, no trailing period (the reference's `normalizeDetails`).
pub fn normalize_details(details: &str) -> String {
    let trimmed = details.trim().trim_end_matches('.');
    let mut chars = trimmed.chars();
    match chars.next() {
        Some(first) => first.to_uppercase().chain(chars).collect(),
        None => String::new(),
    }
}

/// `ACM` / `CCM` from a legacy status text ("Client control mode.", "Activated to admin control mode.").
pub fn mode_of_status(status: &str) -> Option<Mode> {
    let lower = status.to_lowercase();
    if lower.contains("admin") {
        Some(Mode::Acm)
    } else if lower.contains("client") {
        Some(Mode::Ccm)
    } else {
        None
    }
}

/// The status object of one job.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StatusReport {
    pub status: Option<String>,
    pub network: Option<String>,
    pub cira_connection: Option<String>,
    pub tls_configuration: Option<String>,
    pub components: BTreeMap<Component, ComponentResult>,
}

impl StatusReport {
    pub fn record(
        &mut self,
        component: Component,
        result: Outcome,
        mode: Option<Mode>,
        details: Option<&str>,
    ) {
        self.components.insert(
            component,
            ComponentResult {
                result,
                mode,
                details: details.map(normalize_details),
            },
        );
    }

    /// Appends a network status the way the reference chains wired, wireless and proxy results.
    pub fn append_network(&mut self, message: &str) {
        self.network = Some(match self.network.take() {
            Some(previous) if !previous.is_empty() => format!("{previous}. {message}"),
            _ => message.to_owned(),
        });
    }

    /// Fills the components that did not run with NotApplicable (and Activation for a re-run that succeeded).
    pub fn finalize(&mut self, success: bool, current_mode: Option<i64>) {
        if success && !self.components.contains_key(&Component::Activation) {
            if let Some(status) = self.status.clone() {
                self.record(
                    Component::Activation,
                    Outcome::Success,
                    mode_of_status(&status),
                    Some(&status),
                );
            } else if let Some((mode, word)) = match current_mode {
                Some(1) => Some((Mode::Ccm, "client")),
                Some(2) => Some((Mode::Acm, "admin")),
                _ => None,
            } {
                self.record(
                    Component::Activation,
                    Outcome::Success,
                    Some(mode),
                    Some(&format!("Device already activated in {word} control mode")),
                );
            }
        }
        for component in Component::ALL {
            self.components
                .entry(component)
                .or_insert_with(|| ComponentResult {
                    result: Outcome::NotApplicable,
                    mode: None,
                    details: Some(component.not_applicable().to_owned()),
                });
        }
    }

    /// The JSON object of the terminal message.
    pub fn to_json(&self) -> Value {
        let mut map = Map::new();
        for (key, value) in [
            ("Status", &self.status),
            ("Network", &self.network),
            ("CIRAConnection", &self.cira_connection),
            ("TLSConfiguration", &self.tls_configuration),
        ] {
            if let Some(v) = value {
                map.insert(key.into(), Value::String(v.clone()));
            }
        }
        if !self.components.is_empty() {
            let mut components = Map::new();
            for (component, result) in &self.components {
                components.insert(
                    component.name().into(),
                    serde_json::to_value(result).unwrap_or(Value::Null),
                );
            }
            map.insert("Components".into(), Value::Object(components));
        }
        Value::Object(map)
    }

    /// The per-component outcomes that ran, as `name → Success/Failure` (MPS device info).
    pub fn applicable(&self) -> BTreeMap<String, String> {
        self.components
            .iter()
            .filter(|(_, r)| r.result != Outcome::NotApplicable)
            .map(|(c, r)| {
                let result = match r.result {
                    Outcome::Success => "Success",
                    Outcome::Failure => "Failure",
                    Outcome::NotApplicable => "NotApplicable",
                };
                (c.name().to_owned(), result.to_owned())
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_ccm_activation_with_cira_reports_like_the_reference() {
        let mut s = StatusReport {
            status: Some("Client control mode.".into()),
            ..Default::default()
        };
        s.record(
            Component::Activation,
            Outcome::Success,
            mode_of_status("Client control mode."),
            Some("Client control mode."),
        );
        s.append_network("Wired Network Configured");
        s.record(
            Component::WiredNetwork,
            Outcome::Success,
            None,
            Some("Wired Network Configured"),
        );
        s.cira_connection = Some("Configured".into());
        s.record(
            Component::CiraConnection,
            Outcome::Success,
            None,
            Some("Configured"),
        );
        s.finalize(true, Some(0));
        assert_eq!(
            s.to_json(),
            json!({"Status":"Client control mode.","Network":"Wired Network Configured","CIRAConnection":"Configured",
                "Components":{
                    "Activation":{"Result":"Success","Mode":"CCM","Details":"Client control mode"},
                    "WiredNetwork":{"Result":"Success","Details":"Wired Network Configured"},
                    "WirelessNetwork":{"Result":"NotApplicable","Details":"Wireless network not part of this configuration"},
                    "TLS":{"Result":"NotApplicable","Details":"TLS not part of this configuration"},
                    "CIRAProxy":{"Result":"NotApplicable","Details":"CIRA proxy not part of this configuration"},
                    "CIRAConnection":{"Result":"Success","Details":"Configured"}}})
        );
        assert_eq!(
            s.applicable().into_iter().collect::<Vec<_>>(),
            vec![
                ("Activation".into(), "Success".into()),
                ("CIRAConnection".into(), "Success".into()),
                ("WiredNetwork".into(), "Success".into())
            ]
        );
    }

    #[test]
    fn details_are_sentence_case_and_network_results_chain() {
        assert_eq!(
            normalize_details(" failed to add mps. "),
            "Failed to add mps"
        );
        let mut s = StatusReport::default();
        s.append_network("Wired Network Configured");
        s.append_network("Wireless Configured");
        assert_eq!(
            s.network.as_deref(),
            Some("Wired Network Configured. Wireless Configured")
        );
        s.finalize(true, Some(2));
        assert_eq!(
            s.components[&Component::Activation].details.as_deref(),
            Some("Device already activated in admin control mode")
        );
    }
}
