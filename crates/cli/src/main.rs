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

/// Signing server for balenaOS builds: keys are generated here and never leave.
#[derive(Parser)]
#[command(name = "balena-sign", version, about)]
struct Cli {
    /// Key store folder.
    #[arg(long, env = "BALENASIGN_STORE", default_value = "./balena-sign-data", global = true)]
    store: PathBuf,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the HTTP API.
    Serve(serve::ServeArgs),
    /// Manage local API keys (used when FLEET_ID is not set).
    #[command(subcommand)]
    ApiKey(api_key::ApiKeyCommand),
    /// Write an encrypted backup of a stopped store, as POST /export does.
    Export(backup::ExportArgs),
    /// Merge an encrypted backup into a stopped store, as POST /import does.
    Import(backup::ImportArgs),
    /// Read and check the audit log.
    #[command(subcommand)]
    Audit(audit::AuditCommand),
    /// Call a balena-sign server: sign files and fetch public keys.
    Client(client::ClientArgs),
    /// Check that a running server returns 200 for GET /health (for container health checks).
    Health(health::HealthArgs),
}

fn main() -> ExitCode {
    unset_empty_settings();
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Serve(args) => serve::run(&cli.store, args),
        Command::ApiKey(command) => api_key::run(&cli.store, command),
        Command::Audit(command) => audit::run(&cli.store, command),
        Command::Export(args) => backup::export(&cli.store, args),
        Command::Import(args) => backup::import(&cli.store, args),
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
