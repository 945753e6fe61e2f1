//! The balena-sign HTTP API on axum.
//!
//! Handlers are thin: they parse the body through [`json::JsonBody`], call
//! the [`Service`] on a blocking thread (RSA and hashing are CPU work) and map
//! the result. Every POST needs an API key; GETs serve public material only.

#![forbid(unsafe_code)]

mod error;
mod json;
mod middleware;
mod routes;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
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

/// Builds the router with every endpoint and middleware.
pub fn router(state: AppState) -> Router {
    let signing = Router::new()
        .route("/cert", post(routes::certificates::create))
        .route("/cert/sign", post(routes::certificates::sign_digest))
        .route("/rsa/key", post(routes::rpi::create_key))
        .route("/rsa/sign", post(routes::rpi::sign))
        .route("/gpg/key", post(routes::openpgp::create_key))
        .route("/gpg/sign", post(routes::openpgp::sign))
        .route("/secureboot/pk", post(routes::secureboot::sign_pk))
        .route("/secureboot/kek", post(routes::secureboot::sign_kek))
        .route("/secureboot/db", post(routes::secureboot::sign_db))
        .route("/secureboot/dbx", post(routes::secureboot::sign_dbx))
        .route("/secureboot/efi", post(routes::secureboot::sign_efi))
        .route("/kmod/sign", post(routes::secureboot::sign_kmod))
        .route("/imx/pki", post(routes::nxp::create))
        .route("/imx/cst", post(routes::nxp::cst))
        .route("/nxp/cst", post(routes::nxp::cst))
        .route("/bootstrap", post(routes::bootstrap::bootstrap))
        .route("/export", post(routes::backup::export))
        .route("/import", post(routes::backup::import))
        .route_layer(axum::middleware::from_fn_with_state(
            state.clone(),
            middleware::require_api_key,
        ));

    let public = Router::new()
        .route("/health", get(routes::health::health))
        .route("/cert/{cert_id}", get(routes::certificates::get))
        .route("/kmod/cert/{cert_id}", get(routes::certificates::get))
        .route("/rsa/keys", get(routes::rpi::list_keys))
        .route("/rsa/key/{id}", get(routes::rpi::public_key))
        .route("/gpg/keys", get(routes::openpgp::list_keys))
        .route("/gpg/key/{fingerprint}", get(routes::openpgp::public_key))
        .route("/secureboot/{variable}/{ids}", get(routes::secureboot::get_variable))
        .route("/imx/pkis", get(routes::nxp::list))
        .route("/imx/efuses/{pki_id}", get(routes::nxp::efuses))
        .route("/nxp/efuses/{pki_id}", get(routes::nxp::efuses));

    Router::new()
        .merge(signing)
        .merge(public)
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
