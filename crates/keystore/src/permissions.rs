//! The store refuses to run when another local user could change its keys.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use crate::error::StoreError;

/// Write bits for group and others.
const GROUP_OTHER_WRITE: u32 = 0o022;

/// Deepest folder level the check walks; the store layout is four levels
/// deep (`pki/<id>/crts/<file>`), so anything far below is unexpected.
const MAX_DEPTH: usize = 16;

/// Checks `root` and everything below it: no folder or file may be writable
/// by group or others. Symbolic links are not followed.
pub(crate) fn check_tree(root: &Path) -> Result<(), StoreError> {
    let mut pending = vec![(root.to_path_buf(), 0usize)];
    while let Some((path, depth)) = pending.pop() {
        let metadata = fs::symlink_metadata(&path).map_err(|err| StoreError::io(&path, err))?;
        if metadata.file_type().is_symlink() {
            continue;
        }

        let mode = metadata.permissions().mode() & 0o7777;
        if mode & GROUP_OTHER_WRITE != 0 {
            return Err(StoreError::Unsafe {
                reason: format!(
                    "mode {mode:04o} lets group or others write it, so another user could replace keys; run `chmod go-w {}`",
                    path.display()
                ),
                path,
            });
        }

        if metadata.is_dir() {
            if depth >= MAX_DEPTH {
                return Err(StoreError::Unsafe {
                    path,
                    reason: format!("folders nest deeper than {MAX_DEPTH} levels"),
                });
            }
            let entries = fs::read_dir(&path).map_err(|err| StoreError::io(&path, err))?;
            for entry in entries {
                let entry = entry.map_err(|err| StoreError::io(&path, err))?;
                pending.push((entry.path(), depth + 1));
            }
        }
    }
    Ok(())
}
