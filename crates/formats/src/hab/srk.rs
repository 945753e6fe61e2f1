//! The HAB4 Super Root Key (SRK) table and its fuse hash, as CST's `srktool`
//! writes them (`srktool -h 4 -d sha256 -c SRK1,..,SRKn -t table -e fuses -f 1`).
//!
//! ```text
//! SRK table   D7 | length u16 | 40          tag HAB_TAG_CRT, HAB version 4.0
//!             entry 1 .. entry n            n = 1 to 4
//! entry       E1 | length u16 | 21          HAB_KEY_PUBLIC, HAB_ALG_PKCS1
//!             00 00 00 | flags              0x80 when the key is a CA key
//!             modulus length u16 | exponent length u16
//!             modulus | exponent            big-endian, no leading zero bytes
//! ```
//!
//! The boot ROM compares the SRK_HASH fuses with SHA-256 over the
//! concatenated SHA-256 digests of the entries. Each entry is hashed
//! together with its `E1` header, and the table header is not hashed.

use const_oid::ObjectIdentifier;
use der::asn1::BitString;
use der::{Decode, Encode};
use sha2::{Digest, Sha256};
use x509_cert::certificate::Version;
use x509_cert::ext::pkix::{BasicConstraints, KeyUsage, KeyUsages};
use x509_cert::Certificate;

use super::{header, load_certificate, HAB_VERSION_4_0, HEADER_LEN};
use crate::rsa_key::RsaPublicKey;

/// `HAB_TAG_CRT`: the tag of an SRK table (and of a certificate blob).
pub const HAB_TAG_CRT: u8 = 0xd7;

/// `HAB_KEY_PUBLIC`: an SRK entry that carries the whole public key.
pub const HAB_KEY_PUBLIC: u8 = 0xe1;

/// `HAB_KEY_HASH`: an SRK entry that carries only the SHA-256 of a key entry.
pub const HAB_KEY_HASH: u8 = 0xee;

/// `HAB_ALG_PKCS1`: RSA PKCS#1 v1.5 signature algorithm.
pub const HAB_ALG_PKCS1: u8 = 0x21;

/// Flags byte of an entry whose certificate is a CA certificate.
pub const SRK_FLAG_CA: u8 = 0x80;

/// `HAB_SRK_MAX`: the maximum number of SRKs in a table.
pub const HAB_SRK_MAX: usize = 4;

/// Bytes of an entry before the modulus: header, three zero bytes, flags,
/// modulus length and exponent length.
pub const ENTRY_FIXED_LEN: usize = 12;

/// Offset of the flags byte in an entry.
const ENTRY_FLAGS_OFFSET: usize = 7;

/// Offset of the modulus length in an entry.
const ENTRY_MODULUS_LEN_OFFSET: usize = 8;

/// Offset of the exponent length in an entry.
const ENTRY_EXPONENT_LEN_OFFSET: usize = 10;

/// RSA modulus sizes in bits that srktool and the HAB4 ROM accept.
pub const SUPPORTED_RSA_BITS: [usize; 4] = [1024, 2048, 3072, 4096];

/// Number of 32-bit SRK_HASH fuse words.
pub const FUSE_WORDS: usize = 8;

/// Netscape certificate type extension (2.16.840.1.113730.1.1), which
/// OpenSSL still reads when deciding whether a certificate is a CA.
const NETSCAPE_CERT_TYPE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.113730.1.1");

/// Bits of the Netscape certificate type that mark a CA: SSL CA, S/MIME CA
/// and object-signing CA (OpenSSL `NS_ANY_CA`).
const NETSCAPE_ANY_CA: u8 = 0x07;

/// Errors of building or reading an SRK table.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SrkError {
    #[error("an SRK table holds 1 to {HAB_SRK_MAX} keys, got {count}")]
    KeyCount { count: usize },
    #[error("SRK certificate {index} is not a valid X.509 certificate in DER or PEM form: {source}")]
    InvalidCertificate { index: usize, source: der::Error },
    #[error("SRK certificate {index} does not hold an RSA public key")]
    NotRsa { index: usize },
    #[error("SRK certificate {index} has a {bits}-bit RSA key; HAB4 accepts 1024, 2048, 3072 or 4096 bits")]
    UnsupportedKeySize { index: usize, bits: usize },
    #[error("SRK certificates must all be CA certificates or all not; certificate {index} differs from the first")]
    MixedCaFlags { index: usize },
    #[error("SRK table is truncated at offset {offset:#x}")]
    Truncated { offset: usize },
    #[error("SRK table header at offset 0 must be tag {HAB_TAG_CRT:#04x} version {HAB_VERSION_4_0:#04x}, got tag {tag:#04x} version {version:#04x}")]
    InvalidTableHeader { tag: u8, version: u8 },
    #[error("SRK table length field is {field:#x} but the table is {actual:#x} bytes")]
    TableLength { field: usize, actual: usize },
    #[error("SRK entry at offset {offset:#x} has tag {tag:#04x} algorithm {algorithm:#04x}; only RSA public keys (E1, 21) are supported")]
    UnsupportedEntry { offset: usize, tag: u8, algorithm: u8 },
    #[error("SRK entry at offset {offset:#x} has length {field:#x}, but its key fields need {expected:#x}")]
    EntryLength {
        offset: usize,
        field: usize,
        expected: usize,
    },
}

/// One SRK table entry: an RSA public key and whether it may sign other keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SrkEntry {
    /// True when the certificate was a CA certificate, so the boot ROM lets
    /// the key verify CSF and image certificates rather than code.
    pub ca: bool,
    pub key: RsaPublicKey,
}

impl SrkEntry {
    /// Encodes the entry with its `E1` header.
    pub fn to_bytes(&self) -> Vec<u8> {
        let modulus_len = self.key.modulus.len();
        let exponent_len = self.key.public_exponent.len();
        let total = ENTRY_FIXED_LEN + modulus_len + exponent_len;

        // Key sizes are checked on construction, so every length fits 16 bits.
        let mut out = Vec::with_capacity(total);
        out.extend_from_slice(&header(HAB_KEY_PUBLIC, u16_len(total), HAB_ALG_PKCS1));
        out.extend_from_slice(&[0, 0, 0, if self.ca { SRK_FLAG_CA } else { 0 }]);
        out.extend_from_slice(&u16_len(modulus_len).to_be_bytes());
        out.extend_from_slice(&u16_len(exponent_len).to_be_bytes());
        out.extend_from_slice(&self.key.modulus);
        out.extend_from_slice(&self.key.public_exponent);
        out
    }
}

/// A HAB4 SRK table of one to four RSA keys.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SrkTable {
    entries: Vec<SrkEntry>,
}

impl SrkTable {
    /// Builds the table from SRK certificates (DER or PEM), in fuse order.
    ///
    /// An entry gets the CA flag when OpenSSL's `X509_check_ca` accepts the
    /// certificate, the test that srktool uses. In practice that means
    /// basicConstraints CA:TRUE and no keyUsage without keyCertSign. As in
    /// srktool, all certificates must agree.
    pub fn from_certificates(certificates: &[&[u8]]) -> Result<Self, SrkError> {
        check_key_count(certificates.len())?;

        let mut entries = Vec::with_capacity(certificates.len());
        for (index, bytes) in certificates.iter().enumerate() {
            let loaded = load_certificate(bytes).map_err(|source| SrkError::InvalidCertificate { index, source })?;
            let entry = entry_from_certificate(&loaded.certificate, index)?;
            if entries.first().is_some_and(|first: &SrkEntry| first.ca != entry.ca) {
                return Err(SrkError::MixedCaFlags { index });
            }
            entries.push(entry);
        }
        Ok(Self { entries })
    }

    /// Reads a table as srktool writes it.
    pub fn parse(bytes: &[u8]) -> Result<Self, SrkError> {
        let table_header = bytes.get(..HEADER_LEN).ok_or(SrkError::Truncated { offset: 0 })?;
        let (tag, length, version) = split_header(table_header);
        if tag != HAB_TAG_CRT || version != HAB_VERSION_4_0 {
            return Err(SrkError::InvalidTableHeader { tag, version });
        }
        if length != bytes.len() {
            return Err(SrkError::TableLength {
                field: length,
                actual: bytes.len(),
            });
        }

        let mut entries = Vec::new();
        let mut offset = HEADER_LEN;
        while offset < bytes.len() {
            let (entry, len) = parse_entry(bytes, offset)?;
            entries.push(entry);
            offset += len;
        }
        check_key_count(entries.len())?;
        Ok(Self { entries })
    }

    /// Returns the entries in fuse order.
    pub fn entries(&self) -> &[SrkEntry] {
        &self.entries
    }

    /// Encodes the table (`SRK_1_2_3_4_table.bin`).
    pub fn to_bytes(&self) -> Vec<u8> {
        let body: Vec<u8> = self.entries.iter().flat_map(SrkEntry::to_bytes).collect();
        let total = HEADER_LEN + body.len();

        let mut out = Vec::with_capacity(total);
        out.extend_from_slice(&header(HAB_TAG_CRT, u16_len(total), HAB_VERSION_4_0));
        out.extend_from_slice(&body);
        out
    }

    /// SHA-256 over the SHA-256 of each entry (`SRK_1_2_3_4_fuse.bin`), the
    /// value the SRK_HASH fuses hold.
    pub fn fuse_hash(&self) -> [u8; 32] {
        let mut outer = Sha256::new();
        for entry in &self.entries {
            outer.update(Sha256::digest(entry.to_bytes()));
        }
        outer.finalize().into()
    }

    /// Returns the fuse hash as the eight SRK_HASH fuse words.
    pub fn fuse_words(&self) -> [u32; FUSE_WORDS] {
        fuse_words(&self.fuse_hash())
    }
}

/// Splits a 32-byte SRK hash into fuse words: word i is bytes 4i..4i+4 read
/// little-endian, the order in which `fuse prog` writes SRK_HASH[0..7].
pub fn fuse_words(hash: &[u8; 32]) -> [u32; FUSE_WORDS] {
    let mut words = [0u32; FUSE_WORDS];
    for (word, chunk) in words.iter_mut().zip(hash.chunks_exact(4)) {
        let mut bytes = [0u8; 4];
        bytes.copy_from_slice(chunk);
        *word = u32::from_le_bytes(bytes);
    }
    words
}

/// Reads the RSA key of a certificate and checks that HAB4 accepts its size.
pub(crate) fn rsa_key_of(certificate: &Certificate) -> Option<RsaPublicKey> {
    let spki = certificate.tbs_certificate.subject_public_key_info.to_der().ok()?;
    RsaPublicKey::from_spki_der(&spki).ok()
}

/// Returns whether OpenSSL's `X509_check_ca` (OpenSSL 3.0
/// `crypto/x509/v3_purp.c`) calls the certificate a CA.
pub fn is_ca_certificate(certificate: &Certificate) -> bool {
    let mut basic_constraints = None;
    let mut key_cert_sign = None;
    let mut netscape_ca = false;

    for extension in certificate.tbs_certificate.extensions.iter().flatten() {
        let value = extension.extn_value.as_bytes();
        if extension.extn_id == const_oid::db::rfc5280::ID_CE_BASIC_CONSTRAINTS {
            basic_constraints = BasicConstraints::from_der(value).ok().map(|bc| bc.ca);
        } else if extension.extn_id == const_oid::db::rfc5280::ID_CE_KEY_USAGE {
            key_cert_sign = KeyUsage::from_der(value)
                .ok()
                .map(|usage| usage.0.contains(KeyUsages::KeyCertSign));
        } else if extension.extn_id == NETSCAPE_CERT_TYPE {
            netscape_ca = BitString::from_der(value)
                .ok()
                .and_then(|bits| bits.raw_bytes().first().copied())
                .is_some_and(|first| first & NETSCAPE_ANY_CA != 0);
        }
    }

    // A keyUsage that leaves out keyCertSign rules the certificate out.
    if key_cert_sign == Some(false) {
        return false;
    }
    if let Some(ca) = basic_constraints {
        return ca;
    }

    let tbs = &certificate.tbs_certificate;
    let self_issued_v1 = tbs.version == Version::V1 && tbs.issuer == tbs.subject;
    self_issued_v1 || key_cert_sign == Some(true) || netscape_ca
}

fn entry_from_certificate(certificate: &Certificate, index: usize) -> Result<SrkEntry, SrkError> {
    let key = rsa_key_of(certificate).ok_or(SrkError::NotRsa { index })?;
    let bits = key.modulus_bits();
    if !SUPPORTED_RSA_BITS.contains(&bits) {
        return Err(SrkError::UnsupportedKeySize { index, bits });
    }
    Ok(SrkEntry {
        ca: is_ca_certificate(certificate),
        key,
    })
}

/// Reads the entry at `offset` and returns it with its length.
fn parse_entry(table: &[u8], offset: usize) -> Result<(SrkEntry, usize), SrkError> {
    let truncated = SrkError::Truncated { offset };
    let fixed = table
        .get(offset..)
        .and_then(|rest| rest.get(..ENTRY_FIXED_LEN))
        .ok_or(truncated)?;
    let (tag, length, algorithm) = split_header(fixed);
    if tag != HAB_KEY_PUBLIC || algorithm != HAB_ALG_PKCS1 {
        return Err(SrkError::UnsupportedEntry { offset, tag, algorithm });
    }

    let modulus_len = read_u16(fixed, ENTRY_MODULUS_LEN_OFFSET);
    let exponent_len = read_u16(fixed, ENTRY_EXPONENT_LEN_OFFSET);
    let expected = ENTRY_FIXED_LEN + modulus_len + exponent_len;
    if length != expected {
        return Err(SrkError::EntryLength {
            offset,
            field: length,
            expected,
        });
    }

    let entry = table
        .get(offset..)
        .and_then(|rest| rest.get(..length))
        .ok_or(SrkError::Truncated { offset })?;
    let (modulus, exponent) = entry
        .get(ENTRY_FIXED_LEN..)
        .and_then(|key| key.split_at_checked(modulus_len))
        .ok_or(SrkError::Truncated { offset })?;
    let flags = fixed.get(ENTRY_FLAGS_OFFSET).copied().unwrap_or_default();

    let key = RsaPublicKey {
        modulus: modulus.to_vec(),
        public_exponent: exponent.to_vec(),
    };
    let entry = SrkEntry {
        ca: flags & SRK_FLAG_CA != 0,
        key,
    };
    Ok((entry, length))
}

fn check_key_count(count: usize) -> Result<(), SrkError> {
    if count == 0 || count > HAB_SRK_MAX {
        return Err(SrkError::KeyCount { count });
    }
    Ok(())
}

/// Splits a 4-byte header into tag, length and parameter. The caller passes
/// at least [`HEADER_LEN`] bytes.
pub(crate) fn split_header(bytes: &[u8]) -> (u8, usize, u8) {
    let tag = bytes.first().copied().unwrap_or_default();
    let parameter = bytes.get(3).copied().unwrap_or_default();
    (tag, read_u16(bytes, 1), parameter)
}

/// Reads a big-endian u16 at `offset`, or 0 past the end; callers check
/// lengths first.
fn read_u16(bytes: &[u8], offset: usize) -> usize {
    let high = bytes.get(offset).copied().unwrap_or_default();
    let low = bytes.get(offset + 1).copied().unwrap_or_default();
    usize::from(u16::from_be_bytes([high, low]))
}

/// Narrows a length that construction already bounded to 16 bits.
fn u16_len(len: usize) -> u16 {
    u16::try_from(len).unwrap_or(u16::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(ca: bool) -> SrkEntry {
        let mut modulus = vec![0xc5; 256];
        modulus[255] = 0x01;
        SrkEntry {
            ca,
            key: RsaPublicKey {
                modulus,
                public_exponent: vec![0x01, 0x00, 0x01],
            },
        }
    }

    #[test]
    fn entry_layout_matches_srktool() {
        let bytes = entry(true).to_bytes();
        assert_eq!(bytes.len(), 12 + 256 + 3);
        assert_eq!(
            &bytes[..12],
            &[0xe1, 0x01, 0x0f, 0x21, 0, 0, 0, 0x80, 0x01, 0x00, 0x00, 0x03]
        );
        assert_eq!(&bytes[bytes.len() - 3..], &[0x01, 0x00, 0x01]);
    }

    #[test]
    fn table_round_trips() {
        let table = SrkTable {
            entries: vec![entry(true), entry(true)],
        };
        let bytes = table.to_bytes();
        assert_eq!(&bytes[..4], &[0xd7, 0x02, 0x22, 0x40]);
        assert_eq!(SrkTable::parse(&bytes).unwrap(), table);
    }

    #[test]
    fn fuse_words_are_little_endian() {
        let mut hash = [0u8; 32];
        hash[..4].copy_from_slice(&[0x01, 0x02, 0x03, 0x04]);
        assert_eq!(fuse_words(&hash)[0], 0x0403_0201);
    }

    #[test]
    fn rejects_truncated_table() {
        let bytes = SrkTable {
            entries: vec![entry(false)],
        }
        .to_bytes();
        for len in [0, 3, 4, 10, bytes.len() - 1] {
            assert!(SrkTable::parse(&bytes[..len]).is_err(), "length {len}");
        }
    }

    #[test]
    fn rejects_entry_length_mismatch() {
        let mut bytes = SrkTable {
            entries: vec![entry(false)],
        }
        .to_bytes();
        bytes[6] = 0x20;
        assert!(matches!(SrkTable::parse(&bytes), Err(SrkError::EntryLength { .. })));
    }

    #[test]
    fn rejects_hostile_modulus_length() {
        let mut bytes = SrkTable {
            entries: vec![entry(false)],
        }
        .to_bytes();
        bytes[12] = 0xff;
        bytes[13] = 0xff;
        assert!(SrkTable::parse(&bytes).is_err());
    }

    #[test]
    fn rejects_hash_only_entry() {
        let mut bytes = vec![0xd7, 0x00, 0x28, 0x40, 0xee, 0x00, 0x24, 0x17];
        bytes.extend_from_slice(&[0u8; 32]);
        assert!(matches!(
            SrkTable::parse(&bytes),
            Err(SrkError::UnsupportedEntry { tag: 0xee, .. })
        ));
    }

    #[test]
    fn rejects_five_certificates() {
        let certificates: [&[u8]; 5] = [b"", b"", b"", b"", b""];
        assert!(matches!(
            SrkTable::from_certificates(&certificates),
            Err(SrkError::KeyCount { count: 5 })
        ));
    }
}
