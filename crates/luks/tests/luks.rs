//! The LUKS2 store against volumes made by cryptsetup itself.
//!
//! Label lookup and passphrase checks run on image files and need only
//! `cryptsetup` (Debian package cryptsetup-bin). Mounting needs root and
//! loop devices; unlocking into a mapper device also needs the kernel's
//! device-mapper driver. Tests that lack those print a `SKIPPED:` line and
//! pass. cryptsetup creates `/dev/mapper/control` when it is missing, even
//! where the driver is not loaded.
//! No test reads a block device other than loop devices it attached itself.

// Test helpers fail loudly by design; the workspace denies these outside tests.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::fs;
use std::io::Write;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};

use balena_sign_luks::{
    check_layout, check_passphrase, find_device, mount_ext4, mounted_at, prepare_store_with, read_label, DeviceSearch,
    LayoutIssue, LuksConfig, LuksError, Owner, Step,
};

const PASSPHRASE: &[u8] = b"correct horse battery staple";

/// LUKS2 metadata and key slots take 16 MiB; the rest is for ext4.
const IMAGE_SIZE: u64 = 24 << 20;

/// Runs a tool; panics with its output on failure, or with an install hint
/// when it is missing.
fn run(program: &str, args: &[&str], stdin: &[u8]) -> String {
    let mut child = Command::new(program)
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|err| panic!("cannot run {program} ({err}); scripts/install-test-deps installs it"));
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "{program} {args:?} failed: {}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

/// Prints a `SKIPPED:` line. The test harness captures `eprintln!` of
/// passing tests, but not direct writes to the stderr handle.
fn skipped(test: &str, reason: &str) {
    let line = format!("SKIPPED: {test}: {reason}\n");
    std::io::stderr().write_all(line.as_bytes()).unwrap();
}

/// Returns a label no real device carries, different for every call.
fn unique_label(tag: &str) -> String {
    static COUNTER: AtomicU32 = AtomicU32::new(0);
    format!(
        "bstest-{tag}-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::Relaxed)
    )
}

/// Creates a LUKS2 image file with `label`. PBKDF2 with the minimum
/// iteration count keeps the test fast, and the server takes the KDF
/// settings from the header.
fn luks2_image(path: &Path, label: &str) {
    fs::File::create(path).unwrap().set_len(IMAGE_SIZE).unwrap();
    let path = path.to_str().unwrap();
    let args = [
        "luksFormat",
        "--type",
        "luks2",
        "--label",
        label,
        "--pbkdf",
        "pbkdf2",
        "--pbkdf-force-iterations",
        "1000",
        "--batch-mode",
        "--key-file",
        "-",
        path,
    ];
    run("cryptsetup", &args, PASSPHRASE);
}

/// A folder tree that looks like sysfs and /dev to [`DeviceSearch`], with
/// image files standing in for device nodes.
struct FakeDevices {
    dir: tempfile::TempDir,
}

impl FakeDevices {
    fn new() -> Self {
        let dir = tempfile::tempdir().unwrap();
        for folder in ["sys", "dev", "by-label"] {
            fs::create_dir(dir.path().join(folder)).unwrap();
        }
        Self { dir }
    }

    fn search(&self) -> DeviceSearch {
        DeviceSearch {
            by_label: self.dir.path().join("by-label"),
            sysfs_block: self.dir.path().join("sys"),
            dev: self.dir.path().join("dev"),
        }
    }

    /// Adds device `name` with `sectors` in sysfs; returns its node path.
    fn add(&self, name: &str, sectors: u64) -> PathBuf {
        let entry = self.dir.path().join("sys").join(name);
        fs::create_dir(&entry).unwrap();
        fs::write(entry.join("size"), format!("{sectors}\n")).unwrap();
        self.dir.path().join("dev").join(name)
    }
}

#[test]
fn lookup_finds_labelled_image() {
    let devices = FakeDevices::new();
    let wanted = devices.add("sdb1", IMAGE_SIZE / 512);
    luks2_image(&wanted, "balena-sign-secrets");
    luks2_image(&devices.add("sdc", IMAGE_SIZE / 512), "other-label");
    fs::write(devices.add("sda", 8), vec![0u8; 4096]).unwrap();

    assert_eq!(find_device("balena-sign-secrets", &devices.search()).unwrap(), wanted);
}

#[test]
fn lookup_skips_empty_devices() {
    let devices = FakeDevices::new();
    // sysfs reports 0 sectors for a loop device with no backing file, so
    // its node must not be read even if a file exists there.
    luks2_image(&devices.add("loop3", 0), "balena-sign-secrets");

    let err = find_device("balena-sign-secrets", &devices.search()).unwrap_err();
    assert!(matches!(err, LuksError::DeviceNotFound { checked: 0, .. }), "{err}");
}

#[test]
fn lookup_follows_udev_label_link() {
    let devices = FakeDevices::new();
    let image = devices.dir.path().join("stick.img");
    luks2_image(&image, "my secrets");
    std::os::unix::fs::symlink(&image, devices.dir.path().join("by-label/my\\x20secrets")).unwrap();

    assert_eq!(find_device("my secrets", &devices.search()).unwrap(), image);
}

#[test]
fn lookup_rejects_duplicate_labels() {
    let devices = FakeDevices::new();
    let first = devices.add("sdb", IMAGE_SIZE / 512);
    let second = devices.add("sdc", IMAGE_SIZE / 512);
    luks2_image(&first, "balena-sign-secrets");
    luks2_image(&second, "balena-sign-secrets");

    let err = find_device("balena-sign-secrets", &devices.search()).unwrap_err();
    let LuksError::AmbiguousLabel { devices: found, .. } = &err else {
        panic!("expected AmbiguousLabel, got {err}");
    };
    assert_eq!(found, &vec![first, second]);
    assert!(err.to_string().contains("unplug all but one"), "{err}");
}

#[test]
fn lookup_reports_missing_label() {
    let devices = FakeDevices::new();
    luks2_image(&devices.add("sdb", IMAGE_SIZE / 512), "other-label");

    let err = find_device("balena-sign-secrets", &devices.search()).unwrap_err();
    assert!(
        matches!(
            err,
            LuksError::DeviceNotFound {
                checked: 1,
                denied: 0,
                ..
            }
        ),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(message.contains("\"balena-sign-secrets\""), "{message}");
    assert!(message.contains("cryptsetup luksDump"), "{message}");
}

#[test]
fn label_matches_cryptsetup_dump() {
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("volume.img");
    luks2_image(&image, "first-label");
    let image_arg = image.to_str().unwrap();

    run("cryptsetup", &["config", "--label", "renamed-label", image_arg], b"");
    let dump = run("cryptsetup", &["luksDump", image_arg], b"");
    let dumped = dump
        .lines()
        .find_map(|line| line.strip_prefix("Label:"))
        .expect("luksDump prints a Label line")
        .trim();

    assert_eq!(dumped, "renamed-label");
    assert_eq!(read_label(&image).unwrap().as_deref(), Some(dumped));
}

#[test]
fn luks1_image_has_no_label() {
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("luks1.img");
    fs::File::create(&image).unwrap().set_len(IMAGE_SIZE).unwrap();
    let args = [
        "luksFormat",
        "--type",
        "luks1",
        "--iter-time",
        "1",
        "--batch-mode",
        "--key-file",
        "-",
        image.to_str().unwrap(),
    ];
    run("cryptsetup", &args, PASSPHRASE);

    assert_eq!(read_label(&image).unwrap(), None);
}

#[test]
fn passphrase_check_accepts_right_key() {
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("volume.img");
    luks2_image(&image, "balena-sign-secrets");

    check_passphrase(&image, PASSPHRASE).unwrap();
}

#[test]
fn passphrase_check_rejects_wrong_key() {
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("volume.img");
    luks2_image(&image, "balena-sign-secrets");

    // A trailing newline, as `echo` would add, is a different passphrase.
    for wrong in [&b"wrong"[..], b"correct horse battery staple\n", b""] {
        let err = check_passphrase(&image, wrong).unwrap_err();
        assert!(matches!(err, LuksError::WrongPassphrase { .. }), "{wrong:?}: {err}");
        assert!(err.to_string().contains("BALENASIGN_LUKS_KEY does not unlock"), "{err}");
    }
}

#[test]
fn passphrase_check_rejects_plain_file() {
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("plain.img");
    fs::write(&image, vec![0u8; 1 << 20]).unwrap();

    let err = check_passphrase(&image, PASSPHRASE).unwrap_err();
    assert!(matches!(err, LuksError::Header { .. }), "{err}");
    assert!(err.to_string().contains("plain.img"), "{err}");
}

/// Returns the effective user and group of the test process.
fn current_owner() -> Owner {
    Owner {
        uid: nix::unistd::geteuid().as_raw(),
        gid: nix::unistd::getegid().as_raw(),
    }
}

fn is_root() -> bool {
    nix::unistd::geteuid().is_root()
}

/// Creates a store root laid out as the older service's volumes are:
/// `gpg` and `x509`, mode 0700, owned by the current user.
fn good_layout() -> tempfile::TempDir {
    let root = tempfile::tempdir().unwrap();
    fs::set_permissions(root.path(), fs::Permissions::from_mode(0o755)).unwrap();
    for name in ["gpg", "x509"] {
        fs::create_dir(root.path().join(name)).unwrap();
        fs::set_permissions(root.path().join(name), fs::Permissions::from_mode(0o700)).unwrap();
    }
    root
}

#[test]
fn layout_check_accepts_older_volume() {
    let root = good_layout();
    fs::write(root.path().join("x509/db.crt"), b"").unwrap();

    check_layout(root.path(), current_owner()).unwrap();
}

#[test]
fn layout_check_lists_every_problem() {
    let root = good_layout();
    fs::remove_dir(root.path().join("gpg")).unwrap();
    fs::set_permissions(root.path().join("x509"), fs::Permissions::from_mode(0o755)).unwrap();
    fs::set_permissions(root.path(), fs::Permissions::from_mode(0o777)).unwrap();

    let err = check_layout(root.path(), current_owner()).unwrap_err();
    let LuksError::Layout { problems, .. } = &err else {
        panic!("expected Layout, got {err}");
    };
    let issues: Vec<_> = problems.iter().map(|problem| problem.issue.clone()).collect();
    assert_eq!(
        issues,
        vec![
            LayoutIssue::WritableByOthers { found: 0o777 },
            LayoutIssue::Missing,
            LayoutIssue::Mode {
                found: 0o755,
                expected: 0o700
            },
        ]
    );
    let message = err.to_string();
    assert!(message.contains("chmod 0700"), "{message}");
    assert!(message.contains("install -d -m 0700"), "{message}");
}

#[test]
fn layout_check_rejects_file_as_folder() {
    let root = good_layout();
    fs::remove_dir(root.path().join("gpg")).unwrap();
    fs::write(root.path().join("gpg"), b"").unwrap();

    let err = check_layout(root.path(), current_owner()).unwrap_err();
    let LuksError::Layout { problems, .. } = &err else {
        panic!("expected Layout, got {err}");
    };
    assert_eq!(problems.len(), 1);
    assert_eq!(problems[0].issue, LayoutIssue::NotFolder);
}

#[test]
fn layout_check_rejects_foreign_owner() {
    if !is_root() {
        skipped("layout_check_rejects_foreign_owner", "chown needs root");
        return;
    }
    let root = good_layout();
    fs::create_dir(root.path().join("lost+found")).unwrap();
    std::os::unix::fs::chown(root.path().join("x509"), Some(4321), Some(4321)).unwrap();

    // The server would run as 999:999 here, and mkfs leaves lost+found to root.
    let err = check_layout(root.path(), Owner { uid: 999, gid: 999 }).unwrap_err();
    let message = err.to_string();
    for expected in [
        "x509 is owned by 4321:4321, expected 999:999",
        "lost+found is owned by 0:0",
        "chown 999:999",
    ] {
        assert!(message.contains(expected), "{expected:?} missing from: {message}");
    }
}

/// A loop device attached to an image; detached on drop.
struct LoopDevice {
    path: PathBuf,
}

impl LoopDevice {
    /// Attaches `image`, or returns why this machine cannot.
    fn attach(image: &Path) -> Result<Self, String> {
        if !is_root() {
            return Err("loop devices need root".into());
        }
        let output = Command::new("losetup")
            .args(["--find", "--show"])
            .arg(image)
            .output()
            .map_err(|err| format!("cannot run losetup: {err}"))?;
        if !output.status.success() {
            return Err(format!(
                "losetup failed: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            ));
        }
        Ok(Self {
            path: PathBuf::from(String::from_utf8_lossy(&output.stdout).trim()),
        })
    }

    /// Returns a search that covers only this loop device, so no test reads
    /// the machine's other block devices.
    fn search(&self, scratch: &Path) -> DeviceSearch {
        let name = self.path.file_name().unwrap().to_str().unwrap();
        let entry = scratch.join("sys").join(name);
        fs::create_dir_all(&entry).unwrap();
        fs::copy(
            Path::new("/sys/class/block").join(name).join("size"),
            entry.join("size"),
        )
        .unwrap();
        fs::create_dir_all(scratch.join("by-label")).unwrap();
        DeviceSearch {
            by_label: scratch.join("by-label"),
            sysfs_block: scratch.join("sys"),
            dev: PathBuf::from("/dev"),
        }
    }
}

impl Drop for LoopDevice {
    fn drop(&mut self) {
        let _ = Command::new("losetup").arg("--detach").arg(&self.path).status();
    }
}

/// Unmounts `path` on drop when something is mounted there.
struct MountGuard(PathBuf);

impl Drop for MountGuard {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).stderr(Stdio::null()).status();
    }
}

fn ext4_image(path: &Path, size: u64) {
    fs::File::create(path).unwrap().set_len(size).unwrap();
    run("mkfs.ext4", &["-q", "-F", path.to_str().unwrap()], b"");
}

#[test]
fn mount_ext4_on_loop_device() {
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("ext4.img");
    ext4_image(&image, 8 << 20);
    let device = match LoopDevice::attach(&image) {
        Ok(device) => device,
        Err(reason) => return skipped("mount_ext4_on_loop_device", &reason),
    };
    let store = dir.path().join("store");
    let _guard = MountGuard(store.clone());

    assert_eq!(mount_ext4(&device.path, &store).unwrap(), Step::Done);
    let entry = mounted_at(&fs::canonicalize(&store).unwrap())
        .unwrap()
        .expect("store is a mount point");
    assert_eq!(entry.fs_type, "ext4");
    assert_eq!(entry.root, "/");
    let rdev = fs::metadata(&device.path).unwrap().rdev();
    assert_eq!(
        (entry.major, entry.minor),
        (nix::sys::stat::major(rdev), nix::sys::stat::minor(rdev))
    );
    assert_eq!(
        fs::metadata(&store).unwrap().mode() & 0o7777,
        0o755,
        "mkfs root mode shows through"
    );

    assert_eq!(mount_ext4(&device.path, &store).unwrap(), Step::AlreadyDone);
    let mounts = fs::read_to_string("/proc/self/mountinfo").unwrap();
    let store_text = fs::canonicalize(&store).unwrap().display().to_string();
    let count = mounts
        .lines()
        .filter(|line| line.contains(&format!(" {store_text} ")))
        .count();
    assert_eq!(count, 1, "second call mounted again");
    let options = mounts.lines().find(|line| line.contains(&store_text)).unwrap();
    for option in ["nosuid", "nodev", "noexec"] {
        assert!(options.contains(option), "{option} missing: {options}");
    }
}

#[test]
fn mount_rejects_non_ext4_device() {
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("zeros.img");
    fs::File::create(&image).unwrap().set_len(8 << 20).unwrap();
    let device = match LoopDevice::attach(&image) {
        Ok(device) => device,
        Err(reason) => return skipped("mount_rejects_non_ext4_device", &reason),
    };
    let store = dir.path().join("store");
    let _guard = MountGuard(store.clone());

    let err = mount_ext4(&device.path, &store).unwrap_err();
    assert!(matches!(err, LuksError::NotMountable { .. }), "{err}");
    assert!(err.to_string().contains("must hold an ext4 filesystem"), "{err}");
}

#[test]
fn mount_refuses_occupied_store() {
    let dir = tempfile::tempdir().unwrap();
    let (first_image, second_image) = (dir.path().join("a.img"), dir.path().join("b.img"));
    ext4_image(&first_image, 8 << 20);
    ext4_image(&second_image, 8 << 20);
    let (first, second) = match (LoopDevice::attach(&first_image), LoopDevice::attach(&second_image)) {
        (Ok(first), Ok(second)) => (first, second),
        (Err(reason), _) | (_, Err(reason)) => return skipped("mount_refuses_occupied_store", &reason),
    };
    let store = dir.path().join("store");
    let _guard = MountGuard(store.clone());
    mount_ext4(&first.path, &store).unwrap();

    let err = mount_ext4(&second.path, &store).unwrap_err();
    let LuksError::StoreIsOtherMount { source_device, .. } = &err else {
        panic!("expected StoreIsOtherMount, got {err}");
    };
    assert_eq!(Path::new(source_device), first.path);
}

/// Returns why the whole unlock-and-mount path cannot run here, if it cannot.
fn device_mapper_missing() -> Option<String> {
    if !is_root() {
        return Some("device-mapper and loop devices need root".into());
    }
    // cryptsetup creates /dev/mapper/control even without the driver, so
    // that node proves nothing.
    if !balena_sign_luks::device_mapper_available() {
        return Some("the kernel offers no device-mapper (/proc/misc does not list it)".into());
    }
    None
}

#[test]
fn wrong_passphrase_stops_before_unlocking() {
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("volume.img");
    let label = unique_label("wrong");
    luks2_image(&image, &label);
    let device = match LoopDevice::attach(&image) {
        Ok(device) => device,
        Err(reason) => return skipped("wrong_passphrase_stops_before_unlocking", &reason),
    };
    let search = device.search(&dir.path().join("fake"));
    let store = dir.path().join("store");

    let wrong = LuksConfig::new(&label, b"wrong".to_vec(), current_owner()).unwrap();
    let err = prepare_store_with(&wrong, &store, &search).unwrap_err();
    assert!(matches!(err, LuksError::WrongPassphrase { .. }), "{err}");
    assert!(err.to_string().contains(&device.path.display().to_string()), "{err}");

    if device_mapper_missing().is_some() {
        let right = LuksConfig::new(&label, PASSPHRASE.to_vec(), current_owner()).unwrap();
        let err = prepare_store_with(&right, &store, &search).unwrap_err();
        assert!(matches!(err, LuksError::DeviceMapperUnavailable { .. }), "{err}");
        assert!(err.to_string().contains("dm_crypt"), "{err}");
    }
}

/// An open mapper device, closed on drop.
struct MapperGuard(String);

impl Drop for MapperGuard {
    fn drop(&mut self) {
        let _ = Command::new("cryptsetup")
            .args(["close", &self.0])
            .stderr(Stdio::null())
            .status();
    }
}

#[test]
fn unlock_and_mount_full_path() {
    if let Some(reason) = device_mapper_missing() {
        return skipped("unlock_and_mount_full_path", &reason);
    }
    let dir = tempfile::tempdir().unwrap();
    let image = dir.path().join("volume.img");
    let label = unique_label("full");
    luks2_image(&image, &label);
    let device = match LoopDevice::attach(&image) {
        Ok(device) => device,
        Err(reason) => return skipped("unlock_and_mount_full_path", &reason),
    };
    let search = device.search(&dir.path().join("fake"));
    let store = dir.path().join("store");
    let owner = Owner { uid: 999, gid: 999 };
    let config = LuksConfig::new(&label, PASSPHRASE.to_vec(), owner).unwrap();

    // Lay the volume out as the older service's documentation describes,
    // with cryptsetup and mkfs as an operator would.
    let mapper_name = config.mapper_name();
    let mapper_path = format!("/dev/mapper/{mapper_name}");
    {
        let device_arg = device.path.to_str().unwrap();
        run(
            "cryptsetup",
            &["open", "--key-file", "-", device_arg, &mapper_name],
            PASSPHRASE,
        );
        let _opened = MapperGuard(mapper_name.clone());
        run("mkfs.ext4", &["-q", &mapper_path], b"");
        let setup = dir.path().join("setup");
        fs::create_dir(&setup).unwrap();
        run("mount", &[&mapper_path, setup.to_str().unwrap()], b"");
        let _mounted = MountGuard(setup.clone());
        for name in ["gpg", "x509"] {
            fs::create_dir(setup.join(name)).unwrap();
            fs::set_permissions(setup.join(name), fs::Permissions::from_mode(0o700)).unwrap();
        }
        run("chown", &["-R", "999:999", setup.to_str().unwrap()], b"");
    }

    // Dropped in reverse order: unmount first, then close the mapper device.
    let _opened = MapperGuard(mapper_name.clone());
    let _mounted = MountGuard(store.clone());
    let prepared = prepare_store_with(&config, &store, &search).unwrap();
    assert_eq!(prepared.device.as_deref(), Some(device.path.as_path()));
    assert_eq!(prepared.mapper, PathBuf::from(&mapper_path));
    assert_eq!((prepared.unlocked, prepared.mounted), (Step::Done, Step::Done));
    assert_eq!(fs::metadata(store.join("gpg")).unwrap().uid(), 999);

    // A restart finds everything in place.
    let again = prepare_store_with(&config, &store, &search).unwrap();
    assert_eq!((again.unlocked, again.mounted), (Step::AlreadyDone, Step::AlreadyDone));

    // Open but not mounted: the unlock step is skipped, the mount redone.
    run("umount", &[store.to_str().unwrap()], b"");
    let remount = prepare_store_with(&config, &store, &search).unwrap();
    assert_eq!((remount.unlocked, remount.mounted), (Step::AlreadyDone, Step::Done));
}
