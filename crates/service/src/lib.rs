//! balena-sign operations, independent of HTTP: create keys, sign with them.
//!
//! Requests arrive as checked command types (each `new` validates its
//! fields and names the one that is wrong), so the operations below only deal
//! with valid input. Time comes from a [`Clock`], so tests can pin it.

#![forbid(unsafe_code)]

pub mod audit;
pub mod backup;
mod bootstrap;
mod certificates;
mod clock;
mod error;
mod kmod;
pub mod metrics;
mod nxp;
mod openpgp;
mod operation;
mod rpi;
mod secureboot;

use std::sync::Arc;

use balena_sign_keystore::{CertStore, KeyPairStore, Store, OPENPGP_KEYS, RSA_KEYS};

pub use audit::{AuditError, AuditLog};
pub use balena_sign_auth::Caller;
pub use bootstrap::{Bootstrap, Bootstrapped};
pub use certificates::{CreateCertificate, DEFAULT_DAYS, DEFAULT_KEY_BITS};
pub use clock::{Clock, FixedClock, SystemClock};
pub use error::ServiceError;
pub use nxp::HabType;
pub use openpgp::CreateOpenPgpKey;
pub use operation::RequestContext;
pub use rpi::RPI_KEY_BITS;
pub use secureboot::{variable_from_path, CertificateList, StoredVariable, MAX_LIST_IDS};

/// Default file name of the audit log inside the store.
pub const AUDIT_LOG_FILE: &str = "audit.jsonl";

/// The signing service over one key store.
pub struct Service {
    store: Store,
    certificates: CertStore,
    rsa_keys: KeyPairStore,
    openpgp_keys: KeyPairStore,
    clock: Arc<dyn Clock>,
    audit: AuditLog,
    /// Held by imports, exports and bootstraps, which touch many files.
    maintenance: std::sync::Mutex<()>,
    metrics: metrics::Metrics,
}

impl Service {
    pub fn new(store: Store, clock: Arc<dyn Clock>, audit: AuditLog) -> Self {
        Self {
            certificates: CertStore::new(store.clone()),
            rsa_keys: KeyPairStore::new(store.clone(), &RSA_KEYS),
            openpgp_keys: KeyPairStore::new(store.clone(), &OPENPGP_KEYS),
            store,
            clock,
            audit,
            maintenance: std::sync::Mutex::new(()),
            metrics: metrics::Metrics::default(),
        }
    }

    /// Returns the server's counters.
    pub fn metrics(&self) -> &metrics::Metrics {
        &self.metrics
    }

    /// Returns the key store this service works on.
    pub fn store(&self) -> &Store {
        &self.store
    }
}

/// Checks an id from a request field.
pub(crate) fn check_id(field: &'static str, id: &str) -> Result<(), ServiceError> {
    balena_sign_keystore::validate_id(id).map_err(|err| ServiceError::InvalidField {
        field,
        reason: err.to_string(),
    })
}

impl Service {
    /// Checks that the key store can be listed and written.
    pub fn check_store(&self) -> Result<(), ServiceError> {
        self.store.list("")?;
        self.store.probe_write()?;
        Ok(())
    }
}
