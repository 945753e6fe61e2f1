//! Signing an AHAB version 1 container in place, as CST does for
//! `[Header] Target = AHAB`. The container's signature block gets the SRK
//! table and the signature, and the header gets the SRK flags and its new
//! length. The rest of the image is unchanged.
//!
//! ```text
//! container header (16 bytes)
//!   00 | length u16 | 87              version, length of header, images, signature block
//!   flags u32                         bits 0-1 SRK set, 4-5 SRK index, 8-11 revoke mask
//!   sw_version u16 | fuse_version u8 | number of images u8
//!   signature block offset u16 | reserved u16
//! image array (128 bytes per image)   offset u32 (from the container start), size u32, ...
//! signature block
//!   00 | length u16 | 90
//!   certificate, SRK table, signature, blob offsets u16 (from the block start, 0 = absent)
//!   key identifier u32
//!   SRK table, signature              each at an 8-byte aligned offset
//! signature
//!   00 | length u16 | D8 | 00 00 00 00 | RSA signature (modulus length, big-endian)
//! ```
//!
//! The signature covers the container from its first byte up to the
//! signature structure: header, image array, signature block header, SRK
//! table and alignment padding. All fields are little-endian.

use super::srk::{read_u16_le, AhabSrkTable};
use crate::hab::csf_text::SrkSet;
use crate::signer::{Signer, SignerError};

/// Tag of a version 1 container header.
pub const CONTAINER_TAG: u8 = 0x87;

/// Version byte of a version 1 container header.
pub const CONTAINER_VERSION: u8 = 0x00;

/// Size of the container header.
pub const CONTAINER_HEADER_LEN: usize = 16;

/// Size of one image array entry.
pub const IMAGE_ENTRY_LEN: usize = 128;

/// Tag of the signature block.
pub const SIGNATURE_BLOCK_TAG: u8 = 0x90;

/// Size of the signature block header, offsets and key identifier.
pub const SIGNATURE_BLOCK_HEADER_LEN: usize = 16;

/// Tag of the signature structure.
pub const SIGNATURE_TAG: u8 = 0xd8;

/// Size of the signature structure header.
pub const SIGNATURE_HEADER_LEN: usize = 8;

/// Alignment of the structures in a signature block.
pub const CONTAINER_ALIGN: usize = 8;

/// Offsets in the container header.
const HEADER_LENGTH_OFFSET: usize = 1;
const HEADER_TAG_OFFSET: usize = 3;
const HEADER_FLAGS_OFFSET: usize = 4;
const HEADER_IMAGE_COUNT_OFFSET: usize = 11;
const HEADER_SIGNATURE_BLOCK_OFFSET: usize = 12;

/// Container flag fields.
pub const FLAGS_SRK_SET_MASK: u32 = 0x0000_0003;
pub const FLAGS_SRK_SET_NXP: u32 = 0x1;
pub const FLAGS_SRK_SET_OEM: u32 = 0x2;
pub const FLAGS_SRK_INDEX_SHIFT: u32 = 4;
pub const FLAGS_SRK_INDEX_MASK: u32 = 0x0000_0030;
pub const FLAGS_REVOKE_MASK_SHIFT: u32 = 8;
pub const FLAGS_REVOKE_MASK: u32 = 0x0000_0f00;

/// Offsets in the signature block header.
const BLOCK_CERTIFICATE_OFFSET: usize = 4;
const BLOCK_SRK_TABLE_OFFSET: usize = 6;
const BLOCK_SIGNATURE_OFFSET: usize = 8;
const BLOCK_BLOB_OFFSET: usize = 10;

/// Parameters for signing one container.
pub struct ContainerSigning<'a> {
    /// Offset of the container header in the image.
    pub container_offset: u32,
    /// Offset of the signature block from the container start, which must
    /// equal the header's field.
    pub signature_block_offset: u32,
    pub srk_table: &'a AhabSrkTable,
    /// Index of the signing SRK in the table, 0 to 3.
    pub srk_index: u8,
    pub srk_set: SrkSet,
    /// SRKs to revoke, one bit each.
    pub revocations: u8,
    /// Private key of SRK `srk_index`.
    pub signer: &'a dyn Signer,
}

/// Errors of signing a container.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ContainerError {
    #[error("the container header at offset {offset:#x} lies beyond the {image_len:#x}-byte image")]
    HeaderOutsideImage { offset: u32, image_len: usize },
    #[error("no AHAB container at offset {offset:#x}: expected tag {CONTAINER_TAG:#04x} version {CONTAINER_VERSION:#04x}, found tag {tag:#04x} version {version:#04x}")]
    NotAContainer { offset: u32, tag: u8, version: u8 },
    #[error("the signature block offset {given:#x} does not match the container header's {header:#x}")]
    SignatureBlockOffset { given: u32, header: usize },
    #[error("the signature block offset {offset:#x} must be 8-byte aligned and follow the {images} image entries")]
    SignatureBlockPlacement { offset: usize, images: usize },
    #[error(
        "no signature block at container offset {offset:#x}: expected tag {SIGNATURE_BLOCK_TAG:#04x}, found {tag:#04x}"
    )]
    NotASignatureBlock { offset: usize, tag: u8 },
    #[error("the signature block already holds a certificate or a blob, which signing in place would drop")]
    SignatureBlockInUse,
    #[error("the signed signature block needs {needed:#x} bytes but only {available:#x} are free before the first image or the end of the file")]
    NoRoom { needed: usize, available: usize },
    #[error("SRK index {index} is outside 0 to 3")]
    SrkIndex { index: u8 },
    #[error("revocation mask {mask:#x} has bits beyond the four SRKs")]
    Revocations { mask: u8 },
    #[error("the signing key is not SRK {index} of the SRK table")]
    SignerMismatch { index: u8 },
    #[error("the signature is {actual} bytes, but SRK {index} needs {expected}")]
    SignatureLength { index: u8, expected: usize, actual: usize },
    #[error(transparent)]
    Signer(#[from] SignerError),
}

/// Signs the container described by `signing` in `image` and returns the
/// whole image with the signature block filled in.
pub fn sign_container(image: &[u8], signing: &ContainerSigning<'_>) -> Result<Vec<u8>, ContainerError> {
    let record = signing
        .srk_table
        .records()
        .get(usize::from(signing.srk_index))
        .ok_or(ContainerError::SrkIndex {
            index: signing.srk_index,
        })?;
    if signing.revocations > 0x0f {
        return Err(ContainerError::Revocations {
            mask: signing.revocations,
        });
    }
    let signer_key = crate::rsa_key::RsaPublicKey::from_spki_der(signing.signer.public_key_der()).ok();
    if signer_key.as_ref() != Some(&record.key) {
        return Err(ContainerError::SignerMismatch {
            index: signing.srk_index,
        });
    }

    let layout = Layout::read(image, signing)?;
    let srk_table = signing.srk_table.to_bytes();
    let srk_table_offset = SIGNATURE_BLOCK_HEADER_LEN;
    let signature_offset = (srk_table_offset + srk_table.len()).next_multiple_of(CONTAINER_ALIGN);
    let signature_len = SIGNATURE_HEADER_LEN + signing.signer.modulus_len();
    let block_len = signature_offset + signature_len;
    layout.check_room(block_len)?;

    let mut signed = image.to_vec();
    let container = layout.container_start;
    let block = container + layout.signature_block_offset;
    fill_zero(&mut signed, block, layout.cleared_len(block_len));

    let container_len = layout.signature_block_offset + block_len;
    write_header(&mut signed, container, signing, container_len);
    write_block_header(&mut signed, block, block_len, srk_table_offset, signature_offset);
    write_bytes(&mut signed, block + srk_table_offset, &srk_table);
    let [length_low, length_high] = u16_bytes(signature_len);
    let signature_header = [0, length_low, length_high, SIGNATURE_TAG, 0, 0, 0, 0];
    write_bytes(&mut signed, block + signature_offset, &signature_header);

    let signed_end = block + signature_offset;
    let digest = record
        .hash
        .digest(signed.get(container..signed_end).unwrap_or_default());
    let signature = signing.signer.sign_digest(record.hash, &digest)?;
    let expected = record.key.modulus.len();
    if signature.len() != expected || signature.len() != signing.signer.modulus_len() {
        return Err(ContainerError::SignatureLength {
            index: signing.srk_index,
            expected,
            actual: signature.len(),
        });
    }
    write_bytes(&mut signed, signed_end + SIGNATURE_HEADER_LEN, &signature);
    Ok(signed)
}

/// The checked positions of a container in the image.
struct Layout {
    /// Offset of the container in the image.
    container_start: usize,
    /// Offset of the signature block from the container start.
    signature_block_offset: usize,
    /// Length of the signature block before signing.
    old_block_len: usize,
    /// Bytes from the signature block start to the first image or the end
    /// of the file, whichever comes first.
    room: usize,
}

impl Layout {
    fn read(image: &[u8], signing: &ContainerSigning<'_>) -> Result<Self, ContainerError> {
        let container_start = usize::try_from(signing.container_offset).unwrap_or(usize::MAX);
        let header = container_start
            .checked_add(CONTAINER_HEADER_LEN)
            .and_then(|end| image.get(container_start..end))
            .ok_or(ContainerError::HeaderOutsideImage {
                offset: signing.container_offset,
                image_len: image.len(),
            })?;
        let tag = byte(header, HEADER_TAG_OFFSET);
        let version = byte(header, 0);
        if tag != CONTAINER_TAG || version != CONTAINER_VERSION {
            return Err(ContainerError::NotAContainer {
                offset: signing.container_offset,
                tag,
                version,
            });
        }

        let signature_block_offset = read_u16_le(header, HEADER_SIGNATURE_BLOCK_OFFSET);
        if usize::try_from(signing.signature_block_offset).ok() != Some(signature_block_offset) {
            return Err(ContainerError::SignatureBlockOffset {
                given: signing.signature_block_offset,
                header: signature_block_offset,
            });
        }
        let images = usize::from(byte(header, HEADER_IMAGE_COUNT_OFFSET));
        let array_end = CONTAINER_HEADER_LEN + images * IMAGE_ENTRY_LEN;
        if signature_block_offset < array_end || !signature_block_offset.is_multiple_of(CONTAINER_ALIGN) {
            return Err(ContainerError::SignatureBlockPlacement {
                offset: signature_block_offset,
                images,
            });
        }

        let block_start = container_start + signature_block_offset;
        let block_header = image
            .get(block_start..)
            .and_then(|rest| rest.get(..SIGNATURE_BLOCK_HEADER_LEN))
            .ok_or(ContainerError::NoRoom {
                needed: SIGNATURE_BLOCK_HEADER_LEN,
                available: image.len().saturating_sub(block_start),
            })?;
        if byte(block_header, HEADER_TAG_OFFSET) != SIGNATURE_BLOCK_TAG {
            return Err(ContainerError::NotASignatureBlock {
                offset: signature_block_offset,
                tag: byte(block_header, HEADER_TAG_OFFSET),
            });
        }
        if read_u16_le(block_header, BLOCK_CERTIFICATE_OFFSET) != 0 || read_u16_le(block_header, BLOCK_BLOB_OFFSET) != 0
        {
            return Err(ContainerError::SignatureBlockInUse);
        }

        let first_image = first_image_offset(image, container_start, images);
        let limit = first_image
            .map_or(image.len(), |offset| offset.min(image.len()))
            .max(block_start);
        Ok(Self {
            container_start,
            signature_block_offset,
            old_block_len: read_u16_le(block_header, HEADER_LENGTH_OFFSET),
            room: limit - block_start,
        })
    }

    fn check_room(&self, block_len: usize) -> Result<(), ContainerError> {
        let needed = self.signature_block_offset + block_len;
        if block_len > self.room || needed > usize::from(u16::MAX) {
            return Err(ContainerError::NoRoom {
                needed: block_len,
                available: self.room,
            });
        }
        Ok(())
    }

    /// Bytes to clear before writing the new block: the larger of the old
    /// and new blocks, but never past the first image.
    fn cleared_len(&self, block_len: usize) -> usize {
        self.old_block_len.max(block_len).min(self.room)
    }
}

/// Returns the smallest image offset (from the image start) among images
/// with data; an image entry beyond the file counts as absent.
fn first_image_offset(image: &[u8], container_start: usize, images: usize) -> Option<usize> {
    (0..images)
        .filter_map(|index| {
            let entry = container_start + CONTAINER_HEADER_LEN + index * IMAGE_ENTRY_LEN;
            let fields = image.get(entry..)?.get(..8)?;
            let offset = usize::try_from(read_u32_le(fields, 0)).unwrap_or(usize::MAX);
            let size = read_u32_le(fields, 4);
            (size != 0).then(|| container_start.saturating_add(offset))
        })
        .min()
}

fn write_header(image: &mut [u8], container: usize, signing: &ContainerSigning<'_>, container_len: usize) {
    let flags_at = container + HEADER_FLAGS_OFFSET;
    let old_flags = image.get(flags_at..).map_or(0, |bytes| read_u32_le(bytes, 0));
    let srk_set = match signing.srk_set {
        SrkSet::Nxp => FLAGS_SRK_SET_NXP,
        SrkSet::Oem => FLAGS_SRK_SET_OEM,
    };
    let flags = (old_flags & !(FLAGS_SRK_SET_MASK | FLAGS_SRK_INDEX_MASK | FLAGS_REVOKE_MASK))
        | srk_set
        | (u32::from(signing.srk_index) << FLAGS_SRK_INDEX_SHIFT)
        | (u32::from(signing.revocations) << FLAGS_REVOKE_MASK_SHIFT);

    write_bytes(image, container + HEADER_LENGTH_OFFSET, &u16_bytes(container_len));
    write_bytes(image, flags_at, &flags.to_le_bytes());
}

fn write_block_header(
    image: &mut [u8],
    block: usize,
    block_len: usize,
    srk_table_offset: usize,
    signature_offset: usize,
) {
    let mut header = [0u8; SIGNATURE_BLOCK_HEADER_LEN];
    header[HEADER_TAG_OFFSET] = SIGNATURE_BLOCK_TAG;
    header[HEADER_LENGTH_OFFSET..HEADER_LENGTH_OFFSET + 2].copy_from_slice(&u16_bytes(block_len));
    header[BLOCK_SRK_TABLE_OFFSET..BLOCK_SRK_TABLE_OFFSET + 2].copy_from_slice(&u16_bytes(srk_table_offset));
    header[BLOCK_SIGNATURE_OFFSET..BLOCK_SIGNATURE_OFFSET + 2].copy_from_slice(&u16_bytes(signature_offset));
    write_bytes(image, block, &header);
}

/// Copies `bytes` into `image` at `offset`; callers checked the room.
fn write_bytes(image: &mut [u8], offset: usize, bytes: &[u8]) {
    if let Some(target) = image.get_mut(offset..offset + bytes.len()) {
        target.copy_from_slice(bytes);
    }
}

fn fill_zero(image: &mut [u8], offset: usize, len: usize) {
    if let Some(target) = image.get_mut(offset..offset + len) {
        target.fill(0);
    }
}

fn byte(bytes: &[u8], offset: usize) -> u8 {
    bytes.get(offset).copied().unwrap_or_default()
}

fn read_u32_le(bytes: &[u8], offset: usize) -> u32 {
    let mut word = [0u8; 4];
    if let Some(source) = bytes.get(offset..offset + 4) {
        word.copy_from_slice(source);
    }
    u32::from_le_bytes(word)
}

/// Little-endian bytes of a length that `check_room` bounded to 16 bits.
fn u16_bytes(len: usize) -> [u8; 2] {
    u16::try_from(len).unwrap_or(u16::MAX).to_le_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ahab::srk::AhabSrkRecord;
    use crate::rsa_key::RsaPublicKey;
    use crate::signer::HashAlgorithm;

    /// A stand-in SRK key: correct public key, constant signature bytes.
    struct FakeSrk {
        spki: Vec<u8>,
    }

    impl Signer for FakeSrk {
        fn public_key_der(&self) -> &[u8] {
            &self.spki
        }

        fn modulus_len(&self) -> usize {
            256
        }

        fn sign_pkcs1_raw(&self, _data: &[u8]) -> Result<Vec<u8>, SignerError> {
            Ok(vec![0x5a; 256])
        }
    }

    fn key() -> RsaPublicKey {
        let mut modulus = vec![0xc3; 256];
        modulus[255] = 0x01;
        RsaPublicKey {
            modulus,
            public_exponent: vec![0x01, 0x00, 0x01],
        }
    }

    fn table() -> AhabSrkTable {
        let record = AhabSrkRecord {
            hash: HashAlgorithm::Sha512,
            ca: true,
            key: key(),
        };
        let bytes = {
            let mut out = vec![0xd7, 0x40, 0x04, 0x42];
            for _ in 0..4 {
                out.extend(record.to_bytes());
            }
            out
        };
        AhabSrkTable::parse(&bytes).unwrap()
    }

    /// Builds an unsigned container with one image at 0x2000, as
    /// `nxpimage ahab export` writes it with `srk_set: none`.
    fn unsigned_image() -> Vec<u8> {
        let mut image = vec![0u8; 0x2000 + 0x100];
        image[..16].copy_from_slice(&[0x00, 0xa0, 0x00, 0x87, 0, 0, 0, 0, 0, 0, 0, 0x01, 0x90, 0x00, 0, 0]);
        image[16..24].copy_from_slice(&[0x00, 0x20, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00]);
        image[0x90..0x94].copy_from_slice(&[0x00, 0x10, 0x00, 0x90]);
        image
    }

    fn sign(image: &[u8], container_offset: u32, signature_block_offset: u32) -> Result<Vec<u8>, ContainerError> {
        let table = table();
        let signer = FakeSrk {
            spki: key().to_spki_der().unwrap(),
        };
        let signing = ContainerSigning {
            container_offset,
            signature_block_offset,
            srk_table: &table,
            srk_index: 0,
            srk_set: SrkSet::Oem,
            revocations: 0,
            signer: &signer,
        };
        sign_container(image, &signing)
    }

    #[test]
    fn fills_signature_block() {
        let signed = sign(&unsigned_image(), 0, 0x90).unwrap();
        assert_eq!(&signed[..8], &[0x00, 0xe8, 0x05, 0x87, 0x02, 0, 0, 0]);
        assert_eq!(
            &signed[0x90..0xa0],
            &[0x00, 0x58, 0x05, 0x90, 0, 0, 0x10, 0, 0x50, 0x04, 0, 0, 0, 0, 0, 0]
        );
        assert_eq!(&signed[0xa0..0xa4], &[0xd7, 0x40, 0x04, 0x42]);
        assert_eq!(&signed[0x4e0..0x4e8], &[0x00, 0x08, 0x01, 0xd8, 0, 0, 0, 0]);
        assert_eq!(signed[0x4e8], 0x5a);
        assert_eq!(signed.len(), unsigned_image().len());
    }

    #[test]
    fn rejects_truncated_image() {
        let image = unsigned_image();
        for len in [0, 15, 0x90, 0x9f] {
            assert!(sign(&image[..len], 0, 0x90).is_err(), "length {len}");
        }
    }

    #[test]
    fn rejects_container_offset_past_end() {
        assert!(matches!(
            sign(&unsigned_image(), u32::MAX, 0x90),
            Err(ContainerError::HeaderOutsideImage { .. })
        ));
    }

    #[test]
    fn rejects_wrong_tag() {
        let mut image = unsigned_image();
        image[3] = 0x82;
        assert!(matches!(
            sign(&image, 0, 0x90),
            Err(ContainerError::NotAContainer { tag: 0x82, .. })
        ));
    }

    #[test]
    fn rejects_mismatched_block_offset() {
        assert!(matches!(
            sign(&unsigned_image(), 0, 0xa0),
            Err(ContainerError::SignatureBlockOffset { .. })
        ));
    }

    #[test]
    fn rejects_block_inside_image_array() {
        let mut image = unsigned_image();
        image[11] = 2;
        assert!(matches!(
            sign(&image, 0, 0x90),
            Err(ContainerError::SignatureBlockPlacement { .. })
        ));
    }

    #[test]
    fn rejects_block_overlapping_image() {
        let mut image = unsigned_image();
        image[16..20].copy_from_slice(&0x400u32.to_le_bytes());
        assert!(matches!(sign(&image, 0, 0x90), Err(ContainerError::NoRoom { .. })));
    }

    #[test]
    fn rejects_block_with_blob() {
        let mut image = unsigned_image();
        image[0x90 + 10] = 0x10;
        assert!(matches!(
            sign(&image, 0, 0x90),
            Err(ContainerError::SignatureBlockInUse)
        ));
    }
}
