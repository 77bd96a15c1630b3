//! Which device a request is about, read from the request itself (never from a database): the GUID in
//! the path of `/api/v1/amt/...`, `/api/v1/devices/...` and `/api/v1/authorize/redirection/...`, or the
//! relay's `host=<guid>` query parameter.
//!
//! Routes that act on the tunnel (every `/api/v1/amt/...` route, redirect status, disconnect, the relay)
//! need the device to be connected somewhere; the rest (inventory, redirection tokens) work from the
//! shared database and go to the holder when there is one, or to any MPS otherwise.

use schemas::Guid;

/// Where a request should go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A device's MPS; `needs_tunnel` when only the instance holding its CIRA connection can answer.
    /// `as_given` is the GUID as the client spelled it (the reference echoes it in its 404).
    Device {
        guid: Guid,
        as_given: String,
        needs_tunnel: bool,
    },
    /// Any online MPS.
    Any,
}

/// Classifies a request by its path and query. Static segments compare case-insensitively, as the
/// reference's Express routes do.
pub fn classify(path: &str, query: Option<&str>) -> Target {
    let segments: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let is = |i: usize, name: &str| {
        segments
            .get(i)
            .is_some_and(|s| s.eq_ignore_ascii_case(name))
    };

    if is(0, "relay") {
        return match query.and_then(relay_host) {
            Some((guid, as_given)) => Target::Device {
                guid,
                as_given,
                needs_tunnel: true,
            },
            None => Target::Any,
        };
    }
    let Some((guid, as_given)) = segments
        .iter()
        .skip(2)
        .find_map(|s| s.parse::<Guid>().ok().map(|g| (g, (*s).to_owned())))
    else {
        return Target::Any;
    };
    let api = is(0, "api") && is(1, "v1");
    let needs_tunnel = api
        && (is(2, "amt") || (is(2, "devices") && (is(3, "redirectstatus") || is(3, "disconnect"))));
    Target::Device {
        guid,
        as_given,
        needs_tunnel,
    }
}

/// The relay's `host` query parameter, when it is a GUID.
fn relay_host(query: &str) -> Option<(Guid, String)> {
    query.split('&').find_map(|pair| {
        let (name, value) = pair.split_once('=')?;
        name.eq_ignore_ascii_case("host")
            .then(|| value.parse().ok().map(|g| (g, value.to_owned())))
            .flatten()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const G: &str = "4c4c4544-004b-4210-8033-b6c04f504633";

    fn device(needs_tunnel: bool) -> Target {
        Target::Device {
            guid: G.parse().unwrap(),
            as_given: G.into(),
            needs_tunnel,
        }
    }

    #[test]
    fn finds_the_device_where_the_reference_routes_put_it() {
        let cases = [
            (format!("/api/v1/amt/power/state/{G}"), None, device(true)),
            (
                format!("/api/v1/AMT/power/bootoptions/{G}"),
                None,
                device(true),
            ),
            (
                format!("/api/v1/amt/certificates/{G}/Intel(r)%20AMT%20Certificate"),
                None,
                device(true),
            ),
            (
                format!("/api/v1/amt/networkSettings/wired/{G}"),
                None,
                device(true),
            ),
            (
                format!("/api/v1/devices/redirectstatus/{G}"),
                None,
                device(true),
            ),
            (
                format!("/api/v1/devices/disconnect/{G}/"),
                None,
                device(true),
            ),
            (format!("/api/v1/devices/{G}"), None, device(false)),
            (format!("/api/v1/devices/refresh/{G}"), None, device(false)),
            (
                format!("/api/v1/authorize/redirection/{G}"),
                None,
                device(false),
            ),
            (
                "/relay/webrelay.ashx".into(),
                Some(format!("p=2&host={G}&port=16994&tls=0&mode=kvm")),
                device(true),
            ),
        ];
        for (path, query, expected) in cases {
            assert_eq!(classify(&path, query.as_deref()), expected, "{path}");
        }
        let upper = G.to_uppercase();
        let Target::Device { guid, as_given, .. } =
            classify(&format!("/api/v1/amt/version/{upper}"), None)
        else {
            panic!("an upper-case GUID is a GUID");
        };
        assert_eq!(guid.to_string(), G);
        assert_eq!(as_given, upper);
    }

    #[test]
    fn everything_else_goes_anywhere() {
        for (path, query) in [
            ("/api/v1/devices", None),
            ("/api/v1/devices/stats", None),
            ("/api/v1/health", None),
            ("/api/v1/amt/power/state/1", None),
            ("/api/v1/amt/power/state/test-guid-123", None),
            ("/relay/webrelay.ashx", Some("p=2&host=not-a-guid")),
            ("/relay/webrelay.ashx", None),
            ("/", None),
        ] {
            assert_eq!(classify(path, query), Target::Any, "{path}");
        }
    }
}
