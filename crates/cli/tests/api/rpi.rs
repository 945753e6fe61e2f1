use serde_json::{json, Value};

use crate::common::{assert_error, b64decode, b64encode, run, snapshot, test_bytes, Server};

fn new_key(server: &Server) -> String {
    let reply = server.post("/rsa/key", &json!({}));
    assert_eq!(reply.status, 200, "{}", reply.json);
    reply.field("fingerprint").to_owned()
}

#[test]
fn rsa_keys_are_listed_and_served() {
    let server = Server::start();
    assert_eq!(server.get("/rsa/keys").json, json!({ "keys": [] }));

    let first = new_key(&server);
    let second = new_key(&server);
    for id in [&first, &second] {
        assert_eq!(id.len(), 32, "{id}");
        assert!(
            id.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)),
            "{id}"
        );
    }

    let mut expected = vec![first.clone(), second.clone()];
    expected.sort();
    assert_eq!(server.get("/rsa/keys").json, json!({ "keys": expected }));

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("pub.pem"),
        server.get(&format!("/rsa/key/{first}")).field("key"),
    )
    .unwrap();
    let text = run(
        dir.path(),
        "openssl",
        &["pkey", "-pubin", "-in", "pub.pem", "-noout", "-text"],
    );
    assert!(text.contains("Public-Key: (2048 bit)"), "{text}");
}

#[test]
fn rsa_signature_verifies_with_openssl() {
    let server = Server::start();
    let id = new_key(&server);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("pub.pem"),
        server.get(&format!("/rsa/key/{id}")).field("key"),
    )
    .unwrap();
    let image = test_bytes(3 << 20, 11);
    std::fs::write(dir.path().join("boot.img"), &image).unwrap();

    let started = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs();
    let reply = server.post("/rsa/sign", &json!({ "key_id": id, "payload": b64encode(&image) }));
    assert_eq!(reply.status, 200, "{}", reply.json);
    let file = String::from_utf8(b64decode(reply.field("signature"))).unwrap();

    let lines: Vec<&str> = file.split_terminator('\n').collect();
    assert_eq!(lines.len(), 3, "{file}");
    assert!(file.ends_with('\n'));
    let sha256sum = run(dir.path(), "sha256sum", &["boot.img"]);
    assert_eq!(lines[0], sha256sum.split_whitespace().next().unwrap());

    let ts: u64 = lines[1].strip_prefix("ts: ").unwrap().parse().unwrap();
    assert!(ts >= started, "ts {ts} is before the request at {started}");
    assert!(ts <= started + 60, "ts {ts} is long after the request at {started}");

    let signature_hex = lines[2].strip_prefix("rsa2048: ").unwrap();
    assert_eq!(signature_hex.len(), 512);
    std::fs::write(dir.path().join("sig.bin"), hex::decode(signature_hex).unwrap()).unwrap();
    let verified = run(
        dir.path(),
        "openssl",
        &[
            "dgst",
            "-sha256",
            "-verify",
            "pub.pem",
            "-signature",
            "sig.bin",
            "boot.img",
        ],
    );
    assert_eq!(verified.trim(), "Verified OK");
}

#[test]
fn rsa_payload_accepts_url_safe_unpadded_base64() {
    let server = Server::start();
    let id = new_key(&server);
    let payload = vec![0xfb, 0xff, 0xbf];
    let standard = server.post("/rsa/sign", &json!({ "key_id": id, "payload": "+/+/" }));
    let url_safe = server.post("/rsa/sign", &json!({ "key_id": id, "payload": "-_-_\n" }));
    assert_eq!(standard.status, 200);
    assert_eq!(url_safe.status, 200);

    let digest = |reply: &crate::common::Reply| {
        String::from_utf8(b64decode(reply.field("signature")))
            .unwrap()
            .lines()
            .next()
            .unwrap()
            .to_owned()
    };
    use sha2::Digest;
    assert_eq!(digest(&standard), hex::encode(sha2::Sha256::digest(&payload)));
    assert_eq!(digest(&url_safe), digest(&standard));
}

#[test]
fn rsa_bad_input_is_rejected() {
    let server = Server::start();
    let id = new_key(&server);
    let before = snapshot(&server.store);

    let cases: Vec<(&str, Value, u16, &[&str])> = vec![
        (
            "/rsa/sign",
            json!({ "key_id": id, "payload": "aGVsbG8*" }),
            400,
            &["`payload`", "base64", "offset 7"],
        ),
        (
            "/rsa/sign",
            json!({ "key_id": id, "payload": "aGVsbG8 =" }),
            400,
            &["`payload`", "base64"],
        ),
        ("/rsa/sign", json!({ "key_id": id }), 400, &["`payload`", "required"]),
        ("/rsa/sign", json!({ "payload": "" }), 400, &["`key_id`", "required"]),
        (
            "/rsa/sign",
            json!({ "key_id": "../../etc", "payload": "" }),
            400,
            &["`key_id`"],
        ),
        (
            "/rsa/sign",
            json!({ "key_id": "0123456789abcdef0123456789abcdef", "payload": "" }),
            404,
            &["not found"],
        ),
        (
            "/rsa/sign",
            json!({ "key_id": id, "payload": "", "hash": "sha1" }),
            400,
            &["`hash`", "unknown field"],
        ),
        (
            "/rsa/key",
            json!({ "key_length": 4096 }),
            400,
            &["`key_length`", "unknown field"],
        ),
    ];
    for (path, body, status, words) in &cases {
        assert_error(&server.post(path, body), *status, words);
    }
    assert_error(
        &server.get("/rsa/key/0123456789abcdef0123456789abcdef"),
        404,
        &["not found"],
    );
    assert_error(&server.get("/rsa/key/..%2F..%2Fetc"), 400, &["'/'"]);
    assert_eq!(snapshot(&server.store), before);
}
