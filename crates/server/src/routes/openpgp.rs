//! `/gpg/...`: OpenPGP keys and detached signatures for GRUB.

use axum::extract::{Path, State};
use axum::Json;
use balena_sign_service::CreateOpenPgpKey;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::json::{encode_base64, Count, JsonBody};
use crate::middleware::Context;
use crate::AppState;

/// `GET /gpg/keys`: fingerprints of all keys.
pub(crate) async fn list_keys(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let keys = state.run(|service| Ok(service.openpgp_fingerprints()?)).await?;
    Ok(Json(json!({ "keys": keys })))
}

/// `GET /gpg/key/{fingerprint}`: the ASCII-armored public key.
pub(crate) async fn public_key(
    State(state): State<AppState>,
    Path(fingerprint): Path<String>,
) -> Result<Json<Value>, ApiError> {
    let key = state
        .run(move |service| Ok(service.openpgp_public_key("fingerprint", &fingerprint)?))
        .await?;
    Ok(Json(json!({ "key": key })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateKeyRequest {
    pub(crate) name_real: String,
    pub(crate) name_email: String,
    pub(crate) name_comment: Option<String>,
    pub(crate) key_length: Option<Count>,
}

/// `POST /gpg/key`: creates a key and returns its fingerprint.
pub(crate) async fn create_key(
    State(state): State<AppState>,
    Context(context): Context,
    body: JsonBody,
) -> Result<Json<Value>, ApiError> {
    let request: CreateKeyRequest = body.parse()?;
    let command = CreateOpenPgpKey::new(
        &request.name_real,
        &request.name_email,
        request.name_comment.as_deref(),
        request.key_length.map(|count| count.0),
    )?;

    let fingerprint = state
        .run(move |service| Ok(service.create_openpgp_key(&context, command)?))
        .await?;
    Ok(Json(json!({ "fingerprint": fingerprint })))
}

/// `POST /gpg/sign`: a binary detached signature over the payload, base64.
pub(crate) async fn sign(
    State(state): State<AppState>,
    Context(context): Context,
    body: JsonBody,
) -> Result<Json<Value>, ApiError> {
    let (key_id, payload) = body.into_key_and_payload()?;

    let signature = state
        .run(move |service| Ok(service.openpgp_sign(&context, &key_id, &payload)?))
        .await?;
    Ok(Json(json!({ "signature": encode_base64(&signature) })))
}
