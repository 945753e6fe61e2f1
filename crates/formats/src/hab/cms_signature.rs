//! The CMS signatures inside a HAB4 CSF, as CST's `gen_sig_data_cms` makes
//! them through OpenSSL's CMS API with the flags DETACHED, NOCERTS,
//! NOSMIMECAP and BINARY. `openssl cms -sign -binary -nocerts -nosmimecap
//! -md sha256 -outform DER` writes the same bytes for the same signing time.
//!
//! ```text
//! ContentInfo { signedData, SignedData {
//!     version 1, digestAlgorithms { sha256 (no parameters) },
//!     encapContentInfo { id-data, no content },
//!     signerInfos { SignerInfo {
//!         version 1, issuerAndSerialNumber of the signer certificate,
//!         digestAlgorithm sha256 (no parameters),
//!         signedAttrs { contentType id-data, signingTime, messageDigest },
//!         signatureAlgorithm rsaEncryption NULL,
//!         signature: RSASSA-PKCS1-v1_5 SHA-256 over the DER of signedAttrs } } } }
//! ```
//!
//! The attributes are a DER SET, so they are sorted by their encoding; the
//! signature covers that SET with its universal tag 0x31, while the
//! SignerInfo carries it as `[0] IMPLICIT` (RFC 5652 §5.4).

use cms::cert::IssuerAndSerialNumber;
use cms::content_info::{CmsVersion, ContentInfo};
use cms::signed_data::{EncapsulatedContentInfo, SignedData, SignerIdentifier, SignerInfo, SignerInfos};
use der::asn1::{Any, Null, OctetString, SetOfVec};
use der::Encode;
use spki::AlgorithmIdentifierOwned;
use x509_cert::attr::Attribute;
use x509_cert::Certificate;

use crate::rsa_key::{RsaPublicKey, RSA_ENCRYPTION};
use crate::signer::{HashAlgorithm, Signer, SignerError};
use crate::x509::CertificateError;

/// Error making a CMS signature.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CmsError {
    #[error("the signer certificate is not valid X.509 in DER or PEM form: {0}")]
    InvalidCertificate(der::Error),
    #[error("the signing key does not match the public key in certificate {subject}")]
    KeyMismatch { subject: String },
    #[error("signing time {0} cannot be encoded: it must be before year 10000")]
    SigningTime(u64),
    #[error("CMS encoding failed: {0}")]
    Encoding(#[from] der::Error),
    #[error(transparent)]
    Signer(#[from] SignerError),
}

/// Signs `content` as a detached CMS SignedData with `signer`, the key of
/// the certificate `certificate_der` (DER or PEM), at `signing_time` (Unix
/// seconds), and returns the DER.
pub fn sign_detached(
    content: &[u8],
    certificate_der: &[u8],
    signer: &dyn Signer,
    signing_time: u64,
) -> Result<Vec<u8>, CmsError> {
    let certificate = super::load_certificate(certificate_der).map_err(CmsError::InvalidCertificate)?;
    sign_detached_with(content, &certificate.certificate, signer, signing_time)
}

/// [`sign_detached`] with a parsed certificate.
pub(crate) fn sign_detached_with(
    content: &[u8],
    certificate: &Certificate,
    signer: &dyn Signer,
    signing_time: u64,
) -> Result<Vec<u8>, CmsError> {
    check_signer_matches(certificate, signer)?;

    let content_digest = HashAlgorithm::Sha256.digest(content);
    build(&content_digest, certificate, signing_time, |signed_attributes| {
        let digest = HashAlgorithm::Sha256.digest(signed_attributes);
        Ok(signer.sign_digest(HashAlgorithm::Sha256, &digest)?)
    })
}

/// Length in bytes of the signature [`sign_detached`] makes with this
/// certificate and key. Every field has a fixed size, so CST (and this
/// module) lay out the CSF before signing it.
pub(crate) fn signature_len(
    certificate: &Certificate,
    signer: &dyn Signer,
    signing_time: u64,
) -> Result<usize, CmsError> {
    let placeholder_digest = [0u8; 32];
    let placeholder = build(&placeholder_digest, certificate, signing_time, |_| {
        Ok(vec![0xff; signer.modulus_len()])
    })?;
    Ok(placeholder.len())
}

/// Checks that `signer` has the private half of the certificate's key,
/// since a mismatch gives a signature that the boot ROM rejects.
pub(crate) fn check_signer_matches(certificate: &Certificate, signer: &dyn Signer) -> Result<(), CmsError> {
    let certificate_key = certificate
        .tbs_certificate
        .subject_public_key_info
        .to_der()
        .ok()
        .and_then(|spki| RsaPublicKey::from_spki_der(&spki).ok());
    let signer_key = RsaPublicKey::from_spki_der(signer.public_key_der()).ok();
    if certificate_key.is_none() || certificate_key != signer_key {
        return Err(CmsError::KeyMismatch {
            subject: certificate.tbs_certificate.subject.to_string(),
        });
    }
    Ok(())
}

/// Assembles the ContentInfo around a signature that `sign` computes over
/// the DER of the signed attributes.
fn build(
    content_digest: &[u8],
    certificate: &Certificate,
    signing_time: u64,
    sign: impl FnOnce(&[u8]) -> Result<Vec<u8>, CmsError>,
) -> Result<Vec<u8>, CmsError> {
    let signed_attributes = signed_attributes(content_digest, signing_time)?;
    let signature = sign(&signed_attributes.to_der()?)?;

    let signer_info = SignerInfo {
        version: CmsVersion::V1,
        sid: SignerIdentifier::IssuerAndSerialNumber(IssuerAndSerialNumber {
            issuer: certificate.tbs_certificate.issuer.clone(),
            serial_number: certificate.tbs_certificate.serial_number.clone(),
        }),
        digest_alg: sha256_without_parameters(),
        signed_attrs: Some(signed_attributes),
        signature_algorithm: AlgorithmIdentifierOwned {
            oid: RSA_ENCRYPTION,
            parameters: Some(Null.into()),
        },
        signature: OctetString::new(signature)?,
        unsigned_attrs: None,
    };

    let signed_data = SignedData {
        version: CmsVersion::V1,
        digest_algorithms: SetOfVec::try_from(vec![sha256_without_parameters()])?,
        encap_content_info: EncapsulatedContentInfo {
            econtent_type: const_oid::db::rfc5911::ID_DATA,
            econtent: None,
        },
        certificates: None,
        crls: None,
        signer_infos: SignerInfos(SetOfVec::try_from(vec![signer_info])?),
    };

    let content_info = ContentInfo {
        content_type: const_oid::db::rfc5911::ID_SIGNED_DATA,
        content: Any::encode_from(&signed_data)?,
    };
    Ok(content_info.to_der()?)
}

/// contentType, signingTime and messageDigest, the attributes OpenSSL's
/// `CMS_sign` adds without SMIMECapabilities.
fn signed_attributes(content_digest: &[u8], signing_time: u64) -> Result<SetOfVec<Attribute>, CmsError> {
    let time = crate::x509::x509_time(signing_time).map_err(|err| match err {
        CertificateError::Encoding(der) => CmsError::Encoding(der),
        _ => CmsError::SigningTime(signing_time),
    })?;

    let attributes = vec![
        attribute(
            const_oid::db::rfc5911::ID_CONTENT_TYPE,
            Any::encode_from(&const_oid::db::rfc5911::ID_DATA)?,
        )?,
        attribute(const_oid::db::rfc5911::ID_SIGNING_TIME, Any::encode_from(&time)?)?,
        attribute(
            const_oid::db::rfc5911::ID_MESSAGE_DIGEST,
            Any::encode_from(&OctetString::new(content_digest)?)?,
        )?,
    ];

    // SetOfVec sorts by DER encoding, which is the order OpenSSL writes.
    Ok(SetOfVec::try_from(attributes)?)
}

fn attribute(oid: const_oid::ObjectIdentifier, value: Any) -> Result<Attribute, CmsError> {
    Ok(Attribute {
        oid,
        values: SetOfVec::try_from(vec![value])?,
    })
}

/// SHA-256 as OpenSSL's CMS API writes it: no parameters field at all.
fn sha256_without_parameters() -> AlgorithmIdentifierOwned {
    AlgorithmIdentifierOwned {
        oid: const_oid::db::rfc5912::ID_SHA_256,
        parameters: None,
    }
}
