//! `balena-sign export` and `balena-sign import`: the encrypted backup of
//! `/export` and `/import`, for a store whose server is stopped.
//!
//! The backup file is the JSON object `/export` returns (`data` and `salt`),
//! so either side can read what the other wrote. The passphrase comes from a
//! file or the terminal, never from an argument, so it stays out of process
//! listings and shell history.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context};
use balena_sign_keystore::Store;
use balena_sign_service::backup::Backup;
use balena_sign_service::{AuditLog, RequestContext, Service, SystemClock, AUDIT_LOG_FILE};
use clap::Args;

#[derive(Args)]
pub(crate) struct ExportArgs {
    /// File to write the backup to; it must not exist.
    #[arg(long)]
    out: PathBuf,
    /// File whose first line is the passphrase; without it, the terminal prompts for it.
    #[arg(long)]
    passphrase_file: Option<PathBuf>,
}

#[derive(Args)]
pub(crate) struct ImportArgs {
    /// Backup file: the JSON that `/export` or `balena-sign export` wrote.
    file: PathBuf,
    /// File whose first line is the passphrase; without it, the terminal prompts for it.
    #[arg(long)]
    passphrase_file: Option<PathBuf>,
}

pub(crate) fn export(store_path: &Path, args: ExportArgs) -> anyhow::Result<()> {
    let (service, _lock) = open_service(store_path)?;
    let passphrase = read_passphrase(args.passphrase_file.as_deref(), true)?;
    let backup = service.export(&RequestContext::operator("cli-export"), &passphrase)?;

    let json = serde_json::to_vec(&serde_json::json!({ "data": backup.data, "salt": backup.salt }))?;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&args.out)
        .with_context(|| format!("cannot create {}", args.out.display()))?;
    file.write_all(&json).and_then(|()| file.sync_all())?;
    println!("Exported the store to {}.", args.out.display());
    Ok(())
}

pub(crate) fn import(store_path: &Path, args: ImportArgs) -> anyhow::Result<()> {
    let text = std::fs::read_to_string(&args.file).with_context(|| format!("cannot read {}", args.file.display()))?;
    let value: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not JSON", args.file.display()))?;
    let field = |name: &str| {
        value[name]
            .as_str()
            .map(str::to_owned)
            .with_context(|| format!("{} has no string field `{name}`", args.file.display()))
    };
    let backup = Backup {
        data: field("data")?,
        salt: field("salt")?,
    };
    let salt = decode_salt(&backup.salt)?;

    let (service, _lock) = open_service(store_path)?;
    let passphrase = read_passphrase(args.passphrase_file.as_deref(), false)?;
    let summary = service.import(
        &RequestContext::operator("cli-import"),
        &passphrase,
        &backup.data,
        &salt,
    )?;
    println!(
        "Imported {}: {} files written, {} already present.",
        args.file.display(),
        summary.written,
        summary.unchanged
    );
    Ok(())
}

fn decode_salt(salt: &str) -> anyhow::Result<Vec<u8>> {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD
        .decode(salt.trim())
        .context("the backup's `salt` is not valid base64")
}

/// Opens the store for offline use; fails while a server has it locked.
fn open_service(store_path: &Path) -> anyhow::Result<(Service, balena_sign_keystore::StoreLock)> {
    let store = Store::open(store_path).with_context(|| format!("cannot open key store {}", store_path.display()))?;
    let lock = store
        .lock_exclusive()
        .context("stop the server first, or use POST /export and POST /import on it")?;
    let clock = Arc::new(SystemClock);
    let audit = AuditLog::open(store.path(AUDIT_LOG_FILE), clock.clone())?;
    Ok((Service::new(store, clock, audit), lock))
}

/// Reads the passphrase from the first line of `file`, or from the terminal.
fn read_passphrase(file: Option<&Path>, confirm: bool) -> anyhow::Result<String> {
    if let Some(file) = file {
        let text = std::fs::read_to_string(file).with_context(|| format!("cannot read {}", file.display()))?;
        let line = text.lines().next().unwrap_or_default().to_owned();
        if line.is_empty() {
            bail!("{} is empty; its first line must be the passphrase", file.display());
        }
        return Ok(line);
    }

    let passphrase = rpassword::prompt_password("Backup passphrase: ")
        .context("cannot read the passphrase from the terminal; give --passphrase-file")?;
    if confirm {
        let again = rpassword::prompt_password("Repeat the passphrase: ")?;
        if again != passphrase {
            bail!("the passphrases differ");
        }
    }
    Ok(passphrase)
}
