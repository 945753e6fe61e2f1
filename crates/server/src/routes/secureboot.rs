//! `/secureboot/...`: UEFI Secure Boot variables and EFI binaries.

use std::borrow::Cow;

use axum::extract::{Path, State};
use axum::response::Response;
use axum::Json;
use balena_sign_formats::efi::authvar::SecureBootVariable;
use balena_sign_service::{variable_from_path, CertificateList};
use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::json::{base64_response, decode_base64, encode_base64, IdList, JsonBody};
use crate::middleware::Context;
use crate::AppState;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct StoredListRequest {
    key_id: IdList,
    signing_key_id: Option<String>,
    #[serde(default)]
    append: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct DatabaseRequest<'a> {
    key_id: Option<IdList>,
    #[serde(borrow)]
    esl: Option<Cow<'a, str>>,
    signing_key_id: Option<String>,
    #[serde(default)]
    append: bool,
}

/// `POST /secureboot/pk`.
pub(crate) async fn sign_pk(state: State<AppState>, context: Context, body: JsonBody) -> Result<Json<Value>, ApiError> {
    sign_stored(state, context, body, SecureBootVariable::Pk).await
}

/// `POST /secureboot/kek`.
pub(crate) async fn sign_kek(
    state: State<AppState>,
    context: Context,
    body: JsonBody,
) -> Result<Json<Value>, ApiError> {
    sign_stored(state, context, body, SecureBootVariable::Kek).await
}

/// `POST /secureboot/db`.
pub(crate) async fn sign_db(state: State<AppState>, context: Context, body: JsonBody) -> Result<Response, ApiError> {
    sign_database(state, context, body, SecureBootVariable::Db).await
}

/// `POST /secureboot/dbx`.
pub(crate) async fn sign_dbx(state: State<AppState>, context: Context, body: JsonBody) -> Result<Response, ApiError> {
    sign_database(state, context, body, SecureBootVariable::Dbx).await
}

/// Signs a variable for stored certificates and returns `{}`.
async fn sign_stored(
    State(state): State<AppState>,
    Context(context): Context,
    body: JsonBody,
    variable: SecureBootVariable,
) -> Result<Json<Value>, ApiError> {
    let request: StoredListRequest = body.parse()?;
    sign_stored_list(
        &state,
        context,
        variable,
        request.key_id,
        request.signing_key_id,
        request.append,
    )
    .await
}

async fn sign_stored_list(
    state: &AppState,
    context: balena_sign_service::RequestContext,
    variable: SecureBootVariable,
    key_id: IdList,
    signing_key_id: Option<String>,
    append: bool,
) -> Result<Json<Value>, ApiError> {
    // The signing key defaults to the first certificate the request names.
    let signing_key_id = match signing_key_id {
        Some(id) => id,
        None => key_id.0.first().cloned().unwrap_or_default(),
    };
    let list = CertificateList::new("key_id", key_id.0)?;
    state
        .run(move |service| Ok(service.sign_stored_variable(&context, variable, &list, &signing_key_id, append)?))
        .await?;
    Ok(Json(json!({})))
}

/// Signs db or dbx: stored certificates (`key_id`), or a caller's signature
/// lists (`esl` with `signing_key_id`, returned as `auth`).
async fn sign_database(
    State(state): State<AppState>,
    Context(context): Context,
    body: JsonBody,
    variable: SecureBootVariable,
) -> Result<Response, ApiError> {
    use axum::response::IntoResponse;

    let request: DatabaseRequest<'_> = body.parse()?;
    match (request.key_id, request.esl) {
        (Some(key_id), None) => {
            let reply = sign_stored_list(
                &state,
                context,
                variable,
                key_id,
                request.signing_key_id,
                request.append,
            )
            .await?;
            Ok(reply.into_response())
        }
        (None, Some(esl)) => {
            let esl = decode_base64("esl", &esl)?;
            let signing_key_id = request.signing_key_id.ok_or_else(|| ApiError::InvalidField {
                field: "signing_key_id".into(),
                reason: "is required with `esl`".into(),
            })?;
            let append = request.append;
            let auth = state
                .run(move |service| {
                    Ok(service.sign_external_variable(&context, variable, &esl, &signing_key_id, append)?)
                })
                .await?;
            Ok(base64_response("auth", &auth))
        }
        (Some(_), Some(_)) => Err(ApiError::InvalidField {
            field: "esl".into(),
            reason: "give either `key_id` (stored certificates) or `esl` (a signature list), not both".into(),
        }),
        (None, None) => Err(ApiError::InvalidField {
            field: "key_id".into(),
            reason: "is required unless `esl` is given".into(),
        }),
    }
}

/// `GET /secureboot/{var}/{ids}`: the stored variable, its signature list
/// and its certificates.
pub(crate) async fn get_variable(
    State(state): State<AppState>,
    Path((name, ids)): Path<(String, String)>,
) -> Result<Json<Value>, ApiError> {
    let variable = match variable_from_path(&name) {
        Some(variable @ (SecureBootVariable::Pk | SecureBootVariable::Kek | SecureBootVariable::Db)) => variable,
        _ => return Err(ApiError::RouteNotFound),
    };
    let list = CertificateList::from_path(&ids)?;

    let stored = state
        .run(move |service| Ok(service.stored_variable(variable, &list)?))
        .await?;
    let certificates: Vec<String> = stored.certificates.iter().map(|der| encode_base64(der)).collect();
    Ok(Json(json!({
        name: encode_base64(&stored.auth),
        "esl": encode_base64(&stored.esl),
        "der": certificates,
    })))
}

/// `POST /secureboot/efi`: the Authenticode-signed binary as `signed`.
pub(crate) async fn sign_efi(
    State(state): State<AppState>,
    Context(context): Context,
    body: JsonBody,
) -> Result<Response, ApiError> {
    let (key_id, image) = body.into_key_and_payload()?;

    let signed = state
        .run(move |service| Ok(service.sign_efi_binary(&context, &key_id, &image)?))
        .await?;
    Ok(base64_response("signed", &signed))
}
