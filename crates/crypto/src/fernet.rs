//! Encrypted backups as the older balena-sign service makes them: a Fernet
//! token (version 0x80, AES-128-CBC with PKCS#7 padding, HMAC-SHA256; the
//! layout of the Fernet specification, as Python's `cryptography` package
//! implements it) under a key from PBKDF2-HMAC-SHA256 with 100,000
//! iterations.
//!
//! ```text
//! token = base64url( 0x80 | timestamp (u64 BE) | IV (16) | ciphertext | HMAC (32) )
//! ```
//!
//! The HMAC covers every byte before it and is checked before decryption.

use std::num::NonZeroU32;

use aws_lc_rs::cipher::{
    DecryptionContext, EncryptionContext, PaddedBlockDecryptingKey, PaddedBlockEncryptingKey, UnboundCipherKey, AES_128,
};
use aws_lc_rs::iv::FixedLength;
use aws_lc_rs::{hmac, pbkdf2};
use base64::Engine;

/// PBKDF2 iterations of the older service's `derive_key`.
pub const PBKDF2_ITERATIONS: u32 = 100_000;

/// Salt length the older service generates, in bytes.
pub const SALT_LEN: usize = 16;

/// First byte of every token.
const FERNET_VERSION: u8 = 0x80;
const VERSION_LEN: usize = 1;
const TIMESTAMP_LEN: usize = 8;
const IV_LEN: usize = 16;
const HMAC_LEN: usize = 32;
const AES_BLOCK_LEN: usize = 16;
const HEADER_LEN: usize = VERSION_LEN + TIMESTAMP_LEN + IV_LEN;

/// Failure to make or open a token.
#[derive(Debug, thiserror::Error)]
pub enum FernetError {
    /// The token is not base64url text.
    #[error("the token is not valid base64url")]
    Encoding,
    /// The token does not decrypt with this key: a wrong passphrase, or
    /// damaged data. By design, the two cannot be distinguished.
    #[error("the token does not decrypt with this passphrase, or it is damaged")]
    Rejected,
    #[error("encryption failed")]
    Encrypt,
}

/// The 32-byte Fernet key: a signing half and an encryption half.
pub struct FernetKey {
    key: [u8; 32],
}

impl Drop for FernetKey {
    fn drop(&mut self) {
        self.key = [0; 32];
    }
}

impl FernetKey {
    /// Derives the key from a passphrase and salt as the older service does.
    pub fn from_passphrase(passphrase: &[u8], salt: &[u8]) -> Self {
        let mut key = [0u8; 32];
        let iterations = NonZeroU32::new(PBKDF2_ITERATIONS).unwrap_or(NonZeroU32::MIN);
        pbkdf2::derive(pbkdf2::PBKDF2_HMAC_SHA256, iterations, salt, passphrase, &mut key);
        Self { key }
    }

    fn signing_key(&self) -> hmac::Key {
        hmac::Key::new(hmac::HMAC_SHA256, self.key.get(..16).unwrap_or_default())
    }

    fn encryption_key(&self) -> Result<UnboundCipherKey, aws_lc_rs::error::Unspecified> {
        UnboundCipherKey::new(&AES_128, self.key.get(16..).unwrap_or_default())
    }

    /// Encrypts `plaintext` into a token stamped with `timestamp` (Unix
    /// seconds), with a random IV.
    pub fn encrypt(&self, plaintext: &[u8], timestamp: u64) -> Result<String, FernetError> {
        let mut iv = [0u8; IV_LEN];
        getrandom::fill(&mut iv).map_err(|_| FernetError::Encrypt)?;

        let mut ciphertext = plaintext.to_vec();
        let key = self.encryption_key().map_err(|_| FernetError::Encrypt)?;
        PaddedBlockEncryptingKey::cbc_pkcs7(key)
            .and_then(|key| key.less_safe_encrypt(&mut ciphertext, EncryptionContext::Iv128(FixedLength::from(iv))))
            .map_err(|_| FernetError::Encrypt)?;

        let mut token = Vec::with_capacity(HEADER_LEN + ciphertext.len() + HMAC_LEN);
        token.push(FERNET_VERSION);
        token.extend_from_slice(&timestamp.to_be_bytes());
        token.extend_from_slice(&iv);
        token.extend_from_slice(&ciphertext);
        let tag = hmac::sign(&self.signing_key(), &token);
        token.extend_from_slice(tag.as_ref());
        Ok(base64::engine::general_purpose::URL_SAFE.encode(token))
    }

    /// Checks and decrypts a token; its timestamp is not checked, as the
    /// older service's import does not check it either.
    pub fn decrypt(&self, token: &str) -> Result<Vec<u8>, FernetError> {
        let engine = base64::engine::GeneralPurpose::new(
            &base64::alphabet::URL_SAFE,
            base64::engine::GeneralPurposeConfig::new()
                .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
        );
        let token = engine
            .decode(token.trim().as_bytes())
            .map_err(|_| FernetError::Encoding)?;

        let minimum = HEADER_LEN + AES_BLOCK_LEN + HMAC_LEN;
        if token.len() < minimum || token.first() != Some(&FERNET_VERSION) {
            return Err(FernetError::Rejected);
        }
        let (signed, tag) = token.split_at(token.len() - HMAC_LEN);
        hmac::verify(&self.signing_key(), signed, tag).map_err(|_| FernetError::Rejected)?;

        let (header, ciphertext) = signed.split_at(HEADER_LEN);
        if ciphertext.len() % AES_BLOCK_LEN != 0 {
            return Err(FernetError::Rejected);
        }
        let iv: [u8; IV_LEN] = header
            .get(VERSION_LEN + TIMESTAMP_LEN..)
            .and_then(|iv| iv.try_into().ok())
            .ok_or(FernetError::Rejected)?;

        let mut buffer = ciphertext.to_vec();
        let key = self.encryption_key().map_err(|_| FernetError::Rejected)?;
        let plaintext = PaddedBlockDecryptingKey::cbc_pkcs7(key)
            .and_then(|key| {
                key.decrypt(&mut buffer, DecryptionContext::Iv128(FixedLength::from(iv)))
                    .map(|p| p.len())
            })
            .map_err(|_| FernetError::Rejected)?;
        buffer.truncate(plaintext);
        Ok(buffer)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip() {
        let key = FernetKey::from_passphrase(b"passphrase", &[7; SALT_LEN]);
        let token = key.encrypt(b"store contents", 1_700_000_000).unwrap();
        assert_eq!(key.decrypt(&token).unwrap(), b"store contents");
    }

    #[test]
    fn wrong_passphrase_is_rejected() {
        let token = FernetKey::from_passphrase(b"right", &[1; SALT_LEN])
            .encrypt(b"x", 0)
            .unwrap();
        let wrong = FernetKey::from_passphrase(b"wrong", &[1; SALT_LEN]);
        assert!(matches!(wrong.decrypt(&token), Err(FernetError::Rejected)));
    }

    #[test]
    fn damaged_token_is_rejected() {
        let key = FernetKey::from_passphrase(b"k", &[2; SALT_LEN]);
        let token = key.encrypt(b"data", 0).unwrap();
        let mut bytes = base64::engine::general_purpose::URL_SAFE.decode(&token).unwrap();
        bytes[30] ^= 1;
        let damaged = base64::engine::general_purpose::URL_SAFE.encode(bytes);
        assert!(matches!(key.decrypt(&damaged), Err(FernetError::Rejected)));
        assert!(matches!(key.decrypt("not base64 !"), Err(FernetError::Encoding)));
        assert!(matches!(key.decrypt("gAAA"), Err(FernetError::Rejected)));
    }
}
