use balena_sign_keystore::StoreError;

/// Failures of a service operation.
#[derive(Debug, thiserror::Error)]
// Exhaustive on purpose: the HTTP layer maps every variant explicitly.
pub enum ServiceError {
    /// A request field is invalid; `reason` says what to fix.
    #[error("invalid {field}: {reason}")]
    InvalidField { field: &'static str, reason: String },
    #[error("{kind} '{id}' not found")]
    NotFound { kind: &'static str, id: String },
    #[error("{kind} '{id}' already exists")]
    AlreadyExists { kind: &'static str, id: String },
    /// A failure the caller cannot fix; the details are for the log only.
    #[error("internal error: {0}")]
    Internal(String),
}

impl From<StoreError> for ServiceError {
    fn from(err: StoreError) -> Self {
        match err {
            StoreError::NotFound { kind, id } => Self::NotFound { kind, id },
            StoreError::AlreadyExists { kind, id } => Self::AlreadyExists { kind, id },
            StoreError::InvalidId { kind, source } => Self::InvalidField {
                field: kind,
                reason: source.to_string(),
            },
            other => Self::Internal(other.to_string()),
        }
    }
}
