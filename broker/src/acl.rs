//! Mosquitto's ACL file format, read by the embedded broker too, so one file states who may publish and
//! subscribe where in both ways of running.
//!
//! ```text
//! user <name>                        following `topic` lines apply to <name>
//! topic [read|write|readwrite|deny] <filter>
//! pattern [read|write|readwrite|deny] <filter with %u (user name) and %c (client id)>   for every user
//! ```

use crate::topic_filter;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Grant {
    Read,
    Write,
    ReadWrite,
    Deny,
}

impl Grant {
    fn allows(self, access: Access) -> bool {
        matches!(
            (self, access),
            (Grant::ReadWrite, _) | (Grant::Read, Access::Read) | (Grant::Write, Access::Write)
        )
    }
}

#[derive(Clone, Debug)]
struct Rule {
    grant: Grant,
    filter: String,
}

/// A parsed ACL.
#[derive(Clone, Debug, Default)]
pub struct Acl {
    /// (user, rule); `None` = rules before any `user` line (anonymous clients).
    topics: Vec<(Option<String>, Rule)>,
    patterns: Vec<Rule>,
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("ACL line {line}: {problem}")]
pub struct AclError {
    pub line: usize,
    pub problem: String,
}

impl Acl {
    pub fn parse(text: &str) -> Result<Acl, AclError> {
        let mut acl = Acl::default();
        let mut user = None;
        for (index, raw) in text.lines().enumerate() {
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let error = |problem: &str| AclError {
                line: index + 1,
                problem: problem.to_owned(),
            };
            let (keyword, rest) = line.split_once(char::is_whitespace).unwrap_or((line, ""));
            let rest = rest.trim();
            match keyword {
                "user" if !rest.is_empty() => user = Some(rest.to_owned()),
                "topic" | "pattern" => {
                    let (grant, filter) = match rest.split_once(char::is_whitespace) {
                        Some(("read", f)) => (Grant::Read, f),
                        Some(("write", f)) => (Grant::Write, f),
                        Some(("readwrite", f)) => (Grant::ReadWrite, f),
                        Some(("deny", f)) => (Grant::Deny, f),
                        // Mosquitto: a bare filter means readwrite.
                        _ => (Grant::ReadWrite, rest),
                    };
                    let filter = filter.trim();
                    if filter.is_empty() {
                        return Err(error("missing topic"));
                    }
                    let rule = Rule {
                        grant,
                        filter: filter.to_owned(),
                    };
                    if keyword == "topic" {
                        acl.topics.push((user.clone(), rule));
                    } else {
                        acl.patterns.push(rule);
                    }
                }
                _ => return Err(error(&format!("unknown line {line:?}"))),
            }
        }
        Ok(acl)
    }

    fn rules_for<'a>(
        &'a self,
        user: Option<&'a str>,
        client_id: &'a str,
    ) -> impl Iterator<Item = (Grant, String)> + 'a {
        let own = self
            .topics
            .iter()
            .filter(move |(u, _)| u.as_deref() == user)
            .map(|(_, rule)| (rule.grant, rule.filter.clone()));
        let patterns = self.patterns.iter().map(move |rule| {
            let filter = rule
                .filter
                .replace("%u", user.unwrap_or(""))
                .replace("%c", client_id);
            (rule.grant, filter)
        });
        own.chain(patterns)
    }

    /// May `user` publish to (Write) or receive from (Read) `topic`? A matching `deny` wins.
    pub fn check_topic(
        &self,
        user: Option<&str>,
        client_id: &str,
        topic: &str,
        access: Access,
    ) -> bool {
        let mut allowed = false;
        for (grant, filter) in self.rules_for(user, client_id) {
            if topic_filter::matches(&filter, topic) {
                if grant == Grant::Deny {
                    return false;
                }
                allowed |= grant.allows(access);
            }
        }
        allowed
    }

    /// May `user` subscribe to `filter`? Only when one rule's filter covers all of it.
    pub fn check_subscription(&self, user: Option<&str>, client_id: &str, filter: &str) -> bool {
        let mut allowed = false;
        for (grant, rule) in self.rules_for(user, client_id) {
            if grant == Grant::Deny && topic_filter::covers(&rule, filter) {
                return false;
            }
            allowed |= grant.allows(Access::Read) && topic_filter::covers(&rule, filter);
        }
        allowed
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ACL: &str = "
        # comment
        user dashboard
        topic read openamt/v1/#
        topic deny openamt/v1/secret/#

        user mps
        topic write openamt/v1/events/devices/+/connected
        topic readwrite openamt/v1/mps/+/status

        pattern read openamt/v1/replies/%c
    ";

    #[test]
    fn read_only_user_cannot_write() {
        let acl = Acl::parse(ACL).unwrap();
        let t = "openamt/v1/commands/devices/x/power";
        assert!(acl.check_topic(Some("dashboard"), "c", t, Access::Read));
        assert!(!acl.check_topic(Some("dashboard"), "c", t, Access::Write));
        assert!(!acl.check_topic(Some("dashboard"), "c", "openamt/v1/secret/a", Access::Read));
        assert!(acl.check_subscription(Some("dashboard"), "c", "openamt/v1/#"));
        assert!(!acl.check_subscription(Some("dashboard"), "c", "#"));
    }

    #[test]
    fn users_only_get_their_own_rules_plus_patterns() {
        let acl = Acl::parse(ACL).unwrap();
        assert!(acl.check_topic(
            Some("mps"),
            "m",
            "openamt/v1/events/devices/g/connected",
            Access::Write
        ));
        assert!(!acl.check_topic(
            Some("mps"),
            "m",
            "openamt/v1/events/devices/g/connected",
            Access::Read
        ));
        assert!(acl.check_topic(Some("mps"), "m", "openamt/v1/replies/m", Access::Read));
        assert!(!acl.check_topic(Some("mps"), "m", "openamt/v1/replies/other", Access::Read));
        assert!(!acl.check_topic(None, "x", "openamt/v1/mps/a/status", Access::Read));
        assert!(!acl.check_topic(
            Some("stranger"),
            "x",
            "openamt/v1/mps/a/status",
            Access::Read
        ));
    }

    #[test]
    fn rejects_unknown_lines() {
        assert_eq!(Acl::parse("frobnicate all").unwrap_err().line, 1);
        assert!(Acl::parse("topic").is_err());
    }

    #[test]
    fn the_shipped_acl_parses() {
        Acl::parse(include_str!("../mosquitto/acl")).unwrap();
    }
}
