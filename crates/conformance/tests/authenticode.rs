//! Authenticode signatures against sbsigntool 0.9.4 (`sbsign` run under
//! `faketime` so that its signingTime equals ours, and `sbverify`),
//! osslsigncode 2.9 and pesign 0.112.
//!
//! The real EFI binary is shim's `shimx64.efi` from the Debian package
//! shim-unsigned; set `BALENA_SIGN_TEST_EFI` to use another unsigned binary.
//! Without either, the tests on a real binary print SKIPPED and pass.

// The helpers below are test code outside #[test] functions, where a
// panic is the way to fail the test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod identity;

use std::path::PathBuf;
use std::process::Command;

use balena_sign_conformance::{run_tool, Scratch};
use balena_sign_formats::pe::{image_hash, sign_image, PeImage};
use identity::{stdout_text, Identity};

/// signingTime of every signature: 2024-01-02T03:04:05Z.
const SIGNING_TIME: u64 = 1_704_164_645;

/// The same time for `faketime`, read in the UTC time zone.
const SIGNING_TIME_TEXT: &str = "2024-01-02 03:04:05";

/// Unsigned EFI binary installed by the Debian package shim-unsigned.
const DEFAULT_EFI_BINARY: &str = "/usr/lib/shim/shimx64.efi";

/// Environment variable naming another unsigned EFI binary to sign.
const EFI_BINARY_VARIABLE: &str = "BALENA_SIGN_TEST_EFI";

#[test]
fn real_binary_matches_sbsign() {
    let Some(binary) = real_efi_binary() else {
        return;
    };
    let scratch = Scratch::new().unwrap();
    let db = Identity::new(&scratch, "db");
    std::fs::copy(&binary, scratch.path("in.efi")).unwrap();

    check_against_sbsign(&scratch, "in.efi", "signed.efi", &db);
}

#[test]
fn generated_pe32_plus_matches_sbsign() {
    let scratch = Scratch::new().unwrap();
    let db = Identity::new(&scratch, "db");
    let sections = [(".text", 3 << 20), (".data", 1 << 20), (".reloc", 0x1234)];
    let image = generate_pe(true, &sections, 5);
    assert!(image.len() > 4 << 20);
    assert!(!image.len().is_multiple_of(8));
    std::fs::write(scratch.path("in.efi"), &image).unwrap();

    check_against_sbsign(&scratch, "in.efi", "signed.efi", &db);
}

#[test]
fn generated_pe32_matches_sbsign() {
    let scratch = Scratch::new().unwrap();
    let db = Identity::new(&scratch, "db");
    let image = generate_pe(false, &[(".text", 0x5000), (".data", 0x800)], 0);
    std::fs::write(scratch.path("in.efi"), &image).unwrap();

    check_against_sbsign(&scratch, "in.efi", "signed.efi", &db);
}

#[test]
fn second_signature_matches_sbsign() {
    let scratch = Scratch::new().unwrap();
    let first = Identity::new(&scratch, "db");
    let second = Identity::new(&scratch, "db2");
    let image = match real_efi_binary() {
        Some(binary) => std::fs::read(binary).unwrap(),
        None => generate_pe(true, &[(".text", 0x30000), (".data", 0x2000)], 3),
    };
    std::fs::write(scratch.path("in.efi"), &image).unwrap();

    check_against_sbsign(&scratch, "in.efi", "once.efi", &first);
    check_against_sbsign(&scratch, "once.efi", "twice.efi", &second);

    let twice = std::fs::read(scratch.path("twice.efi")).unwrap();
    assert_eq!(PeImage::parse(&twice).unwrap().certificates().len(), 2);
    let list = run_tool(scratch.root(), "sbverify", &["--list", "twice.efi"]).unwrap();
    assert!(stdout_text(&list).contains("signature 2"), "{}", stdout_text(&list));
    run_tool(scratch.root(), "sbverify", &["--cert", first.cert_arg(), "twice.efi"]).unwrap();
    run_tool(scratch.root(), "sbverify", &["--cert", second.cert_arg(), "twice.efi"]).unwrap();
}

/// Signs `input` with our code and with sbsign at the same signingTime,
/// compares the two files byte for byte, then checks our output with
/// sbverify, osslsigncode and pesign. Leaves our output in `output`.
fn check_against_sbsign(scratch: &Scratch, input: &str, output: &str, identity: &Identity) {
    let image = std::fs::read(scratch.path(input)).unwrap();
    let signed = sign_image(&image, &identity.cert_der, SIGNING_TIME, &identity.key).unwrap();
    std::fs::write(scratch.path(output), &signed).unwrap();

    let reference = format!("{output}.sbsign");
    let sbsign = Command::new("faketime")
        .args([
            "-f",
            SIGNING_TIME_TEXT,
            "sbsign",
            "--key",
            identity.key_arg(),
            "--cert",
            identity.cert_arg(),
        ])
        .args(["--output", &reference, input])
        .env("TZ", "UTC")
        .current_dir(scratch.root())
        .output()
        .expect("cannot run faketime; install the Debian package faketime");
    assert!(
        sbsign.status.success(),
        "sbsign failed: {}",
        String::from_utf8_lossy(&sbsign.stderr)
    );
    let reference = std::fs::read(scratch.path(&reference)).unwrap();
    assert_eq!(signed.len(), reference.len(), "{input}: length differs from sbsign");
    assert!(signed == reference, "{input}: bytes differ from sbsign");

    run_tool(scratch.root(), "sbverify", &["--cert", identity.cert_arg(), output]).unwrap();

    // osslsigncode 2.9 reads only a Certificate Table with a single entry
    // ("Corrupted attribute certificate table" otherwise), so it checks the
    // first signature only.
    let expected_hash = hex::encode(image_hash(&image).unwrap());
    if PeImage::parse(&signed).unwrap().certificates().len() == 1 {
        check_osslsigncode(scratch, output, identity, &expected_hash);
    }
    assert_eq!(
        pesign_hash(scratch, output),
        expected_hash,
        "{output}: pesign hash after signing"
    );

    // pesign hashes an unsigned file as it is, so it agrees with us on the
    // input once the input is padded to 8 bytes as sbsign pads it.
    if PeImage::parse(&image).unwrap().certificate_table().is_none() {
        let mut padded = image.clone();
        padded.resize(image.len().div_ceil(8) * 8, 0);
        std::fs::write(scratch.path("padded.efi"), &padded).unwrap();
        assert_eq!(
            pesign_hash(scratch, "padded.efi"),
            expected_hash,
            "{input}: pesign hash before signing"
        );
    }
}

/// Runs `osslsigncode verify` and checks that it succeeds and computes the
/// image hash we signed.
fn check_osslsigncode(scratch: &Scratch, file: &str, identity: &Identity, expected_hash: &str) {
    let verify = run_tool(
        scratch.root(),
        "osslsigncode",
        &["verify", "-CAfile", identity.cert_arg(), "-in", file],
    )
    .unwrap();
    let text = stdout_text(&verify);
    assert!(text.contains("Succeeded"), "{text}");

    let digests: Vec<String> = text
        .lines()
        .filter(|line| line.contains("message digest"))
        .filter_map(|line| line.split(':').nth(1))
        .map(|digest| digest.trim().to_ascii_lowercase())
        .collect();
    assert!(digests.len() >= 2, "no digests in: {text}");
    for digest in digests {
        assert_eq!(digest, expected_hash, "{file}: osslsigncode digest");
    }
}

/// Returns the Authenticode hash that `pesign -h` computes.
fn pesign_hash(scratch: &Scratch, file: &str) -> String {
    let output = run_tool(scratch.root(), "pesign", &["-h", "-i", file]).unwrap();
    let text = stdout_text(&output);
    let hash = text.lines().find_map(|line| line.strip_prefix("hash: "));
    hash.unwrap_or_else(|| panic!("no hash in pesign output: {text}"))
        .trim()
        .to_owned()
}

/// Returns the unsigned EFI binary to test with, or `None` after printing
/// why the test is skipped.
fn real_efi_binary() -> Option<PathBuf> {
    let path = std::env::var_os(EFI_BINARY_VARIABLE).map_or_else(|| PathBuf::from(DEFAULT_EFI_BINARY), PathBuf::from);
    if path.exists() {
        return Some(path);
    }
    eprintln!(
        "SKIPPED: {} not found; install the Debian package shim-unsigned or set {EFI_BINARY_VARIABLE} to an \
         unsigned EFI binary",
        path.display()
    );
    None
}

/// Writes a minimal but complete PE32 (`pe32_plus == false`) or PE32+ EFI
/// application: MS-DOS header, PE signature, COFF header, optional header
/// with 16 data directories, and `sections` as (name, size) pairs whose
/// contents are pseudo-random bytes padded to FileAlignment, followed by
/// `trailing` bytes outside any section.
fn generate_pe(pe32_plus: bool, sections: &[(&str, usize)], trailing: usize) -> Vec<u8> {
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
