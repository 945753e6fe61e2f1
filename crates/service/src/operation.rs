//! Every operation on key material runs through [`Service::perform`]: it
//! checks the caller's API key limits, runs the work, and writes the audit
//! record before the result may leave the server.

use balena_sign_auth::{Caller, KeyScope, Permission};
use sha2::{Digest, Sha256};

use crate::audit::AuditEvent;
use crate::{Service, ServiceError};

/// The caller and request of an operation.
#[derive(Clone, Debug)]
pub struct RequestContext {
    pub request_id: String,
    pub caller: Caller,
}

impl RequestContext {
    /// Creates a context for operations started from the command line.
    pub fn operator(request_id: impl Into<String>) -> Self {
        Self {
            request_id: request_id.into(),
            caller: Caller::operator(format!(
                "cli:{}",
                std::env::var("USER").unwrap_or_else(|_| "unknown".into())
            )),
        }
    }
}

/// Description of an operation for authorization and audit.
pub(crate) struct Operation<'a> {
    /// Audit name such as `cert.sign`.
    pub(crate) name: &'static str,
    pub(crate) permission: Permission,
    pub(crate) scope: KeyScope<'a>,
    /// Key the operation uses or creates, when the request names it.
    pub(crate) key_id: Option<&'a str>,
    /// SHA-256 of the request payload, or the digest a client sent to be
    /// signed.
    pub(crate) payload_sha256: Option<[u8; 32]>,
    /// Length of the signed payload, for the signed-bytes metric.
    pub(crate) payload_len: usize,
}

/// Result details that the audit record stores for an operation.
pub(crate) trait AuditOutput {
    /// Bytes whose SHA-256 is recorded as `output_sha256`.
    fn output_bytes(&self) -> Option<&[u8]>;

    /// Id of a key the operation created when the server chose it.
    fn created_key_id(&self) -> Option<&str> {
        None
    }
}

impl AuditOutput for Vec<u8> {
    fn output_bytes(&self) -> Option<&[u8]> {
        Some(self)
    }
}

impl AuditOutput for String {
    fn output_bytes(&self) -> Option<&[u8]> {
        Some(self.as_bytes())
    }
}

/// The id of a key the server named.
pub(crate) struct CreatedId(pub(crate) String);

impl AuditOutput for CreatedId {
    fn output_bytes(&self) -> Option<&[u8]> {
        None
    }

    fn created_key_id(&self) -> Option<&str> {
        Some(&self.0)
    }
}

impl Service {
    /// Checks limits, runs `work` and records the outcome; returns the work's
    /// result only after its audit record is on disk.
    pub(crate) fn perform<T: AuditOutput>(
        &self,
        context: &RequestContext,
        operation: Operation<'_>,
        work: impl FnOnce() -> Result<T, ServiceError>,
    ) -> Result<T, ServiceError> {
        self.perform_with_undo(context, operation, work, |_| {})
    }

    /// Like [`Service::perform`], for operations that create material: when
    /// the audit record cannot be written, `undo` removes what `work` made,
    /// so nothing exists that the log does not show.
    pub(crate) fn perform_with_undo<T: AuditOutput>(
        &self,
        context: &RequestContext,
        operation: Operation<'_>,
        work: impl FnOnce() -> Result<T, ServiceError>,
        undo: impl FnOnce(&T),
    ) -> Result<T, ServiceError> {
        let mut event = AuditEvent {
            request_id: context.request_id.clone(),
            caller: context.caller.identity.clone(),
            operation: operation.name.to_owned(),
            key_id: operation.key_id.map(str::to_owned),
            payload_sha256: operation.payload_sha256.map(hex::encode),
            output_sha256: None,
            result: String::new(),
        };

        if let Err(denied) = context.caller.limits.check(operation.permission, operation.scope) {
            let err = ServiceError::Forbidden(denied.0);
            event.result = err.code().to_owned();
            tracing::warn!(caller = %context.caller.identity, operation = operation.name, reason = %err, "operation outside API key limits");
            self.record(event)?;
            return Err(err);
        }

        let outcome = work();
        match &outcome {
            Ok(value) => {
                event.output_sha256 = value.output_bytes().map(sha256_hex);
                if let Some(id) = value.created_key_id() {
                    event.key_id = Some(id.to_owned());
                }
                event.result = "ok".into();
            }
            Err(err) => event.result = err.code().to_owned(),
        }
        if let Err(err) = self.record(event) {
            if let Ok(value) = &outcome {
                undo(value);
            }
            return Err(err);
        }
        if outcome.is_ok() && operation.permission == Permission::Sign {
            self.metrics
                .record_signature(operation.name, operation.key_id.unwrap_or("-"), operation.payload_len);
        }
        outcome
    }

    /// Records a request whose API key was missing or rejected.
    pub fn record_rejected_authentication(&self, request_id: &str, code: &str) {
        let event = AuditEvent {
            request_id: request_id.to_owned(),
            caller: "unauthenticated".into(),
            operation: "auth".into(),
            result: code.to_owned(),
            ..AuditEvent::default()
        };
        // The request is refused either way; a failed record is only logged.
        let _ = self.record(event);
    }

    fn record(&self, event: AuditEvent) -> Result<(), ServiceError> {
        self.audit.record(event).map_err(|err| {
            tracing::error!(error = %err, "audit record not written; withholding the result");
            ServiceError::AuditUnavailable
        })
    }
}

fn sha256_hex(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// SHA-256 of a request payload, for [`Operation::payload_sha256`].
pub(crate) fn payload_digest(payload: &[u8]) -> [u8; 32] {
    Sha256::digest(payload).into()
}
