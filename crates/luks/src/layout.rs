//! The folder layout the key store volume must have, as the older service
//! required it: `gpg` and `x509` folders, mode 0700, owned by the user the
//! server runs as.

use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use crate::error::{LayoutIssue, LayoutProblem, LuksError};
use crate::Owner;

/// Folders the volume must contain.
pub const REQUIRED_FOLDERS: [&str; 2] = ["gpg", "x509"];

/// Mode of each required folder; GnuPG also refuses a home folder others can read.
pub const REQUIRED_FOLDER_MODE: u32 = 0o700;

/// Write bits for group and others.
const GROUP_OTHER_WRITE: u32 = 0o022;

/// Checks the volume mounted at `root` and lists every problem found.
///
/// The root, every required folder and every other top-level entry (such
/// as mkfs's `lost+found`) must belong to `owner`, because the server runs
/// as that user and reads the whole store when it starts.
pub fn check_layout(root: &Path, owner: Owner) -> Result<(), LuksError> {
    let mut problems = Vec::new();

    let root_metadata = std::fs::metadata(root).map_err(|err| LuksError::io(root, err))?;
    check_owner(root, &root_metadata, owner, &mut problems);
    let root_mode = root_metadata.permissions().mode() & 0o7777;
    if root_mode & GROUP_OTHER_WRITE != 0 {
        problems.push(LayoutProblem {
            path: root.to_owned(),
            issue: LayoutIssue::WritableByOthers { found: root_mode },
        });
    }

    for name in REQUIRED_FOLDERS {
        check_required_folder(&root.join(name), owner, &mut problems);
    }

    let entries = std::fs::read_dir(root).map_err(|err| LuksError::io(root, err))?;
    for entry in entries {
        let entry = entry.map_err(|err| LuksError::io(root, err))?;
        if REQUIRED_FOLDERS.iter().any(|name| entry.file_name() == *name) {
            continue;
        }
        let path = entry.path();
        let metadata = std::fs::symlink_metadata(&path).map_err(|err| LuksError::io(&path, err))?;
        check_owner(&path, &metadata, owner, &mut problems);
    }

    if problems.is_empty() {
        return Ok(());
    }
    Err(LuksError::Layout {
        root: root.to_owned(),
        problems,
    })
}

fn check_required_folder(path: &Path, owner: Owner, problems: &mut Vec<LayoutProblem>) {
    let metadata = match std::fs::symlink_metadata(path) {
        Ok(metadata) => metadata,
        Err(_) => {
            problems.push(LayoutProblem {
                path: path.to_owned(),
                issue: LayoutIssue::Missing,
            });
            return;
        }
    };
    if !metadata.is_dir() {
        problems.push(LayoutProblem {
            path: path.to_owned(),
            issue: LayoutIssue::NotFolder,
        });
        return;
    }

    check_owner(path, &metadata, owner, problems);
    let mode = metadata.permissions().mode() & 0o7777;
    if mode != REQUIRED_FOLDER_MODE {
        problems.push(LayoutProblem {
            path: path.to_owned(),
            issue: LayoutIssue::Mode {
                found: mode,
                expected: REQUIRED_FOLDER_MODE,
            },
        });
    }
}

fn check_owner(path: &Path, metadata: &std::fs::Metadata, owner: Owner, problems: &mut Vec<LayoutProblem>) {
    let found = Owner {
        uid: metadata.uid(),
        gid: metadata.gid(),
    };
    if found != owner {
        problems.push(LayoutProblem {
            path: path.to_owned(),
            issue: LayoutIssue::Owner { found, expected: owner },
        });
    }
}
