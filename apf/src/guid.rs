//! The device GUID as carried in PROTOCOLVERSION.
//!
//! AMT sends its SMBIOS system UUID in the mixed-endian (Microsoft GUID) byte order: the first
//! three groups are little-endian, the last two are byte strings. The string form used as the
//! device key everywhere (DB, Vault path, REST, relay) is bytes 3,2,1,0 - 5,4 - 7,6 - 8,9 - 10..15
//! in lower-case hex (spec/mps.md §1.4).

use std::fmt::Write as _;
use thiserror::Error;

/// Output position of each wire byte, in string order.
const STRING_ORDER: [usize; 16] = [3, 2, 1, 0, 5, 4, 7, 6, 8, 9, 10, 11, 12, 13, 14, 15];

/// Formats the 16 PROTOCOLVERSION UUID bytes as the lower-case `8-4-4-4-12` device GUID.
pub fn to_string(wire: &[u8; 16]) -> String {
    let mut s = String::with_capacity(36);
    for (i, &pos) in STRING_ORDER.iter().enumerate() {
        if matches!(i, 4 | 6 | 8 | 10) {
            s.push('-');
        }
        // Writing into a String cannot fail.
        let _ = write!(s, "{:02x}", wire[pos]);
    }
    s
}

/// Why a GUID string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
#[error("invalid device GUID {0:?}: expected 8-4-4-4-12 hexadecimal digits")]
pub struct GuidParseError(pub String);

/// Parses an `8-4-4-4-12` GUID (any case) into the 16 bytes AMT puts in PROTOCOLVERSION.
pub fn from_str(s: &str) -> Result<[u8; 16], GuidParseError> {
    let bad = || GuidParseError(s.chars().take(64).collect());
    let b = s.as_bytes();
    if b.len() != 36 || [8, 13, 18, 23].iter().any(|&i| b[i] != b'-') {
        return Err(bad());
    }
    let mut digits = b.iter().filter(|&&c| c != b'-');
    let mut in_string_order = [0u8; 16];
    for out in &mut in_string_order {
        let hi = digits.next().and_then(|&c| hex_value(c)).ok_or_else(bad)?;
        let lo = digits.next().and_then(|&c| hex_value(c)).ok_or_else(bad)?;
        *out = hi << 4 | lo;
    }
    let mut wire = [0u8; 16];
    for (i, &pos) in STRING_ORDER.iter().enumerate() {
        wire[pos] = in_string_order[i];
    }
    Ok(wire)
}

fn hex_value(c: u8) -> Option<u8> {
    match c {
        b'0'..=b'9' => Some(c - b'0'),
        b'a'..=b'f' => Some(c - b'a' + 10),
        b'A'..=b'F' => Some(c - b'A' + 10),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bytes(h: &str) -> [u8; 16] {
        hex::decode(h.replace(' ', "")).unwrap().try_into().unwrap()
    }

    #[test]
    fn mps_unit_test_vector() {
        let wire = bytes("44 45 4C 4C 4B 00 10 42 80 33 B6 C0 4F 50 46 33");
        assert_eq!(to_string(&wire), "4c4c4544-004b-4210-8033-b6c04f504633");
        assert_eq!(
            from_str("4c4c4544-004b-4210-8033-b6c04f504633").unwrap(),
            wire
        );
    }

    #[test]
    fn real_amt_9_1_capture_vector() {
        let wire = bytes("80 b3 62 d1 30 c3 e3 11 82 a5 40 a8 f0 a2 a5 36");
        assert_eq!(to_string(&wire), "d162b380-c330-11e3-82a5-40a8f0a2a536");
        assert_eq!(
            from_str("D162B380-C330-11E3-82A5-40A8F0A2A536").unwrap(),
            wire
        );
    }

    #[test]
    fn rejects_malformed_strings() {
        for s in [
            "",
            "4c4c4544004b42108033b6c04f504633",
            "4c4c4544-004b-4210-8033-b6c04f50463",
            "4c4c4544-004b-4210-8033-b6c04f50463g",
            "4c4c4544-004b-4210-8033_b6c04f504633",
            "4c4c4544-004b-4210-8033-b6c04f5046331",
            "é4c4c544-004b-4210-8033-b6c04f50463",
        ] {
            assert!(from_str(s).is_err(), "{s:?} should be rejected");
        }
    }

    proptest::proptest! {
        #[test]
        fn string_round_trip(wire: [u8; 16]) {
            let s = to_string(&wire);
            proptest::prop_assert_eq!(s.to_lowercase(), s.clone());
            proptest::prop_assert_eq!(from_str(&s).unwrap(), wire);
        }
    }
}
