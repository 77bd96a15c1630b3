//! WS-Man XML → JSON with the conventions of the reference services (xml2js), WS-Man faults as typed
//! errors, and the server-side request parser.
//!
//! xml2js conventions (spec/mps.md §2.4): namespace prefixes stripped from element names, attributes
//! ignored (MPS) or kept under `"$"` (RPS), a single child is an object and repeated children an array,
//! text values converted like JavaScript `parseNumbers` then `parseBooleans`, and MPS keeps
//! `ElementName`/`InstanceID` values with a leading zero as strings. Object keys keep document order.

use serde_json::{Map, Number, Value};

use crate::envelope::{EndpointReference, Selector, SelectorValue};
use crate::xml::{self, Element, XmlError};

/// How XML text becomes JSON.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ParseOptions {
    /// Keep attributes under `"$"` (and text under `"_"` when an element has attributes), as RPS does.
    pub keep_attributes: bool,
    /// Keep `ElementName`/`InstanceID` values with a leading zero as strings, as MPS does.
    pub keep_leading_zero_ids: bool,
}

impl ParseOptions {
    /// MPS: `ignoreAttrs: true` and the leading-zero rule for `ElementName`/`InstanceID`.
    pub const MPS: ParseOptions = ParseOptions {
        keep_attributes: false,
        keep_leading_zero_ids: true,
    };
    /// RPS: attributes kept, every numeric string converted.
    pub const RPS: ParseOptions = ParseOptions {
        keep_attributes: true,
        keep_leading_zero_ids: false,
    };
}

impl Default for ParseOptions {
    fn default() -> Self {
        ParseOptions::MPS
    }
}

/// Errors from reading a WS-Man response.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum ResponseError {
    #[error(transparent)]
    Xml(#[from] XmlError),
    #[error("not a SOAP envelope: {0}")]
    NotSoap(&'static str),
    #[error("{fault}")]
    Fault {
        fault: Fault,
        /// The `RelatesTo` of the fault envelope, when present.
        relates_to: Option<String>,
    },
}

/// A SOAP/WS-Man fault, e.g. code `a:Sender`, subcode `b:DestinationUnreachable`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("WS-Man fault {}: {reason}", self.subcode.as_deref().unwrap_or(&self.code))]
pub struct Fault {
    /// `Code/Value` as written, with its prefix (`a:Sender`, `a:Receiver`).
    pub code: String,
    /// `Code/Subcode/Value` as written (`b:DestinationUnreachable`, `c:InvalidSelectors`).
    pub subcode: Option<String>,
    /// `Reason/Text`.
    pub reason: String,
    /// `Detail` text (usually a `FaultDetail` URI), when present.
    pub detail: Option<String>,
}

impl Fault {
    /// The subcode without its namespace prefix (`DestinationUnreachable`).
    pub fn subcode_name(&self) -> Option<&str> {
        self.subcode.as_deref().map(xml::local_name)
    }

    fn from_element(fault: &Element) -> Fault {
        let code = fault
            .path(&["Code", "Value"])
            .map(|v| v.text.trim().to_string())
            .unwrap_or_default();
        let subcode = fault
            .path(&["Code", "Subcode", "Value"])
            .map(|v| v.text.trim().to_string());
        let reason = fault
            .path(&["Reason", "Text"])
            .map(|v| v.text.trim().to_string())
            .unwrap_or_default();
        let detail = fault.child("Detail").and_then(|d| {
            let text = match d.child("FaultDetail") {
                Some(fd) => fd.text.trim().to_string(),
                None => collect_text(d),
            };
            (!text.is_empty()).then_some(text)
        });
        Fault {
            code,
            subcode,
            reason,
            detail,
        }
    }
}

fn collect_text(el: &Element) -> String {
    let mut out = el.text.trim().to_string();
    for child in &el.children {
        let text = collect_text(child);
        if !text.is_empty() {
            if !out.is_empty() {
                out.push(' ');
            }
            out.push_str(&text);
        }
    }
    out
}

/// Converts any XML document to JSON: `{"<root name>": <content>}`.
pub fn to_json(xml_text: &str, options: ParseOptions) -> Result<Value, XmlError> {
    let root = xml::parse(xml_text)?;
    Ok(document_json(&root, options))
}

/// The JSON of an already parsed document.
pub fn document_json(root: &Element, options: ParseOptions) -> Value {
    let mut top = Map::new();
    top.insert(root.name.clone(), element_json(root, options));
    Value::Object(top)
}

/// The JSON value of one element's content, following xml2js with `explicitArray: false`.
pub fn element_json(el: &Element, options: ParseOptions) -> Value {
    let mut object = Map::new();
    // xml2js drops whitespace-only text (unless it came from CDATA) and keeps other text under "_".
    let has_text = if el.cdata {
        !el.text.is_empty()
    } else {
        !el.text.trim().is_empty()
    };
    if has_text {
        object.insert("_".to_string(), text_value(&el.text, &el.name, options));
    }
    if options.keep_attributes && !el.attributes.is_empty() {
        let attrs = el
            .attributes
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        object.insert("$".to_string(), Value::Object(attrs));
    }
    for child in &el.children {
        let value = element_json(child, options);
        match object.get_mut(&child.name) {
            None => {
                object.insert(child.name.clone(), value);
            }
            // element_json never yields an array, so an array here was built from earlier siblings.
            Some(Value::Array(items)) => items.push(value),
            Some(existing) => {
                let first = existing.take();
                *existing = Value::Array(vec![first, value]);
            }
        }
    }
    if object.is_empty() {
        // An empty element is "" (xml2js keeps the whitespace it found, without converting it).
        return Value::String(el.text.clone());
    }
    if has_text && object.len() == 1 {
        return object.remove("_").unwrap_or(Value::Null);
    }
    Value::Object(object)
}

/// xml2js `valueProcessors: [parseNumbers, parseBooleans]` (with the MPS leading-zero exception).
pub fn text_value(text: &str, element_name: &str, options: ParseOptions) -> Value {
    if options.keep_leading_zero_ids
        && (element_name == "ElementName" || element_name == "InstanceID")
        && text.chars().count() > 1
        && text.starts_with('0')
    {
        return Value::String(text.to_string());
    }
    if let Some(number) = js_parse_number(text) {
        return Value::Number(number);
    }
    if text.eq_ignore_ascii_case("true") {
        return Value::Bool(true);
    }
    if text.eq_ignore_ascii_case("false") {
        return Value::Bool(false);
    }
    Value::String(text.to_string())
}

/// xml2js `parseNumbers`: `if (!isNaN(str)) str = str % 1 === 0 ? parseInt(str, 10) : parseFloat(str)`.
/// Returns `None` when JavaScript would leave the string alone (or the result has no JSON form).
pub fn js_parse_number(text: &str) -> Option<Number> {
    let trimmed = text.trim_matches(is_js_whitespace);
    if trimmed.is_empty() {
        // Number("  ") is 0, but xml2js never sends whitespace-only text through the processors.
        return None;
    }
    let value = js_number(trimmed)?;
    if value.is_nan() || value.is_infinite() {
        return None;
    }
    if value % 1.0 == 0.0 {
        // parseInt(str, 10): optional sign and the leading decimal digits only ("1e3" → 1, "0x1F" → 0).
        let (negative, digits) = match trimmed.as_bytes().first() {
            Some(b'-') => (true, &trimmed[1..]),
            Some(b'+') => (false, &trimmed[1..]),
            _ => (false, trimmed),
        };
        let end = digits
            .bytes()
            .position(|b| !b.is_ascii_digit())
            .unwrap_or(digits.len());
        let digits = &digits[..end];
        if digits.is_empty() {
            return None;
        }
        let magnitude: f64 = digits.parse().ok()?;
        let signed = if negative { -magnitude } else { magnitude };
        if magnitude <= 9_007_199_254_740_992.0 {
            // Exactly representable: emit an integer like JSON.stringify does.
            let int: i64 = digits.parse::<i64>().ok()?;
            let int = if negative { -int } else { int };
            if int == 0 {
                return Some(Number::from(0));
            }
            return Some(Number::from(int));
        }
        return Number::from_f64(signed);
    }
    // parseFloat of a string Number() accepted as a non-integer is the same value.
    Number::from_f64(value)
}

fn is_js_whitespace(c: char) -> bool {
    matches!(
        c,
        '\u{9}' | '\u{A}' | '\u{B}' | '\u{C}' | '\u{D}' | ' ' | '\u{A0}' | '\u{1680}' | '\u{2000}'
            ..='\u{200A}'
                | '\u{2028}'
                | '\u{2029}'
                | '\u{202F}'
                | '\u{205F}'
                | '\u{3000}'
                | '\u{FEFF}'
    )
}

/// JavaScript `Number(str)` for a trimmed, non-empty string; `None` for NaN.
fn js_number(s: &str) -> Option<f64> {
    let radix = |prefix: &str, radix: u32| -> Option<Option<f64>> {
        let rest = s
            .strip_prefix(prefix)
            .or_else(|| s.strip_prefix(&prefix.to_ascii_uppercase()))?;
        if rest.is_empty() || !rest.chars().all(|c| c.is_digit(radix)) {
            return Some(None);
        }
        Some(Some(rest.chars().fold(0f64, |acc, c| {
            acc * radix as f64 + c.to_digit(radix).unwrap_or(0) as f64
        })))
    };
    for (prefix, base) in [("0x", 16), ("0o", 8), ("0b", 2)] {
        if let Some(result) = radix(prefix, base) {
            return result;
        }
    }
    let unsigned = s.strip_prefix(['+', '-']).unwrap_or(s);
    if unsigned == "Infinity" {
        return Some(if s.starts_with('-') {
            f64::NEG_INFINITY
        } else {
            f64::INFINITY
        });
    }
    // StrDecimalLiteral: digits [. digits] | . digits, then an optional exponent.
    let bytes = unsigned.as_bytes();
    let mut i = 0;
    let int_digits = bytes.iter().take_while(|b| b.is_ascii_digit()).count();
    i += int_digits;
    let mut frac_digits = 0;
    if i < bytes.len() && bytes[i] == b'.' {
        i += 1;
        frac_digits = bytes[i..].iter().take_while(|b| b.is_ascii_digit()).count();
        i += frac_digits;
    }
    if int_digits + frac_digits == 0 {
        return None;
    }
    if i < bytes.len() && (bytes[i] == b'e' || bytes[i] == b'E') {
        i += 1;
        if i < bytes.len() && (bytes[i] == b'+' || bytes[i] == b'-') {
            i += 1;
        }
        let exp_digits = bytes[i..].iter().take_while(|b| b.is_ascii_digit()).count();
        if exp_digits == 0 {
            return None;
        }
        i += exp_digits;
    }
    if i != bytes.len() {
        return None;
    }
    // Rust's float parser accepts exactly this grammar (plus forms already excluded above).
    s.parse::<f64>().ok()
}

/// A parsed WS-Man response envelope: `{"Envelope":{"Header":{…},"Body":{…}}}`.
#[derive(Clone, Debug, PartialEq)]
pub struct Response {
    pub json: Value,
}

impl Response {
    /// `Envelope.Header`.
    pub fn header(&self) -> &Value {
        &self.json["Envelope"]["Header"]
    }

    /// `Envelope.Body`.
    pub fn body(&self) -> &Value {
        &self.json["Envelope"]["Body"]
    }

    /// The request MessageID this answer belongs to, as text (xml2js may have made it a number).
    pub fn relates_to(&self) -> Option<String> {
        value_text(&self.header()["RelatesTo"])
    }

    /// The response action URI.
    pub fn action(&self) -> Option<String> {
        value_text(&self.header()["Action"])
    }

    pub fn into_json(self) -> Value {
        self.json
    }
}

/// Text of a scalar JSON value (strings as they are, numbers and booleans printed); `None` otherwise.
/// With kept attributes an element such as `Action` is `{"_": text, "$": {…}}`; its text is returned.
pub fn value_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Object(o) => o.get("_").and_then(value_text),
        _ => None,
    }
}

/// Parses a WS-Man response. A SOAP fault becomes `Err(ResponseError::Fault)`.
pub fn parse_response(xml_text: &str, options: ParseOptions) -> Result<Response, ResponseError> {
    let root = xml::parse(xml_text)?;
    if root.name != "Envelope" {
        return Err(ResponseError::NotSoap("root element is not Envelope"));
    }
    let body = root
        .child("Body")
        .ok_or(ResponseError::NotSoap("Envelope has no Body"))?;
    if let Some(fault) = body.child("Fault") {
        let relates_to = root
            .path(&["Header", "RelatesTo"])
            .map(|r| r.text.trim().to_string());
        return Err(ResponseError::Fault {
            fault: Fault::from_element(fault),
            relates_to,
        });
    }
    Ok(Response {
        json: document_json(&root, options),
    })
}

/// Errors from reading a WS-Man request on the server side.
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum RequestError {
    /// Not XML at all: answered with HTTP 400.
    #[error(transparent)]
    Xml(#[from] XmlError),
    #[error("not a SOAP envelope: {0}")]
    NotSoap(&'static str),
    /// A required WS-Addressing/WS-Man header is missing: answered with a SOAP fault.
    #[error("request header has no {0}")]
    MissingHeader(&'static str),
}

/// A WS-Man request as the device sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct Request {
    pub action: String,
    pub resource_uri: String,
    pub message_id: String,
    pub selectors: Vec<Selector>,
    pub operation_timeout: Option<String>,
    pub max_envelope_size: Option<u32>,
    /// The `Body` element (its children are the payload).
    pub body: Element,
}

impl Request {
    /// Text value of a header selector.
    pub fn selector(&self, name: &str) -> Option<&str> {
        self.selectors
            .iter()
            .find(|s| s.name == name)
            .and_then(|s| match &s.value {
                SelectorValue::Text(t) => Some(t.as_str()),
                SelectorValue::Reference(_) => None,
            })
    }

    /// The first element inside `Body` (the `*_INPUT`, the instance of a Put/Create, `Pull`, …).
    pub fn payload(&self) -> Option<&Element> {
        self.body.children.first()
    }

    /// The body payload as JSON (MPS conventions), `Value::Null` when the body is empty.
    pub fn payload_json(&self) -> Value {
        self.payload()
            .map(|p| element_json(p, ParseOptions::MPS))
            .unwrap_or(Value::Null)
    }
}

/// Parses a request envelope (any prefixes, any element order in the header).
pub fn parse_request(xml_text: &str) -> Result<Request, RequestError> {
    let root = xml::parse(xml_text)?;
    if root.name != "Envelope" {
        return Err(RequestError::NotSoap("root element is not Envelope"));
    }
    let header = root
        .child("Header")
        .ok_or(RequestError::MissingHeader("Header"))?;
    let text = |name: &'static str| -> Result<String, RequestError> {
        header
            .child(name)
            .map(|e| e.text.trim().to_string())
            .ok_or(RequestError::MissingHeader(name))
    };
    let action = text("Action")?;
    let resource_uri = text("ResourceURI")?;
    let message_id = text("MessageID")?;
    let selectors = header
        .child("SelectorSet")
        .map(selectors_of)
        .unwrap_or_default();
    let operation_timeout = header
        .child("OperationTimeout")
        .map(|e| e.text.trim().to_string());
    let max_envelope_size = header
        .child("MaxEnvelopeSize")
        .and_then(|e| e.text.trim().parse().ok());
    let body = root
        .child("Body")
        .cloned()
        .ok_or(RequestError::NotSoap("Envelope has no Body"))?;
    Ok(Request {
        action,
        resource_uri,
        message_id,
        selectors,
        operation_timeout,
        max_envelope_size,
        body,
    })
}

/// The selectors of a `SelectorSet` element (text or endpoint-reference values).
pub fn selectors_of(set: &Element) -> Vec<Selector> {
    set.children_named("Selector")
        .map(|s| {
            let name = s.attr("Name").unwrap_or_default().to_string();
            let value = match s.child("EndpointReference") {
                Some(epr) => SelectorValue::Reference(Box::new(endpoint_reference_of(epr))),
                None => SelectorValue::Text(s.text.trim().to_string()),
            };
            Selector { name, value }
        })
        .collect()
}

/// Reads an endpoint reference (`Address` + `ReferenceParameters{ResourceURI, SelectorSet}`) from the
/// element that contains it (e.g. `CreatedCertificate`, `ManagedElement`, `EndpointReference`).
pub fn endpoint_reference_of(el: &Element) -> EndpointReference {
    let params = el.child("ReferenceParameters");
    EndpointReference {
        address: el
            .child_text("Address")
            .unwrap_or_default()
            .trim()
            .to_string(),
        resource_uri: params
            .and_then(|p| p.child_text("ResourceURI"))
            .unwrap_or_default()
            .trim()
            .to_string(),
        selectors: params
            .and_then(|p| p.child("SelectorSet"))
            .map(selectors_of)
            .unwrap_or_default(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn numbers_follow_javascript() {
        let n = |s: &str| js_parse_number(s).map(|n| n.to_string());
        assert_eq!(n("42"), Some("42".into()));
        assert_eq!(n("-7"), Some("-7".into()));
        assert_eq!(n("1.5"), Some("1.5".into()));
        assert_eq!(n(".5"), Some("0.5".into()));
        assert_eq!(n("1e3"), Some("1".into())); // parseInt stops at 'e'
        assert_eq!(n("1.0"), Some("1".into()));
        assert_eq!(n("0x1F"), Some("0".into())); // parseInt("0x1F", 10) is 0
        assert_eq!(n(" 12 "), Some("12".into()));
        assert_eq!(n("00123"), Some("123".into()));
        assert_eq!(n("-0"), Some("0".into()));
        assert_eq!(n("12a"), None);
        assert_eq!(n("Digest:AB"), None);
        assert_eq!(n("1.2.3"), None);
        assert_eq!(n("e5"), None);
        assert_eq!(n("Infinity"), None);
        assert_eq!(n("."), None);
        assert_eq!(n("+"), None);
    }

    #[test]
    fn xml2js_shapes() {
        let xml = r#"<a:Envelope xmlns:a="s"><a:Header><b:RelatesTo>1</b:RelatesTo><b:Action a:mustUnderstand="true">urn:x</b:Action></a:Header>
            <a:Body><g:Items><h:X><h:InstanceID>0123</h:InstanceID><h:ElementName>07</h:ElementName><h:N>0123</h:N>
            <h:B>TRUE</h:B><h:L>1</h:L><h:L>2</h:L><h:L>3</h:L><h:E></h:E><h:W>  </h:W></h:X></g:Items></a:Body></a:Envelope>"#;
        let mps = to_json(xml, ParseOptions::MPS).unwrap();
        assert_eq!(
            mps,
            json!({"Envelope":{"Header":{"RelatesTo":1,"Action":"urn:x"},"Body":{"Items":{"X":{
                "InstanceID":"0123","ElementName":"07","N":123,"B":true,"L":[1,2,3],"E":"","W":"  "}}}}})
        );
        let rps = to_json(xml, ParseOptions::RPS).unwrap();
        assert_eq!(
            rps["Envelope"]["Header"]["Action"],
            json!({"_":"urn:x","$":{"a:mustUnderstand":"true"}})
        );
        assert_eq!(
            rps["Envelope"]["Body"]["Items"]["X"]["InstanceID"],
            json!(123)
        );
        assert_eq!(rps["Envelope"]["$"], json!({"xmlns:a":"s"}));
    }

    #[test]
    fn key_order_follows_the_document() {
        let json = to_json("<r><z>1</z><a>2</a><m>3</m></r>", ParseOptions::MPS).unwrap();
        let keys: Vec<_> = json["r"].as_object().unwrap().keys().cloned().collect();
        assert_eq!(keys, ["z", "a", "m"]);
    }

    #[test]
    fn faults_are_typed() {
        let xml = r#"<a:Envelope xmlns:a="http://www.w3.org/2003/05/soap-envelope" xmlns:b="http://schemas.xmlsoap.org/ws/2004/08/addressing">
            <a:Header><b:RelatesTo>5</b:RelatesTo><b:Action>http://schemas.xmlsoap.org/ws/2004/08/addressing/fault</b:Action></a:Header>
            <a:Body><a:Fault><a:Code><a:Value>a:Sender</a:Value><a:Subcode><a:Value>b:DestinationUnreachable</a:Value></a:Subcode></a:Code>
            <a:Reason><a:Text xml:lang="en-US">No route can be determined to reach the destination role defined by the WS-Addressing To.</a:Text></a:Reason>
            <a:Detail><c:FaultDetail xmlns:c="w">http://schemas.dmtf.org/wbem/wsman/1/wsman/faultDetail/InvalidResourceURI</c:FaultDetail></a:Detail></a:Fault></a:Body></a:Envelope>"#;
        match parse_response(xml, ParseOptions::MPS) {
            Err(ResponseError::Fault { fault, relates_to }) => {
                assert_eq!(fault.code, "a:Sender");
                assert_eq!(fault.subcode_name(), Some("DestinationUnreachable"));
                assert!(fault.reason.starts_with("No route"));
                assert!(fault.detail.unwrap().ends_with("InvalidResourceURI"));
                assert_eq!(relates_to.as_deref(), Some("5"));
            }
            other => panic!("expected a fault, got {other:?}"),
        }
    }

    #[test]
    fn requests_expose_headers_and_selectors() {
        let xml = r#"<?xml version="1.0" encoding="utf-8"?><Envelope xmlns:a="http://schemas.xmlsoap.org/ws/2004/08/addressing" xmlns:w="http://schemas.dmtf.org/wbem/wsman/1/wsman.xsd" xmlns="http://www.w3.org/2003/05/soap-envelope"><Header><a:Action>http://schemas.xmlsoap.org/ws/2004/09/transfer/Get</a:Action><a:To>/wsman</a:To><w:ResourceURI>http://intel.com/wbem/wscim/1/amt-schema/1/AMT_PublicKeyCertificate</w:ResourceURI><a:MessageID>7</a:MessageID><a:ReplyTo><a:Address>http://schemas.xmlsoap.org/ws/2004/08/addressing/role/anonymous</a:Address></a:ReplyTo><w:OperationTimeout>PT60S</w:OperationTimeout><w:SelectorSet><w:Selector Name="InstanceID">Intel(r) AMT Certificate: Handle: 0</w:Selector></w:SelectorSet></Header><Body></Body></Envelope>"#;
        let request = parse_request(xml).unwrap();
        assert_eq!(
            request.action,
            "http://schemas.xmlsoap.org/ws/2004/09/transfer/Get"
        );
        assert_eq!(request.message_id, "7");
        assert_eq!(
            request.selector("InstanceID"),
            Some("Intel(r) AMT Certificate: Handle: 0")
        );
        assert_eq!(request.payload(), None);
        assert_eq!(
            parse_request("<Envelope><Header></Header><Body/></Envelope>"),
            Err(RequestError::MissingHeader("Action"))
        );
        assert!(matches!(
            parse_request("not xml <"),
            Err(RequestError::Xml(_))
        ));
    }
}
