//! Fixtures for unit tests: a signer that returns a fixed byte pattern, and a
//! structurally valid certificate for its public key. Nothing here verifies;
//! the conformance tests check real signatures with the reference tools.

use x509_cert::name::Name;

use crate::rsa_key::RsaPublicKey;
use crate::signer::{Signer, SignerError};
use crate::x509::{self_signed_certificate, CertificateParams};

/// Modulus length of the fake key, in bytes.
pub(crate) const MODULUS_LEN: usize = 256;

/// A `Signer` whose "signature" is `MODULUS_LEN` copies of one byte.
pub(crate) struct FakeSigner {
    spki_der: Vec<u8>,
    fill: u8,
}

impl FakeSigner {
    pub(crate) fn new(fill: u8) -> Self {
        let mut modulus = vec![0xc5; MODULUS_LEN];
        modulus[MODULUS_LEN - 1] = fill | 1;
        let key = RsaPublicKey {
            modulus,
            public_exponent: vec![0x01, 0x00, 0x01],
        };
        Self {
            spki_der: key.to_spki_der().unwrap(),
            fill,
        }
    }

    /// Makes a self-signed certificate for this key with subject
    /// `CN=<common_name>`.
    pub(crate) fn certificate(&self, common_name: &str) -> Vec<u8> {
        let params = CertificateParams {
            subject: format!("CN={common_name}").parse::<Name>().unwrap(),
            serial: [0x11; crate::x509::SERIAL_LEN],
            not_before: 1_700_000_000,
            not_after: 1_900_000_000,
        };
        self_signed_certificate(&params, self).unwrap()
    }
}

impl Signer for FakeSigner {
    fn public_key_der(&self) -> &[u8] {
        &self.spki_der
    }

    fn modulus_len(&self) -> usize {
        MODULUS_LEN
    }

    fn sign_pkcs1_raw(&self, _data: &[u8]) -> Result<Vec<u8>, SignerError> {
        Ok(vec![self.fill; MODULUS_LEN])
    }
}

/// Offsets in the images that [`pe_image`] builds.
pub(crate) mod pe_layout {
    pub(crate) const E_LFANEW: usize = 0x40;
    pub(crate) const COFF: usize = E_LFANEW + 4;
    pub(crate) const OPTIONAL: usize = COFF + 0x14;
    pub(crate) const SIZE_OF_HEADERS: usize = 0x200;
    pub(crate) const FILE_ALIGNMENT: usize = 0x200;
}

/// Builds a minimal PE32 or PE32+ EFI application with sections of the given
/// raw sizes (each rounded up to 0x200 and filled with a byte pattern),
/// followed by `trailing` bytes that belong to no section.
pub(crate) fn pe_image(pe32_plus: bool, section_sizes: &[usize], trailing: usize) -> Vec<u8> {
    use pe_layout::*;

    let (magic, size_of_optional_header, data_directory): (u16, usize, usize) = if pe32_plus {
        (0x20b, 0xf0, 0x70)
    } else {
        (0x10b, 0xe0, 0x60)
    };
    let section_table = OPTIONAL + size_of_optional_header;
    assert!(section_table + 0x28 * section_sizes.len() <= SIZE_OF_HEADERS);

    let mut image = vec![0u8; SIZE_OF_HEADERS];
    image[..2].copy_from_slice(b"MZ");
    image[0x3c..0x40].copy_from_slice(&(E_LFANEW as u32).to_le_bytes());
    image[E_LFANEW..E_LFANEW + 4].copy_from_slice(b"PE\0\0");
    let machine: u16 = if pe32_plus { 0x8664 } else { 0x014c };
    image[COFF..COFF + 2].copy_from_slice(&machine.to_le_bytes());
    image[COFF + 2..COFF + 4].copy_from_slice(&(section_sizes.len() as u16).to_le_bytes());
    image[COFF + 0x10..COFF + 0x12].copy_from_slice(&(size_of_optional_header as u16).to_le_bytes());
    image[COFF + 0x12..COFF + 0x14].copy_from_slice(&0x0206u16.to_le_bytes());

    let optional = &mut image[OPTIONAL..OPTIONAL + size_of_optional_header];
    optional[..2].copy_from_slice(&magic.to_le_bytes());
    optional[0x20..0x24].copy_from_slice(&0x1000u32.to_le_bytes()); // SectionAlignment
    optional[0x24..0x28].copy_from_slice(&(FILE_ALIGNMENT as u32).to_le_bytes());
    optional[0x3c..0x40].copy_from_slice(&(SIZE_OF_HEADERS as u32).to_le_bytes());
    optional[0x44..0x46].copy_from_slice(&10u16.to_le_bytes()); // Subsystem: EFI application
    let count_offset = data_directory - 4;
    optional[count_offset..data_directory].copy_from_slice(&16u32.to_le_bytes());

    let mut virtual_address = 0x1000u32;
    for (index, &size) in section_sizes.iter().enumerate() {
        let raw_size = size.div_ceil(FILE_ALIGNMENT) * FILE_ALIGNMENT;
        let pointer = image.len();
        let header = section_table + 0x28 * index;
        image[header..header + 8].copy_from_slice(format!(".sec{index}\0\0\0").as_bytes());
        image[header + 0x08..header + 0x0c].copy_from_slice(&(raw_size as u32).to_le_bytes());
        image[header + 0x0c..header + 0x10].copy_from_slice(&virtual_address.to_le_bytes());
        image[header + 0x10..header + 0x14].copy_from_slice(&(raw_size as u32).to_le_bytes());
        image[header + 0x14..header + 0x18].copy_from_slice(&(pointer as u32).to_le_bytes());
        image[header + 0x24..header + 0x28].copy_from_slice(&0x6000_0020u32.to_le_bytes());
        image.extend((0..raw_size).map(|offset| (offset * 7 + index * 13) as u8));
        virtual_address += raw_size.div_ceil(0x1000) as u32 * 0x1000;
    }

    image.extend((0..trailing).map(|offset| (offset % 251) as u8));
    image
}
