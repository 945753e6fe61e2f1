//! Requests to the server and the checks on its responses.
//!
//! A success must carry the documented field and a failure is a non-2xx
//! status with `{"error": "..."}`; anything else is reported as an error that
//! names the request.

use std::borrow::Cow;
use std::collections::HashMap;
use std::io::ErrorKind;
use std::time::Duration;

use anyhow::{anyhow, bail, Context};
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use reqwest::header::CONTENT_TYPE;
use reqwest::{Body, Client, Method, RequestBuilder, StatusCode, Url};
use serde::Deserialize;
use serde_json::value::RawValue;

/// Environment variable that contains the API key.
pub(crate) const API_KEY_VARIABLE: &str = "BALENASIGN_API_KEY";

/// Header that carries the API key.
const API_KEY_HEADER: &str = "X-API-Key";

/// Time allowed to open the TCP (and TLS) connection.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);

/// Largest response size reserved up front from `Content-Length`; a larger
/// response grows the buffer as it arrives.
const MAX_RESERVED_RESPONSE_LEN: u64 = 256 << 20;

/// Characters of a non-JSON error body shown in a message.
const MAX_QUOTED_BODY_CHARS: usize = 200;

/// A server to send requests to, one request at a time.
pub(crate) struct Connection {
    runtime: tokio::runtime::Runtime,
    base: Url,
    api_key: Option<String>,
    client: Client,
}

/// The body of a 2xx response, kept as bytes so that large base64 fields are
/// read without another copy.
pub(crate) struct JsonResponse {
    request: String,
    body: Vec<u8>,
}

/// A JSON string that borrows from the response unless it has escapes.
#[derive(Deserialize)]
struct Text<'a>(#[serde(borrow)] Cow<'a, str>);

/// The error body that the server sends with a non-2xx status.
#[derive(Deserialize)]
struct ErrorBody {
    error: String,
}

impl Connection {
    /// Checks the base URL and reads the API key from the environment.
    pub(crate) fn new(url: Option<&str>, timeout: Duration) -> anyhow::Result<Self> {
        // An empty BALENASIGN_URL counts as unset, as the server's own variables do.
        let url = url
            .filter(|url| !url.is_empty())
            .context("no server URL: set BALENASIGN_URL or pass --url")?;
        let mut base = Url::parse(url).with_context(|| format!("invalid server URL {url:?}"))?;
        if !matches!(base.scheme(), "http" | "https") || base.cannot_be_a_base() {
            bail!("invalid server URL {url:?}: expected an http:// or https:// URL");
        }
        if !base.path().ends_with('/') {
            let path = format!("{}/", base.path());
            base.set_path(&path);
        }

        let api_key = std::env::var(API_KEY_VARIABLE).ok().filter(|key| !key.is_empty());
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("cannot start the HTTP client runtime")?;
        let client = Client::builder()
            .connect_timeout(CONNECT_TIMEOUT)
            .timeout(timeout)
            .build()
            .context("cannot set up the HTTP client")?;
        Ok(Self {
            runtime,
            base,
            api_key,
            client,
        })
    }

    /// Sends `GET path`, with the API key when one is set (the server
    /// ignores it on public material).
    pub(crate) fn get(&self, path: &[&str]) -> anyhow::Result<JsonResponse> {
        let url = self.endpoint(path);
        let mut request = self.client.request(Method::GET, url.clone());
        if let Some(api_key) = &self.api_key {
            request = request.header(API_KEY_HEADER, api_key);
        }
        self.runtime.block_on(send(request, Method::GET, &url))
    }

    /// Sends `POST path` with a JSON `body` and the API key, which is required.
    ///
    /// The client is async, run on a runtime of its own, because the blocking
    /// client reports a streamed upload to an unreachable server as a body
    /// error and loses the connection error.
    pub(crate) fn post(&self, path: &[&str], body: Body) -> anyhow::Result<JsonResponse> {
        let api_key = self.api_key.as_deref().with_context(|| {
            format!("{API_KEY_VARIABLE} is not set; export it with the API key (it is read from the environment only)")
        })?;
        let url = self.endpoint(path);

        let result = self
            .runtime
            .block_on(send(self.post_request(&url, api_key, body), Method::POST, &url));
        match result {
            Err(err) if closed_during_upload(&err) => Err(self.explain_closed_upload(&url, api_key, err)),
            result => result,
        }
    }

    fn post_request(&self, url: &Url, api_key: &str, body: Body) -> RequestBuilder {
        self.client
            .request(Method::POST, url.clone())
            .header(CONTENT_TYPE, "application/json")
            .header(API_KEY_HEADER, api_key)
            .body(body)
    }

    /// Finds out why the server closed the connection during an upload.
    ///
    /// A server that rejects a request before reading its body (a rejected
    /// API key, a body over its size limit) responds and closes. The client's
    /// next write then resets the connection, which often discards the
    /// response unread. So a POST of `{}` with the same key is sent: it gets
    /// the authentication error again if there is one. Any other response to
    /// it leaves the size limit as the likely cause.
    fn explain_closed_upload(&self, url: &Url, api_key: &str, err: anyhow::Error) -> anyhow::Error {
        let probe = self.post_request(url, api_key, Body::from("{}"));
        match self.runtime.block_on(send(probe, Method::POST, url)) {
            Err(probe_err)
                if probe_err
                    .downcast_ref::<ServerError>()
                    .is_some_and(|server_error| is_auth_status(server_error.status)) =>
            {
                probe_err
            }
            _ => err.context(
                "the server closed the connection during the upload; \
                 the request may be larger than the server's body size limit",
            ),
        }
    }

    /// Returns the URL of `path` under the base URL, each segment
    /// percent-encoded, so an id cannot add path segments.
    fn endpoint(&self, path: &[&str]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut segments) = url.path_segments_mut() {
            segments.pop_if_empty().extend(path);
        }
        url
    }
}

impl JsonResponse {
    /// Returns the string field `name`, borrowed from the body when it has
    /// no JSON escapes.
    pub(crate) fn text(&self, name: &str) -> anyhow::Result<Cow<'_, str>> {
        let raw = self.field(name)?;
        let Text(text) = serde_json::from_str(raw.get())
            .map_err(|_| anyhow!("`{name}` in the response to {} is not a string", self.request))?;
        Ok(text)
    }

    /// Returns the field `name`, a list of strings.
    pub(crate) fn list(&self, name: &str) -> anyhow::Result<Vec<String>> {
        let raw = self.field(name)?;
        serde_json::from_str(raw.get())
            .map_err(|_| anyhow!("`{name}` in the response to {} is not a list of strings", self.request))
    }

    /// Returns the decoded field `name`, standard base64; for small fields.
    pub(crate) fn base64(&self, name: &str) -> anyhow::Result<Vec<u8>> {
        let text = self.text(name)?;
        STANDARD
            .decode(text.as_bytes())
            .with_context(|| format!("`{name}` in the response to {} is not valid base64", self.request))
    }

    /// Request that produced this response, such as `POST /rsa/sign`, for messages.
    pub(crate) fn request(&self) -> &str {
        &self.request
    }

    fn field(&self, name: &str) -> anyhow::Result<&RawValue> {
        let fields: HashMap<String, &RawValue> = serde_json::from_slice(&self.body).with_context(|| {
            format!(
                "the response to {} is not a JSON object: {}",
                self.request,
                quote_body(&self.body)
            )
        })?;
        fields
            .get(name)
            .copied()
            .with_context(|| format!("the response to {} has no `{name}` field", self.request))
    }
}

/// A non-2xx response.
#[derive(Debug, thiserror::Error)]
#[error("{request} failed with status {status}: {message}")]
pub(crate) struct ServerError {
    request: String,
    status: StatusCode,
    /// The `error` field of the response, or a description of the body when it
    /// has none.
    message: String,
}

/// Sends a request and reads the whole response; a non-2xx status becomes a
/// [`ServerError`] with the server's message.
async fn send(request: RequestBuilder, method: Method, url: &Url) -> anyhow::Result<JsonResponse> {
    let description = format!("{method} {}", url.path());
    let mut response = request
        .send()
        .await
        .map_err(|err| describe_send_error(err, &description, url))?;
    let status = response.status();

    let reserved = response.content_length().unwrap_or(0).min(MAX_RESERVED_RESPONSE_LEN);
    let mut body = Vec::with_capacity(usize::try_from(reserved).unwrap_or(0));
    while let Some(chunk) = response
        .chunk()
        .await
        .map_err(|err| anyhow::Error::new(err.without_url()))
        .with_context(|| format!("cannot read the response to {description}"))?
    {
        body.extend_from_slice(&chunk);
    }

    if !status.is_success() {
        return Err(server_error(description, status, &body).into());
    }
    Ok(JsonResponse {
        request: description,
        body,
    })
}

/// Describes a failed request: the server cannot be reached, did not respond
/// in time, or the upload failed.
fn describe_send_error(err: reqwest::Error, description: &str, url: &Url) -> anyhow::Error {
    let origin = url.origin().ascii_serialization();
    let err = anyhow::Error::new(err.without_url());
    if err
        .downcast_ref::<reqwest::Error>()
        .is_some_and(reqwest::Error::is_connect)
    {
        err.context(format!("cannot connect to the server at {origin}"))
    } else if err
        .downcast_ref::<reqwest::Error>()
        .is_some_and(reqwest::Error::is_timeout)
    {
        err.context(format!(
            "{description} to {origin} timed out; a longer --timeout may help"
        ))
    } else {
        err.context(format!("{description} to {origin} failed"))
    }
}

/// Builds the error for a non-2xx response from its `error` message, or from
/// the start of the body when it has none (a proxy's HTML page, say).
fn server_error(request: String, status: StatusCode, body: &[u8]) -> ServerError {
    let message = match serde_json::from_slice::<ErrorBody>(body) {
        Ok(ErrorBody { error }) => error,
        Err(_) => format!("the response has no JSON error message: {}", quote_body(body)),
    };
    ServerError {
        request,
        status,
        message,
    }
}

/// Returns whether the connection broke while the request was sent, as it
/// does when the server responds early and closes.
fn closed_during_upload(err: &anyhow::Error) -> bool {
    err.chain()
        .filter_map(|cause| cause.downcast_ref::<std::io::Error>())
        .any(|io_err| {
            matches!(
                io_err.kind(),
                ErrorKind::BrokenPipe | ErrorKind::ConnectionReset | ErrorKind::ConnectionAborted
            )
        })
}

/// Statuses of a rejected or uncheckable API key.
fn is_auth_status(status: StatusCode) -> bool {
    matches!(
        status,
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN | StatusCode::SERVICE_UNAVAILABLE
    )
}

/// Returns the start of `body` as text, for messages.
fn quote_body(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let mut quoted: String = text.chars().take(MAX_QUOTED_BODY_CHARS).collect();
    if text.chars().nth(MAX_QUOTED_BODY_CHARS).is_some() {
        quoted.push_str("...");
    }
    format!("{quoted:?}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn response(body: &str) -> JsonResponse {
        JsonResponse {
            request: "POST /rsa/sign".into(),
            body: body.as_bytes().to_vec(),
        }
    }

    fn connection(url: &str) -> Connection {
        Connection::new(Some(url), Duration::from_secs(1)).unwrap()
    }

    #[test]
    fn text_field_borrows_from_body() {
        let response = response(r#"{"signature": "AAEC", "ts": 1}"#);
        assert!(matches!(response.text("signature").unwrap(), Cow::Borrowed("AAEC")));
        assert_eq!(response.base64("signature").unwrap(), [0, 1, 2]);
    }

    #[test]
    fn missing_field_is_named() {
        let message = response(r#"{"other": "x"}"#).text("signature").unwrap_err().to_string();
        assert_eq!(message, "the response to POST /rsa/sign has no `signature` field");
    }

    #[test]
    fn wrong_field_types_are_rejected() {
        let response = response(r#"{"signature": 5, "keys": "a"}"#);
        assert!(response
            .text("signature")
            .unwrap_err()
            .to_string()
            .contains("not a string"));
        assert!(response.list("keys").unwrap_err().to_string().contains("not a list"));
        assert!(response.base64("signature").is_err());
    }

    #[test]
    fn non_json_response_is_quoted() {
        let message = format!("{:#}", response("<html>").text("signature").unwrap_err());
        assert!(message.contains("not a JSON object: \"<html>\""), "{message}");
    }

    #[test]
    fn server_error_uses_error_message() {
        let body = br#"{"error": "RSA key 'x' not found", "code": "NOT_FOUND"}"#;
        let message = server_error("POST /rsa/sign".into(), StatusCode::NOT_FOUND, body).to_string();
        assert_eq!(
            message,
            "POST /rsa/sign failed with status 404 Not Found: RSA key 'x' not found"
        );
    }

    #[test]
    fn server_error_without_json_quotes_body() {
        let body = "x".repeat(300);
        let message = server_error("GET /rsa/keys".into(), StatusCode::BAD_GATEWAY, body.as_bytes()).to_string();
        assert!(
            message.contains("502 Bad Gateway: the response has no JSON error message"),
            "{message}"
        );
        assert!(message.ends_with(&format!("{}...\"", "x".repeat(10))), "{message}");
        assert!(message.len() < 300, "{message}");
    }

    #[test]
    fn endpoint_keeps_base_path_and_encodes_ids() {
        let with_path = connection("https://sign.example.com/api");
        assert_eq!(
            with_path.endpoint(&["cert", "a/b"]).as_str(),
            "https://sign.example.com/api/cert/a%2Fb"
        );
        let with_slash = connection("http://127.0.0.1:8080/");
        assert_eq!(
            with_slash.endpoint(&["secureboot", "pk", "pk,kek"]).as_str(),
            "http://127.0.0.1:8080/secureboot/pk/pk,kek"
        );
    }

    #[test]
    fn invalid_urls_are_rejected() {
        for url in ["localhost:8080", "ftp://example.com", "not a url"] {
            assert!(Connection::new(Some(url), Duration::from_secs(1)).is_err(), "{url}");
        }
        let message = Connection::new(None, Duration::from_secs(1)).err().unwrap().to_string();
        assert!(message.contains("BALENASIGN_URL"), "{message}");
    }
}
