//! Self-signed certificates and raw-digest signatures with their keys.

use balena_sign_crypto::{RsaKeySize, RsaPrivateKey};
use balena_sign_formats::x509::{self, CertificateError, CertificateParams, SERIAL_LEN};
use balena_sign_formats::Signer;
use der::EncodePem;

use balena_sign_auth::{KeyScope, Permission};

use crate::operation::Operation;
use crate::{check_id, RequestContext, Service, ServiceError};

/// Key size when a request names none.
pub const DEFAULT_KEY_BITS: u32 = 2048;

/// Validity in days when a request names none (20 years, as the older
/// service's default).
pub const DEFAULT_DAYS: u64 = 7305;

const SECONDS_PER_DAY: u64 = 86_400;

/// A checked request for a new certificate.
#[derive(Debug)]
pub struct CreateCertificate {
    cert_id: String,
    subject: x509_cert::name::Name,
    key_size: RsaKeySize,
    days: u64,
}

impl CreateCertificate {
    /// The id the certificate will have.
    pub fn cert_id(&self) -> &str {
        &self.cert_id
    }

    /// Validates the fields of `POST /cert`.
    pub fn new(
        cert_id: String,
        subject: &str,
        key_length: Option<u64>,
        days: Option<u64>,
    ) -> Result<Self, ServiceError> {
        check_id("cert_id", &cert_id)?;
        let subject = x509::parse_openssl_subject(subject).map_err(|err| ServiceError::InvalidField {
            field: "subject",
            reason: err.to_string(),
        })?;
        let key_size = key_size_field("key_length", key_length.unwrap_or(u64::from(DEFAULT_KEY_BITS)))?;
        let days = days.unwrap_or(DEFAULT_DAYS);
        if days == 0 {
            return Err(ServiceError::InvalidField {
                field: "days",
                reason: "must be at least 1".into(),
            });
        }
        Ok(Self {
            cert_id,
            subject,
            key_size,
            days,
        })
    }
}

/// Maps a requested key length to a supported RSA size.
pub(crate) fn key_size_field(field: &'static str, bits: u64) -> Result<RsaKeySize, ServiceError> {
    u32::try_from(bits)
        .ok()
        .and_then(RsaKeySize::from_bits)
        .ok_or_else(|| ServiceError::InvalidField {
            field,
            reason: format!("must be 2048 or 4096, got {bits}"),
        })
}

impl Service {
    /// Generates a key and a self-signed certificate for it, stores both and
    /// returns the PEM certificate.
    pub fn create_certificate(
        &self,
        context: &RequestContext,
        request: CreateCertificate,
    ) -> Result<String, ServiceError> {
        let cert_id = request.cert_id.clone();
        let operation = Operation {
            name: "cert.create",
            permission: Permission::Create,
            scope: KeyScope::Ids(&[&cert_id]),
            key_id: Some(&cert_id),
            payload_sha256: None,
            payload_len: 0,
        };
        self.perform_with_undo(
            context,
            operation,
            || self.create_certificate_unchecked(request),
            |_| self.remove_certificate(&cert_id),
        )
    }

    fn create_certificate_unchecked(&self, request: CreateCertificate) -> Result<String, ServiceError> {
        if self.certificates.exists(&request.cert_id) {
            return Err(ServiceError::AlreadyExists {
                kind: "certificate",
                id: request.cert_id,
            });
        }

        let not_before = self.clock.now_unix();
        let not_after = request
            .days
            .checked_mul(SECONDS_PER_DAY)
            .and_then(|validity| not_before.checked_add(validity))
            .ok_or_else(days_too_large)?;

        let (key, key_pem) =
            RsaPrivateKey::generate(request.key_size).map_err(|err| ServiceError::Internal(err.to_string()))?;
        let mut serial = [0u8; SERIAL_LEN];
        getrandom::fill(&mut serial).map_err(|err| ServiceError::Internal(err.to_string()))?;

        let params = CertificateParams {
            subject: request.subject,
            serial,
            not_before,
            not_after,
        };
        let der = x509::self_signed_certificate(&params, &key).map_err(|err| match err {
            CertificateError::ValidityOutOfRange => days_too_large(),
            other => ServiceError::Internal(other.to_string()),
        })?;
        let cert_pem = certificate_pem(&der)?;

        self.certificates.create(&request.cert_id, &key_pem, &cert_pem)?;
        tracing::info!(cert_id = %request.cert_id, bits = request.key_size.bits(), "created certificate");
        Ok(cert_pem)
    }

    fn remove_certificate(&self, cert_id: &str) {
        if let Err(err) = self.certificates.remove(cert_id) {
            tracing::error!(cert_id, error = %err, "cannot remove an unaudited certificate");
        }
    }

    /// Reads certificate `cert_id` as DER; `field` names the request field
    /// when the id is invalid.
    pub(crate) fn certificate_der(&self, field: &'static str, cert_id: &str) -> Result<Vec<u8>, ServiceError> {
        check_id(field, cert_id)?;
        let pem = self.certificates.certificate_pem(cert_id)?;
        let (label, der) = der::pem::decode_vec(pem.as_bytes())
            .map_err(|err| ServiceError::Internal(format!("certificate {cert_id}: {err}")))?;
        if label != "CERTIFICATE" {
            return Err(ServiceError::Internal(format!(
                "certificate {cert_id} has PEM label {label}"
            )));
        }
        Ok(der)
    }

    /// Returns the PEM certificate `cert_id`.
    pub fn certificate(&self, cert_id: &str) -> Result<String, ServiceError> {
        check_id("cert_id", cert_id)?;
        Ok(self.certificates.certificate_pem(cert_id)?)
    }

    /// Signs a SHA-256 digest with the key of `cert_id` as `openssl pkeyutl
    /// -sign` does: PKCS#1 v1.5 over the 32 raw bytes, without DigestInfo.
    pub fn sign_digest(
        &self,
        context: &RequestContext,
        cert_id: &str,
        digest_hex: &str,
    ) -> Result<Vec<u8>, ServiceError> {
        check_id("cert_id", cert_id)?;
        let digest = parse_sha256_hex(digest_hex)?;
        let operation = Operation {
            name: "cert.sign",
            permission: Permission::Sign,
            scope: KeyScope::Ids(&[cert_id]),
            key_id: Some(cert_id),
            payload_sha256: Some(digest),
            payload_len: digest.len(),
        };

        self.perform(context, operation, || {
            let key = self.certificates.signer(cert_id)?;
            let signature = key
                .sign_pkcs1_raw(&digest)
                .map_err(|err| ServiceError::Internal(err.to_string()))?;
            tracing::info!(cert_id, digest = %hex::encode(digest), "signed digest");
            Ok(signature)
        })
    }
}

fn days_too_large() -> ServiceError {
    ServiceError::InvalidField {
        field: "days",
        reason: "is too large: the certificate would expire after 9999-12-31".into(),
    }
}

fn certificate_pem(der: &[u8]) -> Result<String, ServiceError> {
    use der::Decode;
    let certificate = x509_cert::Certificate::from_der(der).map_err(|err| ServiceError::Internal(err.to_string()))?;
    certificate
        .to_pem(der::pem::LineEnding::LF)
        .map_err(|err| ServiceError::Internal(err.to_string()))
}

/// Parses the `digest` field: exactly 64 hex digits.
fn parse_sha256_hex(digest_hex: &str) -> Result<[u8; 32], ServiceError> {
    let mut digest = [0u8; 32];
    if digest_hex.len() != 64 {
        return Err(ServiceError::InvalidField {
            field: "digest",
            reason: format!(
                "must be 64 hex digits (a SHA-256 digest), got {} characters",
                digest_hex.chars().count()
            ),
        });
    }
    hex::decode_to_slice(digest_hex, &mut digest).map_err(|_| ServiceError::InvalidField {
        field: "digest",
        reason: "must contain only hex digits 0-9 and a-f".into(),
    })?;
    Ok(digest)
}
