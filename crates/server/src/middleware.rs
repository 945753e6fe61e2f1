//! Request ids, request logging and API-key checks.

use std::time::Instant;

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use balena_sign_service::{Caller, RequestContext};

use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use tracing::Instrument;

use crate::error::ApiError;
use crate::AppState;

/// Header that carries the request id in both directions.
pub(crate) const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// Header with the caller's API key.
const API_KEY_HEADER: HeaderName = HeaderName::from_static("x-api-key");

/// Maximum length of a client-supplied request id that is kept.
const MAX_REQUEST_ID_LEN: usize = 64;

/// The id of the current request, as logged and returned in `x-request-id`.
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

/// Gives each request an id (the client's `x-request-id` when it is short and
/// plain, else a random one), runs it inside a span carrying that id, and
/// logs one line when it finishes.
pub(crate) async fn request_span(mut request: Request, next: Next) -> Response {
    let request_id = request
        .headers()
        .get(&REQUEST_ID_HEADER)
        .and_then(|value| value.to_str().ok())
        .filter(|id| is_plain_request_id(id))
        .map(str::to_owned)
        .unwrap_or_else(random_request_id);
    request.extensions_mut().insert(RequestId(request_id.clone()));

    let span = tracing::info_span!(
        "request",
        method = %request.method(),
        path = %request.uri().path(),
        request_id = %request_id,
        caller = tracing::field::Empty,
    );
    let started = Instant::now();
    let mut response = next.run(request).instrument(span.clone()).await;

    let status = response.status();
    span.in_scope(|| {
        let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
        if status.is_server_error() {
            tracing::error!(status = status.as_u16(), latency_ms, "request failed");
        } else {
            tracing::info!(status = status.as_u16(), latency_ms, "request finished");
        }
    });
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
    response
}

/// Rejects requests without a valid `X-API-Key`.
pub(crate) async fn require_api_key(State(state): State<AppState>, mut request: Request, next: Next) -> Response {
    let api_key = request
        .headers()
        .get(&API_KEY_HEADER)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);

    match state.auth.authenticate(api_key.as_deref()).await {
        Ok(caller) => {
            tracing::Span::current().record("caller", caller.identity.as_str());
            request.extensions_mut().insert(caller);
            next.run(request).await
        }
        Err(err) => {
            tracing::warn!(reason = %err, "rejected request");
            let error = ApiError::from(err);
            let request_id = request
                .extensions()
                .get::<RequestId>()
                .map(|id| id.0.clone())
                .unwrap_or_default();
            let code = error.code();
            let service = std::sync::Arc::clone(&state.service);
            let _ =
                tokio::task::spawn_blocking(move || service.record_rejected_authentication(&request_id, code)).await;
            error.into_response()
        }
    }
}

fn is_plain_request_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= MAX_REQUEST_ID_LEN
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
}

fn random_request_id() -> String {
    let mut bytes = [0u8; 8];
    // An all-zero id is still a usable id if the OS RNG fails.
    let _ = getrandom::fill(&mut bytes);
    hex::encode(bytes)
}

/// The request id and authenticated caller of a signing request.
pub(crate) struct Context(pub(crate) RequestContext);

impl<S: Send + Sync> FromRequestParts<S> for Context {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        let request_id = parts
            .extensions
            .get::<RequestId>()
            .map(|id| id.0.clone())
            .unwrap_or_default();
        // Routes that take a Context sit behind require_api_key, which inserts the caller.
        let caller = parts
            .extensions
            .get::<Caller>()
            .cloned()
            .ok_or_else(|| ApiError::internal("signing route reached without an authenticated caller"))?;
        Ok(Self(RequestContext { request_id, caller }))
    }
}

/// Counts each request that matched a route, by route template.
pub(crate) async fn record_metrics(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map(|path| path.as_str().to_owned())
        .unwrap_or_else(|| "unmatched".to_owned());
    let method = request.method().to_string();
    let started = Instant::now();
    let response = next.run(request).await;
    state.service.metrics().record_request(
        &route,
        &method,
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}
