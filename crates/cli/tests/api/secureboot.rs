//! `/secureboot/{pk,kek,db,dbx}`: signature lists and authenticated
//! variables compared byte for byte with efitools, and their PKCS#7 checked
//! with `openssl cms -verify`.

use std::fs;
use std::path::Path;

use balena_sign_conformance::cms::wrap_signed_data;
use serde_json::{json, Value};

use crate::common::{assert_error, b64decode, b64encode, run, snapshot, Server};
use crate::inputs::SHIM;

/// Offset of `SignatureOwner` in an X.509 signature list.
const OWNER_OFFSET: usize = 28;
/// `EFI_TIME` plus the `WIN_CERTIFICATE_UEFI_GUID` header.
const AUTH_HEADER_LEN: usize = 16 + 24;

struct Fixture {
    server: Server,
    dir: tempfile::TempDir,
}

impl Fixture {
    fn new(cert_ids: &[&str]) -> Self {
        let server = Server::start();
        let dir = tempfile::tempdir().unwrap();
        for id in cert_ids {
            let reply = server.post(
                "/cert",
                &json!({ "cert_id": id, "subject": format!("/CN=balenaOS {id}/") }),
            );
            assert_eq!(reply.status, 200, "{}", reply.json);
            fs::write(dir.path().join(format!("{id}.crt")), reply.field("cert")).unwrap();
            fs::copy(
                server.store.join(format!("x509/{id}.key")),
                dir.path().join(format!("{id}.key")),
            )
            .unwrap();
        }
        Self { server, dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn read(&self, name: &str) -> Vec<u8> {
        fs::read(self.path().join(name)).unwrap()
    }

    /// Builds with cert-to-efi-sig-list the signature list of the
    /// certificates, each with the owner GUID our list uses.
    fn reference_list(&self, ids: &[&str], ours: &[u8]) -> Vec<u8> {
        let mut reference = Vec::new();
        let mut offset = 0;
        for id in ids {
            let size = u32::from_le_bytes(ours[offset + 16..offset + 20].try_into().unwrap()) as usize;
            let owner = guid_text(&ours[offset + OWNER_OFFSET..offset + OWNER_OFFSET + 16]);
            run(
                self.path(),
                "cert-to-efi-sig-list",
                &["-g", &owner, &format!("{id}.crt"), "one.esl"],
            );
            reference.extend(self.read("one.esl"));
            offset += size;
        }
        reference
    }

    /// Checks `auth` against sign-efi-sig-list at the same time, and its
    /// PKCS#7 with openssl.
    fn check_auth(&self, variable: &str, signer: &str, esl: &[u8], auth: &[u8], append: bool) {
        check_auth(self.path(), variable, signer, esl, auth, append);
    }
}

/// Checks `auth` against `sign-efi-sig-list -t` at the same time, with
/// `<signer>.key` and `<signer>.crt` from `dir`, and its PKCS#7 with
/// `openssl cms -verify`.
pub(crate) fn check_auth(dir: &Path, variable: &str, signer: &str, esl: &[u8], auth: &[u8], append: bool) {
    fs::write(dir.join("list.esl"), esl).unwrap();
    let time = efi_time_text(&auth[..16]);
    let mut args = vec!["-t", &time, "-k"];
    let key = format!("{signer}.key");
    let cert = format!("{signer}.crt");
    args.extend([key.as_str(), "-c", cert.as_str()]);
    if append {
        args.push("-a");
    }
    args.extend([variable, "list.esl", "reference.auth"]);
    run(dir, "sign-efi-sig-list", &args);
    assert_eq!(
        hex::encode(auth),
        hex::encode(fs::read(dir.join("reference.auth")).unwrap()),
        "{variable} differs from efitools"
    );
    assert_eq!(
        &auth[auth.len() - esl.len()..],
        esl,
        "{variable} does not end with its list"
    );

    let dw_length = u32::from_le_bytes(auth[16..20].try_into().unwrap()) as usize;
    let signed_data = &auth[AUTH_HEADER_LEN..16 + dw_length];
    fs::write(dir.join("ci.der"), wrap_signed_data(signed_data)).unwrap();
    let mut tbs_args = vec!["-o", "-t", &time];
    if append {
        tbs_args.push("-a");
    }
    tbs_args.extend([variable, "list.esl", "tbs.bin"]);
    run(dir, "sign-efi-sig-list", &tbs_args);
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
            "ci.der",
            "-content",
            "tbs.bin",
            "-CAfile",
            &cert,
            "-purpose",
            "any",
            "-out",
            "/dev/null",
        ],
    );
}

/// Formats 16 GUID bytes (first three fields little-endian) as text.
fn guid_text(bytes: &[u8]) -> String {
    format!(
        "{:08x}-{:04x}-{:04x}-{}-{}",
        u32::from_le_bytes(bytes[0..4].try_into().unwrap()),
        u16::from_le_bytes(bytes[4..6].try_into().unwrap()),
        u16::from_le_bytes(bytes[6..8].try_into().unwrap()),
        hex::encode(&bytes[8..10]),
        hex::encode(&bytes[10..16])
    )
}

/// Formats an EFI_TIME as sign-efi-sig-list's `-t` argument.
fn efi_time_text(time: &[u8]) -> String {
    let year = u16::from_le_bytes([time[0], time[1]]);
    format!(
        "{year}-{:02}-{:02} {:02}:{:02}:{:02}",
        time[2], time[3], time[4], time[5], time[6]
    )
}

fn get(fixture: &Fixture, variable: &str, ids: &str) -> Value {
    let reply = fixture.server.get(&format!("/secureboot/{variable}/{ids}"));
    assert_eq!(reply.status, 200, "{}", reply.json);
    reply.json
}

#[test]
fn pk_kek_db_match_efitools() {
    let fixture = Fixture::new(&["pk", "kek", "db"]);
    let server = &fixture.server;
    assert_eq!(
        server.post("/secureboot/pk", &json!({ "key_id": "pk" })).json,
        json!({})
    );
    let kek = server.post("/secureboot/kek", &json!({ "key_id": ["kek"], "signing_key_id": "pk" }));
    assert_eq!(kek.status, 200, "{}", kek.json);
    let db = server.post("/secureboot/db", &json!({ "key_id": "db", "signing_key_id": "kek" }));
    assert_eq!(db.status, 200, "{}", db.json);

    for (variable, path, id, signer) in [
        ("PK", "pk", "pk", "pk"),
        ("KEK", "kek", "kek", "pk"),
        ("db", "db", "db", "kek"),
    ] {
        let reply = get(&fixture, path, id);
        let esl = b64decode(reply["esl"].as_str().unwrap());
        assert_eq!(
            esl,
            fixture.reference_list(&[id], &esl),
            "{variable} list differs from cert-to-efi-sig-list"
        );
        let auth = b64decode(reply[path].as_str().unwrap());
        fixture.check_auth(variable, signer, &esl, &auth, false);

        let der = reply["der"].as_array().unwrap();
        assert_eq!(der.len(), 1);
        run(
            fixture.path(),
            "openssl",
            &[
                "x509",
                "-in",
                &format!("{id}.crt"),
                "-outform",
                "DER",
                "-out",
                "cert.der",
            ],
        );
        assert_eq!(b64decode(der[0].as_str().unwrap()), fixture.read("cert.der"));
    }
}

#[test]
fn two_certificate_list_is_sorted() {
    let fixture = Fixture::new(&["kek", "db-b", "db-a"]);
    let reply = fixture.server.post(
        "/secureboot/db",
        &json!({ "key_id": ["db-b", "db-a", "db-b"], "signing_key_id": "kek", "append": true }),
    );
    assert_eq!(reply.status, 200, "{}", reply.json);

    let reply = get(&fixture, "db", "db-b,db-a");
    assert_eq!(
        get(&fixture, "db", "db-a,db-b,db-a"),
        reply,
        "order and duplicates must not matter"
    );
    let esl = b64decode(reply["esl"].as_str().unwrap());
    assert_eq!(esl, fixture.reference_list(&["db-a", "db-b"], &esl));
    fixture.check_auth("db", "kek", &esl, &b64decode(reply["db"].as_str().unwrap()), true);
    assert_eq!(reply["der"].as_array().unwrap().len(), 2);
}

#[test]
fn external_hash_list_matches_efitools() {
    let fixture = Fixture::new(&["kek"]);
    run(fixture.path(), "hash-to-efi-sig-list", &[SHIM, "hashes.esl"]);
    let esl = fixture.read("hashes.esl");
    let before = snapshot(&fixture.server.store);

    for (path, variable) in [("dbx", "dbx"), ("db", "db")] {
        let reply = fixture.server.post(
            &format!("/secureboot/{path}"),
            &json!({ "esl": b64encode(&esl), "signing_key_id": "kek", "append": true }),
        );
        assert_eq!(reply.status, 200, "{}", reply.json);
        fixture.check_auth(variable, "kek", &esl, &b64decode(reply.field("auth")), true);
    }
    assert_eq!(
        snapshot(&fixture.server.store),
        before,
        "an external list must not be stored"
    );
}

#[test]
fn second_signing_is_409_once() {
    let fixture = Fixture::new(&["pk"]);
    let statuses: Vec<u16> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..6)
            .map(|_| scope.spawn(|| fixture.server.post("/secureboot/pk", &json!({ "key_id": "pk" })).status))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 409).count(), 5, "{statuses:?}");
    assert_error(
        &fixture.server.post("/secureboot/pk", &json!({ "key_id": "pk" })),
        409,
        &["already signed", "GET /secureboot/pk/pk"],
    );
}

#[test]
fn get_writes_nothing() {
    let fixture = Fixture::new(&["pk"]);
    assert_eq!(
        fixture.server.post("/secureboot/pk", &json!({ "key_id": "pk" })).status,
        200
    );
    let before = snapshot(&fixture.server.store);
    get(&fixture, "pk", "pk");
    assert_error(&fixture.server.get("/secureboot/kek/pk"), 404, &["not found"]);
    assert_eq!(snapshot(&fixture.server.store), before);
}

#[test]
fn secureboot_bad_input_is_rejected() {
    let fixture = Fixture::new(&["pk", "kek"]);
    let server = &fixture.server;
    assert_eq!(server.post("/secureboot/pk", &json!({ "key_id": "pk" })).status, 200);
    let before = snapshot(&server.store);

    let mut truncated = Vec::new();
    truncated.extend_from_slice(&[0u8; 20]);
    let mut oversized = b64decode(get(&fixture, "pk", "pk")["esl"].as_str().unwrap());
    oversized[16..20].copy_from_slice(&0x00ff_ffffu32.to_le_bytes());

    let cases: Vec<(&str, Value, u16, &[&str])> = vec![
        (
            "/secureboot/pk",
            json!({ "key_id": "nobody" }),
            404,
            &["certificate 'nobody' not found"],
        ),
        (
            "/secureboot/kek",
            json!({ "key_id": ["kek", "nobody"], "signing_key_id": "pk" }),
            404,
            &["'nobody' not found"],
        ),
        (
            "/secureboot/kek",
            json!({ "key_id": "kek", "signing_key_id": "nobody" }),
            404,
            &["'nobody' not found"],
        ),
        (
            "/secureboot/kek",
            json!({ "key_id": [] }),
            400,
            &["`key_id`", "at least one"],
        ),
        ("/secureboot/kek", json!({ "key_id": ["../pk"] }), 400, &["`key_id`"]),
        ("/secureboot/kek", json!({ "key_id": 7 }), 400, &["`key_id`"]),
        (
            "/secureboot/pk",
            json!({ "key_id": "pk", "esl": "" }),
            400,
            &["`esl`", "unknown field"],
        ),
        (
            "/secureboot/db",
            json!({ "esl": b64encode(&truncated), "signing_key_id": "kek" }),
            400,
            &["`esl`"],
        ),
        (
            "/secureboot/db",
            json!({ "esl": b64encode(&oversized), "signing_key_id": "kek" }),
            400,
            &["`esl`"],
        ),
        (
            "/secureboot/db",
            json!({ "esl": "@@@", "signing_key_id": "kek" }),
            400,
            &["`esl`", "base64"],
        ),
        ("/secureboot/db", json!({ "esl": "" }), 400, &["`signing_key_id`"]),
        (
            "/secureboot/db",
            json!({ "esl": "", "key_id": "kek", "signing_key_id": "kek" }),
            400,
            &["not both"],
        ),
        ("/secureboot/dbx", json!({}), 400, &["`key_id`"]),
        (
            "/secureboot/db",
            json!({ "key_id": "kek", "append": "yes" }),
            400,
            &["`append`"],
        ),
    ];
    for (path, body, status, words) in &cases {
        assert_error(&server.post(path, body), *status, words);
    }
    assert_error(&server.get("/secureboot/pk/nobody"), 404, &["not found"]);
    assert_error(&server.get("/secureboot/pk/pk,..%2Fx"), 400, &["`ids`"]);
    assert_error(&server.get("/secureboot/dbx/pk"), 404, &["no such endpoint"]);
    assert_eq!(snapshot(&server.store), before);
}
