//! Server side: writes WS-Man answers shaped like real AMT ones (prefixes `a:`…`h:`, header order
//! To, RelatesTo, Action, MessageID, ResourceURI; MessageIDs `uuid:00000000-8086-8086-8086-…`).

use std::fmt::{self, Write as _};

use crate::catalog::{ANONYMOUS, NS_CIM_COMMON, NS_ENUMERATION, NS_TRANSFER, action};
use crate::envelope::{EndpointReference, Selector, SelectorValue};
use crate::xml::{escape_attr, escape_text};

/// Namespace declarations (prefixes `a`–`f`) AMT puts on every answer.
const COMMON_NAMESPACES: &str = concat!(
    r#"xmlns:a="http://www.w3.org/2003/05/soap-envelope" "#,
    r#"xmlns:b="http://schemas.xmlsoap.org/ws/2004/08/addressing" "#,
    r#"xmlns:c="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" "#,
    r#"xmlns:d="http://schemas.xmlsoap.org/ws/2005/02/trust" "#,
    r#"xmlns:e="http://docs.oasis-open.org/wss/2004/01/oasis-200401-wss-wssecurity-secext-1.0.xsd" "#,
    r#"xmlns:f="http://schemas.dmtf.org/wbem/wsman/1/cimbinding.xsd""#
);

/// AMT's MessageID form for the n-th answer of a device.
pub fn amt_message_id(n: u64) -> String {
    format!("uuid:00000000-8086-8086-8086-{:012X}", n & 0xFFFF_FFFF_FFFF)
}

/// A property value of an instance or a method output.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Prop {
    Text(String),
    /// A repeated property (`<g:DetectionStrings>a</g:DetectionStrings><g:DetectionStrings>b</…>`).
    List(Vec<String>),
    /// An endpoint reference (`<b:Address>…<b:ReferenceParameters>…`).
    Reference(EndpointReference),
    /// A CIM date-time (`<h:Datetime>2024-01-03T00:44:35Z</h:Datetime>` inside the property).
    Datetime(String),
    /// A CIM interval (`<h:Interval>P0DT1H0M</h:Interval>` inside the property).
    Interval(String),
    /// Nested properties written with the same prefix (embedded instances).
    Nested(Vec<(String, Prop)>),
}

impl Prop {
    pub fn text(value: impl fmt::Display) -> Prop {
        Prop::Text(value.to_string())
    }

    /// The text of a `Text` property.
    pub fn as_text(&self) -> Option<&str> {
        match self {
            Prop::Text(t) => Some(t),
            _ => None,
        }
    }
}

/// One CIM instance: class name and properties in schema order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Instance {
    pub class: String,
    pub props: Vec<(String, Prop)>,
}

impl Instance {
    pub fn new(class: impl Into<String>) -> Instance {
        Instance {
            class: class.into(),
            props: Vec::new(),
        }
    }

    /// Appends a text property.
    pub fn with(mut self, name: &str, value: impl fmt::Display) -> Instance {
        self.props.push((name.to_string(), Prop::text(value)));
        self
    }

    /// Appends any property.
    pub fn with_prop(mut self, name: &str, prop: Prop) -> Instance {
        self.props.push((name.to_string(), prop));
        self
    }

    pub fn get(&self, name: &str) -> Option<&Prop> {
        self.props.iter().find(|(n, _)| n == name).map(|(_, p)| p)
    }

    pub fn text(&self, name: &str) -> Option<&str> {
        self.get(name).and_then(Prop::as_text)
    }

    /// Replaces the property (or appends it when missing).
    pub fn set(&mut self, name: &str, prop: Prop) {
        match self.props.iter_mut().find(|(n, _)| n == name) {
            Some((_, existing)) => *existing = prop,
            None => self.props.push((name.to_string(), prop)),
        }
    }

    pub fn remove(&mut self, name: &str) {
        self.props.retain(|(n, _)| n != name);
    }
}

/// Writes `<b:Address>…</b:Address><b:ReferenceParameters>…</b:ReferenceParameters>` (answer prefixes).
pub fn write_reference(out: &mut String, epr: &EndpointReference) {
    let address = if epr.address.is_empty() {
        ANONYMOUS
    } else {
        &epr.address
    };
    let _ = write!(
        out,
        "<b:Address>{}</b:Address><b:ReferenceParameters><c:ResourceURI>{}</c:ResourceURI><c:SelectorSet>",
        escape_text(address),
        escape_text(&epr.resource_uri)
    );
    for selector in &epr.selectors {
        write_selector(out, selector);
    }
    out.push_str("</c:SelectorSet></b:ReferenceParameters>");
}

fn write_selector(out: &mut String, selector: &Selector) {
    let _ = write!(
        out,
        r#"<c:Selector Name="{}">"#,
        escape_attr(&selector.name)
    );
    match &selector.value {
        SelectorValue::Text(t) => out.push_str(&escape_text(t)),
        SelectorValue::Reference(epr) => {
            out.push_str("<b:EndpointReference>");
            write_reference(out, epr);
            out.push_str("</b:EndpointReference>");
        }
    }
    out.push_str("</c:Selector>");
}

/// Writes properties as `<{prefix}:{name}>…` elements.
pub fn write_props(out: &mut String, prefix: &str, props: &[(String, Prop)]) {
    for (name, prop) in props {
        match prop {
            Prop::Text(t) => {
                let _ = write!(out, "<{prefix}:{name}>{}</{prefix}:{name}>", escape_text(t));
            }
            Prop::List(items) => {
                for item in items {
                    let _ = write!(
                        out,
                        "<{prefix}:{name}>{}</{prefix}:{name}>",
                        escape_text(item)
                    );
                }
            }
            Prop::Reference(epr) => {
                let _ = write!(out, "<{prefix}:{name}>");
                write_reference(out, epr);
                let _ = write!(out, "</{prefix}:{name}>");
            }
            Prop::Datetime(t) | Prop::Interval(t) => {
                let kind = if matches!(prop, Prop::Datetime(_)) {
                    "Datetime"
                } else {
                    "Interval"
                };
                let _ = write!(
                    out,
                    r#"<{prefix}:{name}><i:{kind} xmlns:i="{NS_CIM_COMMON}">{}</i:{kind}></{prefix}:{name}>"#,
                    escape_text(t)
                );
            }
            Prop::Nested(inner) => {
                let _ = write!(out, "<{prefix}:{name}>");
                write_props(out, prefix, inner);
                let _ = write!(out, "</{prefix}:{name}>");
            }
        }
    }
}

/// Writes `<{prefix}:{class}>props</…>`, declaring the prefix inline when `namespace` is given.
pub fn write_instance(
    out: &mut String,
    prefix: &str,
    namespace: Option<&str>,
    instance: &Instance,
) {
    match namespace {
        Some(ns) => {
            let _ = write!(
                out,
                r#"<{prefix}:{} xmlns:{prefix}="{ns}">"#,
                instance.class
            );
        }
        None => {
            let _ = write!(out, "<{prefix}:{}>", instance.class);
        }
    }
    write_props(out, prefix, &instance.props);
    let _ = write!(out, "</{prefix}:{}>", instance.class);
}

/// The header fields of one answer.
#[derive(Clone, Debug)]
pub struct Reply<'a> {
    /// MessageID of the request (echoed as RelatesTo).
    pub relates_to: &'a str,
    /// Our own MessageID, e.g. from [`amt_message_id`].
    pub message_id: &'a str,
    /// Resource URI of the request, echoed in the header when present.
    pub resource_uri: Option<&'a str>,
}

impl Reply<'_> {
    /// A complete envelope: `extra_namespaces` are `(prefix, uri)` declared after `a`–`f`.
    pub fn envelope(&self, action: &str, extra_namespaces: &[(&str, &str)], body: &str) -> String {
        let mut out = String::with_capacity(1100 + body.len());
        out.push_str(r#"<?xml version="1.0" encoding="UTF-8"?><a:Envelope "#);
        out.push_str(COMMON_NAMESPACES);
        for (prefix, uri) in extra_namespaces {
            let _ = write!(out, r#" xmlns:{prefix}="{uri}""#);
        }
        let _ = write!(
            out,
            r#" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"><a:Header><b:To>{ANONYMOUS}</b:To><b:RelatesTo>{}</b:RelatesTo><b:Action a:mustUnderstand="true">{}</b:Action><b:MessageID>{}</b:MessageID>"#,
            escape_text(self.relates_to),
            escape_text(action),
            escape_text(self.message_id)
        );
        if let Some(uri) = self.resource_uri {
            let _ = write!(out, "<c:ResourceURI>{}</c:ResourceURI>", escape_text(uri));
        }
        out.push_str("</a:Header><a:Body>");
        out.push_str(body);
        out.push_str("</a:Body></a:Envelope>");
        out
    }

    /// `GetResponse` (or `PutResponse`) carrying one instance.
    pub fn instance(&self, response_action: &str, instance: &Instance) -> String {
        let uri = self.resource_uri.unwrap_or_default();
        let mut body = String::new();
        if instance.class == crate::catalog::class_name(uri) {
            write_instance(&mut body, "g", None, instance);
        } else {
            // A subclass instance (e.g. CIM_Card answering for CIM_PhysicalPackage) keeps its own namespace.
            let ns = crate::catalog::resource_uri(&instance.class).unwrap_or_default();
            write_instance(&mut body, "j", Some(&ns), instance);
        }
        self.envelope(response_action, &[("g", uri)], &body)
    }

    pub fn get(&self, instance: &Instance) -> String {
        self.instance(action::GET_RESPONSE, instance)
    }

    pub fn put(&self, instance: &Instance) -> String {
        self.instance(action::PUT_RESPONSE, instance)
    }

    /// `EnumerateResponse` with the context to pull from.
    pub fn enumerate(&self, context: &str) -> String {
        let body = format!(
            "<g:EnumerateResponse><g:EnumerationContext>{}</g:EnumerationContext></g:EnumerateResponse>",
            escape_text(context)
        );
        self.envelope(action::ENUMERATE_RESPONSE, &[("g", NS_ENUMERATION)], &body)
    }

    /// `PullResponse` with `items` (instances of other classes than the resource get their own prefix);
    /// `more` = the context to continue with, `None` = `EndOfSequence`.
    pub fn pull(&self, items: &[Instance], more: Option<&str>) -> String {
        let uri = self.resource_uri.unwrap_or_default();
        let own_class = crate::catalog::class_name(uri);
        let mut body = String::from("<g:PullResponse>");
        if let Some(context) = more {
            let _ = write!(
                body,
                "<g:EnumerationContext>{}</g:EnumerationContext>",
                escape_text(context)
            );
        }
        body.push_str("<g:Items>");
        for item in items {
            if item.class == own_class {
                write_instance(&mut body, "h", None, item);
            } else {
                let ns = crate::catalog::resource_uri(&item.class).unwrap_or_default();
                write_instance(&mut body, "j", Some(&ns), item);
            }
        }
        body.push_str("</g:Items>");
        if more.is_none() {
            body.push_str("<g:EndOfSequence></g:EndOfSequence>");
        }
        body.push_str("</g:PullResponse>");
        self.envelope(
            action::PULL_RESPONSE,
            &[("g", NS_ENUMERATION), ("h", uri)],
            &body,
        )
    }

    /// `CreateResponse`: the reference to the new instance.
    pub fn create(&self, created: &EndpointReference) -> String {
        let mut body = String::from("<g:ResourceCreated>");
        write_reference(&mut body, created);
        body.push_str("</g:ResourceCreated>");
        self.envelope(action::CREATE_RESPONSE, &[("g", NS_TRANSFER)], &body)
    }

    /// `DeleteResponse` (empty body).
    pub fn delete(&self) -> String {
        self.envelope(action::DELETE_RESPONSE, &[], "")
    }

    /// A method answer: action `<method action>Response`, body `<g:{method}_OUTPUT>…`.
    pub fn method(&self, method: &str, output: &[(String, Prop)]) -> String {
        let uri = self.resource_uri.unwrap_or_default();
        let mut body = format!("<g:{method}_OUTPUT>");
        write_props(&mut body, "g", output);
        let _ = write!(body, "</g:{method}_OUTPUT>");
        self.envelope(&format!("{uri}/{method}Response"), &[("g", uri)], &body)
    }

    /// A SOAP fault.
    pub fn fault(&self, fault: &FaultSpec) -> String {
        let mut body = format!(
            r#"<a:Fault><a:Code><a:Value>{}</a:Value><a:Subcode><a:Value>{}</a:Value></a:Subcode></a:Code><a:Reason><a:Text xml:lang="en-US">{}</a:Text></a:Reason>"#,
            fault.code.value(),
            fault.subcode,
            escape_text(&fault.reason)
        );
        if let Some(detail) = &fault.detail {
            let _ = write!(
                body,
                "<a:Detail><c:FaultDetail>{}</c:FaultDetail></a:Detail>",
                escape_text(detail)
            );
        }
        body.push_str("</a:Fault>");
        let without_uri = Reply {
            resource_uri: None,
            ..self.clone()
        };
        without_uri.envelope(fault.action, &[], &body)
    }
}

/// Who is at fault: the requester (HTTP 400) or the device (HTTP 500).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FaultCode {
    Sender,
    Receiver,
}

impl FaultCode {
    fn value(self) -> &'static str {
        match self {
            FaultCode::Sender => "a:Sender",
            FaultCode::Receiver => "a:Receiver",
        }
    }

    /// The HTTP status that carries the fault.
    pub fn http_status(self) -> u16 {
        match self {
            FaultCode::Sender => 400,
            FaultCode::Receiver => 500,
        }
    }
}

/// A fault to send.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FaultSpec {
    pub code: FaultCode,
    /// Prefixed subcode as written in the answer (`b:` = addressing, `c:` = WS-Man, `g:` enumeration).
    pub subcode: &'static str,
    pub action: &'static str,
    pub reason: String,
    pub detail: Option<String>,
}

impl FaultSpec {
    /// Unknown resource URI.
    pub fn destination_unreachable(resource_uri: &str) -> FaultSpec {
        FaultSpec {
            code: FaultCode::Sender,
            subcode: "b:DestinationUnreachable",
            action: action::ADDRESSING_FAULT,
            reason: "No route can be determined to reach the destination role defined by the WS-Addressing To.".into(),
            detail: Some(format!(
                "http://schemas.dmtf.org/wbem/wsman/1/wsman/faultDetail/InvalidResourceURI ({})",
                resource_uri
            )),
        }
    }

    /// Known class, unsupported action.
    pub fn action_not_supported(action_uri: &str) -> FaultSpec {
        FaultSpec {
            code: FaultCode::Sender,
            subcode: "b:ActionNotSupported",
            action: action::ADDRESSING_FAULT,
            reason: "The action is not supported by the service.".into(),
            detail: Some(action_uri.to_string()),
        }
    }

    /// Selectors missing or naming no instance.
    pub fn invalid_selectors() -> FaultSpec {
        FaultSpec {
            code: FaultCode::Sender,
            subcode: "c:InvalidSelectors",
            action: action::WSMAN_FAULT,
            reason: "The Selectors for the resource were not valid.".into(),
            detail: None,
        }
    }

    /// Pull with an unknown or finished enumeration context.
    pub fn invalid_enumeration_context() -> FaultSpec {
        FaultSpec {
            code: FaultCode::Receiver,
            subcode: "g:InvalidEnumerationContext",
            action: action::ENUMERATION_FAULT,
            reason: "The supplied enumeration context is invalid.".into(),
            detail: None,
        }
    }

    /// Body or header content that does not fit the class schema.
    pub fn schema_validation_error(reason: impl Into<String>) -> FaultSpec {
        FaultSpec {
            code: FaultCode::Sender,
            subcode: "c:SchemaValidationError",
            action: action::WSMAN_FAULT,
            reason: reason.into(),
            detail: None,
        }
    }

    /// A required WS-Addressing header is missing.
    pub fn invalid_message_information_header(reason: impl Into<String>) -> FaultSpec {
        FaultSpec {
            code: FaultCode::Sender,
            subcode: "b:InvalidMessageInformationHeader",
            action: action::ADDRESSING_FAULT,
            reason: reason.into(),
            detail: None,
        }
    }

    /// A resource limit is reached (e.g. the alarm clock holds five alarms).
    pub fn quota_limit(reason: impl Into<String>) -> FaultSpec {
        FaultSpec {
            code: FaultCode::Sender,
            subcode: "c:QuotaLimit",
            action: action::WSMAN_FAULT,
            reason: reason.into(),
            detail: None,
        }
    }

    /// Create of an instance whose key is already taken.
    pub fn already_exists() -> FaultSpec {
        FaultSpec {
            code: FaultCode::Sender,
            subcode: "c:AlreadyExists",
            action: action::WSMAN_FAULT,
            reason: "The sender attempted to create a resource which already exists.".into(),
            detail: None,
        }
    }

    /// The operation is not allowed in the device's current state (e.g. Put on a read-only class).
    pub fn access_denied() -> FaultSpec {
        FaultSpec {
            code: FaultCode::Sender,
            subcode: "c:AccessDenied",
            action: action::WSMAN_FAULT,
            reason: "The sender was not authorized to access the resource.".into(),
            detail: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::{ParseOptions, ResponseError, parse_response};

    fn reply() -> Reply<'static> {
        Reply {
            relates_to: "3",
            message_id: "uuid:00000000-8086-8086-8086-000000000001",
            resource_uri: Some("http://intel.com/wbem/wscim/1/amt-schema/1/AMT_GeneralSettings"),
        }
    }

    #[test]
    fn answers_parse_back() {
        let instance = Instance::new("AMT_GeneralSettings")
            .with("HostName", "a&b")
            .with_prop(
                "TimeOfLastRecord",
                Prop::Datetime("2024-01-03T00:44:35Z".into()),
            )
            .with_prop("DetectionStrings", Prop::List(vec!["x".into(), "y".into()]));
        let xml = reply().get(&instance);
        let parsed = parse_response(&xml, ParseOptions::MPS).unwrap();
        assert_eq!(parsed.relates_to().as_deref(), Some("3"));
        assert_eq!(parsed.action().as_deref(), Some(action::GET_RESPONSE));
        let body = &parsed.body()["AMT_GeneralSettings"];
        assert_eq!(body["HostName"], "a&b");
        assert_eq!(body["TimeOfLastRecord"]["Datetime"], "2024-01-03T00:44:35Z");
        assert_eq!(body["DetectionStrings"], serde_json::json!(["x", "y"]));
    }

    #[test]
    fn pull_marks_the_end_and_mixed_classes() {
        let items = vec![
            Instance::new("AMT_GeneralSettings").with("A", 1),
            Instance::new("CIM_Card").with("B", 2),
        ];
        let xml = reply().pull(&items, None);
        let parsed = parse_response(&xml, ParseOptions::MPS).unwrap();
        let pull = &parsed.body()["PullResponse"];
        assert_eq!(pull["Items"]["AMT_GeneralSettings"]["A"], 1);
        assert_eq!(pull["Items"]["CIM_Card"]["B"], 2);
        assert_eq!(pull["EndOfSequence"], "");
        assert_eq!(
            amt_message_id(0x2E4),
            "uuid:00000000-8086-8086-8086-0000000002E4"
        );
    }

    #[test]
    fn faults_parse_back_as_faults() {
        let xml = reply().fault(&FaultSpec::action_not_supported("urn:nope"));
        match parse_response(&xml, ParseOptions::MPS) {
            Err(ResponseError::Fault { fault, relates_to }) => {
                assert_eq!(fault.subcode_name(), Some("ActionNotSupported"));
                assert_eq!(relates_to.as_deref(), Some("3"));
            }
            other => panic!("{other:?}"),
        }
        assert!(xml.contains(action::ADDRESSING_FAULT));
    }
}
