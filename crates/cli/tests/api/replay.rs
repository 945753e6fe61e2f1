//! Calls the service the way the balenaOS build does, with curl, jq and
//! `base64 -d`, from shell scripts in `tests/replay/`.

use std::process::Command;

use crate::common::Server;

/// Runs `tests/replay/<script>` against a new server and checks that it
/// reached its last line.
fn replay(script: &str) {
    let server = Server::start();
    let work = tempfile::tempdir().unwrap();
    let path = format!("{}/tests/replay/{script}", env!("CARGO_MANIFEST_DIR"));

    let output = Command::new("bash")
        .arg(&path)
        .env("SIGN_API", &server.base)
        .env("SIGN_API_KEY", &server.api_key)
        .env("WORK", work.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{script} failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("replay: all checks passed"), "{stdout}");
}

#[test]
fn replay_certificates_and_rpi() {
    replay("core.sh");
}

#[test]
fn replay_openpgp() {
    replay("gpg.sh");
}
