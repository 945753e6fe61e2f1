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

/// `GET /metrics`: Prometheus text format.
pub(crate) async fn metrics(State(state): State<AppState>) -> impl axum::response::IntoResponse {
    let (hits, misses) = state.auth.cache_counts();
    let text = state.service.metrics().render(&[
        (
            "balena_sign_auth_cache_hits_total",
            "balenaCloud API key checks answered from the cache.",
            hits,
        ),
        (
            "balena_sign_auth_cache_misses_total",
            "balenaCloud API key checks that asked the API.",
            misses,
        ),
    ]);
    ([(axum::http::header::CONTENT_TYPE, "text/plain; version=0.0.4")], text)
}

/// `GET /openapi.json`: the OpenAPI 3 document of this API.
pub(crate) async fn openapi() -> Json<Value> {
    Json(crate::openapi::document())
}
