//! `balena-sign audit ...`: check and read the audit log.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use balena_sign_service::audit::{self, Verification};
use balena_sign_service::AUDIT_LOG_FILE;
use clap::Subcommand;

#[derive(Subcommand)]
pub(crate) enum AuditCommand {
    /// Check that every record links to the one before it; exits 1 at the first broken record.
    Verify {
        /// Audit log file; default `audit.jsonl` in the store.
        #[arg(long, env = "BALENASIGN_AUDIT_LOG")]
        file: Option<PathBuf>,
    },
    /// Print the most recent records, one per line.
    Tail {
        /// Number of records.
        #[arg(short = 'n', long, default_value_t = 20)]
        lines: usize,
        /// Audit log file; default `audit.jsonl` in the store.
        #[arg(long, env = "BALENASIGN_AUDIT_LOG")]
        file: Option<PathBuf>,
    },
}

pub(crate) fn run(store: &Path, command: AuditCommand) -> anyhow::Result<()> {
    match command {
        AuditCommand::Verify { file } => {
            let path = file.unwrap_or_else(|| store.join(AUDIT_LOG_FILE));
            let outcome = audit::verify(&path).with_context(|| format!("cannot read {}", path.display()))?;
            match outcome {
                Verification::Intact { records } => {
                    println!("{}: {records} records, chain intact", path.display());
                    Ok(())
                }
                Verification::Broken { line, reason } => {
                    bail!("{}: record at line {line} breaks the chain: {reason}", path.display())
                }
            }
        }
        AuditCommand::Tail { lines, file } => {
            let path = file.unwrap_or_else(|| store.join(AUDIT_LOG_FILE));
            for record in audit::tail(&path, lines).with_context(|| format!("cannot read {}", path.display()))? {
                println!(
                    "{} #{} {} {} {} {} request={}",
                    record.time,
                    record.seq,
                    record.caller,
                    record.operation,
                    record.key_id.as_deref().unwrap_or("-"),
                    record.result,
                    record.request_id,
                );
            }
            Ok(())
        }
    }
}
