//! Request validation with the reference's semantics (express-validator chains), so that clients see the same
//! error arrays, in the same order, with the same texts.
//!
//! - Chains run in declaration order; inside a chain every validator runs (no bail) and each failure adds one
//!   error, so a missing field can produce "… is required" and then "… should range …".
//! - A failure's text is the message attached with [`Chain::with_message`] right after the validator, else
//!   "Invalid value"; a custom validator's failure text is its own.
//! - Standard validators see the value as a string: absent and null read as "", numbers and booleans as JSON
//!   prints them, objects as "[object Object]"; a non-empty array is checked element by element.
//! - Errors carry `{type:"field", value, msg, path, location}`; `value` is left out when the field is absent.

use regex::Regex;
use serde::Serialize;
use serde_json::{Map, Value};

pub const DEFAULT_MESSAGE: &str = "Invalid value";

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FieldError {
    #[serde(rename = "type")]
    pub kind: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<Value>,
    pub msg: String,
    pub path: String,
    pub location: &'static str,
}

/// Validates the fields of one request location (`body` or `query`), collecting errors.
pub struct Validator {
    fields: Map<String, Value>,
    location: &'static str,
    errors: Vec<FieldError>,
}

impl Validator {
    pub fn new(fields: Map<String, Value>, location: &'static str) -> Self {
        Self {
            fields,
            location,
            errors: Vec::new(),
        }
    }

    /// The body as a request handler sees it: a JSON object, or an empty one for anything else.
    pub fn body(body: &Value) -> Self {
        Self::new(body.as_object().cloned().unwrap_or_default(), "body")
    }

    /// Starts the chain of rules for `field`.
    pub fn check(&mut self, field: &'static str) -> Chain<'_> {
        let value = self.fields.get(field).cloned();
        Chain {
            v: self,
            field,
            value,
            active: true,
            negate: false,
            last_failed: None,
        }
    }

    /// A field's current value (after any `default` sanitizer ran), for rules that look at other fields.
    pub fn get(&self, field: &str) -> Option<&Value> {
        self.fields.get(field)
    }

    pub fn errors(&self) -> &[FieldError] {
        &self.errors
    }

    /// The errors, or the (sanitized) fields when there were none.
    pub fn finish(self) -> Result<Map<String, Value>, Vec<FieldError>> {
        if self.errors.is_empty() {
            Ok(self.fields)
        } else {
            Err(self.errors)
        }
    }
}

/// The rules of one field. Each rule runs at once; an inactive chain (optional and absent, or a false `when`)
/// runs nothing.
pub struct Chain<'v> {
    v: &'v mut Validator,
    field: &'static str,
    value: Option<Value>,
    active: bool,
    negate: bool,
    last_failed: Option<usize>,
}

impl Chain<'_> {
    /// Skips the rest of the chain when the field is absent.
    pub fn optional(mut self) -> Self {
        if self.value.is_none() {
            self.active = false;
        }
        self
    }

    /// Skips the rest of the chain when the field is absent or null.
    pub fn optional_nullable(mut self) -> Self {
        if matches!(self.value, None | Some(Value::Null)) {
            self.active = false;
        }
        self
    }

    /// Runs the rest of the chain only if `condition` holds (express-validator's `.if`).
    pub fn when(mut self, condition: bool) -> Self {
        if !condition {
            self.active = false;
        }
        self
    }

    /// Replaces an absent, null or empty-string value, in the request too (later rules see it).
    pub fn default(mut self, value: Value) -> Self {
        let missing = matches!(&self.value, None | Some(Value::Null))
            || matches!(&self.value, Some(Value::String(s)) if s.is_empty());
        if self.active && missing {
            self.v.fields.insert(self.field.to_owned(), value.clone());
            self.value = Some(value);
        }
        self
    }

    /// Negates the next standard rule.
    pub fn negated(mut self) -> Self {
        self.negate = true;
        self
    }

    /// Sets the text of the rule just run, if it failed.
    pub fn with_message(self, message: &str) -> Self {
        if let Some(i) = self.last_failed {
            self.v.errors[i].msg = message.to_owned();
        }
        self
    }

    fn record(&mut self, passed: bool, message: &str) {
        self.last_failed = None;
        if passed {
            return;
        }
        self.v.errors.push(FieldError {
            kind: "field",
            value: self.value.clone(),
            msg: message.to_owned(),
            path: self.field.to_owned(),
            location: self.v.location,
        });
        self.last_failed = Some(self.v.errors.len() - 1);
    }

    /// A standard (string) rule, negated by a preceding `negated()`.
    fn standard(mut self, rule: impl Fn(&str) -> bool) -> Self {
        if !self.active {
            self.negate = false;
            return self;
        }
        let negate = std::mem::take(&mut self.negate);
        let passed = string_forms(self.value.as_ref())
            .iter()
            .all(|s| rule(s) != negate);
        self.record(passed, DEFAULT_MESSAGE);
        self
    }

    pub fn is_empty(self) -> Self {
        self.standard(str::is_empty)
    }

    /// `not().isEmpty()`.
    pub fn not_empty(self) -> Self {
        self.negated().is_empty()
    }

    pub fn matches(self, re: &Regex) -> Self {
        self.standard(|s| re.is_match(s))
    }

    pub fn is_int(self, min: Option<i64>, max: Option<i64>) -> Self {
        self.standard(|s| is_int(s, min, max, true))
    }

    /// validator.js `isPort`: an integer 0..=65535 without leading zeroes.
    pub fn is_port(self) -> Self {
        self.standard(|s| is_int(s, Some(0), Some(65535), false))
    }

    pub fn is_in(self, options: &[&str]) -> Self {
        self.standard(|s| options.contains(&s))
    }

    /// validator.js `isBoolean` (strict): "true", "false", "1" or "0".
    pub fn is_boolean(self) -> Self {
        self.standard(|s| matches!(s, "true" | "false" | "1" | "0"))
    }

    /// Length in characters between `min` and `max`.
    pub fn is_length(self, min: Option<usize>, max: Option<usize>) -> Self {
        self.standard(|s| {
            let n = s.chars().count();
            min.is_none_or(|m| n >= m) && max.is_none_or(|m| n <= m)
        })
    }

    /// validator.js `isFQDN` with `require_tld`, no underscores, no trailing dot, no numeric TLD.
    pub fn is_fqdn(self) -> Self {
        self.standard(is_fqdn)
    }

    /// The field is present (any value, null included).
    pub fn exists(mut self) -> Self {
        if self.active {
            let passed = self.value.is_some() != std::mem::take(&mut self.negate);
            self.record(passed, DEFAULT_MESSAGE);
        }
        self
    }

    /// The value is a JSON array.
    pub fn is_array(mut self) -> Self {
        if self.active {
            let passed =
                matches!(self.value, Some(Value::Array(_))) != std::mem::take(&mut self.negate);
            self.record(passed, DEFAULT_MESSAGE);
        }
        self
    }

    /// A custom rule on the raw value: `Err(text)` fails with that text.
    pub fn custom(mut self, rule: impl FnOnce(Option<&Value>) -> Result<(), String>) -> Self {
        if self.active {
            let outcome = rule(self.value.as_ref());
            self.last_failed = None;
            if let Err(message) = outcome {
                self.record(false, &message);
            }
        }
        self
    }
}

/// The strings a standard rule checks: one per element of a non-empty array, else the value as a string.
fn string_forms(value: Option<&Value>) -> Vec<String> {
    match value {
        Some(Value::Array(items)) if !items.is_empty() => {
            items.iter().map(|v| js_string(Some(v))).collect()
        }
        other => vec![js_string(other)],
    }
}

/// The value as express-validator turns it into a string.
pub fn js_string(value: Option<&Value>) -> String {
    match value {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(Value::Bool(b)) => b.to_string(),
        Some(Value::Number(n)) => js_number(n),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| js_string(Some(v)))
            .collect::<Vec<_>>()
            .join(","),
        Some(Value::Object(_)) => "[object Object]".to_owned(),
    }
}

/// A JSON number printed as JavaScript prints it (4433.0 is "4433").
pub fn js_number(n: &serde_json::Number) -> String {
    if n.is_i64() || n.is_u64() {
        return n.to_string();
    }
    match n.as_f64() {
        Some(f) if f.fract() == 0.0 && f.abs() < 1e21 => format!("{f:.0}"),
        Some(f) => f.to_string(),
        None => n.to_string(),
    }
}

/// The value as an integer if it is a JSON number with no fraction (JavaScript's `Number.isInteger`).
pub fn js_integer(value: Option<&Value>) -> Option<i64> {
    let n = value?.as_number()?;
    if let Some(i) = n.as_i64() {
        return Some(i);
    }
    let f = n.as_f64()?;
    (f.fract() == 0.0 && f.abs() < 9.0e15).then_some(f as i64)
}

fn is_int(s: &str, min: Option<i64>, max: Option<i64>, allow_leading_zeroes: bool) -> bool {
    let digits = s.strip_prefix(['+', '-']).unwrap_or(s);
    let shape_ok = !digits.is_empty()
        && digits.bytes().all(|b| b.is_ascii_digit())
        && (allow_leading_zeroes || digits == "0" || !digits.starts_with('0'));
    if !shape_ok {
        return false;
    }
    // Compare as i128 so that values past i64 still fail the range check instead of overflowing.
    let Ok(n) = s.parse::<i128>() else {
        return false;
    };
    min.is_none_or(|m| n >= i128::from(m)) && max.is_none_or(|m| n <= i128::from(m))
}

fn is_fqdn(s: &str) -> bool {
    let parts: Vec<&str> = s.split('.').collect();
    if parts.len() < 2 {
        return false;
    }
    let tld = parts[parts.len() - 1];
    let tld_ok = (tld.chars().count() >= 2
        && tld
            .chars()
            .all(|c| c.is_alphabetic() && !c.is_ascii_digit()))
        || (tld.len() >= 4
            && tld[..2].eq_ignore_ascii_case("xn")
            && tld[2..]
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-'));
    if !tld_ok || tld.chars().all(|c| c.is_ascii_digit()) {
        return false;
    }
    parts.iter().all(|part| {
        part.chars().count() <= 63
            && !part.is_empty()
            && part
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || (c as u32) >= 0xa1)
            && !part.starts_with('-')
            && !part.ends_with('-')
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(body: Value, chain: impl FnOnce(&mut Validator)) -> Vec<(String, String)> {
        let mut v = Validator::body(&body);
        chain(&mut v);
        v.errors()
            .iter()
            .map(|e| (e.path.clone(), e.msg.clone()))
            .collect()
    }

    #[test]
    fn every_failing_rule_of_a_chain_is_reported_in_order() {
        let errors = run(json!({}), |v| {
            v.check("mpsPort")
                .not_empty()
                .with_message("MPS port is required")
                .is_int(Some(1024), Some(49151))
                .with_message("MPS Port value should range between 1024 and 49151");
        });
        assert_eq!(
            errors,
            vec![
                ("mpsPort".into(), "MPS port is required".into()),
                (
                    "mpsPort".into(),
                    "MPS Port value should range between 1024 and 49151".into()
                )
            ]
        );
    }

    #[test]
    fn a_rule_without_message_says_invalid_value() {
        let errors = run(json!({"dhcpEnabled": "maybe"}), |v| {
            v.check("dhcpEnabled")
                .not_empty()
                .is_boolean()
                .with_message("DHCP enabled must be a boolean");
        });
        assert_eq!(
            errors,
            vec![(
                "dhcpEnabled".into(),
                "DHCP enabled must be a boolean".into()
            )]
        );
        let errors = run(json!({}), |v| {
            v.check("dhcpEnabled")
                .not_empty()
                .is_boolean()
                .with_message("DHCP enabled must be a boolean");
        });
        assert_eq!(
            errors,
            vec![
                ("dhcpEnabled".into(), "Invalid value".into()),
                (
                    "dhcpEnabled".into(),
                    "DHCP enabled must be a boolean".into()
                )
            ]
        );
    }

    #[test]
    fn values_are_read_as_javascript_strings() {
        assert_eq!(js_string(Some(&json!(4433.0))), "4433");
        assert_eq!(js_string(Some(&json!(true))), "true");
        assert_eq!(js_string(Some(&json!({"a": 1}))), "[object Object]");
        assert_eq!(js_string(None), "");
        // isIn compares strings, so "3" and 3 both pass a numeric list.
        for value in [json!(3), json!("3")] {
            assert!(
                run(json!({"f": value}), |v| {
                    v.check("f").is_in(&["3", "4", "201"]);
                })
                .is_empty()
            );
        }
    }

    #[test]
    fn optional_and_when_skip_the_chain() {
        assert!(
            run(json!({}), |v| {
                v.check("tlsMode")
                    .optional_nullable()
                    .is_int(Some(1), Some(4));
            })
            .is_empty()
        );
        assert!(
            run(json!({"tlsMode": null}), |v| {
                v.check("tlsMode")
                    .optional_nullable()
                    .is_int(Some(1), Some(4));
            })
            .is_empty()
        );
        assert_eq!(
            run(json!({"tlsMode": null}), |v| {
                v.check("tlsMode").optional().is_int(Some(1), Some(4));
            })
            .len(),
            1
        );
        assert!(
            run(json!({"x": "bad"}), |v| {
                v.check("x").when(false).is_int(None, None);
            })
            .is_empty()
        );
    }

    #[test]
    fn default_fills_the_request_for_later_rules() {
        let mut v = Validator::body(&json!({}));
        v.check("generateRandomPassword")
            .default(json!(false))
            .is_boolean();
        assert_eq!(v.get("generateRandomPassword"), Some(&json!(false)));
        assert!(v.errors().is_empty());
    }

    #[test]
    fn error_objects_have_the_reference_shape() {
        let mut v = Validator::body(&json!({"tlsMode": 5}));
        v.check("tlsMode")
            .optional_nullable()
            .is_int(Some(1), Some(4))
            .with_message("bad tls");
        v.check("name").not_empty().with_message("name required");
        let errors = v.finish().unwrap_err();
        assert_eq!(
            serde_json::to_value(&errors).unwrap(),
            json!([
                {"type": "field", "value": 5, "msg": "bad tls", "path": "tlsMode", "location": "body"},
                {"type": "field", "msg": "name required", "path": "name", "location": "body"}
            ])
        );
    }

    #[test]
    fn integers_ports_and_fqdns_follow_validator_js() {
        assert!(is_int("007", Some(0), None, true));
        assert!(!is_int("ten", None, None, true));
        assert!(!is_int("1.5", None, None, true));
        assert!(!is_int(
            "99999999999999999999999",
            None,
            Some(9_999_999_999),
            true
        ));
        assert!(
            is_int("65535", Some(0), Some(65535), false)
                && !is_int("65536", Some(0), Some(65535), false)
        );
        assert!(!is_int("080", Some(0), Some(65535), false));
        assert!(is_fqdn("vprodemo.com") && is_fqdn("a-b.example.org"));
        assert!(
            !is_fqdn("localhost") && !is_fqdn("-a.com") && !is_fqdn("a_b.com") && !is_fqdn("a.123")
        );
        assert!(!is_fqdn("a..com") && !is_fqdn("a.com."));
    }
}
