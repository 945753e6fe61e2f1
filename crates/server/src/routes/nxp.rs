//! `/imx/...` (and the older `/nxp/...` aliases): NXP i.MX HAB4 and AHAB.

use std::borrow::Cow;

use axum::extract::{Path, State};
use axum::response::Response;
use axum::Json;
use balena_sign_service::HabType;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::error::ApiError;
use crate::json::{base64_response, decode_base64, encode_base64, JsonBody};
use crate::middleware::Context;
use crate::AppState;

/// `GET /imx/pkis`: ids of all PKI trees.
pub(crate) async fn list(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let pkis = state.run(|service| Ok(service.pki_ids()?)).await?;
    Ok(Json(json!({ "pkis": pkis })))
}

/// `GET /imx/efuses/{pki_id}`: the SRK hash to burn into the fuses.
pub(crate) async fn efuses(State(state): State<AppState>, Path(pki_id): Path<String>) -> Result<Json<Value>, ApiError> {
    let efuses = state.run(move |service| Ok(service.pki_efuses(&pki_id)?)).await?;
    Ok(Json(json!({ "efuses": encode_base64(&efuses) })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct CreateRequest {
    pub(crate) hab_type: String,
}

/// `POST /imx/pki`: creates a PKI tree and returns its id.
pub(crate) async fn create(
    State(state): State<AppState>,
    Context(context): Context,
    body: JsonBody,
) -> Result<Json<Value>, ApiError> {
    let request: CreateRequest = body.parse()?;
    let hab_type = HabType::parse("hab_type", &request.hab_type)?;
    let pki_id = state
        .run(move |service| Ok(service.create_pki(&context, hab_type)?))
        .await?;
    Ok(Json(json!({ "pki_id": pki_id })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CstRequest<'a> {
    pki_id: String,
    hab_type: String,
    #[serde(borrow)]
    payload: Cow<'a, str>,
    #[serde(borrow)]
    csf: Cow<'a, str>,
}

/// `POST /imx/cst`: what NXP's Code Signing Tool outputs for the
/// description, as `csf_bin`.
pub(crate) async fn cst(
    State(state): State<AppState>,
    Context(context): Context,
    body: JsonBody,
) -> Result<Response, ApiError> {
    let request: CstRequest<'_> = body.parse()?;
    let hab_type = HabType::parse("hab_type", &request.hab_type)?;
    let payload = decode_base64("payload", &request.payload)?;
    let csf = decode_base64("csf", &request.csf)?;
    let pki_id = request.pki_id;
    drop(body);

    let output = state
        .run(move |service| Ok(service.sign_csf(&context, &pki_id, hab_type, &payload, &csf)?))
        .await?;
    Ok(base64_response("csf_bin", &output))
}
