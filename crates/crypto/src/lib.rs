//! RSA private keys for balena-sign.
//!
//! Private-key operations run only in AWS-LC, a constant-time, audited C
//! library. Key generation goes through `aws-lc-rs`. What `aws-lc-rs` has no
//! safe API for goes through `aws-lc-sys`: the PKCS#1 v1.5 block signature,
//! and building a key from its integers or reading them back, which moves
//! keys to and from GnuPG. The FFI lives in [`ffi`], the one module allowed
//! to use `unsafe`.

#![deny(unsafe_code)]

pub mod encrypted_pkcs8;
pub mod fernet;
mod ffi;

use aws_lc_rs::encoding::AsDer;
use balena_sign_formats::gnupg::RsaPrivateComponents;
use balena_sign_formats::rsa_key::RsaPublicKey;
use balena_sign_formats::{Signer, SignerError};

/// RSA key sizes balena-sign generates.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RsaKeySize {
    Rsa2048,
    Rsa4096,
}

impl RsaKeySize {
    /// Maps a requested modulus length in bits to a supported size.
    pub fn from_bits(bits: u32) -> Option<Self> {
        match bits {
            2048 => Some(Self::Rsa2048),
            4096 => Some(Self::Rsa4096),
            _ => None,
        }
    }

    /// Modulus length in bits.
    pub fn bits(self) -> u32 {
        match self {
            Self::Rsa2048 => 2048,
            Self::Rsa4096 => 4096,
        }
    }
}

/// Error generating or loading a key.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum KeyError {
    #[error("RSA key generation failed")]
    Generate,
    #[error("the private key is not valid PEM: {0}")]
    Pem(String),
    #[error("the private key is not an RSA key that AWS-LC accepts")]
    Parse,
    #[error("the RSA key failed its consistency check")]
    Inconsistent,
    #[error("the public key could not be encoded: {0}")]
    PublicKey(String),
    #[error("the encrypted private key cannot be read: {0}")]
    Encrypted(String),
    #[error("the RSA coefficient u is not p^-1 mod q; the key is damaged")]
    CoefficientMismatch,
    #[error("the RSA key lacks its private integers (d, p, q and the CRT values)")]
    MissingComponents,
    #[error("AWS-LC failed to {operation}")]
    Backend { operation: &'static str },
}

/// An RSA private key held in AWS-LC memory.
pub struct RsaPrivateKey {
    key: ffi::RsaHandle,
    public_key: RsaPublicKey,
    spki_der: Vec<u8>,
}

impl std::fmt::Debug for RsaPrivateKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The private half never appears in debug output.
        f.debug_struct("RsaPrivateKey")
            .field("bits", &self.public_key.modulus_bits())
            .finish_non_exhaustive()
    }
}

impl RsaPrivateKey {
    /// Generates a key with public exponent 65537 from the OS CSPRNG and
    /// returns it with its PKCS#8 PEM (`BEGIN PRIVATE KEY`), the form
    /// `openssl genrsa` and `openssl req -newkey` write.
    pub fn generate(size: RsaKeySize) -> Result<(Self, String), KeyError> {
        let aws_size = match size {
            RsaKeySize::Rsa2048 => aws_lc_rs::rsa::KeySize::Rsa2048,
            RsaKeySize::Rsa4096 => aws_lc_rs::rsa::KeySize::Rsa4096,
        };
        let pair = aws_lc_rs::rsa::KeyPair::generate(aws_size).map_err(|_| KeyError::Generate)?;
        let pkcs8 = AsDer::<aws_lc_rs::encoding::Pkcs8V1Der>::as_der(&pair).map_err(|_| KeyError::Generate)?;

        let key = Self::from_der(pkcs8.as_ref())?;
        let pem = pem_rfc7468::encode_string("PRIVATE KEY", pem_rfc7468::LineEnding::LF, pkcs8.as_ref())
            .map_err(|err| KeyError::Pem(err.to_string()))?;
        Ok((key, pem))
    }

    /// Loads a PEM private key: PKCS#8 (`BEGIN PRIVATE KEY`) or PKCS#1
    /// (`BEGIN RSA PRIVATE KEY`), unencrypted.
    pub fn from_pem(pem: &str) -> Result<Self, KeyError> {
        let (label, der) =
            pem_rfc7468::decode_vec(pem.trim().as_bytes()).map_err(|err| KeyError::Pem(err.to_string()))?;
        if label != "PRIVATE KEY" && label != "RSA PRIVATE KEY" {
            return Err(KeyError::Pem(format!("unexpected PEM label {label}")));
        }
        Self::from_der(&der)
    }

    /// Loads a DER private key, PKCS#8 or PKCS#1.
    pub fn from_der(der: &[u8]) -> Result<Self, KeyError> {
        Self::from_handle(ffi::RsaHandle::from_private_der(der)?)
    }

    fn from_handle(key: ffi::RsaHandle) -> Result<Self, KeyError> {
        let (modulus, public_exponent) = key.public_components()?;
        let public_key = RsaPublicKey {
            modulus,
            public_exponent,
        };
        let spki_der = public_key
            .to_spki_der()
            .map_err(|err| KeyError::PublicKey(err.to_string()))?;
        Ok(Self {
            key,
            public_key,
            spki_der,
        })
    }

    /// Builds a key from the integers of a GnuPG or OpenPGP secret key and
    /// returns it with its PKCS#8 PEM (`BEGIN PRIVATE KEY`), as
    /// [`generate`](Self::generate) does.
    ///
    /// n, e, d, p and q make the key; AWS-LC computes the CRT values
    /// d mod (p - 1), d mod (q - 1) and the coefficient in constant time,
    /// orders the primes p > q as its own keys have them, and checks the
    /// key with `RSA_check_key`. The given u must equal the smaller prime's
    /// inverse modulo the larger, as OpenPGP defines it.
    pub fn from_components(components: &RsaPrivateComponents) -> Result<(Self, String), KeyError> {
        let (larger, smaller) = if is_greater(&components.p, &components.q) {
            (&components.p, &components.q)
        } else {
            (&components.q, &components.p)
        };
        let factors = ffi::PrimeFactors {
            n: &components.n,
            e: &components.e,
            d: &components.d,
            p: larger,
            q: smaller,
        };
        let (key, coefficient) = ffi::RsaHandle::from_factors(&factors)?;
        if !coefficient.equals_consttime(&components.u)? {
            return Err(KeyError::CoefficientMismatch);
        }

        let pkcs8 = key.to_pkcs8_der()?;
        let pem = pem_rfc7468::encode_string("PRIVATE KEY", pem_rfc7468::LineEnding::LF, &pkcs8)
            .map_err(|err| KeyError::Pem(err.to_string()))?;
        Ok((Self::from_handle(key)?, pem))
    }

    /// Returns n, e, d, p, q and u in the OpenPGP and GnuPG convention:
    /// p < q and u = p^-1 mod q. The buffers are zeroed when dropped.
    pub fn private_components(&self) -> Result<RsaPrivateComponents, KeyError> {
        self.key.private_components()
    }

    /// Returns the public key's modulus and exponent.
    pub fn public_key(&self) -> &RsaPublicKey {
        &self.public_key
    }

    /// Encodes the public key as PEM `SubjectPublicKeyInfo` (`BEGIN PUBLIC
    /// KEY`), as `openssl rsa -pubout` writes it.
    pub fn public_key_pem(&self) -> Result<String, KeyError> {
        pem_rfc7468::encode_string("PUBLIC KEY", pem_rfc7468::LineEnding::LF, &self.spki_der)
            .map_err(|err| KeyError::PublicKey(err.to_string()))
    }
}

/// Returns whether the unsigned big-endian `a` is greater than `b`. Only the
/// order of the two primes depends on it, which AWS-LC's key generation
/// also branches on.
fn is_greater(a: &[u8], b: &[u8]) -> bool {
    let (a, b) = (strip_leading_zeros(a), strip_leading_zeros(b));
    a.len().cmp(&b.len()).then_with(|| a.cmp(b)).is_gt()
}

fn strip_leading_zeros(value: &[u8]) -> &[u8] {
    let start = value.iter().position(|&byte| byte != 0).unwrap_or(value.len());
    value.get(start..).unwrap_or_default()
}

impl Signer for RsaPrivateKey {
    fn public_key_der(&self) -> &[u8] {
        &self.spki_der
    }

    fn modulus_len(&self) -> usize {
        self.key.modulus_len()
    }

    fn sign_pkcs1_raw(&self, data: &[u8]) -> Result<Vec<u8>, SignerError> {
        self.key.sign_pkcs1(data)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use aws_lc_rs::signature::{UnparsedPublicKey, RSA_PKCS1_2048_8192_SHA256};
    use balena_sign_formats::HashAlgorithm;

    #[test]
    fn generated_key_signs_verifiable_sha256() {
        let (key, pem) = RsaPrivateKey::generate(RsaKeySize::Rsa2048).unwrap();
        assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"));
        assert_eq!(key.modulus_len(), 256);

        let message = b"balena";
        let digest = HashAlgorithm::Sha256.digest(message);
        let signature = key.sign_digest(HashAlgorithm::Sha256, &digest).unwrap();

        let pkcs1 = key.public_key().to_pkcs1_der().unwrap();
        let verifier = UnparsedPublicKey::new(&RSA_PKCS1_2048_8192_SHA256, pkcs1);
        verifier.verify(message, &signature).unwrap();
    }

    #[test]
    fn reloads_from_pem() {
        let (key, pem) = RsaPrivateKey::generate(RsaKeySize::Rsa2048).unwrap();
        let again = RsaPrivateKey::from_pem(&pem).unwrap();
        assert_eq!(key.public_key(), again.public_key());
    }

    #[test]
    fn rejects_oversized_raw_input() {
        let (key, _) = RsaPrivateKey::generate(RsaKeySize::Rsa2048).unwrap();
        let err = key.sign_pkcs1_raw(&[0u8; 250]).unwrap_err();
        assert!(matches!(err, SignerError::InputTooLong { .. }));
    }

    fn components_of(key: &RsaPrivateKey) -> RsaPrivateComponents {
        key.private_components().unwrap()
    }

    #[test]
    fn components_follow_openpgp_convention() {
        let (key, _) = RsaPrivateKey::generate(RsaKeySize::Rsa2048).unwrap();
        let components = components_of(&key);
        assert_eq!(components.n, key.public_key().modulus);
        assert_eq!(components.e, [0x01, 0x00, 0x01]);
        assert!(is_greater(&components.q, &components.p), "p < q");
        assert_eq!(components.modulus_bits(), 2048);
        assert_eq!(
            format!("{components:?}"),
            "RsaPrivateComponents { modulus_bits: 2048, .. }"
        );
    }

    #[test]
    fn rebuilds_identical_key_from_components() {
        let (key, pem) = RsaPrivateKey::generate(RsaKeySize::Rsa2048).unwrap();
        let components = components_of(&key);
        let (rebuilt, rebuilt_pem) = RsaPrivateKey::from_components(&components).unwrap();
        assert_eq!(rebuilt_pem, pem, "same PKCS#8 encoding as the generated key");
        assert_eq!(rebuilt.public_key(), key.public_key());

        let again = components_of(&rebuilt);
        for (name, got, want) in [
            ("d", &again.d, &components.d),
            ("p", &again.p, &components.p),
            ("q", &again.q, &components.q),
            ("u", &again.u, &components.u),
        ] {
            assert_eq!(got, want, "{name}");
        }

        let digest = HashAlgorithm::Sha256.digest(b"balena");
        assert_eq!(
            rebuilt.sign_digest(HashAlgorithm::Sha256, &digest).unwrap(),
            key.sign_digest(HashAlgorithm::Sha256, &digest).unwrap()
        );
    }

    #[test]
    fn accepts_primes_in_either_order() {
        let (key, pem) = RsaPrivateKey::generate(RsaKeySize::Rsa2048).unwrap();
        let mut components = components_of(&key);
        std::mem::swap(&mut components.p, &mut components.q);
        components.p.insert(0, 0x00);
        let (_, rebuilt_pem) = RsaPrivateKey::from_components(&components).unwrap();
        assert_eq!(rebuilt_pem, pem);
    }

    #[test]
    fn rejects_wrong_coefficient() {
        let (key, _) = RsaPrivateKey::generate(RsaKeySize::Rsa2048).unwrap();
        let mut components = components_of(&key);
        let last = components.u.len() - 1;
        components.u[last] ^= 0x01;
        assert!(matches!(
            RsaPrivateKey::from_components(&components),
            Err(KeyError::CoefficientMismatch)
        ));
    }

    #[test]
    fn rejects_inconsistent_components() {
        let (key, _) = RsaPrivateKey::generate(RsaKeySize::Rsa2048).unwrap();

        let mut wrong_d = components_of(&key);
        let last = wrong_d.d.len() - 1;
        wrong_d.d[last] ^= 0x02;
        assert!(matches!(
            RsaPrivateKey::from_components(&wrong_d),
            Err(KeyError::Inconsistent)
        ));

        let (other, _) = RsaPrivateKey::generate(RsaKeySize::Rsa2048).unwrap();
        let mut wrong_n = components_of(&key);
        wrong_n.n = other.public_key().modulus.clone();
        assert!(matches!(
            RsaPrivateKey::from_components(&wrong_n),
            Err(KeyError::Inconsistent)
        ));
    }

    #[test]
    fn rejects_garbage_der() {
        assert!(matches!(RsaPrivateKey::from_der(b"not a key"), Err(KeyError::Parse)));
    }
}
