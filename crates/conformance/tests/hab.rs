//! HAB4 SRK tables and CSFs against SPSDK (`SrkTable`, `SegCSF.parse`) and
//! OpenSSL (`openssl cms -verify`, `openssl cms -sign` under `faketime`,
//! `openssl verify`, `openssl ca`).
//!
//! SPSDK runs in the Python named by `SPSDK_PYTHON` (default `python3`);
//! install it with `pip install spsdk`. `faketime` is the Debian package of
//! that name.

// Helpers outside #[test] functions fail the test by panicking, too.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod nxp;

use std::collections::BTreeMap;

use balena_sign_conformance::run_tool;
use balena_sign_crypto::RsaKeySize;
use balena_sign_formats::hab::cms_signature;
use balena_sign_formats::hab::cms_signature::CmsError;
use balena_sign_formats::hab::csf::{compile, CsfError, HabSigningInputs, HAB_TAG_SIG};
use balena_sign_formats::hab::csf_text::{self, CsfDescription, HabDescription};
use balena_sign_formats::hab::srk::SrkTable;
use nxp::{faketime_openssl, spsdk_python, HabPki, SIGNING_TIME, SIGNING_TIME_TEXT};

/// Load address of the kernel in the balenaOS description.
const LOAD_ADDRESS: u32 = 0x4048_0000;

/// The kernel image is zero-padded to this size before its IVT.
const PADDED_IMAGE_LEN: usize = 12288;

/// Size of the HAB IVT appended to the padded image.
const IVT_LEN: usize = 32;

/// The CSF area U-Boot reserves after the IVT (`CONFIG_CSF_SIZE`).
const CSF_AREA_LEN: usize = 0x2000;

/// Returns the description the balenaOS build sends for a kernel in slot 0.
fn balena_description(key_bits: u32) -> String {
    format!(
        r#"[Header]
    Version = 4.3
    Hash Algorithm = sha256
    Engine = CAAM
    Engine Configuration = 0
    Certificate Format = X509
    Signature Format = CMS

[Install SRK]
    File = "%%CERTS_PATH%%/../SRK_table.bin"
    Source index = 0

[Install CSFK]
    File = "%%CERTS_PATH%%/CSF1_1_sha256_{key_bits}_65537_v3_usr_crt.pem"

[Authenticate CSF]

[Unlock]
    Engine = CAAM
    Features = MID, RNG

[Unlock]
    Engine = OCOTP
    Features = SRK REVOKE

[Install Key]
    Verification index = 0
    Target Index = 2
    File = "%%CERTS_PATH%%/IMG1_1_sha256_{key_bits}_65537_v3_usr_crt.pem"

[Authenticate Data]
    Verification index = 2
    Blocks = \
  {LOAD_ADDRESS:#x} 0x00000000 {:#x} "%%BIN_PATH%%"
"#,
        PADDED_IMAGE_LEN + IVT_LEN
    )
}

/// Builds a kernel-like image padded to [`PADDED_IMAGE_LEN`] and followed
/// by the IVT that the balenaOS build writes (little-endian fields).
fn kernel_payload() -> Vec<u8> {
    let mut image: Vec<u8> = (0..5000u32).map(|i| (i * 7 + i / 251) as u8).collect();
    image.resize(PADDED_IMAGE_LEN, 0);

    let ivt_address = LOAD_ADDRESS + PADDED_IMAGE_LEN as u32;
    let csf_address = ivt_address + IVT_LEN as u32;
    for word in [0x4020_00d1, LOAD_ADDRESS, 0, 0, 0, ivt_address, csf_address, 0u32] {
        image.extend_from_slice(&word.to_le_bytes());
    }
    image
}

fn parse_hab(text: &str) -> HabDescription {
    match csf_text::parse(text.as_bytes()).unwrap() {
        CsfDescription::Hab(hab) => hab,
        CsfDescription::Ahab(_) => panic!("parsed as AHAB"),
    }
}

/// Compiles the balenaOS description with the files of `pki`, resolving
/// `%%CERTS_PATH%%` as the service does.
fn compile_balena(pki: &HabPki, payload: &[u8]) -> Vec<u8> {
    let bits = pki.key_bits;
    let mut description = csf_text::parse(balena_description(bits).as_bytes()).unwrap();
    description.rename_files(|name| name.replace("%%CERTS_PATH%%", "crts"));
    let CsfDescription::Hab(description) = description else {
        panic!("parsed as AHAB");
    };

    let mut files = BTreeMap::new();
    files.insert("crts/../SRK_table.bin".to_owned(), pki.srk_table());
    files.insert(
        format!("crts/CSF1_1_sha256_{bits}_65537_v3_usr_crt.pem"),
        pki.read(&format!("{}.crt", pki.csf.name)),
    );
    files.insert(
        format!("crts/IMG1_1_sha256_{bits}_65537_v3_usr_crt.pem"),
        pki.read(&format!("{}.crt", pki.img.name)),
    );

    let inputs = HabSigningInputs {
        files: &files,
        payload,
        signing_time: SIGNING_TIME,
        csf_key: &pki.csf.key,
        image_key: &pki.img.key,
    };
    compile(&description, &inputs).unwrap()
}

/// The parts of a CSF that the checks below need, read by hand.
struct CsfLayout {
    commands_len: usize,
    csf_signature: Vec<u8>,
    image_signature: Vec<u8>,
}

fn read_u16(bytes: &[u8], offset: usize) -> usize {
    usize::from(u16::from_be_bytes([bytes[offset], bytes[offset + 1]]))
}

fn read_u32(bytes: &[u8], offset: usize) -> usize {
    u32::from_be_bytes(bytes[offset..offset + 4].try_into().unwrap()) as usize
}

/// Finds the signature blobs through the Authenticate Data commands.
fn layout(csf: &[u8]) -> CsfLayout {
    let commands_len = read_u16(csf, 1);
    let mut signatures = Vec::new();
    let mut offset = 4;
    while offset < commands_len {
        let len = read_u16(csf, offset + 1);
        if csf[offset] == 0xca {
            let blob = read_u32(csf, offset + 8);
            assert_eq!(csf[blob], HAB_TAG_SIG);
            let blob_len = read_u16(csf, blob + 1);
            signatures.push(csf[blob + 4..blob + blob_len].to_vec());
        }
        offset += len;
    }
    assert_eq!(signatures.len(), 2);
    CsfLayout {
        commands_len,
        image_signature: signatures.pop().unwrap(),
        csf_signature: signatures.pop().unwrap(),
    }
}

/// Verifies a detached CMS signature as the HAB chain does: the signer
/// certificate comes from `-certfile`, and the SRK certificate is trusted.
fn openssl_verify_cms(pki: &HabPki, signature: &[u8], content: &[u8], signer: &str) {
    std::fs::write(pki.path("signature.der"), signature).unwrap();
    std::fs::write(pki.path("content.bin"), content).unwrap();
    run_tool(
        pki.root(),
        "openssl",
        &[
            "cms",
            "-verify",
            "-binary",
            "-inform",
            "DER",
            "-in",
            "signature.der",
            "-content",
            "content.bin",
            "-certfile",
            &format!("{signer}.crt"),
            "-CAfile",
            &format!("{}.crt", pki.srks[0].name),
            "-partial_chain",
            "-purpose",
            "any",
            "-out",
            "/dev/null",
        ],
    )
    .unwrap();
}

#[test]
fn srk_table_matches_spsdk() {
    let pki = HabPki::new(RsaKeySize::Rsa2048);
    let ours = pki.srk_table();
    let fuses = SrkTable::parse(&ours).unwrap().fuse_hash();

    let (table, spsdk_fuses) = pki.spsdk_srk_table(&pki.srks.iter().map(|srk| srk.name.as_str()).collect::<Vec<_>>());
    assert_eq!(ours, table);
    assert_eq!(fuses.to_vec(), spsdk_fuses);

    // Each entry carries the CA flag, since the SRK certificates are CA:TRUE.
    let parsed = SrkTable::parse(&ours).unwrap();
    assert!(parsed.entries().iter().all(|entry| entry.ca));
    assert_eq!(ours[4 + 7], 0x80);
}

#[test]
fn srk_table_of_user_certificates_matches_spsdk() {
    let pki = HabPki::new(RsaKeySize::Rsa2048);
    let certificates = [pki.csf.cert_der.as_slice(), pki.img.cert_der.as_slice()];
    let ours = SrkTable::from_certificates(&certificates).unwrap();

    let (table, spsdk_fuses) = pki.spsdk_srk_table(&[&pki.csf.name, &pki.img.name]);
    assert_eq!(ours.to_bytes(), table);
    assert_eq!(ours.fuse_hash().to_vec(), spsdk_fuses);
    assert!(ours.entries().iter().all(|entry| !entry.ca));
}

#[test]
fn fuse_hash_matches_nxpcrypto() {
    let pki = HabPki::new(RsaKeySize::Rsa2048);
    let table = SrkTable::parse(&pki.srk_table()).unwrap();

    let mut args = vec![
        "-m",
        "spsdk.apps.nxpcrypto",
        "rot",
        "calculate-hash",
        "-f",
        "mimxrt1050",
        "-o",
        "hash.bin",
    ];
    let certificates: Vec<String> = pki.srks.iter().map(|srk| format!("{}.crt", srk.name)).collect();
    for certificate in &certificates {
        args.extend(["-k", certificate.as_str()]);
    }
    run_tool(pki.root(), &spsdk_python(), &args).unwrap();
    assert_eq!(table.fuse_hash().to_vec(), pki.read("hash.bin"));
}

#[test]
fn balena_csf_parses_with_spsdk() {
    let pki = HabPki::new(RsaKeySize::Rsa2048);
    let payload = kernel_payload();
    let csf = compile_balena(&pki, &payload);
    std::fs::write(pki.path("csf.bin"), &csf).unwrap();

    let dump = pki.spsdk_parse_csf("csf.bin");
    let lines: Vec<&str> = dump.lines().collect();
    let layout = layout(&csf);

    // Header: tag D4, length of header and commands, version 4.3.
    assert_eq!(
        lines[0],
        format!("header tag=0xd4 length={} version=0x43", layout.commands_len)
    );
    // 4 + Install SRK 12 + Install CSFK 12 + Authenticate CSF 12 + two
    // Unlocks 8 + Install Key 12 + Authenticate Data 12 + 8 for the block.
    assert_eq!(layout.commands_len, 4 + 12 * 3 + 8 * 2 + 12 + 20);

    let srk_offset = layout.commands_len;
    let srk_len = pki.srk_table().len();
    let csfk_offset = srk_offset + srk_len;
    let csfk_len = (4 + pki.csf.cert_der.len()).next_multiple_of(4);
    let csf_signature_offset = csfk_offset + csfk_len;
    let csf_signature_len = (4 + layout.csf_signature.len()).next_multiple_of(4);
    let img_offset = csf_signature_offset + csf_signature_len;
    let img_len = (4 + pki.img.cert_der.len()).next_multiple_of(4);
    let image_signature_offset = img_offset + img_len;
    let image_signature_len = (4 + layout.image_signature.len()).next_multiple_of(4);
    assert_eq!(csf.len(), image_signature_offset + image_signature_len);

    let expected = [
        format!("CmdInstallSrk tag=0xbe param=0x0 protocol=0x3 algorithm=0x17 source=0 target=0 location={srk_offset:#x} data=SrkTable"),
        format!("CmdInstallCsfk tag=0xbe param=0x2 protocol=0x9 algorithm=0x0 source=0 target=1 location={csfk_offset:#x} data=HabCertificate"),
        format!("CmdAuthenticateCsf tag=0xca param=0x0 key=1 format=0xc5 engine=0x1d config=0 location={csf_signature_offset:#x} blocks=[] data=Signature"),
        "CmdUnlockCAAM tag=0xb2 param=0x1d features=0x3".to_owned(),
        "CmdUnlockOCOTP tag=0xb2 param=0x21 features=0x2".to_owned(),
        format!("CmdInstallKey tag=0xbe param=0x0 protocol=0x9 algorithm=0x0 source=0 target=2 location={img_offset:#x} data=HabCertificate"),
        format!(
            "SecCsfAuthenticateData tag=0xca param=0x0 key=2 format=0xc5 engine=0x1d config=0 location={image_signature_offset:#x} blocks=[({LOAD_ADDRESS:#x}, {:#x})] data=Signature",
            payload.len()
        ),
    ];
    assert_eq!(&lines[1..], &expected);

    // The certificates inside the CSF are the PKI's, byte for byte.
    assert_eq!(
        &csf[csfk_offset + 4..csfk_offset + 4 + pki.csf.cert_der.len()],
        pki.csf.cert_der.as_slice()
    );
    assert_eq!(
        &csf[img_offset + 4..img_offset + 4 + pki.img.cert_der.len()],
        pki.img.cert_der.as_slice()
    );
    assert_eq!(&csf[srk_offset..srk_offset + srk_len], pki.srk_table().as_slice());
}

#[test]
fn csf_signatures_verify_with_openssl() {
    let pki = HabPki::new(RsaKeySize::Rsa2048);
    let payload = kernel_payload();
    let csf = compile_balena(&pki, &payload);
    let layout = layout(&csf);

    openssl_verify_cms(&pki, &layout.csf_signature, &csf[..layout.commands_len], &pki.csf.name);
    openssl_verify_cms(&pki, &layout.image_signature, &payload, &pki.img.name);

    // A changed command byte or image byte must fail verification.
    let mut tampered = csf[..layout.commands_len].to_vec();
    tampered[5] ^= 1;
    std::fs::write(pki.path("content.bin"), &tampered).unwrap();
    let status = std::process::Command::new("openssl")
        .current_dir(pki.root())
        .args([
            "cms",
            "-verify",
            "-binary",
            "-inform",
            "DER",
            "-in",
            "signature.der",
            "-content",
            "content.bin",
            "-certfile",
            &format!("{}.crt", pki.img.name),
            "-CAfile",
            &format!("{}.crt", pki.srks[0].name),
            "-partial_chain",
            "-purpose",
            "any",
            "-out",
            "/dev/null",
        ])
        .output()
        .unwrap()
        .status;
    assert!(!status.success());
}

#[test]
fn cms_signatures_match_openssl_cms_sign() {
    let pki = HabPki::new(RsaKeySize::Rsa2048);
    let payload = kernel_payload();
    let csf = compile_balena(&pki, &payload);
    let layout = layout(&csf);

    let reference = faketime_openssl(&pki, &csf[..layout.commands_len], &pki.csf.name);
    assert_eq!(
        layout.csf_signature, reference,
        "CSF signature differs from openssl cms -sign at {SIGNING_TIME_TEXT}"
    );

    let reference = faketime_openssl(&pki, &payload, &pki.img.name);
    assert_eq!(
        layout.image_signature, reference,
        "image signature differs from openssl cms -sign"
    );

    let direct = cms_signature::sign_detached(&payload, &pki.img.cert_der, &pki.img.key, SIGNING_TIME).unwrap();
    assert_eq!(direct, reference);
}

#[test]
fn rsa4096_csf_fits_csf_area() {
    let pki = HabPki::new(RsaKeySize::Rsa4096);
    let payload = kernel_payload();
    let csf = compile_balena(&pki, &payload);
    assert!(csf.len() <= CSF_AREA_LEN, "CSF is {:#x} bytes", csf.len());

    let layout = layout(&csf);
    openssl_verify_cms(&pki, &layout.csf_signature, &csf[..layout.commands_len], &pki.csf.name);
    openssl_verify_cms(&pki, &layout.image_signature, &payload, &pki.img.name);

    std::fs::write(pki.path("csf.bin"), &csf).unwrap();
    let dump = pki.spsdk_parse_csf("csf.bin");
    assert_eq!(dump.lines().count(), 8, "{dump}");

    let (table, fuses) = pki.spsdk_srk_table(&pki.srks.iter().map(|srk| srk.name.as_str()).collect::<Vec<_>>());
    assert_eq!(pki.srk_table(), table);
    assert_eq!(SrkTable::parse(&table).unwrap().fuse_hash().to_vec(), fuses);
}

#[test]
fn caam_header_adds_unlock_rng() {
    let pki = HabPki::new(RsaKeySize::Rsa2048);
    let payload = kernel_payload();
    let text = balena_description(2048).replace("Features = MID, RNG", "Features = MFG");
    let description = parse_hab(&text);
    let mut files = BTreeMap::new();
    files.insert("%%CERTS_PATH%%/../SRK_table.bin".to_owned(), pki.srk_table());
    files.insert(
        "%%CERTS_PATH%%/CSF1_1_sha256_2048_65537_v3_usr_crt.pem".to_owned(),
        pki.csf.cert_der.clone(),
    );
    files.insert(
        "%%CERTS_PATH%%/IMG1_1_sha256_2048_65537_v3_usr_crt.pem".to_owned(),
        pki.img.cert_der.clone(),
    );
    let inputs = HabSigningInputs {
        files: &files,
        payload: &payload,
        signing_time: SIGNING_TIME,
        csf_key: &pki.csf.key,
        image_key: &pki.img.key,
    };
    let csf = compile(&description, &inputs).unwrap();
    std::fs::write(pki.path("csf.bin"), &csf).unwrap();

    let dump = pki.spsdk_parse_csf("csf.bin");
    let lines: Vec<&str> = dump.lines().collect();
    assert_eq!(lines[4], "CmdUnlockCAAM tag=0xb2 param=0x1d features=0x4");
    assert_eq!(lines[8], "CmdUnlockCAAM tag=0xb2 param=0x1d features=0x2");

    let layout = layout(&csf);
    openssl_verify_cms(&pki, &layout.csf_signature, &csf[..layout.commands_len], &pki.csf.name);
}

#[test]
fn issued_certificates_verify_with_openssl() {
    let pki = HabPki::new(RsaKeySize::Rsa2048);
    let ca = format!("{}.crt", pki.ca.name);
    for srk in &pki.srks {
        run_tool(
            pki.root(),
            "openssl",
            &["verify", "-CAfile", &ca, &format!("{}.crt", srk.name)],
        )
        .unwrap();
    }
    let srk1 = format!("{}.crt", pki.srks[0].name);
    for user in [&pki.csf, &pki.img] {
        run_tool(
            pki.root(),
            "openssl",
            &[
                "verify",
                "-CAfile",
                &ca,
                "-untrusted",
                &srk1,
                &format!("{}.crt", user.name),
            ],
        )
        .unwrap();
    }
}

#[test]
fn issued_certificates_match_openssl_ca() {
    let pki = HabPki::new(RsaKeySize::Rsa2048);
    nxp::compare_with_openssl_ca(&pki, &pki.ca, &pki.srks[0], "v3_ca");
    nxp::compare_with_openssl_ca(&pki, &pki.srks[0], &pki.csf, "v3_usr");
}

/// Compiles `text` with the 2048-bit files of `pki` under their plain names.
fn compile_text(
    pki: &HabPki,
    text: &str,
    payload: &[u8],
    image_key: &dyn balena_sign_formats::Signer,
) -> Result<Vec<u8>, CsfError> {
    let description = parse_hab(text);
    let mut files = BTreeMap::new();
    files.insert("%%CERTS_PATH%%/../SRK_table.bin".to_owned(), pki.srk_table());
    files.insert(
        "%%CERTS_PATH%%/CSF1_1_sha256_2048_65537_v3_usr_crt.pem".to_owned(),
        pki.read(&format!("{}.crt", pki.csf.name)),
    );
    files.insert(
        "%%CERTS_PATH%%/IMG1_1_sha256_2048_65537_v3_usr_crt.pem".to_owned(),
        pki.read(&format!("{}.crt", pki.img.name)),
    );
    let inputs = HabSigningInputs {
        files: &files,
        payload,
        signing_time: SIGNING_TIME,
        csf_key: &pki.csf.key,
        image_key,
    };
    compile(&description, &inputs)
}

#[test]
fn compile_rejects_block_outside_payload() {
    let pki = HabPki::new(RsaKeySize::Rsa2048);
    let payload = kernel_payload();
    let error = compile_text(
        &pki,
        &balena_description(2048),
        &payload[..payload.len() - 1],
        &pki.img.key,
    )
    .unwrap_err();
    assert!(
        matches!(error, CsfError::BlockOutsidePayload { block: 1, line: 34, .. }),
        "{error}"
    );

    let text = balena_description(2048).replace("0x00000000 0x3020", "0xffffffff 0x3020");
    let error = compile_text(&pki, &text, &payload, &pki.img.key).unwrap_err();
    assert!(matches!(error, CsfError::BlockOutsidePayload { .. }), "{error}");
}

#[test]
fn compile_rejects_certificate_of_other_srk() {
    let pki = HabPki::new(RsaKeySize::Rsa2048);
    let text = balena_description(2048).replace("Source index = 0", "Source index = 1");
    let error = compile_text(&pki, &text, &kernel_payload(), &pki.img.key).unwrap_err();
    assert!(
        matches!(
            error,
            CsfError::WrongSrk {
                issuer: 0,
                selected: 1,
                ..
            }
        ),
        "{error}"
    );
}

#[test]
fn compile_rejects_wrong_image_key() {
    let pki = HabPki::new(RsaKeySize::Rsa2048);
    let error = compile_text(&pki, &balena_description(2048), &kernel_payload(), &pki.csf.key).unwrap_err();
    assert!(
        matches!(
            error,
            CsfError::ImageSignature {
                source: CmsError::KeyMismatch { .. },
                ..
            }
        ),
        "{error}"
    );
}

#[test]
fn compile_rejects_missing_file() {
    let pki = HabPki::new(RsaKeySize::Rsa2048);
    let text = balena_description(2048).replace("CSF1_1_sha256", "CSF2_1_sha256");
    let error = compile_text(&pki, &text, &kernel_payload(), &pki.img.key).unwrap_err();
    assert!(matches!(error, CsfError::MissingFile { line: 14, .. }), "{error}");
}

#[test]
fn compile_rejects_nine_caam_blocks() {
    let pki = HabPki::new(RsaKeySize::Rsa2048);
    let block = format!("{LOAD_ADDRESS:#x} 0x0 0x10 \"%%BIN_PATH%%\"");
    let text = balena_description(2048).replace(
        &format!(
            "{LOAD_ADDRESS:#x} 0x00000000 {:#x} \"%%BIN_PATH%%\"",
            PADDED_IMAGE_LEN + IVT_LEN
        ),
        &vec![block; 9].join(", "),
    );
    let error = compile_text(&pki, &text, &kernel_payload(), &pki.img.key).unwrap_err();
    assert!(
        matches!(error, CsfError::TooManyBlocksForEngine { count: 9, max: 8, .. }),
        "{error}"
    );
}

#[test]
fn boot_image_blocks_verify() {
    let pki = HabPki::new(RsaKeySize::Rsa2048);
    let payload = kernel_payload();
    let blocks = [
        (0x7e_0fc0u32, 0x0usize, 0x100usize),
        (0x401f_cdc0, 0x1000, 0x200),
        (0x4020_0000, 0x2000, 0x1020),
    ];
    let list: Vec<String> = blocks
        .iter()
        .map(|(address, offset, length)| format!("{address:#x} {offset:#x} {length:#x} \"flash.bin\""))
        .collect();
    let text = balena_description(2048).replace(
        &format!(
            "{LOAD_ADDRESS:#x} 0x00000000 {:#x} \"%%BIN_PATH%%\"",
            PADDED_IMAGE_LEN + IVT_LEN
        ),
        &list.join(", \\\n    "),
    );
    let csf = compile_text(&pki, &text, &payload, &pki.img.key).unwrap();
    std::fs::write(pki.path("csf.bin"), &csf).unwrap();

    let dump = pki.spsdk_parse_csf("csf.bin");
    let spans: Vec<String> = blocks
        .iter()
        .map(|(address, _, length)| format!("({address:#x}, {length:#x})"))
        .collect();
    assert!(dump.contains(&format!("blocks=[{}]", spans.join(", "))), "{dump}");

    let signed: Vec<u8> = blocks
        .iter()
        .flat_map(|&(_, offset, length)| payload[offset..offset + length].to_vec())
        .collect();
    let layout = layout(&csf);
    openssl_verify_cms(&pki, &layout.image_signature, &signed, &pki.img.name);
    openssl_verify_cms(&pki, &layout.csf_signature, &csf[..layout.commands_len], &pki.csf.name);
}
