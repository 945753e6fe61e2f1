//! Calls the service the way the balenaOS build does, with curl, jq and
//! `base64 -d`, from shell scripts in `tests/replay/`.

use std::process::Command;

use crate::common::Server;
use crate::inputs;

/// Runs `tests/replay/<script>` against a new server and checks that it
/// reached its last line.
fn replay(script: &str) {
    replay_with(script, &[]);
}

fn replay_with(script: &str, env: &[(&str, String)]) {
    let server = Server::start();
    let work = tempfile::tempdir().unwrap();
    let path = format!("{}/tests/replay/{script}", env!("CARGO_MANIFEST_DIR"));

    let output = Command::new("bash")
        .arg(&path)
        .env("SIGN_API", &server.base)
        .env("SIGN_API_KEY", &server.api_key)
        .env("WORK", work.path())
        .envs(env.iter().map(|(name, value)| (*name, value.as_str())))
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

#[test]
fn replay_secure_boot() {
    let inputs = tempfile::tempdir().unwrap();
    let module = inputs.path().join("dummy.ko");
    std::fs::write(&module, inputs::kernel_module("/drivers/net/dummy.ko")).unwrap();
    replay_with(
        "secureboot.sh",
        &[
            ("EFI_BINARY", inputs::SHIM.to_owned()),
            ("KERNEL_MODULE", module.display().to_string()),
        ],
    );
}
