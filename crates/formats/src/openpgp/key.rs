//! Version 4 public-key packets (RFC 4880 §5.5.2), their fingerprints and
//! key IDs (RFC 4880 §12.2).
//!
//! ```text
//! version (0x04) | creation time (u32, Unix seconds) | algorithm | key MPIs
//! RSA key MPIs:   n | e
//! fingerprint  =  SHA-1(0x99 | u16 body length | body)
//! key ID       =  last 8 octets of the fingerprint
//! ```

use std::fmt;
use std::str::FromStr;

use sha1::{Digest, Sha1};

use super::error::{BuildError, FingerprintError, ParseError};
use super::mpi::{read_mpi, strip_leading_zeros, write_mpi};
use super::packet::{write_packet, Tag};
use super::reader::Reader;
use crate::rsa_key::RsaPublicKey;

/// Key packet version written and accepted.
pub const KEY_VERSION_4: u8 = 0x04;

/// First octet of the fingerprint hash input: an old-format public-key CTB
/// with a two-octet length, whatever header the packet itself has.
const FINGERPRINT_PREFIX: u8 = 0x99;

/// Length of a version 4 fingerprint (SHA-1) in bytes.
pub const FINGERPRINT_LEN: usize = 20;

/// Length of a key ID in bytes.
pub const KEY_ID_LEN: usize = 8;

/// Public-key algorithm ID (RFC 4880 §9.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PublicKeyAlgorithm(pub u8);

impl PublicKeyAlgorithm {
    /// RSA (Encrypt or Sign), the algorithm GnuPG writes for RSA keys.
    pub const RSA: Self = Self(0x01);
    pub const RSA_ENCRYPT_ONLY: Self = Self(0x02);
    pub const RSA_SIGN_ONLY: Self = Self(0x03);
    pub const ELGAMAL_ENCRYPT_ONLY: Self = Self(0x10);
    pub const DSA: Self = Self(0x11);
    pub const ECDH: Self = Self(0x12);
    pub const ECDSA: Self = Self(0x13);
    pub const EDDSA: Self = Self(0x16);

    /// Returns whether the key material is the RSA pair (n, e).
    pub fn is_rsa(self) -> bool {
        matches!(self, Self::RSA | Self::RSA_ENCRYPT_ONLY | Self::RSA_SIGN_ONLY)
    }
}

/// Version 4 key fingerprint; displayed as 40 upper-case hex digits, the
/// form `gpg --with-colons` prints.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Fingerprint(pub [u8; FINGERPRINT_LEN]);

impl Fingerprint {
    /// Returns the key ID, the last 8 bytes of the fingerprint.
    pub fn key_id(&self) -> KeyId {
        let [.., a, b, c, d, e, f, g, h] = self.0;
        KeyId([a, b, c, d, e, f, g, h])
    }
}

impl fmt::Display for Fingerprint {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode_upper(self.0))
    }
}

impl FromStr for Fingerprint {
    type Err = FingerprintError;

    /// Reads 40 hex digits in either case.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        if text.len() != 2 * FINGERPRINT_LEN {
            return Err(FingerprintError::Length { len: text.len() });
        }
        let mut fingerprint = [0u8; FINGERPRINT_LEN];
        hex::decode_to_slice(text, &mut fingerprint).map_err(|_| FingerprintError::NotHex)?;
        Ok(Self(fingerprint))
    }
}

/// Key ID; displayed as 16 upper-case hex digits.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct KeyId(pub [u8; KEY_ID_LEN]);

impl fmt::Display for KeyId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&hex::encode_upper(self.0))
    }
}

/// A version 4 public key with its packet body and fingerprint.
///
/// RSA keys also carry (n, e). Keys of other algorithms keep only their
/// body, which is enough for the fingerprint; their material is not checked.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PublicKey {
    created: u32,
    algorithm: PublicKeyAlgorithm,
    rsa: Option<RsaPublicKey>,
    body: Vec<u8>,
    fingerprint: Fingerprint,
}

impl PublicKey {
    /// Builds the version 4 RSA key (algorithm 1) for `key`, created at
    /// `created` (Unix seconds). The creation time is part of the
    /// fingerprint, so the same RSA key with another time is another key.
    pub fn new_rsa(key: &RsaPublicKey, created: u32) -> Result<Self, BuildError> {
        let modulus = strip_leading_zeros(&key.modulus);
        let public_exponent = strip_leading_zeros(&key.public_exponent);
        if modulus.is_empty() {
            return Err(BuildError::ZeroMpi { field: "modulus n" });
        }
        if public_exponent.is_empty() {
            return Err(BuildError::ZeroMpi { field: "exponent e" });
        }

        let mut body = vec![KEY_VERSION_4];
        body.extend_from_slice(&created.to_be_bytes());
        body.push(PublicKeyAlgorithm::RSA.0);
        write_mpi(&mut body, modulus, "modulus n")?;
        write_mpi(&mut body, public_exponent, "exponent e")?;

        let fingerprint = fingerprint_v4(&body).ok_or(BuildError::KeyTooLong { len: body.len() })?;
        Ok(Self {
            created,
            algorithm: PublicKeyAlgorithm::RSA,
            rsa: Some(RsaPublicKey {
                modulus: modulus.to_vec(),
                public_exponent: public_exponent.to_vec(),
            }),
            body,
            fingerprint,
        })
    }

    /// Reads the body of a public-key or public-subkey packet.
    pub fn from_packet_body(body: &[u8]) -> Result<Self, ParseError> {
        Self::parse(body, 0)
    }

    /// Reads a key body that starts at `offset` of the input.
    pub(crate) fn parse(body: &[u8], offset: usize) -> Result<Self, ParseError> {
        let mut reader = Reader::new(body, offset);
        let version = reader.u8("key version")?;
        if version != KEY_VERSION_4 {
            return Err(ParseError::UnsupportedKeyVersion { offset, version });
        }
        let created = reader.u32("key creation time")?;
        let algorithm = PublicKeyAlgorithm(reader.u8("public-key algorithm")?);

        let rsa = if algorithm.is_rsa() {
            let modulus = read_mpi(&mut reader, "RSA modulus n")?;
            let public_exponent = read_mpi(&mut reader, "RSA exponent e")?;
            reader.finish("RSA exponent e")?;
            Some(RsaPublicKey {
                modulus: modulus.to_vec(),
                public_exponent: public_exponent.to_vec(),
            })
        } else {
            None
        };

        let fingerprint = fingerprint_v4(body).ok_or(ParseError::KeyTooLong {
            offset,
            len: body.len(),
        })?;
        Ok(Self {
            created,
            algorithm,
            rsa,
            body: body.to_vec(),
            fingerprint,
        })
    }

    /// Key creation time, Unix seconds.
    pub fn created(&self) -> u32 {
        self.created
    }

    pub fn algorithm(&self) -> PublicKeyAlgorithm {
        self.algorithm
    }

    /// Returns the RSA modulus and exponent of an RSA key.
    pub fn rsa(&self) -> Option<&RsaPublicKey> {
        self.rsa.as_ref()
    }

    /// The packet body: version, creation time, algorithm and key material.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    pub fn fingerprint(&self) -> Fingerprint {
        self.fingerprint
    }

    pub fn key_id(&self) -> KeyId {
        self.fingerprint.key_id()
    }

    /// Encodes the public-key packet (tag 6) with an old-format header.
    pub fn to_packet(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.body.len() + 3);
        write_packet(&mut out, Tag::PUBLIC_KEY, &self.body);
        out
    }

    /// Returns what precedes the key body in a signature hash (RFC 4880
    /// §5.2.4): 0x99 and the two-octet body length.
    pub(crate) fn hash_prefix(&self) -> [u8; 3] {
        // Both constructors reject bodies over 65535 bytes, so the length fits.
        let [high, low] = u16::try_from(self.body.len()).unwrap_or(u16::MAX).to_be_bytes();
        [FINGERPRINT_PREFIX, high, low]
    }
}

/// Computes the version 4 fingerprint of a key body, or `None` when the body
/// is too long for the two-octet length in the hash input.
fn fingerprint_v4(body: &[u8]) -> Option<Fingerprint> {
    let len = u16::try_from(body.len()).ok()?;
    let mut hasher = Sha1::new();
    hasher.update([FINGERPRINT_PREFIX]);
    hasher.update(len.to_be_bytes());
    hasher.update(body);
    Some(Fingerprint(hasher.finalize().into()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rsa_key() -> RsaPublicKey {
        RsaPublicKey {
            modulus: [vec![0x00], vec![0xc5; 256]].concat(),
            public_exponent: vec![0x01, 0x00, 0x01],
        }
    }

    #[test]
    fn rsa_key_body_layout() {
        let key = PublicKey::new_rsa(&rsa_key(), 0x6b13_2139).unwrap();
        let body = key.body();
        assert_eq!(body.len(), 1 + 4 + 1 + 2 + 256 + 2 + 3);
        assert_eq!(body[..8], [0x04, 0x6b, 0x13, 0x21, 0x39, 0x01, 0x08, 0x00]);
        assert_eq!(body[body.len() - 5..], [0x00, 0x11, 0x01, 0x00, 0x01]);
        assert_eq!(key.rsa().unwrap().modulus, vec![0xc5; 256]);
        assert_eq!(key.created(), 0x6b13_2139);
    }

    #[test]
    fn fingerprint_covers_prefix_and_body() {
        let key = PublicKey::new_rsa(&rsa_key(), 1).unwrap();
        let mut input = vec![0x99, 0x01, 0x0d];
        input.extend_from_slice(key.body());
        let expected: [u8; 20] = Sha1::digest(&input).into();
        assert_eq!(key.fingerprint().0, expected);
        assert_eq!(key.key_id().0, expected[12..]);
        assert_eq!(key.hash_prefix(), [0x99, 0x01, 0x0d]);
    }

    #[test]
    fn packet_has_old_format_header() {
        let key = PublicKey::new_rsa(&rsa_key(), 1).unwrap();
        let packet = key.to_packet();
        assert_eq!(packet[..3], [0x99, 0x01, 0x0d]);
        assert_eq!(packet[3..], *key.body());
    }

    #[test]
    fn parses_what_it_builds() {
        let key = PublicKey::new_rsa(&rsa_key(), 1_700_000_000).unwrap();
        let parsed = PublicKey::from_packet_body(key.body()).unwrap();
        assert_eq!(parsed, key);
    }

    #[test]
    fn rejects_zero_modulus() {
        let key = RsaPublicKey {
            modulus: vec![0x00],
            public_exponent: vec![0x03],
        };
        assert!(matches!(PublicKey::new_rsa(&key, 0), Err(BuildError::ZeroMpi { .. })));
    }

    #[test]
    fn rejects_other_key_versions() {
        for version in [0x03, 0x05, 0x06] {
            let err = PublicKey::parse(&[version, 0, 0, 0, 0, 1], 0x10).unwrap_err();
            assert_eq!(err, ParseError::UnsupportedKeyVersion { offset: 0x10, version });
        }
    }

    #[test]
    fn rejects_truncated_key_body() {
        let key = PublicKey::new_rsa(&rsa_key(), 1).unwrap();
        for len in [0, 1, 5, 6, 7, 100, key.body().len() - 1] {
            let err = PublicKey::from_packet_body(&key.body()[..len]).unwrap_err();
            assert!(matches!(err, ParseError::Truncated { .. }), "length {len}: {err}");
        }
    }

    #[test]
    fn rejects_trailing_key_material() {
        let key = PublicKey::new_rsa(&rsa_key(), 1).unwrap();
        let mut body = key.body().to_vec();
        body.push(0x00);
        let err = PublicKey::from_packet_body(&body).unwrap_err();
        assert!(matches!(err, ParseError::TrailingData { len: 1, .. }));
    }

    #[test]
    fn keeps_other_algorithms_unparsed() {
        let body = [0x04, 0x00, 0x00, 0x00, 0x01, 0x16, 0x09, 0x2b, 0x06];
        let key = PublicKey::from_packet_body(&body).unwrap();
        assert_eq!(key.algorithm(), PublicKeyAlgorithm::EDDSA);
        assert!(key.rsa().is_none());
        assert_eq!(key.body(), body);
    }

    #[test]
    fn rejects_key_too_long_for_fingerprint() {
        let mut body = vec![0x04, 0x00, 0x00, 0x00, 0x01, 0x16];
        body.resize(0x1_0000, 0x00);
        let err = PublicKey::parse(&body, 0).unwrap_err();
        assert_eq!(
            err,
            ParseError::KeyTooLong {
                offset: 0,
                len: 0x1_0000
            }
        );
    }

    #[test]
    fn fingerprint_text_round_trip() {
        let text = "65BBACFE6AB46751408A59211E51C8A606E25177";
        let fingerprint: Fingerprint = text.parse().unwrap();
        assert_eq!(fingerprint.to_string(), text);
        assert_eq!(fingerprint.key_id().to_string(), "1E51C8A606E25177");
        assert_eq!(text.to_lowercase().parse::<Fingerprint>().unwrap(), fingerprint);
    }

    #[test]
    fn rejects_malformed_fingerprint_text() {
        assert_eq!("ABCD".parse::<Fingerprint>(), Err(FingerprintError::Length { len: 4 }));
        let not_hex = "Z5BBACFE6AB46751408A59211E51C8A606E25177";
        assert_eq!(not_hex.parse::<Fingerprint>(), Err(FingerprintError::NotHex));
    }
}
