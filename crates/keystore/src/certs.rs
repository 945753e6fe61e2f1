//! Certificates and their keys: `x509/<cert_id>.crt` and `x509/<cert_id>.key`.

use std::path::PathBuf;
use std::sync::Arc;

use balena_sign_crypto::RsaPrivateKey;

use crate::cache::SignerCache;
use crate::error::StoreError;
use crate::id::validate_id;
use crate::store::Store;

const KIND: &str = "certificate";

/// Folder of certificates inside the store.
pub const X509_FOLDER: &str = "x509";

/// Certificates with private keys, named by `cert_id`.
pub struct CertStore {
    store: Store,
    signers: SignerCache,
}

impl CertStore {
    pub fn new(store: Store) -> Self {
        Self {
            store,
            signers: SignerCache::default(),
        }
    }

    /// Stores a new certificate and its private key.
    ///
    /// The key file is created first and claims the id; the certificate file
    /// then makes the pair visible. When the second step fails the key file
    /// is removed again.
    pub fn create(&self, cert_id: &str, key_pem: &str, cert_pem: &str) -> Result<(), StoreError> {
        check_id(cert_id)?;
        if self.exists(cert_id) {
            return Err(StoreError::AlreadyExists {
                kind: KIND,
                id: cert_id.to_owned(),
            });
        }

        self.store
            .create_file_new(key_path(cert_id), key_pem.as_bytes(), KIND, cert_id)?;
        if let Err(err) = self
            .store
            .create_file_new(cert_path(cert_id), cert_pem.as_bytes(), KIND, cert_id)
        {
            let _ = self.store.remove_file(key_path(cert_id));
            return Err(err);
        }
        Ok(())
    }

    /// Removes a certificate and its key; used to roll back a creation.
    pub fn remove(&self, cert_id: &str) -> Result<(), StoreError> {
        check_id(cert_id)?;
        self.store.remove_file(cert_path(cert_id))?;
        self.store.remove_file(key_path(cert_id))
    }

    /// Returns true when a certificate with this id is stored.
    pub fn exists(&self, cert_id: &str) -> bool {
        validate_id(cert_id).is_ok() && self.store.exists(cert_path(cert_id))
    }

    /// Reads the PEM certificate.
    pub fn certificate_pem(&self, cert_id: &str) -> Result<String, StoreError> {
        check_id(cert_id)?;
        let bytes = self.store.read(cert_path(cert_id), KIND, cert_id)?;
        String::from_utf8(bytes).map_err(|_| StoreError::Corrupt {
            path: self.store.path(cert_path(cert_id)),
            reason: "certificate is not UTF-8 PEM".into(),
        })
    }

    /// Loads the certificate's private key for signing.
    pub fn signer(&self, cert_id: &str) -> Result<Arc<RsaPrivateKey>, StoreError> {
        check_id(cert_id)?;
        if !self.store.exists(cert_path(cert_id)) {
            return Err(StoreError::NotFound {
                kind: KIND,
                id: cert_id.to_owned(),
            });
        }
        self.signers.load(&self.store.path(key_path(cert_id)), KIND, cert_id)
    }

    /// Ids of all stored certificates, sorted.
    pub fn list(&self) -> Result<Vec<String>, StoreError> {
        let names = self.store.list(X509_FOLDER)?;
        Ok(names
            .iter()
            .filter_map(|name| name.strip_suffix(".crt"))
            .filter(|id| validate_id(id).is_ok())
            .map(str::to_owned)
            .collect())
    }
}

fn check_id(cert_id: &str) -> Result<(), StoreError> {
    validate_id(cert_id).map_err(|source| StoreError::InvalidId { kind: KIND, source })
}

fn key_path(cert_id: &str) -> PathBuf {
    PathBuf::from(X509_FOLDER).join(format!("{cert_id}.key"))
}

fn cert_path(cert_id: &str) -> PathBuf {
    PathBuf::from(X509_FOLDER).join(format!("{cert_id}.crt"))
}
