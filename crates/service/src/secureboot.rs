//! UEFI Secure Boot: signature lists of stored certificates, authenticated
//! variables for PK, KEK, db and dbx, and Authenticode-signed EFI binaries.
//!
//! A certificate list is named by the SHA3-256 of its distinct ids, sorted
//! and joined with NUL, in lower-case hex. Signed variables are stored as
//! `x509/<list hash>.<VARIABLE>.auth` and the list as `x509/<list hash>.esl`,
//! the layout of the older service, so backups move both ways.

use balena_sign_auth::{KeyScope, Permission};
use balena_sign_formats::efi::authvar::{self, AuthVarError, SecureBootVariable, VariableUpdate};
use balena_sign_formats::efi::siglist::{self, SignatureType};
use balena_sign_formats::efi::{EfiTime, Guid};
use balena_sign_formats::pe::{self, AuthenticodeError};
use balena_sign_keystore::StoreError;
use sha2::{Digest, Sha256};
use sha3::Sha3_256;

use crate::operation::{payload_digest, AuditOutput, Operation};
use crate::{check_id, RequestContext, Service, ServiceError};

const X509_FOLDER: &str = "x509";

/// Prefix hashed with a certificate to derive its signature owner GUID.
const OWNER_GUID_CONTEXT: &[u8] = b"balena-sign signature owner\0";

/// Maximum number of certificates in one list; firmware variables contain a few dozen at most.
pub const MAX_LIST_IDS: usize = 64;

/// A checked, sorted, de-duplicated list of certificate ids.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CertificateList {
    ids: Vec<String>,
}

impl CertificateList {
    /// Validates the ids of field `field`: at least one, each a safe id.
    pub fn new(field: &'static str, ids: Vec<String>) -> Result<Self, ServiceError> {
        if ids.is_empty() {
            return Err(ServiceError::InvalidField {
                field,
                reason: "must name at least one certificate id".into(),
            });
        }
        if ids.len() > MAX_LIST_IDS {
            return Err(ServiceError::InvalidField {
                field,
                reason: format!("must name at most {MAX_LIST_IDS} certificates"),
            });
        }
        for id in &ids {
            check_id(field, id)?;
        }
        let mut ids = ids;
        ids.sort();
        ids.dedup();
        Ok(Self { ids })
    }

    /// Parses the comma-separated ids of a `/secureboot/{var}/{ids}` path.
    pub fn from_path(ids: &str) -> Result<Self, ServiceError> {
        Self::new("ids", ids.split(',').map(str::to_owned).collect())
    }

    /// Lower-case hex SHA3-256 of the ids joined with NUL.
    pub fn hash(&self) -> String {
        hex::encode(Sha3_256::digest(self.ids.join("\0").as_bytes()))
    }

    pub fn ids(&self) -> &[String] {
        &self.ids
    }
}

/// Maps the variable names of the API paths (`pk`, `kek`, `db`, `dbx`).
pub fn variable_from_path(name: &str) -> Option<SecureBootVariable> {
    match name {
        "pk" => Some(SecureBootVariable::Pk),
        "kek" => Some(SecureBootVariable::Kek),
        "db" => Some(SecureBootVariable::Db),
        "dbx" => Some(SecureBootVariable::Dbx),
        _ => None,
    }
}

/// A stored variable as `GET /secureboot/{var}/{ids}` returns it.
#[derive(Debug)]
pub struct StoredVariable {
    /// The authenticated variable.
    pub auth: Vec<u8>,
    /// The signature lists of the certificates, in id order.
    pub esl: Vec<u8>,
    /// The certificates, DER, in id order.
    pub certificates: Vec<Vec<u8>>,
}

/// An authenticated variable of a stored list, for the audit record.
struct SignedVariable(Vec<u8>);

impl AuditOutput for SignedVariable {
    fn output_bytes(&self) -> Option<&[u8]> {
        Some(&self.0)
    }
}

impl Service {
    /// Signs `variable` for the stored certificates `list` with the key of
    /// `signing_key_id` and stores it. Signing the same variable for the same
    /// list again is `AlreadyExists`.
    pub fn sign_stored_variable(
        &self,
        context: &RequestContext,
        variable: SecureBootVariable,
        list: &CertificateList,
        signing_key_id: &str,
        append: bool,
    ) -> Result<(), ServiceError> {
        check_id("signing_key_id", signing_key_id)?;
        let mut scope: Vec<&str> = list.ids().iter().map(String::as_str).collect();
        scope.push(signing_key_id);
        let list_hash = list.hash();
        let auth_path = format!("{X509_FOLDER}/{list_hash}.{}.auth", variable.name());
        let operation = Operation {
            name: variable_operation(variable),
            permission: Permission::Create,
            scope: KeyScope::Ids(&scope),
            key_id: Some(signing_key_id),
            payload_sha256: None,
            payload_len: 0,
        };

        self.perform_with_undo(
            context,
            operation,
            || {
                let esl = self.list_signature_lists(list)?;
                let auth = self.sign_variable(variable, &esl, signing_key_id, append)?;
                self.store_list(list, &esl)?;
                let description = format!("{} for certificates {}", variable.name(), list.ids().join(","));
                self.store()
                    .create_file_new(&auth_path, &auth, "signed variable", &description)
                    .map_err(|err| match err {
                        StoreError::AlreadyExists { .. } => ServiceError::Conflict(format!(
                            "variable {description} is already signed; fetch it with GET /secureboot/{}/{}",
                            variable.name().to_lowercase(),
                            list.ids().join(",")
                        )),
                        other => other.into(),
                    })?;
                tracing::info!(variable = variable.name(), list = %list_hash, signing_key_id, "signed stored variable");
                Ok(SignedVariable(auth))
            },
            |_| {
                let _ = self.store().remove_file(&auth_path);
            },
        )?;
        Ok(())
    }

    /// Signs caller-supplied signature lists `esl` for `variable` and
    /// returns the authenticated variable; nothing is stored.
    pub fn sign_external_variable(
        &self,
        context: &RequestContext,
        variable: SecureBootVariable,
        esl: &[u8],
        signing_key_id: &str,
        append: bool,
    ) -> Result<Vec<u8>, ServiceError> {
        check_id("signing_key_id", signing_key_id)?;
        let operation = Operation {
            name: variable_operation(variable),
            permission: Permission::Sign,
            scope: KeyScope::Ids(&[signing_key_id]),
            key_id: Some(signing_key_id),
            payload_sha256: Some(payload_digest(esl)),
            payload_len: esl.len(),
        };
        self.perform(context, operation, || {
            self.sign_variable(variable, esl, signing_key_id, append)
        })
    }

    /// Reads a stored variable with its list and certificates. Writes nothing.
    pub fn stored_variable(
        &self,
        variable: SecureBootVariable,
        list: &CertificateList,
    ) -> Result<StoredVariable, ServiceError> {
        let certificates = list
            .ids()
            .iter()
            .map(|id| self.certificate_der("ids", id))
            .collect::<Result<Vec<_>, _>>()?;
        let esl = self.list_signature_lists(list)?;

        let auth_path = format!("{X509_FOLDER}/{}.{}.auth", list.hash(), variable.name());
        let auth = self
            .store()
            .read(&auth_path, "signed variable", "")
            .map_err(|err| match err {
                StoreError::NotFound { .. } => ServiceError::NotFound {
                    kind: "signed variable",
                    id: format!("{} for certificates {}", variable.name(), list.ids().join(",")),
                },
                other => other.into(),
            })?;
        Ok(StoredVariable {
            auth,
            esl,
            certificates,
        })
    }

    /// Authenticode-signs a PE/COFF EFI binary with certificate `key_id`.
    pub fn sign_efi_binary(
        &self,
        context: &RequestContext,
        key_id: &str,
        image: &[u8],
    ) -> Result<Vec<u8>, ServiceError> {
        check_id("key_id", key_id)?;
        let operation = Operation {
            name: "efi.sign",
            permission: Permission::Sign,
            scope: KeyScope::Ids(&[key_id]),
            key_id: Some(key_id),
            payload_sha256: Some(payload_digest(image)),
            payload_len: image.len(),
        };

        self.perform(context, operation, || {
            let cert_der = self.certificate_der("key_id", key_id)?;
            let signer = self.certificates.signer(key_id)?;
            let signed =
                pe::sign_image(image, &cert_der, self.clock.now_unix(), signer.as_ref()).map_err(|err| match err {
                    AuthenticodeError::Pe(err) => ServiceError::InvalidField {
                        field: "payload",
                        reason: format!("not a valid PE/COFF image: {err}"),
                    },
                    AuthenticodeError::ImageTooLarge => ServiceError::InvalidField {
                        field: "payload",
                        reason: err.to_string(),
                    },
                    other => ServiceError::Internal(other.to_string()),
                })?;
            tracing::info!(key_id, len = image.len(), "signed EFI binary");
            Ok(signed)
        })
    }

    fn sign_variable(
        &self,
        variable: SecureBootVariable,
        esl: &[u8],
        signing_key_id: &str,
        append: bool,
    ) -> Result<Vec<u8>, ServiceError> {
        let cert_der = self.certificate_der("signing_key_id", signing_key_id)?;
        let signer = self.certificates.signer(signing_key_id)?;
        let timestamp =
            EfiTime::from_unix_seconds(self.clock.now_unix()).map_err(|err| ServiceError::Internal(err.to_string()))?;
        let update = VariableUpdate {
            variable,
            timestamp,
            append,
            signature_lists: esl,
        };
        authvar::sign_variable(&update, &cert_der, signer.as_ref()).map_err(|err| match err {
            AuthVarError::SignatureList(err) => ServiceError::InvalidField {
                field: "esl",
                reason: format!("not a valid EFI signature list: {err}"),
            },
            other => ServiceError::Internal(other.to_string()),
        })
    }

    /// Concatenates the signature list of each certificate in `list`.
    fn list_signature_lists(&self, list: &CertificateList) -> Result<Vec<u8>, ServiceError> {
        let mut esl = Vec::new();
        for id in list.ids() {
            esl.extend_from_slice(&self.certificate_signature_list(id)?);
        }
        Ok(esl)
    }

    /// Returns the signature list of one certificate. A list imported from
    /// the older service (`x509/<id>.esl`, with the owner GUID it chose) is
    /// kept when it contains exactly this certificate. Otherwise the owner
    /// GUID is derived from the certificate, so the same certificate always
    /// gives the same list.
    fn certificate_signature_list(&self, id: &str) -> Result<Vec<u8>, ServiceError> {
        let cert_der = self.certificate_der("key_id", id)?;
        if let Ok(stored) = self
            .store()
            .read(format!("{X509_FOLDER}/{id}.esl"), "signature list", id)
        {
            if is_single_certificate_list(&stored, &cert_der) {
                return Ok(stored);
            }
            tracing::warn!(
                cert_id = id,
                "ignoring a stored signature list that does not match the certificate"
            );
        }
        siglist::x509_signature_list(&cert_der, owner_guid(&cert_der))
            .map_err(|err| ServiceError::Internal(err.to_string()))
    }

    /// Writes the derived `.der` and `.esl` files the older service keeps
    /// beside each certificate, and the list's `.esl`; existing ones stay.
    fn store_list(&self, list: &CertificateList, esl: &[u8]) -> Result<(), ServiceError> {
        for id in list.ids() {
            let der = self.certificate_der("key_id", id)?;
            ignore_existing(
                self.store()
                    .create_file_new(format!("{X509_FOLDER}/{id}.der"), &der, "certificate", id),
            )?;
            let single = self.certificate_signature_list(id)?;
            ignore_existing(self.store().create_file_new(
                format!("{X509_FOLDER}/{id}.esl"),
                &single,
                "signature list",
                id,
            ))?;
        }
        let hash = list.hash();
        ignore_existing(
            self.store()
                .create_file_new(format!("{X509_FOLDER}/{hash}.esl"), esl, "signature list", &hash),
        )
    }
}

fn ignore_existing(result: Result<(), StoreError>) -> Result<(), ServiceError> {
    match result {
        Ok(()) | Err(StoreError::AlreadyExists { .. }) => Ok(()),
        Err(err) => Err(err.into()),
    }
}

fn variable_operation(variable: SecureBootVariable) -> &'static str {
    match variable {
        SecureBootVariable::Pk => "secureboot.pk",
        SecureBootVariable::Kek => "secureboot.kek",
        SecureBootVariable::Db => "secureboot.db",
        SecureBootVariable::Dbx => "secureboot.dbx",
    }
}

fn is_single_certificate_list(esl: &[u8], cert_der: &[u8]) -> bool {
    match siglist::parse_signature_lists(esl) {
        Ok(lists) => match lists.as_slice() {
            [list] => {
                list.signature_type == SignatureType::X509
                    && list.signatures.len() == 1
                    && list
                        .signatures
                        .first()
                        .is_some_and(|entry| entry.signature_data == cert_der)
            }
            _ => false,
        },
        Err(_) => false,
    }
}

/// Derives a stable owner GUID for a certificate's signature list: the first
/// 16 bytes of SHA-256 over a fixed prefix and the DER, marked as an RFC 9562
/// version 8 (custom) UUID.
fn owner_guid(cert_der: &[u8]) -> Guid {
    let digest = Sha256::new()
        .chain_update(OWNER_GUID_CONTEXT)
        .chain_update(cert_der)
        .finalize();
    let mut bytes = [0u8; 16];
    bytes.copy_from_slice(&digest[..16]);
    // The GUID stores its third field little-endian, so the version nibble is
    // the high nibble of byte 7; the variant bits are the top of byte 8.
    bytes[7] = (bytes[7] & 0x0f) | 0x80;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    Guid::from_bytes(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn list_hash_matches_older_service() {
        let list = CertificateList::new("key_id", vec!["fixa-pk".into()]).unwrap();
        assert_eq!(
            list.hash(),
            "6a3a8a2ae806cabe2bdad8d38c9111a68c3b438b4f8615ce72699e48cc93b361"
        );
    }

    #[test]
    fn list_is_sorted_and_deduplicated() {
        let list = CertificateList::new("key_id", vec!["b".into(), "a".into(), "b".into()]).unwrap();
        assert_eq!(list.ids(), ["a", "b"]);
        assert_eq!(list.hash(), hex::encode(Sha3_256::digest(b"a\0b")));
    }

    #[test]
    fn owner_guid_is_stable_and_marked() {
        let first = owner_guid(b"certificate");
        assert_eq!(first, owner_guid(b"certificate"));
        assert_ne!(first, owner_guid(b"other"));
        assert_eq!(first.to_string().as_bytes()[14], b'8');
    }
}
