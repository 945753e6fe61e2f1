//! Calls the service the way the balenaOS build does, with curl, jq and
//! `base64 -d`, from a shell script.

use std::process::Command;

use crate::common::Server;

#[test]
fn balenaos_build_replay_core() {
    let server = Server::start();
    let work = tempfile::tempdir().unwrap();
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/replay/core.sh");

    let output = Command::new("bash")
        .arg(script)
        .env("SIGN_API", &server.base)
        .env("SIGN_API_KEY", &server.api_key)
        .env("WORK", work.path())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "replay failed:\n{stdout}\n{stderr}");
    assert!(stdout.contains("replay: all checks passed"), "{stdout}");
}
