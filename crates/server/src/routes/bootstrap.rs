//! `/bootstrap`: certificates, Secure Boot variables, OpenPGP, RSA and NXP
//! material for a new deployment in one call.

use axum::extract::State;
use axum::Json;
use balena_sign_service::{Bootstrap, CreateCertificate, CreateOpenPgpKey, HabType, ServiceError};
use serde::Deserialize;
use serde_json::{json, Map, Value};

use crate::error::ApiError;
use crate::json::JsonBody;
use crate::middleware::Context;
use crate::routes::{certificates, nxp, openpgp, rpi};
use crate::AppState;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct BootstrapRequest {
    gpg: openpgp::CreateKeyRequest,
    rsa: rpi::CreateKeyRequest,
    hab: nxp::CreateRequest,
    ahab: nxp::CreateRequest,
    certificates: CertificatesRequest,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct CertificatesRequest {
    pk: certificates::CreateRequest,
    kek: certificates::CreateRequest,
    kmod: certificates::CreateRequest,
    db: Option<certificates::CreateRequest>,
}

/// `POST /bootstrap`.
pub(crate) async fn bootstrap(
    State(state): State<AppState>,
    Context(context): Context,
    body: JsonBody,
) -> Result<Json<Value>, ApiError> {
    let request: BootstrapRequest = body.parse()?;
    let command = check_request(request)?;

    let created = state
        .run(move |service| Ok(service.bootstrap(&context, command)?))
        .await?;
    let mut certificates = Map::new();
    for (name, pem) in created.certificates {
        certificates.insert(name.to_owned(), Value::String(pem));
    }
    Ok(Json(json!({
        "gpg": { "fingerprint": created.openpgp_fingerprint },
        "rsa": { "fingerprint": created.rsa_key_id },
        "hab": { "pki_id": created.hab_pki_id },
        "ahab": { "pki_id": created.ahab_pki_id },
        "certificates": certificates,
    })))
}

/// Validates every part, naming fields by their path in the request.
fn check_request(request: BootstrapRequest) -> Result<Bootstrap, ApiError> {
    let gpg = request.gpg;
    let openpgp = CreateOpenPgpKey::new(
        &gpg.name_real,
        &gpg.name_email,
        gpg.name_comment.as_deref(),
        gpg.key_length.map(|count| count.0),
    )
    .map_err(|err| prefixed("gpg", err))?;

    let rpi::CreateKeyRequest {} = request.rsa;
    for (name, pki, expected) in [
        ("hab", &request.hab, HabType::Hab),
        ("ahab", &request.ahab, HabType::Ahab),
    ] {
        let hab_type = HabType::parse("hab_type", &pki.hab_type).map_err(|err| prefixed(name, err))?;
        if hab_type != expected {
            return Err(ApiError::InvalidField {
                field: format!("{name}.hab_type"),
                reason: format!("must be \"{name}\" in this part of the request"),
            });
        }
    }

    let certificate = |name: &'static str, fields: certificates::CreateRequest| {
        CreateCertificate::new(
            fields.cert_id,
            &fields.subject,
            fields.key_length.map(|count| count.0),
            fields.days.map(|count| count.0),
        )
        .map_err(|err| prefixed(&format!("certificates.{name}"), err))
    };
    let certs = request.certificates;
    Ok(Bootstrap {
        openpgp,
        pk: certificate("pk", certs.pk)?,
        kek: certificate("kek", certs.kek)?,
        kmod: certificate("kmod", certs.kmod)?,
        db: certs.db.map(|db| certificate("db", db)).transpose()?,
    })
}

/// Converts a field error of a part into one that names the full path.
fn prefixed(part: &str, err: ServiceError) -> ApiError {
    match err {
        ServiceError::InvalidField { field, reason } => ApiError::InvalidField {
            field: format!("{part}.{field}"),
            reason,
        },
        other => ApiError::from(other),
    }
}
