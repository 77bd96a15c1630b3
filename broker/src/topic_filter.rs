//! MQTT topic filter matching (`+` one level, `#` the rest), shared by the ACL and the bus's dispatch.

/// Does `topic` match `filter`? A `$share/<group>/` prefix on the filter is ignored.
pub fn matches(filter: &str, topic: &str) -> bool {
    let filter = strip_share(filter);
    // Topics starting with '$' are not matched by filters starting with a wildcard (MQTT 4.7.2).
    if topic.starts_with('$') && (filter.starts_with('+') || filter.starts_with('#')) {
        return false;
    }
    let mut topic_levels = topic.split('/');
    for level in filter.split('/') {
        match level {
            "#" => return true,
            "+" => {
                if topic_levels.next().is_none() {
                    return false;
                }
            }
            literal => {
                if topic_levels.next() != Some(literal) {
                    return false;
                }
            }
        }
    }
    topic_levels.next().is_none()
}

/// The filter without a shared-subscription prefix.
pub fn strip_share(filter: &str) -> &str {
    filter
        .strip_prefix("$share/")
        .and_then(|rest| rest.split_once('/').map(|(_, f)| f))
        .unwrap_or(filter)
}

/// Is every topic `inner` can match also matched by `outer`? Used to decide whether a subscription filter
/// stays within what an ACL rule allows.
pub fn covers(outer: &str, inner: &str) -> bool {
    let mut inner_levels = strip_share(inner).split('/');
    for level in strip_share(outer).split('/') {
        match (level, inner_levels.next()) {
            ("#", _) => return true,
            (_, None) => return false,
            ("+", Some("#")) => return false,
            ("+", Some(_)) => {}
            (literal, Some(other)) => {
                if literal != other {
                    return false;
                }
            }
        }
    }
    inner_levels.next().is_none()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wildcards() {
        assert!(matches("a/+/c", "a/b/c"));
        assert!(!matches("a/+/c", "a/b/d"));
        assert!(!matches("a/+", "a/b/c"));
        assert!(matches("a/#", "a/b/c"));
        assert!(matches("a/#", "a"));
        assert!(matches("#", "a/b"));
        assert!(!matches("#", "$SYS/x"));
        assert!(matches("$share/g/a/+", "a/b"));
        assert!(matches("a/b", "a/b"));
        assert!(!matches("a/b", "a/b/c"));
        assert!(!matches("a/b/c", "a/b"));
    }

    #[test]
    fn coverage() {
        assert!(covers("openamt/v1/#", "openamt/v1/events/devices/+/+"));
        assert!(covers(
            "openamt/v1/events/devices/+/+",
            "openamt/v1/events/devices/x/connected"
        ));
        assert!(!covers("openamt/v1/events/devices/+/+", "openamt/v1/#"));
        assert!(!covers(
            "openamt/v1/devices/+/presence",
            "openamt/v1/devices/#"
        ));
        assert!(covers("a/+", "a/+"));
        assert!(!covers("a/b", "a/+"));
    }
}
