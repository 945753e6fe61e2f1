use balena_sign_keystore::StoreError;

/// Failures of a service operation.
#[derive(Debug, thiserror::Error)]
// Exhaustive on purpose: the HTTP layer maps every variant explicitly.
pub enum ServiceError {
    /// A request field is invalid, and `reason` states what to fix.
    #[error("invalid {field}: {reason}")]
    InvalidField { field: &'static str, reason: String },
    #[error("{kind} '{id}' not found")]
    NotFound { kind: &'static str, id: String },
    /// Like `NotFound`, with a hint on how to name the item.
    #[error("{kind} '{id}' not found; {hint}")]
    NotFoundWithHint {
        kind: &'static str,
        id: String,
        hint: &'static str,
    },
    #[error("{kind} '{id}' already exists")]
    AlreadyExists { kind: &'static str, id: String },
    /// The request conflicts with stored material, as the message explains.
    #[error("{0}")]
    Conflict(String),
    /// A secret in the request (a backup passphrase) is wrong.
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    /// The caller's API key limits do not allow the operation.
    #[error("forbidden: {0}")]
    Forbidden(String),
    /// The audit record could not be written, so the result is withheld.
    #[error("audit log unavailable")]
    AuditUnavailable,
    /// A failure the caller cannot fix; the details are for the log only.
    #[error("internal error: {0}")]
    Internal(String),
}

impl ServiceError {
    /// Stable code of the error, as recorded in the audit log and sent to clients.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidField { .. } => "INVALID_FIELD",
            Self::NotFound { .. } | Self::NotFoundWithHint { .. } => "NOT_FOUND",
            Self::AlreadyExists { .. } | Self::Conflict(_) => "ALREADY_EXISTS",
            Self::Unauthorized(_) => "UNAUTHORIZED",
            Self::Forbidden(_) => "FORBIDDEN",
            Self::AuditUnavailable => "AUDIT_UNAVAILABLE",
            Self::Internal(_) => "INTERNAL",
        }
    }
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
