//! Finding the block device whose LUKS2 header carries a label.
//!
//! The label is the one in the LUKS2 binary header (`cryptsetup luksFormat
//! --label`), not a filesystem label: the filesystem sits inside the
//! encrypted area and cannot be read before unlocking. udev publishes the
//! same label as `/dev/disk/by-label/<label>`, but containers often run
//! without udev, so every block device listed in sysfs is checked too.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{ErrorKind, Read};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::error::LuksError;
use crate::header::{self, HeaderKind, HEADER_PREFIX_LEN};

/// Folders to search for block devices; tests point these at folders of their own.
#[derive(Clone, Debug)]
pub struct DeviceSearch {
    /// udev's links named after filesystem and LUKS2 labels.
    pub by_label: PathBuf,
    /// One entry per block device, each with a `size` file in 512-byte sectors.
    pub sysfs_block: PathBuf,
    /// Device nodes, named as in sysfs with `!` standing for `/`.
    pub dev: PathBuf,
}

impl DeviceSearch {
    /// Returns the running system's `/dev/disk/by-label`, `/sys/class/block` and `/dev`.
    pub fn system() -> Self {
        Self {
            by_label: PathBuf::from("/dev/disk/by-label"),
            sysfs_block: PathBuf::from("/sys/class/block"),
            dev: PathBuf::from("/dev"),
        }
    }
}

impl Default for DeviceSearch {
    fn default() -> Self {
        Self::system()
    }
}

/// Returns the one device whose LUKS2 label equals `label`.
///
/// Fails when no device or more than one device carries it; two devices
/// with the same label would make the choice depend on probe order.
pub fn find_device(label: &str, search: &DeviceSearch) -> Result<PathBuf, LuksError> {
    let candidates = candidates(label, search)?;

    // Keyed by device number, so a by-label link and the sysfs name of the
    // same device count once.
    let mut matches = BTreeMap::new();
    let mut denied = 0;
    for path in &candidates {
        match read_label(path) {
            Ok(Some(found)) if found == label => {
                let key = identity(path);
                matches.entry(key).or_insert_with(|| path.clone());
            }
            Ok(_) => {}
            Err(err) if err.kind() == ErrorKind::PermissionDenied => denied += 1,
            // Drives without media and vanished devices cannot hold the volume.
            Err(_) => {}
        }
    }

    let mut devices: Vec<PathBuf> = matches.into_values().collect();
    match devices.len() {
        0 => Err(LuksError::DeviceNotFound {
            label: label.to_owned(),
            checked: candidates.len(),
            denied,
        }),
        1 => Ok(devices.remove(0)),
        _ => {
            devices.sort();
            Err(LuksError::AmbiguousLabel {
                label: label.to_owned(),
                devices,
            })
        }
    }
}

/// Reads the LUKS2 label of a device or image file, or `None` when it has
/// no LUKS2 header.
pub fn read_label(path: &Path) -> std::io::Result<Option<String>> {
    let mut prefix = Vec::with_capacity(HEADER_PREFIX_LEN);
    File::open(path)?
        .take(HEADER_PREFIX_LEN as u64)
        .read_to_end(&mut prefix)?;
    Ok(match header::parse(&prefix) {
        HeaderKind::Luks2 { label } => Some(label),
        HeaderKind::OtherLuksVersion(_) | HeaderKind::NotLuks => None,
    })
}

/// Lists the by-label link first, then every non-empty block device in sysfs.
fn candidates(label: &str, search: &DeviceSearch) -> Result<Vec<PathBuf>, LuksError> {
    let mut paths = Vec::new();
    let link = search.by_label.join(udev_encode(label));
    if let Ok(target) = std::fs::canonicalize(&link) {
        paths.push(target);
    }

    let entries = match std::fs::read_dir(&search.sysfs_block) {
        Ok(entries) => entries,
        Err(err) if err.kind() == ErrorKind::NotFound => return Ok(paths),
        Err(err) => return Err(LuksError::io(&search.sysfs_block, err)),
    };
    let mut names: Vec<String> = entries
        .filter_map(Result::ok)
        .map(|entry| entry.file_name().to_string_lossy().into_owned())
        .collect();
    names.sort();
    for name in names {
        if sectors(&search.sysfs_block.join(&name)) == Some(0) {
            continue;
        }
        let node = search.dev.join(name.replace('!', "/"));
        if node.exists() {
            paths.push(node);
        }
    }
    Ok(paths)
}

/// Size of a sysfs block device entry in sectors, when readable.
fn sectors(entry: &Path) -> Option<u64> {
    std::fs::read_to_string(entry.join("size")).ok()?.trim().parse().ok()
}

/// Returns what makes two paths the same device: the device number for
/// device nodes, the inode for the image files tests use.
fn identity(path: &Path) -> (u64, u64, u64) {
    match std::fs::metadata(path) {
        Ok(metadata) if metadata.rdev() != 0 => (metadata.rdev(), 0, 0),
        Ok(metadata) => (0, metadata.dev(), metadata.ino()),
        Err(_) => (0, 0, 0),
    }
}

/// Encodes a label as udev names its by-label link: ASCII characters
/// outside `[0-9A-Za-z#+-.:=@_]` become `\xNN`; other UTF-8 stays.
fn udev_encode(label: &str) -> String {
    let mut encoded = String::with_capacity(label.len());
    for character in label.chars() {
        if !character.is_ascii() || character.is_ascii_alphanumeric() || "#+-.:=@_".contains(character) {
            encoded.push(character);
        } else {
            encoded.push_str(&format!("\\x{:02x}", u32::from(character)));
        }
    }
    encoded
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn udev_encoding_escapes_spaces() {
        assert_eq!(udev_encode("balena-sign-secrets"), "balena-sign-secrets");
        assert_eq!(udev_encode("my secrets"), "my\\x20secrets");
    }
}
