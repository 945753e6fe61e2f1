//! `balena-sign api-key ...`: local API keys, usable while the server runs.

use std::path::Path;

use anyhow::Context;
use balena_sign_auth::{Limits, LocalApiKeys};
use balena_sign_keystore::Store;
use clap::Subcommand;

use crate::config;

#[derive(Subcommand)]
pub(crate) enum ApiKeyCommand {
    /// Create a key and print it once, alone on the last line of standard output.
    Create {
        /// Name that identifies the key in logs and in `revoke`.
        name: String,
        /// Operations the key may do: sign, create, backup (repeat or separate with commas); default all.
        #[arg(long, value_delimiter = ',', value_parser = config::parse_permission)]
        allow: Vec<balena_sign_auth::Permission>,
        /// Key ids the key may use, as patterns with * and ? (repeat or separate with commas); default all.
        #[arg(long, value_delimiter = ',')]
        keys: Vec<String>,
    },
    /// List key names and creation times.
    List,
    /// Delete a key; requests with it are rejected at once.
    Revoke {
        /// Name given at creation.
        name: String,
    },
}

pub(crate) fn run(store_path: &Path, command: ApiKeyCommand) -> anyhow::Result<()> {
    let store = Store::open(store_path).with_context(|| format!("cannot open key store {}", store_path.display()))?;
    let keys = LocalApiKeys::new(store);

    match command {
        ApiKeyCommand::Create {
            name,
            allow,
            keys: patterns,
        } => {
            let limits = Limits {
                allow: (!allow.is_empty()).then_some(allow),
                keys: (!patterns.is_empty()).then_some(patterns),
            };
            let api_key = keys
                .create(&name, &limits)
                .with_context(|| format!("cannot create API key '{name}'"))?;
            println!("Created API key '{name}'. It is shown only once; store it now:");
            println!("{api_key}");
        }
        ApiKeyCommand::List => {
            for record in keys.list().context("cannot list API keys")? {
                println!("{}\t{}\t{}", record.name, record.created, record.limits().describe());
            }
        }
        ApiKeyCommand::Revoke { name } => {
            keys.revoke(&name)
                .with_context(|| format!("cannot revoke API key '{name}'"))?;
            println!("Revoked API key '{name}'.");
        }
    }
    Ok(())
}
