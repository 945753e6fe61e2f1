//! Ids that name stored material. An id becomes part of a file name, so it
//! must never be able to name anything outside its folder.

/// Maximum id length in bytes.
pub const MAX_ID_LEN: usize = 128;

/// Reason an id was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum IdError {
    #[error("must not be empty")]
    Empty,
    #[error("must be at most {MAX_ID_LEN} bytes, got {0}")]
    TooLong(usize),
    #[error("must not start with '.'")]
    LeadingDot,
    #[error("must not contain '..'")]
    DotDot,
    #[error("must not contain '/' or '\\'")]
    Separator,
    #[error("must not contain ',', which separates ids in /secureboot paths")]
    Comma,
    #[error("must not contain NUL or control characters")]
    Control,
}

/// Checks that `id` is a safe single path component.
pub fn validate_id(id: &str) -> Result<(), IdError> {
    if id.is_empty() {
        return Err(IdError::Empty);
    }
    if id.len() > MAX_ID_LEN {
        return Err(IdError::TooLong(id.len()));
    }
    if id.chars().any(char::is_control) {
        return Err(IdError::Control);
    }
    if id.contains(['/', '\\']) {
        return Err(IdError::Separator);
    }
    if id.starts_with('.') {
        return Err(IdError::LeadingDot);
    }
    if id.contains("..") {
        return Err(IdError::DotDot);
    }
    if id.contains(',') {
        return Err(IdError::Comma);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_usual_ids() {
        for id in ["balenaos-pk", "fixa_db.2024", "b795e44e612988a06fe6b25ed61c61ae", "a.b"] {
            assert_eq!(validate_id(id), Ok(()), "{id}");
        }
    }

    #[test]
    fn rejects_unsafe_ids() {
        let long = "a".repeat(MAX_ID_LEN + 1);
        let cases: &[(&str, IdError)] = &[
            ("", IdError::Empty),
            (&long, IdError::TooLong(MAX_ID_LEN + 1)),
            (".hidden", IdError::LeadingDot),
            ("..", IdError::LeadingDot),
            ("a..b", IdError::DotDot),
            ("a/b", IdError::Separator),
            ("a\\b", IdError::Separator),
            ("a\0b", IdError::Control),
            ("a\nb", IdError::Control),
            ("a\u{7f}", IdError::Control),
            ("a,b", IdError::Comma),
        ];
        for (id, expected) in cases {
            assert_eq!(validate_id(id).unwrap_err(), *expected, "{id:?}");
        }
    }
}
