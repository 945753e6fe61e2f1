//! OpenPGP (RFC 4880) for RSA signing keys, as GnuPG 2.2 writes it and as
//! GRUB's `pgp` module reads it.
//!
//! - [`PublicKey`]: a version 4 public-key packet (§5.5.2), with its
//!   fingerprint and key ID (§12.2).
//! - [`TransferablePublicKey`]: a key with its user IDs and signatures
//!   (§11.1), built with a self-certification or read from `gpg --export`.
//! - [`sign_binary_document`] and [`DocumentHasher`]: detached version 4
//!   signatures of type 0x00 over binary data (§5.2), byte for byte what
//!   `gpg --detach-sign` writes for the same key, hash and time.
//! - [`armor`] and [`dearmor`]: ASCII armor with its CRC-24 (§6).
//! - [`PacketReader`]: bounded packet framing (§4.2) for code that reads
//!   other OpenPGP data.
//!
//! Every packet is written with an old-format header, as GnuPG does. GRUB
//! 2.06 decodes new-format two-octet lengths without adding 192, so a key
//! written with new-format headers fails in GRUB with "bad signature".
//!
//! Private keys stay behind [`Signer`](crate::Signer); creation times are
//! parameters in Unix seconds.

mod armor;
mod error;
mod key;
mod mpi;
mod packet;
mod reader;
mod signature;
#[cfg(test)]
mod test_support;
mod transferable;

pub use armor::{armor, dearmor, ArmorKind};
pub use error::{ArmorError, BuildError, FingerprintError, ParseError, UserIdError};
pub use key::{Fingerprint, KeyId, PublicKey, PublicKeyAlgorithm, FINGERPRINT_LEN, KEY_ID_LEN, KEY_VERSION_4};
pub use packet::{HeaderFormat, Packet, PacketReader, Tag, MAX_PACKET_BODY_LEN};
pub use signature::{
    sign_binary_document, DocumentHasher, HashAlgorithmId, Signature, SignatureType, Subpacket, SubpacketType,
    SIGNATURE_VERSION_4,
};
pub use transferable::{SubkeyBinding, TransferablePublicKey, UserId, UserIdBinding, MAX_USER_ID_LEN};
