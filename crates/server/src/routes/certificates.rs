//! `/cert`, `/cert/sign` and `/kmod/cert`.

use axum::extract::{Path, State};
use axum::Json;
use balena_sign_service::CreateCertificate;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::json::{encode_base64, Count, JsonBody};
use crate::middleware::Context;
use crate::AppState;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateRequest {
    pub(crate) cert_id: String,
    pub(crate) subject: String,
    pub(crate) key_length: Option<Count>,
    pub(crate) days: Option<Count>,
}

/// `POST /cert`: a new key and self-signed certificate.
pub(crate) async fn create(
    State(state): State<AppState>,
    Context(context): Context,
    body: JsonBody,
) -> Result<Json<Value>, ApiError> {
    let request: CreateRequest = body.parse()?;
    let command = CreateCertificate::new(
        request.cert_id,
        &request.subject,
        request.key_length.map(|count| count.0),
        request.days.map(|count| count.0),
    )?;

    let cert = state
        .run(move |service| Ok(service.create_certificate(&context, command)?))
        .await?;
    Ok(Json(json!({ "cert": cert })))
}

/// `GET /cert/{cert_id}` and `GET /kmod/cert/{cert_id}`: the PEM certificate.
pub(crate) async fn get(State(state): State<AppState>, Path(cert_id): Path<String>) -> Result<Json<Value>, ApiError> {
    let cert = state.run(move |service| Ok(service.certificate(&cert_id)?)).await?;
    Ok(Json(json!({ "cert": cert })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SignDigestRequest {
    cert_id: String,
    digest: String,
}

/// `POST /cert/sign`: PKCS#1 v1.5 over a raw SHA-256 digest.
pub(crate) async fn sign_digest(
    State(state): State<AppState>,
    Context(context): Context,
    body: JsonBody,
) -> Result<Json<Value>, ApiError> {
    let request: SignDigestRequest = body.parse()?;
    let signature = state
        .run(move |service| Ok(service.sign_digest(&context, &request.cert_id, &request.digest)?))
        .await?;
    Ok(Json(json!({ "signature": encode_base64(&signature) })))
}
