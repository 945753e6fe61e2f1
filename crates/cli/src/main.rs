//! `balena-sign`: the signing server and its administration commands.

#![forbid(unsafe_code)]

mod api_key;
mod audit;
mod backup;
mod client;
mod config;
mod health;
mod luks;
mod serve;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Signing server for balenaOS builds: keys are generated here and leave
/// only inside encrypted backups.
#[derive(Parser)]
#[command(name = "balena-sign", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

/// The key store, for the commands that work on one.
#[derive(clap::Args)]
struct StoreArgs {
    /// Key store folder.
    #[arg(long, env = "BALENASIGN_STORE", default_value = "./balena-sign-data", global = true)]
    store: PathBuf,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP API.
    Serve {
        #[command(flatten)]
        store: StoreArgs,
        #[command(flatten)]
        args: serve::ServeArgs,
    },
    /// Manage local API keys (used when FLEET_ID is not set).
    ApiKey {
        #[command(flatten)]
        store: StoreArgs,
        #[command(subcommand)]
        command: api_key::ApiKeyCommand,
    },
    /// Write an encrypted backup of a stopped store, as POST /export does.
    Export {
        #[command(flatten)]
        store: StoreArgs,
        #[command(flatten)]
        args: backup::ExportArgs,
    },
    /// Merge an encrypted backup into a stopped store, as POST /import does.
    Import {
        #[command(flatten)]
        store: StoreArgs,
        #[command(flatten)]
        args: backup::ImportArgs,
    },
    /// Read and check the audit log.
    Audit {
        #[command(flatten)]
        store: StoreArgs,
        #[command(subcommand)]
        command: audit::AuditCommand,
    },
    /// Call a balena-sign server: sign files and fetch public keys.
    Client(client::ClientArgs),
    /// Check that a running server returns 200 for GET /health (for container health checks).
    Health(health::HealthArgs),
}

fn main() -> ExitCode {
    unset_empty_settings();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve { store, args } => serve::run(&store.store, args),
        Command::ApiKey { store, command } => api_key::run(&store.store, command),
        Command::Audit { store, command } => audit::run(&store.store, command),
        Command::Export { store, args } => backup::export(&store.store, args),
        Command::Import { store, args } => backup::import(&store.store, args),
        Command::Client(args) => client::run(args),
        Command::Health(args) => health::run(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::FAILURE
        }
    }
}

/// Environment variables that configure balena-sign, by name or prefix.
const SETTING_PREFIX: &str = "BALENASIGN_";
const SETTINGS: [&str; 5] = [
    "RUST_LOG",
    "FLEET_ID",
    "BALENA_APP_ID",
    "BALENA_API_DOMAIN",
    "BALENA_API_URL",
];

/// Treats settings set to the empty string as unset, since compose files
/// and unit files often clear a variable with `NAME=`. Runs before any
/// thread starts, so changing the environment is sound.
fn unset_empty_settings() {
    let empty: Vec<std::ffi::OsString> = std::env::vars_os()
        .filter(|(name, value)| {
            let name = name.to_string_lossy();
            value.is_empty() && (name.starts_with(SETTING_PREFIX) || SETTINGS.contains(&name.as_ref()))
        })
        .map(|(name, _)| name)
        .collect();
    for name in empty {
        std::env::remove_var(name);
    }
}
