//! The key store on a LUKS2-encrypted volume, as the older balena-sign
//! service kept its secrets folder. The steps: find the block device by
//! its LUKS2 label, unlock it with a passphrase through libcryptsetup,
//! mount the ext4 filesystem inside on the store folder, and check that
//! its `gpg` and `x509` folders exist with the right owner and mode.
//!
//! Each step is skipped when it is done already (the mapper device is
//! open, or the filesystem is mounted on the store), so a restart of the
//! server, or a host that unlocked the volume itself, works. No external
//! program runs.
//!
//! Unlocking and mounting need root (in a container: privileged, with the
//! host's `/dev`); [`drop_privileges`] then switches the process to the
//! store's owner.

#![forbid(unsafe_code)]

mod error;
pub mod header;
mod layout;
mod lookup;
mod mount;
mod privileges;
mod unlock;

use std::fmt;
use std::path::{Path, PathBuf};
use std::str::FromStr;

use zeroize::Zeroizing;

pub use error::{LayoutIssue, LayoutProblem, LuksError};
pub use layout::{check_layout, REQUIRED_FOLDERS, REQUIRED_FOLDER_MODE};
pub use lookup::{find_device, read_label, DeviceSearch};
pub use mount::{mount_ext4, mounted_at, parse_mountinfo, MountEntry};
pub use privileges::drop_privileges;
pub use unlock::{check_passphrase, device_mapper_available, mapper_name, mapper_path, open, MAPPER_DIR};

/// Label looked up when `BALENASIGN_LUKS_LABEL` is not set.
pub const DEFAULT_LABEL: &str = "balena-sign-secrets";

/// Owner of the store folders: the `balenasign` user of the container
/// image, which the older service used too.
pub const DEFAULT_OWNER: Owner = Owner { uid: 999, gid: 999 };

/// Maximum length of a LUKS2 label in bytes: the field has 48, including the terminating NUL.
pub const MAX_LABEL_LEN: usize = header::LABEL_FIELD_LEN - 1;

/// A numeric user and group.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Owner {
    pub uid: u32,
    pub gid: u32,
}

impl fmt::Display for Owner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.uid, self.gid)
    }
}

impl FromStr for Owner {
    type Err = String;

    /// Parses `uid:gid`, both numeric.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let invalid = || format!("invalid owner {text:?}; write numeric ids as uid:gid, such as 999:999");
        let (uid, gid) = text.split_once(':').ok_or_else(invalid)?;
        Ok(Self {
            uid: uid.trim().parse().map_err(|_| invalid())?,
            gid: gid.trim().parse().map_err(|_| invalid())?,
        })
    }
}

/// Settings that open the encrypted store.
pub struct LuksConfig {
    label: String,
    passphrase: Zeroizing<Vec<u8>>,
    owner: Owner,
}

impl LuksConfig {
    /// Checks that `label` can be a LUKS2 label and a mapper device name.
    pub fn new(label: &str, passphrase: Vec<u8>, owner: Owner) -> Result<Self, LuksError> {
        validate_label(label)?;
        Ok(Self {
            label: label.to_owned(),
            passphrase: Zeroizing::new(passphrase),
            owner,
        })
    }

    pub fn label(&self) -> &str {
        &self.label
    }

    pub fn owner(&self) -> Owner {
        self.owner
    }

    /// Name of the mapper device, `luks-<label>`.
    pub fn mapper_name(&self) -> String {
        mapper_name(&self.label)
    }
}

impl fmt::Debug for LuksConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LuksConfig")
            .field("label", &self.label)
            .field("passphrase", &"<redacted>")
            .field("owner", &self.owner)
            .finish()
    }
}

/// Whether a step ran now or had been done before.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    Done,
    AlreadyDone,
}

/// The outcome of [`prepare_store`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Prepared {
    /// The LUKS2 device; `None` when the store was found mounted from the
    /// mapper device already and no device had to be looked up.
    pub device: Option<PathBuf>,
    /// The unlocked device-mapper device.
    pub mapper: PathBuf,
    pub unlocked: Step,
    pub mounted: Step,
}

/// Makes the key store at `store` the mounted, checked LUKS2 volume that
/// `config` names, looking for the device on the running system.
pub fn prepare_store(config: &LuksConfig, store: &Path) -> Result<Prepared, LuksError> {
    prepare_store_with(config, store, &DeviceSearch::system())
}

/// [`prepare_store`] with the block devices taken from `search`.
pub fn prepare_store_with(config: &LuksConfig, store: &Path, search: &DeviceSearch) -> Result<Prepared, LuksError> {
    let name = config.mapper_name();
    let mapper = mapper_path(&name);

    if let Some(prepared) = already_mounted(&mapper, store)? {
        check_layout(store, config.owner)?;
        return Ok(prepared);
    }

    let device = find_device(&config.label, search)?;
    let unlocked = open(&device, &name, &config.passphrase)?;
    let mounted = mount_ext4(&mapper, store)?;
    check_layout(store, config.owner)?;
    Ok(Prepared {
        device: Some(device),
        mapper,
        unlocked,
        mounted,
    })
}

/// Recognises a store that is already the mounted mapper device, a check
/// that needs no root.
fn already_mounted(mapper: &Path, store: &Path) -> Result<Option<Prepared>, LuksError> {
    use std::os::unix::fs::MetadataExt;

    let (Ok(mapper_metadata), Ok(store)) = (std::fs::metadata(mapper), std::fs::canonicalize(store)) else {
        return Ok(None);
    };
    let rdev = mapper_metadata.rdev();
    let Some(entry) = mounted_at(&store)? else {
        return Ok(None);
    };
    let same_device = entry.major == nix::sys::stat::major(rdev) && entry.minor == nix::sys::stat::minor(rdev);
    if !same_device || entry.root != "/" {
        return Ok(None);
    }
    Ok(Some(Prepared {
        device: None,
        mapper: mapper.to_owned(),
        unlocked: Step::AlreadyDone,
        mounted: Step::AlreadyDone,
    }))
}

/// Checks that a label fits the LUKS2 field and makes a valid mapper device name.
fn validate_label(label: &str) -> Result<(), LuksError> {
    let reason = if label.is_empty() {
        Some("it is empty")
    } else if label.len() > MAX_LABEL_LEN {
        Some("LUKS2 labels have at most 47 bytes")
    } else if label.contains('/') || label.chars().any(char::is_control) {
        Some("it contains '/' or a control character, which device-mapper names cannot hold")
    } else {
        None
    };
    match reason {
        Some(reason) => Err(LuksError::InvalidLabel {
            label: label.to_owned(),
            reason,
        }),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_parses_uid_and_gid() {
        assert_eq!("999:999".parse::<Owner>().unwrap(), DEFAULT_OWNER);
        assert_eq!("0:5".parse::<Owner>().unwrap(), Owner { uid: 0, gid: 5 });
        assert!("999".parse::<Owner>().is_err());
        assert!("balenasign:balenasign".parse::<Owner>().is_err());
    }

    #[test]
    fn labels_are_validated() {
        assert!(validate_label(DEFAULT_LABEL).is_ok());
        assert!(validate_label(&"a".repeat(MAX_LABEL_LEN)).is_ok());
        for bad in ["", "a/b", "a\nb"] {
            assert!(validate_label(bad).is_err(), "{bad:?} accepted");
        }
        assert!(validate_label(&"a".repeat(MAX_LABEL_LEN + 1)).is_err());
    }

    #[test]
    fn config_debug_hides_passphrase() {
        let config = LuksConfig::new("x", b"hunter2".to_vec(), DEFAULT_OWNER).unwrap();
        let text = format!("{config:?}");
        assert!(!text.contains("hunter2"), "{text}");
        assert!(text.contains("redacted"));
    }
}
