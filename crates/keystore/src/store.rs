use std::fs::{self, DirBuilder, File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use crate::error::StoreError;
use crate::permissions;

/// Mode of every file the store creates.
pub const FILE_MODE: u32 = 0o600;

/// Mode of every folder the store creates.
pub const FOLDER_MODE: u32 = 0o700;

/// Prefix of temporary files; ids cannot start with '.', so no id collides.
const TEMP_PREFIX: &str = ".tmp-";

/// File whose lock marks the store as in use by one process.
const LOCK_FILE: &str = ".lock";

/// An exclusive lock on the store, held until dropped.
#[derive(Debug)]
pub struct StoreLock {
    _file: File,
}

/// The key store root and its atomic file primitives.
#[derive(Clone, Debug)]
pub struct Store {
    root: PathBuf,
}

impl Store {
    /// Opens the store at `root`, creating it with mode 0700 when missing.
    ///
    /// Fails when any folder or file in it is writable by group or others,
    /// and removes temporary files left behind by an interrupted write.
    pub fn open(root: impl Into<PathBuf>) -> Result<Self, StoreError> {
        let root = root.into();
        match DirBuilder::new().mode(FOLDER_MODE).recursive(true).create(&root) {
            Ok(()) => {}
            Err(err) => return Err(StoreError::io(&root, err)),
        }
        permissions::check_tree(&root)?;
        let store = Self { root };
        store.remove_stale_temp_files()?;
        Ok(store)
    }

    /// Returns the store's root folder.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Absolute path of `relative` inside the store.
    pub fn path(&self, relative: impl AsRef<Path>) -> PathBuf {
        self.root.join(relative)
    }

    /// Creates `folder` (relative to the root) and its parents with mode 0700.
    pub fn ensure_folder(&self, folder: impl AsRef<Path>) -> Result<PathBuf, StoreError> {
        let path = self.path(folder);
        DirBuilder::new()
            .mode(FOLDER_MODE)
            .recursive(true)
            .create(&path)
            .map_err(|err| StoreError::io(&path, err))?;
        Ok(path)
    }

    /// Creates the folder `relative` and fails with `AlreadyExists` when it
    /// exists; the exclusive `mkdir` claims the name for one caller.
    pub fn create_folder_new(
        &self,
        relative: impl AsRef<Path>,
        kind: &'static str,
        id: &str,
    ) -> Result<PathBuf, StoreError> {
        let path = self.path(relative);
        if let Some(parent) = path.parent() {
            DirBuilder::new()
                .mode(FOLDER_MODE)
                .recursive(true)
                .create(parent)
                .map_err(|err| StoreError::io(parent, err))?;
        }
        match DirBuilder::new().mode(FOLDER_MODE).create(&path) {
            Ok(()) => {
                sync_parent(&path)?;
                Ok(path)
            }
            Err(err) if err.kind() == ErrorKind::AlreadyExists => Err(StoreError::AlreadyExists {
                kind,
                id: id.to_owned(),
            }),
            Err(err) => Err(StoreError::io(&path, err)),
        }
    }

    /// Writes `bytes` to the new file `relative` atomically, mode 0600.
    ///
    /// Fails with `AlreadyExists` (naming `kind` and `id`) when the file
    /// exists; the existing file is left untouched.
    pub fn create_file_new(
        &self,
        relative: impl AsRef<Path>,
        bytes: &[u8],
        kind: &'static str,
        id: &str,
    ) -> Result<(), StoreError> {
        let path = self.path(relative);
        let parent = path
            .parent()
            .ok_or_else(|| StoreError::io(&path, std::io::Error::other("path has no parent folder")))?;
        DirBuilder::new()
            .mode(FOLDER_MODE)
            .recursive(true)
            .create(parent)
            .map_err(|err| StoreError::io(parent, err))?;

        let temp = write_temp_file(parent, bytes)?;
        let linked = fs::hard_link(&temp, &path);
        let _ = fs::remove_file(&temp);
        match linked {
            Ok(()) => sync_parent(&path),
            Err(err) if err.kind() == ErrorKind::AlreadyExists => Err(StoreError::AlreadyExists {
                kind,
                id: id.to_owned(),
            }),
            Err(err) => Err(StoreError::io(&path, err)),
        }
    }

    /// Reads the file `relative`; a missing file is `NotFound` for `kind`/`id`.
    pub fn read(&self, relative: impl AsRef<Path>, kind: &'static str, id: &str) -> Result<Vec<u8>, StoreError> {
        let path = self.path(relative);
        fs::read(&path).map_err(|err| match err.kind() {
            ErrorKind::NotFound => StoreError::NotFound {
                kind,
                id: id.to_owned(),
            },
            _ => StoreError::io(&path, err),
        })
    }

    /// Returns true when `relative` exists.
    pub fn exists(&self, relative: impl AsRef<Path>) -> bool {
        self.path(relative).exists()
    }

    /// Lists the names in folder `relative` that do not start with '.',
    /// sorted; a missing folder is empty.
    pub fn list(&self, relative: impl AsRef<Path>) -> Result<Vec<String>, StoreError> {
        let path = self.path(relative);
        let entries = match fs::read_dir(&path) {
            Ok(entries) => entries,
            Err(err) if err.kind() == ErrorKind::NotFound => return Ok(Vec::new()),
            Err(err) => return Err(StoreError::io(&path, err)),
        };

        let mut names = Vec::new();
        for entry in entries {
            let entry = entry.map_err(|err| StoreError::io(&path, err))?;
            if let Some(name) = entry.file_name().to_str() {
                if !name.starts_with('.') {
                    names.push(name.to_owned());
                }
            }
        }
        names.sort();
        Ok(names)
    }

    /// Removes the file `relative`, for rolling back a half-made item.
    pub fn remove_file(&self, relative: impl AsRef<Path>) -> Result<(), StoreError> {
        let path = self.path(relative);
        match fs::remove_file(&path) {
            Ok(()) => sync_parent(&path),
            Err(err) if err.kind() == ErrorKind::NotFound => Ok(()),
            Err(err) => Err(StoreError::io(&path, err)),
        }
    }

    /// Removes the folder `relative` and everything in it, for rolling back.
    pub fn remove_folder(&self, relative: impl AsRef<Path>) -> Result<(), StoreError> {
        let path = self.path(relative);
        match fs::remove_dir_all(&path) {
            Ok(()) => sync_parent(&path),
            Err(err) if err.kind() == ErrorKind::NotFound => Ok(()),
            Err(err) => Err(StoreError::io(&path, err)),
        }
    }

    /// Takes the store's exclusive lock without waiting, so that one server,
    /// or one offline import or export, uses the store at a time.
    pub fn lock_exclusive(&self) -> Result<StoreLock, StoreError> {
        let path = self.path(LOCK_FILE);
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .mode(FILE_MODE)
            .open(&path)
            .map_err(|err| StoreError::io(&path, err))?;
        match rustix::fs::flock(&file, rustix::fs::FlockOperation::NonBlockingLockExclusive) {
            Ok(()) => Ok(StoreLock { _file: file }),
            Err(rustix::io::Errno::WOULDBLOCK) => Err(StoreError::Busy {
                path: self.root.clone(),
            }),
            Err(err) => Err(StoreError::io(&path, err.into())),
        }
    }

    /// Creates and removes a temporary file in the root, proving the store
    /// is writable.
    pub fn probe_write(&self) -> Result<(), StoreError> {
        let temp = write_temp_file(&self.root, b"")?;
        fs::remove_file(&temp).map_err(|err| StoreError::io(&temp, err))
    }

    fn remove_stale_temp_files(&self) -> Result<(), StoreError> {
        let mut folders = vec![self.root.clone()];
        while let Some(folder) = folders.pop() {
            let entries = fs::read_dir(&folder).map_err(|err| StoreError::io(&folder, err))?;
            for entry in entries {
                let entry = entry.map_err(|err| StoreError::io(&folder, err))?;
                let file_type = entry.file_type().map_err(|err| StoreError::io(entry.path(), err))?;
                let is_temp = entry.file_name().to_string_lossy().starts_with(TEMP_PREFIX);
                if file_type.is_dir() {
                    folders.push(entry.path());
                } else if file_type.is_file() && is_temp {
                    tracing::warn!(path = %entry.path().display(), "removing temporary file of an interrupted write");
                    fs::remove_file(entry.path()).map_err(|err| StoreError::io(entry.path(), err))?;
                }
            }
        }
        Ok(())
    }
}

/// Writes `bytes` to a new uniquely named temporary file in `folder` and
/// syncs it; returns its path.
fn write_temp_file(folder: &Path, bytes: &[u8]) -> Result<PathBuf, StoreError> {
    loop {
        let mut random = [0u8; 8];
        getrandom::fill(&mut random).map_err(|err| StoreError::io(folder, std::io::Error::other(err.to_string())))?;
        let path = folder.join(format!("{TEMP_PREFIX}{}", hex::encode(random)));

        let mut file = match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(FILE_MODE)
            .open(&path)
        {
            Ok(file) => file,
            Err(err) if err.kind() == ErrorKind::AlreadyExists => continue,
            Err(err) => return Err(StoreError::io(&path, err)),
        };
        let written = file.write_all(bytes).and_then(|()| file.sync_all());
        if let Err(err) = written {
            let _ = fs::remove_file(&path);
            return Err(StoreError::io(&path, err));
        }
        return Ok(path);
    }
}

/// Syncs the folder that contains `path`, so a new name survives a crash.
fn sync_parent(path: &Path) -> Result<(), StoreError> {
    let Some(parent) = path.parent() else {
        return Ok(());
    };
    File::open(parent)
        .and_then(|folder| folder.sync_all())
        .map_err(|err| StoreError::io(parent, err))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    fn mode(path: &Path) -> u32 {
        fs::metadata(path).unwrap().permissions().mode() & 0o7777
    }

    #[test]
    fn creates_files_and_folders_private() {
        let temp = tempfile::tempdir().unwrap();
        let store = Store::open(temp.path().join("store")).unwrap();
        store
            .create_file_new("x509/a.crt", b"data", "certificate", "a")
            .unwrap();

        assert_eq!(mode(store.root()), FOLDER_MODE);
        assert_eq!(mode(&store.path("x509")), FOLDER_MODE);
        assert_eq!(mode(&store.path("x509/a.crt")), FILE_MODE);
        assert_eq!(store.read("x509/a.crt", "certificate", "a").unwrap(), b"data");
    }

    #[test]
    fn never_overwrites() {
        let temp = tempfile::tempdir().unwrap();
        let store = Store::open(temp.path()).unwrap();
        store.create_file_new("f", b"first", "file", "f").unwrap();

        let err = store.create_file_new("f", b"second", "file", "f").unwrap_err();
        assert!(matches!(err, StoreError::AlreadyExists { .. }));
        assert_eq!(fs::read(store.path("f")).unwrap(), b"first");
        assert_eq!(store.list("").unwrap(), ["f"]);
    }

    #[test]
    fn one_winner_among_racing_creators() {
        let temp = tempfile::tempdir().unwrap();
        let store = Store::open(temp.path()).unwrap();
        let winners: usize = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..16)
                .map(|i| {
                    let store = store.clone();
                    scope.spawn(move || {
                        store
                            .create_file_new("x", format!("{i}").as_bytes(), "file", "x")
                            .is_ok()
                    })
                })
                .collect();
            handles.into_iter().map(|h| usize::from(h.join().unwrap())).sum()
        });
        assert_eq!(winners, 1);
    }

    #[test]
    fn refuses_group_writable_store() {
        let temp = tempfile::tempdir().unwrap();
        let root = temp.path().join("store");
        fs::create_dir(&root).unwrap();
        fs::set_permissions(&root, fs::Permissions::from_mode(0o770)).unwrap();

        let err = Store::open(&root).unwrap_err();
        let message = err.to_string();
        assert!(matches!(err, StoreError::Unsafe { .. }));
        assert!(message.contains("0770"), "{message}");
        assert!(message.contains(&root.display().to_string()), "{message}");
    }

    #[test]
    fn removes_stale_temp_files() {
        let temp = tempfile::tempdir().unwrap();
        fs::create_dir(temp.path().join("x509")).unwrap();
        fs::write(temp.path().join("x509/.tmp-0011"), b"partial").unwrap();
        Store::open(temp.path()).unwrap();
        assert!(!temp.path().join("x509/.tmp-0011").exists());
    }
}
