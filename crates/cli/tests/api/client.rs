//! `balena-sign client`: each test runs the command against the real server
//! and checks the files it writes with the standard tools.

use std::net::TcpListener;
use std::path::Path;
use std::process::{Command, Output};

use serde_json::json;
use sha2::{Digest, Sha256};

use crate::common::{b64decode, binary, run, test_bytes, Server};

mod mock;

use mock::MockSigner;

/// An RSA key id that no server has.
const MISSING_RSA_KEY: &str = "0123456789abcdef0123456789abcdef";

/// Above the size from which the client shows a progress bar on a terminal.
const LARGE_FILE_LEN: usize = 8 << 20;

/// Runs `balena-sign client ARGS` in `dir` with BALENASIGN_URL set to `url`
/// and BALENASIGN_API_KEY to `api_key` (unset when `None`).
fn client_at(dir: &Path, url: &str, api_key: Option<&str>, args: &[&str]) -> Output {
    let mut command = Command::new(binary());
    command
        .arg("client")
        .args(args)
        .current_dir(dir)
        .env("BALENASIGN_URL", url)
        .env_remove("BALENASIGN_API_KEY");
    if let Some(api_key) = api_key {
        command.env("BALENASIGN_API_KEY", api_key);
    }
    command.output().unwrap()
}

/// Runs `balena-sign client ARGS` in `dir` against `server` with its API key.
fn client(server: &Server, dir: &Path, args: &[&str]) -> Output {
    client_at(dir, &server.base, Some(&server.api_key), args)
}

#[track_caller]
fn assert_success(output: &Output) -> String {
    assert!(
        output.status.success(),
        "client failed with {}: {}",
        output.status,
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).unwrap()
}

/// Asserts that the client failed with exit status 1 and that its message
/// contains every one of `words`.
#[track_caller]
fn assert_failure(output: &Output, words: &[&str]) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(1), "stderr: {stderr}");
    for word in words {
        assert!(stderr.contains(word), "message {stderr:?} does not mention {word:?}");
    }
}

/// Names in `dir`, sorted, hidden temporary files included.
fn files_in(dir: &Path) -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    names
}

fn new_rsa_key(server: &Server) -> String {
    let reply = server.post("/rsa/key", &json!({}));
    assert_eq!(reply.status, 200, "{}", reply.json);
    reply.field("fingerprint").to_owned()
}

fn new_cert(server: &Server, cert_id: &str) -> String {
    let reply = server.post(
        "/cert",
        &json!({ "cert_id": cert_id, "subject": format!("/CN={cert_id}/") }),
    );
    assert_eq!(reply.status, 200, "{}", reply.json);
    reply.field("cert").to_owned()
}

/// Runs the client under `/usr/bin/time` and returns its output and its
/// peak resident memory in KiB.
fn client_max_rss(dir: &Path, url: &str, api_key: &str, args: &[&str]) -> (Output, u64) {
    let output = Command::new("/usr/bin/time")
        .args(["-f", "%M", "-o", "max-rss-kib", binary(), "client"])
        .args(args)
        .current_dir(dir)
        .env("BALENASIGN_URL", url)
        .env("BALENASIGN_API_KEY", api_key)
        .output()
        .unwrap();
    let max_rss_kib = std::fs::read_to_string(dir.join("max-rss-kib"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    std::fs::remove_file(dir.join("max-rss-kib")).unwrap();
    (output, max_rss_kib)
}

/// Returns a port on loopback that nothing listens on.
fn closed_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    listener.local_addr().unwrap().port()
}

#[test]
fn cert_sign_digest_verifies_with_openssl() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("db.crt"), new_cert(&server, "db")).unwrap();
    let image = test_bytes(5 << 20, 3);
    std::fs::write(dir.path().join("disk.img"), &image).unwrap();

    assert_success(&client(
        &server,
        dir.path(),
        &["cert-sign-digest", "--key", "db", "disk.img"],
    ));
    run(
        dir.path(),
        "sh",
        &["-c", "openssl dgst -sha256 -binary disk.img > digest.bin"],
    );
    let verified = run(
        dir.path(),
        "openssl",
        &[
            "pkeyutl",
            "-verify",
            "-certin",
            "-inkey",
            "db.crt",
            "-in",
            "digest.bin",
            "-sigfile",
            "disk.img.sig",
        ],
    );
    assert!(verified.contains("Signature Verified Successfully"), "{verified}");

    let digest = hex::encode(Sha256::digest(&image)).to_uppercase();
    assert_success(&client(
        &server,
        dir.path(),
        &[
            "cert-sign-digest",
            "--key",
            "db",
            "--digest",
            &digest,
            "-o",
            "given.sig",
        ],
    ));
    assert_eq!(
        std::fs::read(dir.path().join("given.sig")).unwrap(),
        std::fs::read(dir.path().join("disk.img.sig")).unwrap(),
        "PKCS#1 v1.5 is deterministic, so both digests must give the same signature"
    );
}

#[test]
fn cert_sign_digest_checks_arguments() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    let without_output = client(
        &server,
        dir.path(),
        &["cert-sign-digest", "--key", "db", "--digest", "00"],
    );
    assert_eq!(without_output.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&without_output.stderr).contains("--output"));

    let short_digest = client(
        &server,
        dir.path(),
        &["cert-sign-digest", "--key", "db", "--digest", "abcd", "-o", "x.sig"],
    );
    assert_failure(&short_digest, &["invalid --digest", "64 hex digits"]);
    assert!(files_in(dir.path()).is_empty());
}

#[test]
fn rsa_sign_verifies_with_openssl() {
    let server = Server::start();
    let id = new_rsa_key(&server);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("boot.img"), test_bytes(5 << 20, 9)).unwrap();

    assert_success(&client(&server, dir.path(), &["fetch-keys", "keys", "--rsa", &id]));
    let stderr = client(&server, dir.path(), &["rsa-sign", "--key", &id, "boot.img"]).stderr;
    assert!(
        stderr.is_empty(),
        "no progress bar without a terminal: {}",
        String::from_utf8_lossy(&stderr)
    );

    let file = std::fs::read_to_string(dir.path().join("boot.img.sig")).unwrap();
    let lines: Vec<&str> = file.lines().collect();
    assert_eq!(lines.len(), 3, "{file}");
    let sha256sum = run(dir.path(), "sha256sum", &["boot.img"]);
    assert_eq!(lines[0], sha256sum.split_whitespace().next().unwrap());
    assert!(lines[1].starts_with("ts: "), "{file}");

    let signature = hex::decode(lines[2].strip_prefix("rsa2048: ").unwrap()).unwrap();
    std::fs::write(dir.path().join("sig.bin"), signature).unwrap();
    let key = format!("keys/{id}.pem");
    let verified = run(
        dir.path(),
        "openssl",
        &["dgst", "-sha256", "-verify", &key, "-signature", "sig.bin", "boot.img"],
    );
    assert_eq!(verified.trim(), "Verified OK");

    assert_success(&client(
        &server,
        dir.path(),
        &["rsa-sign", "--key", &id, "boot.img", "-o", "other.sig"],
    ));
    let other = std::fs::read_to_string(dir.path().join("other.sig")).unwrap();
    assert_eq!(other.lines().next(), Some(lines[0]));
}

#[test]
fn fetch_keys_matches_get_responses() {
    let server = Server::start();
    let pk = new_cert(&server, "pk");
    let kmod = new_cert(&server, "kmod");
    let first = new_rsa_key(&server);
    let second = new_rsa_key(&server);
    let dir = tempfile::tempdir().unwrap();

    let stdout = assert_success(&client(
        &server,
        dir.path(),
        &[
            "fetch-keys",
            "out/keys",
            "--cert",
            "pk",
            "--cert",
            "kmod",
            "--rsa",
            &first,
            "--rsa",
            &second,
        ],
    ));
    let out = dir.path().join("out/keys");
    let mut expected = vec![
        "kmod.crt".to_owned(),
        "kmod.der".to_owned(),
        "pk.crt".to_owned(),
        "pk.der".to_owned(),
        format!("{first}.pem"),
        format!("{second}.pem"),
    ];
    expected.sort();
    assert_eq!(files_in(&out), expected);
    assert_eq!(stdout.lines().count(), 6, "{stdout}");
    assert!(stdout.contains("out/keys/pk.crt"), "{stdout}");

    for (cert_id, pem) in [("pk", &pk), ("kmod", &kmod)] {
        assert_eq!(
            &std::fs::read_to_string(out.join(format!("{cert_id}.crt"))).unwrap(),
            pem
        );
        let crt = format!("{cert_id}.crt");
        let der = run(
            &out,
            "sh",
            &["-c", &format!("openssl x509 -in {crt} -outform DER | xxd -p")],
        );
        assert_eq!(
            hex::encode(std::fs::read(out.join(format!("{cert_id}.der"))).unwrap()),
            der.split_whitespace().collect::<String>()
        );
    }
    for id in [&first, &second] {
        assert_eq!(
            std::fs::read_to_string(out.join(format!("{id}.pem"))).unwrap(),
            server.get(&format!("/rsa/key/{id}")).field("key")
        );
    }
}

#[test]
fn fetch_keys_failure_writes_nothing() {
    let server = Server::start();
    new_cert(&server, "pk");
    let dir = tempfile::tempdir().unwrap();

    let output = client(
        &server,
        dir.path(),
        &["fetch-keys", ".", "--cert", "pk", "--cert", "absent"],
    );
    assert_failure(&output, &["GET /cert/absent", "404", "not found"]);
    assert!(files_in(dir.path()).is_empty(), "{:?}", files_in(dir.path()));

    let output = client(&server, dir.path(), &["fetch-keys", ".", "--cert", "../pk"]);
    assert_failure(&output, &["invalid key id", "'/'"]);
}

#[test]
fn unknown_key_fails_with_server_message() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("boot.img"), b"image").unwrap();

    let output = client(&server, dir.path(), &["rsa-sign", "--key", MISSING_RSA_KEY, "boot.img"]);
    assert_failure(
        &output,
        &[
            "POST /rsa/sign",
            "404",
            &format!("RSA key '{MISSING_RSA_KEY}' not found"),
        ],
    );

    let output = client(
        &server,
        dir.path(),
        &["cert-sign-digest", "--key", "absent", "boot.img"],
    );
    assert_failure(&output, &["POST /cert/sign", "404", "not found"]);
    assert_eq!(files_in(dir.path()), ["boot.img"]);
}

#[test]
fn failed_signing_keeps_old_output() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("boot.img"), test_bytes(LARGE_FILE_LEN, 1)).unwrap();
    std::fs::write(dir.path().join("boot.img.sig"), b"old").unwrap();

    let output = client(&server, dir.path(), &["rsa-sign", "--key", MISSING_RSA_KEY, "boot.img"]);
    assert_failure(&output, &["not found"]);
    assert_eq!(std::fs::read(dir.path().join("boot.img.sig")).unwrap(), b"old");
    assert_eq!(files_in(dir.path()), ["boot.img", "boot.img.sig"]);

    let output = client(
        &server,
        dir.path(),
        &[
            "rsa-sign",
            "--key",
            MISSING_RSA_KEY,
            "boot.img",
            "-o",
            "absent/boot.sig",
        ],
    );
    assert_failure(&output, &["cannot create a temporary file in absent"]);
}

#[test]
fn missing_or_rejected_api_key_is_reported() {
    let server = Server::start();
    let id = new_rsa_key(&server);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("boot.img"), test_bytes(LARGE_FILE_LEN, 2)).unwrap();

    let output = client_at(dir.path(), &server.base, None, &["rsa-sign", "--key", &id, "boot.img"]);
    assert_failure(&output, &["BALENASIGN_API_KEY is not set"]);

    // The server rejects the key before reading the 8 MiB body, so this
    // also covers a connection closed during the upload.
    let output = client_at(
        dir.path(),
        &server.base,
        Some("wrong"),
        &["rsa-sign", "--key", &id, "boot.img"],
    );
    assert_failure(&output, &["401", "invalid API key"]);
    assert_eq!(files_in(dir.path()), ["boot.img"]);

    let fetched = client_at(dir.path(), &server.base, None, &["fetch-keys", "keys", "--rsa", &id]);
    assert_success(&fetched);
}

#[test]
fn server_down_is_reported() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("boot.img"), b"image").unwrap();
    let url = format!("http://127.0.0.1:{}", closed_port());

    let output = client_at(dir.path(), &url, Some("key"), &["rsa-sign", "--key", "k", "boot.img"]);
    assert_failure(&output, &[&format!("cannot connect to the server at {url}")]);
    let output = client_at(dir.path(), &url, None, &["fetch-keys", "keys", "--rsa", "k"]);
    assert_failure(&output, &[&format!("cannot connect to the server at {url}")]);
    assert_eq!(files_in(dir.path()), ["boot.img"]);

    let output = client_at(dir.path(), "", Some("key"), &["rsa-sign", "--key", "k", "boot.img"]);
    assert_failure(&output, &["no server URL", "BALENASIGN_URL"]);
}

#[test]
fn url_flag_overrides_environment() {
    let server = Server::start();
    let id = new_rsa_key(&server);
    let dir = tempfile::tempdir().unwrap();
    let unused = format!("http://127.0.0.1:{}", closed_port());

    let output = client_at(
        dir.path(),
        &unused,
        None,
        &["fetch-keys", "--url", &server.base, "keys", "--rsa", &id],
    );
    assert_success(&output);
    assert!(dir.path().join(format!("keys/{id}.pem")).exists());
}

#[test]
fn large_upload_memory_stays_bounded() {
    let server = Server::start();
    let id = new_rsa_key(&server);
    let dir = tempfile::tempdir().unwrap();
    let image = test_bytes(64 << 20, 4);
    std::fs::write(dir.path().join("boot.img"), &image).unwrap();

    let (output, max_rss_kib) = client_max_rss(
        dir.path(),
        &server.base,
        &server.api_key,
        &["rsa-sign", "--key", &id, "boot.img"],
    );
    assert_success(&output);
    let file = std::fs::read_to_string(dir.path().join("boot.img.sig")).unwrap();
    assert_eq!(file.lines().next().unwrap(), hex::encode(Sha256::digest(&image)));

    // The base64 of the file alone is 85 MiB; streaming needs a few chunks.
    assert!(max_rss_kib < 40 << 10, "client peak memory {max_rss_kib} KiB");
}

#[test]
fn signed_response_is_decoded_into_output() {
    let signer = MockSigner::start();
    let dir = tempfile::tempdir().unwrap();
    let image = test_bytes(48 << 20, 6);
    std::fs::write(dir.path().join("grubx64.efi"), &image).unwrap();
    let mut expected = image.clone();
    expected.extend_from_slice(mock::SIGNATURE_MARK);

    let (output, max_rss_kib) = client_max_rss(
        dir.path(),
        &signer.url,
        "key",
        &["efi-sign", "--key", mock::ECHO_KEY, "grubx64.efi"],
    );
    assert_success(&output);
    assert!(std::fs::read(dir.path().join("grubx64.efi.signed")).unwrap() == expected);

    // The response's base64 is 64 MiB: the client keeps it once and writes
    // the decoded bytes a chunk at a time, so it needs about 16 MiB more.
    assert!(max_rss_kib < (64 + 24) << 10, "client peak memory {max_rss_kib} KiB");

    let in_place = client_at(
        dir.path(),
        &signer.url,
        Some("key"),
        &["efi-sign", "--key", mock::ECHO_KEY, "grubx64.efi", "-o", "grubx64.efi"],
    );
    assert_success(&in_place);
    assert!(std::fs::read(dir.path().join("grubx64.efi")).unwrap() == expected);
    assert_eq!(files_in(dir.path()), ["grubx64.efi", "grubx64.efi.signed"]);
}

#[test]
fn default_output_names() {
    let signer = MockSigner::start();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("input"), b"data").unwrap();

    let cases = [
        ("gpg-sign", "input.sig"),
        ("efi-sign", "input.signed"),
        ("kmod-sign", "input.signed"),
        ("rsa-sign", "input.sig"),
    ];
    for (command, output) in cases {
        let run = client_at(
            dir.path(),
            &signer.url,
            Some("key"),
            &[command, "--key", mock::ECHO_KEY, "input"],
        );
        assert_success(&run);
        assert_eq!(
            std::fs::read(dir.path().join(output)).unwrap(),
            b"data<signature>",
            "{command}"
        );
    }
}

#[test]
fn malformed_responses_are_reported() {
    let signer = MockSigner::start();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("module.ko"), b"module").unwrap();

    let cases: [(&str, &[&str]); 3] = [
        (
            mock::MISSING_FIELD_KEY,
            &["the response to POST /kmod/sign has no `signed` field"],
        ),
        (mock::BAD_BASE64_KEY, &["`signed`", "POST /kmod/sign", "invalid base64"]),
        (
            mock::PROXY_ERROR_KEY,
            &[
                "POST /kmod/sign failed with status 502 Bad Gateway",
                "no JSON error message",
                "<html>",
            ],
        ),
    ];
    for (key, words) in cases {
        let output = client_at(
            dir.path(),
            &signer.url,
            Some("key"),
            &["kmod-sign", "--key", key, "module.ko"],
        );
        assert_failure(&output, words);
        assert_eq!(files_in(dir.path()), ["module.ko"], "{key}");
    }
}

#[test]
fn progress_bar_only_on_terminal() {
    let server = Server::start();
    let id = new_rsa_key(&server);
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("boot.img"), test_bytes(LARGE_FILE_LEN, 5)).unwrap();

    // `script` runs the command on a pseudo-terminal and copies its output.
    let output = Command::new("script")
        .args([
            "-qec",
            "\"$BALENASIGN_BIN\" client rsa-sign --key \"$KEY_ID\" boot.img",
            "/dev/null",
        ])
        .current_dir(dir.path())
        .env("BALENASIGN_BIN", binary())
        .env("KEY_ID", &id)
        .env("BALENASIGN_URL", &server.base)
        .env("BALENASIGN_API_KEY", &server.api_key)
        .output()
        .unwrap();
    let terminal = assert_success(&output);
    assert!(terminal.contains("uploading boot.img"), "{terminal:?}");

    let piped = client(&server, dir.path(), &["rsa-sign", "--key", &id, "boot.img"]);
    assert_success(&piped);
    assert!(piped.stderr.is_empty(), "{}", String::from_utf8_lossy(&piped.stderr));
}

#[test]
fn help_documents_every_option() {
    let dir = tempfile::tempdir().unwrap();
    let commands = [
        "gpg-sign",
        "efi-sign",
        "kmod-sign",
        "cert-sign-digest",
        "rsa-sign",
        "fetch-keys",
    ];
    for command in commands {
        let output = client_at(dir.path(), "", None, &[command, "--help"]);
        let help = assert_success(&output);
        assert!(help.contains("BALENASIGN_API_KEY"), "{command}: {help}");
        for line in help.lines().filter(|line| line.trim_start().starts_with('-')) {
            let described = line.trim().split("  ").filter(|part| !part.trim().is_empty()).count() >= 2;
            assert!(described, "{command}: option without help: {line}");
        }
    }
}

// The tests below use endpoints that the server does not serve yet.

#[test]
fn gpg_sign_verifies_with_gpgv() {
    let server = Server::start();
    let reply = server.post(
        "/gpg/key",
        &json!({ "name_real": "balenaOS", "name_email": "build@example.com" }),
    );
    assert_eq!(reply.status, 200, "{}", reply.json);
    let fingerprint = reply.field("fingerprint").to_owned();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("grub.cfg"), b"set timeout=0\n").unwrap();

    assert_success(&client(
        &server,
        dir.path(),
        &["fetch-keys", "keys", "--gpg", &fingerprint],
    ));
    let armored = std::fs::read_to_string(dir.path().join(format!("keys/{fingerprint}.asc"))).unwrap();
    assert_eq!(armored, server.get(&format!("/gpg/key/{fingerprint}")).field("key"));

    assert_success(&client(
        &server,
        dir.path(),
        &["gpg-sign", "--key", &fingerprint, "grub.cfg"],
    ));
    let keyring = format!("keys/{fingerprint}.gpg");
    run(dir.path(), "gpgv", &["--keyring", &keyring, "grub.cfg.sig", "grub.cfg"]);

    std::fs::write(dir.path().join("grub.cfg"), b"set timeout=5\n").unwrap();
    let tampered = Command::new("gpgv")
        .args(["--keyring", &keyring, "grub.cfg.sig", "grub.cfg"])
        .current_dir(dir.path())
        .output()
        .unwrap();
    assert!(!tampered.status.success(), "gpgv accepted a changed file");
}

#[test]
fn efi_sign_verifies_with_sbverify() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("db.crt"), new_cert(&server, "db")).unwrap();
    std::fs::copy(
        "/usr/lib/efitools/x86_64-linux-gnu/HelloWorld.efi",
        dir.path().join("hello.efi"),
    )
    .unwrap();

    assert_success(&client(&server, dir.path(), &["efi-sign", "--key", "db", "hello.efi"]));
    run(dir.path(), "sbverify", &["--cert", "db.crt", "hello.efi.signed"]);

    assert_success(&client(
        &server,
        dir.path(),
        &["efi-sign", "--key", "db", "hello.efi", "-o", "hello.efi"],
    ));
    run(dir.path(), "sbverify", &["--cert", "db.crt", "hello.efi"]);
}

#[test]
fn kmod_sign_appends_verifiable_signature() {
    /// Trailer of a signed module: `struct module_signature` (12 bytes, the
    /// signature length big-endian in its last 4) and then this magic.
    const MAGIC: &[u8] = b"~Module signature appended~\n";
    const MODULE_SIGNATURE_LEN: usize = 12;

    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("kmod.crt"), new_cert(&server, "kmod")).unwrap();
    let module = std::fs::read("/usr/lib/linux-kbuild-6.1/scripts/sign-file").unwrap();
    std::fs::write(dir.path().join("fake.ko"), &module).unwrap();

    assert_success(&client(&server, dir.path(), &["kmod-sign", "--key", "kmod", "fake.ko"]));
    let signed = std::fs::read(dir.path().join("fake.ko.signed")).unwrap();
    assert!(signed.starts_with(&module));
    assert!(signed.ends_with(MAGIC));

    let info_end = signed.len() - MAGIC.len();
    let info = &signed[info_end - MODULE_SIGNATURE_LEN..info_end];
    let signature_len = u32::from_be_bytes(info[8..12].try_into().unwrap()) as usize;
    let signature_start = info_end - MODULE_SIGNATURE_LEN - signature_len;
    assert_eq!(signature_start, module.len());
    std::fs::write(
        dir.path().join("sig.p7"),
        &signed[signature_start..info_end - MODULE_SIGNATURE_LEN],
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
            "sig.p7",
            "-content",
            "fake.ko",
            "-certfile",
            "kmod.crt",
            "-nointern",
            "-noverify",
            "-out",
            "/dev/null",
        ],
    );
}

#[test]
fn fetch_keys_writes_secure_boot_variables() {
    let server = Server::start();
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("pk.crt"), new_cert(&server, "pk")).unwrap();
    let reply = server.post("/secureboot/pk", &json!({ "key_id": "pk" }));
    assert_eq!(reply.status, 200, "{}", reply.json);

    assert_success(&client(
        &server,
        dir.path(),
        &["fetch-keys", "keys", "--secureboot-pk", "pk"],
    ));
    let response = server.get("/secureboot/pk/pk");
    let keys = dir.path().join("keys");
    assert_eq!(
        std::fs::read(keys.join("PK.auth")).unwrap(),
        b64decode(response.field("pk"))
    );
    assert_eq!(
        std::fs::read(keys.join("PK.esl")).unwrap(),
        b64decode(response.field("esl"))
    );

    run(&keys, "sig-list-to-certs", &["PK.esl", "pk"]);
    run(
        dir.path(),
        "openssl",
        &["x509", "-in", "pk.crt", "-outform", "DER", "-out", "pk.der"],
    );
    assert_eq!(
        std::fs::read(keys.join("pk-0.der")).unwrap(),
        std::fs::read(dir.path().join("pk.der")).unwrap()
    );
}

#[test]
fn fetch_keys_writes_imx_efuses() {
    let server = Server::start();
    let reply = server.post("/imx/pki", &json!({ "hab_type": "hab" }));
    assert_eq!(reply.status, 200, "{}", reply.json);
    let pki_id = reply.field("pki_id").to_owned();
    let dir = tempfile::tempdir().unwrap();

    assert_success(&client(&server, dir.path(), &["fetch-keys", ".", "--imx-pki", &pki_id]));
    let efuses = std::fs::read(dir.path().join(format!("{pki_id}.efuses"))).unwrap();
    assert_eq!(efuses.len(), 32, "a HAB4 SRK hash is SHA-256");
    assert_eq!(
        efuses,
        b64decode(server.get(&format!("/imx/efuses/{pki_id}")).field("efuses"))
    );
}

#[test]
fn fetch_keys_without_selection_fetches_listed() {
    let server = Server::start();
    let rsa = new_rsa_key(&server);
    let gpg = server.post(
        "/gpg/key",
        &json!({ "name_real": "balenaOS", "name_email": "build@example.com" }),
    );
    let fingerprint = gpg.field("fingerprint").to_owned();
    let pki_id = server
        .post("/imx/pki", &json!({ "hab_type": "ahab" }))
        .field("pki_id")
        .to_owned();
    let dir = tempfile::tempdir().unwrap();

    assert_success(&client(&server, dir.path(), &["fetch-keys", "."]));
    let mut expected = vec![
        format!("{fingerprint}.asc"),
        format!("{fingerprint}.gpg"),
        format!("{rsa}.pem"),
        format!("{pki_id}.efuses"),
    ];
    expected.sort();
    assert_eq!(files_in(dir.path()), expected);
    let efuses = std::fs::read(dir.path().join(format!("{pki_id}.efuses"))).unwrap();
    assert_eq!(efuses.len(), 64, "an AHAB SRK hash is SHA-512");
}
