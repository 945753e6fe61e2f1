//! Synthetic PE/COFF EFI applications of any size, for signing tests.

/// Writes a minimal but complete PE32 (`pe32_plus == false`) or PE32+ EFI
/// application: MS-DOS header, PE signature, COFF header, optional header
/// with 16 data directories, and `sections` as (name, size) pairs whose
/// contents are pseudo-random bytes padded to FileAlignment, followed by
/// `trailing` bytes outside any section.
pub fn generate_pe(pe32_plus: bool, sections: &[(&str, usize)], trailing: usize) -> Vec<u8> {
    const E_LFANEW: usize = 0x80;
    const FILE_ALIGNMENT: usize = 0x200;
    const SECTION_ALIGNMENT: usize = 0x1000;
    const SIZE_OF_HEADERS: usize = 0x400;
    const IMAGE_SCN_CNT_CODE_EXECUTE_READ: u32 = 0x6000_0020;
    const IMAGE_SCN_CNT_INITIALIZED_DATA_READ_WRITE: u32 = 0xc000_0040;

    let mut out = vec![0u8; SIZE_OF_HEADERS];
    let put16 =
        |out: &mut Vec<u8>, offset: usize, value: u16| out[offset..offset + 2].copy_from_slice(&value.to_le_bytes());
    let put32 =
        |out: &mut Vec<u8>, offset: usize, value: u32| out[offset..offset + 4].copy_from_slice(&value.to_le_bytes());
    let put64 =
        |out: &mut Vec<u8>, offset: usize, value: u64| out[offset..offset + 8].copy_from_slice(&value.to_le_bytes());

    // MS-DOS header and PE signature.
    out[..2].copy_from_slice(b"MZ");
    put32(&mut out, 0x3c, E_LFANEW as u32);
    out[E_LFANEW..E_LFANEW + 4].copy_from_slice(b"PE\0\0");

    // COFF file header.
    let coff = E_LFANEW + 4;
    let size_of_optional_header: usize = if pe32_plus { 0xf0 } else { 0xe0 };
    put16(&mut out, coff, if pe32_plus { 0x8664 } else { 0x014c });
    put16(&mut out, coff + 2, sections.len() as u16);
    put16(&mut out, coff + 0x10, size_of_optional_header as u16);
    put16(&mut out, coff + 0x12, if pe32_plus { 0x0222 } else { 0x0302 });

    // Section table and section contents.
    let section_table = coff + 0x14 + size_of_optional_header;
    let mut rng = 0x2545_f491_4f6c_dd1du64;
    let mut virtual_address = SECTION_ALIGNMENT;
    let (mut size_of_code, mut size_of_data) = (0usize, 0usize);
    for (index, (name, size)) in sections.iter().enumerate() {
        let raw_size = size.div_ceil(FILE_ALIGNMENT) * FILE_ALIGNMENT;
        let header = section_table + 0x28 * index;
        let mut name_field = [0u8; 8];
        name_field[..name.len()].copy_from_slice(name.as_bytes());
        out[header..header + 8].copy_from_slice(&name_field);
        put32(&mut out, header + 0x08, *size as u32);
        put32(&mut out, header + 0x0c, virtual_address as u32);
        put32(&mut out, header + 0x10, raw_size as u32);
        let pointer_to_raw_data = out.len() as u32;
        put32(&mut out, header + 0x14, pointer_to_raw_data);
        let code = index == 0;
        let characteristics = if code {
            IMAGE_SCN_CNT_CODE_EXECUTE_READ
        } else {
            IMAGE_SCN_CNT_INITIALIZED_DATA_READ_WRITE
        };
        put32(&mut out, header + 0x24, characteristics);
        if code {
            size_of_code += raw_size;
        } else {
            size_of_data += raw_size;
        }

        for _ in 0..*size {
            rng ^= rng << 13;
            rng ^= rng >> 7;
            rng ^= rng << 17;
            out.push(rng as u8);
        }
        out.resize(out.len() + raw_size - size, 0);
        virtual_address += size.div_ceil(SECTION_ALIGNMENT) * SECTION_ALIGNMENT;
    }

    // Optional header.
    let optional = coff + 0x14;
    put16(&mut out, optional, if pe32_plus { 0x20b } else { 0x10b });
    out[optional + 2] = 2; // MajorLinkerVersion
    put32(&mut out, optional + 0x04, size_of_code as u32);
    put32(&mut out, optional + 0x08, size_of_data as u32);
    put32(&mut out, optional + 0x10, SECTION_ALIGNMENT as u32); // AddressOfEntryPoint
    put32(&mut out, optional + 0x14, SECTION_ALIGNMENT as u32); // BaseOfCode
    if pe32_plus {
        put64(&mut out, optional + 0x18, 0); // ImageBase
    } else {
        put32(&mut out, optional + 0x1c, 0); // ImageBase
    }
    put32(&mut out, optional + 0x20, SECTION_ALIGNMENT as u32);
    put32(&mut out, optional + 0x24, FILE_ALIGNMENT as u32);
    put32(&mut out, optional + 0x38, virtual_address as u32); // SizeOfImage
    put32(&mut out, optional + 0x3c, SIZE_OF_HEADERS as u32);
    put16(&mut out, optional + 0x44, 10); // Subsystem: EFI application
    let number_of_rva_and_sizes = if pe32_plus { optional + 0x6c } else { optional + 0x5c };
    put32(&mut out, number_of_rva_and_sizes, 16);

    out.extend((0..trailing).map(|index| index as u8 ^ 0x5a));
    out
}
