//! Mounting the unlocked ext4 filesystem on the key store folder.

use std::fs::DirBuilder;
use std::os::unix::fs::{DirBuilderExt, FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};

use nix::mount::MsFlags;
use nix::sys::stat::{major, minor};

use crate::error::LuksError;
use crate::Step;

/// The kernel's list of this process's mounts; see proc_pid_mountinfo(5).
const MOUNTINFO: &str = "/proc/self/mountinfo";

/// Filesystem type of the key store volume, as the older service required.
const FS_TYPE: &str = "ext4";

/// Mode of a store folder that has to be created before mounting.
const MOUNT_POINT_MODE: u32 = 0o700;

/// One line of `/proc/self/mountinfo`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MountEntry {
    /// Device number of the mounted filesystem.
    pub major: u64,
    pub minor: u64,
    /// Folder of the filesystem that is mounted; `/` for the whole filesystem.
    pub root: String,
    pub mount_point: PathBuf,
    pub fs_type: String,
    /// Source given to mount(2): a device path or a name.
    pub source: String,
}

/// Mounts the ext4 filesystem on block device `device` at `target`, with
/// `nosuid`, `nodev` and `noexec` because it holds only data.
///
/// Creates `target` (mode 0700) when missing. Returns `AlreadyDone` when
/// the whole filesystem of `device` is already mounted there, and fails
/// when something else is.
pub fn mount_ext4(device: &Path, target: &Path) -> Result<Step, LuksError> {
    let device_metadata = std::fs::metadata(device).map_err(|err| LuksError::io(device, err))?;
    if !device_metadata.file_type().is_block_device() {
        return Err(LuksError::NotMountable {
            device: device.to_owned(),
            store: target.to_owned(),
            source: nix::Error::ENOTBLK,
        });
    }
    let rdev = device_metadata.rdev();

    DirBuilder::new()
        .mode(MOUNT_POINT_MODE)
        .recursive(true)
        .create(target)
        .map_err(|err| LuksError::io(target, err))?;
    let target = std::fs::canonicalize(target).map_err(|err| LuksError::io(target, err))?;

    if let Some(entry) = mounted_at(&target)? {
        if entry.major == major(rdev) && entry.minor == minor(rdev) && entry.root == "/" {
            return Ok(Step::AlreadyDone);
        }
        return Err(LuksError::StoreIsOtherMount {
            store: target,
            source_device: entry.source,
            fs_type: entry.fs_type,
        });
    }

    let flags = MsFlags::MS_NOSUID | MsFlags::MS_NODEV | MsFlags::MS_NOEXEC;
    nix::mount::mount(Some(device), &target, Some(FS_TYPE), flags, None::<&str>).map_err(|source| {
        LuksError::NotMountable {
            device: device.to_owned(),
            store: target.clone(),
            source,
        }
    })?;
    Ok(Step::Done)
}

/// Returns the topmost mount at `path` (an absolute path without symbolic
/// links) if `path` is a mount point.
pub fn mounted_at(path: &Path) -> Result<Option<MountEntry>, LuksError> {
    let text = std::fs::read_to_string(MOUNTINFO).map_err(|err| LuksError::io(MOUNTINFO, err))?;
    Ok(parse_mountinfo(&text)
        .into_iter()
        .rev()
        .find(|entry| entry.mount_point == path))
}

/// Parses `/proc/self/mountinfo`; lines that do not parse are skipped.
///
/// Each line reads `id parent major:minor root mount-point options
/// [optional fields] - fs-type source super-options`, with spaces, tabs,
/// newlines and backslashes in paths written as three-digit octal escapes.
pub fn parse_mountinfo(text: &str) -> Vec<MountEntry> {
    text.lines().filter_map(parse_mountinfo_line).collect()
}

fn parse_mountinfo_line(line: &str) -> Option<MountEntry> {
    let mut fields = line.split(' ');
    let _mount_id = fields.next()?;
    let _parent_id = fields.next()?;
    let (major, minor) = fields.next()?.split_once(':')?;
    let root = unescape(fields.next()?);
    let mount_point = PathBuf::from(unescape(fields.next()?));

    // Optional fields end at a lone "-".
    fields.find(|field| *field == "-")?;
    let fs_type = fields.next()?.to_owned();
    let source = unescape(fields.next()?);

    Some(MountEntry {
        major: major.parse().ok()?,
        minor: minor.parse().ok()?,
        root,
        mount_point,
        fs_type,
        source,
    })
}

/// Undoes the kernel's `\ooo` octal escapes.
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while let Some(&byte) = bytes.get(i) {
        let escaped = bytes
            .get(i + 1..i + 4)
            .filter(|digits| byte == b'\\' && digits.iter().all(|digit| (b'0'..=b'7').contains(digit)))
            .and_then(|digits| u8::from_str_radix(std::str::from_utf8(digits).ok()?, 8).ok());
        match escaped {
            Some(value) => {
                out.push(value);
                i += 4;
            }
            None => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    const SAMPLE: &str = "\
22 1 0:21 / /proc rw,nosuid,nodev,noexec,relatime shared:12 - proc proc rw
36 35 98:0 /mnt1 /mnt2 rw,noatime master:1 - ext3 /dev/root rw,errors=continue
45 27 254:3 / /var/lib/balena\\040sign rw,nosuid,nodev,noexec,relatime - ext4 /dev/mapper/luks-balena-sign-secrets rw
";

    #[test]
    fn mountinfo_fields_parse() {
        let entries = parse_mountinfo(SAMPLE);
        assert_eq!(entries.len(), 3);
        assert_eq!(
            entries[1],
            MountEntry {
                major: 98,
                minor: 0,
                root: "/mnt1".into(),
                mount_point: "/mnt2".into(),
                fs_type: "ext3".into(),
                source: "/dev/root".into(),
            }
        );
    }

    #[test]
    fn mountinfo_unescapes_spaces() {
        let entries = parse_mountinfo(SAMPLE);
        assert_eq!(entries[2].mount_point, PathBuf::from("/var/lib/balena sign"));
        assert_eq!((entries[2].major, entries[2].minor), (254, 3));
    }

    #[test]
    fn mountinfo_skips_malformed_lines() {
        let text = "garbage\n1 2 x:y / /a rw - ext4 /dev/a rw\n1 2 8:1 / /b rw no-separator\n";
        assert!(parse_mountinfo(text).is_empty());
    }

    #[test]
    fn unescape_keeps_lone_backslash() {
        assert_eq!(unescape("a\\134b"), "a\\b");
        assert_eq!(unescape("a\\9b\\"), "a\\9b\\");
    }
}
