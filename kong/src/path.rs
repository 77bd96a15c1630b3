//! Kong's path rules: the normalisation it routes on, the `v0` joining of a service path with what
//! remains of the request path after `strip_path`, and the escaping of what it sends upstream.
//!
//! Routing on the normalised path and forwarding that same path matters for safety: a request such as
//! `/mps/login/api/v1/authorize/../../../api/v1/devices` must not slip past the JWT check on `/mps`.

/// Reserved characters (RFC 3986) stay percent-encoded; every other escape is decoded.
const RESERVED: &[u8] = b"!*'();:@&=+$,/?%#[]";

/// Decodes percent-escapes of non-reserved characters (escapes of reserved ones are kept, upper-cased),
/// removes dot segments and merges repeated slashes. Mirrors Kong's `normalize(uri, true)`.
pub fn normalize(path: &str) -> String {
    if path.is_empty() || path == "/" {
        return path.to_owned();
    }
    let decoded = if path.contains('%') {
        decode_unreserved(path)
    } else {
        path.to_owned()
    };
    if !decoded.contains('.') && !decoded.contains("//") {
        return decoded;
    }
    remove_dot_segments(&decoded)
}

fn decode_unreserved(path: &str) -> String {
    let hex = |b: u8| (b as char).to_digit(16).map(|d| d as u8);
    let bytes = path.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(high), Some(low)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            let byte = high << 4 | low;
            if RESERVED.contains(&byte) {
                out.push(b'%');
                out.push(bytes[i + 1].to_ascii_uppercase());
                out.push(bytes[i + 2].to_ascii_uppercase());
            } else {
                out.push(byte);
            }
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    // A decoded byte may not be valid UTF-8 on its own; keep it visible rather than fail.
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// RFC 3986 §5.2.4 with Kong's extra rule that `//` collapses to `/`.
fn remove_dot_segments(mut input: &str) -> String {
    let mut output: Vec<&str> = Vec::new();
    while !input.is_empty() {
        if input == "/." {
            input = "/";
        } else if input == "/.." {
            output.pop();
            input = "/";
        } else if input == "." || input == ".." {
            input = "";
        } else if let Some(rest) = input.strip_prefix("../") {
            input = rest;
        } else if let Some(rest) = input.strip_prefix("./") {
            input = rest;
        } else if input.starts_with("/./") {
            input = &input[2..];
        } else if input.starts_with("/../") {
            input = &input[3..];
            output.pop();
        } else if input.starts_with("//") {
            input = &input[1..];
        } else {
            let end = input
                .char_indices()
                .skip(1)
                .find(|(_, c)| *c == '/')
                .map_or(input.len(), |(i, _)| i);
            output.push(&input[..end]);
            input = &input[end..];
        }
    }
    output.concat()
}

/// Kong's `sanitize_uri_postfix`: a remainder that starts with a dot segment loses it.
pub fn sanitize_postfix(postfix: &str) -> &str {
    if postfix == "." || postfix == ".." {
        ""
    } else if let Some(rest) = postfix.strip_prefix("./") {
        rest
    } else if let Some(rest) = postfix.strip_prefix("../") {
        rest
    } else {
        postfix
    }
}

/// The upstream path for a matched route under Kong's default `path_handling: v0`.
///
/// `base` is the service's `path` (`/` when it has none), `request` the normalised request path and
/// `postfix` what remains of it after the matched prefix (only meaningful with `strip_path`).
pub fn join_v0(base: &str, strip_path: bool, request: &str, postfix: &str) -> String {
    if let Some(trimmed) = base.strip_suffix('/') {
        if strip_path {
            if postfix.is_empty() {
                if base == "/" {
                    return "/".to_owned();
                }
                if request.ends_with('/') {
                    return base.to_owned();
                }
                return trimmed.to_owned();
            }
            if postfix.starts_with('/') {
                // Two slashes would meet: drop the service path's.
                return format!("{trimmed}{postfix}");
            }
            return format!("{base}{postfix}");
        }
        return format!("{base}{}", request.get(1..).unwrap_or(""));
    }
    if strip_path {
        if postfix.is_empty() {
            if request.len() > 1 && request.ends_with('/') {
                return format!("{base}/");
            }
            return base.to_owned();
        }
        if postfix.starts_with('/') {
            return format!("{base}{postfix}");
        }
        return format!("{base}/{postfix}");
    }
    if request == "/" {
        return base.to_owned();
    }
    format!("{base}{request}")
}

/// Percent-escapes what may not travel raw in a request line (Kong's `escape`): everything outside
/// the reserved and unreserved sets, and `%` only when it does not start an escape already.
pub fn escape(path: &str) -> String {
    let allowed = |b: u8| b.is_ascii_alphanumeric() || b"!#$&'()*+,/:;=?@[]-_.~%".contains(&b);
    if path.bytes().all(allowed) {
        return path.to_owned();
    }
    let mut out = String::with_capacity(path.len() + 8);
    for b in path.bytes() {
        if allowed(b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn normalises_like_kong() {
        assert_eq!(normalize("/"), "/");
        assert_eq!(normalize("/mps/api/v1/devices"), "/mps/api/v1/devices");
        assert_eq!(
            normalize("/mps/login/api/v1/authorize/../../../api/v1/devices"),
            "/mps/login/api/v1/devices"
        );
        assert_eq!(normalize("/a/./b/../c"), "/a/c");
        assert_eq!(normalize("/a//b///c"), "/a/b/c");
        assert_eq!(normalize("/%2e%2e/mps"), "/mps");
        assert_eq!(normalize("/%6Dps/x"), "/mps/x");
        // Reserved characters keep their escapes (upper-cased): a %2F is not a path separator.
        assert_eq!(normalize("/a%2fb"), "/a%2Fb");
        assert_eq!(normalize("/.."), "/");
        assert_eq!(normalize("/a/.."), "/");
        assert_eq!(normalize("/bad%zz"), "/bad%zz");
        assert_eq!(normalize("/trailing%"), "/trailing%");
    }

    /// The table of Kong's documentation for `path_handling: v0` (service path, route path, request).
    #[test]
    fn joins_paths_like_kongs_v0_table() {
        // (service.path, strip_path, request, matched prefix, expected upstream path)
        let cases = [
            ("/s", true, "/fv0", "/fv0", "/s"),
            ("/s", true, "/fv0/req", "/fv0", "/s/req"),
            ("/s", true, "/fv0req", "/fv0", "/s/req"),
            ("/s", true, "/fv0/", "/fv0", "/s/"),
            ("/s", false, "/fv0/req", "/fv0", "/s/fv0/req"),
            ("/s/", true, "/fv0", "/fv0", "/s"),
            ("/s/", true, "/fv0/", "/fv0", "/s/"),
            ("/s/", true, "/fv0/req", "/fv0", "/s/req"),
            ("/s/", false, "/fv0/req", "/fv0", "/s/fv0/req"),
            ("/", true, "/mps", "/mps", "/"),
            ("/", true, "/mps/api/v1/devices", "/mps", "/api/v1/devices"),
            ("/", false, "/api/v1/authorize", "/api", "/api/v1/authorize"),
            (
                "/relay",
                true,
                "/mps/ws/relay/webrelay.ashx",
                "/mps/ws/relay",
                "/relay/webrelay.ashx",
            ),
            (
                "/api/v1/authorize",
                true,
                "/mps/login/api/v1/authorize",
                "/mps/login/api/v1/authorize",
                "/api/v1/authorize",
            ),
        ];
        for (base, strip, request, prefix, expected) in cases {
            let postfix = sanitize_postfix(&request[prefix.len()..]);
            assert_eq!(
                join_v0(base, strip, request, postfix),
                expected,
                "service path {base:?}, strip {strip}, request {request:?}"
            );
        }
    }

    #[test]
    fn escapes_what_cannot_travel_raw() {
        assert_eq!(escape("/api/v1/devices"), "/api/v1/devices");
        assert_eq!(escape("/a b/ü"), "/a%20b/%C3%BC");
        assert_eq!(escape("/a%2Fb"), "/a%2Fb");
    }
}
