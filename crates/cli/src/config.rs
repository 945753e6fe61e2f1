//! Settings that come only from the environment, named as the older
//! service names them.

use std::os::unix::ffi::OsStringExt;

use anyhow::{bail, Context};
use balena_sign_auth::{BalenaCloudConfig, Limits, Permission, DEFAULT_CACHE_SECONDS};
use balena_sign_luks::{LuksConfig, Owner, DEFAULT_LABEL, DEFAULT_OWNER};

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
    Ok(Some(config.with_limits(fleet_limits_from_env()?)))
}

/// LUKS2 settings when `BALENASIGN_LUKS_KEY` is set. The passphrase is
/// every byte of the variable, as the older service piped it to
/// cryptsetup, with no newline added or removed.
pub(crate) fn luks_from_env() -> anyhow::Result<Option<LuksConfig>> {
    let Some(passphrase) = std::env::var_os("BALENASIGN_LUKS_KEY").filter(|value| !value.is_empty()) else {
        return Ok(None);
    };

    let label = env("BALENASIGN_LUKS_LABEL").unwrap_or_else(|| DEFAULT_LABEL.to_owned());
    let owner = match env("BALENASIGN_LUKS_OWNER") {
        Some(text) => text
            .parse::<Owner>()
            .map_err(anyhow::Error::msg)
            .context("invalid BALENASIGN_LUKS_OWNER")?,
        None => DEFAULT_OWNER,
    };
    let config = LuksConfig::new(&label, passphrase.into_vec(), owner).context("invalid BALENASIGN_LUKS_LABEL")?;
    Ok(Some(config))
}

/// Limits for every balenaCloud key: `BALENASIGN_FLEET_ALLOW` (operations)
/// and `BALENASIGN_FLEET_KEYS` (key id patterns), both comma-separated.
fn fleet_limits_from_env() -> anyhow::Result<Limits> {
    let allow = match env("BALENASIGN_FLEET_ALLOW") {
        Some(text) => Some(
            text.split(',')
                .map(|item| parse_permission(item.trim()).map_err(anyhow::Error::msg))
                .collect::<anyhow::Result<Vec<_>>>()
                .context("invalid BALENASIGN_FLEET_ALLOW")?,
        ),
        None => None,
    };
    let keys = env("BALENASIGN_FLEET_KEYS").map(|text| text.split(',').map(|item| item.trim().to_owned()).collect());
    Ok(Limits { allow, keys })
}

/// Parses an operation name for `--allow`.
pub(crate) fn parse_permission(text: &str) -> Result<Permission, String> {
    Permission::parse(text).ok_or_else(|| format!("unknown operation {text:?}; use sign, create or backup"))
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
    let size = number
        .checked_mul(multiplier)
        .with_context(|| format!("size {text:?} is too large"))?;
    if size == 0 {
        bail!("size {text:?} must be more than 0");
    }
    Ok(size)
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
        assert!(parse_size("0").is_err());
    }
}
