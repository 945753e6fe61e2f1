//! API keys checked against balenaCloud. A key is valid when it can read the
//! configured fleet, that is when
//! `GET {base}/v7/application({fleet_id})?$select=id,app_name` with
//! `Authorization: Bearer <key>` returns 200 with a non-empty `d` array.
//!
//! Accepted keys are cached by their SHA-256 for a short time. When the API
//! does not respond usefully (timeout, connection error, 5xx), the request
//! fails with 503, so an outage never turns into an accepted key.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::{key_hash, AuthError, Caller, Limits};

/// API host used when neither `BALENA_API_URL` nor `BALENA_API_DOMAIN` is set.
pub const DEFAULT_API_DOMAIN: &str = "api.balena-cloud.com";

/// Seconds an accepted key stays cached.
pub const DEFAULT_CACHE_SECONDS: u64 = 60;

/// How long one check may take before the caller gets 503.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// Cached keys kept at most; expired entries are dropped first.
const MAX_CACHED_KEYS: usize = 10_000;

/// Hex digits of the key hash that name a caller in logs.
const IDENTITY_HASH_DIGITS: usize = 12;

/// Error in the balenaCloud settings.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    #[error("FLEET_ID must be a fleet's numeric id, got {0:?}")]
    FleetId(String),
    #[error("BALENA_API_URL {url:?} is not an http or https URL: {reason}")]
    ApiUrl { url: String, reason: String },
    #[error("cannot build the HTTP client: {0}")]
    Client(String),
}

/// Settings of the balenaCloud key check.
#[derive(Clone, Debug)]
pub struct BalenaCloudConfig {
    fleet_id: u64,
    base_url: reqwest::Url,
    cache_ttl: Duration,
    limits: Limits,
}

impl BalenaCloudConfig {
    /// Checks the settings: `fleet_id` must be decimal digits; `api_url`, when
    /// given, is the API's base URL, else `https://` + `api_domain`.
    pub fn new(
        fleet_id: &str,
        api_domain: Option<&str>,
        api_url: Option<&str>,
        cache_seconds: u64,
    ) -> Result<Self, ConfigError> {
        let fleet = fleet_id.trim();
        if fleet.is_empty() || !fleet.bytes().all(|b| b.is_ascii_digit()) {
            return Err(ConfigError::FleetId(fleet_id.to_owned()));
        }
        let fleet_id = fleet.parse().map_err(|_| ConfigError::FleetId(fleet_id.to_owned()))?;

        let base = match api_url {
            Some(url) => url.to_owned(),
            None => format!("https://{}", api_domain.unwrap_or(DEFAULT_API_DOMAIN)),
        };
        let base_url = reqwest::Url::parse(&base).map_err(|err| ConfigError::ApiUrl {
            url: base.clone(),
            reason: err.to_string(),
        })?;
        if !matches!(base_url.scheme(), "http" | "https") {
            return Err(ConfigError::ApiUrl {
                url: base,
                reason: "the scheme must be http or https".into(),
            });
        }

        Ok(Self {
            fleet_id,
            base_url,
            cache_ttl: Duration::from_secs(cache_seconds),
            limits: Limits::default(),
        })
    }

    /// Limits every key of the fleet to `limits`.
    pub fn with_limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// Returns the fleet whose readers may sign.
    pub fn fleet_id(&self) -> u64 {
        self.fleet_id
    }

    fn application_url(&self) -> String {
        let base = self.base_url.as_str().trim_end_matches('/');
        format!("{base}/v7/application({})?$select=id,app_name", self.fleet_id)
    }
}

/// The balenaCloud key checker with its cache.
pub struct BalenaCloud {
    config: BalenaCloudConfig,
    client: reqwest::Client,
    accepted: Mutex<HashMap<[u8; 32], Instant>>,
    cache_hits: AtomicU64,
    cache_misses: AtomicU64,
}

impl BalenaCloud {
    pub fn new(config: BalenaCloudConfig) -> Result<Self, ConfigError> {
        let client = reqwest::Client::builder()
            .timeout(REQUEST_TIMEOUT)
            .build()
            .map_err(|err| ConfigError::Client(err.to_string()))?;
        Ok(Self {
            config,
            client,
            accepted: Mutex::new(HashMap::new()),
            cache_hits: AtomicU64::new(0),
            cache_misses: AtomicU64::new(0),
        })
    }

    /// Returns the number of checks served from the cache and the number sent to the API.
    pub fn cache_counts(&self) -> (u64, u64) {
        (
            self.cache_hits.load(Ordering::Relaxed),
            self.cache_misses.load(Ordering::Relaxed),
        )
    }

    pub(crate) async fn authenticate(&self, api_key: &str) -> Result<Caller, AuthError> {
        let hash = key_hash(api_key);
        let caller = Caller {
            identity: format!("balena-cloud:{}", &hex::encode(hash)[..IDENTITY_HASH_DIGITS]),
            limits: self.config.limits.clone(),
        };
        if self.is_cached(&hash) {
            self.cache_hits.fetch_add(1, Ordering::Relaxed);
            return Ok(caller);
        }
        self.cache_misses.fetch_add(1, Ordering::Relaxed);

        self.check_with_api(api_key).await?;
        self.remember(hash);
        Ok(caller)
    }

    async fn check_with_api(&self, api_key: &str) -> Result<(), AuthError> {
        let response = self
            .client
            .get(self.config.application_url())
            .bearer_auth(api_key)
            .send()
            .await
            .map_err(|err| {
                tracing::error!(error = %err, "balenaCloud API request failed");
                AuthError::Unavailable("the balenaCloud API did not respond".into())
            })?;

        let status = response.status();
        if status == reqwest::StatusCode::UNAUTHORIZED || status == reqwest::StatusCode::FORBIDDEN {
            return Err(AuthError::Rejected);
        }
        if !status.is_success() {
            tracing::error!(%status, fleet_id = self.config.fleet_id, "balenaCloud API returned an error");
            return Err(AuthError::Unavailable(format!("the balenaCloud API returned {status}")));
        }

        let body: serde_json::Value = response.json().await.map_err(|err| {
            tracing::error!(error = %err, "balenaCloud API response is not JSON");
            AuthError::Unavailable("the balenaCloud API response is not JSON".into())
        })?;
        match body.get("d").and_then(serde_json::Value::as_array) {
            Some(fleets) if !fleets.is_empty() => Ok(()),
            Some(_) => Err(AuthError::Rejected),
            None => {
                tracing::error!("balenaCloud API response has no `d` array");
                Err(AuthError::Unavailable(
                    "the balenaCloud API response has no `d` array".into(),
                ))
            }
        }
    }

    fn is_cached(&self, hash: &[u8; 32]) -> bool {
        let Ok(accepted) = self.accepted.lock() else {
            return false;
        };
        accepted.get(hash).is_some_and(|expiry| *expiry > Instant::now())
    }

    fn remember(&self, hash: [u8; 32]) {
        if self.config.cache_ttl.is_zero() {
            return;
        }
        let Ok(mut accepted) = self.accepted.lock() else {
            return;
        };
        let now = Instant::now();
        if accepted.len() >= MAX_CACHED_KEYS {
            accepted.retain(|_, expiry| *expiry > now);
            if accepted.len() >= MAX_CACHED_KEYS {
                accepted.clear();
            }
        }
        accepted.insert(hash, now + self.config.cache_ttl);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fleet_id_must_be_digits() {
        for bad in ["", "abc", "12a", "-1", "1 2"] {
            assert!(
                matches!(
                    BalenaCloudConfig::new(bad, None, None, 60),
                    Err(ConfigError::FleetId(_))
                ),
                "{bad:?}"
            );
        }
        assert_eq!(BalenaCloudConfig::new("1234", None, None, 60).unwrap().fleet_id(), 1234);
    }

    #[test]
    fn url_from_domain_or_explicit_base() {
        let config = BalenaCloudConfig::new("7", Some("api.example.com"), None, 60).unwrap();
        assert_eq!(
            config.application_url(),
            "https://api.example.com/v7/application(7)?$select=id,app_name"
        );
        let config = BalenaCloudConfig::new("7", Some("ignored"), Some("http://127.0.0.1:9/"), 60).unwrap();
        assert_eq!(
            config.application_url(),
            "http://127.0.0.1:9/v7/application(7)?$select=id,app_name"
        );
    }

    #[test]
    fn rejects_non_http_url() {
        assert!(matches!(
            BalenaCloudConfig::new("7", None, Some("ftp://x"), 60),
            Err(ConfigError::ApiUrl { .. })
        ));
    }
}
