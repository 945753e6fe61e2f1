//! A stand-in signing server on loopback for responses that the real server
//! never gives (a missing field, invalid base64, a proxy's HTML error page)
//! and for the endpoints that it does not serve yet.
//!
//! Every POST gets a response chosen by its `key_id`, whatever the path.

use axum::extract::{DefaultBodyLimit, Path};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};

use crate::common::{b64decode, b64encode};

/// `key_id` whose response is the payload followed by [`SIGNATURE_MARK`], in
/// the field that the endpoint documents.
pub const ECHO_KEY: &str = "echo";
/// `key_id` that gets 200 and no documented field.
pub const MISSING_FIELD_KEY: &str = "missing-field";
/// `key_id` that gets 200 and a field that is not base64.
pub const BAD_BASE64_KEY: &str = "bad-base64";
/// `key_id` that gets 502 and an HTML page, as a proxy does.
pub const PROXY_ERROR_KEY: &str = "proxy-error";

/// Bytes the echo response appends to the payload.
pub const SIGNATURE_MARK: &[u8] = b"<signature>";

pub struct MockSigner {
    pub url: String,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl MockSigner {
    pub fn start() -> Self {
        let (shutdown_tx, shutdown_rx) = tokio::sync::oneshot::channel::<()>();
        let (address_tx, address_rx) = std::sync::mpsc::channel();

        let thread = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            runtime.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
                address_tx.send(listener.local_addr().unwrap()).unwrap();
                let app = Router::new()
                    .route("/{*path}", post(sign))
                    .layer(DefaultBodyLimit::disable());
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
            shutdown: Some(shutdown_tx),
            thread: Some(thread),
        }
    }
}

impl Drop for MockSigner {
    fn drop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

async fn sign(Path(path): Path<String>, Json(body): Json<Value>) -> Response {
    let field = match path.as_str() {
        "secureboot/efi" | "kmod/sign" => "signed",
        _ => "signature",
    };
    let payload = body["payload"].as_str().unwrap_or("");
    match body["key_id"].as_str().unwrap_or("") {
        ECHO_KEY => {
            let mut signed = b64decode(payload);
            signed.extend_from_slice(SIGNATURE_MARK);
            let signed = b64encode(&signed);
            Json(json!({ field: signed })).into_response()
        }
        MISSING_FIELD_KEY => Json(json!({ "status": "ok" })).into_response(),
        BAD_BASE64_KEY => Json(json!({ field: "AAAA*AAA" })).into_response(),
        PROXY_ERROR_KEY => (StatusCode::BAD_GATEWAY, "<html><body>502 Bad Gateway</body></html>").into_response(),
        _ => (StatusCode::NOT_FOUND, Json(json!({ "error": "key not found" }))).into_response(),
    }
}
