use std::fmt;
use std::path::PathBuf;

use libcryptsetup_rs::LibcryptErr;

use crate::Owner;

/// Reason the encrypted key store cannot be used. Every message names the
/// device or path and what to change.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum LuksError {
    #[error("invalid LUKS label {label:?}: {reason}")]
    InvalidLabel { label: String, reason: &'static str },

    #[error(
        "no block device has the LUKS2 label {label:?} ({checked} devices checked){}; plug in the device with the \
         key store, or compare the label with `cryptsetup luksDump <device>`",
        denied_hint(*denied)
    )]
    DeviceNotFound {
        label: String,
        checked: usize,
        denied: usize,
    },

    #[error(
        "several block devices have the LUKS2 label {label:?}: {}; unplug all but one, or give one another label \
         with `cryptsetup config <device> --label <label>`",
        join_paths(devices)
    )]
    AmbiguousLabel { label: String, devices: Vec<PathBuf> },

    #[error("cannot read the LUKS2 header of {device}: {source}")]
    Header {
        device: PathBuf,
        #[source]
        source: LibcryptErr,
    },

    #[error("BALENASIGN_LUKS_KEY does not unlock {device}: no key slot accepts this passphrase")]
    WrongPassphrase { device: PathBuf },

    #[error(
        "cannot unlock {device}: the kernel offers no device-mapper (/proc/misc does not list it); load the \
         dm_crypt module on the host and run the container privileged"
    )]
    DeviceMapperUnavailable { device: PathBuf },

    #[error("cannot unlock {device} as /dev/mapper/{name}: {source}")]
    Activate {
        device: PathBuf,
        name: String,
        #[source]
        source: LibcryptErr,
    },

    #[error(
        "/dev/mapper/{name} is already open on {backing}, not on {device}; close it with `cryptsetup close {name}` \
         or set BALENASIGN_LUKS_LABEL to the label of {backing}"
    )]
    MapperInUse {
        name: String,
        backing: PathBuf,
        device: PathBuf,
    },

    #[error(
        "{path} did not appear within {seconds} s after unlocking; check that udev or the container's /dev is working"
    )]
    MapperNodeMissing { path: PathBuf, seconds: u64 },

    #[error(
        "the key store folder {store} is already a mount point of {source_device} ({fs_type}); with \
         BALENASIGN_LUKS_KEY set the LUKS volume is mounted there, so remove the other mount (for example the \
         store volume of the container)"
    )]
    StoreIsOtherMount {
        store: PathBuf,
        source_device: String,
        fs_type: String,
    },

    #[error("cannot mount {device} on {store} as ext4: {source}; the unlocked volume must hold an ext4 filesystem")]
    NotMountable {
        device: PathBuf,
        store: PathBuf,
        #[source]
        source: nix::Error,
    },

    #[error(
        "the key store volume mounted on {root} has the wrong layout: {}",
        join_problems(problems)
    )]
    Layout {
        root: PathBuf,
        problems: Vec<LayoutProblem>,
    },

    #[error("cannot switch to user {owner} after mounting the key store: {source}")]
    DropPrivileges {
        owner: Owner,
        #[source]
        source: nix::Error,
    },

    #[error("I/O error on {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl LuksError {
    pub(crate) fn io(path: impl Into<PathBuf>, source: std::io::Error) -> Self {
        Self::Io {
            path: path.into(),
            source,
        }
    }
}

/// One thing wrong with a folder of the key store volume.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LayoutProblem {
    pub path: PathBuf,
    pub issue: LayoutIssue,
}

/// Kind of layout problem, with the values found.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum LayoutIssue {
    /// A required folder does not exist.
    Missing,
    /// The path exists but is not a folder (a symbolic link counts as not a folder).
    NotFolder,
    /// Owned by `found` instead of the user the server runs as.
    Owner { found: Owner, expected: Owner },
    /// A required folder's mode is not 0700.
    Mode { found: u32, expected: u32 },
    /// The volume root is writable by group or others.
    WritableByOthers { found: u32 },
}

impl fmt::Display for LayoutProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let path = self.path.display();
        match &self.issue {
            LayoutIssue::Missing => write!(f, "{path} is missing; create it with `install -d -m 0700 {path}`"),
            LayoutIssue::NotFolder => write!(f, "{path} is not a folder"),
            LayoutIssue::Owner { found, expected } => {
                write!(
                    f,
                    "{path} is owned by {found}, expected {expected}; run `chown {expected} {path}`"
                )
            }
            LayoutIssue::Mode { found, expected } => {
                write!(
                    f,
                    "{path} has mode {found:04o}, expected {expected:04o}; run `chmod {expected:04o} {path}`"
                )
            }
            LayoutIssue::WritableByOthers { found } => {
                write!(
                    f,
                    "{path} has mode {found:04o}, writable by group or others; run `chmod go-w {path}`"
                )
            }
        }
    }
}

fn denied_hint(denied: usize) -> String {
    if denied == 0 {
        return String::new();
    }
    format!(
        "; {denied} devices could not be read for lack of permission, so run as root (in a container: privileged, \
         user root)"
    )
}

fn join_paths(paths: &[PathBuf]) -> String {
    paths
        .iter()
        .map(|path| path.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

fn join_problems(problems: &[LayoutProblem]) -> String {
    problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
}
