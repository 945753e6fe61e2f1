//! `/rsa/...`: Raspberry Pi secure-boot keys and digest files.

use axum::extract::{Path, State};
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::json::{encode_base64, JsonBody};
use crate::middleware::Context;
use crate::AppState;

/// `GET /rsa/keys`: ids of all keys.
pub(crate) async fn list_keys(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let keys = state.run(|service| Ok(service.rsa_key_ids()?)).await?;
    Ok(Json(json!({ "keys": keys })))
}

/// `GET /rsa/key/{id}`: the PEM public key.
pub(crate) async fn public_key(State(state): State<AppState>, Path(id): Path<String>) -> Result<Json<Value>, ApiError> {
    let key = state.run(move |service| Ok(service.rsa_public_key(&id)?)).await?;
    Ok(Json(json!({ "key": key })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateKeyRequest {}

/// `POST /rsa/key`: creates an RSA-2048 key and returns its id as `fingerprint`.
pub(crate) async fn create_key(
    State(state): State<AppState>,
    Context(context): Context,
    body: JsonBody,
) -> Result<Json<Value>, ApiError> {
    let CreateKeyRequest {} = body.parse()?;
    let id = state.run(move |service| Ok(service.create_rsa_key(&context)?)).await?;
    Ok(Json(json!({ "fingerprint": id })))
}

/// `POST /rsa/sign`: the rpi-eeprom digest file for the payload, base64.
pub(crate) async fn sign(
    State(state): State<AppState>,
    Context(context): Context,
    body: JsonBody,
) -> Result<Json<Value>, ApiError> {
    let (key_id, payload) = body.into_key_and_payload()?;

    let digest_file = state
        .run(move |service| Ok(service.rsa_sign(&context, &key_id, &payload)?))
        .await?;
    Ok(Json(json!({ "signature": encode_base64(digest_file.as_bytes()) })))
}
