//! Linux kernel module signatures.

use balena_sign_auth::{KeyScope, Permission};
use balena_sign_formats::kmod::{self, ModuleSignatureError};

use crate::operation::{payload_digest, Operation};
use crate::{check_id, RequestContext, Service, ServiceError};

impl Service {
    /// Appends a SHA-512 module signature made with certificate `key_id`, as
    /// the kernel's `sign-file` does.
    pub fn sign_kernel_module(
        &self,
        context: &RequestContext,
        key_id: &str,
        module: &[u8],
    ) -> Result<Vec<u8>, ServiceError> {
        check_id("key_id", key_id)?;
        let operation = Operation {
            name: "kmod.sign",
            permission: Permission::Sign,
            scope: KeyScope::Ids(&[key_id]),
            key_id: Some(key_id),
            payload_sha256: Some(payload_digest(module)),
            payload_len: module.len(),
        };

        self.perform(context, operation, || {
            let cert_der = self.certificate_der("key_id", key_id)?;
            let signer = self.certificates.signer(key_id)?;
            let signed = kmod::sign_module(module, &cert_der, signer.as_ref()).map_err(|err| match err {
                ModuleSignatureError::AlreadySigned | ModuleSignatureError::NotElf => ServiceError::InvalidField {
                    field: "payload",
                    reason: err.to_string(),
                },
                other => ServiceError::Internal(other.to_string()),
            })?;
            tracing::info!(key_id, len = module.len(), "signed kernel module");
            Ok(signed)
        })
    }
}
