//! The balena-sign key store: a folder whose layout matches the older
//! service's secrets folder, so backups move both ways.
//!
//! ```text
//! x509/<cert_id>.crt, x509/<cert_id>.key    PEM certificate and PKCS#8 key
//! rsa/<id>/private.pem, rsa/<id>/public.pem  Raspberry Pi signing keys
//! gpg/<FINGERPRINT>/private.pem, public.gpg  OpenPGP keys
//! pki/<pki_id>/                              NXP PKI trees
//! api-keys/<name>.json                       local API keys (hashes only)
//! ```
//!
//! Every file is created atomically and never replaced: the bytes go to a
//! temporary file in the same folder, which is synced and then hard-linked to
//! its final name. `link(2)` fails when the name exists, so of two requests
//! that create the same id exactly one wins.

#![forbid(unsafe_code)]

mod cache;
mod certs;
mod error;
mod id;
mod key_pairs;
mod permissions;
mod store;

pub use certs::CertStore;
pub use error::StoreError;
pub use id::{validate_id, IdError, MAX_ID_LEN};
pub use key_pairs::{KeyPairLayout, KeyPairStore, OPENPGP_KEYS, RSA_KEYS};
pub use store::{Store, StoreLock, FILE_MODE, FOLDER_MODE};
