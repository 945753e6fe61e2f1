//! A stand-in for the balenaCloud API on loopback. It responds to
//! `GET /v7/application(<id>)?$select=id,app_name` as balenaCloud does, for
//! a few fixed API keys.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;

/// The only fleet in the mock.
pub const FLEET_ID: &str = "1234";

/// A key that can read the fleet.
pub const GOOD_KEY: &str = "key-with-fleet-access";
/// A valid balenaCloud key without access to the fleet (empty `d`).
pub const NO_FLEET_KEY: &str = "key-without-fleet";
/// A key balenaCloud rejects with 401.
pub const UNAUTHORIZED_KEY: &str = "key-unauthorized";
/// A key balenaCloud rejects with 403.
pub const FORBIDDEN_KEY: &str = "key-forbidden";
/// A key for which the API fails with 500.
pub const SERVER_ERROR_KEY: &str = "key-server-error";

pub struct MockBalena {
    pub url: String,
    hits: Arc<AtomicUsize>,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl MockBalena {
    pub fn start() -> Self {
        let hits = Arc::new(AtomicUsize::new(0));
        let (shutdown_tx, shutdown_rx) = tokio::sync::oneshot::channel::<()>();
        let (address_tx, address_rx) = std::sync::mpsc::channel();

        let state = Arc::clone(&hits);
        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                address_tx.send(listener.local_addr().unwrap()).unwrap();
                let app = Router::new()
                    .route("/v7/{resource}", get(application))
                    .with_state(state);
                axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = shutdown_rx.await;
                    })
                    .await
                    .unwrap();
            });
        });

        let address = address_rx.recv().unwrap();
        Self {
            url: format!("http://{address}"),
            hits,
            shutdown: Some(shutdown_tx),
            thread: Some(thread),
        }
    }

    /// Returns the number of requests the mock has received.
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

impl Drop for MockBalena {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn application(
    State(hits): State<Arc<AtomicUsize>>,
    Path(resource): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
) -> Response {
    hits.fetch_add(1, Ordering::SeqCst);

    if query.as_deref() != Some("$select=id,app_name") {
        return (StatusCode::BAD_REQUEST, "unexpected query").into_response();
    }
    let token = headers
        .get("authorization")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "))
        .unwrap_or("");
    let fleet = resource
        .strip_prefix("application(")
        .and_then(|rest| rest.strip_suffix(')'))
        .unwrap_or("");

    match token {
        GOOD_KEY if fleet == FLEET_ID => Json(json!({ "d": [{ "id": 1234, "app_name": "fleet" }] })).into_response(),
        GOOD_KEY | NO_FLEET_KEY => Json(json!({ "d": [] })).into_response(),
        FORBIDDEN_KEY => StatusCode::FORBIDDEN.into_response(),
        SERVER_ERROR_KEY => StatusCode::INTERNAL_SERVER_ERROR.into_response(),
        _ => StatusCode::UNAUTHORIZED.into_response(),
    }
}
