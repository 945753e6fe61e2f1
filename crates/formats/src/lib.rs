//! Byte codecs for the signature formats balena-sign emits.
//!
//! Every module here turns typed values into bytes and back, with no I/O, no
//! clock and no private key: signatures come from a [`Signer`], and times and
//! serial numbers are parameters, so tests can pin them and compare the output
//! byte for byte with the reference tools.

#![forbid(unsafe_code)]
#![deny(clippy::indexing_slicing)]

pub mod ahab;
pub mod efi;
pub mod gnupg;
pub mod hab;
pub mod kmod;
mod le;
pub mod openpgp;
pub mod pe;
pub mod pkcs1;
pub mod pkcs7;
pub mod rpi_eeprom;
pub mod rsa_key;
pub mod signer;
#[cfg(test)]
mod test_support;
pub mod x509;

pub use signer::{HashAlgorithm, Signer, SignerError};
