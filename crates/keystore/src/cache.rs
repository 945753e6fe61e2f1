//! Parsed private keys kept in memory, so a signature does not re-read and
//! re-check its key. An entry is used only while the file's identity (device,
//! inode, size and modification time) is unchanged.

use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};

use balena_sign_crypto::RsaPrivateKey;

use crate::error::StoreError;

/// Maximum number of cached keys; the cache starts over when it is full.
const MAX_ENTRIES: usize = 4096;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct FileStamp {
    device: u64,
    inode: u64,
    size: u64,
    modified_ns: i128,
}

impl FileStamp {
    fn of(metadata: &fs::Metadata) -> Self {
        Self {
            device: metadata.dev(),
            inode: metadata.ino(),
            size: metadata.size(),
            modified_ns: i128::from(metadata.mtime()) * 1_000_000_000 + i128::from(metadata.mtime_nsec()),
        }
    }
}

type Entries = HashMap<PathBuf, (FileStamp, Arc<RsaPrivateKey>)>;

#[derive(Default)]
pub(crate) struct SignerCache {
    entries: RwLock<Entries>,
}

impl SignerCache {
    /// Returns the key in the PEM file `path`, from memory when the file is
    /// unchanged since it was last parsed.
    pub(crate) fn load(&self, path: &Path, kind: &'static str, id: &str) -> Result<Arc<RsaPrivateKey>, StoreError> {
        let metadata = fs::metadata(path).map_err(|err| match err.kind() {
            std::io::ErrorKind::NotFound => StoreError::NotFound {
                kind,
                id: id.to_owned(),
            },
            _ => StoreError::io(path, err),
        })?;
        let stamp = FileStamp::of(&metadata);

        if let Ok(entries) = self.entries.read() {
            if let Some((cached_stamp, key)) = entries.get(path) {
                if *cached_stamp == stamp {
                    return Ok(Arc::clone(key));
                }
            }
        }

        let pem = fs::read_to_string(path).map_err(|err| StoreError::io(path, err))?;
        let key = RsaPrivateKey::from_pem(&pem).map_err(|err| StoreError::Corrupt {
            path: path.to_path_buf(),
            reason: err.to_string(),
        })?;
        let key = Arc::new(key);

        if let Ok(mut entries) = self.entries.write() {
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
            entries.insert(path.to_path_buf(), (stamp, Arc::clone(&key)));
        }
        Ok(key)
    }
}
