//! The one place where failures become HTTP responses.
//!
//! Every error responds with `{"error": "...", "code": "..."}` and, when a
//! request field is at fault, `"field"`. Internal failures are logged with
//! their detail where they are converted. The client gets a short message and
//! the request id in the `x-request-id` header, never a path, key or secret.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use balena_sign_auth::AuthError;
use balena_sign_service::ServiceError;
use serde_json::json;

/// Maximum length of an error message sent to a client, so that a huge
/// invalid input is not echoed back.
const MAX_MESSAGE_LEN: usize = 512;

/// An error response of the API.
#[derive(Debug)]
#[non_exhaustive]
pub enum ApiError {
    /// A field of the JSON body is missing, of the wrong type or invalid.
    InvalidField {
        field: String,
        reason: String,
    },
    /// The body is not a JSON object of the expected shape.
    InvalidBody {
        reason: String,
    },
    /// The body is not declared as `application/json`.
    UnsupportedMediaType,
    MissingApiKey,
    InvalidApiKey,
    /// A secret in the body, such as a backup passphrase, is wrong.
    Unauthorized {
        reason: String,
    },
    /// The API key could not be checked (balenaCloud unreachable).
    AuthUnavailable,
    NotFound {
        kind: &'static str,
        id: String,
        /// How to name the item, when the id was of the wrong form.
        hint: Option<&'static str>,
    },
    RouteNotFound,
    MethodNotAllowed,
    AlreadyExists {
        kind: &'static str,
        id: String,
    },
    /// The request conflicts with stored material.
    Conflict {
        message: String,
    },
    /// The API key's limits do not allow the operation.
    Forbidden {
        reason: String,
    },
    /// The audit record could not be written, so no result is returned.
    AuditUnavailable,
    PayloadTooLarge {
        limit: usize,
    },
    /// A failure the client cannot fix; already logged.
    Internal,
}

impl ApiError {
    /// Logs an internal failure with its detail and returns the generic error.
    pub fn internal(detail: impl std::fmt::Display) -> Self {
        tracing::error!(error = %detail, "internal error");
        Self::Internal
    }

    fn status(&self) -> StatusCode {
        match self {
            Self::InvalidField { .. } | Self::InvalidBody { .. } => StatusCode::BAD_REQUEST,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::MissingApiKey | Self::InvalidApiKey | Self::Unauthorized { .. } => StatusCode::UNAUTHORIZED,
            Self::AuthUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::NotFound { .. } | Self::RouteNotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::AlreadyExists { .. } | Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::Forbidden { .. } => StatusCode::FORBIDDEN,
            Self::AuditUnavailable => StatusCode::SERVICE_UNAVAILABLE,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Stable machine-readable code of the error.
    pub fn code(&self) -> &'static str {
        match self {
            Self::InvalidField { .. } => "INVALID_FIELD",
            Self::InvalidBody { .. } => "INVALID_BODY",
            Self::UnsupportedMediaType => "UNSUPPORTED_MEDIA_TYPE",
            Self::MissingApiKey => "MISSING_API_KEY",
            Self::InvalidApiKey => "INVALID_API_KEY",
            Self::Unauthorized { .. } => "UNAUTHORIZED",
            Self::AuthUnavailable => "AUTH_UNAVAILABLE",
            Self::NotFound { .. } => "NOT_FOUND",
            Self::RouteNotFound => "ROUTE_NOT_FOUND",
            Self::MethodNotAllowed => "METHOD_NOT_ALLOWED",
            Self::AlreadyExists { .. } | Self::Conflict { .. } => "ALREADY_EXISTS",
            Self::Forbidden { .. } => "FORBIDDEN",
            Self::AuditUnavailable => "AUDIT_UNAVAILABLE",
            Self::PayloadTooLarge { .. } => "PAYLOAD_TOO_LARGE",
            Self::Internal => "INTERNAL",
        }
    }

    fn message(&self) -> String {
        match self {
            Self::InvalidField { field, reason } => format!("invalid field `{field}`: {reason}"),
            Self::InvalidBody { reason } => format!("invalid request body: {reason}"),
            Self::UnsupportedMediaType => "the request body must be JSON with `Content-Type: application/json`".into(),
            Self::MissingApiKey => "missing X-API-Key header".into(),
            Self::InvalidApiKey => "invalid API key".into(),
            Self::Unauthorized { reason } => reason.clone(),
            Self::AuthUnavailable => "cannot check the API key now; try again later".into(),
            Self::NotFound { kind, id, hint: None } => format!("{kind} '{id}' not found"),
            Self::NotFound {
                kind,
                id,
                hint: Some(hint),
            } => format!("{kind} '{id}' not found; {hint}"),
            Self::RouteNotFound => "no such endpoint".into(),
            Self::MethodNotAllowed => "method not allowed on this endpoint".into(),
            Self::AlreadyExists { kind, id } => format!("{kind} '{id}' already exists"),
            Self::Conflict { message } => message.clone(),
            Self::Forbidden { reason } => format!("forbidden: {reason}"),
            Self::AuditUnavailable => {
                "the audit log cannot be written, so the request was not carried out; the server log has the details"
                    .into()
            }
            Self::PayloadTooLarge { limit } => format!("request body is larger than the limit of {limit} bytes"),
            Self::Internal => "internal error; the server log has the details".into(),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let mut message = self.message();
        if message.len() > MAX_MESSAGE_LEN {
            let mut end = MAX_MESSAGE_LEN;
            while !message.is_char_boundary(end) {
                end -= 1;
            }
            message.truncate(end);
            message.push_str("...");
        }

        let mut body = json!({ "error": message, "code": self.code() });
        if let Self::InvalidField { field, .. } = &self {
            body["field"] = json!(field);
        }
        (self.status(), Json(body)).into_response()
    }
}

impl From<ServiceError> for ApiError {
    fn from(err: ServiceError) -> Self {
        match err {
            ServiceError::InvalidField { field, reason } => Self::InvalidField {
                field: field.to_owned(),
                reason,
            },
            ServiceError::NotFound { kind, id } => Self::NotFound { kind, id, hint: None },
            ServiceError::NotFoundWithHint { kind, id, hint } => Self::NotFound {
                kind,
                id,
                hint: Some(hint),
            },
            ServiceError::AlreadyExists { kind, id } => Self::AlreadyExists { kind, id },
            ServiceError::Conflict(message) => Self::Conflict { message },
            ServiceError::Forbidden(reason) => Self::Forbidden { reason },
            ServiceError::Unauthorized(reason) => Self::Unauthorized { reason },
            ServiceError::AuditUnavailable => Self::AuditUnavailable,
            ServiceError::Internal(detail) => Self::internal(detail),
        }
    }
}

impl From<AuthError> for ApiError {
    fn from(err: AuthError) -> Self {
        match err {
            AuthError::Missing => Self::MissingApiKey,
            AuthError::Rejected => Self::InvalidApiKey,
            AuthError::Unavailable(detail) => {
                tracing::error!(error = %detail, "API key check unavailable");
                Self::AuthUnavailable
            }
        }
    }
}
