//! Device GUIDs: the key of a device everywhere (database, secret paths, REST, topics).

use std::{fmt, str::FromStr};

/// A device GUID, always rendered in lower-case 8-4-4-4-12 form as the reference stores it.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Guid(uuid::Uuid);

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("not a device GUID (expected 8-4-4-4-12 hexadecimal digits): {0:?}")]
pub struct GuidError(pub String);

impl Guid {
    pub fn from_uuid(uuid: uuid::Uuid) -> Self {
        Guid(uuid)
    }

    pub fn as_uuid(&self) -> &uuid::Uuid {
        &self.0
    }
}

impl FromStr for Guid {
    type Err = GuidError;

    /// Accepts exactly the hyphenated form, in any case (the `uuid` crate alone would also take braces,
    /// URNs and the simple form, which never name a device).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bytes = s.as_bytes();
        let hyphens_in_place = bytes.len() == 36
            && bytes.iter().enumerate().all(|(i, b)| match i {
                8 | 13 | 18 | 23 => *b == b'-',
                _ => b.is_ascii_hexdigit(),
            });
        if !hyphens_in_place {
            return Err(GuidError(s.chars().take(64).collect()));
        }
        uuid::Uuid::parse_str(s)
            .map(Guid)
            .map_err(|_| GuidError(s.to_owned()))
    }
}

impl fmt::Display for Guid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0.hyphenated(), f)
    }
}

impl fmt::Debug for Guid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Guid({self})")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn renders_lower_case_and_parses_any_case() {
        let guid: Guid = "4C4C4544-004B-4210-8033-B6C04F504633".parse().unwrap();
        assert_eq!(guid.to_string(), "4c4c4544-004b-4210-8033-b6c04f504633");
    }

    #[test]
    fn rejects_other_forms() {
        for bad in [
            "",
            "1",
            "test-guid-123",
            "4c4c4544004b42108033b6c04f504633",
            "{4c4c4544-004b-4210-8033-b6c04f504633}",
            "urn:uuid:4c4c4544-004b-4210-8033-b6c04f504633",
            "4c4c4544-004b-4210-8033-b6c04f50463g",
            "4c4c4544_004b-4210-8033-b6c04f504633",
            "4c4c4544-004b-4210-8033-b6c04f5046333",
        ] {
            assert!(bad.parse::<Guid>().is_err(), "{bad:?} was accepted");
        }
    }
}
