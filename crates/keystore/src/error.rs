use std::path::PathBuf;

use crate::id::IdError;

/// Failures of the key store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The named item does not exist; `kind` is what was looked up.
    #[error("{kind} '{id}' not found")]
    NotFound { kind: &'static str, id: String },
    /// An item with that id exists already; the store never overwrites.
    #[error("{kind} '{id}' already exists")]
    AlreadyExists { kind: &'static str, id: String },
    // The reason is in the message, not a source, so an error chain does
    // not print it twice.
    #[error("invalid {kind} id: {source}")]
    InvalidId { kind: &'static str, source: IdError },
    /// A path in the store is writable by group or others, or is not what
    /// the store expects there.
    #[error("unsafe key store: {path}: {reason}")]
    Unsafe { path: PathBuf, reason: String },
    /// Another process holds the store's lock.
    #[error("the key store {path} is in use by another balena-sign process, such as a running server")]
    Busy { path: PathBuf },
    /// A stored file could not be parsed.
    #[error("corrupt key store file {path}: {reason}")]
    Corrupt { path: PathBuf, reason: String },
    #[error("I/O error on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl StoreError {
    /// Creates an I/O failure on `path`.
    pub fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}
