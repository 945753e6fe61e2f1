//! PKCS #7 `SignedData` (RFC 2315 §9.1, and its CMS successor RFC 5652 §5)
//! assembled by hand from the `cms` structures.
//!
//! Byte-identity with the reference tools depends on details that a generic
//! builder does not expose. OpenSSL's PKCS7 API (sbsign, sign-efi-sig-list)
//! writes SHA-2 `AlgorithmIdentifier`s with NULL parameters, while its CMS API
//! (the kernel's sign-file) leaves the parameters out. UEFI variables and
//! kernel modules carry no signed attributes at all. So each format picks its
//! own pieces here, and this module only supplies them.

use cms::cert::{CertificateChoices, IssuerAndSerialNumber};
use cms::content_info::{CmsVersion, ContentInfo};
use cms::signed_data::{CertificateSet, SignedData, SignerIdentifier, SignerInfo};
use const_oid::ObjectIdentifier;
use der::asn1::{Null, OctetString};
use der::{Any, Decode, Encode};
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use x509_cert::attr::Attributes;
use x509_cert::Certificate;

use crate::signer::{HashAlgorithm, Signer, SignerError};

/// `id-signedData`, RFC 5652 §5.1.
pub const ID_SIGNED_DATA: ObjectIdentifier = const_oid::db::rfc5911::ID_SIGNED_DATA;

/// `id-data`, RFC 5652 §4.
pub const ID_DATA: ObjectIdentifier = const_oid::db::rfc5911::ID_DATA;

/// `rsaEncryption`, RFC 8017 Appendix A.1: the `signatureAlgorithm` OpenSSL
/// writes into a `SignerInfo` for every RSA PKCS #1 v1.5 signature.
pub const RSA_ENCRYPTION: ObjectIdentifier = const_oid::db::rfc5912::RSA_ENCRYPTION;

/// Error from assembling a PKCS #7 signature.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Pkcs7Error {
    /// The signer certificate does not decode as X.509.
    #[error("the signer certificate is not a DER X.509 certificate: {0}")]
    CertificateDecode(der::Error),
    /// Decoding and re-encoding the certificate changed its bytes, so the
    /// issuer copied into the signature would not match the certificate.
    #[error("the signer certificate is not canonical DER; convert it with `openssl x509 -outform DER` and retry")]
    CertificateNotCanonical,
    /// The certificate was issued for another key than the one that signs.
    #[error("the signer certificate's public key does not match the signing key")]
    KeyMismatch,
    /// The signing key's `SubjectPublicKeyInfo` does not decode.
    #[error("the signing key's public key is not a DER SubjectPublicKeyInfo: {0}")]
    SignerPublicKey(der::Error),
    /// An ASN.1 structure failed to encode, for example a length overflow.
    #[error("PKCS #7 encoding failed: {0}")]
    Encoding(#[from] der::Error),
    /// The private-key operation failed.
    #[error(transparent)]
    Signer(#[from] SignerError),
}

/// Encoding of the parameters of a SHA-2 `AlgorithmIdentifier`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum DigestParameters {
    /// An explicit NULL, as OpenSSL's PKCS7 API writes it.
    Null,
    /// No parameters, as OpenSSL 3's CMS API writes it (RFC 5754 §2).
    Absent,
}

/// A signer's X.509 certificate, checked against the key that will sign.
#[derive(Clone, Debug)]
pub(crate) struct SignerCertificate {
    certificate: Certificate,
}

impl SignerCertificate {
    /// Decodes `cert_der` and checks that it certifies `signer`'s public key.
    pub(crate) fn new(cert_der: &[u8], signer: &dyn Signer) -> Result<Self, Pkcs7Error> {
        let certificate = Certificate::from_der(cert_der).map_err(Pkcs7Error::CertificateDecode)?;
        if certificate.to_der()? != cert_der {
            return Err(Pkcs7Error::CertificateNotCanonical);
        }

        let signer_key =
            SubjectPublicKeyInfoOwned::from_der(signer.public_key_der()).map_err(Pkcs7Error::SignerPublicKey)?;
        let certified_key = &certificate.tbs_certificate.subject_public_key_info;
        if signer_key.algorithm.oid != certified_key.algorithm.oid
            || signer_key.subject_public_key != certified_key.subject_public_key
        {
            return Err(Pkcs7Error::KeyMismatch);
        }

        Ok(Self { certificate })
    }

    /// Returns a `certificates` set that contains only this certificate.
    pub(crate) fn certificate_set(&self) -> Result<CertificateSet, Pkcs7Error> {
        let choices = vec![CertificateChoices::Certificate(self.certificate.clone())];
        Ok(CertificateSet::try_from(choices)?)
    }

    fn issuer_and_serial_number(&self) -> IssuerAndSerialNumber {
        IssuerAndSerialNumber {
            issuer: self.certificate.tbs_certificate.issuer.clone(),
            serial_number: self.certificate.tbs_certificate.serial_number.clone(),
        }
    }
}

/// Returns the `AlgorithmIdentifier` of `algorithm` in the given parameter form.
pub(crate) fn digest_algorithm(algorithm: HashAlgorithm, parameters: DigestParameters) -> AlgorithmIdentifierOwned {
    let oid = match algorithm {
        HashAlgorithm::Sha256 => const_oid::db::rfc5912::ID_SHA_256,
        HashAlgorithm::Sha512 => const_oid::db::rfc5912::ID_SHA_512,
    };
    let parameters = match parameters {
        DigestParameters::Null => Some(Any::from(Null)),
        DigestParameters::Absent => None,
    };
    AlgorithmIdentifierOwned { oid, parameters }
}

/// Builds a version 1 `SignerInfo` (RFC 5652 §5.3) that names its signer by
/// issuer and serial number and carries an RSA PKCS #1 v1.5 `signature`.
pub(crate) fn signer_info(
    certificate: &SignerCertificate,
    digest_algorithm: AlgorithmIdentifierOwned,
    signed_attributes: Option<Attributes>,
    signature: &[u8],
) -> Result<SignerInfo, Pkcs7Error> {
    Ok(SignerInfo {
        version: CmsVersion::V1,
        sid: SignerIdentifier::IssuerAndSerialNumber(certificate.issuer_and_serial_number()),
        digest_alg: digest_algorithm,
        signed_attrs: signed_attributes,
        signature_algorithm: AlgorithmIdentifierOwned {
            oid: RSA_ENCRYPTION,
            parameters: Some(Any::from(Null)),
        },
        signature: OctetString::new(signature)?,
        unsigned_attrs: None,
    })
}

/// Wraps `signed_data` in a `ContentInfo` of type `id-signedData` and
/// returns its DER.
pub(crate) fn content_info_der(signed_data: &SignedData) -> Result<Vec<u8>, Pkcs7Error> {
    let content_info = ContentInfo {
        content_type: ID_SIGNED_DATA,
        content: Any::encode_from(signed_data)?,
    };
    Ok(content_info.to_der()?)
}
