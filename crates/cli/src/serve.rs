//! `balena-sign serve`.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;

use anyhow::Context;
use balena_sign_auth::{Authenticator, BalenaCloud, LocalApiKeys};
use balena_sign_keystore::{Store, StoreError};
use balena_sign_server::{AppState, DEFAULT_MAX_BODY};
use balena_sign_service::{AuditLog, Service, SystemClock, AUDIT_LOG_FILE};
use clap::{Args, ValueEnum};
use tracing_subscriber::EnvFilter;

use crate::config;

/// File in the store that receives the first API key of a new store.
const INITIAL_API_KEY_FILE: &str = "initial-api-key";

/// Name of the first API key.
const INITIAL_API_KEY_NAME: &str = "initial";

#[derive(Args)]
pub(crate) struct ServeArgs {
    /// Address and port to listen on.
    #[arg(long, env = "BALENASIGN_LISTEN", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,

    /// Largest request body accepted, in bytes or with a KiB, MiB or GiB suffix; larger bodies get 413.
    #[arg(long, env = "BALENASIGN_MAX_BODY", default_value_t = DEFAULT_MAX_BODY, value_parser = config::parse_size)]
    max_body: usize,

    /// Audit log file; default `audit.jsonl` in the store.
    #[arg(long, env = "BALENASIGN_AUDIT_LOG")]
    audit_log: Option<std::path::PathBuf>,

    /// PEM certificate chain for HTTPS; with --tls-key, the server speaks HTTPS only.
    #[arg(long, env = "BALENASIGN_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<std::path::PathBuf>,

    /// PEM private key of --tls-cert.
    #[arg(long, env = "BALENASIGN_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<std::path::PathBuf>,

    /// Log format on standard error.
    #[arg(long, env = "BALENASIGN_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    log_format: LogFormat,
}

#[derive(Clone, Copy, ValueEnum)]
enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line.
    Json,
}

pub(crate) fn run(store_path: &Path, args: ServeArgs) -> anyhow::Result<()> {
    init_logging(args.log_format);
    crate::luks::prepare_from_env(store_path)?;

    let cloud = config::balena_cloud_from_env()?;
    let store = Store::open(store_path).with_context(|| format!("cannot open key store {}", store_path.display()))?;
    let _lock = store.lock_exclusive()?;

    let auth = match cloud {
        Some(config) => {
            tracing::info!(fleet_id = config.fleet_id(), "API keys are checked against balenaCloud");
            Authenticator::BalenaCloud(BalenaCloud::new(config)?)
        }
        None => {
            let keys = LocalApiKeys::new(store.clone());
            ensure_initial_api_key(&store, &keys)?;
            tracing::info!("API keys are local; manage them with `balena-sign api-key`");
            Authenticator::Local(keys)
        }
    };

    let clock = Arc::new(SystemClock);
    let audit_path = args.audit_log.unwrap_or_else(|| store.path(AUDIT_LOG_FILE));
    let audit = AuditLog::open(&audit_path, clock.clone()).context("cannot open the audit log")?;
    tracing::info!(path = %audit_path.display(), "audit log opened");

    let state = AppState {
        service: Arc::new(Service::new(store.clone(), clock, audit)),
        auth: Arc::new(auth),
        max_body: args.max_body,
    };

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let listener = tokio::net::TcpListener::bind(args.listen)
            .await
            .with_context(|| format!("cannot listen on {}", args.listen))?;
        let address = listener.local_addr().context("cannot read the listening address")?;
        let tls = match (args.tls_cert, args.tls_key) {
            (Some(certificate), Some(private_key)) => {
                let files = balena_sign_server::TlsFiles {
                    certificate,
                    private_key,
                };
                let config = files.load().await.with_context(|| {
                    format!(
                        "cannot load the TLS certificate {} and key {}",
                        files.certificate.display(),
                        files.private_key.display()
                    )
                })?;
                Some(config)
            }
            _ => None,
        };
        let scheme = if tls.is_some() { "https" } else { "http" };
        tracing::info!(%address, scheme, store = %store.root().display(), max_body = args.max_body, "listening");

        let router = balena_sign_server::router(state);
        match tls {
            Some(config) => balena_sign_server::serve_tls(listener, router, config, shutdown_signal())
                .await
                .context("HTTPS server failed")?,
            None => balena_sign_server::serve(listener, router, shutdown_signal())
                .await
                .context("server failed")?,
        }
        tracing::info!("stopped");
        Ok(())
    })
}

/// On a store without keys, creates one and writes it to a 0600 file in the
/// store; the log names the file, never the key.
fn ensure_initial_api_key(store: &Store, keys: &LocalApiKeys) -> anyhow::Result<()> {
    if !keys.is_empty().context("cannot read API keys")? {
        return Ok(());
    }

    // A file left from an earlier initial key contains a key that no longer
    // exists, so replace it.
    store.remove_file(INITIAL_API_KEY_FILE)?;
    let _ = keys.revoke(INITIAL_API_KEY_NAME);

    let api_key = keys
        .create(INITIAL_API_KEY_NAME, &balena_sign_auth::Limits::default())
        .context("cannot create the initial API key")?;
    match store.create_file_new(
        INITIAL_API_KEY_FILE,
        format!("{api_key}\n").as_bytes(),
        "file",
        INITIAL_API_KEY_FILE,
    ) {
        Ok(()) | Err(StoreError::AlreadyExists { .. }) => {}
        Err(err) => return Err(err).context("cannot write the initial API key"),
    }
    tracing::warn!(
        path = %store.path(INITIAL_API_KEY_FILE).display(),
        "created the initial API key; read it from this file, then delete the file"
    );
    Ok(())
}

fn init_logging(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // Colours only on a terminal, so log files and journald get plain text.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(ansi);
    match format {
        LogFormat::Text => builder.init(),
        LogFormat::Json => builder.json().flatten_event(true).with_current_span(true).init(),
    }
}

/// Completes on SIGINT or SIGTERM.
async fn shutdown_signal() {
    let interrupt = async {
        if let Err(err) = tokio::signal::ctrl_c().await {
            tracing::error!(error = %err, "cannot listen for SIGINT");
            std::future::pending::<()>().await;
        }
    };
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(err) => {
                tracing::error!(error = %err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    tokio::select! {
        () = interrupt => tracing::info!("SIGINT received, stopping"),
        () = terminate => tracing::info!("SIGTERM received, stopping"),
    }
}
