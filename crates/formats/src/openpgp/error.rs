//! Errors from reading and building OpenPGP data.

use crate::rsa_key::RsaKeyError;
use crate::signer::SignerError;

use super::key::Fingerprint;

/// Error from reading OpenPGP input. Offsets count bytes from the start of
/// the binary input (after removing ASCII armor).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ParseError {
    #[error("the input is empty; expected OpenPGP packets")]
    Empty,
    #[error("{field} at offset {offset:#x} is truncated: {needed} more bytes needed")]
    Truncated {
        field: &'static str,
        offset: usize,
        needed: usize,
    },
    #[error("{field} at offset {offset:#x} is followed by {len} unexpected bytes")]
    TrailingData {
        field: &'static str,
        offset: usize,
        len: usize,
    },
    #[error("byte {ctb:#04x} at offset {offset:#x} is not an OpenPGP packet header (bit 7 is clear); binary OpenPGP data was expected")]
    InvalidPacketHeader { offset: usize, ctb: u8 },
    #[error("packet at offset {offset:#x} has reserved tag 0")]
    ReservedTag { offset: usize },
    #[error("packet at offset {offset:#x} has a partial body length, which keys and signatures never use")]
    PartialBodyLength { offset: usize },
    #[error("packet at offset {offset:#x} has an indeterminate length, which keys and signatures never use")]
    IndeterminateLength { offset: usize },
    #[error("packet with tag {tag} at offset {offset:#x} is {len} bytes long, over the maximum of {max}")]
    PacketTooLong {
        tag: u8,
        offset: usize,
        len: u64,
        max: usize,
    },
    #[error("packet with tag {tag} at offset {offset:#x} is not allowed here; expected {expected}")]
    UnexpectedPacket {
        tag: u8,
        offset: usize,
        expected: &'static str,
    },
    #[error("the packet at offset {offset:#x} is a secret key; export the public key (gpg --export) instead")]
    SecretKey { offset: usize },
    #[error("a second public key starts at offset {offset:#x}; give one key at a time")]
    MultipleKeys { offset: usize },
    #[error("the public key at offset {offset:#x} has no user ID packet")]
    MissingUserId { offset: usize },
    #[error("key packet at offset {offset:#x} has version {version}; only version 4 keys are supported")]
    UnsupportedKeyVersion { offset: usize, version: u8 },
    #[error("signature packet at offset {offset:#x} has version {version}; only version 4 signatures are supported")]
    UnsupportedSignatureVersion { offset: usize, version: u8 },
    #[error("key packet at offset {offset:#x} is {len} bytes long; a version 4 fingerprint covers at most 65535")]
    KeyTooLong { offset: usize, len: usize },
    #[error("user ID at offset {offset:#x} is {len} bytes long, over the maximum of {max}")]
    UserIdTooLong { offset: usize, len: usize, max: usize },
    #[error("MPI at offset {offset:#x} declares {declared} bits but its value has {actual}")]
    MpiBitCount {
        offset: usize,
        declared: u16,
        actual: usize,
    },
    #[error("subpacket at offset {offset:#x} has length 0; a subpacket contains at least its type octet")]
    EmptySubpacket { offset: usize },
    #[error("invalid ASCII armor: {0}")]
    Armor(#[from] ArmorError),
}

/// Error from removing ASCII armor.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ArmorError {
    #[error("no '-----BEGIN PGP ...-----' line found")]
    MissingBeginLine,
    #[error("armor label '{label}' is not supported; expected PGP PUBLIC KEY BLOCK or PGP SIGNATURE")]
    UnsupportedLabel { label: String },
    #[error("armored data of type {found} was given where {expected} is expected")]
    WrongLabel {
        expected: &'static str,
        found: &'static str,
    },
    #[error("no '-----END {label}-----' line found")]
    MissingEndLine { label: &'static str },
    #[error("line {line} is not valid base64")]
    InvalidBase64 { line: usize },
    #[error("the checksum on line {line} is not '=' followed by 4 base64 characters")]
    InvalidChecksum { line: usize },
    #[error("CRC-24 checksum {expected:06X} does not match the data's {actual:06X}; the armored text is damaged")]
    ChecksumMismatch { expected: u32, actual: u32 },
}

/// Error from building a key or signature.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum BuildError {
    #[error("the RSA {field} is zero")]
    ZeroMpi { field: &'static str },
    #[error("the RSA {field} has {bits} bits; an OpenPGP MPI holds at most 65535")]
    MpiTooLong { field: &'static str, bits: usize },
    #[error("the public-key packet is {len} bytes long; a version 4 fingerprint covers at most 65535")]
    KeyTooLong { len: usize },
    #[error("the public key is not RSA, so it cannot sign through an RSA signer")]
    NotRsa,
    #[error("the signer's key is not the key with fingerprint {fingerprint}")]
    SignerKeyMismatch { fingerprint: Fingerprint },
    #[error("the signer's public key cannot be read: {0}")]
    SignerPublicKey(#[source] RsaKeyError),
    #[error(transparent)]
    Signer(#[from] SignerError),
}

/// Error from checking a user ID.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UserIdError {
    #[error("the user ID is empty")]
    Empty,
    #[error("the user ID is {len} bytes long, over the maximum of {max}")]
    TooLong { len: usize, max: usize },
    #[error("the user ID contains control character {character:?}")]
    ControlCharacter { character: char },
}

/// Error from reading a fingerprint in text form.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FingerprintError {
    #[error("a fingerprint is 40 hexadecimal digits, got {len} characters")]
    Length { len: usize },
    #[error("a fingerprint contains only hexadecimal digits (0-9, A-F)")]
    NotHex,
}
