//! `/kmod/sign`: Linux kernel module signatures.

use axum::extract::State;
use axum::response::Response;

use crate::error::ApiError;
use crate::json::{base64_response, JsonBody};
use crate::middleware::Context;
use crate::AppState;

/// `POST /kmod/sign`: the signed kernel module as `signed`.
pub(crate) async fn sign_kmod(
    State(state): State<AppState>,
    Context(context): Context,
    body: JsonBody,
) -> Result<Response, ApiError> {
    let (key_id, module) = body.into_key_and_payload()?;

    let signed = state
        .run(move |service| Ok(service.sign_kernel_module(&context, &key_id, &module)?))
        .await?;
    Ok(base64_response("signed", &signed))
}
