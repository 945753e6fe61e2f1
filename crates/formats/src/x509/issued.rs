//! Certificates that a CA certificate issues, with the extension profiles of
//! NXP's HAB and AHAB PKI trees. CST's `hab4_pki_tree.sh` and
//! `ahab_pki_tree.sh` sign them with `openssl ca -md sha256` and the
//! `v3_ca.cnf` or `v3_usr.cnf` extension file; CST 4's C port of the
//! scripts (`pki_helper.c`) adds the same extensions in this order.

use der::asn1::{BitString, Ia5String, Null, OctetString};
use der::{Decode, Encode};
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};
use x509_cert::certificate::{Certificate, TbsCertificate, Version};
use x509_cert::ext::pkix::name::GeneralName;
use x509_cert::ext::pkix::{AuthorityKeyIdentifier, BasicConstraints, KeyUsage, KeyUsages, SubjectKeyIdentifier};
use x509_cert::ext::Extension;
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::Validity;

use super::certificate::{key_identifier, x509_time, CertificateError, CertificateParams};
use crate::rsa_key::RsaPublicKey;
use crate::signer::{HashAlgorithm, Signer};

/// `sha256WithRSAEncryption`, RFC 8017 Appendix A.2.4.
const SHA256_WITH_RSA_ENCRYPTION: const_oid::ObjectIdentifier = const_oid::db::rfc5912::SHA_256_WITH_RSA_ENCRYPTION;

/// Netscape comment extension (2.16.840.1.113730.1.13).
const NETSCAPE_COMMENT: const_oid::ObjectIdentifier = const_oid::ObjectIdentifier::new_unwrap("2.16.840.1.113730.1.13");

/// The comment that `v3_usr.cnf` puts into user certificates.
pub const NETSCAPE_COMMENT_TEXT: &str = "OpenSSL Generated Certificate";

/// The extension set of an issued certificate.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IssuedProfile {
    /// `v3_ca`, for SRK certificates (and intermediate CAs):
    ///
    /// ```text
    /// basicConstraints       = critical,CA:TRUE
    /// keyUsage               = keyCertSign
    /// subjectKeyIdentifier   = hash
    /// authorityKeyIdentifier = keyid:always,issuer:always
    /// ```
    CertificateAuthority,
    /// `v3_usr`, for CSF, IMG and AHAB SGK certificates:
    ///
    /// ```text
    /// basicConstraints       = CA:FALSE
    /// keyUsage               = nonRepudiation, digitalSignature, keyEncipherment
    /// nsComment              = "OpenSSL Generated Certificate"
    /// subjectKeyIdentifier   = hash
    /// authorityKeyIdentifier = keyid,issuer
    /// ```
    User,
}

/// Builds a v3 certificate for `subject_public_key_der` (DER
/// `SubjectPublicKeyInfo`), signs it with `issuer_signer` as the issuer of
/// `issuer_certificate_der`, and returns its DER. The signature is
/// sha256WithRSAEncryption.
///
/// The authority key identifier repeats the issuer's subject key
/// identifier, as OpenSSL does; an issuer certificate without one gets the
/// SHA-1 of its key instead.
pub fn issued_certificate(
    params: &CertificateParams,
    issuer_certificate_der: &[u8],
    issuer_signer: &dyn Signer,
    subject_public_key_der: &[u8],
    profile: IssuedProfile,
) -> Result<Vec<u8>, CertificateError> {
    let issuer = Certificate::from_der(issuer_certificate_der).map_err(CertificateError::InvalidIssuer)?;
    check_issuer_key(&issuer, issuer_signer)?;
    let spki =
        SubjectPublicKeyInfoOwned::from_der(subject_public_key_der).map_err(CertificateError::InvalidSubjectKey)?;

    let mut serial = params.serial;
    serial[0] &= 0x7f;

    let signature_algorithm = AlgorithmIdentifierOwned {
        oid: SHA256_WITH_RSA_ENCRYPTION,
        parameters: Some(Null.into()),
    };
    let extensions = extensions(profile, &issuer, &spki)?;
    let tbs = TbsCertificate {
        version: Version::V3,
        serial_number: SerialNumber::new(&serial)?,
        signature: signature_algorithm.clone(),
        issuer: issuer.tbs_certificate.subject.clone(),
        validity: Validity {
            not_before: x509_time(params.not_before)?,
            not_after: x509_time(params.not_after)?,
        },
        subject: params.subject.clone(),
        subject_public_key_info: spki,
        issuer_unique_id: None,
        subject_unique_id: None,
        extensions: Some(extensions),
    };

    let tbs_der = tbs.to_der()?;
    let digest = HashAlgorithm::Sha256.digest(&tbs_der);
    let signature = issuer_signer.sign_digest(HashAlgorithm::Sha256, &digest)?;

    let certificate = Certificate {
        tbs_certificate: tbs,
        signature_algorithm,
        signature: BitString::from_bytes(&signature)?,
    };
    Ok(certificate.to_der()?)
}

/// Rejects an issuer key that does not match the issuer certificate,
/// because a certificate signed by it would not verify anywhere.
fn check_issuer_key(issuer: &Certificate, issuer_signer: &dyn Signer) -> Result<(), CertificateError> {
    let certificate_key = issuer
        .tbs_certificate
        .subject_public_key_info
        .to_der()
        .ok()
        .and_then(|spki| RsaPublicKey::from_spki_der(&spki).ok());
    let signer_key = RsaPublicKey::from_spki_der(issuer_signer.public_key_der()).ok();
    if certificate_key.is_none() || certificate_key != signer_key {
        return Err(CertificateError::IssuerKeyMismatch);
    }
    Ok(())
}

fn extensions(
    profile: IssuedProfile,
    issuer: &Certificate,
    spki: &SubjectPublicKeyInfoOwned,
) -> Result<Vec<Extension>, CertificateError> {
    let subject_key_id = SubjectKeyIdentifier(OctetString::new(key_identifier(spki))?);
    let issuer_key_id = issuer_key_identifier(issuer)?;

    Ok(match profile {
        IssuedProfile::CertificateAuthority => {
            let authority_key_id = AuthorityKeyIdentifier {
                key_identifier: Some(issuer_key_id),
                authority_cert_issuer: Some(vec![GeneralName::DirectoryName(issuer.tbs_certificate.issuer.clone())]),
                authority_cert_serial_number: Some(issuer.tbs_certificate.serial_number.clone()),
            };
            vec![
                extension(
                    const_oid::db::rfc5280::ID_CE_BASIC_CONSTRAINTS,
                    true,
                    &BasicConstraints {
                        ca: true,
                        path_len_constraint: None,
                    },
                )?,
                extension(
                    const_oid::db::rfc5280::ID_CE_KEY_USAGE,
                    false,
                    &KeyUsage(KeyUsages::KeyCertSign.into()),
                )?,
                extension(
                    const_oid::db::rfc5280::ID_CE_SUBJECT_KEY_IDENTIFIER,
                    false,
                    &subject_key_id,
                )?,
                extension(
                    const_oid::db::rfc5280::ID_CE_AUTHORITY_KEY_IDENTIFIER,
                    false,
                    &authority_key_id,
                )?,
            ]
        }
        IssuedProfile::User => {
            let authority_key_id = AuthorityKeyIdentifier {
                key_identifier: Some(issuer_key_id),
                authority_cert_issuer: None,
                authority_cert_serial_number: None,
            };
            let key_usage = KeyUsages::NonRepudiation | KeyUsages::DigitalSignature | KeyUsages::KeyEncipherment;
            vec![
                extension(
                    const_oid::db::rfc5280::ID_CE_BASIC_CONSTRAINTS,
                    false,
                    &BasicConstraints {
                        ca: false,
                        path_len_constraint: None,
                    },
                )?,
                extension(const_oid::db::rfc5280::ID_CE_KEY_USAGE, false, &KeyUsage(key_usage))?,
                extension(NETSCAPE_COMMENT, false, &Ia5String::new(NETSCAPE_COMMENT_TEXT)?)?,
                extension(
                    const_oid::db::rfc5280::ID_CE_SUBJECT_KEY_IDENTIFIER,
                    false,
                    &subject_key_id,
                )?,
                extension(
                    const_oid::db::rfc5280::ID_CE_AUTHORITY_KEY_IDENTIFIER,
                    false,
                    &authority_key_id,
                )?,
            ]
        }
    })
}

/// Returns the issuer's subject key identifier, or the SHA-1 of its key
/// when the issuer certificate has none.
fn issuer_key_identifier(issuer: &Certificate) -> Result<OctetString, CertificateError> {
    let from_extension = issuer
        .tbs_certificate
        .extensions
        .iter()
        .flatten()
        .find(|extension| extension.extn_id == const_oid::db::rfc5280::ID_CE_SUBJECT_KEY_IDENTIFIER)
        .and_then(|extension| SubjectKeyIdentifier::from_der(extension.extn_value.as_bytes()).ok());
    match from_extension {
        Some(identifier) => Ok(identifier.0),
        None => Ok(OctetString::new(key_identifier(
            &issuer.tbs_certificate.subject_public_key_info,
        ))?),
    }
}

/// Builds an extension with explicit criticality, because x509-cert's
/// defaults follow the RFC 5280 advice, which differs from these profiles
/// for keyUsage.
fn extension(
    oid: const_oid::ObjectIdentifier,
    critical: bool,
    value: &impl Encode,
) -> Result<Extension, CertificateError> {
    Ok(Extension {
        extn_id: oid,
        critical,
        extn_value: OctetString::new(value.to_der()?)?,
    })
}
