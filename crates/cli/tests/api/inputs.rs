//! Real inputs from Debian packages: an EFI binary from shim-unsigned and
//! kernel modules from the cloud kernel image, downloaded once into
//! `target/test-inputs`.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Mutex;

/// The unsigned shim from Debian's shim-unsigned package.
pub const SHIM: &str = "/usr/lib/shim/shimx64.efi";

/// Meta package whose dependency is the current Debian 12 cloud kernel.
const KERNEL_META_PACKAGE: &str = "linux-image-cloud-amd64";

/// Magic at the end of a signed module.
const MODULE_SIG_MAGIC: &[u8] = b"~Module signature appended~\n";

/// Bytes of `struct module_signature` before the magic.
const MODULE_SIGNATURE_LEN: usize = 12;

static DOWNLOAD: Mutex<()> = Mutex::new(());

/// Returns the shim binary; fails when shim-unsigned is not installed.
pub fn shim() -> Vec<u8> {
    std::fs::read(SHIM).unwrap_or_else(|err| panic!("{SHIM}: {err}; install Debian's shim-unsigned"))
}

fn inputs_folder() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/test-inputs")
}

/// Returns the kernel module whose path under `kernel/` in the Debian cloud
/// kernel ends with `suffix`, with Debian's own signature removed.
pub fn kernel_module(suffix: &str) -> Vec<u8> {
    let _guard = DOWNLOAD.lock().unwrap_or_else(|poison| poison.into_inner());
    let root = inputs_folder().join("kernel");
    if !root.join("done").exists() {
        extract_kernel_package(&root);
    }

    let list = Command::new("find")
        .arg(&root)
        .args(["-name", "*.ko"])
        .output()
        .unwrap();
    let listing = String::from_utf8(list.stdout).unwrap();
    let path = listing
        .lines()
        .find(|line| line.ends_with(suffix))
        .unwrap_or_else(|| panic!("no module ending in {suffix} under {}", root.display()));
    strip_module_signature(std::fs::read(path).unwrap())
}

fn extract_kernel_package(root: &Path) {
    std::fs::create_dir_all(root).unwrap();
    let depends = Command::new("apt-cache")
        .args(["depends", KERNEL_META_PACKAGE])
        .output()
        .unwrap();
    let depends = String::from_utf8(depends.stdout).unwrap();
    let package = depends
        .lines()
        .find_map(|line| line.trim().strip_prefix("Depends: "))
        .unwrap_or_else(|| panic!("apt-cache knows no {KERNEL_META_PACKAGE}; run apt-get update"))
        .to_owned();

    let download = || {
        Command::new("apt-get")
            .args(["download", &package])
            .current_dir(root)
            .status()
            .unwrap()
    };
    if !download().success() {
        let updated = Command::new("apt-get").args(["update", "-qq"]).status().unwrap();
        assert!(updated.success(), "apt-get update failed");
        assert!(download().success(), "apt-get download {package} failed");
    }

    let deb = std::fs::read_dir(root)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .find(|path| path.extension().is_some_and(|ext| ext == "deb"))
        .unwrap();
    let extracted = Command::new("dpkg-deb").arg("-x").arg(&deb).arg(root).status().unwrap();
    assert!(extracted.success(), "dpkg-deb -x failed");
    std::fs::remove_file(&deb).unwrap();
    std::fs::write(root.join("done"), package).unwrap();
}

/// Cuts a module signature off the end of `module`, as the module loader
/// reads it: magic, then `struct module_signature` with the big-endian
/// signature length in its last four bytes.
pub fn strip_module_signature(mut module: Vec<u8>) -> Vec<u8> {
    if !module.ends_with(MODULE_SIG_MAGIC) {
        return module;
    }
    let trailer = module.len() - MODULE_SIG_MAGIC.len();
    let len_bytes: [u8; 4] = module[trailer - 4..trailer].try_into().unwrap();
    let signature_len = u32::from_be_bytes(len_bytes) as usize;
    module.truncate(trailer - MODULE_SIGNATURE_LEN - signature_len);
    module
}
