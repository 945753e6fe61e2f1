//! Local API keys: one JSON file per key in `<store>/api-keys/`, holding the
//! key's name and the SHA-256 of the key. The server rereads the folder when
//! its modification time changes, so keys created or revoked by the CLI take
//! effect on the next request.

use std::collections::HashMap;
use std::fs;
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;
use std::sync::Mutex;

use balena_sign_keystore::{validate_id, Store, StoreError};
use base64::Engine;
use serde::{Deserialize, Serialize};

use crate::{key_hash, AuthError, Caller, Limits};

/// Folder of API key records inside the store.
pub const API_KEYS_FOLDER: &str = "api-keys";

/// Prefix of every generated key, so leaked keys are easy to recognise.
const KEY_PREFIX: &str = "bsk_";

/// Random bytes in a generated key.
const KEY_RANDOM_LEN: usize = 32;

const KIND: &str = "API key";

/// A stored API key, without the key itself.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct ApiKeyRecord {
    pub name: String,
    /// Lower-case hex SHA-256 of the key.
    pub sha256: String,
    /// Creation time, RFC 3339 UTC.
    pub created: String,
    /// Operations and keys the key is limited to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allow: Option<Vec<crate::Permission>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub keys: Option<Vec<String>>,
}

impl ApiKeyRecord {
    /// Returns the key's limits.
    pub fn limits(&self) -> Limits {
        Limits {
            allow: self.allow.clone(),
            keys: self.keys.clone(),
        }
    }
}

/// Seconds after a change of the folder during which the index is reread on
/// every request: file times have a coarse clock (a few milliseconds), so a
/// change right after a read can leave the folder's time unchanged.
const RACY_SECONDS: i64 = 2;

/// Keys by hash, valid while the folder's modification time is unchanged
/// and old enough to be trusted.
#[derive(Default)]
struct KeyIndex {
    folder_stamp: Option<(u64, i64, i64)>,
    callers_by_hash: HashMap<[u8; 32], Caller>,
}

/// The local API keys of a store.
pub struct LocalApiKeys {
    store: Store,
    index: Mutex<KeyIndex>,
}

impl LocalApiKeys {
    pub fn new(store: Store) -> Self {
        Self {
            store,
            index: Mutex::new(KeyIndex::default()),
        }
    }

    /// Creates a key named `name` with `limits` and returns it; only its
    /// hash is stored.
    pub fn create(&self, name: &str, limits: &Limits) -> Result<String, StoreError> {
        validate_id(name).map_err(|source| StoreError::InvalidId { kind: KIND, source })?;

        let mut random = [0u8; KEY_RANDOM_LEN];
        getrandom::fill(&mut random)
            .map_err(|err| StoreError::io(self.store.root(), std::io::Error::other(err.to_string())))?;
        let api_key = format!(
            "{KEY_PREFIX}{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(random)
        );

        let record = ApiKeyRecord {
            name: name.to_owned(),
            sha256: hex::encode(key_hash(&api_key)),
            created: now_rfc3339(),
            allow: limits.allow.clone(),
            keys: limits.keys.clone(),
        };
        let json = serde_json::to_vec_pretty(&record).map_err(|err| StoreError::io(self.store.root(), err.into()))?;
        self.store.create_file_new(record_path(name), &json, KIND, name)?;
        Ok(api_key)
    }

    /// Removes the key named `name`.
    pub fn revoke(&self, name: &str) -> Result<(), StoreError> {
        validate_id(name).map_err(|source| StoreError::InvalidId { kind: KIND, source })?;
        if !self.store.exists(record_path(name)) {
            return Err(StoreError::NotFound {
                kind: KIND,
                id: name.to_owned(),
            });
        }
        self.store.remove_file(record_path(name))
    }

    /// Lists all stored keys, sorted by name.
    pub fn list(&self) -> Result<Vec<ApiKeyRecord>, StoreError> {
        let mut records = Vec::new();
        for file_name in self.store.list(API_KEYS_FOLDER)? {
            let Some(name) = file_name.strip_suffix(".json") else {
                continue;
            };
            records.push(self.read_record(name)?);
        }
        Ok(records)
    }

    /// True when no key exists.
    pub fn is_empty(&self) -> Result<bool, StoreError> {
        Ok(self.list()?.is_empty())
    }

    pub(crate) fn authenticate(&self, api_key: &str) -> Result<Caller, AuthError> {
        let hash = key_hash(api_key);
        let mut index = self
            .index
            .lock()
            .map_err(|_| AuthError::Unavailable("API key index lock poisoned".into()))?;
        self.refresh(&mut index)
            .map_err(|err| AuthError::Unavailable(err.to_string()))?;
        index.callers_by_hash.get(&hash).cloned().ok_or(AuthError::Rejected)
    }

    /// Rereads the records when the folder changed since the last read.
    fn refresh(&self, index: &mut KeyIndex) -> Result<(), StoreError> {
        let folder = self.store.path(API_KEYS_FOLDER);
        let stamp = match fs::metadata(&folder) {
            Ok(metadata) => Some((metadata.ino(), metadata.mtime(), metadata.mtime_nsec())),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => None,
            Err(err) => return Err(StoreError::io(folder, err)),
        };
        let settled = stamp.is_some_and(|(_, seconds, _)| now_unix_seconds() - seconds > RACY_SECONDS);
        if settled && stamp == index.folder_stamp {
            return Ok(());
        }

        let mut callers_by_hash = HashMap::new();
        for record in self.list()? {
            let mut hash = [0u8; 32];
            match hex::decode_to_slice(&record.sha256, &mut hash) {
                Ok(()) => {
                    let caller = Caller {
                        identity: record.name.clone(),
                        limits: record.limits(),
                    };
                    callers_by_hash.insert(hash, caller);
                }
                Err(_) => tracing::error!(name = %record.name, "ignoring API key record with a malformed sha256"),
            }
        }
        index.callers_by_hash = callers_by_hash;
        index.folder_stamp = stamp;
        Ok(())
    }

    fn read_record(&self, name: &str) -> Result<ApiKeyRecord, StoreError> {
        let bytes = self.store.read(record_path(name), KIND, name)?;
        serde_json::from_slice(&bytes).map_err(|err| StoreError::Corrupt {
            path: self.store.path(record_path(name)),
            reason: err.to_string(),
        })
    }
}

fn record_path(name: &str) -> PathBuf {
    PathBuf::from(API_KEYS_FOLDER).join(format!("{name}.json"))
}

fn now_unix_seconds() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

fn now_rfc3339() -> String {
    time::OffsetDateTime::now_utc()
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn created_key_authenticates_until_revoked() {
        let temp = tempfile::tempdir().unwrap();
        let keys = LocalApiKeys::new(Store::open(temp.path()).unwrap());
        let key = keys.create("ci", &Limits::default()).unwrap();
        assert!(key.starts_with(KEY_PREFIX));

        assert_eq!(keys.authenticate(&key).unwrap().identity, "ci");
        assert!(matches!(keys.authenticate("bsk_wrong"), Err(AuthError::Rejected)));

        keys.revoke("ci").unwrap();
        assert!(matches!(keys.authenticate(&key), Err(AuthError::Rejected)));
    }

    #[test]
    fn stores_only_the_hash() {
        let temp = tempfile::tempdir().unwrap();
        let keys = LocalApiKeys::new(Store::open(temp.path()).unwrap());
        let key = keys.create("ci", &Limits::default()).unwrap();
        let stored = fs::read_to_string(temp.path().join("api-keys/ci.json")).unwrap();
        assert!(!stored.contains(&key));
        assert!(stored.contains(&hex::encode(key_hash(&key))));
    }

    #[test]
    fn duplicate_name_is_rejected() {
        let temp = tempfile::tempdir().unwrap();
        let keys = LocalApiKeys::new(Store::open(temp.path()).unwrap());
        keys.create("ci", &Limits::default()).unwrap();
        assert!(matches!(
            keys.create("ci", &Limits::default()),
            Err(StoreError::AlreadyExists { .. })
        ));
    }
}
