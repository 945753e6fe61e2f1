//! The backup archive: a gzip-compressed tar of the store's `gpg/`,
//! `x509/`, `rsa/` and `pki/` folders, as the older service writes it.
//!
//! Reading never trusts the archive: only regular files and folders, only
//! relative paths of plain names under the known top-level folders, and
//! bounded sizes and entry counts, checked while decompressing so that a
//! gzip bomb stops at the limit.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::path::{Component, Path};

use flate2::read::GzDecoder;
use flate2::write::GzEncoder;

/// Top-level folders a backup may contain.
pub const TOP_LEVEL_FOLDERS: [&str; 4] = ["gpg", "x509", "rsa", "pki"];

/// Largest total of decompressed file contents accepted; the real stores are
/// a few megabytes.
pub const MAX_UNPACKED_BYTES: u64 = 256 * 1024 * 1024;

/// Largest single file accepted.
pub const MAX_FILE_BYTES: u64 = 32 * 1024 * 1024;

/// Most entries (files and folders) accepted.
pub const MAX_ENTRIES: usize = 20_000;

/// Deepest path accepted: `pki/<id>/crts/<file>` has four components.
pub const MAX_DEPTH: usize = 6;

/// Mode of folders and files written into an archive.
const FOLDER_MODE: u32 = 0o700;
const FILE_MODE: u32 = 0o600;

/// Reason an archive was rejected.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[non_exhaustive]
pub enum ArchiveError {
    #[error("the archive is not a gzip-compressed tar: {0}")]
    Format(String),
    #[error("archive member {path:?} is a {kind}; only regular files and folders are accepted")]
    MemberType { path: String, kind: &'static str },
    #[error("archive member {path:?} has an unsafe path: {reason}")]
    Path { path: String, reason: &'static str },
    #[error("archive member {path:?} is outside the gpg/, x509/, rsa/ and pki/ folders")]
    OutsideFolders { path: String },
    #[error("archive member {path:?} is larger than {MAX_FILE_BYTES} bytes")]
    FileTooLarge { path: String },
    #[error("the archive unpacks to more than {MAX_UNPACKED_BYTES} bytes")]
    TooLarge,
    #[error("the archive has more than {MAX_ENTRIES} entries")]
    TooManyEntries,
    #[error("archive member {path:?} appears twice")]
    Duplicate { path: String },
}

/// The files of an archive by relative path, such as `x509/db.crt`.
pub type ArchiveFiles = BTreeMap<String, Vec<u8>>;

/// Reads and checks an archive; returns its regular files.
pub fn read_archive(gzip: &[u8]) -> Result<ArchiveFiles, ArchiveError> {
    // Reading one byte past the limit distinguishes an archive at the limit from a larger one.
    let decoder = GzDecoder::new(gzip).take(MAX_UNPACKED_BYTES + 1);
    let mut archive = tar::Archive::new(decoder);
    let entries = archive.entries().map_err(format_error)?;

    let mut files = ArchiveFiles::new();
    let mut count = 0usize;
    let mut total = 0u64;
    for entry in entries {
        let mut entry = entry.map_err(|err| read_error(err, total))?;
        count += 1;
        if count > MAX_ENTRIES {
            return Err(ArchiveError::TooManyEntries);
        }

        let raw_path = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let path = check_path(&raw_path)?;
        let kind = entry.header().entry_type();
        if kind.is_dir() {
            continue;
        }
        if !kind.is_file() {
            return Err(ArchiveError::MemberType {
                path: raw_path,
                kind: entry_kind(kind),
            });
        }
        if path.contains('/') && !path.ends_with('/') {
            // Regular file below a top-level folder.
        } else {
            return Err(ArchiveError::Path {
                path: raw_path,
                reason: "files must be inside a top-level folder",
            });
        }

        let size = entry.header().size().map_err(format_error)?;
        if size > MAX_FILE_BYTES {
            return Err(ArchiveError::FileTooLarge { path: raw_path });
        }
        total = total.saturating_add(size);
        if total > MAX_UNPACKED_BYTES {
            return Err(ArchiveError::TooLarge);
        }

        let mut contents = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
        entry.read_to_end(&mut contents).map_err(|err| read_error(err, total))?;
        if files.insert(path.clone(), contents).is_some() {
            return Err(ArchiveError::Duplicate { path });
        }
    }
    Ok(files)
}

/// Checks a member path and returns it without a leading `./` or trailing `/`.
fn check_path(raw: &str) -> Result<String, ArchiveError> {
    let unsafe_path = |reason| ArchiveError::Path {
        path: raw.to_owned(),
        reason,
    };
    if raw.contains('\0') || raw.contains('\\') || raw.chars().any(char::is_control) {
        return Err(unsafe_path("it contains a backslash or a control character"));
    }

    let mut parts = Vec::new();
    for component in Path::new(raw).components() {
        match component {
            Component::Normal(part) => parts.push(part.to_string_lossy().into_owned()),
            Component::CurDir => {}
            Component::RootDir | Component::Prefix(_) => return Err(unsafe_path("it is absolute")),
            Component::ParentDir => return Err(unsafe_path("it contains '..'")),
        }
    }
    if parts.is_empty() {
        return Err(unsafe_path("it is empty"));
    }
    if parts.len() > MAX_DEPTH {
        return Err(unsafe_path("it is nested too deeply"));
    }
    let top = parts.first().map(String::as_str).unwrap_or_default();
    if !TOP_LEVEL_FOLDERS.contains(&top) {
        return Err(ArchiveError::OutsideFolders { path: raw.to_owned() });
    }
    Ok(parts.join("/"))
}

fn entry_kind(kind: tar::EntryType) -> &'static str {
    match kind {
        tar::EntryType::Symlink => "symbolic link",
        tar::EntryType::Link => "hard link",
        tar::EntryType::Char => "character device",
        tar::EntryType::Block => "block device",
        tar::EntryType::Fifo => "FIFO",
        _ => "special member",
    }
}

fn format_error(err: std::io::Error) -> ArchiveError {
    ArchiveError::Format(err.to_string())
}

/// Converts a read error after `total` bytes; past the limit, the limit is the cause.
fn read_error(err: std::io::Error, total: u64) -> ArchiveError {
    if total >= MAX_UNPACKED_BYTES {
        ArchiveError::TooLarge
    } else {
        format_error(err)
    }
}

/// Writes `files` (relative path to contents) as a gzip-compressed tar, with
/// a folder entry before the first file of each folder. `mtime` is Unix
/// seconds.
pub fn write_archive(files: &ArchiveFiles, mtime: u64) -> std::io::Result<Vec<u8>> {
    let encoder = GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut builder = tar::Builder::new(encoder);
    let mut folders_written: Vec<String> = Vec::new();

    for top in TOP_LEVEL_FOLDERS {
        append_folder(&mut builder, top, mtime)?;
        folders_written.push(top.to_owned());
    }
    for (path, contents) in files {
        let mut folder = String::new();
        let parts: Vec<&str> = path.split('/').collect();
        for part in parts.iter().take(parts.len().saturating_sub(1)) {
            if !folder.is_empty() {
                folder.push('/');
            }
            folder.push_str(part);
            if !folders_written.contains(&folder) {
                append_folder(&mut builder, &folder, mtime)?;
                folders_written.push(folder.clone());
            }
        }

        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_mode(FILE_MODE);
        header.set_size(contents.len() as u64);
        header.set_mtime(mtime);
        builder.append_data(&mut header, path, contents.as_slice())?;
    }

    let encoder = builder.into_inner()?;
    let mut gzip = encoder.finish()?;
    gzip.flush()?;
    Ok(gzip)
}

fn append_folder<W: Write>(builder: &mut tar::Builder<W>, path: &str, mtime: u64) -> std::io::Result<()> {
    let mut header = tar::Header::new_gnu();
    header.set_entry_type(tar::EntryType::Directory);
    header.set_mode(FOLDER_MODE);
    header.set_size(0);
    header.set_mtime(mtime);
    builder.append_data(&mut header, path, std::io::empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn archive_with(build: impl FnOnce(&mut tar::Builder<GzEncoder<Vec<u8>>>)) -> Vec<u8> {
        let mut builder = tar::Builder::new(GzEncoder::new(Vec::new(), flate2::Compression::fast()));
        build(&mut builder);
        builder.into_inner().unwrap().finish().unwrap()
    }

    fn file_header(size: usize) -> tar::Header {
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::Regular);
        header.set_size(size as u64);
        header.set_mode(0o644);
        header
    }

    /// Writes a raw member name, bypassing the tar crate's path checks.
    fn raw_member(builder: &mut tar::Builder<GzEncoder<Vec<u8>>>, name: &[u8], kind: tar::EntryType, data: &[u8]) {
        let mut header = file_header(data.len());
        header.set_entry_type(kind);
        header.as_old_mut().name[..name.len()].copy_from_slice(name);
        header.set_cksum();
        builder.append(&header, data).unwrap();
    }

    #[test]
    fn round_trip() {
        let mut files = ArchiveFiles::new();
        files.insert("x509/db.crt".into(), b"pem".to_vec());
        files.insert("rsa/abc/private.pem".into(), b"key".to_vec());
        let gzip = write_archive(&files, 1_700_000_000).unwrap();
        assert_eq!(read_archive(&gzip).unwrap(), files);
    }

    #[test]
    fn rejects_hostile_members() {
        let cases: Vec<(&[u8], tar::EntryType)> = vec![
            (b"../x509/evil.crt", tar::EntryType::Regular),
            (b"/etc/passwd", tar::EntryType::Regular),
            (b"x509/../../evil", tar::EntryType::Regular),
            (b"etc/evil", tar::EntryType::Regular),
            (b"x509/link", tar::EntryType::Symlink),
            (b"x509/hard", tar::EntryType::Link),
            (b"x509/dev", tar::EntryType::Char),
            (b"x509/fifo", tar::EntryType::Fifo),
            (b"top-level-file", tar::EntryType::Regular),
        ];
        for (name, kind) in cases {
            let gzip = archive_with(|builder| raw_member(builder, name, kind, b"x"));
            assert!(read_archive(&gzip).is_err(), "{}", String::from_utf8_lossy(name));
        }
    }

    #[test]
    fn rejects_gzip_bomb() {
        // 300 MiB of zeros compress to a few hundred kilobytes.
        let zeros = vec![0u8; 1 << 20];
        let gzip = archive_with(|builder| {
            for index in 0..300 {
                builder
                    .append_data(
                        &mut file_header(zeros.len()),
                        format!("x509/zero{index}"),
                        zeros.as_slice(),
                    )
                    .unwrap();
            }
        });
        assert!(gzip.len() < 2 << 20);
        assert_eq!(read_archive(&gzip), Err(ArchiveError::TooLarge));
    }

    #[test]
    fn rejects_too_many_entries() {
        let gzip = archive_with(|builder| {
            for index in 0..=MAX_ENTRIES {
                builder
                    .append_data(&mut file_header(0), format!("x509/f{index}"), &[][..])
                    .unwrap();
            }
        });
        assert_eq!(read_archive(&gzip), Err(ArchiveError::TooManyEntries));
    }

    #[test]
    fn mutated_archives_never_panic() {
        let mut files = ArchiveFiles::new();
        files.insert("x509/db.crt".into(), b"certificate".to_vec());
        files.insert("pki/tree/crts/SRK1_crt.pem".into(), vec![7; 3000]);
        let gzip = write_archive(&files, 1_700_000_000).unwrap();
        let tar = {
            let mut plain = Vec::new();
            GzDecoder::new(gzip.as_slice()).read_to_end(&mut plain).unwrap();
            plain
        };

        let mut state = 0x9e37_79b9_7f4a_7c15u64;
        for round in 0..3000 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            // Mutate the tar inside a valid gzip stream, so the tar reader
            // sees the damage, and every third round the gzip bytes too.
            let mut data = tar.clone();
            let at = (state as usize) % data.len();
            data[at] ^= (state >> 32) as u8 | 1;
            let mut encoder = GzEncoder::new(Vec::new(), flate2::Compression::fast());
            encoder.write_all(&data).unwrap();
            let mut input = encoder.finish().unwrap();
            if round % 3 == 0 {
                let at = (state as usize >> 8) % input.len();
                input[at] ^= 0x55;
            }
            let _ = read_archive(&input);
        }
    }

    #[test]
    fn rejects_garbage() {
        assert!(matches!(read_archive(b"not gzip"), Err(ArchiveError::Format(_))));
    }
}
