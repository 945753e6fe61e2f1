//! Authentication of callers of the signing endpoints.
//!
//! Two modes, chosen at startup:
//! - local: API keys made with `balena-sign api-key create`, stored in the
//!   key store as SHA-256 hashes only ([`LocalApiKeys`]);
//! - balenaCloud: any API key that can read the configured fleet through the
//!   balenaCloud API ([`BalenaCloud`]).

#![forbid(unsafe_code)]

mod balena_cloud;
mod limits;
mod local;

pub use balena_cloud::{BalenaCloud, BalenaCloudConfig, ConfigError, DEFAULT_API_DOMAIN, DEFAULT_CACHE_SECONDS};
pub use limits::{matches_pattern, Denied, KeyScope, Limits, Permission};
pub use local::{ApiKeyRecord, LocalApiKeys, API_KEYS_FOLDER};

/// An authenticated caller, as recorded in logs.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Caller {
    /// Local API key name, or `balena-cloud:<key hash prefix>`.
    pub identity: String,
    /// Operations and keys this caller is limited to.
    pub limits: Limits,
}

impl Caller {
    /// Creates a caller with no limits, for the command line and tests.
    pub fn operator(identity: impl Into<String>) -> Self {
        Self {
            identity: identity.into(),
            limits: Limits::default(),
        }
    }
}

/// Reason a request was not authenticated.
#[derive(Debug, thiserror::Error)]
// Exhaustive on purpose: the HTTP layer maps every variant explicitly.
pub enum AuthError {
    #[error("missing X-API-Key header")]
    Missing,
    #[error("invalid API key")]
    Rejected,
    /// The balenaCloud API did not respond usefully, so the key is neither
    /// accepted nor rejected.
    #[error("cannot check the API key: {0}")]
    Unavailable(String),
}

/// The authentication mode of a running server.
pub enum Authenticator {
    Local(LocalApiKeys),
    BalenaCloud(BalenaCloud),
}

impl Authenticator {
    /// balenaCloud cache hits and misses; zero in local mode.
    pub fn cache_counts(&self) -> (u64, u64) {
        match self {
            Self::Local(_) => (0, 0),
            Self::BalenaCloud(cloud) => cloud.cache_counts(),
        }
    }

    /// Checks the value of the `X-API-Key` header.
    pub async fn authenticate(&self, api_key: Option<&str>) -> Result<Caller, AuthError> {
        let api_key = api_key
            .map(str::trim)
            .filter(|key| !key.is_empty())
            .ok_or(AuthError::Missing)?;
        match self {
            Self::Local(keys) => keys.authenticate(api_key),
            Self::BalenaCloud(cloud) => cloud.authenticate(api_key).await,
        }
    }
}

/// SHA-256 of an API key, the only form in which keys are stored or cached.
pub(crate) fn key_hash(api_key: &str) -> [u8; 32] {
    use sha2::Digest;
    sha2::Sha256::digest(api_key.as_bytes()).into()
}
