//! Imports a backup that the older Python service exported, kept with the
//! public material that service served, and proves that every key came
//! across: the public material served equals the recorded one, and new
//! signatures verify against it.

use std::fs;
use std::path::{Path, PathBuf};

use serde_json::{json, Value};

use crate::common::{b64decode, b64encode, run, Server};

const PASSPHRASE: &str = "CorrectHorseBatteryStaple2026";
const CERT_IDS: [&str; 4] = ["fixa-pk", "fixa-kek", "fixa-db", "fixa-kmod"];

fn fixtures() -> PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/fixtures/original-export");
    assert!(
        path.join("export.json").exists(),
        "missing fixture folder {}",
        path.display()
    );
    path
}

fn fixture(name: &str) -> Value {
    serde_json::from_str(&fs::read_to_string(fixtures().join(name)).unwrap()).unwrap()
}

fn imported_server() -> Server {
    let server = Server::start();
    let export = fixture("export.json");
    let reply = server.post(
        "/import",
        &json!({ "key": PASSPHRASE, "data": export["data"], "salt": export["salt"] }),
    );
    assert_eq!(reply.status, 204, "{}", reply.json);
    server
}

#[test]
fn fixture_public_material_is_unchanged() {
    let server = imported_server();
    for (id, file) in CERT_IDS.iter().zip(["pk.json", "kek.json", "db.json", "kmod.json"]) {
        assert_eq!(server.get(&format!("/cert/{id}")).json, fixture(file), "{id}");
    }

    let gpg = fixture("gpg.json");
    let fingerprint = gpg["fingerprint"].as_str().unwrap();
    assert_eq!(server.get("/gpg/keys").json, json!({ "keys": [fingerprint] }));
    assert_eq!(
        server.get(&format!("/gpg/key/{fingerprint}")).json,
        fixture("gpg-public.json")
    );

    let rsa = fixture("rsa.json");
    let rsa_id = rsa["fingerprint"].as_str().unwrap();
    assert_eq!(server.get("/rsa/keys").json, json!({ "keys": [rsa_id] }));
    assert_eq!(
        server.get(&format!("/rsa/key/{rsa_id}")).json,
        fixture("rsa-public.json")
    );

    for (variable, id) in [("pk", "fixa-pk"), ("kek", "fixa-kek"), ("db", "fixa-db")] {
        let served = server.get(&format!("/secureboot/{variable}/{id}")).json;
        assert_eq!(served, fixture(&format!("secureboot-{variable}.json")), "{variable}");
    }
}

#[test]
fn fixture_keys_sign_verifiably() {
    let server = imported_server();
    let dir = tempfile::tempdir().unwrap();
    let payload = b64decode(fs::read_to_string(fixtures().join("payload.b64")).unwrap().trim());
    fs::write(dir.path().join("payload"), &payload).unwrap();

    // OpenPGP: gpgv with the public key the older service served.
    let fingerprint = fixture("gpg.json")["fingerprint"].as_str().unwrap().to_owned();
    fs::write(
        dir.path().join("key.asc"),
        fixture("gpg-public.json")["key"].as_str().unwrap(),
    )
    .unwrap();
    run(
        dir.path(),
        "gpg",
        &["--batch", "--yes", "--output", "key.gpg", "--dearmor", "key.asc"],
    );
    let signature = server.post(
        "/gpg/sign",
        &json!({ "key_id": fingerprint, "payload": b64encode(&payload) }),
    );
    assert_eq!(signature.status, 200, "{}", signature.json);
    fs::write(dir.path().join("payload.sig"), b64decode(signature.field("signature"))).unwrap();
    run(
        dir.path(),
        "gpgv",
        &["--keyring", "./key.gpg", "payload.sig", "payload"],
    );

    // Raw digest signatures with every certificate's key.
    run(
        dir.path(),
        "sh",
        &["-c", "openssl dgst -sha256 -binary payload > digest.bin"],
    );
    let digest = hex::encode(fs::read(dir.path().join("digest.bin")).unwrap());
    for id in CERT_IDS {
        let reply = server.post("/cert/sign", &json!({ "cert_id": id, "digest": digest }));
        assert_eq!(reply.status, 200, "{}", reply.json);
        fs::write(dir.path().join("cert.sig"), b64decode(reply.field("signature"))).unwrap();
        let file = format!("{}.json", id.trim_start_matches("fixa-"));
        fs::write(dir.path().join("cert.pem"), fixture(&file)["cert"].as_str().unwrap()).unwrap();
        let verified = run(
            dir.path(),
            "openssl",
            &[
                "pkeyutl",
                "-verify",
                "-certin",
                "-inkey",
                "cert.pem",
                "-in",
                "digest.bin",
                "-sigfile",
                "cert.sig",
            ],
        );
        assert!(verified.contains("Signature Verified Successfully"), "{id}: {verified}");
    }

    // Raspberry Pi: the digest file verifies with the recorded public key.
    let rsa_id = fixture("rsa.json")["fingerprint"].as_str().unwrap().to_owned();
    fs::write(
        dir.path().join("rpi.pem"),
        fixture("rsa-public.json")["key"].as_str().unwrap(),
    )
    .unwrap();
    let reply = server.post(
        "/rsa/sign",
        &json!({ "key_id": rsa_id, "payload": b64encode(&payload) }),
    );
    assert_eq!(reply.status, 200, "{}", reply.json);
    let file = String::from_utf8(b64decode(reply.field("signature"))).unwrap();
    let signature_hex = file.lines().find_map(|line| line.strip_prefix("rsa2048: ")).unwrap();
    fs::write(dir.path().join("rpi.sig"), hex::decode(signature_hex).unwrap()).unwrap();
    let verified = run(
        dir.path(),
        "openssl",
        &[
            "dgst",
            "-sha256",
            "-verify",
            "rpi.pem",
            "-signature",
            "rpi.sig",
            "payload",
        ],
    );
    assert_eq!(verified.trim(), "Verified OK");

    // The older service's own signatures verify against the imported keys too.
    let recorded = String::from_utf8(b64decode(fixture("rsa-sign.json")["signature"].as_str().unwrap())).unwrap();
    let recorded_hex = recorded
        .lines()
        .find_map(|line| line.strip_prefix("rsa2048: "))
        .unwrap();
    fs::write(dir.path().join("recorded.sig"), hex::decode(recorded_hex).unwrap()).unwrap();
    let public = server.get(&format!("/rsa/key/{rsa_id}"));
    fs::write(dir.path().join("served.pem"), public.field("key")).unwrap();
    let verified = run(
        dir.path(),
        "openssl",
        &[
            "dgst",
            "-sha256",
            "-verify",
            "served.pem",
            "-signature",
            "recorded.sig",
            "payload",
        ],
    );
    assert_eq!(verified.trim(), "Verified OK");
}

#[test]
fn fixture_round_trips_through_our_export() {
    let server = imported_server();
    let exported = server.post("/export", &json!({ "key": PASSPHRASE }));
    assert_eq!(exported.status, 200, "{}", exported.json);

    // GnuPG 2.2 reads the exported gpg/ home and lists the secret key.
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("export.json"), exported.json.to_string()).unwrap();
    fs::write(dir.path().join("decrypt.py"), DECRYPT).unwrap();
    run(
        dir.path(),
        &balena_sign_conformance::spsdk::python(),
        &["decrypt.py", "export.json", PASSPHRASE, "out"],
    );
    let home = dir.path().join("out/gpg");
    let listed = run(
        dir.path(),
        "gpg",
        &[
            "--homedir",
            home.to_str().unwrap(),
            "--batch",
            "--with-colons",
            "--list-secret-keys",
        ],
    );
    let fingerprint = fixture("gpg.json")["fingerprint"].as_str().unwrap().to_owned();
    assert!(listed.contains(&fingerprint), "{listed}");
    let _ = std::process::Command::new("gpgconf")
        .arg("--homedir")
        .arg(&home)
        .args(["--kill", "all"])
        .status();

    // A second store that imports our export serves the same material.
    let second = Server::start();
    let reply = second.post(
        "/import",
        &json!({ "key": PASSPHRASE, "data": exported.json["data"], "salt": exported.json["salt"] }),
    );
    assert_eq!(reply.status, 204, "{}", reply.json);
    assert_eq!(
        second.get(&format!("/gpg/key/{fingerprint}")).json,
        fixture("gpg-public.json")
    );
    assert_eq!(
        second.get("/secureboot/kek/fixa-kek").json,
        fixture("secureboot-kek.json")
    );
}

const DECRYPT: &str = r#"
import base64, io, json, sys, tarfile
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

export = json.load(open(sys.argv[1]))
kdf = PBKDF2HMAC(algorithm=hashes.SHA256(), length=32, salt=base64.b64decode(export["salt"]), iterations=100000)
key = base64.urlsafe_b64encode(kdf.derive(sys.argv[2].encode()))
tarfile.open(fileobj=io.BytesIO(Fernet(key).decrypt(export["data"].encode())), mode="r:gz").extractall(sys.argv[3])
"#;
