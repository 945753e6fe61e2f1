//! The AHAB SRK table: four SRK records, as CST's `srktool --ahab_ver`
//! writes them (i.MX8QM/8QXP/8DXL/8ULP/9x reference manuals, "SRK table").
//!
//! ```text
//! SRK table   D7 | length u16 | 42             tag first, then length, version
//!             record 0 .. record 3
//! SRK record  E1 | length u16 | algorithm      tag, length, 0x21 RSA PKCS#1 v1.5
//!             hash | key size | 00 | flags     hash 0 SHA-256, 2 SHA-512; flags 0x80 CA
//!             modulus length u16 | exponent length u16
//!             modulus | exponent               big-endian; the modulus fills the key size
//! ```
//!
//! Lengths are little-endian. The SRK hash that the fuses hold is the hash
//! of the whole table, header included: SHA-256 on i.MX8ULP and i.MX9x (8
//! fuse words) and SHA-512 on i.MX8QM, i.MX8QXP and i.MX8DXL (16 words).

use crate::hab::srk::is_ca_certificate;
use crate::hab::{load_certificate, LoadedCertificate};
use crate::rsa_key::RsaPublicKey;
use crate::signer::HashAlgorithm;

/// Tag of the SRK table.
pub const SRK_TABLE_TAG: u8 = 0xd7;

/// Version of the SRK table of AHAB version 1 containers.
pub const SRK_TABLE_VERSION: u8 = 0x42;

/// Size of the SRK table header.
pub const SRK_TABLE_HEADER_LEN: usize = 4;

/// Tag of an SRK record.
pub const SRK_RECORD_TAG: u8 = 0xe1;

/// Bytes of an SRK record before the key data.
pub const SRK_RECORD_FIXED_LEN: usize = 12;

/// Signature algorithm RSA PKCS#1 v1.5, which CST uses for rsaEncryption
/// keys (0x22 is RSA-PSS, 0x27 ECDSA).
pub const ALGORITHM_RSA_PKCS1: u8 = 0x21;

/// Hash algorithm codes of an SRK record.
pub const HASH_SHA256: u8 = 0x00;
pub const HASH_SHA512: u8 = 0x02;

/// Key size codes of an SRK record for RSA keys.
pub const KEY_SIZE_RSA2048: u8 = 0x05;
pub const KEY_SIZE_RSA3072: u8 = 0x06;
pub const KEY_SIZE_RSA4096: u8 = 0x07;

/// Flags of a record whose certificate is a CA certificate.
pub const SRK_FLAG_CA: u8 = 0x80;

/// Number of records in every AHAB SRK table.
pub const SRK_COUNT: usize = 4;

/// Offsets inside an SRK record.
const RECORD_HASH_OFFSET: usize = 4;
const RECORD_KEY_SIZE_OFFSET: usize = 5;
const RECORD_FLAGS_OFFSET: usize = 7;
const RECORD_MODULUS_LEN_OFFSET: usize = 8;
const RECORD_EXPONENT_LEN_OFFSET: usize = 10;

/// Errors of building or reading an AHAB SRK table.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AhabSrkError {
    #[error("an AHAB SRK table holds exactly {SRK_COUNT} keys, got {count}")]
    KeyCount { count: usize },
    #[error("SRK certificate {index} is not a valid X.509 certificate in DER or PEM form: {source}")]
    InvalidCertificate { index: usize, source: der::Error },
    #[error("SRK certificate {index} does not hold an RSA key of 2048, 3072 or 4096 bits")]
    UnsupportedKey { index: usize },
    #[error("SRK table is truncated at offset {offset:#x}")]
    Truncated { offset: usize },
    #[error("SRK table header must be tag {SRK_TABLE_TAG:#04x} version {SRK_TABLE_VERSION:#04x}, got tag {tag:#04x} version {version:#04x}")]
    InvalidTableHeader { tag: u8, version: u8 },
    #[error("SRK table length field is {field:#x} but the table is {actual:#x} bytes")]
    TableLength { field: usize, actual: usize },
    #[error("SRK record at offset {offset:#x} has tag {tag:#04x} algorithm {algorithm:#04x}; only RSA PKCS#1 v1.5 records (E1, 21) are supported")]
    UnsupportedRecord { offset: usize, tag: u8, algorithm: u8 },
    #[error(
        "SRK record at offset {offset:#x} has hash code {code:#04x}; only SHA-256 (0) and SHA-512 (2) are supported"
    )]
    UnsupportedHash { offset: usize, code: u8 },
    #[error("SRK record at offset {offset:#x} has inconsistent lengths")]
    RecordLength { offset: usize },
}

/// One SRK record: an RSA key, the hash its signatures use, and its CA flag.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AhabSrkRecord {
    pub hash: HashAlgorithm,
    /// Set when the certificate is a CA certificate. The boot ROM ignores
    /// the flag, but it is part of the hashed table.
    pub ca: bool,
    pub key: RsaPublicKey,
}

impl AhabSrkRecord {
    /// Returns the key size code, or `None` for an unsupported modulus.
    fn key_size_code(&self) -> Option<(u8, usize)> {
        match self.key.modulus_bits() {
            2048 => Some((KEY_SIZE_RSA2048, 256)),
            3072 => Some((KEY_SIZE_RSA3072, 384)),
            4096 => Some((KEY_SIZE_RSA4096, 512)),
            _ => None,
        }
    }

    /// Encodes the record. Construction checks the key size, so every length
    /// fits its field.
    pub fn to_bytes(&self) -> Vec<u8> {
        let (key_size, modulus_len) = self.key_size_code().unwrap_or((0, self.key.modulus.len()));
        let exponent_len = self.key.public_exponent.len();
        let total = SRK_RECORD_FIXED_LEN + modulus_len + exponent_len;
        let hash = match self.hash {
            HashAlgorithm::Sha256 => HASH_SHA256,
            HashAlgorithm::Sha512 => HASH_SHA512,
        };

        let mut out = Vec::with_capacity(total);
        out.push(SRK_RECORD_TAG);
        out.extend_from_slice(&u16_len(total).to_le_bytes());
        out.extend_from_slice(&[
            ALGORITHM_RSA_PKCS1,
            hash,
            key_size,
            0,
            if self.ca { SRK_FLAG_CA } else { 0 },
        ]);
        out.extend_from_slice(&u16_len(modulus_len).to_le_bytes());
        out.extend_from_slice(&u16_len(exponent_len).to_le_bytes());
        out.resize(out.len() + modulus_len.saturating_sub(self.key.modulus.len()), 0);
        out.extend_from_slice(&self.key.modulus);
        out.extend_from_slice(&self.key.public_exponent);
        out
    }
}

/// An AHAB SRK table of four RSA records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AhabSrkTable {
    records: Vec<AhabSrkRecord>,
}

impl AhabSrkTable {
    /// Builds the table from the four SRK certificates (DER or PEM), with
    /// `hash` as the signature hash of every record (`srktool --sign_digest`).
    pub fn from_certificates(certificates: &[&[u8]], hash: HashAlgorithm) -> Result<Self, AhabSrkError> {
        if certificates.len() != SRK_COUNT {
            return Err(AhabSrkError::KeyCount {
                count: certificates.len(),
            });
        }

        let mut records = Vec::with_capacity(SRK_COUNT);
        for (index, bytes) in certificates.iter().enumerate() {
            let LoadedCertificate { certificate, .. } =
                load_certificate(bytes).map_err(|source| AhabSrkError::InvalidCertificate { index, source })?;
            let key = crate::hab::srk::rsa_key_of(&certificate).ok_or(AhabSrkError::UnsupportedKey { index })?;
            let record = AhabSrkRecord {
                hash,
                ca: is_ca_certificate(&certificate),
                key,
            };
            if record.key_size_code().is_none() {
                return Err(AhabSrkError::UnsupportedKey { index });
            }
            records.push(record);
        }
        Ok(Self { records })
    }

    /// Reads a table as srktool writes it.
    pub fn parse(bytes: &[u8]) -> Result<Self, AhabSrkError> {
        let header = bytes
            .get(..SRK_TABLE_HEADER_LEN)
            .ok_or(AhabSrkError::Truncated { offset: 0 })?;
        let tag = header.first().copied().unwrap_or_default();
        let version = header.get(3).copied().unwrap_or_default();
        if tag != SRK_TABLE_TAG || version != SRK_TABLE_VERSION {
            return Err(AhabSrkError::InvalidTableHeader { tag, version });
        }
        let length = read_u16_le(bytes, 1);
        if length != bytes.len() {
            return Err(AhabSrkError::TableLength {
                field: length,
                actual: bytes.len(),
            });
        }

        let mut records = Vec::with_capacity(SRK_COUNT);
        let mut offset = SRK_TABLE_HEADER_LEN;
        while offset < bytes.len() && records.len() <= SRK_COUNT {
            let (record, len) = parse_record(bytes, offset)?;
            records.push(record);
            offset += len;
        }
        if records.len() != SRK_COUNT {
            return Err(AhabSrkError::KeyCount { count: records.len() });
        }
        Ok(Self { records })
    }

    /// Returns the records in SRK index order.
    pub fn records(&self) -> &[AhabSrkRecord] {
        &self.records
    }

    /// Encodes the table (`SRK_1_2_3_4_table.bin`).
    pub fn to_bytes(&self) -> Vec<u8> {
        let body: Vec<u8> = self.records.iter().flat_map(AhabSrkRecord::to_bytes).collect();
        let total = SRK_TABLE_HEADER_LEN + body.len();

        let mut out = Vec::with_capacity(total);
        out.push(SRK_TABLE_TAG);
        out.extend_from_slice(&u16_len(total).to_le_bytes());
        out.push(SRK_TABLE_VERSION);
        out.extend_from_slice(&body);
        out
    }

    /// Hashes the whole encoded table, the value of the SRK hash fuses.
    pub fn srk_hash(&self, algorithm: HashAlgorithm) -> Vec<u8> {
        algorithm.digest(&self.to_bytes())
    }
}

/// Splits an SRK hash into 32-bit fuse words, each read little-endian.
pub fn fuse_words(hash: &[u8]) -> Vec<u32> {
    hash.chunks_exact(4)
        .map(|chunk| {
            let mut word = [0u8; 4];
            word.copy_from_slice(chunk);
            u32::from_le_bytes(word)
        })
        .collect()
}

/// Reads the record at `offset` and returns it with its length.
fn parse_record(table: &[u8], offset: usize) -> Result<(AhabSrkRecord, usize), AhabSrkError> {
    let fixed = table
        .get(offset..)
        .and_then(|rest| rest.get(..SRK_RECORD_FIXED_LEN))
        .ok_or(AhabSrkError::Truncated { offset })?;
    let tag = fixed.first().copied().unwrap_or_default();
    let algorithm = fixed.get(3).copied().unwrap_or_default();
    if tag != SRK_RECORD_TAG || algorithm != ALGORITHM_RSA_PKCS1 {
        return Err(AhabSrkError::UnsupportedRecord { offset, tag, algorithm });
    }
    let hash = match fixed.get(RECORD_HASH_OFFSET).copied().unwrap_or_default() {
        HASH_SHA256 => HashAlgorithm::Sha256,
        HASH_SHA512 => HashAlgorithm::Sha512,
        code => return Err(AhabSrkError::UnsupportedHash { offset, code }),
    };

    let length = read_u16_le(fixed, 1);
    let modulus_len = read_u16_le(fixed, RECORD_MODULUS_LEN_OFFSET);
    let exponent_len = read_u16_le(fixed, RECORD_EXPONENT_LEN_OFFSET);
    if length != SRK_RECORD_FIXED_LEN + modulus_len + exponent_len {
        return Err(AhabSrkError::RecordLength { offset });
    }
    let (modulus, exponent) = table
        .get(offset..)
        .and_then(|rest| rest.get(SRK_RECORD_FIXED_LEN..length))
        .and_then(|key| key.split_at_checked(modulus_len))
        .ok_or(AhabSrkError::Truncated { offset })?;

    let first_nonzero = modulus.iter().position(|&byte| byte != 0).unwrap_or(modulus.len());
    let record = AhabSrkRecord {
        hash,
        ca: fixed
            .get(RECORD_FLAGS_OFFSET)
            .is_some_and(|flags| flags & SRK_FLAG_CA != 0),
        key: RsaPublicKey {
            modulus: modulus.get(first_nonzero..).unwrap_or_default().to_vec(),
            public_exponent: exponent.to_vec(),
        },
    };
    let expected_key_size = fixed.get(RECORD_KEY_SIZE_OFFSET).copied();
    if record.key_size_code().map(|(code, _)| code) != expected_key_size {
        return Err(AhabSrkError::RecordLength { offset });
    }
    Ok((record, length))
}

/// Reads a little-endian u16 at `offset`, or 0 past the end; callers check
/// lengths first.
pub(crate) fn read_u16_le(bytes: &[u8], offset: usize) -> usize {
    let low = bytes.get(offset).copied().unwrap_or_default();
    let high = bytes.get(offset + 1).copied().unwrap_or_default();
    usize::from(u16::from_le_bytes([low, high]))
}

/// Narrows a length that construction already bounded to 16 bits.
fn u16_len(len: usize) -> u16 {
    u16::try_from(len).unwrap_or(u16::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(ca: bool) -> AhabSrkRecord {
        let mut modulus = vec![0xc3; 256];
        modulus[255] = 0x01;
        AhabSrkRecord {
            hash: HashAlgorithm::Sha512,
            ca,
            key: RsaPublicKey {
                modulus,
                public_exponent: vec![0x01, 0x00, 0x01],
            },
        }
    }

    fn table() -> AhabSrkTable {
        AhabSrkTable {
            records: vec![record(true); SRK_COUNT],
        }
    }

    #[test]
    fn record_layout_matches_srktool() {
        let bytes = record(true).to_bytes();
        assert_eq!(
            &bytes[..12],
            &[0xe1, 0x0f, 0x01, 0x21, 0x02, 0x05, 0x00, 0x80, 0x00, 0x01, 0x03, 0x00]
        );
        assert_eq!(bytes.len(), 0x10f);
    }

    #[test]
    fn table_round_trips() {
        let bytes = table().to_bytes();
        assert_eq!(&bytes[..4], &[0xd7, 0x40, 0x04, 0x42]);
        assert_eq!(AhabSrkTable::parse(&bytes).unwrap(), table());
    }

    #[test]
    fn srk_hash_covers_whole_table() {
        let table = table();
        assert_eq!(
            table.srk_hash(HashAlgorithm::Sha512),
            HashAlgorithm::Sha512.digest(&table.to_bytes())
        );
        assert_eq!(fuse_words(&table.srk_hash(HashAlgorithm::Sha256)).len(), 8);
    }

    #[test]
    fn rejects_three_records() {
        let mut bytes = table().to_bytes();
        bytes.truncate(4 + 3 * 0x10f);
        let len = bytes.len() as u16;
        bytes[1..3].copy_from_slice(&len.to_le_bytes());
        assert!(matches!(
            AhabSrkTable::parse(&bytes),
            Err(AhabSrkError::KeyCount { count: 3 })
        ));
    }

    #[test]
    fn rejects_truncated_table() {
        let bytes = table().to_bytes();
        for len in [0, 3, 4, 20, bytes.len() - 1] {
            assert!(AhabSrkTable::parse(&bytes[..len]).is_err(), "length {len}");
        }
    }

    #[test]
    fn rejects_pss_record() {
        let mut bytes = table().to_bytes();
        bytes[4 + 3] = 0x22;
        assert!(matches!(
            AhabSrkTable::parse(&bytes),
            Err(AhabSrkError::UnsupportedRecord { algorithm: 0x22, .. })
        ));
    }

    #[test]
    fn rejects_hostile_key_length() {
        let mut bytes = table().to_bytes();
        bytes[4 + 8] = 0xff;
        bytes[4 + 9] = 0xff;
        assert!(AhabSrkTable::parse(&bytes).is_err());
    }
}
