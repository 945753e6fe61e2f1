//! `/gpg/...` checked with GnuPG (gpg, gpgv) and GRUB (grub-emu).

use std::fs;
use std::path::Path;

use balena_sign_conformance::gnupg::{secret_key_export, GnupgHome};
use balena_sign_conformance::grub::{run_grub, GrubCheck};
use balena_sign_conformance::Scratch;
use balena_sign_formats::openpgp::{Signature, SubpacketType, TransferablePublicKey};
use serde_json::{json, Value};

use crate::common::{assert_error, b64decode, b64encode, run, snapshot, test_bytes, Server};

fn create_key(server: &Server, bits: u32) -> String {
    let reply = server.post(
        "/gpg/key",
        &json!({
            "name_real": "balenaOS Test",
            "name_comment": "GRUB",
            "name_email": "security@example.com",
            "key_length": bits,
        }),
    );
    assert_eq!(reply.status, 200, "{}", reply.json);
    reply.field("fingerprint").to_owned()
}

fn sign(server: &Server, fingerprint: &str, payload: &[u8]) -> Vec<u8> {
    let reply = server.post(
        "/gpg/sign",
        &json!({ "key_id": fingerprint, "payload": b64encode(payload) }),
    );
    assert_eq!(reply.status, 200, "{}", reply.json);
    b64decode(reply.field("signature"))
}

/// Fetches the armored key and writes it, and `gpg --dearmor` of it, into `dir`.
fn fetch_key(server: &Server, fingerprint: &str, dir: &Path) {
    let armored = server.get(&format!("/gpg/key/{}", fingerprint.to_lowercase()));
    assert_eq!(armored.status, 200, "{}", armored.json);
    fs::write(dir.join("key.asc"), armored.field("key")).unwrap();
    run(
        dir,
        "gpg",
        &["--batch", "--yes", "--output", "key.gpg", "--dearmor", "key.asc"],
    );
}

#[test]
fn gpg_key_is_listed_and_imports() {
    let server = Server::start();
    assert_eq!(server.get("/gpg/keys").json, json!({ "keys": [] }));
    let fingerprint = create_key(&server, 2048);
    assert_eq!(fingerprint.len(), 40);
    assert_eq!(fingerprint, fingerprint.to_uppercase());
    assert_eq!(server.get("/gpg/keys").json, json!({ "keys": [fingerprint] }));

    let scratch = Scratch::new().unwrap();
    fetch_key(&server, &fingerprint, scratch.root());
    let home = GnupgHome::new(&scratch, "home");
    home.gpg(scratch.root(), &["--import", "key.asc"]);
    let fingerprints = home.colon_records(scratch.root(), &["--list-keys"], "fpr");
    assert_eq!(fingerprints[0][9], fingerprint);
    let user_ids = home.colon_records(scratch.root(), &["--list-keys"], "uid");
    assert_eq!(user_ids[0][9], "balenaOS Test (GRUB) <security@example.com>");
    let keys = home.colon_records(scratch.root(), &["--list-keys"], "pub");
    assert_eq!(keys[0][2], "2048", "key length");
    assert_eq!(keys[0][6], "", "the key must not expire");
    assert_eq!(keys[0][11], "scSC", "capabilities");
}

#[test]
fn user_id_without_comment() {
    let server = Server::start();
    let reply = server.post(
        "/gpg/key",
        &json!({ "name_real": "Fleet", "name_email": "fleet@example.com" }),
    );
    assert_eq!(reply.status, 200, "{}", reply.json);
    let fingerprint = reply.field("fingerprint");
    let armored = server.get(&format!("/gpg/key/{fingerprint}"));
    let key = TransferablePublicKey::from_armored(armored.field("key")).unwrap();
    assert_eq!(key.user_ids()[0].user_id().as_str(), Some("Fleet <fleet@example.com>"));
}

#[test]
fn gpgv_verifies_signatures() {
    let server = Server::start();
    let fingerprint = create_key(&server, 4096);
    let scratch = Scratch::new().unwrap();
    fetch_key(&server, &fingerprint, scratch.root());

    for (name, len) in [("grub.cfg", 1500), ("kernel", 6 << 20)] {
        let data = test_bytes(len, 3);
        fs::write(scratch.path(name), &data).unwrap();
        fs::write(scratch.path(&format!("{name}.sig")), sign(&server, &fingerprint, &data)).unwrap();
        run(
            scratch.root(),
            "gpgv",
            &["--keyring", "./key.gpg", &format!("{name}.sig"), name],
        );
    }

    fs::write(scratch.path("kernel"), b"changed").unwrap();
    let status = std::process::Command::new("gpgv")
        .args(["--keyring", "./key.gpg", "kernel.sig", "kernel"])
        .current_dir(scratch.root())
        .output()
        .unwrap();
    assert!(!status.status.success(), "gpgv accepted a changed file");
}

#[test]
fn signature_layout_is_what_grub_reads() {
    let server = Server::start();
    let fingerprint = create_key(&server, 2048);
    let signature = sign(&server, &fingerprint, b"menuentry");

    // Old-format CTB for tag 2 with a two-octet length, as gpg writes it.
    assert_eq!(signature[0], 0x89);
    let body_len = usize::from(u16::from_be_bytes([signature[1], signature[2]]));
    assert_eq!(signature.len(), 3 + body_len);
    let parsed = Signature::from_packet_body(&signature[3..]).unwrap();
    assert_eq!(parsed.body()[0], 4, "version");
    assert_eq!(parsed.body()[1], 0x00, "binary document");
    assert_eq!(parsed.body()[3], 10, "SHA-512");
    let unhashed: Vec<_> = parsed.unhashed_subpackets().iter().map(|s| s.subpacket_type).collect();
    assert_eq!(
        unhashed,
        [SubpacketType::ISSUER],
        "GRUB reads the issuer only from the unhashed area"
    );
    assert_eq!(parsed.issuer_key_id().unwrap().to_string(), fingerprint[24..]);

    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let created = u64::from(parsed.creation_time().unwrap());
    assert!(created <= now, "signature from the future");
    assert!(created + 60 >= now, "signature time {created} is not now ({now})");
}

#[test]
fn signature_equals_gpg_detach_sign() {
    let server = Server::start();
    let fingerprint = create_key(&server, 2048);
    let data = test_bytes(50_000, 9);
    let ours = sign(&server, &fingerprint, &data);
    let created = Signature::from_packet_body(&ours[3..])
        .unwrap()
        .creation_time()
        .unwrap();

    // The same private key, imported into gpg, signing at the same time.
    let scratch = Scratch::new().unwrap();
    let armored = server.get(&format!("/gpg/key/{fingerprint}"));
    let transferable = TransferablePublicKey::from_armored(armored.field("key")).unwrap();
    let pem = server.store.join(format!("gpg/{fingerprint}/private.pem"));
    fs::write(scratch.path("secret.gpg"), secret_key_export(&pem, &transferable)).unwrap();
    fs::write(scratch.path("data"), &data).unwrap();
    let home = GnupgHome::new(&scratch, "home");
    home.gpg(scratch.root(), &["--import", "secret.gpg"]);

    let faked_time = format!("{created}!");
    let output = home.gpg(
        scratch.root(),
        &[
            "--faked-system-time",
            &faked_time,
            "--local-user",
            &fingerprint,
            "--detach-sign",
            "--output",
            "-",
            "data",
        ],
    );
    assert_eq!(hex::encode(output.stdout), hex::encode(ours));
}

fn check_grub_verifies(bits: u32) {
    let server = Server::start();
    let fingerprint = create_key(&server, bits);
    let scratch = Scratch::new().unwrap();
    fetch_key(&server, &fingerprint, scratch.root());

    let mut checks = Vec::new();
    for (name, len) in [("grub.cfg", 700), ("vmlinuz", 5 << 20)] {
        let data = test_bytes(len, 5);
        fs::write(scratch.path(name), &data).unwrap();
        fs::write(scratch.path(&format!("{name}.sig")), sign(&server, &fingerprint, &data)).unwrap();
        checks.push(GrubCheck {
            label: name.to_owned(),
            data: scratch.path(name),
            signature: scratch.path(&format!("{name}.sig")),
        });
    }
    fs::write(scratch.path("changed"), b"changed").unwrap();
    fs::write(scratch.path("changed.sig"), sign(&server, &fingerprint, b"original")).unwrap();
    checks.push(GrubCheck {
        label: "changed".to_owned(),
        data: scratch.path("changed"),
        signature: scratch.path("changed.sig"),
    });

    for (label, code) in run_grub(&scratch, &scratch.path("key.gpg"), &checks) {
        if label == "changed" {
            assert_ne!(code, "0", "GRUB accepted a changed file");
        } else {
            assert_eq!(code, "0", "GRUB rejected {label} with a {bits}-bit key");
        }
    }
}

#[test]
fn grub_verifies_2048_bit_key() {
    check_grub_verifies(2048);
}

#[test]
fn grub_verifies_4096_bit_key() {
    check_grub_verifies(4096);
}

#[test]
fn gpg_bad_input_is_rejected() {
    let server = Server::start();
    let fingerprint = create_key(&server, 2048);
    let before = snapshot(&server.store);
    let key_id = &fingerprint[24..];
    let prefix = &fingerprint[..20];
    let unknown = "0".repeat(40);

    let cases: Vec<(&str, Value, u16, &[&str])> = vec![
        (
            "/gpg/sign",
            json!({ "key_id": unknown, "payload": "" }),
            404,
            &["not found"],
        ),
        (
            "/gpg/sign",
            json!({ "key_id": key_id, "payload": "" }),
            404,
            &["not found"],
        ),
        (
            "/gpg/sign",
            json!({ "key_id": prefix, "payload": "" }),
            404,
            &["not found"],
        ),
        (
            "/gpg/sign",
            json!({ "key_id": "balenaOS Test", "payload": "" }),
            404,
            &["not found"],
        ),
        (
            "/gpg/sign",
            json!({ "key_id": "zz".repeat(20), "payload": "" }),
            404,
            &["not found"],
        ),
        (
            "/gpg/sign",
            json!({ "key_id": "../gpg", "payload": "" }),
            400,
            &["`key_id`"],
        ),
        (
            "/gpg/sign",
            json!({ "key_id": fingerprint, "payload": "%%%" }),
            400,
            &["`payload`", "base64"],
        ),
        (
            "/gpg/sign",
            json!({ "key_id": fingerprint }),
            400,
            &["`payload`", "required"],
        ),
        ("/gpg/sign", json!({ "payload": "" }), 400, &["`key_id`", "required"]),
        (
            "/gpg/sign",
            json!({ "key_id": fingerprint, "payload": "", "armor": true }),
            400,
            &["`armor`"],
        ),
        (
            "/gpg/key",
            json!({ "name_email": "a@b.c" }),
            400,
            &["`name_real`", "required"],
        ),
        (
            "/gpg/key",
            json!({ "name_real": "A" }),
            400,
            &["`name_email`", "required"],
        ),
        (
            "/gpg/key",
            json!({ "name_real": "A\nB", "name_email": "a@b.c" }),
            400,
            &["`name_real`", "control"],
        ),
        (
            "/gpg/key",
            json!({ "name_real": "A", "name_email": "a@b.c\r\n" }),
            400,
            &["`name_email`"],
        ),
        (
            "/gpg/key",
            json!({ "name_real": "A", "name_email": "a@b.c", "name_comment": "x\ny" }),
            400,
            &["`name_comment`"],
        ),
        (
            "/gpg/key",
            json!({ "name_real": "A <x@y>", "name_email": "a@b.c" }),
            400,
            &["`name_real`"],
        ),
        (
            "/gpg/key",
            json!({ "name_real": "A", "name_email": "not-an-address" }),
            400,
            &["`name_email`"],
        ),
        (
            "/gpg/key",
            json!({ "name_real": "A", "name_email": "a@b.c", "key_length": 3072 }),
            400,
            &["`key_length`"],
        ),
        (
            "/gpg/key",
            json!({ "name_real": "A", "name_email": "a@b.c", "expire": 0 }),
            400,
            &["`expire`", "unknown field"],
        ),
    ];
    for (path, body, status, words) in &cases {
        assert_error(&server.post(path, body), *status, words);
    }
    assert_error(&server.get(&format!("/gpg/key/{key_id}")), 404, &["not found"]);
    assert_error(&server.get(&format!("/gpg/key/{unknown}")), 404, &["not found"]);
    assert_eq!(snapshot(&server.store), before);
}
