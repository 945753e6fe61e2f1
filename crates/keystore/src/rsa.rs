//! Raspberry Pi signing keys: `rsa/<id>/private.pem` and `rsa/<id>/public.pem`.

use std::path::PathBuf;
use std::sync::Arc;

use balena_sign_crypto::RsaPrivateKey;

use crate::cache::SignerCache;
use crate::error::StoreError;
use crate::id::validate_id;
use crate::store::Store;

const KIND: &str = "RSA key";

/// Folder of RSA keys inside the store.
pub const RSA_FOLDER: &str = "rsa";
const PRIVATE_FILE: &str = "private.pem";
const PUBLIC_FILE: &str = "public.pem";

/// RSA key pairs, one folder each.
pub struct RsaKeyStore {
    store: Store,
    signers: SignerCache,
}

impl RsaKeyStore {
    pub fn new(store: Store) -> Self {
        Self {
            store,
            signers: SignerCache::default(),
        }
    }

    /// Stores a new key pair under `id`.
    ///
    /// The exclusive creation of the folder claims the id; `public.pem`,
    /// written last, marks the pair complete. On failure the folder is removed.
    pub fn create(&self, id: &str, private_pem: &str, public_pem: &str) -> Result<(), StoreError> {
        check_id(id)?;
        self.store.create_folder_new(folder(id), KIND, id)?;

        let written = self
            .store
            .create_file_new(folder(id).join(PRIVATE_FILE), private_pem.as_bytes(), KIND, id)
            .and_then(|()| {
                self.store
                    .create_file_new(folder(id).join(PUBLIC_FILE), public_pem.as_bytes(), KIND, id)
            });
        if let Err(err) = written {
            let _ = self.store.remove_folder(folder(id));
            return Err(err);
        }
        Ok(())
    }

    /// Removes a key pair; used to roll back a creation.
    pub fn remove(&self, id: &str) -> Result<(), StoreError> {
        check_id(id)?;
        self.store.remove_folder(folder(id))
    }

    /// Ids of all complete key pairs, sorted.
    pub fn list(&self) -> Result<Vec<String>, StoreError> {
        let names = self.store.list(RSA_FOLDER)?;
        Ok(names
            .into_iter()
            .filter(|id| validate_id(id).is_ok() && self.store.exists(folder(id).join(PUBLIC_FILE)))
            .collect())
    }

    /// Reads the PEM public key.
    pub fn public_pem(&self, id: &str) -> Result<String, StoreError> {
        check_id(id)?;
        let bytes = self.store.read(folder(id).join(PUBLIC_FILE), KIND, id)?;
        String::from_utf8(bytes).map_err(|_| StoreError::Corrupt {
            path: self.store.path(folder(id).join(PUBLIC_FILE)),
            reason: "public key is not UTF-8 PEM".into(),
        })
    }

    /// Loads the private key for signing.
    pub fn signer(&self, id: &str) -> Result<Arc<RsaPrivateKey>, StoreError> {
        check_id(id)?;
        if !self.store.exists(folder(id).join(PUBLIC_FILE)) {
            return Err(StoreError::NotFound {
                kind: KIND,
                id: id.to_owned(),
            });
        }
        self.signers
            .load(&self.store.path(folder(id).join(PRIVATE_FILE)), KIND, id)
    }
}

fn check_id(id: &str) -> Result<(), StoreError> {
    validate_id(id).map_err(|source| StoreError::InvalidId { kind: KIND, source })
}

fn folder(id: &str) -> PathBuf {
    PathBuf::from(RSA_FOLDER).join(id)
}
