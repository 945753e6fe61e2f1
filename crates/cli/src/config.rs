//! Settings that come only from the environment, named as the older
//! service names them.

use anyhow::{bail, Context};
use balena_sign_auth::{BalenaCloudConfig, DEFAULT_CACHE_SECONDS};

/// balenaCloud settings when `FLEET_ID` (or the older `BALENA_APP_ID`) is set.
pub(crate) fn balena_cloud_from_env() -> anyhow::Result<Option<BalenaCloudConfig>> {
    let fleet_id = match (env("FLEET_ID"), env("BALENA_APP_ID")) {
        (Some(fleet), _) => fleet,
        (None, Some(app)) => app,
        (None, None) => return Ok(None),
    };

    let cache_seconds = match env("BALENASIGN_AUTH_CACHE_SECONDS") {
        Some(text) => text.parse().with_context(|| {
            format!("BALENASIGN_AUTH_CACHE_SECONDS must be a whole number of seconds, got {text:?}")
        })?,
        None => DEFAULT_CACHE_SECONDS,
    };

    let config = BalenaCloudConfig::new(
        &fleet_id,
        env("BALENA_API_DOMAIN").as_deref(),
        env("BALENA_API_URL").as_deref(),
        cache_seconds,
    )?;
    Ok(Some(config))
}

/// Parses a size in bytes: a number with an optional `KiB`, `MiB` or `GiB`
/// suffix (`K`, `M`, `G` mean the same).
pub(crate) fn parse_size(text: &str) -> anyhow::Result<usize> {
    let text = text.trim();
    let split = text.find(|c: char| !c.is_ascii_digit()).unwrap_or(text.len());
    let (digits, unit) = text.split_at(split);
    let multiplier: usize = match unit.trim() {
        "" | "B" => 1,
        "K" | "KiB" => 1 << 10,
        "M" | "MiB" => 1 << 20,
        "G" | "GiB" => 1 << 30,
        other => bail!("unknown size unit {other:?} in {text:?}; use bytes or KiB, MiB, GiB"),
    };
    let number: usize = digits
        .parse()
        .with_context(|| format!("size {text:?} must start with a whole number"))?;
    number
        .checked_mul(multiplier)
        .with_context(|| format!("size {text:?} is too large"))
}

/// Reads an environment variable, treating an empty value as unset.
fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|value| !value.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_with_units() {
        assert_eq!(parse_size("1024").unwrap(), 1024);
        assert_eq!(parse_size("512MiB").unwrap(), 512 << 20);
        assert_eq!(parse_size("2G").unwrap(), 2 << 30);
        assert!(parse_size("12 parsecs").is_err());
        assert!(parse_size("MiB").is_err());
    }
}
