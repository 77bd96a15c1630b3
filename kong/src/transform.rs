//! Kong's `request-transformer`, the part kong.yaml uses: `replace.uri`, a template that may insert the
//! route's regex captures as `$(uri_captures['name'])`, `$(uri_captures.name)` or `$(uri_captures[1])`.

use serde::Deserialize;

use crate::declarative::ConfigError;

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    #[serde(default)]
    replace: Option<Replace>,
    #[serde(default)]
    http_method: Option<String>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
struct Replace {
    #[serde(default)]
    uri: Option<String>,
}

/// One piece of a parsed template.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Text(String),
    Named(String),
    Index(usize),
}

/// A compiled `replace.uri`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UriTemplate(Vec<Piece>);

impl UriTemplate {
    /// The transformer's config. Anything other than `replace.uri` is refused rather than ignored.
    pub fn from_yaml(
        config: Option<&serde_yaml::Value>,
    ) -> Result<Option<UriTemplate>, ConfigError> {
        let Some(config) = config else {
            return Ok(None);
        };
        let raw: RawConfig = serde_yaml::from_value(config.clone()).map_err(|e| {
            ConfigError::Invalid(format!(
                "request-transformer: only replace.uri is supported ({e})"
            ))
        })?;
        if raw.http_method.is_some() {
            return Err(ConfigError::Invalid(
                "request-transformer: http_method is not supported".into(),
            ));
        }
        raw.replace
            .and_then(|r| r.uri)
            .map(|uri| UriTemplate::parse(&uri))
            .transpose()
    }

    pub fn parse(template: &str) -> Result<UriTemplate, ConfigError> {
        let bad = |what: &str| {
            ConfigError::Invalid(format!(
                "request-transformer: {what} in {template:?} (only $(uri_captures[...]) is supported)"
            ))
        };
        let mut pieces = Vec::new();
        let mut rest = template;
        while let Some(start) = rest.find("$(") {
            if start > 0 {
                pieces.push(Piece::Text(rest[..start].to_owned()));
            }
            let end = rest[start..]
                .find(')')
                .ok_or_else(|| bad("an unclosed $("))?
                + start;
            let expression = rest[start + 2..end].trim();
            let capture = expression
                .strip_prefix("uri_captures")
                .ok_or_else(|| bad("an expression"))?;
            let piece = if let Some(name) = capture.strip_prefix('.') {
                Piece::Named(name.to_owned())
            } else if let Some(inner) = capture.strip_prefix('[').and_then(|c| c.strip_suffix(']'))
            {
                let inner = inner.trim();
                let quoted = inner
                    .strip_prefix('\'')
                    .and_then(|i| i.strip_suffix('\''))
                    .or_else(|| inner.strip_prefix('"').and_then(|i| i.strip_suffix('"')));
                match quoted {
                    Some(name) => Piece::Named(name.to_owned()),
                    None => Piece::Index(inner.parse().map_err(|_| bad("a capture index"))?),
                }
            } else {
                return Err(bad("an expression"));
            };
            pieces.push(piece);
            rest = &rest[end + 1..];
        }
        if !rest.is_empty() {
            pieces.push(Piece::Text(rest.to_owned()));
        }
        Ok(UriTemplate(pieces))
    }

    /// The new path. A capture the match does not have renders as nothing, as in Kong's templates.
    pub fn render(&self, captures: &Captures) -> String {
        self.0
            .iter()
            .map(|piece| match piece {
                Piece::Text(text) => text.as_str(),
                Piece::Named(name) => captures.named(name).unwrap_or(""),
                Piece::Index(i) => captures.index(*i).unwrap_or(""),
            })
            .collect()
    }
}

/// A regex route's captures.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Captures {
    /// By position; 0 is the whole match.
    pub positional: Vec<Option<String>>,
    pub named: Vec<(String, String)>,
}

impl Captures {
    pub fn named(&self, name: &str) -> Option<&str> {
        self.named
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    pub fn index(&self, i: usize) -> Option<&str> {
        self.positional.get(i).and_then(|v| v.as_deref())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_named_and_positional_captures() {
        let captures = Captures {
            positional: vec![Some("/device/power/state/abc".into()), Some("abc".into())],
            named: vec![("id".into(), "abc".into())],
        };
        for template in [
            "/api/v1/amt/power/state/$(uri_captures['id'])",
            "/api/v1/amt/power/state/$(uri_captures[\"id\"])",
            "/api/v1/amt/power/state/$(uri_captures.id)",
            "/api/v1/amt/power/state/$(uri_captures[1])",
        ] {
            assert_eq!(
                UriTemplate::parse(template).unwrap().render(&captures),
                "/api/v1/amt/power/state/abc",
                "{template}"
            );
        }
        assert!(UriTemplate::parse("/x/$(headers.host)").is_err());
        assert!(UriTemplate::parse("/x/$(uri_captures['id']").is_err());
    }

    #[test]
    fn refuses_what_it_does_not_implement() {
        let yaml = serde_yaml::from_str("add: {headers: ['x:1']}").unwrap();
        assert!(UriTemplate::from_yaml(Some(&yaml)).is_err());
        let yaml = serde_yaml::from_str("replace: {uri: '/a/$(uri_captures[1])'}").unwrap();
        assert!(UriTemplate::from_yaml(Some(&yaml)).unwrap().is_some());
    }
}
