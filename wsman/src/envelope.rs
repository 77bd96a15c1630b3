//! Request builders: the SOAP envelopes `@device-management-toolkit/wsman-messages` produces, byte for
//! byte (header element order, prefixes, namespaces, `PT60S`, Pull limits 999/99999).
//!
//! A [`Call`] describes one request; [`Call::to_xml`] renders it with the caller's MessageID, which the
//! answer's `RelatesTo` echoes.

use std::fmt::{self, Write as _};

use serde_json::Value;

use crate::catalog::{self, ANONYMOUS, action};
use crate::xml::{escape_attr, escape_text};

/// The fixed start of every request (same namespace declarations as the reference libraries).
pub const XML_PREFIX: &str = concat!(
    r#"<?xml version="1.0" encoding="utf-8"?>"#,
    r#"<Envelope xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema" "#,
    r#"xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" "#,
    r#"xmlns="http://www.w3.org/2003/05/soap-envelope">"#
);
/// The end of every request.
pub const XML_SUFFIX: &str = "</Envelope>";
/// Default `w:OperationTimeout`.
pub const DEFAULT_TIMEOUT: &str = "PT60S";

/// A selector: `<w:Selector Name="…">value</w:Selector>`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Selector {
    pub name: String,
    pub value: SelectorValue,
}

/// A selector's value: text, or an endpoint reference (association classes).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SelectorValue {
    Text(String),
    Reference(Box<EndpointReference>),
}

impl Selector {
    pub fn new(name: impl Into<String>, value: impl Into<String>) -> Selector {
        Selector {
            name: name.into(),
            value: SelectorValue::Text(value.into()),
        }
    }

    pub fn reference(name: impl Into<String>, reference: EndpointReference) -> Selector {
        Selector {
            name: name.into(),
            value: SelectorValue::Reference(Box::new(reference)),
        }
    }

    /// The text value, `None` for an endpoint reference.
    pub fn text(&self) -> Option<&str> {
        match &self.value {
            SelectorValue::Text(t) => Some(t),
            SelectorValue::Reference(_) => None,
        }
    }
}

/// A WS-Addressing endpoint reference to a WS-Man resource.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct EndpointReference {
    pub address: String,
    pub resource_uri: String,
    pub selectors: Vec<Selector>,
}

impl EndpointReference {
    /// A reference to an instance of `class` selected by `selectors`, with the anonymous address.
    pub fn to_class(class: &str, selectors: Vec<Selector>) -> EndpointReference {
        EndpointReference {
            address: ANONYMOUS.to_string(),
            resource_uri: catalog::resource_uri(class).unwrap_or_else(|| class.to_string()),
            selectors,
        }
    }

    /// First text selector with this name.
    pub fn selector(&self, name: &str) -> Option<&str> {
        self.selectors
            .iter()
            .find(|s| s.name == name)
            .and_then(Selector::text)
    }
}

/// Writes `<w:SelectorSet>…</w:SelectorSet>` with the `a:`/`w:` prefixes of a request.
pub fn write_selector_set(out: &mut String, selectors: &[Selector]) {
    out.push_str("<w:SelectorSet>");
    for selector in selectors {
        let _ = write!(
            out,
            r#"<w:Selector Name="{}">"#,
            escape_attr(&selector.name)
        );
        match &selector.value {
            SelectorValue::Text(text) => out.push_str(&escape_text(text)),
            SelectorValue::Reference(epr) => {
                out.push_str("<a:EndpointReference>");
                write_reference_content(out, epr);
                out.push_str("</a:EndpointReference>");
            }
        }
        out.push_str("</w:Selector>");
    }
    out.push_str("</w:SelectorSet>");
}

/// Writes `<a:Address>…</a:Address><a:ReferenceParameters>…</a:ReferenceParameters>`.
pub fn write_reference_content(out: &mut String, epr: &EndpointReference) {
    let _ = write!(
        out,
        "<a:Address>{}</a:Address><a:ReferenceParameters><w:ResourceURI>{}</w:ResourceURI>",
        escape_text(&epr.address),
        escape_text(&epr.resource_uri)
    );
    write_selector_set(out, &epr.selectors);
    out.push_str("</a:ReferenceParameters>");
}

/// One WS-Man request, ready to render.
#[derive(Clone, Debug, PartialEq)]
pub struct Call {
    pub action: String,
    pub resource_uri: String,
    /// Header selectors (omitted from the header when empty).
    pub selectors: Vec<Selector>,
    /// The complete `<Body>…</Body>` element.
    pub body: String,
    pub operation_timeout: String,
    /// Adds `<w:MaxEnvelopeSize w:mustUnderstand="true">` when set (the reference libraries never do).
    pub max_envelope_size: Option<u32>,
}

fn uri_of(class: &str) -> String {
    catalog::resource_uri(class).unwrap_or_else(|| class.to_string())
}

impl Call {
    /// A call with a custom body. `body` is the whole `<Body>…</Body>` element.
    pub fn custom(action: impl Into<String>, class: &str, body: impl Into<String>) -> Call {
        Call {
            action: action.into(),
            resource_uri: uri_of(class),
            selectors: Vec::new(),
            body: body.into(),
            operation_timeout: DEFAULT_TIMEOUT.to_string(),
            max_envelope_size: None,
        }
    }

    /// Transfer Get of the (single or selected) instance of `class`.
    pub fn get(class: &str) -> Call {
        Call::custom(action::GET, class, "<Body></Body>")
    }

    /// Enumerate the instances of `class`.
    pub fn enumerate(class: &str) -> Call {
        Call::custom(
            action::ENUMERATE,
            class,
            r#"<Body><Enumerate xmlns="http://schemas.xmlsoap.org/ws/2004/09/enumeration" /></Body>"#,
        )
    }

    /// Pull after an Enumerate, with the reference limits (999 elements, 99999 characters).
    pub fn pull(class: &str, enumeration_context: &str) -> Call {
        Call::pull_with_limits(class, enumeration_context, 999, 99_999)
    }

    pub fn pull_with_limits(
        class: &str,
        enumeration_context: &str,
        max_elements: u32,
        max_characters: u32,
    ) -> Call {
        let body = format!(
            r#"<Body><Pull xmlns="http://schemas.xmlsoap.org/ws/2004/09/enumeration"><EnumerationContext>{}</EnumerationContext><MaxElements>{max_elements}</MaxElements><MaxCharacters>{max_characters}</MaxCharacters></Pull></Body>"#,
            escape_text(enumeration_context)
        );
        Call::custom(action::PULL, class, body)
    }

    /// Transfer Put of `data` (a JSON object of properties, in schema order) without header selectors.
    pub fn put(class: &str, data: &Value) -> Call {
        Call::custom(action::PUT, class, input_body(class, class, &[data]))
    }

    /// Transfer Put with header selectors (e.g. `InstanceID` for AMT_EthernetPortSettings).
    pub fn put_selected(class: &str, data: &Value, selectors: Vec<Selector>) -> Call {
        Call::put(class, data).with_selectors(selectors)
    }

    /// Transfer Create of an instance.
    pub fn create(class: &str, data: &Value) -> Call {
        Call::custom(action::CREATE, class, input_body(class, class, &[data]))
    }

    /// Transfer Delete of the selected instance.
    pub fn delete(class: &str, selectors: Vec<Selector>) -> Call {
        Call::custom(action::DELETE, class, "<Body></Body>").with_selectors(selectors)
    }

    /// A class method: action `<uri>/<method>`, body `<h:<method>_INPUT xmlns:h="<uri>">…`. Each JSON
    /// object in `inputs` contributes its properties in order (the reference library's `createBody`).
    pub fn invoke(class: &str, method: &str, inputs: &[&Value]) -> Call {
        let uri = uri_of(class);
        let action = format!("{uri}/{method}");
        Call::custom(
            action,
            class,
            input_body(&format!("{method}_INPUT"), class, inputs),
        )
    }

    /// `RequestStateChange(RequestedState)` on `class`.
    pub fn request_state_change(class: &str, requested_state: u32) -> Call {
        let uri = uri_of(class);
        let body = format!(
            r#"<Body><h:RequestStateChange_INPUT xmlns:h="{uri}"><h:RequestedState>{requested_state}</h:RequestedState></h:RequestStateChange_INPUT></Body>"#
        );
        Call::custom(format!("{uri}/RequestStateChange"), class, body)
    }

    pub fn with_selector(mut self, name: impl Into<String>, value: impl Into<String>) -> Call {
        self.selectors.push(Selector::new(name, value));
        self
    }

    pub fn with_selectors(mut self, selectors: Vec<Selector>) -> Call {
        self.selectors.extend(selectors);
        self
    }

    pub fn with_timeout(mut self, operation_timeout: impl Into<String>) -> Call {
        self.operation_timeout = operation_timeout.into();
        self
    }

    pub fn with_max_envelope_size(mut self, bytes: u32) -> Call {
        self.max_envelope_size = Some(bytes);
        self
    }

    /// Renders the envelope with `message_id`.
    pub fn to_xml(&self, message_id: impl fmt::Display) -> String {
        let mut out = String::with_capacity(XML_PREFIX.len() + 400 + self.body.len());
        out.push_str(XML_PREFIX);
        let _ = write!(
            out,
            "<Header><a:Action>{}</a:Action><a:To>/wsman</a:To><w:ResourceURI>{}</w:ResourceURI><a:MessageID>{}</a:MessageID><a:ReplyTo><a:Address>{ANONYMOUS}</a:Address></a:ReplyTo><w:OperationTimeout>{}</w:OperationTimeout>",
            escape_text(&self.action),
            escape_text(&self.resource_uri),
            message_id,
            escape_text(&self.operation_timeout),
        );
        if let Some(size) = self.max_envelope_size {
            let _ = write!(
                out,
                r#"<w:MaxEnvelopeSize w:mustUnderstand="true">{size}</w:MaxEnvelopeSize>"#
            );
        }
        if !self.selectors.is_empty() {
            write_selector_set(&mut out, &self.selectors);
        }
        out.push_str("</Header>");
        out.push_str(&self.body);
        out.push_str(XML_SUFFIX);
        out
    }
}

/// `<Body><h:{element} xmlns:h="{class uri}">{properties}</h:{element}></Body>`.
pub fn input_body(element: &str, class: &str, inputs: &[&Value]) -> String {
    let mut out = format!(r#"<Body><h:{element} xmlns:h="{}">"#, uri_of(class));
    for input in inputs {
        if let Value::Object(map) = input {
            write_properties(&mut out, map);
        }
    }
    let _ = write!(out, "</h:{element}></Body>");
    out
}

/// The namespace prefix the reference library gives a body property.
fn prefix_for(key: &str) -> &'static str {
    match key {
        "Address" | "ReferenceParameters" => "a:",
        "SelectorSet" | "Selector" | "ResourceURI" => "w:",
        _ => "h:",
    }
}

/// Writes each property of `map` as an element (the library's `OBJtoXML` after `processBody`): arrays
/// repeat the element, objects nest, `null` is left out. Objects in the xml2js shape
/// (`{"_": text, "$": {attributes}}`) become an element with attributes.
pub fn write_properties(out: &mut String, map: &serde_json::Map<String, Value>) {
    for (key, value) in map {
        if key == "$" || key == "_" {
            continue;
        }
        let name = format!("{}{}", prefix_for(key), key);
        match value {
            Value::Null => {}
            Value::Array(items) => {
                for item in items {
                    write_element(out, &name, item);
                }
            }
            other => write_element(out, &name, other),
        }
    }
}

fn write_element(out: &mut String, name: &str, value: &Value) {
    match value {
        Value::Null => {}
        Value::Object(map) => {
            out.push('<');
            out.push_str(name);
            if let Some(Value::Object(attrs)) = map.get("$") {
                for (k, v) in attrs {
                    let text = scalar_text(v);
                    let _ = write!(out, r#" {k}="{}""#, escape_attr(&text));
                }
            }
            out.push('>');
            if let Some(text) = map.get("_") {
                out.push_str(&escape_text(&scalar_text(text)));
            }
            write_properties(out, map);
            let _ = write!(out, "</{name}>");
        }
        Value::Array(items) => {
            for item in items {
                write_element(out, name, item);
            }
        }
        scalar => {
            let _ = write!(
                out,
                "<{name}>{}</{name}>",
                escape_text(&scalar_text(scalar))
            );
        }
    }
}

fn scalar_text(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// Hands out MessageIDs 0, 1, 2, … like the reference libraries (one counter per client).
#[derive(Debug, Default)]
pub struct MessageIds(std::sync::atomic::AtomicU64);

impl MessageIds {
    pub fn new() -> MessageIds {
        MessageIds::default()
    }

    pub fn starting_at(first: u64) -> MessageIds {
        MessageIds(std::sync::atomic::AtomicU64::new(first))
    }

    pub fn next(&self) -> u64 {
        self.0.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn get_matches_the_reference_library() {
        let xml = Call::get("AMT_GeneralSettings").to_xml(0);
        assert_eq!(
            xml,
            concat!(
                r#"<?xml version="1.0" encoding="utf-8"?><Envelope xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance" xmlns:xsd="http://www.w3.org/2001/XMLSchema" xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" xmlns="http://www.w3.org/2003/05/soap-envelope">"#,
                r#"<Header><a:Action>http://schemas.xmlsoap.org/ws/2004/09/transfer/Get</a:Action><a:To>/wsman</a:To><w:ResourceURI>http://intel.com/wbem/wscim/1/amt-schema/1/AMT_GeneralSettings</w:ResourceURI><a:MessageID>0</a:MessageID><a:ReplyTo><a:Address>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address></a:ReplyTo><w:OperationTimeout>PT60S</w:OperationTimeout></Header>"#,
                r#"<Body></Body></Envelope>"#
            )
        );
    }

    #[test]
    fn put_writes_properties_in_order_with_prefixes() {
        let data = json!({"ElementName":"x","DetectionStrings":["a.com","b.com"],"Skip":null,
            "Ref":{"Address":"/wsman","ReferenceParameters":{"ResourceURI":"u","SelectorSet":{"Selector":[{"_":"v","$":{"Name":"InstanceID"}}]}}}});
        let call = Call::put("AMT_EnvironmentDetectionSettingData", &data);
        assert_eq!(
            call.body,
            concat!(
                r#"<Body><h:AMT_EnvironmentDetectionSettingData xmlns:h="http://intel.com/wbem/wscim/1/amt-schema/1/AMT_EnvironmentDetectionSettingData">"#,
                r#"<h:ElementName>x</h:ElementName><h:DetectionStrings>a.com</h:DetectionStrings><h:DetectionStrings>b.com</h:DetectionStrings>"#,
                r#"<h:Ref><a:Address>/wsman</a:Address><a:ReferenceParameters><w:ResourceURI>u</w:ResourceURI><w:SelectorSet><w:Selector Name="InstanceID">v</w:Selector></w:SelectorSet></a:ReferenceParameters></h:Ref>"#,
                r#"</h:AMT_EnvironmentDetectionSettingData></Body>"#
            )
        );
    }

    #[test]
    fn text_is_escaped() {
        let call = Call::invoke("AMT_AuthorizationService", "X", &[&json!({"A":"a<b&c"})]);
        assert!(call.body.contains("<h:A>a&lt;b&amp;c</h:A>"));
    }

    #[test]
    fn selectors_and_envelope_size() {
        let xml = Call::delete(
            "AMT_PublicKeyCertificate",
            vec![Selector::new("InstanceID", "Handle: 1")],
        )
        .with_max_envelope_size(153600)
        .to_xml(3);
        assert!(xml.contains(r#"<w:OperationTimeout>PT60S</w:OperationTimeout><w:MaxEnvelopeSize w:mustUnderstand="true">153600</w:MaxEnvelopeSize><w:SelectorSet><w:Selector Name="InstanceID">Handle: 1</w:Selector></w:SelectorSet></Header>"#));
    }
}
