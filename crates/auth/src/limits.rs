//! Limits on what an API key may do: which kinds of operation, and on which
//! key ids. A key without limits may do everything.

use std::fmt;

use serde::{Deserialize, Serialize};

/// A kind of operation an API key can be allowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Permission {
    /// Generating keys, certificates and PKI trees, and signing UEFI variables.
    Create,
    /// Signing payloads with existing keys.
    Sign,
    /// Exporting and importing the whole store.
    Backup,
}

impl Permission {
    /// Parses `create`, `sign` or `backup`.
    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "create" => Some(Self::Create),
            "sign" => Some(Self::Sign),
            "backup" => Some(Self::Backup),
            _ => None,
        }
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Create => "create",
            Self::Sign => "sign",
            Self::Backup => "backup",
        })
    }
}

/// The key ids an operation touches.
#[derive(Clone, Copy, Debug)]
pub enum KeyScope<'a> {
    /// Keys named by the request.
    Ids(&'a [&'a str]),
    /// A key whose id the server chooses, or every key in the store; only
    /// an API key without key limits, or with the pattern `*`, may do this.
    Unnamed,
}

/// Limits of one API key.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// Allowed operations; `None` allows all.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow: Option<Vec<Permission>>,
    /// Key id patterns, where `*` matches any run of characters and `?` one
    /// character; `None` allows all keys.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keys: Option<Vec<String>>,
}

/// Reason an operation is outside an API key's limits.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct Denied(pub String);

impl Limits {
    /// True when the key may do everything.
    pub fn is_unlimited(&self) -> bool {
        self.allow.is_none() && self.keys.is_none()
    }

    /// Checks that `permission` on `scope` is within these limits.
    pub fn check(&self, permission: Permission, scope: KeyScope<'_>) -> Result<(), Denied> {
        if let Some(allowed) = &self.allow {
            if !allowed.contains(&permission) {
                return Err(Denied(format!("this API key may not {permission}")));
            }
        }

        let Some(patterns) = &self.keys else {
            return Ok(());
        };
        match scope {
            KeyScope::Ids(ids) => {
                for id in ids {
                    if !patterns.iter().any(|pattern| matches_pattern(pattern, id)) {
                        return Err(Denied(format!("this API key may not use key '{id}'")));
                    }
                }
                Ok(())
            }
            KeyScope::Unnamed if patterns.iter().any(|pattern| pattern == "*") => Ok(()),
            KeyScope::Unnamed => Err(Denied(
                "this API key is limited to named keys, so it may not create server-named keys or touch the whole store"
                    .into(),
            )),
        }
    }

    /// Short description for `api-key list` and logs.
    pub fn describe(&self) -> String {
        let allow = match &self.allow {
            Some(permissions) => permissions
                .iter()
                .map(Permission::to_string)
                .collect::<Vec<_>>()
                .join(","),
            None => "all operations".into(),
        };
        let keys = match &self.keys {
            Some(patterns) => patterns.join(","),
            None => "all keys".into(),
        };
        format!("{allow} on {keys}")
    }
}

/// Matches `text` against a pattern with `*` (any run) and `?` (one character).
pub fn matches_pattern(pattern: &str, text: &str) -> bool {
    let pattern: Vec<char> = pattern.chars().collect();
    let text: Vec<char> = text.chars().collect();

    // Iterative wildcard matching with one backtrack point: the most recent
    // `*` and the text position it was tried at.
    let (mut p, mut t) = (0usize, 0usize);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        match pattern.get(p) {
            Some('*') => {
                star = Some((p, t));
                p += 1;
            }
            Some(&c) if c == '?' || Some(&c) == text.get(t) => {
                p += 1;
                t += 1;
            }
            _ => match star {
                Some((star_p, star_t)) => {
                    p = star_p + 1;
                    t = star_t + 1;
                    star = Some((star_p, star_t + 1));
                }
                None => return false,
            },
        }
    }
    pattern.get(p..).is_some_and(|rest| rest.iter().all(|c| *c == '*'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pattern_matching() {
        let cases = [
            ("balenaos-*", "balenaos-db", true),
            ("balenaos-*", "balenaos-", true),
            ("balenaos-*", "other-db", false),
            ("*-db", "fleet-db", true),
            ("a?c", "abc", true),
            ("a?c", "ac", false),
            ("*", "", true),
            ("a*b*c", "axxbyyc", true),
            ("a*b*c", "axxbyy", false),
            ("exact", "exact", true),
            ("exact", "exactly", false),
        ];
        for (pattern, text, expected) in cases {
            assert_eq!(matches_pattern(pattern, text), expected, "{pattern} ~ {text}");
        }
    }

    #[test]
    fn unlimited_allows_everything() {
        let limits = Limits::default();
        assert!(limits.check(Permission::Backup, KeyScope::Unnamed).is_ok());
        assert!(limits.check(Permission::Sign, KeyScope::Ids(&["x"])).is_ok());
    }

    #[test]
    fn operation_limits() {
        let limits = Limits {
            allow: Some(vec![Permission::Sign]),
            keys: None,
        };
        assert!(limits.check(Permission::Sign, KeyScope::Ids(&["x"])).is_ok());
        assert!(limits.check(Permission::Create, KeyScope::Ids(&["x"])).is_err());
        assert!(limits.check(Permission::Backup, KeyScope::Unnamed).is_err());
    }

    #[test]
    fn key_limits() {
        let limits = Limits {
            allow: None,
            keys: Some(vec!["balenaos-*".into()]),
        };
        assert!(limits.check(Permission::Sign, KeyScope::Ids(&["balenaos-db"])).is_ok());
        assert!(limits
            .check(Permission::Sign, KeyScope::Ids(&["balenaos-db", "other"]))
            .is_err());
        assert!(limits.check(Permission::Create, KeyScope::Unnamed).is_err());
    }
}
