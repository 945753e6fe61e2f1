//! The JSON seam: every request body goes through [`JsonBody`], so malformed
//! input gets the API's error shape and names the field at fault.

use std::borrow::Cow;
use std::fmt;

use axum::extract::{FromRequest, Request};
use axum::http::header::CONTENT_TYPE;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use base64::Engine;
use bytes::Bytes;
use serde::de::{self, Deserializer, Visitor};
use serde::Deserialize;

use crate::error::ApiError;
use crate::AppState;

/// Standard alphabet, padding optional, as the API promises to accept.
const BASE64_LENIENT_PADDING: GeneralPurpose = GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// A request body declared as JSON, not yet parsed.
pub struct JsonBody(Bytes);

impl FromRequest<AppState> for JsonBody {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Self::Rejection> {
        if !is_json_content_type(&request) {
            return Err(ApiError::UnsupportedMediaType);
        }
        let bytes = Bytes::from_request(request, state).await.map_err(|rejection| {
            if rejection.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::PayloadTooLarge { limit: state.max_body }
            } else {
                ApiError::InvalidBody {
                    reason: rejection.body_text(),
                }
            }
        })?;
        Ok(Self(bytes))
    }
}

/// The body of every endpoint that signs a payload with a named key.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct SignPayloadRequest<'a> {
    key_id: String,
    #[serde(borrow)]
    payload: Cow<'a, str>,
}

impl JsonBody {
    /// Parses `{"key_id": ..., "payload": <base64>}`, decodes the payload and
    /// frees the body before the signing starts, so a large payload is held
    /// once decoded, not also as base64.
    pub fn into_key_and_payload(self) -> Result<(String, Vec<u8>), ApiError> {
        let request: SignPayloadRequest<'_> = self.parse()?;
        let payload = decode_base64("payload", &request.payload)?;
        Ok((request.key_id, payload))
    }

    /// Parses the body into `T`, naming the field on error. Strings without
    /// escapes are borrowed from the body, so large payloads are not copied.
    pub fn parse<'a, T: Deserialize<'a>>(&'a self) -> Result<T, ApiError> {
        let mut deserializer = serde_json::Deserializer::from_slice(&self.0);
        let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|err| {
            let path = err.path().to_string();
            let inner = err.into_inner();
            let reason = without_position(&inner);
            if let Some(name) = missing_field(&reason) {
                // The path names the object the field is missing from.
                let field = if path.is_empty() || path == "." {
                    name
                } else {
                    format!("{path}.{name}")
                };
                return ApiError::InvalidField {
                    field,
                    reason: "is required".into(),
                };
            }
            let syntax = matches!(
                inner.classify(),
                serde_json::error::Category::Syntax | serde_json::error::Category::Eof
            );
            if syntax || path.is_empty() || path == "." {
                ApiError::InvalidBody {
                    reason: body_error_reason(&inner, reason),
                }
            } else {
                ApiError::InvalidField { field: path, reason }
            }
        })?;
        deserializer.end().map_err(|err| ApiError::InvalidBody {
            reason: err.to_string(),
        })?;
        Ok(value)
    }
}

/// Describes a whole-body error in terms a client can act on.
fn body_error_reason(err: &serde_json::Error, reason: String) -> String {
    match err.classify() {
        serde_json::error::Category::Syntax | serde_json::error::Category::Eof => format!("not valid JSON: {reason}"),
        serde_json::error::Category::Data
            if reason.starts_with("invalid type") || reason.starts_with("invalid length") =>
        {
            "the body must be a JSON object".into()
        }
        _ => reason,
    }
}

/// serde_json's message without its " at line L column C" suffix, and
/// without the Rust type names it names as expected objects.
fn without_position(err: &serde_json::Error) -> String {
    let message = err.to_string();
    let message = match message.rfind(" at line ") {
        Some(index) => message[..index].to_owned(),
        None => message,
    };
    match message.find("expected struct ") {
        Some(index) => format!("{}expected a JSON object", &message[..index]),
        None => message,
    }
}

/// Extracts the field name from serde's "missing field `name`" message.
fn missing_field(reason: &str) -> Option<String> {
    let name = reason.strip_prefix("missing field `")?.strip_suffix('`')?;
    Some(name.to_owned())
}

fn is_json_content_type(request: &Request) -> bool {
    let Some(value) = request.headers().get(CONTENT_TYPE).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let media_type = value.split(';').next().unwrap_or("").trim();
    media_type.eq_ignore_ascii_case("application/json")
}

/// Decodes base64 from field `field`: the standard or URL-safe alphabet,
/// padded or not, with line breaks (as `base64` wraps its output) and a
/// trailing newline allowed. Any other character is an error, never skipped.
pub fn decode_base64(field: &str, text: &str) -> Result<Vec<u8>, ApiError> {
    let text = text.trim_end_matches(['\n', '\r']);

    // Most clients send plain standard base64: the SIMD decoder takes it as
    // it is, without a scan for the other forms first.
    let bytes = text.as_bytes();
    let fast = if bytes.len().is_multiple_of(4) {
        base64_simd::STANDARD.decode_to_vec(bytes)
    } else {
        base64_simd::STANDARD_NO_PAD.decode_to_vec(bytes)
    };
    if let Ok(decoded) = fast {
        return Ok(decoded);
    }

    // URL-safe characters and line breaks are rewritten; then the scalar
    // decoder either succeeds or names the offending byte.
    let cleaned: String = text
        .chars()
        .filter(|c| *c != '\n' && *c != '\r')
        .map(|c| match c {
            '-' => '+',
            '_' => '/',
            other => other,
        })
        .collect();
    BASE64_LENIENT_PADDING
        .decode(cleaned.as_bytes())
        .map_err(|err| ApiError::InvalidField {
            field: field.to_owned(),
            reason: base64_error_reason(&err),
        })
}

fn base64_error_reason(err: &base64::DecodeError) -> String {
    match err {
        base64::DecodeError::InvalidByte(offset, byte) => {
            format!("not valid base64: byte 0x{byte:02x} at offset {offset} is not in the base64 alphabet")
        }
        base64::DecodeError::InvalidLength(_) => "not valid base64: the length is not possible for base64".into(),
        base64::DecodeError::InvalidLastSymbol(offset, _) => {
            format!("not valid base64: the last symbol at offset {offset} has bits set past the end of the data")
        }
        base64::DecodeError::InvalidPadding => "not valid base64: wrong padding".into(),
    }
}

/// Encodes bytes as standard base64 with padding and no line breaks.
pub fn encode_base64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// A non-negative integer field that also accepts a string of digits, as
/// shell scripts often send numbers quoted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Count(pub u64);

impl<'de> Deserialize<'de> for Count {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(CountVisitor)
    }
}

struct CountVisitor;

impl Visitor<'_> for CountVisitor {
    type Value = Count;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a non-negative integer")
    }

    fn visit_u64<E: de::Error>(self, value: u64) -> Result<Count, E> {
        Ok(Count(value))
    }

    fn visit_i64<E: de::Error>(self, value: i64) -> Result<Count, E> {
        u64::try_from(value)
            .map(Count)
            .map_err(|_| E::custom(format!("must be a non-negative integer, got {value}")))
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<Count, E> {
        if value.is_empty() || !value.bytes().all(|b| b.is_ascii_digit()) {
            return Err(E::custom("must be a non-negative integer"));
        }
        value.parse().map(Count).map_err(|_| E::custom("is too large"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_accepts_variants() {
        let expected = vec![0xfb, 0xff, 0xbf, 0x01];
        for text in ["+/+/AQ==", "+/+/AQ", "-_-_AQ==", "+/+/AQ==\n", "+/+/\nAQ==\r\n"] {
            assert_eq!(decode_base64("payload", text).unwrap(), expected, "{text:?}");
        }
    }

    #[test]
    fn base64_rejects_foreign_characters() {
        for text in ["+/+/A*Q==", "+/+/ AQ==", "+/+/AQ==\0"] {
            let err = decode_base64("payload", text).unwrap_err();
            assert!(
                matches!(err, ApiError::InvalidField { ref field, .. } if field == "payload"),
                "{text:?}"
            );
        }
    }
}

/// A field that takes one id or a list of ids, such as `key_id` of
/// `/secureboot/pk`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IdList(pub Vec<String>);

impl<'de> Deserialize<'de> for IdList {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserializer.deserialize_any(IdListVisitor)
    }
}

struct IdListVisitor;

impl<'de> Visitor<'de> for IdListVisitor {
    type Value = IdList;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a certificate id or a list of certificate ids")
    }

    fn visit_str<E: de::Error>(self, value: &str) -> Result<IdList, E> {
        Ok(IdList(vec![value.to_owned()]))
    }

    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<IdList, A::Error> {
        let mut ids = Vec::new();
        while let Some(id) = seq.next_element::<String>()? {
            if ids.len() >= balena_sign_service::MAX_LIST_IDS {
                return Err(de::Error::custom(format!(
                    "must name at most {} certificates",
                    balena_sign_service::MAX_LIST_IDS
                )));
            }
            ids.push(id);
        }
        Ok(IdList(ids))
    }
}

/// Builds the JSON response `{"<field>": "<base64 of bytes>"}` in one buffer,
/// without the intermediate string copies of a `serde_json::Value`; signed
/// images can be 100 MB.
pub fn base64_response(field: &str, bytes: &[u8]) -> axum::response::Response {
    use axum::response::IntoResponse;

    let encoded_len = base64::encoded_len(bytes.len(), true).unwrap_or(0);
    let mut body = Vec::with_capacity(encoded_len + field.len() + 8);
    body.extend_from_slice(b"{\"");
    body.extend_from_slice(field.as_bytes());
    body.extend_from_slice(b"\":\"");
    let start = body.len();
    body.resize(start + encoded_len, 0);
    let written = match body.get_mut(start..) {
        Some(out) if out.len() == base64_simd::STANDARD.encoded_length(bytes.len()) => base64_simd::STANDARD
            .encode(bytes, base64_simd::Out::from_slice(out))
            .len(),
        _ => 0,
    };
    body.truncate(start + written);
    body.extend_from_slice(b"\"}");

    (
        [(axum::http::header::CONTENT_TYPE, "application/json")],
        Bytes::from(body),
    )
        .into_response()
}
