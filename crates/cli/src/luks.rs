//! The key store on a LUKS2-encrypted volume, when `BALENASIGN_LUKS_KEY`
//! is set: unlocked and mounted before the store opens, then root is left.

use std::path::Path;

use anyhow::Context;
use balena_sign_luks::Step;

use crate::config;

/// Unlocks and mounts the volume on `store_path` and switches from root to
/// the store's owner; does nothing when `BALENASIGN_LUKS_KEY` is unset.
pub(crate) fn prepare_from_env(store_path: &Path) -> anyhow::Result<()> {
    let Some(config) = config::luks_from_env()? else {
        return Ok(());
    };
    tracing::info!(
        label = config.label(),
        "BALENASIGN_LUKS_KEY is set; opening the LUKS2 key store volume"
    );

    let prepared = balena_sign_luks::prepare_store(&config, store_path)
        .with_context(|| format!("cannot use the LUKS2 volume as key store {}", store_path.display()))?;
    tracing::info!(
        device = prepared.device.as_ref().map(|device| device.display().to_string()),
        mapper = %prepared.mapper.display(),
        unlocked = step_name(prepared.unlocked),
        mounted = step_name(prepared.mounted),
        "key store volume ready"
    );

    if balena_sign_luks::drop_privileges(config.owner())? {
        tracing::info!(owner = %config.owner(), "switched from root to the key store's owner");
    }
    Ok(())
}

fn step_name(step: Step) -> &'static str {
    match step {
        Step::Done => "now",
        Step::AlreadyDone => "before",
    }
}
