//! GRUB as a judge: `grub-emu` from Debian's grub-emu package runs
//! `verify_detached` the way GRUB does at boot.

use std::fs;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use crate::Scratch;

/// One `verify_detached` check for GRUB.
pub struct GrubCheck {
    pub label: String,
    pub data: PathBuf,
    pub signature: PathBuf,
}

/// Runs `grub-emu` once with a `grub.cfg` that checks each signature with
/// `public_key` and returns GRUB's `$?` for each label.
///
/// grub-emu needs a terminal, so it runs under `script`, which gives it a
/// pseudo-terminal and copies the screen into a file.
pub fn run_grub(scratch: &Scratch, public_key: &Path, checks: &[GrubCheck]) -> Vec<(String, String)> {
    let grub_dir = scratch.path("grub");
    fs::create_dir(&grub_dir).unwrap();
    std::os::unix::fs::symlink("/usr/lib/grub/x86_64-emu", grub_dir.join("x86_64-emu")).unwrap();

    let mut config = String::from("insmod pgp\ninsmod gcry_rsa\ninsmod gcry_sha256\ninsmod gcry_sha512\n");
    for check in checks {
        config.push_str(&format!(
            "verify_detached (host){} (host){} (host){}\necho \"RESULT {} $?\"\n",
            check.data.display(),
            check.signature.display(),
            public_key.display(),
            check.label
        ));
    }
    config.push_str("halt\n");
    fs::write(grub_dir.join("grub.cfg"), config).unwrap();

    let screen = scratch.path("grub-screen.txt");
    let command = format!("grub-emu -d {}", grub_dir.display());
    let status = Command::new("timeout")
        .args(["20", "script", "-q", "-c", &command])
        .arg(&screen)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    let screen = String::from_utf8_lossy(&fs::read(&screen).unwrap()).into_owned();
    assert!(status.success(), "grub-emu failed with {status}:\n{screen}");

    let results: Vec<(String, String)> = screen
        .lines()
        .filter_map(|line| line.split_once("RESULT ").map(|(_, rest)| rest.trim_end()))
        .filter_map(|result| result.split_once(' '))
        .map(|(label, code)| (label.to_owned(), code.to_owned()))
        .collect();
    assert_eq!(results.len(), checks.len(), "GRUB screen:\n{screen}");
    results
}
