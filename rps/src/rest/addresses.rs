//! The address patterns the reference validates with (its JavaScript regular expressions; the lookaheads the
//! Rust engine lacks are written out as code).

use std::sync::LazyLock;

use regex::Regex;

fn re(pattern: &str) -> Regex {
    Regex::new(pattern).expect("valid built-in pattern")
}

/// CIRA configs: dotted quad, each part 0..255.
pub static CIRA_IPV4: LazyLock<Regex> = LazyLock::new(|| {
    let part = "([01]?[0-9]?[0-9]|2[0-4][0-9]|25[0-5])";
    re(&format!(r"^{part}\.{part}\.{part}\.{part}$"))
});

/// CIRA configs: the reference's IPv6 pattern, alternation precedence included (`^A|B$`).
pub static CIRA_IPV6: LazyLock<Regex> = LazyLock::new(|| {
    re(
        r"^((?:[0-9A-Fa-f]{1,4}))((?::[0-9A-Fa-f]{1,4}))*::((?:[0-9A-Fa-f]{1,4}))((?::[0-9A-Fa-f]{1,4}))*|((?:[0-9A-Fa-f]{1,4}))((?::[0-9A-Fa-f]{1,4})){7}$",
    )
});

static CIRA_FQDN_SHAPE: LazyLock<Regex> =
    LazyLock::new(|| re(r"^((xn--+)?[a-z0-9]+(-[a-z0-9]+)*\.)+[a-z]{2,63}$"));

/// CIRA configs: lower-case FQDN, at most 254 characters, labels at most 63.
pub fn cira_fqdn(value: &str) -> bool {
    let len = value.chars().count();
    if !(1..=254).contains(&len) || !CIRA_FQDN_SHAPE.is_match(value) {
        return false;
    }
    let labels: Vec<&str> = value.split('.').collect();
    labels[..labels.len() - 1].iter().all(|l| l.len() <= 63)
}

/// Proxy configs: IPv4 (the reference's looser pattern).
pub static PROXY_IPV4: LazyLock<Regex> =
    LazyLock::new(|| re(r"^((25[0-5]|(2[0-4]|1\d|[1-9]|)\d)\.?\b){4}$"));

/// Proxy configs: IPv6, compressed forms, zone ids and embedded IPv4 included.
pub static PROXY_IPV6: LazyLock<Regex> = LazyLock::new(|| {
    re(concat!(
        r"^(([0-9a-fA-F]{1,4}:){7}[0-9a-fA-F]{1,4}|([0-9a-fA-F]{1,4}:){1,7}:|([0-9a-fA-F]{1,4}:){1,6}:[0-9a-fA-F]{1,4}|",
        r"([0-9a-fA-F]{1,4}:){1,5}(:[0-9a-fA-F]{1,4}){1,2}|([0-9a-fA-F]{1,4}:){1,4}(:[0-9a-fA-F]{1,4}){1,3}|",
        r"([0-9a-fA-F]{1,4}:){1,3}(:[0-9a-fA-F]{1,4}){1,4}|([0-9a-fA-F]{1,4}:){1,2}(:[0-9a-fA-F]{1,4}){1,5}|",
        r"[0-9a-fA-F]{1,4}:((:[0-9a-fA-F]{1,4}){1,6})|:((:[0-9a-fA-F]{1,4}){1,7}|:)|",
        r"fe80:(:[0-9a-fA-F]{0,4}){0,4}%[0-9a-zA-Z]+|",
        r"::(ffff(:0{1,4})?:)?((25[0-5]|(2[0-4]|1?[0-9])?[0-9])\.){3}(25[0-5]|(2[0-4]|1?[0-9])?[0-9])|",
        r"([0-9a-fA-F]{1,4}:){1,4}:((25[0-5]|(2[0-4]|1?[0-9])?[0-9])\.){3}(25[0-5]|(2[0-4]|1?[0-9])?[0-9]))$"
    ))
});

/// Proxy configs: FQDN.
pub static PROXY_FQDN: LazyLock<Regex> =
    LazyLock::new(|| re(r"^([a-zA-Z0-9_-]+\.)*[a-zA-Z0-9][a-zA-Z0-9_-]+\.[a-zA-Z]{2,11}?$"));

/// The AMT `InfoFormat` of a proxy address: 4 IPv6, 3 IPv4, 201 FQDN.
pub fn info_format(address: &str) -> i32 {
    if PROXY_IPV6.is_match(address) {
        4
    } else if PROXY_IPV4.is_match(address) {
        3
    } else {
        201
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cira_patterns() {
        assert!(CIRA_IPV4.is_match("192.168.8.50") && !CIRA_IPV4.is_match("192.168.8.256"));
        assert!(CIRA_IPV6.is_match("2001:db8::1") && !CIRA_IPV6.is_match("192.168.8.50"));
        assert!(
            cira_fqdn("mps.example.com")
                && !cira_fqdn("MPS.example.com")
                && !cira_fqdn("localhost")
        );
        assert!(!cira_fqdn(&format!("{}.com", "a".repeat(64))));
    }

    #[test]
    fn proxy_formats() {
        assert_eq!(info_format("10.0.0.1"), 3);
        assert_eq!(info_format("fe80::1"), 4);
        assert_eq!(info_format("proxy.example.com"), 201);
        assert!(PROXY_FQDN.is_match("proxy.example.com") && !PROXY_FQDN.is_match("not a host"));
    }
}
