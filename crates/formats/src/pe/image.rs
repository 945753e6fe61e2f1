//! The parts of a PE/COFF image that Authenticode reads and writes, from
//! Microsoft's "PE Format" specification. These are the MS-DOS header's
//! `e_lfanew`, the PE signature and the COFF file header. In the optional
//! header, they are `CheckSum`, `SizeOfHeaders` and data directory entry 4
//! (the Certificate Table). Then come the section table, and the Attribute
//! Certificate Table at the end of the file.
//!
//! ```text
//! typedef struct _WIN_CERTIFICATE {
//!   DWORD dwLength;          // header and bCertificate, without padding
//!   WORD  wRevision;         // WIN_CERT_REVISION_2_0
//!   WORD  wCertificateType;  // WIN_CERT_TYPE_PKCS_SIGNED_DATA
//!   BYTE  bCertificate[ANYSIZE_ARRAY];
//! } WIN_CERTIFICATE;         // each entry starts on an 8-byte boundary
//! ```
//!
//! Every offset and size comes from untrusted input, so each is checked
//! against the file length before use, and errors name the field.

use std::ops::Range;

use crate::le;

/// Size of the MS-DOS header (`IMAGE_DOS_HEADER`).
const DOS_HEADER_LEN: usize = 0x40;

/// `e_magic` of the MS-DOS header: "MZ".
pub const IMAGE_DOS_SIGNATURE: u16 = 0x5a4d;

/// Offset of `e_lfanew`, the file offset of the PE signature.
const E_LFANEW_OFFSET: usize = 0x3c;

/// The PE signature, "PE\0\0".
pub const IMAGE_NT_SIGNATURE: [u8; 4] = *b"PE\0\0";

/// Size of the COFF file header that follows the PE signature.
const COFF_FILE_HEADER_LEN: usize = 0x14;

/// Offset of `NumberOfSections` in the COFF file header.
const NUMBER_OF_SECTIONS_OFFSET: usize = 0x02;

/// Offset of `SizeOfOptionalHeader` in the COFF file header.
const SIZE_OF_OPTIONAL_HEADER_OFFSET: usize = 0x10;

/// Optional header `Magic` of a PE32 image.
pub const IMAGE_NT_OPTIONAL_HDR32_MAGIC: u16 = 0x10b;

/// Optional header `Magic` of a PE32+ image.
pub const IMAGE_NT_OPTIONAL_HDR64_MAGIC: u16 = 0x20b;

/// Offset of `SizeOfHeaders` in the optional header (PE32 and PE32+).
const SIZE_OF_HEADERS_OFFSET: usize = 0x3c;

/// Offset of `CheckSum` in the optional header (PE32 and PE32+).
const CHECKSUM_OFFSET: usize = 0x40;

/// Size of the `CheckSum` field.
pub const CHECKSUM_LEN: usize = 4;

/// Offsets of `NumberOfRvaAndSizes` in the PE32 and PE32+ optional headers.
const NUMBER_OF_RVA_AND_SIZES_OFFSET_PE32: usize = 0x5c;
const NUMBER_OF_RVA_AND_SIZES_OFFSET_PE32_PLUS: usize = 0x6c;

/// Offsets of the first data directory in the PE32 and PE32+ optional headers.
const DATA_DIRECTORY_OFFSET_PE32: usize = 0x60;
const DATA_DIRECTORY_OFFSET_PE32_PLUS: usize = 0x70;

/// Size of one data directory entry (`VirtualAddress`, `Size`).
pub const DATA_DIRECTORY_ENTRY_LEN: usize = 8;

/// Index of the Certificate Table in the data directories. Its
/// `VirtualAddress` is a file offset, not an RVA.
pub const IMAGE_DIRECTORY_ENTRY_SECURITY: usize = 4;

/// Size of one section table entry (`IMAGE_SECTION_HEADER`).
const SECTION_HEADER_LEN: usize = 0x28;

/// Size of the section `Name` field.
const SECTION_NAME_LEN: usize = 8;

/// Offsets of `SizeOfRawData` and `PointerToRawData` in a section header.
const SIZE_OF_RAW_DATA_OFFSET: usize = 0x10;
const POINTER_TO_RAW_DATA_OFFSET: usize = 0x14;

/// Size of the `WIN_CERTIFICATE` header before `bCertificate`.
pub const WIN_CERTIFICATE_HEADER_LEN: usize = 8;

/// Alignment of the Certificate Table and of each entry in it.
pub const CERTIFICATE_ALIGNMENT: usize = 8;

/// Format of the optional header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OptionalHeaderKind {
    Pe32,
    Pe32Plus,
}

/// A validated view of a PE/COFF image.
#[derive(Clone, Debug)]
pub struct PeImage<'a> {
    data: &'a [u8],
    kind: OptionalHeaderKind,
    checksum_offset: usize,
    certificate_table_entry_offset: usize,
    size_of_headers: usize,
    sections: Vec<Range<usize>>,
    certificate_table: Option<Range<usize>>,
}

/// One entry of the Attribute Certificate Table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WinCertificate<'a> {
    /// File offset of the entry.
    pub offset: usize,
    pub w_revision: u16,
    pub w_certificate_type: u16,
    /// `bCertificate`, `dwLength - 8` bytes.
    pub certificate: &'a [u8],
}

/// Error from parsing a PE/COFF image for signing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PeError {
    #[error(
        "the file is too short for the {structure}: it needs {needed} bytes at offset {offset:#x}, but the file \
         has {file_len} bytes"
    )]
    Truncated {
        structure: &'static str,
        offset: usize,
        needed: usize,
        file_len: usize,
    },
    #[error("e_magic is {found:#06x}, expected 0x5a4d (\"MZ\"); the file is not a PE/COFF image")]
    DosMagic { found: u16 },
    #[error("there is no PE signature \"PE\\0\\0\" at e_lfanew {offset:#x}")]
    PeSignature { offset: usize },
    #[error("optional header Magic is {found:#06x}, expected 0x10b (PE32) or 0x20b (PE32+)")]
    OptionalHeaderMagic { found: u16 },
    #[error(
        "SizeOfOptionalHeader is {size_of_optional_header}, but the optional header needs {needed} bytes to reach \
         the Certificate Table entry"
    )]
    OptionalHeaderTooSmall {
        size_of_optional_header: u16,
        needed: usize,
    },
    #[error("NumberOfRvaAndSizes is {number_of_rva_and_sizes}, so the image has no Certificate Table entry (index 4)")]
    NoCertificateTableEntry { number_of_rva_and_sizes: u32 },
    #[error(
        "NumberOfRvaAndSizes {number_of_rva_and_sizes} data directories do not fit in SizeOfOptionalHeader \
         {size_of_optional_header}"
    )]
    DataDirectoriesPastOptionalHeader {
        number_of_rva_and_sizes: u32,
        size_of_optional_header: u16,
    },
    #[error("SizeOfHeaders {size_of_headers:#x} ends before the section table, which ends at {section_table_end:#x}")]
    SizeOfHeadersTooSmall {
        size_of_headers: usize,
        section_table_end: usize,
    },
    #[error("SizeOfHeaders {size_of_headers:#x} is past the end of the image data at {image_data_len:#x}")]
    SizeOfHeadersPastEnd {
        size_of_headers: usize,
        image_data_len: usize,
    },
    #[error(
        "section {index} ({name}) raw data {pointer_to_raw_data:#x}+{size_of_raw_data:#x} runs past the end of the \
         image data at {image_data_len:#x}"
    )]
    SectionPastEnd {
        index: usize,
        name: String,
        pointer_to_raw_data: u32,
        size_of_raw_data: u32,
        image_data_len: usize,
    },
    #[error(
        "section {index} ({name}) PointerToRawData {pointer_to_raw_data:#x} is inside the headers, which end at \
         SizeOfHeaders {size_of_headers:#x}"
    )]
    SectionInsideHeaders {
        index: usize,
        name: String,
        pointer_to_raw_data: u32,
        size_of_headers: usize,
    },
    #[error("the Certificate Table at {offset:#x} with Size {size:#x} runs past the end of the file at {file_len:#x}")]
    CertificateTablePastEnd { offset: u32, size: u32, file_len: usize },
    #[error(
        "the Certificate Table at {offset:#x} with Size {size:#x} ends before the end of the file at {file_len:#x}; \
         it must be the last thing in the file"
    )]
    CertificateTableNotAtEnd { offset: u32, size: u32, file_len: usize },
    #[error("the Certificate Table at {offset:#x} starts inside the headers, which end at {size_of_headers:#x}")]
    CertificateTableInsideHeaders { offset: u32, size_of_headers: usize },
    #[error("the Certificate Table at {offset:#x} with Size {size:#x} is not aligned to 8 bytes")]
    CertificateTableUnaligned { offset: u32, size: u32 },
    #[error(
        "WIN_CERTIFICATE at {offset:#x} has dwLength {dw_length}, which does not fit between 8 and the {remaining} \
         bytes left in the Certificate Table"
    )]
    WinCertificateLength {
        offset: usize,
        dw_length: u32,
        remaining: usize,
    },
}

impl<'a> PeImage<'a> {
    /// Parses and checks the headers, the section table and the Certificate
    /// Table of `data`.
    pub fn parse(data: &'a [u8]) -> Result<Self, PeError> {
        let pe_offset = read_dos_header(data)?;
        let coff_offset = pe_offset + IMAGE_NT_SIGNATURE.len();
        let optional_offset = coff_offset + COFF_FILE_HEADER_LEN;
        let number_of_sections = usize::from(field_u16(data, coff_offset + NUMBER_OF_SECTIONS_OFFSET)?);
        let size_of_optional_header = field_u16(data, coff_offset + SIZE_OF_OPTIONAL_HEADER_OFFSET)?;

        let optional = OptionalHeader::read(data, optional_offset, size_of_optional_header)?;

        let section_table_offset = optional_offset + usize::from(size_of_optional_header);
        let section_table_end = number_of_sections
            .checked_mul(SECTION_HEADER_LEN)
            .and_then(|len| len.checked_add(section_table_offset))
            .unwrap_or(usize::MAX);
        require(
            data,
            "section table",
            section_table_offset,
            section_table_end - section_table_offset,
        )?;
        if optional.size_of_headers < section_table_end {
            return Err(PeError::SizeOfHeadersTooSmall {
                size_of_headers: optional.size_of_headers,
                section_table_end,
            });
        }

        let certificate_table = read_certificate_table(data, &optional)?;
        let image_data_len = certificate_table.as_ref().map_or(data.len(), |table| table.start);
        if optional.size_of_headers > image_data_len {
            return Err(PeError::SizeOfHeadersPastEnd {
                size_of_headers: optional.size_of_headers,
                image_data_len,
            });
        }

        let sections = read_sections(
            data,
            section_table_offset,
            number_of_sections,
            optional.size_of_headers,
            image_data_len,
        )?;

        Ok(Self {
            data,
            kind: optional.kind,
            checksum_offset: optional.checksum_offset,
            certificate_table_entry_offset: optional.certificate_table_entry_offset,
            size_of_headers: optional.size_of_headers,
            sections,
            certificate_table,
        })
    }

    /// Returns the whole file.
    pub fn data(&self) -> &'a [u8] {
        self.data
    }

    pub fn kind(&self) -> OptionalHeaderKind {
        self.kind
    }

    /// File offset of the optional header's `CheckSum`.
    pub fn checksum_offset(&self) -> usize {
        self.checksum_offset
    }

    /// File offset of data directory entry 4, the Certificate Table's
    /// `VirtualAddress` (a file offset) and `Size`.
    pub fn certificate_table_entry_offset(&self) -> usize {
        self.certificate_table_entry_offset
    }

    /// `SizeOfHeaders`: headers and section table, rounded to FileAlignment.
    pub fn size_of_headers(&self) -> usize {
        self.size_of_headers
    }

    /// Raw data ranges of the sections whose `SizeOfRawData` is not zero,
    /// sorted by `PointerToRawData`.
    pub fn section_ranges(&self) -> &[Range<usize>] {
        &self.sections
    }

    /// Length of everything before the Certificate Table, or of the whole
    /// file when there is none.
    pub fn image_data_len(&self) -> usize {
        self.certificate_table
            .as_ref()
            .map_or(self.data.len(), |table| table.start)
    }

    /// Returns the Attribute Certificate Table, if the image is signed.
    pub fn certificate_table(&self) -> Option<&'a [u8]> {
        self.certificate_table.clone().and_then(|table| self.data.get(table))
    }

    /// Lists the entries of the Attribute Certificate Table, in file order.
    pub fn certificates(&self) -> Vec<WinCertificate<'a>> {
        let Some(table) = self.certificate_table.clone() else {
            return Vec::new();
        };
        let mut entries = Vec::new();
        let mut offset = table.start;
        while offset < table.end {
            let Some(entry) = WinCertificateHeader::read(self.data, offset) else {
                break;
            };
            entries.push(WinCertificate {
                offset,
                w_revision: entry.w_revision,
                w_certificate_type: entry.w_certificate_type,
                certificate: self
                    .data
                    .get(offset + WIN_CERTIFICATE_HEADER_LEN..offset + entry.len)
                    .unwrap_or_default(),
            });
            offset += align_up(entry.len);
        }
        entries
    }
}

/// The optional header fields that Authenticode needs, as file offsets and
/// values.
struct OptionalHeader {
    kind: OptionalHeaderKind,
    checksum_offset: usize,
    size_of_headers: usize,
    certificate_table_entry_offset: usize,
    certificate_table_offset: u32,
    certificate_table_size: u32,
}

impl OptionalHeader {
    fn read(data: &[u8], offset: usize, size_of_optional_header: u16) -> Result<Self, PeError> {
        let magic = field_u16(data, offset)?;
        let (kind, count_offset, directory_offset) = match magic {
            IMAGE_NT_OPTIONAL_HDR32_MAGIC => (
                OptionalHeaderKind::Pe32,
                NUMBER_OF_RVA_AND_SIZES_OFFSET_PE32,
                DATA_DIRECTORY_OFFSET_PE32,
            ),
            IMAGE_NT_OPTIONAL_HDR64_MAGIC => (
                OptionalHeaderKind::Pe32Plus,
                NUMBER_OF_RVA_AND_SIZES_OFFSET_PE32_PLUS,
                DATA_DIRECTORY_OFFSET_PE32_PLUS,
            ),
            found => return Err(PeError::OptionalHeaderMagic { found }),
        };

        let entry_in_header = directory_offset + IMAGE_DIRECTORY_ENTRY_SECURITY * DATA_DIRECTORY_ENTRY_LEN;
        let needed = entry_in_header + DATA_DIRECTORY_ENTRY_LEN;
        if usize::from(size_of_optional_header) < needed {
            return Err(PeError::OptionalHeaderTooSmall {
                size_of_optional_header,
                needed,
            });
        }
        require(data, "optional header", offset, usize::from(size_of_optional_header))?;

        let number_of_rva_and_sizes = field_u32(data, offset + count_offset)?;
        if le::usize_from(number_of_rva_and_sizes) <= IMAGE_DIRECTORY_ENTRY_SECURITY {
            return Err(PeError::NoCertificateTableEntry {
                number_of_rva_and_sizes,
            });
        }
        let directories_end = le::usize_from(number_of_rva_and_sizes)
            .checked_mul(DATA_DIRECTORY_ENTRY_LEN)
            .and_then(|len| len.checked_add(directory_offset));
        if directories_end.is_none_or(|end| end > usize::from(size_of_optional_header)) {
            return Err(PeError::DataDirectoriesPastOptionalHeader {
                number_of_rva_and_sizes,
                size_of_optional_header,
            });
        }

        let certificate_table_entry_offset = offset + entry_in_header;
        Ok(Self {
            kind,
            checksum_offset: offset + CHECKSUM_OFFSET,
            size_of_headers: le::usize_from(field_u32(data, offset + SIZE_OF_HEADERS_OFFSET)?),
            certificate_table_entry_offset,
            certificate_table_offset: field_u32(data, certificate_table_entry_offset)?,
            certificate_table_size: field_u32(data, certificate_table_entry_offset + 4)?,
        })
    }
}

/// Checks the MS-DOS header and the PE signature; returns `e_lfanew`.
fn read_dos_header(data: &[u8]) -> Result<usize, PeError> {
    require(data, "MS-DOS header", 0, DOS_HEADER_LEN)?;
    let e_magic = field_u16(data, 0)?;
    if e_magic != IMAGE_DOS_SIGNATURE {
        return Err(PeError::DosMagic { found: e_magic });
    }

    let e_lfanew = le::usize_from(field_u32(data, E_LFANEW_OFFSET)?);
    require(
        data,
        "PE signature and COFF file header",
        e_lfanew,
        IMAGE_NT_SIGNATURE.len() + COFF_FILE_HEADER_LEN,
    )?;
    if le::array_at::<4>(data, e_lfanew) != Some(IMAGE_NT_SIGNATURE) {
        return Err(PeError::PeSignature { offset: e_lfanew });
    }
    Ok(e_lfanew)
}

/// Checks data directory entry 4 and the `WIN_CERTIFICATE` entries it
/// points to; returns the table's file range, or `None` when `Size` is 0.
fn read_certificate_table(data: &[u8], optional: &OptionalHeader) -> Result<Option<Range<usize>>, PeError> {
    let offset = optional.certificate_table_offset;
    let size = optional.certificate_table_size;
    if size == 0 {
        return Ok(None);
    }

    let start = le::usize_from(offset);
    let end = start
        .checked_add(le::usize_from(size))
        .filter(|end| *end <= data.len())
        .ok_or(PeError::CertificateTablePastEnd {
            offset,
            size,
            file_len: data.len(),
        })?;
    if end != data.len() {
        return Err(PeError::CertificateTableNotAtEnd {
            offset,
            size,
            file_len: data.len(),
        });
    }
    if start < optional.size_of_headers {
        return Err(PeError::CertificateTableInsideHeaders {
            offset,
            size_of_headers: optional.size_of_headers,
        });
    }
    if !start.is_multiple_of(CERTIFICATE_ALIGNMENT) || !end.is_multiple_of(CERTIFICATE_ALIGNMENT) {
        return Err(PeError::CertificateTableUnaligned { offset, size });
    }

    let mut entry_offset = start;
    while entry_offset < end {
        let remaining = end - entry_offset;
        let header = WinCertificateHeader::read(data, entry_offset)
            .filter(|header| header.len >= WIN_CERTIFICATE_HEADER_LEN && align_up(header.len) <= remaining);
        let Some(header) = header else {
            return Err(PeError::WinCertificateLength {
                offset: entry_offset,
                dw_length: le::u32_at(data, entry_offset).unwrap_or_default(),
                remaining,
            });
        };
        entry_offset += align_up(header.len);
    }
    Ok(Some(start..end))
}

/// Reads the section table and checks each raw data range.
fn read_sections(
    data: &[u8],
    table_offset: usize,
    count: usize,
    size_of_headers: usize,
    image_data_len: usize,
) -> Result<Vec<Range<usize>>, PeError> {
    let mut sections = Vec::with_capacity(count);
    for index in 0..count {
        let header = table_offset + index * SECTION_HEADER_LEN;
        let size_of_raw_data = field_u32(data, header + SIZE_OF_RAW_DATA_OFFSET)?;
        let pointer_to_raw_data = field_u32(data, header + POINTER_TO_RAW_DATA_OFFSET)?;
        if size_of_raw_data == 0 {
            continue;
        }

        let name = || section_name(data, header);
        let start = le::usize_from(pointer_to_raw_data);
        if start < size_of_headers {
            return Err(PeError::SectionInsideHeaders {
                index,
                name: name(),
                pointer_to_raw_data,
                size_of_headers,
            });
        }
        let end = start
            .checked_add(le::usize_from(size_of_raw_data))
            .filter(|end| *end <= image_data_len)
            .ok_or_else(|| PeError::SectionPastEnd {
                index,
                name: name(),
                pointer_to_raw_data,
                size_of_raw_data,
                image_data_len,
            })?;
        sections.push(start..end);
    }

    sections.sort_by_key(|range| range.start);
    Ok(sections)
}

/// Reads the section `Name`, up to its first NUL, for messages.
fn section_name(data: &[u8], header: usize) -> String {
    let name: [u8; SECTION_NAME_LEN] = le::array_at(data, header).unwrap_or_default();
    let len = name.iter().position(|byte| *byte == 0).unwrap_or(SECTION_NAME_LEN);
    String::from_utf8_lossy(name.get(..len).unwrap_or_default()).into_owned()
}

/// The fixed fields of a `WIN_CERTIFICATE`.
struct WinCertificateHeader {
    /// `dwLength`.
    len: usize,
    w_revision: u16,
    w_certificate_type: u16,
}

impl WinCertificateHeader {
    fn read(data: &[u8], offset: usize) -> Option<Self> {
        Some(Self {
            len: le::usize_from(le::u32_at(data, offset)?),
            w_revision: le::u16_at(data, offset.checked_add(4)?)?,
            w_certificate_type: le::u16_at(data, offset.checked_add(6)?)?,
        })
    }
}

/// Rounds `len` up to the certificate alignment of 8 bytes.
pub(crate) fn align_up(len: usize) -> usize {
    len.div_ceil(CERTIFICATE_ALIGNMENT) * CERTIFICATE_ALIGNMENT
}

/// Fails unless `data` has `len` bytes at `offset`.
fn require(data: &[u8], structure: &'static str, offset: usize, len: usize) -> Result<(), PeError> {
    match offset.checked_add(len) {
        Some(end) if end <= data.len() => Ok(()),
        _ => Err(PeError::Truncated {
            structure,
            offset,
            needed: len,
            file_len: data.len(),
        }),
    }
}

fn field_u16(data: &[u8], offset: usize) -> Result<u16, PeError> {
    le::u16_at(data, offset).ok_or(PeError::Truncated {
        structure: "PE headers",
        offset,
        needed: 2,
        file_len: data.len(),
    })
}

fn field_u32(data: &[u8], offset: usize) -> Result<u32, PeError> {
    le::u32_at(data, offset).ok_or(PeError::Truncated {
        structure: "PE headers",
        offset,
        needed: 4,
        file_len: data.len(),
    })
}

/// Computes the PE image checksum (the algorithm of `CheckSumMappedFile`):
/// the sum of all little-endian 16-bit words with the carry folded back in
/// after each addition, plus the file length. The caller zeroes the
/// `CheckSum` field first. A trailing odd byte counts as a word with a zero
/// high byte.
pub fn pe_checksum(file: &[u8]) -> u32 {
    let (words, odd_byte) = file.as_chunks::<2>();

    // Summing into 64 bits and folding at the end gives the same result as
    // folding after each addition, because both compute the ones' complement
    // sum.
    let mut sum: u64 = words.iter().map(|word| u64::from(u16::from_le_bytes(*word))).sum();
    if let Some(&byte) = odd_byte.first() {
        sum += u64::from(byte);
    }
    while sum > 0xffff {
        sum = (sum & 0xffff) + (sum >> 16);
    }

    // The file length is added modulo 2^32, as the reference uses a 32-bit
    // accumulator.
    (sum as u32).wrapping_add(file.len() as u32)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::pe_image;
    use crate::test_support::pe_layout::{COFF, E_LFANEW, OPTIONAL, SIZE_OF_HEADERS};

    /// Offset of data directory entry 4 in a PE32+ image from `pe_image`.
    const SECURITY_ENTRY: usize = OPTIONAL + 0x70 + 4 * 8;

    fn set_u16(data: &mut [u8], offset: usize, value: u16) {
        data[offset..offset + 2].copy_from_slice(&value.to_le_bytes());
    }

    fn set_u32(data: &mut [u8], offset: usize, value: u32) {
        data[offset..offset + 4].copy_from_slice(&value.to_le_bytes());
    }

    /// Appends a Certificate Table with one entry of `content_len` bytes.
    fn with_certificate_table(mut image: Vec<u8>, content_len: usize) -> Vec<u8> {
        let offset = image.len();
        let entry_len = 8 + content_len;
        image.extend_from_slice(&(entry_len as u32).to_le_bytes());
        image.extend_from_slice(&[0x00, 0x02, 0x02, 0x00]);
        image.extend(std::iter::repeat_n(0x30, content_len));
        image.resize(offset + align_up(entry_len), 0);
        let size = image.len() - offset;
        set_u32(&mut image, SECURITY_ENTRY, offset as u32);
        set_u32(&mut image, SECURITY_ENTRY + 4, size as u32);
        image
    }

    #[test]
    fn parses_pe32_plus_fields() {
        let image = pe_image(true, &[0x300, 0x10], 3);
        let pe = PeImage::parse(&image).unwrap();
        assert_eq!(pe.kind(), OptionalHeaderKind::Pe32Plus);
        assert_eq!(pe.checksum_offset(), OPTIONAL + 0x40);
        assert_eq!(pe.certificate_table_entry_offset(), SECURITY_ENTRY);
        assert_eq!(pe.size_of_headers(), SIZE_OF_HEADERS);
        assert_eq!(pe.section_ranges(), &[0x200..0x600, 0x600..0x800]);
        assert_eq!(pe.image_data_len(), image.len());
        assert!(pe.certificate_table().is_none());
    }

    #[test]
    fn parses_pe32_fields() {
        let image = pe_image(false, &[0x200], 0);
        let pe = PeImage::parse(&image).unwrap();
        assert_eq!(pe.kind(), OptionalHeaderKind::Pe32);
        assert_eq!(pe.certificate_table_entry_offset(), OPTIONAL + 0x60 + 4 * 8);
    }

    #[test]
    fn parses_certificate_entries() {
        let image = with_certificate_table(pe_image(true, &[0x200], 0), 13);
        let pe = PeImage::parse(&image).unwrap();
        assert_eq!(pe.image_data_len(), 0x400);
        let entries = pe.certificates();
        assert_eq!(entries.len(), 1);
        assert_eq!(entries[0].offset, 0x400);
        assert_eq!(entries[0].w_revision, 0x0200);
        assert_eq!(entries[0].w_certificate_type, 0x0002);
        assert_eq!(entries[0].certificate.len(), 13);
    }

    #[test]
    fn sections_sorted_by_file_offset() {
        let mut image = pe_image(true, &[0x200, 0x200], 0);
        let table = OPTIONAL + 0xf0;
        // Swap the two section headers.
        let first: Vec<u8> = image[table..table + 0x28].to_vec();
        let second: Vec<u8> = image[table + 0x28..table + 0x50].to_vec();
        image[table..table + 0x28].copy_from_slice(&second);
        image[table + 0x28..table + 0x50].copy_from_slice(&first);
        let pe = PeImage::parse(&image).unwrap();
        assert_eq!(pe.section_ranges(), &[0x200..0x400, 0x400..0x600]);
    }

    #[test]
    fn rejects_truncated_dos_header() {
        let image = pe_image(true, &[0x200], 0);
        assert!(matches!(
            PeImage::parse(&image[..0x3f]).unwrap_err(),
            PeError::Truncated {
                structure: "MS-DOS header",
                ..
            }
        ));
        assert!(matches!(PeImage::parse(&[]).unwrap_err(), PeError::Truncated { .. }));
    }

    #[test]
    fn rejects_wrong_dos_magic() {
        let mut image = pe_image(true, &[0x200], 0);
        image[0] = b'Z';
        assert_eq!(PeImage::parse(&image).unwrap_err(), PeError::DosMagic { found: 0x5a5a });
    }

    #[test]
    fn rejects_e_lfanew_past_end() {
        let mut image = pe_image(true, &[0x200], 0);
        let len = image.len() as u32;
        set_u32(&mut image, 0x3c, len - 10);
        assert!(matches!(
            PeImage::parse(&image).unwrap_err(),
            PeError::Truncated {
                structure: "PE signature and COFF file header",
                ..
            }
        ));
        set_u32(&mut image, 0x3c, u32::MAX);
        assert!(matches!(PeImage::parse(&image).unwrap_err(), PeError::Truncated { .. }));
    }

    #[test]
    fn rejects_wrong_pe_signature() {
        let mut image = pe_image(true, &[0x200], 0);
        image[E_LFANEW + 2] = b'X';
        assert_eq!(
            PeImage::parse(&image).unwrap_err(),
            PeError::PeSignature { offset: E_LFANEW }
        );
    }

    #[test]
    fn rejects_wrong_optional_magic() {
        let mut image = pe_image(true, &[0x200], 0);
        set_u16(&mut image, OPTIONAL, 0x107);
        let error = PeImage::parse(&image).unwrap_err();
        assert_eq!(error, PeError::OptionalHeaderMagic { found: 0x107 });
        assert!(error.to_string().contains("0x0107"), "{error}");
    }

    #[test]
    fn rejects_small_optional_header() {
        let mut image = pe_image(true, &[0x200], 0);
        set_u16(&mut image, COFF + 0x10, 0x90);
        assert!(matches!(
            PeImage::parse(&image).unwrap_err(),
            PeError::OptionalHeaderTooSmall {
                size_of_optional_header: 0x90,
                needed: 0x98
            }
        ));
    }

    #[test]
    fn rejects_optional_header_past_end() {
        let image = pe_image(true, &[], 0);
        assert!(matches!(
            PeImage::parse(&image[..OPTIONAL + 0x80]).unwrap_err(),
            PeError::Truncated {
                structure: "optional header",
                ..
            }
        ));
    }

    #[test]
    fn rejects_missing_certificate_entry() {
        let mut image = pe_image(true, &[0x200], 0);
        set_u32(&mut image, OPTIONAL + 0x6c, 4);
        assert_eq!(
            PeImage::parse(&image).unwrap_err(),
            PeError::NoCertificateTableEntry {
                number_of_rva_and_sizes: 4
            }
        );
    }

    #[test]
    fn rejects_too_many_data_directories() {
        let mut image = pe_image(true, &[0x200], 0);
        for count in [17, u32::MAX] {
            set_u32(&mut image, OPTIONAL + 0x6c, count);
            assert!(matches!(
                PeImage::parse(&image).unwrap_err(),
                PeError::DataDirectoriesPastOptionalHeader { .. }
            ));
        }
    }

    #[test]
    fn rejects_section_table_past_end() {
        let mut image = pe_image(true, &[], 0);
        set_u16(&mut image, COFF + 2, 0xffff);
        assert!(matches!(
            PeImage::parse(&image).unwrap_err(),
            PeError::Truncated {
                structure: "section table",
                ..
            }
        ));
    }

    #[test]
    fn rejects_size_of_headers_before_section_table() {
        let mut image = pe_image(true, &[0x200], 0);
        set_u32(&mut image, OPTIONAL + 0x3c, 0x100);
        assert!(matches!(
            PeImage::parse(&image).unwrap_err(),
            PeError::SizeOfHeadersTooSmall {
                size_of_headers: 0x100,
                ..
            }
        ));
    }

    #[test]
    fn rejects_size_of_headers_past_end() {
        let mut image = pe_image(true, &[], 0);
        set_u32(&mut image, OPTIONAL + 0x3c, 0x400);
        assert!(matches!(
            PeImage::parse(&image).unwrap_err(),
            PeError::SizeOfHeadersPastEnd {
                size_of_headers: 0x400,
                image_data_len: 0x200
            }
        ));
    }

    #[test]
    fn rejects_section_past_end() {
        let image = pe_image(true, &[0x200, 0x200], 0);
        let error = PeImage::parse(&image[..0x500]).unwrap_err();
        assert!(matches!(error, PeError::SectionPastEnd { index: 1, .. }));
        assert!(error.to_string().contains(".sec1"), "{error}");
    }

    #[test]
    fn rejects_overflowing_section_range() {
        let mut image = pe_image(true, &[0x200], 0);
        let header = OPTIONAL + 0xf0;
        set_u32(&mut image, header + 0x14, u32::MAX - 0x10);
        assert!(matches!(
            PeImage::parse(&image).unwrap_err(),
            PeError::SectionPastEnd { .. }
        ));
    }

    #[test]
    fn rejects_section_inside_headers() {
        let mut image = pe_image(true, &[0x200], 0);
        let header = OPTIONAL + 0xf0;
        set_u32(&mut image, header + 0x14, 0x100);
        assert!(matches!(
            PeImage::parse(&image).unwrap_err(),
            PeError::SectionInsideHeaders {
                pointer_to_raw_data: 0x100,
                ..
            }
        ));
    }

    #[test]
    fn rejects_section_overlapping_certificate_table() {
        let mut image = with_certificate_table(pe_image(true, &[0x200], 0), 8);
        let header = OPTIONAL + 0xf0;
        set_u32(&mut image, header + 0x10, 0x208);
        assert!(matches!(
            PeImage::parse(&image).unwrap_err(),
            PeError::SectionPastEnd {
                image_data_len: 0x400,
                ..
            }
        ));
    }

    #[test]
    fn rejects_certificate_table_past_end() {
        let mut image = with_certificate_table(pe_image(true, &[0x200], 0), 8);
        set_u32(&mut image, SECURITY_ENTRY + 4, 0x100);
        assert!(matches!(
            PeImage::parse(&image).unwrap_err(),
            PeError::CertificateTablePastEnd { size: 0x100, .. }
        ));
        set_u32(&mut image, SECURITY_ENTRY, u32::MAX);
        set_u32(&mut image, SECURITY_ENTRY + 4, u32::MAX);
        assert!(matches!(
            PeImage::parse(&image).unwrap_err(),
            PeError::CertificateTablePastEnd { .. }
        ));
    }

    #[test]
    fn rejects_certificate_table_not_at_end() {
        let mut image = with_certificate_table(pe_image(true, &[0x200], 0), 8);
        image.extend_from_slice(&[0; 8]);
        assert!(matches!(
            PeImage::parse(&image).unwrap_err(),
            PeError::CertificateTableNotAtEnd { .. }
        ));
    }

    #[test]
    fn rejects_certificate_table_in_headers() {
        let mut image = pe_image(true, &[], 0);
        set_u32(&mut image, SECURITY_ENTRY, 0x100);
        set_u32(&mut image, SECURITY_ENTRY + 4, 0x100);
        assert!(matches!(
            PeImage::parse(&image).unwrap_err(),
            PeError::CertificateTableInsideHeaders { offset: 0x100, .. }
        ));
    }

    #[test]
    fn rejects_unaligned_certificate_table() {
        let mut image = pe_image(true, &[0x200], 3);
        image.extend_from_slice(&16u32.to_le_bytes());
        image.extend_from_slice(&[0x00, 0x02, 0x02, 0x00]);
        image.extend_from_slice(&[0x30; 8]);
        set_u32(&mut image, SECURITY_ENTRY, 0x403);
        set_u32(&mut image, SECURITY_ENTRY + 4, 16);
        assert!(matches!(
            PeImage::parse(&image).unwrap_err(),
            PeError::CertificateTableUnaligned {
                offset: 0x403,
                size: 16
            }
        ));
    }

    #[test]
    fn rejects_bad_win_certificate_length() {
        for dw_length in [0u32, 7, 0x19, u32::MAX] {
            let mut image = with_certificate_table(pe_image(true, &[0x200], 0), 8);
            set_u32(&mut image, 0x400, dw_length);
            assert_eq!(
                PeImage::parse(&image).unwrap_err(),
                PeError::WinCertificateLength {
                    offset: 0x400,
                    dw_length,
                    remaining: 16
                },
                "dwLength {dw_length}"
            );
        }
    }

    #[test]
    fn checksum_of_known_words() {
        // Words 0x0201 and 0xffff: 0x10200 folds to 0x0201, plus length 4.
        assert_eq!(pe_checksum(&[0x01, 0x02, 0xff, 0xff]), 0x0201 + 4);
        // The odd byte counts as a low byte.
        assert_eq!(pe_checksum(&[0x01, 0x02, 0x03]), 0x0204 + 3);
        assert_eq!(pe_checksum(&[]), 0);
    }
}
