//! `/export`, `/import` and `/bootstrap`, with backups made and read by an
//! independent implementation (Python's `cryptography` Fernet and `tarfile`)
//! and every imported or created key checked with the standard tools.

use std::fs;
use std::path::Path;
use std::process::Command;

use balena_sign_conformance::spsdk;
use serde_json::{json, Value};

use crate::common::{assert_error, b64decode, b64encode, binary, run, snapshot, Server, ServerOptions};

const PASSPHRASE: &str = "correct horse battery staple";

/// Python that encrypts `archive.tar.gz` as the older service does and
/// prints `{"data": ..., "salt": ...}`.
const PYTHON_ENCRYPT: &str = r#"
import base64, json, os, sys
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

salt = os.urandom(16)
kdf = PBKDF2HMAC(algorithm=hashes.SHA256(), length=32, salt=salt, iterations=100000)
key = base64.urlsafe_b64encode(kdf.derive(sys.argv[2].encode()))
data = Fernet(key).encrypt(open(sys.argv[1], "rb").read())
print(json.dumps({"data": data.decode(), "salt": base64.b64encode(salt).decode()}))
"#;

/// Python that decrypts an export and unpacks it into `out`, listing members.
const PYTHON_DECRYPT: &str = r#"
import base64, io, json, sys, tarfile
from cryptography.fernet import Fernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

export = json.load(open(sys.argv[1]))
salt = base64.b64decode(export["salt"])
kdf = PBKDF2HMAC(algorithm=hashes.SHA256(), length=32, salt=salt, iterations=100000)
key = base64.urlsafe_b64encode(kdf.derive(sys.argv[2].encode()))
archive = tarfile.open(fileobj=io.BytesIO(Fernet(key).decrypt(export["data"].encode())), mode="r:gz")
for member in archive.getmembers():
    print(member.type.decode(), member.name)
archive.extractall(sys.argv[3])
"#;

/// Python that writes hostile archives: `kind` selects the trick.
const PYTHON_HOSTILE: &str = r#"
import gzip, io, sys, tarfile

kind, out = sys.argv[1], sys.argv[2]
buffer = io.BytesIO()
with tarfile.open(fileobj=buffer, mode="w") as archive:
    def add(name, data=b"x", type=tarfile.REGTYPE, link=""):
        info = tarfile.TarInfo(name)
        info.type = type
        info.linkname = link
        info.size = len(data) if type == tarfile.REGTYPE else 0
        archive.addfile(info, io.BytesIO(data) if type == tarfile.REGTYPE else None)
    if kind == "parent":
        add("x509/../../escape.crt")
    elif kind == "absolute":
        add("/tmp/absolute.crt")
    elif kind == "symlink":
        add("x509/link.crt", type=tarfile.SYMTYPE, link="/etc/passwd")
    elif kind == "hardlink":
        add("x509/hard.crt", type=tarfile.LNKTYPE, link="x509/other.crt")
    elif kind == "device":
        add("x509/null.crt", type=tarfile.CHRTYPE)
    elif kind == "fifo":
        add("rsa/fifo", type=tarfile.FIFOTYPE)
    elif kind == "outside":
        add("etc/passwd")
    elif kind == "entries":
        for index in range(20001):
            add(f"pki/p/f{index}", b"")
    elif kind == "bomb":
        zeros = b"\0" * (1 << 20)
        for index in range(300):
            add(f"pki/p/zero{index}", zeros)
    elif kind == "unpaired":
        add("x509/lonely.crt", b"-----BEGIN CERTIFICATE-----\n")
with open(out, "wb") as file:
    file.write(gzip.compress(buffer.getvalue()))
"#;

fn python(dir: &Path, script: &str, args: &[&str]) -> String {
    fs::write(dir.join("script.py"), script).unwrap();
    let mut all = vec!["script.py"];
    all.extend_from_slice(args);
    run(dir, &spsdk::python(), &all)
}

/// Encrypts `archive` with Python as the older service would.
fn python_backup(dir: &Path, archive: &str) -> Value {
    serde_json::from_str(&python(dir, PYTHON_ENCRYPT, &[archive, PASSPHRASE])).unwrap()
}

fn import(server: &Server, backup: &Value) -> crate::common::Reply {
    server.post(
        "/import",
        &json!({ "key": PASSPHRASE, "data": backup["data"], "salt": backup["salt"] }),
    )
}

#[test]
fn hostile_archives_are_rejected() {
    let server = Server::start();
    assert_eq!(
        server
            .post("/cert", &json!({ "cert_id": "kept", "subject": "/CN=kept" }))
            .status,
        200
    );
    let before = snapshot(&server.store);
    let dir = tempfile::tempdir().unwrap();

    let cases: [(&str, &[&str]); 10] = [
        ("parent", &["`data`", ".."]),
        ("absolute", &["`data`", "absolute"]),
        ("symlink", &["`data`", "symbolic link"]),
        ("hardlink", &["`data`", "hard link"]),
        ("device", &["`data`", "device"]),
        ("fifo", &["`data`", "FIFO"]),
        ("outside", &["`data`", "outside"]),
        ("entries", &["`data`", "entries"]),
        ("bomb", &["`data`", "unpacks to more than"]),
        ("unpaired", &["`data`", "without its .key"]),
    ];
    for (kind, words) in cases {
        python(dir.path(), PYTHON_HOSTILE, &[kind, "hostile.tar.gz"]);
        let backup = python_backup(dir.path(), "hostile.tar.gz");
        assert_error(&import(&server, &backup), 400, words);
        assert_eq!(snapshot(&server.store), before, "{kind} changed the store");
    }
    assert!(!Path::new("/tmp/absolute.crt").exists());
}

#[test]
fn import_errors_are_reported() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    python(dir.path(), PYTHON_HOSTILE, &["none", "empty.tar.gz"]);
    let backup = python_backup(dir.path(), "empty.tar.gz");
    let before = snapshot(&server.store);

    let wrong = server.post(
        "/import",
        &json!({ "key": "wrong passphrase", "data": backup["data"], "salt": backup["salt"] }),
    );
    assert_error(&wrong, 401, &["passphrase"]);
    let cases: Vec<(Value, u16, &[&str])> = vec![
        (
            json!({ "key": PASSPHRASE, "data": backup["data"], "salt": "***" }),
            400,
            &["`salt`", "base64"],
        ),
        (
            json!({ "key": PASSPHRASE, "data": backup["data"], "salt": b64encode(&[1; 8]) }),
            400,
            &["`salt`", "16 bytes"],
        ),
        (
            json!({ "key": PASSPHRASE, "data": "not a token!", "salt": backup["salt"] }),
            400,
            &["`data`"],
        ),
        (
            json!({ "key": PASSPHRASE, "data": "gAAAAA", "salt": backup["salt"] }),
            401,
            &["passphrase"],
        ),
        (
            json!({ "key": "", "data": backup["data"], "salt": backup["salt"] }),
            400,
            &["`key`"],
        ),
        (
            json!({ "data": backup["data"], "salt": backup["salt"] }),
            400,
            &["`key`", "required"],
        ),
        (
            json!({ "key": PASSPHRASE, "data": backup["data"], "salt": backup["salt"], "force": true }),
            400,
            &["`force`"],
        ),
    ];
    for (body, status, words) in &cases {
        assert_error(&server.post("/import", body), *status, words);
    }
    assert_eq!(import(&server, &backup).status, 204, "an empty archive imports");
    assert_eq!(snapshot(&server.store), before);
    assert_error(&server.post("/export", &json!({ "key": "" })), 400, &["`key`"]);
}

#[test]
fn conflicting_import_changes_nothing() {
    let source = Server::start();
    for id in ["shared", "only-in-backup"] {
        assert_eq!(
            source
                .post("/cert", &json!({ "cert_id": id, "subject": "/CN=source" }))
                .status,
            200
        );
    }
    let backup = source.post("/export", &json!({ "key": PASSPHRASE }));
    assert_eq!(backup.status, 200, "{}", backup.json);

    let target = Server::start();
    assert_eq!(
        target
            .post("/cert", &json!({ "cert_id": "shared", "subject": "/CN=target" }))
            .status,
        200
    );
    let before = snapshot(&target.store);
    let reply = import(&target, &backup.json);
    assert_error(
        &reply,
        409,
        &["certificate 'shared' already exists", "nothing was imported"],
    );
    assert_eq!(snapshot(&target.store), before);
    assert_error(&target.get("/cert/only-in-backup"), 404, &[]);
}

#[test]
fn export_is_readable_by_python() {
    let server = Server::start();
    assert_eq!(
        server
            .post("/cert", &json!({ "cert_id": "db", "subject": "/CN=db" }))
            .status,
        200
    );
    assert_eq!(server.post("/secureboot/db", &json!({ "key_id": "db" })).status, 200);
    let rsa = server.post("/rsa/key", &json!({})).field("fingerprint").to_owned();
    let pki = server
        .post("/imx/pki", &json!({ "hab_type": "ahab" }))
        .field("pki_id")
        .to_owned();

    let backup = server.post("/export", &json!({ "key": PASSPHRASE }));
    assert_eq!(backup.status, 200, "{}", backup.json);
    assert_eq!(b64decode(backup.field("salt")).len(), 16);
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("export.json"), backup.json.to_string()).unwrap();
    let listing = python(dir.path(), PYTHON_DECRYPT, &["export.json", PASSPHRASE, "out"]);

    let out = dir.path().join("out");
    for folder in ["gpg", "x509", "rsa", "pki"] {
        assert!(
            listing.lines().any(|line| line == format!("5 {folder}")),
            "no folder {folder}:\n{listing}"
        );
    }
    for file in ["x509/db.crt", "x509/db.key", "x509/db.der", "x509/db.esl"] {
        assert_eq!(
            fs::read(out.join(file)).unwrap(),
            fs::read(server.store.join(file)).unwrap(),
            "{file}"
        );
    }
    assert!(out.join(format!("rsa/{rsa}/private.pem")).exists());
    assert!(out.join(format!("pki/{pki}/SRK_table.bin")).exists());
    run(&out, "openssl", &["x509", "-in", "x509/db.crt", "-noout"]);
    run(
        &out,
        "openssl",
        &["pkey", "-in", &format!("rsa/{rsa}/private.pem"), "-noout"],
    );
}

#[test]
fn export_wipe_import_restores_everything() {
    let mut server = Server::start();
    assert_eq!(
        server
            .post("/cert", &json!({ "cert_id": "pk", "subject": "/CN=pk" }))
            .status,
        200
    );
    assert_eq!(server.post("/secureboot/pk", &json!({ "key_id": "pk" })).status, 200);
    let rsa = server.post("/rsa/key", &json!({})).field("fingerprint").to_owned();
    let pki = server
        .post("/imx/pki", &json!({ "hab_type": "hab" }))
        .field("pki_id")
        .to_owned();
    let gpg = server
        .post(
            "/gpg/key",
            &json!({ "name_real": "Backup", "name_email": "backup@example.com" }),
        )
        .field("fingerprint")
        .to_owned();
    let mut public_before = public_material(&server, &rsa, &pki);
    public_before.push(server.get(&format!("/gpg/key/{gpg}")).json);
    let files_before = key_files(&server.store);

    let backup = server.post("/export", &json!({ "key": PASSPHRASE }));
    assert_eq!(backup.status, 200, "{}", backup.json);
    let store = server.store.clone();
    server.stop();
    for folder in ["x509", "rsa", "pki", "gpg"] {
        let _ = fs::remove_dir_all(store.join(folder));
    }

    let restored = Server::start_with(ServerOptions {
        store: Some(store),
        ..ServerOptions::default()
    });
    assert_eq!(import(&restored, &backup.json).status, 204);
    assert_eq!(key_files(&restored.store), files_before);
    let mut public_after = public_material(&restored, &rsa, &pki);
    public_after.push(restored.get(&format!("/gpg/key/{gpg}")).json);
    assert_eq!(public_after, public_before);
    assert_eq!(
        import(&restored, &backup.json).status,
        204,
        "importing the same backup again changes nothing"
    );

    let digest = "77".repeat(32);
    assert_eq!(
        restored
            .post("/cert/sign", &json!({ "cert_id": "pk", "digest": digest }))
            .status,
        200
    );
}

/// Reads every key file of the store by path, without the audit log and API keys.
fn key_files(store: &Path) -> std::collections::BTreeMap<std::path::PathBuf, Vec<u8>> {
    snapshot(store)
        .into_iter()
        .filter(|(path, _)| ["x509", "rsa", "pki", "gpg"].iter().any(|top| path.starts_with(top)))
        .collect()
}

fn public_material(server: &Server, rsa: &str, pki: &str) -> Vec<Value> {
    vec![
        server.get("/cert/pk").json,
        server.get("/secureboot/pk/pk").json,
        server.get(&format!("/rsa/key/{rsa}")).json,
        server.get(&format!("/imx/efuses/{pki}")).json,
    ]
}

fn bootstrap_body(prefix: &str) -> Value {
    let cert = |name: &str| json!({ "cert_id": format!("{prefix}-{name}"), "subject": format!("/CN={prefix} {name}/"), "key_length": 2048 });
    json!({
        "gpg": { "name_real": "balenaOS", "name_email": "security@example.com" },
        "rsa": {},
        "hab": { "hab_type": "hab" },
        "ahab": { "hab_type": "ahab" },
        "certificates": { "pk": cert("pk"), "kek": cert("kek"), "kmod": cert("kmod"), "db": cert("db") },
    })
}

#[test]
fn bootstrap_creates_verifiable_material() {
    let server = Server::start();
    let reply = server.post("/bootstrap", &bootstrap_body("fleet"));
    assert_eq!(reply.status, 200, "{}", reply.json);
    let created = reply.json;
    let dir = tempfile::tempdir().unwrap();

    for name in ["pk", "kek", "kmod", "db"] {
        let pem = created["certificates"][name].as_str().unwrap();
        assert_eq!(pem, server.get(&format!("/cert/fleet-{name}")).field("cert"));
        fs::write(dir.path().join(format!("{name}.crt")), pem).unwrap();
        let verified = run(
            dir.path(),
            "openssl",
            &["verify", "-CAfile", &format!("{name}.crt"), &format!("{name}.crt")],
        );
        assert!(verified.contains(": OK"), "{verified}");
    }

    // PK signed by itself, KEK by PK, db by db: byte-identical to efitools
    // with the same key and time, and each PKCS#7 verifies.
    for name in ["pk", "kek", "db"] {
        fs::copy(
            server.store.join(format!("x509/fleet-{name}.key")),
            dir.path().join(format!("{name}.key")),
        )
        .unwrap();
    }
    for (path, variable, signer) in [("pk", "PK", "pk"), ("kek", "KEK", "pk"), ("db", "db", "db")] {
        let reply = server.get(&format!("/secureboot/{path}/fleet-{path}"));
        assert_eq!(reply.status, 200, "{}", reply.json);
        let esl = b64decode(reply.field("esl"));
        let auth = b64decode(reply.field(path));
        crate::secureboot::check_auth(dir.path(), variable, signer, &esl, &auth, false);
    }

    let fingerprint = created["gpg"]["fingerprint"].as_str().unwrap();
    fs::write(
        dir.path().join("key.asc"),
        server.get(&format!("/gpg/key/{fingerprint}")).field("key"),
    )
    .unwrap();
    let shown = run(
        dir.path(),
        "gpg",
        &["--batch", "--with-colons", "--show-keys", "key.asc"],
    );
    assert!(shown.contains(fingerprint), "{shown}");

    let rsa = created["rsa"]["fingerprint"].as_str().unwrap();
    fs::write(
        dir.path().join("rpi.pem"),
        server.get(&format!("/rsa/key/{rsa}")).field("key"),
    )
    .unwrap();
    let text = run(
        dir.path(),
        "openssl",
        &["pkey", "-pubin", "-in", "rpi.pem", "-noout", "-text"],
    );
    assert!(text.contains("Public-Key: (2048 bit)"), "{text}");

    // The fuse hashes are SPSDK's computations from the trees' SRK tables.
    let hab = created["hab"]["pki_id"].as_str().unwrap();
    let ahab = created["ahab"]["pki_id"].as_str().unwrap();
    let hab_fuses = b64decode(server.get(&format!("/imx/efuses/{hab}")).field("efuses"));
    fs::write(dir.path().join("fuses.py"), spsdk::HAB_FUSES).unwrap();
    let table = server.store.join(format!("pki/{hab}/SRK_table.bin"));
    let spsdk_fuses = run(dir.path(), &spsdk::python(), &["fuses.py", table.to_str().unwrap()]);
    assert_eq!(spsdk_fuses.trim(), hex::encode(&hab_fuses));
    let ahab_fuses = b64decode(server.get(&format!("/imx/efuses/{ahab}")).field("efuses"));
    fs::write(dir.path().join("table.py"), spsdk::AHAB_SRK_TABLE).unwrap();
    let table = server.store.join(format!("pki/{ahab}/SRK_table.bin"));
    let parsed = run(dir.path(), &spsdk::python(), &["table.py", table.to_str().unwrap()]);
    assert!(
        parsed.contains(&format!("sha512={}", hex::encode(&ahab_fuses))),
        "{parsed}"
    );

    assert_error(
        &server.post("/bootstrap", &bootstrap_body("fleet")),
        409,
        &["already exists"],
    );
}

#[test]
fn failed_bootstrap_leaves_nothing() {
    let server = Server::start();
    // A file where the PKI folder belongs makes the last steps fail.
    fs::write(server.store.join("pki"), b"not a folder").unwrap();
    let before = snapshot(&server.store);

    let reply = server.post("/bootstrap", &bootstrap_body("broken"));
    assert_eq!(reply.status, 500, "{}", reply.json);
    assert_eq!(snapshot(&server.store), before, "bootstrap left files behind");
    assert_eq!(server.get("/gpg/keys").json, json!({ "keys": [] }));
    assert_eq!(server.get("/rsa/keys").json, json!({ "keys": [] }));
}

#[test]
fn bootstrap_bad_input_is_rejected() {
    let server = Server::start();
    let before = snapshot(&server.store);
    let mut cases: Vec<(Value, &[&str])> = Vec::new();
    let mut without_hab = bootstrap_body("x");
    without_hab.as_object_mut().unwrap().remove("hab");
    cases.push((without_hab, &["`hab`", "required"]));
    let mut bad_subject = bootstrap_body("x");
    bad_subject["certificates"]["kek"]["subject"] = json!("CN=x");
    cases.push((bad_subject, &["`certificates.kek.subject`"]));
    let mut bad_name = bootstrap_body("x");
    bad_name["gpg"]["name_real"] = json!("a\nb");
    cases.push((bad_name, &["`gpg.name_real`"]));
    let mut swapped = bootstrap_body("x");
    swapped["hab"]["hab_type"] = json!("ahab");
    cases.push((swapped, &["`hab.hab_type`"]));
    let mut duplicate = bootstrap_body("x");
    duplicate["certificates"]["db"]["cert_id"] = json!("x-pk");
    cases.push((duplicate, &["`certificates`", "x-pk"]));
    let mut not_object = bootstrap_body("x");
    not_object["rsa"] = json!(true);
    cases.push((not_object, &["`rsa`", "expected a JSON object"]));
    let mut missing_nested = bootstrap_body("x");
    missing_nested["certificates"]["kek"]
        .as_object_mut()
        .unwrap()
        .remove("cert_id");
    cases.push((missing_nested, &["`certificates.kek.cert_id`", "required"]));
    let mut unknown = bootstrap_body("x");
    unknown["certificates"]["mok"] = json!({});
    cases.push((unknown, &["`certificates.mok`"]));

    for (body, words) in &cases {
        assert_error(&server.post("/bootstrap", body), 400, words);
    }
    assert_eq!(snapshot(&server.store), before);
}

#[test]
fn offline_export_and_import() {
    let mut server = Server::start();
    assert_eq!(
        server
            .post("/cert", &json!({ "cert_id": "offline", "subject": "/CN=offline" }))
            .status,
        200
    );
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("pass"), format!("{PASSPHRASE}\n")).unwrap();
    let store = server.store.clone();
    let cli = |args: &[&str]| {
        Command::new(binary())
            .args(args)
            .arg("--store")
            .arg(&store)
            .current_dir(dir.path())
            .stdin(std::process::Stdio::null())
            .output()
            .unwrap()
    };

    let busy = cli(&["export", "--out", "backup.json", "--passphrase-file", "pass"]);
    assert!(!busy.status.success());
    assert!(
        String::from_utf8_lossy(&busy.stderr).contains("in use"),
        "{}",
        String::from_utf8_lossy(&busy.stderr)
    );

    server.stop();
    let exported = cli(&["export", "--out", "backup.json", "--passphrase-file", "pass"]);
    assert!(
        exported.status.success(),
        "{}",
        String::from_utf8_lossy(&exported.stderr)
    );
    let no_passphrase = cli(&["import", "backup.json"]);
    assert!(
        !no_passphrase.status.success(),
        "import without a passphrase source must fail"
    );

    let target = tempfile::tempdir().unwrap();
    let imported = Command::new(binary())
        .args(["import", "backup.json", "--passphrase-file", "pass", "--store"])
        .arg(target.path().join("store"))
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(
        imported.status.success(),
        "{}",
        String::from_utf8_lossy(&imported.stderr)
    );
    assert_eq!(
        fs::read(target.path().join("store/x509/offline.crt")).unwrap(),
        fs::read(store.join("x509/offline.crt")).unwrap()
    );
}
