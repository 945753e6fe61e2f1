//! `/kmod/sign` checked against the kernel's sign-file, openssl and modinfo,
//! on a module from Debian's kernel package.

use std::fs;

use serde_json::json;

use crate::common::{assert_error, b64decode, b64encode, run, snapshot, Server};
use crate::inputs::{kernel_module, strip_module_signature};

const SIGN_FILE: &str = "/usr/lib/linux-kbuild-6.1/scripts/sign-file";

fn setup(bits: u32) -> (Server, tempfile::TempDir) {
    let server = Server::start();
    let reply = server.post(
        "/cert",
        &json!({ "cert_id": "kmod", "subject": "/CN=balenaOS module signing/", "key_length": bits }),
    );
    assert_eq!(reply.status, 200, "{}", reply.json);
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("kmod.crt"), reply.field("cert")).unwrap();
    fs::copy(server.store.join("x509/kmod.key"), dir.path().join("kmod.key")).unwrap();
    (server, dir)
}

fn sign(server: &Server, module: &[u8]) -> Vec<u8> {
    let reply = server.post("/kmod/sign", &json!({ "key_id": "kmod", "payload": b64encode(module) }));
    assert_eq!(reply.status, 200, "{}", reply.json);
    b64decode(reply.field("signed"))
}

#[test]
fn kmod_equals_sign_file() {
    for bits in [2048, 4096] {
        let (server, dir) = setup(bits);
        let module = kernel_module("/drivers/net/dummy.ko");
        fs::write(dir.path().join("dummy.ko"), &module).unwrap();

        let ours = sign(&server, &module);
        run(
            dir.path(),
            SIGN_FILE,
            &["sha512", "kmod.key", "kmod.crt", "dummy.ko", "reference.ko"],
        );
        let reference = fs::read(dir.path().join("reference.ko")).unwrap();
        assert_eq!(hex::encode(&ours), hex::encode(&reference), "{bits}-bit key");
    }
}

#[test]
fn kmod_verifies_with_openssl_and_modinfo() {
    let (server, dir) = setup(2048);
    let module = kernel_module("/fs/fat/vfat.ko");
    let signed = sign(&server, &module);
    assert!(signed.starts_with(&module));
    fs::write(dir.path().join("vfat.ko"), &signed).unwrap();

    let unsigned = strip_module_signature(signed.clone());
    assert_eq!(unsigned, module);
    let cms_len = signed.len() - module.len() - 40;
    fs::write(dir.path().join("module.bin"), &module).unwrap();
    fs::write(
        dir.path().join("module.p7"),
        &signed[module.len()..module.len() + cms_len],
    )
    .unwrap();
    run(
        dir.path(),
        "openssl",
        &[
            "cms",
            "-verify",
            "-binary",
            "-inform",
            "DER",
            "-in",
            "module.p7",
            "-content",
            "module.bin",
            "-certfile",
            "kmod.crt",
            "-nointern",
            "-noverify",
            "-out",
            "/dev/null",
        ],
    );

    let modinfo = run(dir.path(), "/usr/sbin/modinfo", &["./vfat.ko"]);
    assert!(modinfo.contains("sig_id:         PKCS#7"), "{modinfo}");
    assert!(modinfo.contains("signer:         balenaOS module signing"), "{modinfo}");
    assert!(modinfo.contains("sig_hashalgo:   sha512"), "{modinfo}");
}

#[test]
fn kmod_bad_input_is_rejected() {
    let (server, _dir) = setup(2048);
    let module = kernel_module("/drivers/net/dummy.ko");
    let signed = sign(&server, &module);
    let before = snapshot(&server.store);

    let cases: Vec<(serde_json::Value, u16, &[&str])> = vec![
        (
            json!({ "key_id": "kmod", "payload": b64encode(&signed) }),
            400,
            &["`payload`", "already"],
        ),
        (
            json!({ "key_id": "kmod", "payload": b64encode(b"#!/bin/sh\necho not a module\n") }),
            400,
            &["`payload`", "ELF"],
        ),
        (json!({ "key_id": "kmod", "payload": "" }), 400, &["`payload`", "ELF"]),
        (
            json!({ "key_id": "kmod", "payload": "not base64!" }),
            400,
            &["`payload`", "base64"],
        ),
        (
            json!({ "key_id": "nobody", "payload": b64encode(&module) }),
            404,
            &["certificate 'nobody' not found"],
        ),
        (
            json!({ "key_id": "../x509/kmod", "payload": b64encode(&module) }),
            400,
            &["`key_id`"],
        ),
        (json!({ "payload": b64encode(&module) }), 400, &["`key_id`", "required"]),
        (
            json!({ "key_id": "kmod", "payload": "", "hash": "sha256" }),
            400,
            &["`hash`"],
        ),
    ];
    for (body, status, words) in &cases {
        assert_error(&server.post("/kmod/sign", body), *status, words);
    }
    assert_eq!(snapshot(&server.store), before);
}
