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

use balena_sign_conformance::pe_builder::generate_pe;
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
