//! `/kmod/sign`: Linux kernel module signatures.

use axum::extract::State;
use axum::response::Response;

use crate::error::ApiError;
use crate::json::{base64_response, decode_base64, JsonBody};
use crate::middleware::Context;
use crate::routes::secureboot::SignPayloadRequest;
use crate::AppState;

/// `POST /kmod/sign`: the signed kernel module as `signed`.
pub(crate) async fn sign_kmod(
    State(state): State<AppState>,
    Context(context): Context,
    body: JsonBody,
) -> Result<Response, ApiError> {
    let request: SignPayloadRequest<'_> = body.parse()?;
    let module = decode_base64("payload", &request.payload)?;
    let key_id = request.key_id;
    drop(body);

    let signed = state
        .run(move |service| Ok(service.sign_kernel_module(&context, &key_id, &module)?))
        .await?;
    Ok(base64_response("signed", &signed))
}
