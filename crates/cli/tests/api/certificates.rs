use std::path::Path;

use serde_json::{json, Value};

use crate::common::{assert_error, b64decode, run, snapshot, Server};

const SUBJECT: &str = "/C=US/ST=Some State/O=Example\\/Fleet/OU=Devices+CN=balenaOS PK/emailAddress=ops@example.com/";

fn create(server: &Server, cert_id: &str, extra: Value) -> String {
    let mut body = json!({ "cert_id": cert_id, "subject": SUBJECT });
    body.as_object_mut().unwrap().extend(extra.as_object().unwrap().clone());
    let reply = server.post("/cert", &body);
    assert_eq!(reply.status, 200, "{}", reply.json);
    reply.field("cert").to_owned()
}

fn write(dir: &Path, name: &str, bytes: impl AsRef<[u8]>) -> String {
    std::fs::write(dir.join(name), bytes).unwrap();
    name.to_owned()
}

/// Returns the lines of `openssl x509 -text` that do not depend on the key,
/// serial or time.
fn layout(dir: &Path, cert: &str) -> Vec<String> {
    let text = run(
        dir,
        "openssl",
        &[
            "x509",
            "-in",
            cert,
            "-noout",
            "-text",
            "-nameopt",
            "multiline,show_type",
        ],
    );
    text.lines()
        .map(str::trim)
        .filter(|line| {
            line.starts_with("Version")
                || line.starts_with("Signature Algorithm")
                || line.starts_with("X509v3")
                || *line == "CA:TRUE"
                || *line == "CA:FALSE"
                || line.starts_with("Public-Key")
                || line.contains("STRING:")
        })
        .map(str::to_owned)
        .collect()
}

#[test]
fn cert_layout_matches_openssl_req() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let ours = write(dir.path(), "ours.pem", create(&server, "layout", json!({ "days": 30 })));
    run(
        dir.path(),
        "openssl",
        &[
            "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256", "-days", "30", "-subj", SUBJECT, "-keyout",
            "ref.key", "-out", "ref.pem",
        ],
    );

    let ours_layout = layout(dir.path(), &ours);
    assert!(
        ours_layout.iter().any(|line| line.contains("PRINTABLESTRING:US")),
        "{ours_layout:?}"
    );
    assert!(
        ours_layout
            .iter()
            .any(|line| line.contains("IA5STRING:ops@example.com")),
        "{ours_layout:?}"
    );
    assert_eq!(ours_layout, layout(dir.path(), "ref.pem"));

    let subject_der = |cert: &str| {
        run(
            dir.path(),
            "openssl",
            &["x509", "-in", cert, "-noout", "-subject", "-nameopt", "RFC2253"],
        )
    };
    assert_eq!(subject_der(&ours), subject_der("ref.pem"));
}

#[test]
fn cert_self_verifies_with_openssl() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    for (cert_id, bits) in [("v2048", 2048), ("v4096", 4096)] {
        let cert = write(
            dir.path(),
            &format!("{cert_id}.pem"),
            create(&server, cert_id, json!({ "key_length": bits })),
        );
        let verified = run(dir.path(), "openssl", &["verify", "-CAfile", &cert, &cert]);
        assert!(verified.contains(": OK"), "{verified}");
        let text = run(dir.path(), "openssl", &["x509", "-in", &cert, "-noout", "-text"]);
        assert!(text.contains(&format!("Public-Key: ({bits} bit)")), "{text}");
    }
}

#[test]
fn subject_key_id_is_sha1_of_key() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let cert = write(dir.path(), "c.pem", create(&server, "ski", json!({})));

    run(
        dir.path(),
        "sh",
        &["-c", "openssl x509 -in c.pem -noout -pubkey > pub.pem"],
    );
    run(
        dir.path(),
        "openssl",
        &[
            "rsa",
            "-pubin",
            "-in",
            "pub.pem",
            "-RSAPublicKey_out",
            "-outform",
            "DER",
            "-out",
            "pub.der",
        ],
    );
    let expected = run(dir.path(), "sha1sum", &["pub.der"]);
    let expected = expected.split_whitespace().next().unwrap().to_uppercase();

    let extension = run(
        dir.path(),
        "openssl",
        &["x509", "-in", &cert, "-noout", "-ext", "subjectKeyIdentifier"],
    );
    let actual: String = extension.lines().nth(1).unwrap().trim().replace(':', "");
    assert_eq!(actual, expected);
}

#[test]
fn cert_validity_is_days_from_now() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let cert = write(dir.path(), "c.pem", create(&server, "days", json!({ "days": "3" })));
    let dates = run(
        dir.path(),
        "openssl",
        &[
            "x509",
            "-in",
            &cert,
            "-noout",
            "-startdate",
            "-enddate",
            "-dateopt",
            "iso_8601",
        ],
    );
    let parse = |prefix: &str| {
        let line = dates.lines().find(|l| l.starts_with(prefix)).unwrap();
        let value = line.split_once('=').unwrap().1.trim();
        run(Path::new("/"), "date", &["-u", "-d", value, "+%s"])
            .trim()
            .parse::<i64>()
            .unwrap()
    };
    assert_eq!(parse("notAfter") - parse("notBefore"), 3 * 86_400);
}

#[test]
fn default_cert_is_2048_bits_for_20_years() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let cert = write(dir.path(), "c.pem", create(&server, "defaults", json!({})));
    let text = run(dir.path(), "openssl", &["x509", "-in", &cert, "-noout", "-text"]);
    assert!(text.contains("Public-Key: (2048 bit)"));
    let end = run(
        dir.path(),
        "openssl",
        &[
            "x509",
            "-in",
            &cert,
            "-noout",
            "-checkend",
            &(7304 * 86_400).to_string(),
        ],
    );
    assert!(end.contains("will not expire"), "{end}");
}

#[test]
fn cert_get_returns_created_pem() {
    let server = Server::start();
    let pem = create(&server, "fetch", json!({}));
    assert_eq!(server.get("/cert/fetch").field("cert"), pem);
    assert_eq!(server.get("/kmod/cert/fetch").field("cert"), pem);
    assert_error(&server.get("/cert/missing"), 404, &["certificate 'missing' not found"]);
    assert_error(&server.get("/kmod/cert/missing"), 404, &["not found"]);
}

#[test]
fn cert_sign_verifies_with_pkeyutl() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let cert = write(
        dir.path(),
        "c.pem",
        create(&server, "disk", json!({ "key_length": 4096 })),
    );
    let image = write(dir.path(), "disk.img", crate::common::test_bytes(1 << 20, 7));

    let digest = run(dir.path(), "sha256sum", &[&image])
        .split_whitespace()
        .next()
        .unwrap()
        .to_owned();
    let reply = server.post("/cert/sign", &json!({ "cert_id": "disk", "digest": digest }));
    assert_eq!(reply.status, 200, "{}", reply.json);
    write(dir.path(), "sig.bin", b64decode(reply.field("signature")));
    write(dir.path(), "digest.bin", hex::decode(&digest).unwrap());

    let verified = run(
        dir.path(),
        "openssl",
        &[
            "pkeyutl",
            "-verify",
            "-certin",
            "-inkey",
            &cert,
            "-in",
            "digest.bin",
            "-sigfile",
            "sig.bin",
        ],
    );
    assert!(verified.contains("Signature Verified Successfully"), "{verified}");

    // Upper-case hex is the same digest.
    let upper = server.post(
        "/cert/sign",
        &json!({ "cert_id": "disk", "digest": digest.to_uppercase() }),
    );
    assert_eq!(upper.field("signature"), reply.field("signature"));
}

#[test]
fn cert_create_twice_is_409() {
    let server = Server::start();
    let first = create(&server, "twice", json!({}));
    let before = snapshot(&server.store);
    let reply = server.post("/cert", &json!({ "cert_id": "twice", "subject": "/CN=other" }));
    assert_error(&reply, 409, &["certificate 'twice' already exists"]);
    assert_eq!(snapshot(&server.store), before);
    assert_eq!(server.get("/cert/twice").field("cert"), first);
}

#[test]
fn racing_cert_creates_have_one_winner() {
    let server = Server::start();
    let statuses: Vec<u16> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|_| {
                scope.spawn(|| {
                    server
                        .post("/cert", &json!({ "cert_id": "race", "subject": "/CN=race" }))
                        .status
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    assert_eq!(statuses.iter().filter(|s| **s == 200).count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == 409).count(), 7, "{statuses:?}");
}

#[test]
fn cert_bad_input_is_400_and_store_unchanged() {
    let server = Server::start();
    create(&server, "existing", json!({}));
    let before = snapshot(&server.store);

    let cases: Vec<(Value, &[&str])> = vec![
        (json!({ "subject": "/CN=x" }), &["`cert_id`", "required"]),
        (json!({ "cert_id": "a" }), &["`subject`", "required"]),
        (
            json!({ "cert_id": "a", "subject": "/CN=x", "key_lenght": 4096 }),
            &["`key_lenght`", "unknown field"],
        ),
        (json!({ "cert_id": "../a", "subject": "/CN=x" }), &["`cert_id`", "'/'"]),
        (json!({ "cert_id": ".a", "subject": "/CN=x" }), &["`cert_id`", "'.'"]),
        (
            json!({ "cert_id": "a\u{0}b", "subject": "/CN=x" }),
            &["`cert_id`", "control"],
        ),
        (json!({ "cert_id": "", "subject": "/CN=x" }), &["`cert_id`", "empty"]),
        (
            json!({ "cert_id": "a".repeat(129), "subject": "/CN=x" }),
            &["`cert_id`", "128"],
        ),
        (
            json!({ "cert_id": "a", "subject": "CN=x" }),
            &["`subject`", "start with '/'"],
        ),
        (
            json!({ "cert_id": "a", "subject": "/XX=x" }),
            &["`subject`", "XX", "unknown"],
        ),
        (
            json!({ "cert_id": "a", "subject": "/C=USA" }),
            &["`subject`", "C", "2 to 2"],
        ),
        (
            json!({ "cert_id": "a", "subject": "/CN=a\nb" }),
            &["`subject`", "control"],
        ),
        (
            json!({ "cert_id": "a", "subject": "/CN=x", "key_length": 1024 }),
            &["`key_length`", "2048 or 4096"],
        ),
        (
            json!({ "cert_id": "a", "subject": "/CN=x", "key_length": "big" }),
            &["`key_length`", "integer"],
        ),
        (
            json!({ "cert_id": "a", "subject": "/CN=x", "days": 0 }),
            &["`days`", "at least 1"],
        ),
        (
            json!({ "cert_id": "a", "subject": "/CN=x", "days": -5 }),
            &["`days`", "non-negative"],
        ),
        (
            json!({ "cert_id": "a", "subject": "/CN=x", "days": 100_000_000 }),
            &["`days`", "9999"],
        ),
        (
            json!({ "cert_id": 5, "subject": "/CN=x" }),
            &["`cert_id`", "invalid type"],
        ),
        (json!(["cert_id"]), &["JSON object"]),
    ];
    for (body, words) in &cases {
        let reply = server.post("/cert", body);
        assert_error(&reply, 400, words);
    }

    let not_json = server.post_raw(
        "/cert",
        b"{\"cert_id\": ".to_vec(),
        Some("application/json"),
        Some(&server.api_key),
    );
    assert_error(&not_json, 400, &["not valid JSON"]);
    let no_type = server.post_raw("/cert", b"{}".to_vec(), None, Some(&server.api_key));
    assert_error(&no_type, 415, &["Content-Type: application/json"]);
    let wrong_type = server.post_raw("/cert", b"{}".to_vec(), Some("text/plain"), Some(&server.api_key));
    assert_error(&wrong_type, 415, &["Content-Type"]);

    assert_eq!(snapshot(&server.store), before);
}

#[test]
fn cert_sign_bad_input_is_rejected() {
    let server = Server::start();
    create(&server, "signer", json!({}));
    let before = snapshot(&server.store);
    let digest = "ab".repeat(32);

    let cases: Vec<(Value, u16, &[&str])> = vec![
        (
            json!({ "cert_id": "signer", "digest": "abcd" }),
            400,
            &["`digest`", "64 hex digits"],
        ),
        (
            json!({ "cert_id": "signer", "digest": "zz".repeat(32) }),
            400,
            &["`digest`", "hex"],
        ),
        (json!({ "cert_id": "signer" }), 400, &["`digest`", "required"]),
        (
            json!({ "cert_id": "signer", "digest": digest, "extra": true }),
            400,
            &["`extra`"],
        ),
        (json!({ "cert_id": "../signer", "digest": digest }), 400, &["`cert_id`"]),
        (
            json!({ "cert_id": "nobody", "digest": digest }),
            404,
            &["certificate 'nobody' not found"],
        ),
    ];
    for (body, status, words) in &cases {
        assert_error(&server.post("/cert/sign", body), *status, words);
    }
    assert_eq!(snapshot(&server.store), before);
}

#[test]
fn huge_invalid_value_is_not_echoed() {
    let server = Server::start();
    let subject = format!("/{}=x", "Q".repeat(3000));
    let reply = server.post("/cert", &json!({ "cert_id": "a", "subject": subject }));
    assert_eq!(reply.status, 400);
    assert!(reply.error().len() < 600, "error echoes {} bytes", reply.error().len());
}
