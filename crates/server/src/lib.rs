//! The balena-sign HTTP API on axum.
//!
//! Handlers are thin: they parse the body through [`json::JsonBody`], call
//! the [`Service`] on a blocking thread (RSA and hashing are CPU work) and map
//! the result. Every POST needs an API key; GETs serve public material only.

#![forbid(unsafe_code)]

mod error;
mod json;
mod middleware;
mod openapi;
mod routes;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::Router;
use balena_sign_auth::Authenticator;
use balena_sign_service::Service;
use tokio::net::TcpListener;

pub use error::ApiError;
pub use middleware::RequestId;

/// Default limit on request bodies: 512 MiB, room for a 100 MB payload
/// in base64 inside JSON several times over.
pub const DEFAULT_MAX_BODY: usize = 512 * 1024 * 1024;

/// Shared state of all handlers.
#[derive(Clone)]
pub struct AppState {
    pub service: Arc<Service>,
    pub auth: Arc<Authenticator>,
    /// Request body limit in bytes.
    pub max_body: usize,
}

impl AppState {
    /// Runs `operation` on the blocking thread pool.
    pub(crate) async fn run<T, F>(&self, operation: F) -> Result<T, ApiError>
    where
        T: Send + 'static,
        F: FnOnce(&Service) -> Result<T, ApiError> + Send + 'static,
    {
        let service = Arc::clone(&self.service);
        let current = tracing::Span::current();
        tokio::task::spawn_blocking(move || current.in_scope(|| operation(&service)))
            .await
            .map_err(ApiError::internal)?
    }
}

/// Builds the router from the endpoint table, with every middleware.
pub fn router(state: AppState) -> Router {
    let mut signing = Router::new();
    let mut public = Router::new();
    for endpoint in openapi::ENDPOINTS {
        let handler = routes::method_router(endpoint.handler);
        if endpoint.needs_api_key() {
            signing = signing.route(endpoint.path, handler);
        } else {
            public = public.route(endpoint.path, handler);
        }
    }
    let signing = signing.route_layer(axum::middleware::from_fn_with_state(
        state.clone(),
        middleware::require_api_key,
    ));

    Router::new()
        .merge(signing)
        .merge(public)
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::record_metrics,
        ))
        .fallback(routes::not_found)
        .method_not_allowed_fallback(routes::method_not_allowed)
        .layer(DefaultBodyLimit::max(state.max_body))
        .layer(axum::middleware::from_fn(middleware::request_span))
        .with_state(state)
}

/// Serves `router` on `listener` until `shutdown` completes, then lets
/// requests in flight finish.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let service = router.into_make_service_with_connect_info::<SocketAddr>();
    axum::serve(listener, service).with_graceful_shutdown(shutdown).await
}

/// Certificate chain and private key files (PEM) for HTTPS.
#[derive(Clone, Debug)]
pub struct TlsFiles {
    pub certificate: std::path::PathBuf,
    pub private_key: std::path::PathBuf,
}

/// Seconds requests in flight may take to finish after a shutdown signal,
/// over HTTPS.
const TLS_GRACE_SECONDS: u64 = 60;

/// Rustls settings loaded from PEM files.
pub struct TlsConfig(axum_server::tls_rustls::RustlsConfig);

impl TlsFiles {
    /// Reads and checks the certificate chain and key.
    pub async fn load(&self) -> std::io::Result<TlsConfig> {
        let config = axum_server::tls_rustls::RustlsConfig::from_pem_file(&self.certificate, &self.private_key).await?;
        Ok(TlsConfig(config))
    }
}

/// Serves `router` over HTTPS (rustls) on `listener` until `shutdown`
/// completes, then lets requests in flight finish.
pub async fn serve_tls(
    listener: TcpListener,
    router: Router,
    tls: TlsConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let config = tls.0;
    let listener = listener.into_std()?;
    let handle = axum_server::Handle::new();
    let signal_handle = handle.clone();
    tokio::spawn(async move {
        shutdown.await;
        signal_handle.graceful_shutdown(Some(std::time::Duration::from_secs(TLS_GRACE_SECONDS)));
    });

    let service = router.into_make_service_with_connect_info::<SocketAddr>();
    axum_server::from_tcp_rustls(listener, config)?
        .handle(handle)
        .serve(service)
        .await
}
