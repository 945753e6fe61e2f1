//! `balena-sign client ...`: calls a balena-sign server from build scripts,
//! so they need no curl, jq or base64 plumbing.
//!
//! Every command writes its output files atomically: the data goes to a
//! temporary file in the output's folder, which is renamed over the output
//! only once it is complete.

mod fetch_keys;
mod http;
mod output;
mod sign;
mod upload;

use std::time::Duration;

use clap::{Args, Subcommand};

use self::http::Connection;

/// Help shown after every signing command's options.
const ENVIRONMENT_HELP: &str = "\
Environment:
  BALENASIGN_URL      server base URL, when --url is not given
  BALENASIGN_API_KEY  API key, sent as X-API-Key; required to sign. It is read
                      from the environment only, never from an argument, so
                      that it does not show in process listings.";

#[derive(Args)]
#[command(after_help = ENVIRONMENT_HELP)]
pub(crate) struct ClientArgs {
    /// Base URL of the balena-sign server, such as `https://sign.example.com`.
    #[arg(long, env = "BALENASIGN_URL", global = true, hide_env_values = true)]
    url: Option<String>,

    /// Seconds one request may take, upload and response included.
    #[arg(
        long,
        value_name = "SECONDS",
        default_value_t = 600,
        value_parser = clap::value_parser!(u64).range(1..),
        global = true
    )]
    timeout: u64,

    #[command(subcommand)]
    command: ClientCommand,
}

#[derive(Subcommand)]
enum ClientCommand {
    /// Sign FILE with a GPG key (POST /gpg/sign) and write the binary detached OpenPGP signature.
    #[command(
        after_help = ENVIRONMENT_HELP,
        mut_arg("key", |arg| arg.value_name("FINGERPRINT").help("Fingerprint of the GPG key (40 hex digits)")),
        mut_arg("output", |arg| arg.help("Signature file to write; default FILE.sig"))
    )]
    GpgSign(sign::PayloadArgs),

    /// Sign a PE/COFF EFI binary for UEFI Secure Boot (POST /secureboot/efi) and write the signed binary.
    #[command(
        after_help = ENVIRONMENT_HELP,
        mut_arg("key", |arg| arg.value_name("CERT_ID").help("Id of the certificate whose key signs")),
        mut_arg("output", |arg| arg.help("Signed binary to write; default FILE.signed; give FILE itself to replace it"))
    )]
    EfiSign(sign::PayloadArgs),

    /// Sign a Linux kernel module (POST /kmod/sign) and write the module with its signature appended.
    #[command(
        after_help = ENVIRONMENT_HELP,
        mut_arg("key", |arg| arg.value_name("CERT_ID").help("Id of the certificate whose key signs")),
        mut_arg("output", |arg| arg.help("Signed module to write; default FILE.signed; give FILE itself to replace it"))
    )]
    KmodSign(sign::PayloadArgs),

    /// Sign the SHA-256 digest of FILE, or a given digest (POST /cert/sign), and write the raw RSA signature,
    /// as `openssl pkeyutl -sign` writes it.
    #[command(after_help = ENVIRONMENT_HELP)]
    CertSignDigest(sign::DigestArgs),

    /// Sign FILE with a Raspberry Pi RSA key (POST /rsa/sign) and write the rpi-eeprom digest file.
    #[command(
        after_help = ENVIRONMENT_HELP,
        mut_arg("key", |arg| arg.value_name("ID").help("Id of the RSA key, as GET /rsa/keys lists it")),
        mut_arg("output", |arg| arg.help("Digest file to write; default FILE.sig"))
    )]
    RsaSign(sign::PayloadArgs),

    /// Write the public keys, certificates, Secure Boot variables and i.MX fuse hashes that a build needs
    /// into a folder.
    #[command(after_help = fetch_keys::AFTER_HELP)]
    FetchKeys(fetch_keys::FetchKeysArgs),
}

pub(crate) fn run(args: ClientArgs) -> anyhow::Result<()> {
    let connection = Connection::new(args.url.as_deref(), Duration::from_secs(args.timeout))?;

    match args.command {
        ClientCommand::GpgSign(args) => sign::sign_payload(&connection, &sign::GPG_SIGN, &args),
        ClientCommand::EfiSign(args) => sign::sign_payload(&connection, &sign::EFI_SIGN, &args),
        ClientCommand::KmodSign(args) => sign::sign_payload(&connection, &sign::KMOD_SIGN, &args),
        ClientCommand::CertSignDigest(args) => sign::sign_digest(&connection, &args),
        ClientCommand::RsaSign(args) => sign::sign_payload(&connection, &sign::RSA_SIGN, &args),
        ClientCommand::FetchKeys(args) => fetch_keys::run(&connection, &args),
    }
}
