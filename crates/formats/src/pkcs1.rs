//! EMSA-PKCS1-v1_5 DigestInfo encoding (RFC 8017 §9.2, note 1).

use crate::signer::{HashAlgorithm, SignerError};

/// DER `DigestInfo` prefix for SHA-256: the AlgorithmIdentifier with NULL
/// parameters, then the OCTET STRING header of the 32-byte digest.
pub const SHA256_DIGEST_INFO_PREFIX: [u8; 19] = [
    0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x01, 0x05, 0x00, 0x04, 0x20,
];

/// DER `DigestInfo` prefix for SHA-512.
pub const SHA512_DIGEST_INFO_PREFIX: [u8; 19] = [
    0x30, 0x51, 0x30, 0x0d, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03, 0x05, 0x00, 0x04, 0x40,
];

/// Returns `DigestInfo(algorithm, digest)` as DER, the data that a PKCS#1 v1.5
/// signature pads and exponentiates.
pub fn digest_info(algorithm: HashAlgorithm, digest: &[u8]) -> Result<Vec<u8>, SignerError> {
    if digest.len() != algorithm.output_len() {
        return Err(SignerError::DigestLength {
            algorithm,
            expected: algorithm.output_len(),
            actual: digest.len(),
        });
    }

    let prefix: &[u8] = match algorithm {
        HashAlgorithm::Sha256 => &SHA256_DIGEST_INFO_PREFIX,
        HashAlgorithm::Sha512 => &SHA512_DIGEST_INFO_PREFIX,
    };
    let mut out = Vec::with_capacity(prefix.len() + digest.len());
    out.extend_from_slice(prefix);
    out.extend_from_slice(digest);
    Ok(out)
}
