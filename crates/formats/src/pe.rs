//! PE/COFF images and their Authenticode signatures, as UEFI firmware and
//! shim check them before running an EFI binary.

pub mod authenticode;
pub mod image;

pub use authenticode::{image_hash, sign_image, AuthenticodeError};
pub use image::{PeError, PeImage};
