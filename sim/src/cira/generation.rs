//! AMT firmware generations as the MPS meets them on the CIRA port: what each offers in TLS and
//! which firmware version it reports. AMT 11 and 12 speak TLS 1.0 to 1.2 with static-RSA and DHE
//! suites only (spec/mps.md §1.1, the community's CIRA clients); AMT 16 speaks TLS 1.2 with ECDHE;
//! AMT 19 adds TLS 1.3.

use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Generation {
    Amt11,
    Amt12,
    #[default]
    Amt16,
    Amt19,
}

/// The suites AMT 11/12 firmware offers, in OpenSSL's names: TLS_RSA_WITH_AES_128_GCM_SHA256
/// (0x9C), TLS_RSA_WITH_AES_128_CBC_SHA (0x2F), TLS_RSA_WITH_AES_256_CBC_SHA (0x35),
/// TLS_DHE_RSA_WITH_AES_256_GCM_SHA384 (0x9F). No ECDHE: rustls cannot serve such a device.
pub const LEGACY_SUITES: &str =
    "AES128-GCM-SHA256:AES128-SHA:AES256-SHA:DHE-RSA-AES256-GCM-SHA384:@SECLEVEL=0";

impl Generation {
    /// Whether the device's TLS is the legacy one (OpenSSL on our side).
    pub fn legacy_tls(self) -> bool {
        matches!(self, Generation::Amt11 | Generation::Amt12)
    }

    pub fn offers_tls13(self) -> bool {
        self == Generation::Amt19
    }

    /// The firmware version the device reports (CIM_SoftwareIdentity, activation payload).
    pub fn firmware_version(self) -> &'static str {
        match self {
            Generation::Amt11 => "11.8.92",
            Generation::Amt12 => "12.0.93",
            Generation::Amt16 => crate::device::DEFAULT_FIRMWARE,
            Generation::Amt19 => "19.0.5",
        }
    }
}

impl fmt::Display for Generation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Generation::Amt11 => "11",
            Generation::Amt12 => "12",
            Generation::Amt16 => "16",
            Generation::Amt19 => "19",
        })
    }
}

impl FromStr for Generation {
    type Err = String;
    fn from_str(s: &str) -> Result<Generation, String> {
        match s.trim().trim_start_matches("AMT").trim_start_matches("amt") {
            "11" => Ok(Generation::Amt11),
            "12" => Ok(Generation::Amt12),
            "16" => Ok(Generation::Amt16),
            "19" => Ok(Generation::Amt19),
            other => Err(format!(
                "unknown AMT generation {other:?} (11, 12, 16 or 19)"
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generations_parse_and_print() {
        for g in [
            Generation::Amt11,
            Generation::Amt12,
            Generation::Amt16,
            Generation::Amt19,
        ] {
            assert_eq!(g.to_string().parse::<Generation>(), Ok(g));
        }
        assert_eq!("AMT11".parse::<Generation>(), Ok(Generation::Amt11));
        assert!("15".parse::<Generation>().is_err());
        assert!(Generation::Amt12.legacy_tls() && !Generation::Amt16.legacy_tls());
        assert!(Generation::Amt19.offers_tls13() && !Generation::Amt16.offers_tls13());
    }
}
