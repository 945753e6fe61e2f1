//! OpenPGP keys and detached signatures that GRUB verifies.
//!
//! Keys are RSA, version 4, certify and sign, without expiry or passphrase,
//! named by their upper-case fingerprint. Signatures are binary documents
//! (type 0x00) hashed with SHA-512, the first hash in GnuPG's preferences
//! for its own keys.

use balena_sign_auth::{KeyScope, Permission};
use balena_sign_crypto::{RsaKeySize, RsaPrivateKey};
use balena_sign_formats::openpgp::{self, PublicKey, TransferablePublicKey, UserId};
use balena_sign_formats::HashAlgorithm;

use crate::certificates::key_size_field;
use crate::operation::{payload_digest, CreatedId, Operation};
use crate::{check_id, RequestContext, Service, ServiceError};

/// Hash of every detached signature.
pub const SIGNATURE_HASH: HashAlgorithm = HashAlgorithm::Sha512;

/// Maximum length of a name, comment or e-mail address, in characters.
const MAX_USER_ID_PART: usize = 256;

/// A checked request for a new OpenPGP key.
#[derive(Debug)]
pub struct CreateOpenPgpKey {
    user_id: UserId,
    key_size: RsaKeySize,
}

impl CreateOpenPgpKey {
    /// Validates the fields of `POST /gpg/key`. The user id becomes
    /// `name_real (name_comment) <name_email>`, the comment part only when given.
    pub fn new(
        name_real: &str,
        name_email: &str,
        name_comment: Option<&str>,
        key_length: Option<u64>,
    ) -> Result<Self, ServiceError> {
        check_user_id_part("name_real", name_real, "<>()")?;
        check_user_id_part("name_email", name_email, "<>() ")?;
        if let Some(comment) = name_comment {
            if !comment.is_empty() {
                check_user_id_part("name_comment", comment, "<>()")?;
            }
        }
        if !is_plausible_email(name_email) {
            return Err(ServiceError::InvalidField {
                field: "name_email",
                reason: "must be an e-mail address such as name@example.com".into(),
            });
        }

        let user_id =
            UserId::from_parts(name_real, name_comment, name_email).map_err(|err| ServiceError::InvalidField {
                field: "name_real",
                reason: err.to_string(),
            })?;
        let key_size = key_size_field("key_length", key_length.unwrap_or(2048))?;
        Ok(Self { user_id, key_size })
    }
}

fn check_user_id_part(field: &'static str, value: &str, forbidden: &str) -> Result<(), ServiceError> {
    let invalid = |reason: String| Err(ServiceError::InvalidField { field, reason });
    if value.trim().is_empty() {
        return invalid("must not be empty".into());
    }
    if value.chars().count() > MAX_USER_ID_PART {
        return invalid(format!("must be at most {MAX_USER_ID_PART} characters"));
    }
    if value.chars().any(char::is_control) {
        return invalid("must not contain newlines or other control characters".into());
    }
    if let Some(c) = value.chars().find(|c| forbidden.contains(*c)) {
        return invalid(format!(
            "must not contain {c:?}, which would change how the user id is read"
        ));
    }
    Ok(())
}

fn is_plausible_email(email: &str) -> bool {
    match email.split_once('@') {
        Some((local, domain)) => !local.is_empty() && !domain.is_empty() && !domain.contains('@'),
        None => false,
    }
}

impl Service {
    /// Generates an OpenPGP key, stores it and returns its fingerprint.
    pub fn create_openpgp_key(
        &self,
        context: &RequestContext,
        request: CreateOpenPgpKey,
    ) -> Result<String, ServiceError> {
        let operation = Operation {
            name: "gpg.create",
            permission: Permission::Create,
            scope: KeyScope::Unnamed,
            key_id: None,
            payload_sha256: None,
            payload_len: 0,
        };
        let created = self.perform_with_undo(
            context,
            operation,
            || self.create_openpgp_key_unchecked(request).map(CreatedId),
            |created| {
                if let Err(err) = self.openpgp_keys.remove(&created.0) {
                    tracing::error!(fingerprint = %created.0, error = %err, "cannot remove an unaudited OpenPGP key");
                }
            },
        )?;
        Ok(created.0)
    }

    fn create_openpgp_key_unchecked(&self, request: CreateOpenPgpKey) -> Result<String, ServiceError> {
        let (key, private_pem) = RsaPrivateKey::generate(request.key_size).map_err(internal)?;
        let created = u32::try_from(self.clock.now_unix()).map_err(internal)?;
        let public_key = PublicKey::new_rsa(key.public_key(), created).map_err(internal)?;
        let transferable = TransferablePublicKey::certify(public_key, request.user_id, &key).map_err(internal)?;

        let fingerprint = transferable.fingerprint().to_string();
        self.openpgp_keys
            .create(&fingerprint, &private_pem, &transferable.to_bytes())?;
        tracing::info!(%fingerprint, bits = request.key_size.bits(), "created OpenPGP key");
        Ok(fingerprint)
    }

    /// Fingerprints of all OpenPGP keys, upper-case, sorted.
    pub fn openpgp_fingerprints(&self) -> Result<Vec<String>, ServiceError> {
        Ok(self.openpgp_keys.list()?)
    }

    /// Returns the ASCII-armored transferable public key `fingerprint`.
    pub fn openpgp_public_key(&self, field: &'static str, fingerprint: &str) -> Result<String, ServiceError> {
        let fingerprint = self.stored_fingerprint(field, fingerprint)?;
        let transferable = self.load_transferable(&fingerprint)?;
        Ok(transferable.to_armored())
    }

    /// Signs `payload` with key `fingerprint` and returns the binary detached
    /// signature, created now.
    pub fn openpgp_sign(
        &self,
        context: &RequestContext,
        fingerprint: &str,
        payload: &[u8],
    ) -> Result<Vec<u8>, ServiceError> {
        check_id("key_id", fingerprint)?;
        let normalized = fingerprint.to_ascii_uppercase();
        let operation = Operation {
            name: "gpg.sign",
            permission: Permission::Sign,
            scope: KeyScope::Ids(&[&normalized]),
            key_id: Some(&normalized),
            payload_sha256: Some(payload_digest(payload)),
            payload_len: payload.len(),
        };

        self.perform(context, operation, || {
            let fingerprint = self.stored_fingerprint("key_id", &normalized)?;
            let public_key = self.load_transferable(&fingerprint)?.primary_key().clone();
            let signer = self.openpgp_keys.signer(&fingerprint)?;
            let created = u32::try_from(self.clock.now_unix()).map_err(internal)?;
            let signature =
                openpgp::sign_binary_document(signer.as_ref(), &public_key, payload, SIGNATURE_HASH, created)
                    .map_err(internal)?;
            tracing::info!(%fingerprint, "signed with OpenPGP key");
            Ok(signature)
        })
    }

    /// Maps a request's fingerprint to a stored key. Only a full fingerprint
    /// names a key, in either case; a prefix or key id is not found.
    fn stored_fingerprint(&self, field: &'static str, fingerprint: &str) -> Result<String, ServiceError> {
        check_id(field, fingerprint)?;
        let normalized = fingerprint.to_ascii_uppercase();
        let is_full =
            normalized.len() == 2 * openpgp::FINGERPRINT_LEN && normalized.bytes().all(|b| b.is_ascii_hexdigit());
        if !is_full {
            return Err(ServiceError::NotFoundWithHint {
                kind: "OpenPGP key",
                id: fingerprint.to_owned(),
                hint: "name a key by its full 40-hex-digit fingerprint",
            });
        }
        if !self.openpgp_keys.exists(&normalized) {
            return Err(ServiceError::NotFound {
                kind: "OpenPGP key",
                id: fingerprint.to_owned(),
            });
        }
        Ok(normalized)
    }

    fn load_transferable(&self, fingerprint: &str) -> Result<TransferablePublicKey, ServiceError> {
        let bytes = self.openpgp_keys.public(fingerprint)?;
        TransferablePublicKey::from_bytes(&bytes).map_err(internal)
    }
}

fn internal(err: impl std::fmt::Display) -> ServiceError {
    ServiceError::Internal(err.to_string())
}
