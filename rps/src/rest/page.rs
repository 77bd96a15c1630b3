//! `$top`, `$skip` and `$count` on the list routes.

use std::collections::HashMap;

use serde::Serialize;
use serde_json::{Map, Value};

use super::error::ApiError;
use super::validate::Validator;

pub const DEFAULT_TOP: u64 = 25;
pub const DEFAULT_SKIP: u64 = 0;
const MAX: i64 = 9_999_999_999;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Page {
    pub top: u64,
    pub skip: u64,
    /// Answer `{data, totalCount}` instead of a bare array.
    pub count: bool,
}

impl Page {
    pub fn from_query(query: &HashMap<String, String>) -> Result<Page, ApiError> {
        let fields: Map<String, Value> = query
            .iter()
            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
            .collect();
        let mut v = Validator::new(fields, "query");
        v.check("$top")
            .default(Value::String(DEFAULT_TOP.to_string()))
            .is_int(Some(0), Some(MAX))
            .with_message("The number of items to return should be a positive integer");
        v.check("$skip")
            .default(Value::String(DEFAULT_SKIP.to_string()))
            .is_int(Some(0), Some(MAX))
            .with_message(
                "The number of items to skip before starting to collect the result set should be a positive integer",
            );
        v.check("$count")
            .optional()
            .is_boolean()
            .with_message("To return total number of records in result set should be boolean");
        let fields = v.finish().map_err(ApiError::Validation)?;
        let number = |key: &str, default: u64| {
            fields
                .get(key)
                .and_then(Value::as_str)
                .and_then(|s| s.trim_start_matches('+').parse().ok())
                .unwrap_or(default)
        };
        Ok(Page {
            top: number("$top", DEFAULT_TOP),
            skip: number("$skip", DEFAULT_SKIP),
            // The reference answers with a count for any valid $count but "false" (so "0" counts too).
            count: fields
                .get("$count")
                .and_then(Value::as_str)
                .is_some_and(|c| c != "false"),
        })
    }
}

/// A list answer: a bare array, or `{data, totalCount}` when `$count` asked for it.
#[derive(Serialize)]
#[serde(untagged)]
pub enum Listing<T: Serialize> {
    Plain(Vec<T>),
    Counted {
        data: Vec<T>,
        #[serde(rename = "totalCount")]
        total_count: u64,
    },
}

#[cfg(test)]
mod tests {
    use super::*;

    fn query(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn defaults_and_count() {
        assert_eq!(
            Page::from_query(&query(&[])).unwrap(),
            Page {
                top: 25,
                skip: 0,
                count: false
            }
        );
        let p = Page::from_query(&query(&[
            ("$top", "10"),
            ("$skip", "5"),
            ("$count", "true"),
        ]))
        .unwrap();
        assert_eq!(
            p,
            Page {
                top: 10,
                skip: 5,
                count: true
            }
        );
        assert!(
            !Page::from_query(&query(&[("$count", "false")]))
                .unwrap()
                .count
        );
    }

    #[test]
    fn invalid_query_gives_the_reference_errors_in_order() {
        let Err(ApiError::Validation(errors)) = Page::from_query(&query(&[
            ("$top", "ten"),
            ("$skip", "zero"),
            ("$count", "notboolean"),
        ])) else {
            panic!("expected validation errors");
        };
        let got: Vec<(&str, &str, &str)> = errors
            .iter()
            .map(|e| (e.path.as_str(), e.msg.as_str(), e.location))
            .collect();
        assert_eq!(
            got,
            vec![
                (
                    "$top",
                    "The number of items to return should be a positive integer",
                    "query"
                ),
                (
                    "$skip",
                    "The number of items to skip before starting to collect the result set should be a positive integer",
                    "query"
                ),
                (
                    "$count",
                    "To return total number of records in result set should be boolean",
                    "query"
                ),
            ]
        );
    }
}
