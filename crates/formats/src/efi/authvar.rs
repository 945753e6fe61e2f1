//! `EFI_VARIABLE_AUTHENTICATION_2` (UEFI 2.10 §8.2.2): the time-based
//! authenticated update of a Secure Boot variable, as
//! `sign-efi-sig-list [-a] -t <time> -k key -c crt VAR in.esl out.auth`
//! (efitools 1.9.2) writes it.
//!
//! ```text
//! typedef struct {
//!   EFI_TIME                   TimeStamp;
//!   WIN_CERTIFICATE_UEFI_GUID  AuthInfo;
//! } EFI_VARIABLE_AUTHENTICATION_2;
//!
//! typedef struct {
//!   UINT32    dwLength;          // header and CertData
//!   UINT16    wRevision;         // 0x0200
//!   UINT16    wCertificateType;  // WIN_CERT_TYPE_EFI_GUID
//!   EFI_GUID  CertType;          // EFI_CERT_TYPE_PKCS7_GUID
//!   UINT8     CertData[];        // DER SignedData
//! } WIN_CERTIFICATE_UEFI_GUID;
//! ```
//!
//! The new variable value (the signature lists) follows the descriptor.
//! `CertData` is a bare PKCS #7 `SignedData` with no `ContentInfo` around it,
//! as §8.2.2 requires, made the way OpenSSL's PKCS7 API makes it for
//! `PKCS7_BINARY | PKCS7_DETACHED | PKCS7_NOATTR`: SHA-256 with NULL
//! parameters, detached `id-data` content, the signer certificate, and no
//! signed attributes, so the RSA signature covers the SHA-256 of the signed
//! bytes directly.

use std::fmt;
use std::str::FromStr;

use cms::content_info::CmsVersion;
use cms::signed_data::{EncapsulatedContentInfo, SignedData, SignerInfos};
use der::asn1::SetOfVec;
use der::Encode;

use super::guid::{Guid, EFI_CERT_TYPE_PKCS7_GUID, EFI_GLOBAL_VARIABLE, EFI_IMAGE_SECURITY_DATABASE_GUID, GUID_LEN};
use super::siglist::{parse_signature_lists, SignatureListError};
use super::time::{EfiTime, EFI_TIME_LEN};
use crate::pkcs7::{self, DigestParameters, Pkcs7Error, SignerCertificate};
use crate::signer::{HashAlgorithm, Signer};

/// `EFI_VARIABLE_NON_VOLATILE`.
pub const EFI_VARIABLE_NON_VOLATILE: u32 = 0x0000_0001;

/// `EFI_VARIABLE_BOOTSERVICE_ACCESS`.
pub const EFI_VARIABLE_BOOTSERVICE_ACCESS: u32 = 0x0000_0002;

/// `EFI_VARIABLE_RUNTIME_ACCESS`.
pub const EFI_VARIABLE_RUNTIME_ACCESS: u32 = 0x0000_0004;

/// `EFI_VARIABLE_TIME_BASED_AUTHENTICATED_WRITE_ACCESS`.
pub const EFI_VARIABLE_TIME_BASED_AUTHENTICATED_WRITE_ACCESS: u32 = 0x0000_0020;

/// `EFI_VARIABLE_APPEND_WRITE`.
pub const EFI_VARIABLE_APPEND_WRITE: u32 = 0x0000_0040;

/// `WIN_CERTIFICATE.wRevision` of every certificate UEFI accepts.
pub const WIN_CERT_REVISION: u16 = 0x0200;

/// `WIN_CERT_TYPE_EFI_GUID`: `CertData` is described by a `CertType` GUID.
pub const WIN_CERT_TYPE_EFI_GUID: u16 = 0x0ef1;

/// Size of `WIN_CERTIFICATE_UEFI_GUID` before `CertData`: `dwLength`,
/// `wRevision`, `wCertificateType` and `CertType`.
pub const WIN_CERTIFICATE_UEFI_GUID_HEADER_LEN: usize = 4 + 2 + 2 + GUID_LEN;

/// The Secure Boot variables balena-sign signs updates for.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum SecureBootVariable {
    /// `PK`, the platform key.
    Pk,
    /// `KEK`, the key exchange keys.
    Kek,
    /// `db`, the allowed signature database.
    Db,
    /// `dbx`, the forbidden signature database.
    Dbx,
}

impl SecureBootVariable {
    /// Returns the variable name as UEFI spells it (case matters).
    pub const fn name(self) -> &'static str {
        match self {
            Self::Pk => "PK",
            Self::Kek => "KEK",
            Self::Db => "db",
            Self::Dbx => "dbx",
        }
    }

    /// Returns the vendor GUID that, with the name, identifies the variable.
    pub const fn vendor_guid(self) -> Guid {
        match self {
            Self::Pk | Self::Kek => EFI_GLOBAL_VARIABLE,
            Self::Db | Self::Dbx => EFI_IMAGE_SECURITY_DATABASE_GUID,
        }
    }
}

impl fmt::Display for SecureBootVariable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A variable name other than `PK`, `KEK`, `db` or `dbx`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown Secure Boot variable {0:?}; expected PK, KEK, db or dbx")]
pub struct UnknownVariableError(String);

impl FromStr for SecureBootVariable {
    type Err = UnknownVariableError;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        match name {
            "PK" => Ok(Self::Pk),
            "KEK" => Ok(Self::Kek),
            "db" => Ok(Self::Db),
            "dbx" => Ok(Self::Dbx),
            _ => Err(UnknownVariableError(name.to_owned())),
        }
    }
}

/// A new value for a Secure Boot variable, before signing.
#[derive(Clone, Copy, Debug)]
pub struct VariableUpdate<'a> {
    pub variable: SecureBootVariable,
    /// `TimeStamp`; firmware rejects a replacement unless it is later than
    /// the variable's current one.
    pub timestamp: EfiTime,
    /// Sets `EFI_VARIABLE_APPEND_WRITE`, so firmware adds the lists to the
    /// variable instead of replacing it.
    pub append: bool,
    /// The new value: concatenated `EFI_SIGNATURE_LIST`s. Empty deletes the
    /// variable.
    pub signature_lists: &'a [u8],
}

impl VariableUpdate<'_> {
    /// Returns the `Attributes` that `SetVariable()` receives: 0x27, or 0x67
    /// with append.
    pub fn attributes(&self) -> u32 {
        let attributes = EFI_VARIABLE_NON_VOLATILE
            | EFI_VARIABLE_BOOTSERVICE_ACCESS
            | EFI_VARIABLE_RUNTIME_ACCESS
            | EFI_VARIABLE_TIME_BASED_AUTHENTICATED_WRITE_ACCESS;
        if self.append {
            attributes | EFI_VARIABLE_APPEND_WRITE
        } else {
            attributes
        }
    }

    /// Serializes the bytes the signature covers (UEFI 2.10 §8.2.2, step 2 of
    /// the caller's procedure): the variable name in UTF-16LE without its
    /// terminator, the vendor GUID, the attributes, the `TimeStamp` and the
    /// new value. `sign-efi-sig-list -o` writes the same bytes.
    pub fn signed_bytes(&self) -> Vec<u8> {
        let name = self.variable.name();
        let mut bytes = Vec::with_capacity(2 * name.len() + GUID_LEN + 4 + EFI_TIME_LEN + self.signature_lists.len());
        for unit in name.encode_utf16() {
            bytes.extend_from_slice(&unit.to_le_bytes());
        }
        bytes.extend_from_slice(&self.variable.vendor_guid().to_bytes());
        bytes.extend_from_slice(&self.attributes().to_le_bytes());
        bytes.extend_from_slice(&self.timestamp.to_bytes());
        bytes.extend_from_slice(self.signature_lists);
        bytes
    }
}

/// Error from making an authenticated variable.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthVarError {
    /// The new value is not a valid sequence of signature lists.
    #[error("invalid signature list: {0}")]
    SignatureList(#[from] SignatureListError),
    #[error(transparent)]
    Pkcs7(#[from] Pkcs7Error),
    #[error("the PKCS #7 signature of {len} bytes does not fit WIN_CERTIFICATE.dwLength")]
    SignatureTooLarge { len: usize },
}

/// Signs `update` with `signer`, whose certificate is `cert_der`, and
/// returns the `EFI_VARIABLE_AUTHENTICATION_2` descriptor followed by the
/// signature lists: the input of `SetVariable()` and of `efi-updatevar -f`.
///
/// The signature lists are checked first, so a malformed list is never
/// signed.
pub fn sign_variable(
    update: &VariableUpdate<'_>,
    cert_der: &[u8],
    signer: &dyn Signer,
) -> Result<Vec<u8>, AuthVarError> {
    parse_signature_lists(update.signature_lists)?;
    let certificate = SignerCertificate::new(cert_der, signer)?;

    let digest = HashAlgorithm::Sha256.digest(&update.signed_bytes());
    let signature = signer
        .sign_digest(HashAlgorithm::Sha256, &digest)
        .map_err(Pkcs7Error::from)?;
    let signed_data = signed_data_der(&certificate, &signature)?;

    let dw_length = WIN_CERTIFICATE_UEFI_GUID_HEADER_LEN
        .checked_add(signed_data.len())
        .and_then(|len| u32::try_from(len).ok())
        .ok_or(AuthVarError::SignatureTooLarge { len: signed_data.len() })?;

    let mut out = Vec::with_capacity(
        EFI_TIME_LEN + WIN_CERTIFICATE_UEFI_GUID_HEADER_LEN + signed_data.len() + update.signature_lists.len(),
    );
    out.extend_from_slice(&update.timestamp.to_bytes());
    out.extend_from_slice(&dw_length.to_le_bytes());
    out.extend_from_slice(&WIN_CERT_REVISION.to_le_bytes());
    out.extend_from_slice(&WIN_CERT_TYPE_EFI_GUID.to_le_bytes());
    out.extend_from_slice(&EFI_CERT_TYPE_PKCS7_GUID.to_bytes());
    out.extend_from_slice(&signed_data);
    out.extend_from_slice(update.signature_lists);
    Ok(out)
}

/// Encodes the DER `SignedData` (no `ContentInfo`) around `signature`.
fn signed_data_der(certificate: &SignerCertificate, signature: &[u8]) -> Result<Vec<u8>, Pkcs7Error> {
    let digest_algorithm = pkcs7::digest_algorithm(HashAlgorithm::Sha256, DigestParameters::Null);
    let signer_info = pkcs7::signer_info(certificate, digest_algorithm.clone(), None, signature)?;

    let signed_data = SignedData {
        version: CmsVersion::V1,
        digest_algorithms: SetOfVec::try_from(vec![digest_algorithm])?,
        encap_content_info: EncapsulatedContentInfo {
            econtent_type: pkcs7::ID_DATA,
            econtent: None,
        },
        certificates: Some(certificate.certificate_set()?),
        crls: None,
        signer_infos: SignerInfos::try_from(vec![signer_info])?,
    };
    Ok(signed_data.to_der()?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::efi::siglist::x509_signature_list;
    use crate::test_support::FakeSigner;

    fn update(lists: &[u8], append: bool) -> VariableUpdate<'_> {
        VariableUpdate {
            variable: SecureBootVariable::Db,
            timestamp: EfiTime::new(2024, 1, 2, 3, 4, 5).unwrap(),
            append,
            signature_lists: lists,
        }
    }

    #[test]
    fn attributes_follow_append() {
        assert_eq!(update(&[], false).attributes(), 0x27);
        assert_eq!(update(&[], true).attributes(), 0x67);
    }

    #[test]
    fn signed_bytes_layout() {
        let bytes = update(b"LIST", true).signed_bytes();
        let mut expected = vec![b'd', 0, b'b', 0];
        expected.extend_from_slice(&EFI_IMAGE_SECURITY_DATABASE_GUID.to_bytes());
        expected.extend_from_slice(&[0x67, 0, 0, 0]);
        expected.extend_from_slice(&[0xe8, 0x07, 1, 2, 3, 4, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
        expected.extend_from_slice(b"LIST");
        assert_eq!(bytes, expected);
    }

    #[test]
    fn descriptor_layout() {
        let signer = FakeSigner::new(0x5a);
        let cert = signer.certificate("authvar test");
        let lists = x509_signature_list(&cert, Guid::ZERO).unwrap();

        let out = sign_variable(&update(&lists, false), &cert, &signer).unwrap();

        let dw_length = u32::from_le_bytes(out[16..20].try_into().unwrap()) as usize;
        assert_eq!(&out[..16], &EfiTime::new(2024, 1, 2, 3, 4, 5).unwrap().to_bytes());
        assert_eq!(&out[20..24], &[0x00, 0x02, 0xf1, 0x0e]);
        assert_eq!(&out[24..40], &EFI_CERT_TYPE_PKCS7_GUID.to_bytes());
        assert_eq!(&out[40..42], &[0x30, 0x82]);
        let der_len = u16::from_be_bytes([out[42], out[43]]) as usize;
        assert_eq!(4 + der_len, dw_length - 24);
        assert_eq!(&out[44..49], &[0x02, 0x01, 0x01, 0x31, 0x0f]);
        assert_eq!(&out[16 + dw_length..], lists.as_slice());
    }

    #[test]
    fn rejects_malformed_list() {
        let signer = FakeSigner::new(0x5a);
        let cert = signer.certificate("authvar test");
        let error = sign_variable(&update(b"short", false), &cert, &signer).unwrap_err();
        assert!(matches!(error, AuthVarError::SignatureList(_)));
    }

    #[test]
    fn rejects_certificate_of_other_key() {
        let signer = FakeSigner::new(0x5a);
        let other_cert = FakeSigner::new(0x10).certificate("other");
        let error = sign_variable(&update(&[], false), &other_cert, &signer).unwrap_err();
        assert!(matches!(error, AuthVarError::Pkcs7(Pkcs7Error::KeyMismatch)));
    }

    #[test]
    fn variable_names_parse_exactly() {
        assert_eq!("KEK".parse::<SecureBootVariable>(), Ok(SecureBootVariable::Kek));
        assert!("kek".parse::<SecureBootVariable>().is_err());
        assert!("DB".parse::<SecureBootVariable>().is_err());
        assert_eq!(SecureBootVariable::Dbx.vendor_guid(), EFI_IMAGE_SECURITY_DATABASE_GUID);
        assert_eq!(SecureBootVariable::Pk.vendor_guid(), EFI_GLOBAL_VARIABLE);
    }
}
