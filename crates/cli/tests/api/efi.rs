//! `/secureboot/efi` checked with sbverify, osslsigncode, pesign and
//! byte for byte against sbsign at the same signing time.

use std::fs;
use std::path::Path;
use std::process::Command;

use balena_sign_conformance::pe_builder::generate_pe;
use serde_json::json;

use crate::common::{assert_error, b64decode, b64encode, run, snapshot, Server};
use crate::inputs::shim;

fn setup() -> (Server, tempfile::TempDir) {
    let server = Server::start();
    let reply = server.post(
        "/cert",
        &json!({ "cert_id": "db", "subject": "/CN=balenaOS db/", "key_length": 2048 }),
    );
    assert_eq!(reply.status, 200, "{}", reply.json);
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("db.crt"), reply.field("cert")).unwrap();
    fs::copy(server.store.join("x509/db.key"), dir.path().join("db.key")).unwrap();
    (server, dir)
}

fn sign(server: &Server, image: &[u8]) -> Vec<u8> {
    let reply = server.post(
        "/secureboot/efi",
        &json!({ "key_id": "db", "payload": b64encode(image) }),
    );
    assert_eq!(reply.status, 200, "{}", reply.json);
    b64decode(reply.field("signed"))
}

/// Returns the signingTime of the last signature in `file`, as faketime reads it.
fn signing_time(dir: &Path, file: &str) -> String {
    run(
        dir,
        "osslsigncode",
        &["extract-signature", "-in", file, "-out", "signature.der"],
    );
    let parsed = run(dir, "openssl", &["asn1parse", "-inform", "DER", "-in", "signature.der"]);
    let lines: Vec<&str> = parsed.lines().collect();
    let at = lines
        .iter()
        .position(|line| line.ends_with(":signingTime"))
        .expect("no signingTime");
    let utc = lines[at..]
        .iter()
        .find_map(|line| line.split("UTCTIME           :").nth(1))
        .unwrap()
        .trim();
    // YYMMDDhhmmssZ
    format!(
        "20{}-{}-{} {}:{}:{}",
        &utc[0..2],
        &utc[2..4],
        &utc[4..6],
        &utc[6..8],
        &utc[8..10],
        &utc[10..12]
    )
}

fn sbsign_at(dir: &Path, time: &str, input: &str, output: &str) -> Vec<u8> {
    let status = Command::new("faketime")
        .args([
            "-f", time, "sbsign", "--key", "db.key", "--cert", "db.crt", "--output", output, input,
        ])
        .env("TZ", "UTC")
        .current_dir(dir)
        .output()
        .unwrap();
    assert!(status.status.success(), "{}", String::from_utf8_lossy(&status.stderr));
    fs::read(dir.join(output)).unwrap()
}

fn pesign_hash(dir: &Path, file: &str) -> String {
    let output = run(dir, "pesign", &["-h", "-i", file]);
    output.split_whitespace().next().unwrap().to_owned()
}

fn check_image(server: &Server, dir: &Path, name: &str, image: &[u8]) {
    fs::write(dir.join(name), image).unwrap();
    let signed = sign(server, image);
    let signed_name = format!("{name}.signed");
    fs::write(dir.join(&signed_name), &signed).unwrap();

    let verified = run(dir, "sbverify", &["--cert", "db.crt", &signed_name]);
    assert!(verified.contains("Signature verification OK"), "{verified}");
    let osslsigncode = run(
        dir,
        "osslsigncode",
        &["verify", "-CAfile", "db.crt", "-in", &signed_name],
    );
    assert!(osslsigncode.contains("Succeeded"), "{osslsigncode}");

    // sbsign pads an unaligned image to 8 bytes before hashing, so compare
    // against the padded input.
    let mut padded = image.to_vec();
    padded.resize(image.len().div_ceil(8) * 8, 0);
    fs::write(dir.join("padded.efi"), &padded).unwrap();
    assert_eq!(
        pesign_hash(dir, &signed_name),
        pesign_hash(dir, "padded.efi"),
        "Authenticode hash changed"
    );

    let time = signing_time(dir, &signed_name);
    let reference = sbsign_at(dir, &time, name, "reference.efi");
    assert_eq!(signed.len(), reference.len(), "{name}: length differs from sbsign");
    assert!(signed == reference, "{name}: bytes differ from sbsign at {time}");
}

#[test]
fn efi_shim_equals_sbsign() {
    let (server, dir) = setup();
    check_image(&server, dir.path(), "shimx64.efi", &shim());
}

#[test]
fn efi_large_pe32_plus_equals_sbsign() {
    let (server, dir) = setup();
    let image = generate_pe(true, &[(".text", 3 << 20), (".data", 1 << 20)], 3);
    check_image(&server, dir.path(), "large.efi", &image);
}

#[test]
fn efi_pe32_equals_sbsign() {
    let (server, dir) = setup();
    let image = generate_pe(false, &[(".text", 0x6000), (".data", 0x900)], 0);
    check_image(&server, dir.path(), "small32.efi", &image);
}

#[test]
fn efi_second_signature_is_appended() {
    let (server, dir) = setup();
    let once = sign(&server, &shim());
    let twice = sign(&server, &once);
    fs::write(dir.path().join("twice.efi"), &twice).unwrap();
    let listing = run(dir.path(), "sbverify", &["--list", "twice.efi"]);
    let signatures = listing.lines().filter(|line| line.starts_with("signature ")).count();
    assert_eq!(signatures, 2, "{listing}");
    let verified = run(dir.path(), "sbverify", &["--cert", "db.crt", "twice.efi"]);
    assert!(verified.contains("Signature verification OK"), "{verified}");
}

#[test]
fn efi_bad_input_is_rejected() {
    let (server, _dir) = setup();
    let image = generate_pe(true, &[(".text", 0x2000)], 0);
    let before = snapshot(&server.store);
    let mut bad_magic = image.clone();
    bad_magic[0] = b'X';
    let mut bad_offset = image.clone();
    bad_offset[0x3c..0x40].copy_from_slice(&0xffff_fff0u32.to_le_bytes());

    let cases: Vec<(serde_json::Value, u16, &[&str])> = vec![
        (
            json!({ "key_id": "db", "payload": b64encode(&image[..image.len() / 2]) }),
            400,
            &["`payload`", "PE"],
        ),
        (
            json!({ "key_id": "db", "payload": b64encode(&image[..0x40]) }),
            400,
            &["`payload`", "PE"],
        ),
        (
            json!({ "key_id": "db", "payload": b64encode(&bad_magic) }),
            400,
            &["`payload`", "PE"],
        ),
        (
            json!({ "key_id": "db", "payload": b64encode(&bad_offset) }),
            400,
            &["`payload`", "PE"],
        ),
        (json!({ "key_id": "db", "payload": "" }), 400, &["`payload`"]),
        (
            json!({ "key_id": "db", "payload": "%%%%" }),
            400,
            &["`payload`", "base64"],
        ),
        (
            json!({ "key_id": "none", "payload": b64encode(&image) }),
            404,
            &["certificate 'none' not found"],
        ),
        (
            json!({ "key_id": "db/../db", "payload": b64encode(&image) }),
            400,
            &["`key_id`"],
        ),
        (
            json!({ "key_id": "db", "payload": b64encode(&image), "detached": true }),
            400,
            &["`detached`"],
        ),
    ];
    for (body, status, words) in &cases {
        assert_error(&server.post("/secureboot/efi", body), *status, words);
    }
    assert_eq!(snapshot(&server.store), before);
}

#[test]
fn efi_payload_near_body_limit() {
    let server = crate::common::Server::start_with(crate::common::ServerOptions {
        args: vec!["--max-body".into(), "1MiB".into()],
        ..crate::common::ServerOptions::default()
    });
    let reply = server.post("/cert", &json!({ "cert_id": "db", "subject": "/CN=db" }));
    assert_eq!(reply.status, 200, "{}", reply.json);
    let before = snapshot(&server.store);

    // 700 KiB of image is about 933 KiB of base64 inside the JSON body.
    let fits = generate_pe(true, &[(".text", 700 << 10)], 0);
    let body = json!({ "key_id": "db", "payload": b64encode(&fits) });
    assert!(body.to_string().len() < 1 << 20);
    let reply = server.post("/secureboot/efi", &body);
    assert_eq!(reply.status, 200, "{}", reply.json);

    let too_large = generate_pe(true, &[(".text", 800 << 10)], 0);
    let body = json!({ "key_id": "db", "payload": b64encode(&too_large) });
    assert!(body.to_string().len() > 1 << 20);
    assert_error(&server.post("/secureboot/efi", &body), 413, &["1048576 bytes"]);
    assert_eq!(snapshot(&server.store), before);
}
