//! `/export` and `/import`: encrypted backups of the whole store.

use std::borrow::Cow;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::json::{decode_base64, JsonBody};
use crate::middleware::Context;
use crate::AppState;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ExportRequest {
    key: String,
}

/// `POST /export`: `data` (Fernet token) and `salt`.
pub(crate) async fn export(
    State(state): State<AppState>,
    Context(context): Context,
    body: JsonBody,
) -> Result<Json<Value>, ApiError> {
    let request: ExportRequest = body.parse()?;
    let backup = state
        .run(move |service| Ok(service.export(&context, &request.key)?))
        .await?;
    Ok(Json(json!({ "data": backup.data, "salt": backup.salt })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ImportRequest<'a> {
    key: String,
    #[serde(borrow)]
    data: Cow<'a, str>,
    salt: String,
}

/// `POST /import`: 204 when the backup is merged into the store.
pub(crate) async fn import(
    State(state): State<AppState>,
    Context(context): Context,
    body: JsonBody,
) -> Result<StatusCode, ApiError> {
    let request: ImportRequest<'_> = body.parse()?;
    let salt = decode_base64("salt", &request.salt)?;
    let data = request.data.into_owned();
    let key = request.key;
    drop(body);

    state
        .run(move |service| Ok(service.import(&context, &key, &data, &salt)?))
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
