//! Raspberry Pi secure-boot keys and rpi-eeprom digest files.

use balena_sign_crypto::{RsaKeySize, RsaPrivateKey};
use balena_sign_formats::{rpi_eeprom, HashAlgorithm, Signer};
use md5::{Digest, Md5};

use balena_sign_auth::{KeyScope, Permission};

use crate::operation::{payload_digest, CreatedId, Operation};
use crate::{check_id, RequestContext, Service, ServiceError};

/// The boot ROM verifies only RSA-2048 signatures.
pub const RPI_KEY_BITS: u32 = 2048;

impl Service {
    /// Generates an RSA-2048 key and returns its id: the MD5 of its private
    /// PEM in lower-case hex, as the older service names keys.
    pub fn create_rsa_key(&self, context: &RequestContext) -> Result<String, ServiceError> {
        let operation = Operation {
            name: "rsa.create",
            permission: Permission::Create,
            scope: KeyScope::Unnamed,
            key_id: None,
            payload_sha256: None,
            payload_len: 0,
        };
        let created = self.perform_with_undo(
            context,
            operation,
            || self.create_rsa_key_unchecked().map(CreatedId),
            |created| {
                if let Err(err) = self.rsa_keys.remove(&created.0) {
                    tracing::error!(key_id = %created.0, error = %err, "cannot remove an unaudited RSA key");
                }
            },
        )?;
        Ok(created.0)
    }

    fn create_rsa_key_unchecked(&self) -> Result<String, ServiceError> {
        let (key, private_pem) =
            RsaPrivateKey::generate(RsaKeySize::Rsa2048).map_err(|err| ServiceError::Internal(err.to_string()))?;
        let public_pem = key
            .public_key_pem()
            .map_err(|err| ServiceError::Internal(err.to_string()))?;
        let id = hex::encode(Md5::digest(private_pem.as_bytes()));

        self.rsa_keys.create(&id, &private_pem, public_pem.as_bytes())?;
        tracing::info!(key_id = %id, "created RSA key");
        Ok(id)
    }

    /// Ids of all RSA keys, sorted.
    pub fn rsa_key_ids(&self) -> Result<Vec<String>, ServiceError> {
        Ok(self.rsa_keys.list()?)
    }

    /// Returns the PEM public key of RSA key `id`.
    pub fn rsa_public_key(&self, id: &str) -> Result<String, ServiceError> {
        check_id("id", id)?;
        Ok(self.rsa_keys.public_text(id)?)
    }

    /// Signs `payload` with RSA key `key_id` and returns the rpi-eeprom
    /// digest file, stamped with the current time.
    pub fn rsa_sign(&self, context: &RequestContext, key_id: &str, payload: &[u8]) -> Result<String, ServiceError> {
        check_id("key_id", key_id)?;
        let digest = payload_digest(payload);
        let operation = Operation {
            name: "rsa.sign",
            permission: Permission::Sign,
            scope: KeyScope::Ids(&[key_id]),
            key_id: Some(key_id),
            payload_sha256: Some(digest),
            payload_len: payload.len(),
        };

        self.perform(context, operation, || {
            let key = self.rsa_keys.signer(key_id)?;
            let signature = key
                .sign_digest(HashAlgorithm::Sha256, &digest)
                .map_err(|err| ServiceError::Internal(err.to_string()))?;

            let timestamp = self.clock.now_unix();
            tracing::info!(key_id, digest = %hex::encode(digest), "signed Raspberry Pi image");
            Ok(rpi_eeprom::digest_file(&digest, timestamp, &signature))
        })
    }
}
