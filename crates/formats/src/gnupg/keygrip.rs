//! Keygrips: the protocol-independent key identifiers of libgcrypt
//! (`gcry_pk_get_keygrip`), which name gpg-agent's key files
//! `private-keys-v1.d/<KEYGRIP>.key`.
//!
//! For RSA the keygrip is the SHA-1 of the modulus n as it appears in the
//! key's S-expression (libgcrypt 1.10 `cipher/rsa.c`, `compute_keygrip`).
//! GnuPG writes n in libgcrypt's standard integer format: big-endian, no
//! leading zero bytes, and one zero byte in front when the top bit is set,
//! so that the value does not read as negative. The public exponent is not
//! part of the keygrip.

use std::fmt;
use std::str::FromStr;

use sha1::{Digest, Sha1};

use crate::openpgp::PublicKey;

/// Length of a keygrip in bytes.
pub const KEYGRIP_LEN: usize = 20;

/// A keygrip; displayed as 40 upper-case hex digits, the form of gpg-agent's
/// key file names and of the `grp` records of `gpg --with-keygrip
/// --with-colons`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Keygrip(pub [u8; KEYGRIP_LEN]);

impl Keygrip {
    /// Computes the keygrip of the RSA key with modulus `modulus`, given as
    /// an unsigned big-endian integer with or without leading zeros.
    pub fn from_rsa_modulus(modulus: &[u8]) -> Self {
        let start = modulus.iter().position(|&byte| byte != 0).unwrap_or(modulus.len());
        let magnitude = modulus.get(start..).unwrap_or_default();

        let mut hasher = Sha1::new();
        if magnitude.first().is_some_and(|&top| top & 0x80 != 0) {
            hasher.update([0x00]);
        }
        hasher.update(magnitude);
        Self(hasher.finalize().into())
    }

    /// Computes the keygrip of an OpenPGP RSA key, or returns `None` for
    /// another algorithm.
    pub fn from_public_key(key: &PublicKey) -> Option<Self> {
        key.rsa().map(|rsa| Self::from_rsa_modulus(&rsa.modulus))
    }
}

impl fmt::Display for Keygrip {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode_upper(self.0))
    }
}

/// Error from reading a keygrip in text form.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeygripError {
    #[error("a keygrip is 40 hexadecimal digits, got {len} characters")]
    Length { len: usize },
    #[error("a keygrip contains only hexadecimal digits (0-9, A-F)")]
    NotHex,
}

impl FromStr for Keygrip {
    type Err = KeygripError;

    /// Reads 40 hex digits in either case.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text.len() != 2 * KEYGRIP_LEN {
            return Err(KeygripError::Length { len: text.len() });
        }
        let mut keygrip = [0u8; KEYGRIP_LEN];
        hex::decode_to_slice(text, &mut keygrip).map_err(|_| KeygripError::NotHex)?;
        Ok(Self(keygrip))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_modulus_with_sign_byte() {
        let modulus = [0xbe, 0xce, 0x52];
        let expected: [u8; 20] = Sha1::digest([0x00, 0xbe, 0xce, 0x52]).into();
        assert_eq!(Keygrip::from_rsa_modulus(&modulus).0, expected);
        assert_eq!(Keygrip::from_rsa_modulus(&[0x00, 0x00, 0xbe, 0xce, 0x52]).0, expected);
    }

    #[test]
    fn hashes_modulus_without_top_bit_as_is() {
        let expected: [u8; 20] = Sha1::digest([0x7f, 0x01]).into();
        assert_eq!(Keygrip::from_rsa_modulus(&[0x00, 0x7f, 0x01]).0, expected);
    }

    #[test]
    fn keygrip_text_round_trip() {
        let text = "DBC6020E6684D658D54022F015B5B4B9C742D6DE";
        let keygrip: Keygrip = text.parse().unwrap();
        assert_eq!(keygrip.to_string(), text);
        assert_eq!(text.to_lowercase().parse::<Keygrip>().unwrap(), keygrip);
        assert_eq!("AB".parse::<Keygrip>(), Err(KeygripError::Length { len: 2 }));
        assert_eq!(
            "XBC6020E6684D658D54022F015B5B4B9C742D6DE".parse::<Keygrip>(),
            Err(KeygripError::NotHex)
        );
    }
}
