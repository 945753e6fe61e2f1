//! AHAB SRK tables and in-place container signing against SPSDK
//! (`nxpimage ahab export` builds the unsigned i.MX93 container,
//! `nxpimage ahab verify` checks the signed one) and `openssl dgst -verify`.
//!
//! SPSDK 3.12 checks every RSA container signature as RSA-PSS, even when the
//! SRK records name RSA PKCS#1 v1.5 (0x21), the algorithm CST uses for
//! rsaEncryption keys. So the verification runs SPSDK's `nxpimage ahab
//! verify` with its RSA check switched to PKCS#1 v1.5, and OpenSSL checks
//! the signature on its own. The plain command is run too and may fail only
//! on that signature check.
//!
//! SPSDK runs in the Python named by `SPSDK_PYTHON` (default `python3`).

// Helpers outside #[test] functions fail the test by panicking, too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod nxp;

use std::collections::BTreeMap;

use balena_sign_conformance::run_tool;
use balena_sign_conformance::spsdk;
use balena_sign_crypto::RsaKeySize;
use balena_sign_formats::ahab::{fuse_words, sign_described, AhabError, AhabSrkTable, ContainerError};
use balena_sign_formats::hab::csf_text::{self, AhabDescription, CsfDescription};
use balena_sign_formats::HashAlgorithm;
use nxp::{spsdk_python, HabPki};

/// Offset of the signature block in a container with one image: the
/// 16-byte header and one 128-byte image entry.
const SIGNATURE_BLOCK_OFFSET: usize = 0x90;

/// Offset of the first image from the container start for i.MX93.
const FIRST_IMAGE_OFFSET: usize = 0x2000;

/// SRK names as the PKI writes them, and the public keys beside them.
fn srk_public_keys(pki: &HabPki) -> Vec<String> {
    pki.srks
        .iter()
        .enumerate()
        .map(|(index, srk)| {
            let name = format!("srk{index}.pub");
            std::fs::write(pki.path(&name), srk.key.public_key_pem().unwrap()).unwrap();
            name
        })
        .collect()
}

/// Builds an i.MX93 container with one Cortex-M33 image with
/// `nxpimage ahab export`. With `signed`, SPSDK signs it with SRK 0 (RSA-PSS,
/// SHA-512 records), and without it the signature block stays empty.
fn spsdk_container(pki: &HabPki, signed: bool) -> Vec<u8> {
    let image: Vec<u8> = (0..5000u32).map(|i| (i * 13 + i / 97) as u8).collect();
    std::fs::write(pki.path("image.bin"), image).unwrap();
    let keys = srk_public_keys(pki);

    let output = if signed { "spsdk_signed.bin" } else { "unsigned.bin" };
    let mut config = format!(
        "family: mimx9352\nrevision: latest\ntarget_memory: standard\noutput: {output}\ncontainers:\n  - container:\n"
    );
    if signed {
        config += &format!(
            "      srk_set: oem\n      used_srk_id: 0\n      signer: type=file;file_path={}.key\n",
            pki.srks[0].name
        );
    } else {
        config += "      srk_set: none\n";
    }
    config += "      srk_revoke_mask: '0x00'\n      fuse_version: 0\n      sw_version: 0\n      images:\n";
    config +=
        "        - image_path: image.bin\n          load_address: '0x2049A000'\n          entry_point: '0x2049A000'\n";
    config += "          image_type: executable\n          core_id: cortex-m33\n          hash_type: sha512\n";
    if signed {
        config += "      srk_table:\n        flag_ca: true\n        hash_algorithm: sha512\n        srk_array:\n";
        for key in &keys {
            config += &format!("          - {key}\n");
        }
    }
    std::fs::write(pki.path("container.yaml"), config).unwrap();

    run_tool(
        pki.root(),
        &spsdk_python(),
        &["-m", "spsdk.apps.nxpimage", "ahab", "export", "-c", "container.yaml"],
    )
    .unwrap();
    pki.read(output)
}

fn ahab_description(pki: &HabPki) -> AhabDescription {
    let text = format!(
        r#"[Header]
    Target = AHAB
    Version = 1.0
[Install SRK]
    File = "%%CERTS_PATH%%/../SRK_1_2_3_4_table.bin"
    Source = "%%CERTS_PATH%%/{}_crt.pem"
    Source index = 0
    Source set = OEM
    Revocations = 0x0
[Authenticate Data]
    File = "%%BIN_PATH%%"
    Offsets = 0x0 {SIGNATURE_BLOCK_OFFSET:#x}
"#,
        pki.srks[0].name
    );
    match csf_text::parse(text.as_bytes()).unwrap() {
        CsfDescription::Ahab(ahab) => ahab,
        CsfDescription::Hab(_) => panic!("parsed as HAB"),
    }
}

/// Our SRK table of the four SRK certificates, with SHA-512 records as
/// `srktool --sign_digest sha512` makes them.
fn srk_table(pki: &HabPki) -> AhabSrkTable {
    let certificates: Vec<&[u8]> = pki.srks.iter().map(|srk| srk.cert_der.as_slice()).collect();
    AhabSrkTable::from_certificates(&certificates, HashAlgorithm::Sha512).unwrap()
}

fn sign_unsigned(pki: &HabPki, unsigned: &[u8]) -> Result<Vec<u8>, AhabError> {
    let description = ahab_description(pki);
    let mut files = BTreeMap::new();
    files.insert(description.srk_table.name.clone(), srk_table(pki).to_bytes());
    files.insert(
        description.srk_certificate.name.clone(),
        pki.read(&format!("{}.crt", pki.srks[0].name)),
    );
    sign_described(&description, &files, unsigned, &pki.srks[0].key)
}

/// Runs `nxpimage ahab verify` on `file`, with SPSDK's RSA signature check
/// using PKCS#1 v1.5 padding when `pkcs1_v15` is set, and returns whether
/// it passed and its output.
fn spsdk_verify(pki: &HabPki, file: &str, pkcs1_v15: bool) -> (bool, String) {
    std::fs::write(pki.path("verify.py"), spsdk::VERIFY_AHAB).unwrap();
    let output = std::process::Command::new(spsdk_python())
        .current_dir(pki.root())
        .args(["verify.py", file, if pkcs1_v15 { "pkcs1" } else { "as-is" }])
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

/// Reads the SRKH fuse values that `nxpimage ahab verify` prints.
fn printed_srk_hash_words(output: &str) -> Vec<u32> {
    output
        .lines()
        .filter_map(|line| line.trim().strip_prefix("OTP ID: "))
        .filter_map(|rest| rest.split_once("Value: 0x"))
        .map(|(_, value)| u32::from_str_radix(value.trim(), 16).unwrap())
        .collect()
}

/// Returns the signed bytes and the signature of the container at offset 0.
fn signed_region(container: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let block = SIGNATURE_BLOCK_OFFSET;
    let signature_offset = usize::from(u16::from_le_bytes([container[block + 8], container[block + 9]]));
    let signature_start = block + signature_offset;
    let signature_len = usize::from(u16::from_le_bytes([
        container[signature_start + 1],
        container[signature_start + 2],
    ]));
    (
        container[..signature_start].to_vec(),
        container[signature_start + 8..signature_start + signature_len].to_vec(),
    )
}

fn check_signed_container(size: RsaKeySize) {
    let pki = HabPki::new(size);
    let unsigned = spsdk_container(&pki, false);
    let signed = sign_unsigned(&pki, &unsigned).unwrap();
    std::fs::write(pki.path("signed.bin"), &signed).unwrap();

    // The image and everything after the signature block are unchanged.
    assert_eq!(signed.len(), unsigned.len());
    assert_eq!(&signed[FIRST_IMAGE_OFFSET..], &unsigned[FIRST_IMAGE_OFFSET..]);

    let (passed, output) = spsdk_verify(&pki, "signed.bin", true);
    assert!(passed, "{output}");
    assert!(output.contains("Overall  result: Succeeded"), "{output}");
    assert!(output.contains("Signed by OEM keys"), "{output}");

    let hash = srk_table(&pki).srk_hash(HashAlgorithm::Sha256);
    assert_eq!(printed_srk_hash_words(&output), fuse_words(&hash), "{output}");

    let (passed, output) = spsdk_verify(&pki, "signed.bin", false);
    if !passed {
        // Each failed check prints `Name(Error): reason`; parents of a failed
        // check print `Name(Error)` alone or as a heading.
        let failed: Vec<&str> = output
            .lines()
            .map(str::trim)
            .filter(|line| line.contains("(Error): "))
            .collect();
        assert!(!failed.is_empty(), "{output}");
        for line in failed {
            assert!(
                line.starts_with("Signature(Error): Signature verification FAILED"),
                "only the signature check may fail: {line}"
            );
        }
    }

    let (data, signature) = signed_region(&signed);
    std::fs::write(pki.path("signed_data.bin"), data).unwrap();
    std::fs::write(pki.path("signature.bin"), signature).unwrap();
    run_tool(
        pki.root(),
        "openssl",
        &[
            "dgst",
            "-sha512",
            "-verify",
            "srk0.pub",
            "-signature",
            "signature.bin",
            "signed_data.bin",
        ],
    )
    .unwrap();

    // A changed software version in the signed header must fail both checks.
    let mut tampered = signed.clone();
    tampered[8] ^= 1;
    std::fs::write(pki.path("tampered.bin"), &tampered).unwrap();
    let (passed, output) = spsdk_verify(&pki, "tampered.bin", true);
    assert!(!passed, "{output}");
    let (data, _) = signed_region(&tampered);
    std::fs::write(pki.path("signed_data.bin"), data).unwrap();
    let openssl = run_tool(
        pki.root(),
        "openssl",
        &[
            "dgst",
            "-sha512",
            "-verify",
            "srk0.pub",
            "-signature",
            "signature.bin",
            "signed_data.bin",
        ],
    );
    assert!(openssl.is_err());
}

#[test]
fn signed_container_verifies_rsa2048() {
    check_signed_container(RsaKeySize::Rsa2048);
}

#[test]
fn signed_container_verifies_rsa4096() {
    check_signed_container(RsaKeySize::Rsa4096);
}

#[test]
fn layout_matches_spsdk_signed_container() {
    let pki = HabPki::new(RsaKeySize::Rsa2048);
    let unsigned = spsdk_container(&pki, false);
    let ours = sign_unsigned(&pki, &unsigned).unwrap();
    let reference = spsdk_container(&pki, true);
    assert_eq!(ours.len(), reference.len());

    // SPSDK writes RSA-PSS records (0x22) and a PSS signature; every other
    // byte is the same.
    let srk_table = SIGNATURE_BLOCK_OFFSET + 0x10;
    let record_len = 12 + 256 + 3;
    let (_, signature) = signed_region(&ours);
    let signature_start = SIGNATURE_BLOCK_OFFSET + 0x450 + 8;
    let mut differing = Vec::new();
    for (offset, (a, b)) in ours.iter().zip(&reference).enumerate() {
        if a != b {
            differing.push(offset);
        }
    }
    let allowed = |offset: usize| {
        (0..4).any(|record| offset == srk_table + 4 + record * record_len + 3)
            || (signature_start..signature_start + signature.len()).contains(&offset)
    };
    let unexpected: Vec<String> = differing
        .iter()
        .filter(|&&offset| !allowed(offset))
        .map(|offset| format!("{offset:#x}"))
        .collect();
    assert!(unexpected.is_empty(), "bytes differ at {unexpected:?}");
    for record in 0..4 {
        let algorithm = srk_table + 4 + record * record_len + 3;
        assert_eq!((ours[algorithm], reference[algorithm]), (0x21, 0x22));
    }
}

#[test]
fn srk_table_parses_with_spsdk() {
    let pki = HabPki::new(RsaKeySize::Rsa2048);
    let table = srk_table(&pki);
    std::fs::write(pki.path("srk_table.bin"), table.to_bytes()).unwrap();
    std::fs::write(pki.path("srk_table.py"), spsdk::AHAB_SRK_TABLE).unwrap();
    let output = run_tool(pki.root(), &spsdk_python(), &["srk_table.py", "srk_table.bin"]).unwrap();
    let output = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<&str> = output.lines().collect();

    assert_eq!(lines[0], "export-equal=True");
    assert_eq!(
        lines[1],
        format!("sha256={}", hex::encode(table.srk_hash(HashAlgorithm::Sha256)))
    );
    assert_eq!(
        lines[2],
        format!("sha512={}", hex::encode(table.srk_hash(HashAlgorithm::Sha512)))
    );
    for (index, srk) in pki.srks.iter().enumerate() {
        let modulus = hex::encode(&srk.key.public_key().modulus);
        assert_eq!(
            lines[3 + index],
            format!("record algorithm=0x21 hash=SHA512 flags=0x80 n={modulus}")
        );
    }
}

#[test]
fn rejects_source_of_other_srk() {
    let pki = HabPki::new(RsaKeySize::Rsa2048);
    let unsigned = spsdk_container(&pki, false);
    let mut description = ahab_description(&pki);
    description.source_index = 1;
    let mut files = BTreeMap::new();
    files.insert(description.srk_table.name.clone(), srk_table(&pki).to_bytes());
    files.insert(
        description.srk_certificate.name.clone(),
        pki.read(&format!("{}.crt", pki.srks[0].name)),
    );
    let error = sign_described(&description, &files, &unsigned, &pki.srks[0].key).unwrap_err();
    assert!(matches!(error, AhabError::SourceNotInTable { index: 1, .. }), "{error}");
}

#[test]
fn rejects_signer_of_other_srk() {
    let pki = HabPki::new(RsaKeySize::Rsa2048);
    let unsigned = spsdk_container(&pki, false);
    let description = ahab_description(&pki);
    let mut files = BTreeMap::new();
    files.insert(description.srk_table.name.clone(), srk_table(&pki).to_bytes());
    files.insert(
        description.srk_certificate.name.clone(),
        pki.read(&format!("{}.crt", pki.srks[0].name)),
    );
    let error = sign_described(&description, &files, &unsigned, &pki.srks[1].key).unwrap_err();
    assert!(
        matches!(error, AhabError::Container(ContainerError::SignerMismatch { index: 0 })),
        "{error}"
    );
}
