use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::AppState;

/// `GET /health`: 200 when the key store can be read and written.
pub(crate) async fn health(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    state
        .run(|service| service.check_store().map_err(ApiError::internal))
        .await?;
    Ok(Json(json!({ "status": "ok" })))
}
