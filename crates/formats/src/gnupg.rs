//! The files of a GnuPG 2.2 home directory that hold keys, so that keys can
//! move between balena-sign's store and a GnuPG home in both directions.
//!
//! - [`keybox`]: `pubring.kbx`, the keybox that holds the public keyblocks
//!   (GnuPG `kbx/keybox-blob.c`).
//! - [`private_key`]: `private-keys-v1.d/<KEYGRIP>.key`, gpg-agent's secret
//!   key files, in the extended key format and in the older canonical
//!   S-expression format (GnuPG `agent/keyformat.txt`).
//! - [`keygrip`]: the 20-byte key identifier that names those files
//!   (libgcrypt `_gcry_pk_get_keygrip`).
//!
//! The codecs do no I/O. Secret key material read or written here lives in
//! buffers that are zeroed when dropped.

pub mod keybox;
pub mod keygrip;
pub mod private_key;
mod sexp;
mod time;

pub use keybox::{openpgp_blobs, KeyboxBuildError, KeyboxError, KeyboxWriter, OpenPgpBlob};
pub use keygrip::{Keygrip, KeygripError, KEYGRIP_LEN};
pub use private_key::{
    parse_private_key, write_extended_private_key, PrivateKeyBuildError, PrivateKeyError, PrivateKeyFile,
    PrivateKeyFormat, RsaPrivateComponents,
};
pub use sexp::SexpError;
