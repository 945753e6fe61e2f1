//! Endpoint handlers, one module per API area.

pub(crate) mod backup;
pub(crate) mod bootstrap;
pub(crate) mod certificates;
pub(crate) mod health;
pub(crate) mod kmod;
pub(crate) mod nxp;
pub(crate) mod openpgp;
pub(crate) mod rpi;
pub(crate) mod secureboot;

use axum::routing::{get, post, MethodRouter};

use crate::error::ApiError;
use crate::openapi::Handler;
use crate::AppState;

/// The axum handler of each endpoint in the table.
pub(crate) fn method_router(handler: Handler) -> MethodRouter<AppState> {
    match handler {
        Handler::Health => get(health::health),
        Handler::Metrics => get(health::metrics),
        Handler::OpenApi => get(health::openapi),
        Handler::CertCreate => post(certificates::create),
        Handler::CertGet => get(certificates::get),
        Handler::CertSign => post(certificates::sign_digest),
        Handler::RsaList => get(rpi::list_keys),
        Handler::RsaGet => get(rpi::public_key),
        Handler::RsaCreate => post(rpi::create_key),
        Handler::RsaSign => post(rpi::sign),
        Handler::GpgList => get(openpgp::list_keys),
        Handler::GpgGet => get(openpgp::public_key),
        Handler::GpgCreate => post(openpgp::create_key),
        Handler::GpgSign => post(openpgp::sign),
        Handler::SecureBootPk => post(secureboot::sign_pk),
        Handler::SecureBootKek => post(secureboot::sign_kek),
        Handler::SecureBootDb => post(secureboot::sign_db),
        Handler::SecureBootDbx => post(secureboot::sign_dbx),
        Handler::SecureBootGet => get(secureboot::get_variable),
        Handler::EfiSign => post(secureboot::sign_efi),
        Handler::KmodSign => post(kmod::sign_kmod),
        Handler::ImxList => get(nxp::list),
        Handler::ImxEfuses => get(nxp::efuses),
        Handler::ImxCreate => post(nxp::create),
        Handler::ImxCst => post(nxp::cst),
        Handler::Bootstrap => post(bootstrap::bootstrap),
        Handler::Export => post(backup::export),
        Handler::Import => post(backup::import),
    }
}

pub(crate) async fn not_found() -> ApiError {
    ApiError::RouteNotFound
}

pub(crate) async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}
