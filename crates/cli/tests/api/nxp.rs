//! `/imx/...`: PKI trees, fuse hashes and CSF signing, judged by SPSDK and
//! `openssl cms -verify`.

use std::fs;
use std::path::Path;

use balena_sign_conformance::spsdk;
use serde_json::{json, Value};

use crate::common::{assert_error, b64decode, b64encode, run, snapshot, Server};

const LOAD_ADDRESS: u32 = 0x4048_0000;
/// balenaOS pads kernels and device trees to a multiple of 12288 bytes.
const PADDING: usize = 12288;
const IVT_LEN: usize = 32;
const CSF_AREA_LEN: usize = 0x2000;
const HAB_TAG_SIG: u8 = 0xd8;
const AHAB_SIGNATURE_BLOCK_OFFSET: usize = 0x90;

const BITS: u32 = 4096;

fn create_pki(server: &Server, hab_type: &str) -> String {
    let reply = server.post("/imx/pki", &json!({ "hab_type": hab_type }));
    assert_eq!(reply.status, 200, "{}", reply.json);
    reply.field("pki_id").to_owned()
}

fn tree(server: &Server, pki_id: &str) -> std::path::PathBuf {
    server.store.join("pki").join(pki_id)
}

/// Returns the description the balenaOS build sends for a kernel.
fn kernel_description(length: usize) -> String {
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
    File = "%%CERTS_PATH%%/CSF1_1_sha256_{BITS}_65537_v3_usr_crt.pem"

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
    File = "%%CERTS_PATH%%/IMG1_1_sha256_{BITS}_65537_v3_usr_crt.pem"

[Authenticate Data]
    Verification index = 2
    Blocks = \
  {LOAD_ADDRESS:#x} 0x00000000 {length:#x} "%%BIN_PATH%%"
"#
    )
}

/// Returns a kernel padded to a multiple of 12288 bytes, followed by its IVT.
fn kernel_payload() -> Vec<u8> {
    let mut image: Vec<u8> = (0..40_000u32).map(|i| (i * 7 + i / 251) as u8).collect();
    image.resize(image.len().div_ceil(PADDING) * PADDING, 0);
    let ivt_address = LOAD_ADDRESS + image.len() as u32;
    for word in [
        0x4320_00d1,
        LOAD_ADDRESS,
        0,
        0,
        0,
        ivt_address,
        ivt_address + IVT_LEN as u32,
        0u32,
    ] {
        image.extend_from_slice(&word.to_le_bytes());
    }
    image
}

fn cst(server: &Server, path: &str, pki_id: &str, hab_type: &str, payload: &[u8], csf: &str) -> crate::common::Reply {
    server.post(
        path,
        &json!({ "pki_id": pki_id, "hab_type": hab_type, "payload": b64encode(payload), "csf": b64encode(csf.as_bytes()) }),
    )
}

fn be16(bytes: &[u8], offset: usize) -> usize {
    usize::from(u16::from_be_bytes([bytes[offset], bytes[offset + 1]]))
}

fn be32(bytes: &[u8], offset: usize) -> usize {
    u32::from_be_bytes(bytes[offset..offset + 4].try_into().unwrap()) as usize
}

/// Returns (signed header and commands, CSF signature, image signature),
/// found through the Authenticate commands by hand.
fn csf_signatures(csf: &[u8]) -> (Vec<u8>, Vec<u8>, Vec<u8>) {
    let commands_len = be16(csf, 1);
    let mut signatures = Vec::new();
    let mut offset = 4;
    while offset < commands_len {
        let len = be16(csf, offset + 1);
        if csf[offset] == 0xca {
            let blob = be32(csf, offset + 8);
            assert_eq!(csf[blob], HAB_TAG_SIG);
            signatures.push(csf[blob + 4..blob + be16(csf, blob + 1)].to_vec());
        }
        offset += len;
    }
    assert_eq!(signatures.len(), 2, "expected Authenticate CSF and Authenticate Data");
    let image = signatures.pop().unwrap();
    let csf_signature = signatures.pop().unwrap();
    (csf[..commands_len].to_vec(), csf_signature, image)
}

fn cms_verify(dir: &Path, signature: &[u8], content: &[u8], signer: &str, trust: &str) {
    fs::write(dir.join("signature.der"), signature).unwrap();
    fs::write(dir.join("content.bin"), content).unwrap();
    run(
        dir,
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
            signer,
            "-CAfile",
            trust,
            "-partial_chain",
            "-purpose",
            "any",
            "-out",
            "/dev/null",
        ],
    );
}

#[test]
fn hab_tree_has_cst_layout() {
    let server = Server::start();
    let pki_id = create_pki(&server, "hab");
    assert_eq!(pki_id.len(), 32);
    assert!(pki_id.bytes().all(|b| b.is_ascii_hexdigit() && !b.is_ascii_uppercase()));
    assert_eq!(server.get("/imx/pkis").json, json!({ "pkis": [pki_id] }));

    let root = tree(&server, &pki_id);
    let crts = root.join("crts");
    let ca = format!("CA1_sha256_{BITS}_65537_v3_ca");
    let mut names = vec![ca.clone()];
    for srk in 1..=4 {
        names.push(format!("SRK{srk}_sha256_{BITS}_65537_v3_ca"));
        names.push(format!("CSF{srk}_1_sha256_{BITS}_65537_v3_usr"));
        names.push(format!("IMG{srk}_1_sha256_{BITS}_65537_v3_usr"));
    }
    for name in &names {
        assert!(crts.join(format!("{name}_crt.pem")).exists(), "{name}");
        let key = root.join(format!("keys/{name}_key.pem"));
        let text = run(
            &root,
            "openssl",
            &[
                "pkey",
                "-in",
                key.to_str().unwrap(),
                "-passin",
                "file:keys/key_pass.txt",
                "-noout",
                "-text",
            ],
        );
        assert!(text.contains(&format!("Private-Key: ({BITS} bit")), "{name}");
    }

    // Each SRK is a CA under CA1; each CSF and IMG key chains to its SRK.
    for srk in 1..=4 {
        let srk_crt = format!("crts/SRK{srk}_sha256_{BITS}_65537_v3_ca_crt.pem");
        let text = run(
            &root,
            "openssl",
            &["x509", "-in", &srk_crt, "-noout", "-ext", "basicConstraints"],
        );
        assert!(text.contains("CA:TRUE"), "{text}");
        for leaf in ["CSF", "IMG"] {
            let leaf_crt = format!("crts/{leaf}{srk}_1_sha256_{BITS}_65537_v3_usr_crt.pem");
            let verified = run(
                &root,
                "openssl",
                &[
                    "verify",
                    "-CAfile",
                    &format!("crts/{ca}_crt.pem"),
                    "-untrusted",
                    &srk_crt,
                    &leaf_crt,
                ],
            );
            assert!(verified.contains(": OK"), "{verified}");
        }
    }

    // The fuse hash: 32 bytes, equal to SPSDK's computation from the table.
    let efuses = b64decode(server.get(&format!("/imx/efuses/{pki_id}")).field("efuses"));
    assert_eq!(efuses.len(), 32);
    assert_eq!(
        b64decode(server.get(&format!("/nxp/efuses/{pki_id}")).field("efuses")),
        efuses
    );
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("fuses.py"), spsdk::HAB_FUSES).unwrap();
    let table = root.join("SRK_table.bin");
    let spsdk_fuses = run(dir.path(), &spsdk::python(), &["fuses.py", table.to_str().unwrap()]);
    assert_eq!(spsdk_fuses.trim(), hex::encode(&efuses));
}

#[test]
fn hab_kernel_csf_checks_out() {
    let server = Server::start();
    let pki_id = create_pki(&server, "hab");
    let root = tree(&server, &pki_id);
    let payload = kernel_payload();

    let reply = cst(
        &server,
        "/imx/cst",
        &pki_id,
        "hab",
        &payload,
        &kernel_description(payload.len()),
    );
    assert_eq!(reply.status, 200, "{}", reply.json);
    let csf = b64decode(reply.field("csf_bin"));
    assert!(
        csf.len() <= CSF_AREA_LEN,
        "CSF of {} bytes does not fit the CSF area",
        csf.len()
    );

    // SPSDK parses every command.
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("csf.bin"), &csf).unwrap();
    fs::write(dir.path().join("parse.py"), spsdk::PARSE_CSF).unwrap();
    let parsed = run(dir.path(), &spsdk::python(), &["parse.py", "csf.bin"]);
    let kinds: Vec<&str> = parsed
        .lines()
        .skip(1)
        .map(|line| line.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(
        kinds,
        [
            "CmdInstallSrk",
            "CmdInstallCsfk",
            "CmdAuthenticateCsf",
            "CmdUnlockCAAM",
            "CmdUnlockOCOTP",
            "CmdInstallKey",
            "SecCsfAuthenticateData"
        ],
        "{parsed}"
    );
    assert!(
        parsed.contains(&format!("blocks=[({LOAD_ADDRESS:#x}, {:#x})]", payload.len())),
        "{parsed}"
    );
    assert!(
        parsed.contains("CmdInstallSrk tag=0xbe param=0x0 protocol=0x3 algorithm=0x17 source=0"),
        "{parsed}"
    );
    assert!(
        parsed.contains("CmdInstallKey tag=0xbe param=0x0 protocol=0x9 algorithm=0x0 source=0 target=2"),
        "{parsed}"
    );
    assert!(parsed.contains("features=0x3"), "Unlock CAAM MID RNG: {parsed}");

    // Both signatures verify against the tree's certificates.
    let crts = root.join("crts");
    let srk1 = crts.join(format!("SRK1_sha256_{BITS}_65537_v3_ca_crt.pem"));
    let (signed_commands, csf_signature, image_signature) = csf_signatures(&csf);
    cms_verify(
        dir.path(),
        &csf_signature,
        &signed_commands,
        crts.join(format!("CSF1_1_sha256_{BITS}_65537_v3_usr_crt.pem"))
            .to_str()
            .unwrap(),
        srk1.to_str().unwrap(),
    );
    cms_verify(
        dir.path(),
        &image_signature,
        &payload,
        crts.join(format!("IMG1_1_sha256_{BITS}_65537_v3_usr_crt.pem"))
            .to_str()
            .unwrap(),
        srk1.to_str().unwrap(),
    );

    // The older path is an alias.
    let alias = cst(
        &server,
        "/nxp/cst",
        &pki_id,
        "hab",
        &payload,
        &kernel_description(payload.len()),
    );
    assert_eq!(alias.status, 200, "{}", alias.json);
}

#[test]
fn ahab_container_verifies_with_spsdk() {
    let server = Server::start();
    let pki_id = create_pki(&server, "ahab");
    let root = tree(&server, &pki_id);
    let efuses = b64decode(server.get(&format!("/imx/efuses/{pki_id}")).field("efuses"));
    assert_eq!(efuses.len(), 64, "AHAB fuses carry a SHA-512 SRK hash");

    // An unsigned i.MX93 container built by SPSDK.
    let dir = tempfile::tempdir().unwrap();
    let image: Vec<u8> = (0..5000u32).map(|i| (i * 13 + i / 97) as u8).collect();
    fs::write(dir.path().join("image.bin"), image).unwrap();
    fs::write(
        dir.path().join("container.yaml"),
        "family: mimx9352\nrevision: latest\ntarget_memory: standard\noutput: unsigned.bin\ncontainers:\n  - container:\n      srk_set: none\n      srk_revoke_mask: '0x00'\n      fuse_version: 0\n      sw_version: 0\n      images:\n        - image_path: image.bin\n          load_address: '0x2049A000'\n          entry_point: '0x2049A000'\n          image_type: executable\n          core_id: cortex-m33\n          hash_type: sha512\n",
    )
    .unwrap();
    run(
        dir.path(),
        &spsdk::python(),
        &["-m", "spsdk.apps.nxpimage", "ahab", "export", "-c", "container.yaml"],
    );
    let unsigned = fs::read(dir.path().join("unsigned.bin")).unwrap();

    let description = format!(
        "[Header]\n    Target = AHAB\n    Version = 1.0\n[Install SRK]\n    File = \"%%CERTS_PATH%%/../SRK_table.bin\"\n    Source = \"%%CERTS_PATH%%/SRK1_sha256_{BITS}_65537_v3_ca_crt.pem\"\n    Source index = 0\n    Source set = OEM\n    Revocations = 0x0\n[Authenticate Data]\n    File = \"%%BIN_PATH%%\"\n    Offsets = 0x0 {AHAB_SIGNATURE_BLOCK_OFFSET:#x}\n"
    );
    let reply = cst(&server, "/imx/cst", &pki_id, "ahab", &unsigned, &description);
    assert_eq!(reply.status, 200, "{}", reply.json);
    let signed = b64decode(reply.field("csf_bin"));
    assert_eq!(signed.len(), unsigned.len(), "the whole image comes back");
    fs::write(dir.path().join("signed.bin"), &signed).unwrap();

    fs::write(dir.path().join("verify.py"), spsdk::VERIFY_AHAB).unwrap();
    let verified = std::process::Command::new(spsdk::python())
        .current_dir(dir.path())
        .args(["verify.py", "signed.bin", "pkcs1"])
        .output()
        .unwrap();
    let output = format!(
        "{}{}",
        String::from_utf8_lossy(&verified.stdout),
        String::from_utf8_lossy(&verified.stderr)
    );
    assert!(verified.status.success(), "nxpimage ahab verify failed:\n{output}");

    // SPSDK reads our table back and computes the same hash as the efuses.
    fs::write(dir.path().join("table.py"), spsdk::AHAB_SRK_TABLE).unwrap();
    let table = root.join("SRK_table.bin");
    let parsed = run(dir.path(), &spsdk::python(), &["table.py", table.to_str().unwrap()]);
    assert!(parsed.contains("export-equal=True"), "{parsed}");
    assert!(parsed.contains(&format!("sha512={}", hex::encode(&efuses))), "{parsed}");
}

#[test]
fn hostile_descriptions_are_rejected() {
    let server = Server::start();
    let pki_id = create_pki(&server, "hab");
    let payload = kernel_payload();
    let good = kernel_description(payload.len());
    let before = snapshot(&server.store);

    let cases: Vec<(String, &[&str])> = vec![
        (
            good.replace("%%CERTS_PATH%%/../SRK_table.bin", "/etc/passwd"),
            &["`csf`", "outside the PKI tree"],
        ),
        (
            good.replace("%%CERTS_PATH%%/../SRK_table.bin", "%%CERTS_PATH%%/../../../x509/db.key"),
            &["`csf`", "outside"],
        ),
        (
            good.replace("%%CERTS_PATH%%/CSF1_1", "%%CERTS_PATH%%/../keys/CSF1_1"),
            &["`csf`"],
        ),
        (
            good.replace("\"%%BIN_PATH%%\"", "\"%%CERTS_PATH%%/../keys/key_pass.txt\""),
            &["`csf`", "%%BIN_PATH%%"],
        ),
        (
            good.replace("IMG1_1_sha256", "IMG9_1_sha256"),
            &["`csf`", "does not exist"],
        ),
        (
            good.replace("[Install CSFK]", "[Install Frobnicator]"),
            &["`csf`", "line"],
        ),
        (
            good.replace("Source index = 0", "Source index = 0\n    Colour = blue"),
            &["`csf`", "line"],
        ),
        (good.replace("[Authenticate CSF]\n", ""), &["`csf`"]),
        (
            good.replace(&format!("0x00000000 {:#x}", payload.len()), "0x00000000 0x10000000"),
            &["`csf`", "beyond"],
        ),
        (
            good.replace(&format!("0x00000000 {:#x}", payload.len()), "0x00000000 0x999999999999"),
            &["`csf`", "line"],
        ),
        (
            good.replace(
                &format!("{LOAD_ADDRESS:#x} 0x00000000 {:#x} \"%%BIN_PATH%%\"", payload.len()),
                &vec!["0x0 0x0 0x10 \"%%BIN_PATH%%\""; 40].join(", \\\n  "),
            ),
            &["`csf`"],
        ),
    ];
    for (description, words) in &cases {
        let reply = cst(&server, "/imx/cst", &pki_id, "hab", &payload, description);
        assert_error(&reply, 400, words);
    }

    let body = |pki: &str, hab_type: &str, csf: &str| json!({ "pki_id": pki, "hab_type": hab_type, "payload": b64encode(&payload), "csf": csf });
    let other: Vec<(Value, u16, &[&str])> = vec![
        (
            body("0123456789abcdef0123456789abcdef", "hab", &b64encode(good.as_bytes())),
            404,
            &["not found"],
        ),
        (body("../x509", "hab", &b64encode(good.as_bytes())), 400, &["`pki_id`"]),
        (body(&pki_id, "habx", &b64encode(good.as_bytes())), 400, &["`hab_type`"]),
        (body(&pki_id, "ahab", &b64encode(good.as_bytes())), 400, &["`hab_type`"]),
        (body(&pki_id, "hab", "@@"), 400, &["`csf`", "base64"]),
        (body(&pki_id, "hab", &b64encode(&[0xff, 0xfe, 0x00])), 400, &["`csf`"]),
    ];
    for (request, status, words) in &other {
        assert_error(&server.post("/imx/cst", request), *status, words);
    }
    assert_error(
        &server.post("/imx/pki", &json!({ "hab_type": "hab5" })),
        400,
        &["`hab_type`"],
    );
    assert_error(&server.post("/imx/pki", &json!({})), 400, &["`hab_type`", "required"]);
    assert_error(
        &server.get("/imx/efuses/0123456789abcdef0123456789abcdef"),
        404,
        &["not found"],
    );
    assert_eq!(snapshot(&server.store), before);
}
