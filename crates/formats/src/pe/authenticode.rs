//! Authenticode signatures of PE/COFF images (Microsoft "Windows
//! Authenticode Portable Executable Signature Format" 1.0, and the
//! Attribute Certificate Table of the "PE Format" specification), made as
//! sbsign 0.9.4 (sbsigntools) makes them:
//!
//! 1. An unsigned image whose length is not a multiple of 8 is padded with
//!    zeros to 8 bytes; the padding is hashed and kept.
//! 2. The image hash is SHA-256 over the file without `CheckSum`, without the
//!    Certificate Table entry and without the Certificate Table, in the
//!    order the Authenticode specification gives.
//! 3. The signature is a PKCS #7 `SignedData` (OpenSSL's PKCS7 API
//!    encoding) whose content is a `SpcIndirectDataContent` holding the
//!    hash, with the signed attributes contentType, signingTime,
//!    messageDigest and SMIMECapabilities, and the signer certificate.
//! 4. The `ContentInfo` is appended as a `WIN_CERTIFICATE` of type
//!    `WIN_CERT_TYPE_PKCS_SIGNED_DATA`, padded to 8 bytes, after any
//!    existing entries, so an already signed image gets a second signature.
//!    Data directory entry 4 and the PE checksum are rewritten. Neither is
//!    hashed, so the image hash stays the same.

use std::ops::Range;
use std::time::Duration;

use cms::content_info::CmsVersion;
use cms::signed_data::{EncapsulatedContentInfo, SignedData, SignerInfos};
use const_oid::ObjectIdentifier;
use der::asn1::{GeneralizedTime, OctetString, SetOfVec, UtcTime};
use der::{Any, DateTime, Decode, Encode};
use sha2::{Digest, Sha256};
use x509_cert::attr::{Attribute, Attributes};
use x509_cert::time::Time;

use super::image::{
    align_up, pe_checksum, PeError, PeImage, CHECKSUM_LEN, DATA_DIRECTORY_ENTRY_LEN, WIN_CERTIFICATE_HEADER_LEN,
};
use crate::pkcs7::{self, DigestParameters, Pkcs7Error, SignerCertificate};
use crate::signer::{HashAlgorithm, Signer};

/// Size of a SHA-256 image hash.
pub const IMAGE_HASH_LEN: usize = 0x20;

/// `WIN_CERT_REVISION_2_0`.
pub const WIN_CERT_REVISION_2_0: u16 = 0x0200;

/// `WIN_CERT_TYPE_PKCS_SIGNED_DATA`: `bCertificate` is a PKCS #7 `ContentInfo`.
pub const WIN_CERT_TYPE_PKCS_SIGNED_DATA: u16 = 0x0002;

/// `SPC_INDIRECT_DATA_OBJID` (1.3.6.1.4.1.311.2.1.4), the content type of an
/// Authenticode signature.
pub const SPC_INDIRECT_DATA_OBJID: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.3.6.1.4.1.311.2.1.4");

/// `SpcIndirectDataContent` as sbsign encodes it, up to the image hash:
///
/// ```text
/// SpcIndirectDataContent ::= SEQUENCE {
///     data           SpcAttributeTypeAndOptionalValue,  -- SPC_PE_IMAGE_DATAOBJ
///     messageDigest  DigestInfo }                       -- sha256, NULL, hash
/// SpcPeImageData ::= SEQUENCE {
///     flags  SpcPeImageFlags DEFAULT { includeResources },  -- empty BIT STRING
///     file   SpcLink }                 -- [0] { [2] file { [0] BMPString "<<<Obsolete>>>" } }
/// ```
const SPC_INDIRECT_DATA_CONTENT_PREFIX: [u8; 74] = [
    0x30, 0x68, // SpcIndirectDataContent, 104 bytes
    0x30, 0x33, // SpcAttributeTypeAndOptionalValue
    0x06, 0x0a, 0x2b, 0x06, 0x01, 0x04, 0x01, 0x82, 0x37, 0x02, 0x01, 0x0f, // 1.3.6.1.4.1.311.2.1.15
    0x30, 0x25, // SpcPeImageData
    0x03, 0x01, 0x00, // flags: BIT STRING with no bits
    0xa0, 0x20, // file: SpcLink [0]
    0xa2, 0x1e, // SpcLink.file [2]
    0x80, 0x1c, // SpcString.unicode [0], 28 bytes of UTF-16BE
    0x00, 0x3c, 0x00, 0x3c, 0x00, 0x3c, 0x00, 0x4f, 0x00, 0x62, 0x00, 0x73, 0x00, 0x6f, // "<<<Obso"
    0x00, 0x6c, 0x00, 0x65, 0x00, 0x74, 0x00, 0x65, 0x00, 0x3e, 0x00, 0x3e, 0x00, 0x3e, // "lete>>>"
    0x30, 0x31, // DigestInfo
    0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, // sha256, NULL
    0x04, 0x20, // OCTET STRING, 32 bytes: the image hash follows
];

/// Length of the `SpcIndirectDataContent` SEQUENCE header; the
/// messageDigest attribute covers only the content octets after it.
const SPC_INDIRECT_DATA_CONTENT_HEADER_LEN: usize = 2;

/// The SMIMECapabilities attribute that OpenSSL 3.0 adds to every PKCS7 API
/// signature: aes256-cbc, aes192-cbc, aes128-cbc, des-ede3-cbc,
/// rc2-cbc (128 bits), rc2-cbc (64 bits), des-cbc and rc2-cbc (40 bits).
const SMIME_CAPABILITIES_ATTRIBUTE: [u8; 123] = [
    0x30, 0x79, 0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x0f, 0x31, 0x6c, 0x30, 0x6a, 0x30, 0x0b,
    0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x2a, 0x30, 0x0b, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01,
    0x65, 0x03, 0x04, 0x01, 0x16, 0x30, 0x0b, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x01, 0x02, 0x30,
    0x0a, 0x06, 0x08, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x03, 0x07, 0x30, 0x0e, 0x06, 0x08, 0x2a, 0x86, 0x48, 0x86,
    0xf7, 0x0d, 0x03, 0x02, 0x02, 0x02, 0x00, 0x80, 0x30, 0x0d, 0x06, 0x08, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x03,
    0x02, 0x02, 0x01, 0x40, 0x30, 0x07, 0x06, 0x05, 0x2b, 0x0e, 0x03, 0x02, 0x07, 0x30, 0x0d, 0x06, 0x08, 0x2a, 0x86,
    0x48, 0x86, 0xf7, 0x0d, 0x03, 0x02, 0x02, 0x01, 0x28,
];

/// First second that OpenSSL encodes as GeneralizedTime instead of UTCTime
/// (2050-01-01T00:00:00Z), following RFC 5652 §11.3.
const GENERALIZED_TIME_FROM: u64 = 2_524_608_000;

/// Error from hashing or signing an image.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AuthenticodeError {
    #[error("invalid PE/COFF image: {0}")]
    Pe(#[from] PeError),
    #[error(transparent)]
    Pkcs7(#[from] Pkcs7Error),
    #[error("signingTime {0} (Unix seconds) is after 9999-12-31T23:59:59Z")]
    SigningTime(u64),
    #[error("the signed image would need offsets past 4 GiB, which the 32-bit Certificate Table entry cannot hold")]
    ImageTooLarge,
}

/// Returns the Authenticode SHA-256 hash that [`sign_image`] signs for
/// `image`. For an unsigned image whose length is not a multiple of 8 this
/// includes the zero padding, so it differs from `pesign -h` on the same
/// unpadded file but equals it on the signed output.
pub fn image_hash(image: &[u8]) -> Result<[u8; IMAGE_HASH_LEN], AuthenticodeError> {
    let pe = PeImage::parse(image)?;
    Ok(hash_regions(&pe, padded_image_len(&pe)))
}

/// Signs `image` with `signer`, whose certificate is `cert_der`, at
/// `signing_time` (Unix seconds, written as the signingTime attribute), and
/// returns the signed image. The output is allocated once, at its final
/// size.
pub fn sign_image(
    image: &[u8],
    cert_der: &[u8],
    signing_time: u64,
    signer: &dyn Signer,
) -> Result<Vec<u8>, AuthenticodeError> {
    let pe = PeImage::parse(image)?;
    let certificate = SignerCertificate::new(cert_der, signer)?;

    let padded_len = padded_image_len(&pe);
    let hash = hash_regions(&pe, padded_len);
    let content_info = signature(&hash, &certificate, signing_time, signer)?;

    append_certificate(&pe, padded_len, &content_info)
}

/// Returns the length of the image data with sbsign's padding. Without a
/// Certificate Table, it is the file length rounded up to 8 bytes. With one,
/// it is the table's offset, which parsing checked to be 8-aligned.
fn padded_image_len(pe: &PeImage<'_>) -> usize {
    match pe.certificate_table() {
        Some(_) => pe.image_data_len(),
        None => align_up(pe.image_data_len()),
    }
}

/// Hashes the Authenticode regions of the first `padded_len` bytes, where
/// bytes past the end of the file are zero padding.
fn hash_regions(pe: &PeImage<'_>, padded_len: usize) -> [u8; IMAGE_HASH_LEN] {
    let mut hasher = PaddedHasher::new(pe.data());
    let checksum = pe.checksum_offset();
    let entry = pe.certificate_table_entry_offset();

    // The headers, skipping CheckSum and the Certificate Table entry.
    hasher.update(0..checksum);
    hasher.update(checksum + CHECKSUM_LEN..entry);
    hasher.update(entry + DATA_DIRECTORY_ENTRY_LEN..pe.size_of_headers());
    let mut sum_of_bytes_hashed = pe.size_of_headers();

    // Sections by PointerToRawData.
    for section in pe.section_ranges() {
        hasher.update(section.clone());
        sum_of_bytes_hashed += section.len();
    }

    // Everything after the last byte hashed so far, up to the Certificate
    // Table. The specification and sbsign both start at the count of bytes
    // hashed, which is the end of the last section when sections are
    // contiguous.
    if sum_of_bytes_hashed < padded_len {
        hasher.update(sum_of_bytes_hashed..padded_len);
    }

    hasher.finalize()
}

/// SHA-256 over ranges of a file that is followed by implicit zero bytes.
struct PaddedHasher<'a> {
    data: &'a [u8],
    hasher: Sha256,
}

impl<'a> PaddedHasher<'a> {
    fn new(data: &'a [u8]) -> Self {
        Self {
            data,
            hasher: Sha256::new(),
        }
    }

    fn update(&mut self, range: Range<usize>) {
        let in_file = range.start.min(self.data.len())..range.end.min(self.data.len());
        let mut zeros = range.len() - in_file.len();
        self.hasher.update(self.data.get(in_file).unwrap_or_default());

        const ZERO_BLOCK: [u8; 64] = [0; 64];
        while zeros > 0 {
            let block = zeros.min(ZERO_BLOCK.len());
            self.hasher.update(ZERO_BLOCK.get(..block).unwrap_or_default());
            zeros -= block;
        }
    }

    fn finalize(self) -> [u8; IMAGE_HASH_LEN] {
        self.hasher.finalize().into()
    }
}

/// Signs `hash` and encodes the DER `ContentInfo` of the Authenticode
/// `SignedData`.
fn signature(
    hash: &[u8; IMAGE_HASH_LEN],
    certificate: &SignerCertificate,
    signing_time: u64,
    signer: &dyn Signer,
) -> Result<Vec<u8>, AuthenticodeError> {
    let mut indirect_data = Vec::with_capacity(SPC_INDIRECT_DATA_CONTENT_PREFIX.len() + IMAGE_HASH_LEN);
    indirect_data.extend_from_slice(&SPC_INDIRECT_DATA_CONTENT_PREFIX);
    indirect_data.extend_from_slice(hash);
    let content_octets = indirect_data
        .get(SPC_INDIRECT_DATA_CONTENT_HEADER_LEN..)
        .unwrap_or_default();

    let signed_attributes = signed_attributes(&Sha256::digest(content_octets), signing_time)?;
    let attributes_digest = Sha256::digest(signed_attributes.to_der().map_err(Pkcs7Error::from)?);
    let signature_value = signer
        .sign_digest(HashAlgorithm::Sha256, &attributes_digest)
        .map_err(Pkcs7Error::from)?;

    let digest_algorithm = pkcs7::digest_algorithm(HashAlgorithm::Sha256, DigestParameters::Null);
    let signer_info = pkcs7::signer_info(
        certificate,
        digest_algorithm.clone(),
        Some(signed_attributes),
        &signature_value,
    )?;

    let signed_data = SignedData {
        version: CmsVersion::V1,
        digest_algorithms: SetOfVec::try_from(vec![digest_algorithm]).map_err(Pkcs7Error::from)?,
        encap_content_info: EncapsulatedContentInfo {
            econtent_type: SPC_INDIRECT_DATA_OBJID,
            econtent: Some(Any::from_der(&indirect_data).map_err(Pkcs7Error::from)?),
        },
        certificates: Some(certificate.certificate_set()?),
        crls: None,
        signer_infos: SignerInfos::try_from(vec![signer_info]).map_err(Pkcs7Error::from)?,
    };
    Ok(pkcs7::content_info_der(&signed_data)?)
}

/// Builds the four signed attributes, which DER orders by encoding:
/// contentType, signingTime, messageDigest, SMIMECapabilities.
fn signed_attributes(message_digest: &[u8], signing_time: u64) -> Result<Attributes, AuthenticodeError> {
    let attributes = vec![
        attribute(const_oid::db::rfc5911::ID_CONTENT_TYPE, &SPC_INDIRECT_DATA_OBJID)?,
        attribute(
            const_oid::db::rfc5911::ID_SIGNING_TIME,
            &signing_time_value(signing_time)?,
        )?,
        attribute(
            const_oid::db::rfc5911::ID_MESSAGE_DIGEST,
            &OctetString::new(message_digest).map_err(Pkcs7Error::from)?,
        )?,
        Attribute::from_der(&SMIME_CAPABILITIES_ATTRIBUTE).map_err(Pkcs7Error::from)?,
    ];
    Ok(SetOfVec::try_from(attributes).map_err(Pkcs7Error::from)?)
}

/// Builds an attribute with the single value `value`.
fn attribute<T: Encode>(oid: ObjectIdentifier, value: &T) -> Result<Attribute, Pkcs7Error> {
    Ok(Attribute {
        oid,
        values: SetOfVec::try_from(vec![Any::from_der(&value.to_der()?)?])?,
    })
}

/// signingTime as OpenSSL writes it: UTCTime through 2049, GeneralizedTime
/// from 2050.
fn signing_time_value(unix_seconds: u64) -> Result<Time, AuthenticodeError> {
    let date_time = DateTime::from_unix_duration(Duration::from_secs(unix_seconds))
        .map_err(|_| AuthenticodeError::SigningTime(unix_seconds))?;
    if unix_seconds < GENERALIZED_TIME_FROM {
        let utc_time = UtcTime::from_date_time(date_time).map_err(|_| AuthenticodeError::SigningTime(unix_seconds))?;
        Ok(Time::UtcTime(utc_time))
    } else {
        Ok(Time::GeneralTime(GeneralizedTime::from_date_time(date_time)))
    }
}

/// Builds the signed file from the image data with its padding, the
/// existing Certificate Table, and a new `WIN_CERTIFICATE` that contains
/// `content_info`. Then it rewrites data directory entry 4 and the checksum.
fn append_certificate(pe: &PeImage<'_>, padded_len: usize, content_info: &[u8]) -> Result<Vec<u8>, AuthenticodeError> {
    let existing_table = pe.certificate_table().unwrap_or_default();
    let entry_len = WIN_CERTIFICATE_HEADER_LEN + content_info.len();
    let table_len = existing_table.len() + align_up(entry_len);
    let file_len = padded_len + table_len;

    let table_offset = u32::try_from(padded_len).map_err(|_| AuthenticodeError::ImageTooLarge)?;
    let table_size = u32::try_from(table_len).map_err(|_| AuthenticodeError::ImageTooLarge)?;
    let dw_length = u32::try_from(entry_len).map_err(|_| AuthenticodeError::ImageTooLarge)?;
    u32::try_from(file_len).map_err(|_| AuthenticodeError::ImageTooLarge)?;

    let mut out = Vec::with_capacity(file_len);
    out.extend_from_slice(pe.data().get(..pe.image_data_len()).unwrap_or_default());
    out.resize(padded_len, 0);
    out.extend_from_slice(existing_table);
    out.extend_from_slice(&dw_length.to_le_bytes());
    out.extend_from_slice(&WIN_CERT_REVISION_2_0.to_le_bytes());
    out.extend_from_slice(&WIN_CERT_TYPE_PKCS_SIGNED_DATA.to_le_bytes());
    out.extend_from_slice(content_info);
    out.resize(file_len, 0);

    let entry = pe.certificate_table_entry_offset();
    write_u32(&mut out, entry, table_offset);
    write_u32(&mut out, entry + 4, table_size);

    let checksum_offset = pe.checksum_offset();
    write_u32(&mut out, checksum_offset, 0);
    let checksum = pe_checksum(&out);
    write_u32(&mut out, checksum_offset, checksum);

    Ok(out)
}

/// Writes a little-endian `u32` at an offset that parsing checked to lie
/// inside the headers.
fn write_u32(out: &mut [u8], offset: usize, value: u32) {
    if let Some(field) = out.get_mut(offset..offset + 4) {
        field.copy_from_slice(&value.to_le_bytes());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::{pe_image, FakeSigner};

    const SIGNING_TIME: u64 = 1_704_164_645; // 2024-01-02T03:04:05Z

    fn sign(image: &[u8]) -> Vec<u8> {
        let signer = FakeSigner::new(0x77);
        let cert = signer.certificate("authenticode test");
        sign_image(image, &cert, SIGNING_TIME, &signer).unwrap()
    }

    fn read_u32(data: &[u8], offset: usize) -> u32 {
        u32::from_le_bytes(data[offset..offset + 4].try_into().unwrap())
    }

    #[test]
    fn pads_unaligned_image() {
        let image = pe_image(true, &[0x200], 5);
        let signed = sign(&image);
        let pe = PeImage::parse(&signed).unwrap();

        assert_eq!(pe.image_data_len(), 0x408);

        // Only CheckSum and the Certificate Table entry change before the padding.
        let mut expected = image.clone();
        let checksum = pe.checksum_offset()..pe.checksum_offset() + 4;
        let entry = pe.certificate_table_entry_offset()..pe.certificate_table_entry_offset() + 8;
        expected[checksum.clone()].copy_from_slice(&signed[checksum]);
        expected[entry.clone()].copy_from_slice(&signed[entry]);
        assert_eq!(&signed[..image.len()], expected.as_slice());
        assert_eq!(&signed[image.len()..0x408], &[0, 0, 0]);
        assert_eq!(signed.len() % 8, 0);
    }

    #[test]
    fn hash_includes_padding() {
        let image = pe_image(true, &[0x200], 5);
        let mut padded = image.clone();
        padded.resize(0x408, 0);
        assert_eq!(image_hash(&image).unwrap(), image_hash(&padded).unwrap());

        let mut other_padding = image.clone();
        other_padding.resize(0x408, 1);
        assert_ne!(image_hash(&image).unwrap(), image_hash(&other_padding).unwrap());
    }

    #[test]
    fn signing_keeps_image_hash() {
        let image = pe_image(false, &[0x400, 0x200], 17);
        let signed = sign(&image);
        assert_eq!(image_hash(&image).unwrap(), image_hash(&signed).unwrap());
    }

    #[test]
    fn hash_skips_checksum_and_table_entry() {
        let image = pe_image(true, &[0x200], 0);
        let pe = PeImage::parse(&image).unwrap();
        let mut changed = image.clone();
        changed[pe.checksum_offset()] ^= 0xff;
        changed[pe.certificate_table_entry_offset() + 9] ^= 0xff; // entry 5, hashed
        assert_ne!(image_hash(&image).unwrap(), image_hash(&changed).unwrap());
        changed[pe.certificate_table_entry_offset() + 9] ^= 0xff;
        assert_eq!(image_hash(&image).unwrap(), image_hash(&changed).unwrap());
    }

    #[test]
    fn certificate_entry_layout() {
        let image = pe_image(true, &[0x200, 0x200], 0);
        let signed = sign(&image);
        let pe = PeImage::parse(&signed).unwrap();
        let entry = pe.certificate_table_entry_offset();

        assert_eq!(read_u32(&signed, entry) as usize, image.len());
        assert_eq!(read_u32(&signed, entry + 4) as usize, signed.len() - image.len());
        let certificates = pe.certificates();
        assert_eq!(certificates.len(), 1);
        assert_eq!(certificates[0].w_revision, WIN_CERT_REVISION_2_0);
        assert_eq!(certificates[0].w_certificate_type, WIN_CERT_TYPE_PKCS_SIGNED_DATA);

        let content_info = certificates[0].certificate;
        let declared_len = 4 + u16::from_be_bytes([content_info[2], content_info[3]]) as usize;
        assert_eq!(content_info.len(), declared_len);
        assert!(content_info
            .windows(SPC_INDIRECT_DATA_CONTENT_PREFIX.len())
            .any(|w| w == SPC_INDIRECT_DATA_CONTENT_PREFIX));
    }

    #[test]
    fn checksum_matches_recomputation() {
        let signed = sign(&pe_image(true, &[0x200], 3));
        let pe = PeImage::parse(&signed).unwrap();
        let mut zeroed = signed.clone();
        zeroed[pe.checksum_offset()..pe.checksum_offset() + 4].fill(0);
        assert_eq!(read_u32(&signed, pe.checksum_offset()), pe_checksum(&zeroed));
        assert_ne!(read_u32(&signed, pe.checksum_offset()), 0);
    }

    #[test]
    fn second_signature_appended() {
        let image = pe_image(true, &[0x200], 0);
        let once = sign(&image);
        let twice = sign(&once);
        let first = PeImage::parse(&once).unwrap();
        let second = PeImage::parse(&twice).unwrap();

        assert_eq!(second.image_data_len(), first.image_data_len());
        let entries = second.certificates();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0], first.certificates()[0]);
        assert_eq!(entries[1].offset, once.len());
        assert_eq!(image_hash(&twice).unwrap(), image_hash(&image).unwrap());
    }

    #[test]
    fn signing_time_encodings() {
        assert!(matches!(signing_time_value(SIGNING_TIME).unwrap(), Time::UtcTime(_)));
        assert!(matches!(
            signing_time_value(GENERALIZED_TIME_FROM).unwrap(),
            Time::GeneralTime(_)
        ));
        assert!(matches!(
            signing_time_value(u64::MAX).unwrap_err(),
            AuthenticodeError::SigningTime(u64::MAX)
        ));
    }

    #[test]
    fn rejects_non_pe_payload() {
        let signer = FakeSigner::new(0x77);
        let cert = signer.certificate("authenticode test");
        let error = sign_image(b"\x7fELF not a PE", &cert, SIGNING_TIME, &signer).unwrap_err();
        assert!(matches!(error, AuthenticodeError::Pe(PeError::Truncated { .. })));
    }
}
