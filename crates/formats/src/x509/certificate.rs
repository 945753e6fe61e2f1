//! Self-signed certificates with the extensions `openssl req -x509` adds on
//! Debian 12 (the `v3_ca` section of its `openssl.cnf`):
//!
//! ```text
//! subjectKeyIdentifier   = hash
//! authorityKeyIdentifier = keyid:always,issuer
//! basicConstraints       = critical,CA:true
//! ```
//!
//! The key identifier is the SHA-1 of the `subjectPublicKey` BIT STRING
//! contents (RFC 5280 §4.2.1.2, method 1). Devices check that the subject key
//! identifier of a module-signing certificate is exactly that value.

use std::time::Duration;

use der::asn1::{BitString, GeneralizedTime, Null, OctetString, UtcTime};
use der::{DateTime, Decode, Encode};
use sha1::{Digest, Sha1};
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use x509_cert::certificate::{Certificate, TbsCertificate, Version};
use x509_cert::ext::pkix::{AuthorityKeyIdentifier, BasicConstraints, SubjectKeyIdentifier};
use x509_cert::ext::{AsExtension, Extension};
use x509_cert::name::Name;
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::{Time, Validity};

use crate::signer::{HashAlgorithm, Signer, SignerError};

/// Length of the random serial number in bytes. OpenSSL 3 draws 159 random
/// bits, so the top bit stays clear and the INTEGER stays positive.
pub const SERIAL_LEN: usize = 20;

/// `sha256WithRSAEncryption`, RFC 8017 Appendix A.2.4.
const SHA256_WITH_RSA_ENCRYPTION: const_oid::ObjectIdentifier = const_oid::db::rfc5912::SHA_256_WITH_RSA_ENCRYPTION;

/// First second that RFC 5280 §4.1.2.5 requires as GeneralizedTime
/// (2050-01-01T00:00:00Z); earlier times are UTCTime.
const GENERALIZED_TIME_FROM: u64 = 2_524_608_000;

/// Contents of a new self-signed certificate.
#[derive(Clone, Debug)]
pub struct CertificateParams {
    pub subject: Name,
    /// Random bytes; the top bit is cleared before use.
    pub serial: [u8; SERIAL_LEN],
    /// Start of validity, Unix seconds.
    pub not_before: u64,
    /// End of validity, Unix seconds.
    pub not_after: u64,
}

/// Error building a certificate.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CertificateError {
    #[error("validity ends after 9999-12-31, the last date X.509 can encode")]
    ValidityOutOfRange,
    #[error("certificate encoding failed: {0}")]
    Encoding(#[from] der::Error),
    #[error(transparent)]
    Signer(#[from] SignerError),
    #[error("the issuer certificate is not valid DER X.509: {0}")]
    InvalidIssuer(der::Error),
    #[error("the subject public key is not valid DER SubjectPublicKeyInfo: {0}")]
    InvalidSubjectKey(der::Error),
    #[error("the issuer key does not match the public key in the issuer certificate")]
    IssuerKeyMismatch,
}

/// Builds and signs a self-signed v3 certificate and returns its DER.
pub fn self_signed_certificate(params: &CertificateParams, signer: &dyn Signer) -> Result<Vec<u8>, CertificateError> {
    let spki = SubjectPublicKeyInfoOwned::from_der(signer.public_key_der())?;
    let key_id = key_identifier(&spki);

    let mut serial = params.serial;
    serial[0] &= 0x7f;

    let signature_algorithm = AlgorithmIdentifierOwned {
        oid: SHA256_WITH_RSA_ENCRYPTION,
        parameters: Some(Null.into()),
    };

    let mut tbs = TbsCertificate {
        version: Version::V3,
        serial_number: SerialNumber::new(&serial)?,
        signature: signature_algorithm.clone(),
        issuer: params.subject.clone(),
        validity: Validity {
            not_before: x509_time(params.not_before)?,
            not_after: x509_time(params.not_after)?,
        },
        subject: params.subject.clone(),
        subject_public_key_info: spki,
        issuer_unique_id: None,
        subject_unique_id: None,
        extensions: None,
    };
    tbs.extensions = Some(ca_extensions(&params.subject, &key_id)?);

    let tbs_der = tbs.to_der()?;
    let digest = HashAlgorithm::Sha256.digest(&tbs_der);
    let signature = signer.sign_digest(HashAlgorithm::Sha256, &digest)?;

    let certificate = Certificate {
        tbs_certificate: tbs,
        signature_algorithm,
        signature: BitString::from_bytes(&signature)?,
    };
    Ok(certificate.to_der()?)
}

/// SHA-1 of the `subjectPublicKey` bits (RFC 5280 §4.2.1.2, method 1).
pub(crate) fn key_identifier(spki: &SubjectPublicKeyInfoOwned) -> Vec<u8> {
    Sha1::digest(spki.subject_public_key.raw_bytes()).to_vec()
}

/// Builds the three `v3_ca` extensions, in the order OpenSSL 3.0 writes them.
fn ca_extensions(subject: &Name, key_id: &[u8]) -> Result<Vec<Extension>, CertificateError> {
    let subject_key_id = SubjectKeyIdentifier(OctetString::new(key_id)?);
    let authority_key_id = AuthorityKeyIdentifier {
        key_identifier: Some(OctetString::new(key_id)?),
        authority_cert_issuer: None,
        authority_cert_serial_number: None,
    };
    let basic_constraints = BasicConstraints {
        ca: true,
        path_len_constraint: None,
    };

    // The extension type decides criticality: basicConstraints of a CA is
    // critical, the key identifiers are not.
    Ok(vec![
        subject_key_id.to_extension(subject, &[])?,
        authority_key_id.to_extension(subject, &[])?,
        basic_constraints.to_extension(subject, &[])?,
    ])
}

/// Encodes a Unix time as RFC 5280 §4.1.2.5 requires: UTCTime through 2049,
/// GeneralizedTime from 2050.
pub(crate) fn x509_time(unix_seconds: u64) -> Result<Time, CertificateError> {
    let date_time = DateTime::from_unix_duration(Duration::from_secs(unix_seconds))
        .map_err(|_| CertificateError::ValidityOutOfRange)?;
    if unix_seconds < GENERALIZED_TIME_FROM {
        Ok(Time::UtcTime(UtcTime::from_date_time(date_time)?))
    } else {
        Ok(Time::GeneralTime(GeneralizedTime::from_date_time(date_time)))
    }
}
