//! Shared helpers for the conformance tests in `tests/`: fixed keys, and
//! running the reference tools (openssl, gpg, efitools, sbsigntool, the
//! kernel's sign-file) in a scratch folder.

#![forbid(unsafe_code)]
// Helpers for tests fail the way a test's own asserts do, by panicking.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

pub mod cms;
pub mod gnupg;
pub mod grub;
pub mod pe_builder;
pub mod spsdk;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use balena_sign_crypto::{RsaKeySize, RsaPrivateKey};

/// A scratch folder with a generated key, removed on drop.
pub struct Scratch {
    dir: tempfile::TempDir,
}

impl Scratch {
    /// Creates an empty scratch folder.
    pub fn new() -> std::io::Result<Self> {
        Ok(Self {
            dir: tempfile::tempdir()?,
        })
    }

    /// Path of `name` inside the folder.
    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// Returns the folder itself.
    pub fn root(&self) -> &Path {
        self.dir.path()
    }

    /// Generates an RSA key and writes its PKCS#8 PEM to `name`.
    pub fn rsa_key(&self, name: &str, size: RsaKeySize) -> Result<RsaPrivateKey, Box<dyn std::error::Error>> {
        let (key, pem) = RsaPrivateKey::generate(size)?;
        std::fs::write(self.path(name), pem)?;
        Ok(key)
    }
}

/// Runs `program` with `args` in `dir`, returning its output; fails with the
/// tool's standard error when it exits non-zero.
pub fn run_tool(dir: &Path, program: &str, args: &[&str]) -> Result<Output, String> {
    let output = Command::new(program)
        .args(args)
        .current_dir(dir)
        .output()
        .map_err(|err| format!("cannot run {program}: {err}"))?;
    if !output.status.success() {
        return Err(format!(
            "{program} {args:?} failed with {}: {}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ));
    }
    Ok(output)
}
