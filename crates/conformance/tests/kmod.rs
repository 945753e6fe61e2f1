//! Kernel module signatures against the kernel's `scripts/sign-file` from
//! the Debian package linux-kbuild-6.1, `openssl cms -verify` and kmod's
//! `modinfo`. The module is an ELF relocatable object with a `.modinfo`
//! section, compiled with gcc.

// The helpers below are test code outside #[test] functions, where a
// panic is the way to fail the test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod identity;

use balena_sign_conformance::{run_tool, Scratch};
use balena_sign_formats::kmod::{sign_module, ModuleSignatureError, MODULE_SIGNATURE_LEN, MODULE_SIG_STRING};
use identity::{stdout_text, Identity};

/// sign-file of Linux 6.1 as Debian installs it.
const SIGN_FILE: &str = "/usr/lib/linux-kbuild-6.1/scripts/sign-file";

/// Source of a module with the `.modinfo` entries modinfo reads.
const MODULE_SOURCE: &str = r#"
static const char modinfo_name[] __attribute__((section(".modinfo"), used)) = "name=balena_test";
static const char modinfo_license[] __attribute__((section(".modinfo"), used)) = "license=GPL";
static const char modinfo_vermagic[] __attribute__((section(".modinfo"), used)) =
    "vermagic=6.1.0-test SMP preempt mod_unload modversions ";

int init_module(void) { return 0; }
void cleanup_module(void) {}
"#;

/// Compiles the test module into `module.ko` and returns its bytes.
fn build_module(scratch: &Scratch) -> Vec<u8> {
    std::fs::write(scratch.path("module.c"), MODULE_SOURCE).unwrap();
    run_tool(scratch.root(), "gcc", &["-c", "-O2", "-o", "module.ko", "module.c"]).unwrap();
    std::fs::read(scratch.path("module.ko")).unwrap()
}

#[test]
fn signature_matches_sign_file() {
    let scratch = Scratch::new().unwrap();
    let signer = Identity::new(&scratch, "kmod");
    let module = build_module(&scratch);

    let ours = sign_module(&module, &signer.cert_der, &signer.key).unwrap();
    std::fs::write(scratch.path("ours.ko"), &ours).unwrap();

    run_tool(
        scratch.root(),
        SIGN_FILE,
        &[
            "sha512",
            signer.key_arg(),
            signer.cert_arg(),
            "module.ko",
            "reference.ko",
        ],
    )
    .unwrap();
    let reference = std::fs::read(scratch.path("reference.ko")).unwrap();
    assert!(ours == reference, "differs from sign-file");
}

#[test]
fn signature_verifies_with_openssl() {
    let scratch = Scratch::new().unwrap();
    let signer = Identity::new(&scratch, "kmod");
    let module = build_module(&scratch);
    let signed = sign_module(&module, &signer.cert_der, &signer.key).unwrap();

    // Split as the kernel's mod_verify_sig() does: magic, then the trailer
    // whose last four bytes are the big-endian sig_len.
    let trailer_start = signed.len() - MODULE_SIG_STRING.len() - MODULE_SIGNATURE_LEN;
    let sig_len_bytes = &signed[trailer_start + 8..trailer_start + 12];
    let sig_len = u32::from_be_bytes(sig_len_bytes.try_into().unwrap()) as usize;
    let pkcs7 = &signed[trailer_start - sig_len..trailer_start];
    let unsigned = &signed[..trailer_start - sig_len];
    assert_eq!(unsigned, module.as_slice());
    std::fs::write(scratch.path("module.p7"), pkcs7).unwrap();
    std::fs::write(scratch.path("module.unsigned"), unsigned).unwrap();

    run_tool(
        scratch.root(),
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
            "module.unsigned",
            "-certfile",
            signer.cert_arg(),
            "-nointern",
            "-noverify",
            "-out",
            "/dev/null",
        ],
    )
    .unwrap();
}

#[test]
fn modinfo_shows_signer() {
    let scratch = Scratch::new().unwrap();
    let signer = Identity::new(&scratch, "kmod");
    let module = build_module(&scratch);
    let signed = sign_module(&module, &signer.cert_der, &signer.key).unwrap();
    std::fs::write(scratch.path("signed.ko"), &signed).unwrap();

    let output = run_tool(scratch.root(), "modinfo", &["signed.ko"]).unwrap();
    let text = stdout_text(&output);
    let field = |name: &str| {
        text.lines()
            .find_map(|line| line.strip_prefix(name).map(|value| value.trim().to_owned()))
            .unwrap_or_else(|| panic!("no {name} in modinfo output: {text}"))
    };
    assert_eq!(field("sig_id:"), "PKCS#7");
    assert_eq!(field("signer:"), "kmod");
    assert_eq!(field("sig_hashalgo:"), "sha512");

    let serial = run_tool(
        scratch.root(),
        "openssl",
        &["x509", "-in", "kmod.crt", "-noout", "-serial"],
    )
    .unwrap();
    let serial_hex = stdout_text(&serial)
        .trim()
        .trim_start_matches("serial=")
        .to_ascii_uppercase();
    let sig_key = field("sig_key:").replace(':', "").to_ascii_uppercase();
    assert_eq!(sig_key, serial_hex);
}

#[test]
fn signed_module_rejected() {
    let scratch = Scratch::new().unwrap();
    let signer = Identity::new(&scratch, "kmod");
    build_module(&scratch);

    run_tool(
        scratch.root(),
        SIGN_FILE,
        &[
            "sha512",
            signer.key_arg(),
            signer.cert_arg(),
            "module.ko",
            "reference.ko",
        ],
    )
    .unwrap();
    let reference = std::fs::read(scratch.path("reference.ko")).unwrap();
    assert!(matches!(
        sign_module(&reference, &signer.cert_der, &signer.key).unwrap_err(),
        ModuleSignatureError::AlreadySigned
    ));
}

#[test]
fn compressed_module_rejected() {
    let scratch = Scratch::new().unwrap();
    let signer = Identity::new(&scratch, "kmod");
    build_module(&scratch);
    run_tool(scratch.root(), "xz", &["--keep", "module.ko"]).unwrap();
    let compressed = std::fs::read(scratch.path("module.ko.xz")).unwrap();

    assert!(matches!(
        sign_module(&compressed, &signer.cert_der, &signer.key).unwrap_err(),
        ModuleSignatureError::NotElf
    ));
}
