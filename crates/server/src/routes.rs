//! Endpoint handlers, one module per API area.

pub(crate) mod backup;
pub(crate) mod bootstrap;
pub(crate) mod certificates;
pub(crate) mod health;
pub(crate) mod nxp;
pub(crate) mod openpgp;
pub(crate) mod rpi;
pub(crate) mod secureboot;

use crate::error::ApiError;

pub(crate) async fn not_found() -> ApiError {
    ApiError::RouteNotFound
}

pub(crate) async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}
