//! `EFI_SIGNATURE_LIST` (UEFI 2.10 §32.4.1), the value of the `PK`, `KEK`,
//! `db` and `dbx` variables: a sequence of lists, each holding signatures of
//! one type and one size.
//!
//! ```text
//! typedef struct {
//!   EFI_GUID  SignatureType;
//!   UINT32    SignatureListSize;
//!   UINT32    SignatureHeaderSize;
//!   UINT32    SignatureSize;
//!   // UINT8  SignatureHeader[SignatureHeaderSize];
//!   // EFI_SIGNATURE_DATA Signatures[...][SignatureSize];
//! } EFI_SIGNATURE_LIST;
//!
//! typedef struct {
//!   EFI_GUID  SignatureOwner;
//!   UINT8     SignatureData[...];
//! } EFI_SIGNATURE_DATA;
//! ```
//!
//! The writers produce what efitools 1.9.2 does: `cert-to-efi-sig-list` puts
//! one X.509 certificate in each list, and `hash-to-efi-sig-list` puts all
//! SHA-256 hashes in one list. The parser checks lists that clients upload
//! before they are signed.

use der::Decode;
use x509_cert::Certificate;

use super::guid::{self, Guid, GUID_LEN};
use crate::le;

/// Size of the fixed `EFI_SIGNATURE_LIST` header.
pub const EFI_SIGNATURE_LIST_HEADER_LEN: usize = 0x1c;

/// Offset of `SignatureListSize` in the list header.
const SIGNATURE_LIST_SIZE_OFFSET: usize = 0x10;

/// Offset of `SignatureHeaderSize` in the list header.
const SIGNATURE_HEADER_SIZE_OFFSET: usize = 0x14;

/// Offset of `SignatureSize` in the list header.
const SIGNATURE_SIZE_OFFSET: usize = 0x18;

/// Size of `EFI_SIGNATURE_DATA.SignatureOwner`, which starts every signature.
pub const SIGNATURE_OWNER_LEN: usize = GUID_LEN;

/// Size of a SHA-256 hash in an `EFI_CERT_SHA256_GUID` list.
pub const SHA256_HASH_LEN: usize = 0x20;

/// The signature types UEFI 2.10 §32.4.1 defines.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum SignatureType {
    Sha256,
    Rsa2048,
    Rsa2048Sha256,
    Sha1,
    Rsa2048Sha1,
    X509,
    Sha224,
    Sha384,
    Sha512,
    X509Sha256,
    X509Sha384,
    X509Sha512,
}

impl SignatureType {
    const ALL: [Self; 12] = [
        Self::Sha256,
        Self::Rsa2048,
        Self::Rsa2048Sha256,
        Self::Sha1,
        Self::Rsa2048Sha1,
        Self::X509,
        Self::Sha224,
        Self::Sha384,
        Self::Sha512,
        Self::X509Sha256,
        Self::X509Sha384,
        Self::X509Sha512,
    ];

    /// Returns the `SignatureType` GUID.
    pub const fn guid(self) -> Guid {
        match self {
            Self::Sha256 => guid::EFI_CERT_SHA256_GUID,
            Self::Rsa2048 => guid::EFI_CERT_RSA2048_GUID,
            Self::Rsa2048Sha256 => guid::EFI_CERT_RSA2048_SHA256_GUID,
            Self::Sha1 => guid::EFI_CERT_SHA1_GUID,
            Self::Rsa2048Sha1 => guid::EFI_CERT_RSA2048_SHA1_GUID,
            Self::X509 => guid::EFI_CERT_X509_GUID,
            Self::Sha224 => guid::EFI_CERT_SHA224_GUID,
            Self::Sha384 => guid::EFI_CERT_SHA384_GUID,
            Self::Sha512 => guid::EFI_CERT_SHA512_GUID,
            Self::X509Sha256 => guid::EFI_CERT_X509_SHA256_GUID,
            Self::X509Sha384 => guid::EFI_CERT_X509_SHA384_GUID,
            Self::X509Sha512 => guid::EFI_CERT_X509_SHA512_GUID,
        }
    }

    /// Looks up the type whose GUID is `guid`, if the specification defines one.
    pub fn from_guid(guid: Guid) -> Option<Self> {
        Self::ALL
            .into_iter()
            .find(|signature_type| signature_type.guid() == guid)
    }

    /// Returns the specification's name of the GUID, for messages.
    pub const fn name(self) -> &'static str {
        match self {
            Self::Sha256 => "EFI_CERT_SHA256_GUID",
            Self::Rsa2048 => "EFI_CERT_RSA2048_GUID",
            Self::Rsa2048Sha256 => "EFI_CERT_RSA2048_SHA256_GUID",
            Self::Sha1 => "EFI_CERT_SHA1_GUID",
            Self::Rsa2048Sha1 => "EFI_CERT_RSA2048_SHA1_GUID",
            Self::X509 => "EFI_CERT_X509_GUID",
            Self::Sha224 => "EFI_CERT_SHA224_GUID",
            Self::Sha384 => "EFI_CERT_SHA384_GUID",
            Self::Sha512 => "EFI_CERT_SHA512_GUID",
            Self::X509Sha256 => "EFI_CERT_X509_SHA256_GUID",
            Self::X509Sha384 => "EFI_CERT_X509_SHA384_GUID",
            Self::X509Sha512 => "EFI_CERT_X509_SHA512_GUID",
        }
    }

    /// Size of `SignatureData` in bytes, or `None` for X.509 certificates,
    /// whose size varies. The `EFI_CERT_X509_SHA*` types hold a hash of the
    /// to-be-signed certificate followed by a 16-byte `EFI_TIME`.
    pub const fn data_len(self) -> Option<usize> {
        match self {
            Self::Sha256 => Some(32),
            Self::Rsa2048 | Self::Rsa2048Sha256 | Self::Rsa2048Sha1 => Some(256),
            Self::Sha1 => Some(20),
            Self::X509 => None,
            Self::Sha224 => Some(28),
            Self::Sha384 => Some(48),
            Self::Sha512 => Some(64),
            Self::X509Sha256 => Some(32 + 16),
            Self::X509Sha384 => Some(48 + 16),
            Self::X509Sha512 => Some(64 + 16),
        }
    }
}

/// One parsed `EFI_SIGNATURE_LIST`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignatureList<'a> {
    /// Offset of the list in the parsed data.
    pub offset: usize,
    pub signature_type: SignatureType,
    /// `SignatureSize`: owner GUID plus signature data, in bytes.
    pub signature_size: usize,
    pub signatures: Vec<SignatureData<'a>>,
}

/// One `EFI_SIGNATURE_DATA` entry of a list.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignatureData<'a> {
    pub signature_owner: Guid,
    pub signature_data: &'a [u8],
}

/// Error from building or parsing signature lists. Offsets count from the
/// start of the parsed data.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureListError {
    #[error(
        "the EFI_SIGNATURE_LIST at offset {offset:#x} is truncated: its header needs 28 bytes, {remaining} remain"
    )]
    TruncatedHeader { offset: usize, remaining: usize },
    #[error(
        "SignatureListSize {signature_list_size} of the EFI_SIGNATURE_LIST at offset {offset:#x} is smaller \
         than its headers ({minimum} bytes)"
    )]
    SignatureListSizeTooSmall {
        offset: usize,
        signature_list_size: u32,
        minimum: usize,
    },
    #[error(
        "SignatureListSize {signature_list_size} of the EFI_SIGNATURE_LIST at offset {offset:#x} runs past the end \
         of the data ({remaining} bytes remain)"
    )]
    SignatureListSizePastEnd {
        offset: usize,
        signature_list_size: u32,
        remaining: usize,
    },
    #[error(
        "SignatureType {signature_type} of the EFI_SIGNATURE_LIST at offset {offset:#x} is not a type that \
         UEFI 2.10 defines"
    )]
    UnknownSignatureType { offset: usize, signature_type: Guid },
    #[error(
        "SignatureHeaderSize of the {} list at offset {offset:#x} is {signature_header_size}, but must be 0",
        signature_type.name()
    )]
    SignatureHeaderSize {
        offset: usize,
        signature_type: SignatureType,
        signature_header_size: u32,
    },
    #[error(
        "SignatureSize of the {} list at offset {offset:#x} is {signature_size}, expected {expected}",
        signature_type.name()
    )]
    SignatureSize {
        offset: usize,
        signature_type: SignatureType,
        signature_size: u32,
        expected: usize,
    },
    #[error(
        "SignatureSize of the EFI_CERT_X509_GUID list at offset {offset:#x} is {signature_size}, which leaves no \
         room for a certificate after the 16-byte SignatureOwner"
    )]
    SignatureSizeTooSmall { offset: usize, signature_size: u32 },
    #[error(
        "the signatures of the list at offset {offset:#x} take {signatures_len} bytes, which is not a multiple of \
         SignatureSize {signature_size}"
    )]
    PartialSignature {
        offset: usize,
        signatures_len: usize,
        signature_size: usize,
    },
    #[error("the EFI_SIGNATURE_LIST at offset {offset:#x} holds no signatures")]
    NoSignatures { offset: usize },
    #[error("the EFI_CERT_X509_GUID SignatureData at offset {offset:#x} is not a DER X.509 certificate: {source}")]
    InvalidCertificate { offset: usize, source: der::Error },
    #[error("the certificate is not a DER X.509 certificate: {0}")]
    Certificate(der::Error),
    #[error("a SHA-256 signature list needs at least one hash")]
    NoHashes,
    #[error("a signature list of {len} bytes does not fit the 32-bit SignatureListSize")]
    ListTooLarge { len: usize },
}

/// Builds the `EFI_CERT_X509_GUID` list for one DER certificate, as
/// `cert-to-efi-sig-list -g <owner>` does. Concatenate the lists of several
/// certificates to enroll them all.
pub fn x509_signature_list(cert_der: &[u8], owner: Guid) -> Result<Vec<u8>, SignatureListError> {
    Certificate::from_der(cert_der).map_err(SignatureListError::Certificate)?;
    build_list(SignatureType::X509, owner, &[cert_der])
}

/// Builds one `EFI_CERT_SHA256_GUID` list holding `hashes`, as
/// `hash-to-efi-sig-list` does with the Authenticode hashes of its input
/// images.
pub fn sha256_signature_list(hashes: &[[u8; SHA256_HASH_LEN]], owner: Guid) -> Result<Vec<u8>, SignatureListError> {
    if hashes.is_empty() {
        return Err(SignatureListError::NoHashes);
    }
    let entries: Vec<&[u8]> = hashes.iter().map(|hash| hash.as_slice()).collect();
    build_list(SignatureType::Sha256, owner, &entries)
}

/// Writes a list whose entries all have the length of the first one. The
/// callers pass one certificate, or hashes of one size.
fn build_list(signature_type: SignatureType, owner: Guid, entries: &[&[u8]]) -> Result<Vec<u8>, SignatureListError> {
    let data_len = entries.first().map_or(0, |entry| entry.len());
    let signature_size = SIGNATURE_OWNER_LEN + data_len;
    let list_len = signature_size
        .checked_mul(entries.len())
        .and_then(|signatures_len| signatures_len.checked_add(EFI_SIGNATURE_LIST_HEADER_LEN))
        .ok_or(SignatureListError::ListTooLarge { len: usize::MAX })?;
    let too_large = || SignatureListError::ListTooLarge { len: list_len };
    let list_size = u32::try_from(list_len).map_err(|_| too_large())?;
    let signature_size_u32 = u32::try_from(signature_size).map_err(|_| too_large())?;

    let mut list = Vec::with_capacity(list_len);
    list.extend_from_slice(&signature_type.guid().to_bytes());
    list.extend_from_slice(&list_size.to_le_bytes());
    list.extend_from_slice(&0u32.to_le_bytes()); // SignatureHeaderSize
    list.extend_from_slice(&signature_size_u32.to_le_bytes());
    for entry in entries {
        list.extend_from_slice(&owner.to_bytes());
        list.extend_from_slice(entry);
    }
    Ok(list)
}

/// Parses a concatenation of signature lists and checks every size field,
/// the signature types and, for X.509 lists, that each entry is a DER
/// certificate. Empty input is a valid, empty variable value.
pub fn parse_signature_lists(data: &[u8]) -> Result<Vec<SignatureList<'_>>, SignatureListError> {
    let mut lists = Vec::new();
    let mut offset = 0;
    while let Some(rest) = data.get(offset..).filter(|rest| !rest.is_empty()) {
        let (list, list_len) = parse_list(rest, offset)?;
        lists.push(list);
        offset += list_len;
    }
    Ok(lists)
}

/// Parses the list at the start of `data`, which is at `offset` in the whole
/// input, and returns it with its `SignatureListSize`.
fn parse_list(data: &[u8], offset: usize) -> Result<(SignatureList<'_>, usize), SignatureListError> {
    let header = HeaderFields::read(data, offset)?;
    let signature_type =
        SignatureType::from_guid(header.signature_type).ok_or(SignatureListError::UnknownSignatureType {
            offset,
            signature_type: header.signature_type,
        })?;

    // Every type of UEFI 2.10 §32.4.1 has an empty SignatureHeader.
    if header.signature_header_size != 0 {
        return Err(SignatureListError::SignatureHeaderSize {
            offset,
            signature_type,
            signature_header_size: header.signature_header_size,
        });
    }

    let list_len = le::usize_from(header.signature_list_size);
    if list_len < EFI_SIGNATURE_LIST_HEADER_LEN {
        return Err(SignatureListError::SignatureListSizeTooSmall {
            offset,
            signature_list_size: header.signature_list_size,
            minimum: EFI_SIGNATURE_LIST_HEADER_LEN,
        });
    }
    let list = data
        .get(..list_len)
        .ok_or(SignatureListError::SignatureListSizePastEnd {
            offset,
            signature_list_size: header.signature_list_size,
            remaining: data.len(),
        })?;

    let signature_size = check_signature_size(signature_type, header.signature_size, offset)?;
    let signatures_area = list.get(EFI_SIGNATURE_LIST_HEADER_LEN..).unwrap_or_default();
    let signatures = parse_signatures(signature_type, signature_size, signatures_area, offset)?;

    let parsed = SignatureList {
        offset,
        signature_type,
        signature_size,
        signatures,
    };
    Ok((parsed, list_len))
}

/// The three size fields and the type of a list header.
struct HeaderFields {
    signature_type: Guid,
    signature_list_size: u32,
    signature_header_size: u32,
    signature_size: u32,
}

impl HeaderFields {
    fn read(data: &[u8], offset: usize) -> Result<Self, SignatureListError> {
        let truncated = SignatureListError::TruncatedHeader {
            offset,
            remaining: data.len(),
        };
        let header: [u8; EFI_SIGNATURE_LIST_HEADER_LEN] = le::array_at(data, 0).ok_or(truncated)?;
        let field = |field_offset| le::u32_at(&header, field_offset).unwrap_or_default();

        Ok(Self {
            signature_type: Guid::from_bytes(le::array_at(&header, 0).unwrap_or_default()),
            signature_list_size: field(SIGNATURE_LIST_SIZE_OFFSET),
            signature_header_size: field(SIGNATURE_HEADER_SIZE_OFFSET),
            signature_size: field(SIGNATURE_SIZE_OFFSET),
        })
    }
}

/// Checks `SignatureSize` against the fixed size of `signature_type`.
fn check_signature_size(
    signature_type: SignatureType,
    signature_size: u32,
    offset: usize,
) -> Result<usize, SignatureListError> {
    let size = le::usize_from(signature_size);
    match signature_type.data_len() {
        Some(data_len) if size != SIGNATURE_OWNER_LEN + data_len => Err(SignatureListError::SignatureSize {
            offset,
            signature_type,
            signature_size,
            expected: SIGNATURE_OWNER_LEN + data_len,
        }),
        None if size <= SIGNATURE_OWNER_LEN => {
            Err(SignatureListError::SignatureSizeTooSmall { offset, signature_size })
        }
        _ => Ok(size),
    }
}

/// Splits the signature array of the list at `offset` into entries.
fn parse_signatures(
    signature_type: SignatureType,
    signature_size: usize,
    area: &[u8],
    offset: usize,
) -> Result<Vec<SignatureData<'_>>, SignatureListError> {
    if area.is_empty() {
        return Err(SignatureListError::NoSignatures { offset });
    }
    if !area.len().is_multiple_of(signature_size) {
        return Err(SignatureListError::PartialSignature {
            offset,
            signatures_len: area.len(),
            signature_size,
        });
    }

    let mut signatures = Vec::with_capacity(area.len() / signature_size);
    for (index, entry) in area.chunks_exact(signature_size).enumerate() {
        let owner: [u8; SIGNATURE_OWNER_LEN] = le::array_at(entry, 0).unwrap_or_default();
        let signature_data = entry.get(SIGNATURE_OWNER_LEN..).unwrap_or_default();
        let entry_offset = offset + EFI_SIGNATURE_LIST_HEADER_LEN + index * signature_size;

        if signature_type == SignatureType::X509 {
            Certificate::from_der(signature_data).map_err(|source| SignatureListError::InvalidCertificate {
                offset: entry_offset + SIGNATURE_OWNER_LEN,
                source,
            })?;
        }

        signatures.push(SignatureData {
            signature_owner: Guid::from_bytes(owner),
            signature_data,
        });
    }
    Ok(signatures)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::FakeSigner;

    const OWNER: Guid = Guid::from_fields(0x1234_5678, 0x9abc, 0xdef0, [1, 2, 3, 4, 5, 6, 7, 8]);

    fn certificate() -> Vec<u8> {
        FakeSigner::new(0x42).certificate("siglist test")
    }

    fn set_u32(data: &mut [u8], offset: usize, value: u32) {
        data[offset..offset + 4].copy_from_slice(&value.to_le_bytes());
    }

    #[test]
    fn x509_list_layout() {
        let cert = certificate();
        let list = x509_signature_list(&cert, OWNER).unwrap();

        assert_eq!(list.len(), 28 + 16 + cert.len());
        assert_eq!(&list[..16], &guid::EFI_CERT_X509_GUID.to_bytes());
        assert_eq!(le::u32_at(&list, 16), Some((28 + 16 + cert.len()) as u32));
        assert_eq!(le::u32_at(&list, 20), Some(0));
        assert_eq!(le::u32_at(&list, 24), Some((16 + cert.len()) as u32));
        assert_eq!(&list[28..44], &OWNER.to_bytes());
        assert_eq!(&list[44..], cert.as_slice());
    }

    #[test]
    fn sha256_list_layout() {
        let hashes = [[0xaa; 32], [0xbb; 32], [0xcc; 32]];
        let list = sha256_signature_list(&hashes, Guid::ZERO).unwrap();

        assert_eq!(list.len(), 28 + 3 * 48);
        assert_eq!(&list[..16], &guid::EFI_CERT_SHA256_GUID.to_bytes());
        assert_eq!(le::u32_at(&list, 24), Some(48));
        assert_eq!(&list[28 + 48 + 16..28 + 2 * 48], &[0xbb; 32]);
    }

    #[test]
    fn parses_concatenated_lists() {
        let cert = certificate();
        let mut data = x509_signature_list(&cert, OWNER).unwrap();
        data.extend(sha256_signature_list(&[[1; 32], [2; 32]], Guid::ZERO).unwrap());

        let lists = parse_signature_lists(&data).unwrap();
        assert_eq!(lists.len(), 2);
        assert_eq!(lists[0].signature_type, SignatureType::X509);
        assert_eq!(lists[0].signatures[0].signature_owner, OWNER);
        assert_eq!(lists[0].signatures[0].signature_data, cert.as_slice());
        assert_eq!(lists[1].offset, 28 + 16 + cert.len());
        assert_eq!(lists[1].signature_type, SignatureType::Sha256);
        assert_eq!(lists[1].signatures.len(), 2);
        assert_eq!(lists[1].signatures[1].signature_data, &[2; 32]);
    }

    #[test]
    fn parses_empty_input() {
        assert!(parse_signature_lists(&[]).unwrap().is_empty());
    }

    #[test]
    fn rejects_truncated_header() {
        let list = sha256_signature_list(&[[1; 32]], Guid::ZERO).unwrap();
        let mut data = list.clone();
        data.extend_from_slice(&list[..27]);

        let error = parse_signature_lists(&data).unwrap_err();
        assert!(matches!(
            error,
            SignatureListError::TruncatedHeader {
                offset: 76,
                remaining: 27
            }
        ));
        assert!(error.to_string().contains("offset 0x4c"), "{error}");
    }

    #[test]
    fn rejects_list_size_past_end() {
        let mut data = sha256_signature_list(&[[1; 32]], Guid::ZERO).unwrap();
        set_u32(&mut data, 16, 28 + 2 * 48);
        assert!(matches!(
            parse_signature_lists(&data).unwrap_err(),
            SignatureListError::SignatureListSizePastEnd {
                offset: 0,
                signature_list_size: 124,
                remaining: 76
            }
        ));
    }

    #[test]
    fn rejects_huge_list_size() {
        let mut data = sha256_signature_list(&[[1; 32]], Guid::ZERO).unwrap();
        set_u32(&mut data, 16, u32::MAX);
        assert!(matches!(
            parse_signature_lists(&data).unwrap_err(),
            SignatureListError::SignatureListSizePastEnd { .. }
        ));
    }

    #[test]
    fn rejects_list_size_below_header() {
        let mut data = sha256_signature_list(&[[1; 32]], Guid::ZERO).unwrap();
        set_u32(&mut data, 16, 27);
        assert!(matches!(
            parse_signature_lists(&data).unwrap_err(),
            SignatureListError::SignatureListSizeTooSmall {
                signature_list_size: 27,
                ..
            }
        ));
    }

    #[test]
    fn rejects_zero_list_size() {
        let mut data = sha256_signature_list(&[[1; 32]], Guid::ZERO).unwrap();
        set_u32(&mut data, 16, 0);
        assert!(matches!(
            parse_signature_lists(&data).unwrap_err(),
            SignatureListError::SignatureListSizeTooSmall {
                signature_list_size: 0,
                ..
            }
        ));
    }

    #[test]
    fn rejects_nonzero_header_size() {
        let mut data = sha256_signature_list(&[[1; 32]], Guid::ZERO).unwrap();
        set_u32(&mut data, 20, 4);
        let error = parse_signature_lists(&data).unwrap_err();
        assert!(matches!(
            error,
            SignatureListError::SignatureHeaderSize {
                signature_header_size: 4,
                ..
            }
        ));
        assert!(error.to_string().contains("SignatureHeaderSize"), "{error}");
    }

    #[test]
    fn rejects_wrong_hash_signature_size() {
        let mut data = sha256_signature_list(&[[1; 32], [2; 32]], Guid::ZERO).unwrap();
        set_u32(&mut data, 24, 40);
        assert!(matches!(
            parse_signature_lists(&data).unwrap_err(),
            SignatureListError::SignatureSize {
                signature_size: 40,
                expected: 48,
                ..
            }
        ));
    }

    #[test]
    fn rejects_zero_signature_size() {
        let cert = certificate();
        let mut data = x509_signature_list(&cert, OWNER).unwrap();
        set_u32(&mut data, 24, 0);
        assert!(matches!(
            parse_signature_lists(&data).unwrap_err(),
            SignatureListError::SignatureSizeTooSmall { signature_size: 0, .. }
        ));
    }

    #[test]
    fn rejects_partial_signature() {
        let cert = certificate();
        let mut data = x509_signature_list(&cert, OWNER).unwrap();
        let size = 16 + cert.len() as u32 - 1;
        set_u32(&mut data, 24, size);
        assert!(matches!(
            parse_signature_lists(&data).unwrap_err(),
            SignatureListError::PartialSignature { .. }
        ));
    }

    #[test]
    fn rejects_list_without_signatures() {
        let mut data = sha256_signature_list(&[[1; 32]], Guid::ZERO).unwrap();
        set_u32(&mut data, 16, 28);
        data.truncate(28);
        assert!(matches!(
            parse_signature_lists(&data).unwrap_err(),
            SignatureListError::NoSignatures { offset: 0 }
        ));
    }

    #[test]
    fn rejects_unknown_signature_type() {
        let mut data = sha256_signature_list(&[[1; 32]], Guid::ZERO).unwrap();
        data[..16].copy_from_slice(&OWNER.to_bytes());
        let error = parse_signature_lists(&data).unwrap_err();
        assert!(matches!(
            error,
            SignatureListError::UnknownSignatureType { offset: 0, .. }
        ));
        assert!(error.to_string().contains(&OWNER.to_string()), "{error}");
    }

    #[test]
    fn rejects_garbage_certificate() {
        let cert = certificate();
        let mut data = x509_signature_list(&cert, OWNER).unwrap();
        data[44] = 0x04;
        assert!(matches!(
            parse_signature_lists(&data).unwrap_err(),
            SignatureListError::InvalidCertificate { offset: 44, .. }
        ));
    }

    #[test]
    fn rejects_certificate_with_trailing_bytes() {
        let cert = certificate();
        let mut padded = cert.clone();
        padded.push(0);
        let mut data = x509_signature_list(&cert, OWNER).unwrap();
        data.truncate(44);
        data.extend_from_slice(&padded);
        set_u32(&mut data, 16, (28 + 16 + padded.len()) as u32);
        set_u32(&mut data, 24, (16 + padded.len()) as u32);
        assert!(matches!(
            parse_signature_lists(&data).unwrap_err(),
            SignatureListError::InvalidCertificate { offset: 44, .. }
        ));
    }

    #[test]
    fn builder_rejects_non_certificate() {
        assert!(matches!(
            x509_signature_list(b"not a certificate", OWNER).unwrap_err(),
            SignatureListError::Certificate(_)
        ));
    }

    #[test]
    fn builder_rejects_empty_hash_list() {
        assert!(matches!(
            sha256_signature_list(&[], OWNER).unwrap_err(),
            SignatureListError::NoHashes
        ));
    }
}
