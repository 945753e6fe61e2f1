//! Key pairs stored one folder each: `<folder>/<id>/private.pem` and a
//! public file. Raspberry Pi keys live in `rsa/<id>/` with `public.pem`, as
//! the older service keeps them; OpenPGP keys in `gpg/<FINGERPRINT>/` with
//! `public.gpg`, the binary transferable public key.

use std::path::PathBuf;
use std::sync::Arc;

use balena_sign_crypto::RsaPrivateKey;

use crate::cache::SignerCache;
use crate::error::StoreError;
use crate::id::validate_id;
use crate::store::Store;

const PRIVATE_FILE: &str = "private.pem";

/// Location of one kind of key pair in the store.
#[derive(Debug)]
pub struct KeyPairLayout {
    /// Top-level folder in the store.
    pub folder: &'static str,
    /// Name of the kind in messages, such as "RSA key".
    pub kind: &'static str,
    /// File name of the public part inside each key's folder.
    pub public_file: &'static str,
}

/// Raspberry Pi signing keys.
pub const RSA_KEYS: KeyPairLayout = KeyPairLayout {
    folder: "rsa",
    kind: "RSA key",
    public_file: "public.pem",
};

/// OpenPGP keys, named by their upper-case fingerprint.
pub const OPENPGP_KEYS: KeyPairLayout = KeyPairLayout {
    folder: "gpg",
    kind: "OpenPGP key",
    public_file: "public.gpg",
};

/// Key pairs of one layout.
pub struct KeyPairStore {
    store: Store,
    layout: &'static KeyPairLayout,
    signers: SignerCache,
}

impl KeyPairStore {
    pub fn new(store: Store, layout: &'static KeyPairLayout) -> Self {
        Self {
            store,
            layout,
            signers: SignerCache::default(),
        }
    }

    /// Stores a new key pair under `id`.
    ///
    /// The exclusive creation of the folder claims the id; the public file,
    /// written last, marks the pair complete. On failure the folder is removed.
    pub fn create(&self, id: &str, private_pem: &str, public: &[u8]) -> Result<(), StoreError> {
        self.check_id(id)?;
        let kind = self.layout.kind;
        self.store.create_folder_new(self.folder(id), kind, id)?;

        let written = self
            .store
            .create_file_new(self.folder(id).join(PRIVATE_FILE), private_pem.as_bytes(), kind, id)
            .and_then(|()| {
                self.store
                    .create_file_new(self.folder(id).join(self.layout.public_file), public, kind, id)
            });
        if let Err(err) = written {
            let _ = self.store.remove_folder(self.folder(id));
            return Err(err);
        }
        Ok(())
    }

    /// Removes a key pair; used to roll back a creation.
    pub fn remove(&self, id: &str) -> Result<(), StoreError> {
        self.check_id(id)?;
        self.store.remove_folder(self.folder(id))
    }

    /// Ids of all complete key pairs, sorted.
    pub fn list(&self) -> Result<Vec<String>, StoreError> {
        let names = self.store.list(self.layout.folder)?;
        Ok(names
            .into_iter()
            .filter(|id| validate_id(id).is_ok() && self.store.exists(self.public_path(id)))
            .collect())
    }

    /// Returns true when a complete key pair `id` is stored.
    pub fn exists(&self, id: &str) -> bool {
        validate_id(id).is_ok() && self.store.exists(self.public_path(id))
    }

    /// Reads the public file of key `id`.
    pub fn public(&self, id: &str) -> Result<Vec<u8>, StoreError> {
        self.check_id(id)?;
        self.store.read(self.public_path(id), self.layout.kind, id)
    }

    /// Reads the public file of key `id` as text.
    pub fn public_text(&self, id: &str) -> Result<String, StoreError> {
        let bytes = self.public(id)?;
        String::from_utf8(bytes).map_err(|_| StoreError::Corrupt {
            path: self.store.path(self.public_path(id)),
            reason: "public key file is not UTF-8".into(),
        })
    }

    /// Loads the private key for signing.
    pub fn signer(&self, id: &str) -> Result<Arc<RsaPrivateKey>, StoreError> {
        self.check_id(id)?;
        if !self.store.exists(self.public_path(id)) {
            return Err(StoreError::NotFound {
                kind: self.layout.kind,
                id: id.to_owned(),
            });
        }
        self.signers.load(
            &self.store.path(self.folder(id).join(PRIVATE_FILE)),
            self.layout.kind,
            id,
        )
    }

    fn check_id(&self, id: &str) -> Result<(), StoreError> {
        validate_id(id).map_err(|source| StoreError::InvalidId {
            kind: self.layout.kind,
            source,
        })
    }

    fn folder(&self, id: &str) -> PathBuf {
        PathBuf::from(self.layout.folder).join(id)
    }

    fn public_path(&self, id: &str) -> PathBuf {
        self.folder(id).join(self.layout.public_file)
    }
}
