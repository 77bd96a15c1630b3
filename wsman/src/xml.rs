//! A small owned XML tree, the common ground of request and response parsing.
//!
//! Names are stored without their namespace prefix (`a:Envelope` → `Envelope`), which is what both
//! reference parsers do (xml2js `stripPrefix`): WS-Man peers choose prefixes freely (`a:`, `b:`, `g:` …),
//! so only local names carry meaning. Attribute names are kept as written.

use quick_xml::Reader;
use quick_xml::events::{BytesStart, Event};

/// Deepest nesting accepted; real WS-Man messages stay below 12 levels. The bound keeps the recursive
/// conversions below safe from stack exhaustion on hostile input.
pub const MAX_DEPTH: usize = 64;

/// Errors from reading XML.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum XmlError {
    #[error("malformed XML at byte {position}: {message}")]
    Malformed { position: u64, message: String },
    #[error("XML nests deeper than {MAX_DEPTH} elements")]
    TooDeep,
    #[error("XML document has no root element")]
    NoRoot,
    #[error("unknown XML entity &{0};")]
    UnknownEntity(String),
}

/// One element: local name, attributes as written, child elements and the character data found
/// directly inside it (all text nodes concatenated, entities resolved).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Element {
    pub name: String,
    pub attributes: Vec<(String, String)>,
    pub children: Vec<Element>,
    pub text: String,
    /// True when any text came from a CDATA section (xml2js keeps whitespace-only CDATA as text).
    pub cdata: bool,
}

impl Element {
    pub fn new(name: impl Into<String>) -> Element {
        Element {
            name: name.into(),
            ..Element::default()
        }
    }

    /// First child with this local name.
    pub fn child(&self, name: &str) -> Option<&Element> {
        self.children.iter().find(|c| c.name == name)
    }

    /// All children with this local name, in document order.
    pub fn children_named<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a Element> + 'a {
        self.children.iter().filter(move |c| c.name == name)
    }

    /// Follows a path of local names from this element.
    pub fn path(&self, names: &[&str]) -> Option<&Element> {
        names.iter().try_fold(self, |el, name| el.child(name))
    }

    /// Text of the first child with this name.
    pub fn child_text(&self, name: &str) -> Option<&str> {
        self.child(name).map(|c| c.text.as_str())
    }

    /// Value of an attribute, matched by its full name or by its local name (`Name`, `w:Name`).
    pub fn attr(&self, name: &str) -> Option<&str> {
        self.attributes
            .iter()
            .find(|(k, _)| k == name || local_name(k) == name)
            .map(|(_, v)| v.as_str())
    }

    /// Whether the element has neither children nor non-whitespace text.
    pub fn is_empty(&self) -> bool {
        self.children.is_empty() && self.text.trim().is_empty()
    }
}

/// The part of a qualified name after the last `:` (xml2js `stripPrefix` removes up to the last colon).
pub fn local_name(qualified: &str) -> &str {
    match qualified.rfind(':') {
        Some(i) => &qualified[i + 1..],
        None => qualified,
    }
}

/// Parses a whole document and returns its root element.
pub fn parse(xml: &str) -> Result<Element, XmlError> {
    let mut reader = Reader::from_str(xml);
    let config = reader.config_mut();
    config.trim_text(false);
    config.check_end_names = true;
    config.expand_empty_elements = false;

    let mut stack: Vec<Element> = Vec::new();
    let mut root: Option<Element> = None;
    loop {
        let position = reader.buffer_position();
        let event = reader.read_event().map_err(|e| XmlError::Malformed {
            position,
            message: e.to_string(),
        })?;
        match event {
            Event::Start(start) => {
                if root.is_some() {
                    return Err(malformed(position, "content after the root element"));
                }
                if stack.len() >= MAX_DEPTH {
                    return Err(XmlError::TooDeep);
                }
                stack.push(open(&start, position)?);
            }
            Event::Empty(start) => {
                if root.is_some() {
                    return Err(malformed(position, "content after the root element"));
                }
                if stack.len() >= MAX_DEPTH {
                    return Err(XmlError::TooDeep);
                }
                let element = open(&start, position)?;
                close(&mut stack, &mut root, element);
            }
            Event::End(_) => {
                // check_end_names guarantees the end tag matches the open one.
                let element = stack
                    .pop()
                    .ok_or_else(|| malformed(position, "unexpected end tag"))?;
                close(&mut stack, &mut root, element);
            }
            Event::Text(text) => {
                let content = text.xml10_content();
                match stack.last_mut() {
                    Some(top) => top.text.push_str(&content),
                    None if content.trim().is_empty() => {}
                    None => return Err(malformed(position, "text outside the root element")),
                }
            }
            Event::CData(data) => {
                let content = data.xml10_content();
                let top = stack
                    .last_mut()
                    .ok_or_else(|| malformed(position, "CDATA outside the root element"))?;
                top.text.push_str(&content);
                top.cdata = true;
            }
            Event::GeneralRef(reference) => {
                let resolved = resolve_reference(&reference, position)?;
                let top = stack.last_mut().ok_or_else(|| {
                    malformed(position, "entity reference outside the root element")
                })?;
                top.text.push_str(&resolved);
            }
            Event::Decl(_) | Event::PI(_) | Event::Comment(_) => {}
            Event::DocType(_) => return Err(malformed(position, "DOCTYPE is not accepted")),
            Event::Eof => break,
        }
    }
    if !stack.is_empty() {
        return Err(malformed(xml.len() as u64, "unexpected end of document"));
    }
    root.ok_or(XmlError::NoRoot)
}

fn malformed(position: u64, message: &str) -> XmlError {
    XmlError::Malformed {
        position,
        message: message.to_string(),
    }
}

fn open(start: &BytesStart<'_>, position: u64) -> Result<Element, XmlError> {
    let name = local_name(start.name().as_ref()).to_string();
    let mut attributes = Vec::new();
    for attribute in start.attributes() {
        let attribute = attribute.map_err(|e| malformed(position, &e.to_string()))?;
        let value = attribute
            .normalized_value(quick_xml::XmlVersion::Implicit1_0)
            .map_err(|e| malformed(position, &e.to_string()))?;
        attributes.push((attribute.key.as_ref().to_string(), value.into_owned()));
    }
    Ok(Element {
        name,
        attributes,
        ..Element::default()
    })
}

fn close(stack: &mut [Element], root: &mut Option<Element>, element: Element) {
    match stack.last_mut() {
        Some(parent) => parent.children.push(element),
        None => *root = Some(element),
    }
}

fn resolve_reference(
    reference: &quick_xml::events::BytesRef<'_>,
    position: u64,
) -> Result<String, XmlError> {
    if let Some(ch) = reference
        .resolve_char_ref()
        .map_err(|e| malformed(position, &e.to_string()))?
    {
        return Ok(ch.to_string());
    }
    let name: &str = reference;
    match quick_xml::escape::resolve_predefined_entity(name) {
        Some(text) => Ok(text.to_string()),
        None => Err(XmlError::UnknownEntity(name.to_string())),
    }
}

/// Escapes text for element content (`&`, `<`, `>`).
pub fn escape_text(text: &str) -> std::borrow::Cow<'_, str> {
    quick_xml::escape::partial_escape(text)
}

/// Escapes text for a double-quoted attribute value.
pub fn escape_attr(text: &str) -> std::borrow::Cow<'_, str> {
    quick_xml::escape::escape(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_prefixes_and_keeps_attributes() {
        let root = parse(r#"<a:Envelope xmlns:a="x"><a:Body><w:Selector Name="InstanceID">v &amp; w</w:Selector></a:Body></a:Envelope>"#)
            .unwrap();
        assert_eq!(root.name, "Envelope");
        let selector = root.path(&["Body", "Selector"]).unwrap();
        assert_eq!(selector.attr("Name"), Some("InstanceID"));
        assert_eq!(selector.text, "v & w");
        assert_eq!(root.attr("xmlns:a"), Some("x"));
    }

    #[test]
    fn rejects_broken_documents() {
        assert!(matches!(
            parse("<a><b></a>"),
            Err(XmlError::Malformed { .. })
        ));
        assert!(matches!(parse("<a>"), Err(XmlError::Malformed { .. })));
        assert_eq!(parse(""), Err(XmlError::NoRoot));
        assert!(parse("<a/><b/>").is_err());
        assert!(parse("<a>&bogus;</a>").is_err());
        let deep = "<a>".repeat(MAX_DEPTH + 1) + &"</a>".repeat(MAX_DEPTH + 1);
        assert_eq!(parse(&deep), Err(XmlError::TooDeep));
    }

    #[test]
    fn resolves_character_references_and_cdata() {
        let root = parse("<a>&#x41;&#66;<![CDATA[<c>]]></a>").unwrap();
        assert_eq!(root.text, "AB<c>");
        assert!(root.cdata);
    }
}
