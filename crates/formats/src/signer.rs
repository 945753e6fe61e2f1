//! The seam between byte formats and private keys.

use std::fmt;

/// Hash algorithms that the formats sign with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum HashAlgorithm {
    Sha256,
    Sha512,
}

impl HashAlgorithm {
    /// Digest length in bytes.
    pub const fn output_len(self) -> usize {
        match self {
            Self::Sha256 => 32,
            Self::Sha512 => 64,
        }
    }

    /// Hashes `data` in one call.
    pub fn digest(self, data: &[u8]) -> Vec<u8> {
        use sha2::Digest;
        match self {
            Self::Sha256 => sha2::Sha256::digest(data).to_vec(),
            Self::Sha512 => sha2::Sha512::digest(data).to_vec(),
        }
    }
}

impl fmt::Display for HashAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Sha256 => "sha256",
            Self::Sha512 => "sha512",
        })
    }
}

/// Failure of a private-key operation.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SignerError {
    /// The input does not fit the key: an RSA PKCS#1 v1.5 block needs 11 bytes
    /// of padding around the data.
    #[error("{len} bytes are too long to sign with a {modulus_len}-byte RSA key")]
    InputTooLong { len: usize, modulus_len: usize },
    /// The digest length does not match the named hash algorithm.
    #[error("a {algorithm} digest is {expected} bytes, got {actual}")]
    DigestLength {
        algorithm: HashAlgorithm,
        expected: usize,
        actual: usize,
    },
    /// The cryptographic backend reported a failure.
    #[error("the RSA backend failed to sign")]
    Backend,
}

/// An RSA private key that signs but never hands out its private half.
///
/// Keys may live in files today and in an HSM later; the formats only see
/// this trait.
pub trait Signer: Send + Sync {
    /// Returns the public key as DER `SubjectPublicKeyInfo`.
    fn public_key_der(&self) -> &[u8];

    /// Size of the RSA modulus in bytes, which is also the signature size.
    fn modulus_len(&self) -> usize;

    /// Signs `data` as an RSASSA-PKCS1-v1_5 block type 1 with no DigestInfo,
    /// which is what `openssl pkeyutl -sign` does with an RSA key.
    fn sign_pkcs1_raw(&self, data: &[u8]) -> Result<Vec<u8>, SignerError>;

    /// Signs a precomputed digest as RSASSA-PKCS1-v1_5 (RFC 8017 §8.2), with
    /// the DigestInfo of `algorithm` in front of it.
    fn sign_digest(&self, algorithm: HashAlgorithm, digest: &[u8]) -> Result<Vec<u8>, SignerError> {
        let data = crate::pkcs1::digest_info(algorithm, digest)?;
        self.sign_pkcs1_raw(&data)
    }
}
