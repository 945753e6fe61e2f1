//! Output files written atomically: a temporary file in the same folder,
//! renamed over the target once complete, so that a reader never sees a
//! half-written file and an error leaves none behind.

use std::fs::Permissions;
use std::io::{BufWriter, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::Context;
use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use tempfile::NamedTempFile;

/// Mode of new output files before the umask applies, as for files that
/// `cp` or a shell redirection creates.
const OUTPUT_MODE: u32 = 0o666;

/// Base64 characters that encode one group of 3 bytes.
const BASE64_GROUP_CHARS: usize = 4;

/// Bytes that one group of base64 characters encodes.
const BASE64_GROUP_BYTES: usize = 3;

/// Base64 characters decoded at a time. It is a multiple of the group size,
/// so every chunk but the last contains whole groups and no padding.
const DECODE_CHUNK_CHARS: usize = 64 << 10;

/// An output file being written; dropped without [`Self::commit`], its
/// temporary file is deleted.
pub(crate) struct AtomicFile {
    writer: BufWriter<NamedTempFile>,
    target: PathBuf,
}

impl AtomicFile {
    /// Creates the temporary file next to `target`.
    pub(crate) fn create(target: &Path) -> anyhow::Result<Self> {
        let folder = match target.parent() {
            Some(parent) if !parent.as_os_str().is_empty() => parent,
            _ => Path::new("."),
        };
        let name = target
            .file_name()
            .with_context(|| format!("output path {} does not name a file", target.display()))?;

        let mut prefix = std::ffi::OsString::from(".");
        prefix.push(name);
        prefix.push(".");
        let temp = tempfile::Builder::new()
            .prefix(&prefix)
            .suffix(".tmp")
            .permissions(Permissions::from_mode(OUTPUT_MODE))
            .tempfile_in(folder)
            .with_context(|| format!("cannot create a temporary file in {} for the output", folder.display()))?;
        Ok(Self {
            writer: BufWriter::new(temp),
            target: target.to_path_buf(),
        })
    }

    /// Returns the writer for the file's contents.
    pub(crate) fn writer(&mut self) -> &mut impl Write {
        &mut self.writer
    }

    /// Flushes the data to disk and renames the file over the target.
    pub(crate) fn commit(self) -> anyhow::Result<()> {
        let target = self.target;
        let temp = self
            .writer
            .into_inner()
            .map_err(|err| err.into_error())
            .with_context(|| format!("cannot write {}", target.display()))?;
        temp.as_file()
            .sync_all()
            .with_context(|| format!("cannot write {}", target.display()))?;
        temp.persist(&target)
            .map_err(|err| err.error)
            .with_context(|| format!("cannot rename the temporary file to {}", target.display()))?;
        Ok(())
    }
}

/// Writes `data` to `target` atomically.
pub(crate) fn write_file(target: &Path, data: &[u8]) -> anyhow::Result<()> {
    let mut file = AtomicFile::create(target)?;
    file.writer()
        .write_all(data)
        .with_context(|| format!("cannot write {}", target.display()))?;
    file.commit()
}

/// Decodes standard base64 `text` into `out` a chunk at a time, so that the
/// decoded data is never held whole in memory.
pub(crate) fn decode_base64_into(text: &str, out: &mut impl Write) -> Result<(), Base64Error> {
    if !text.len().is_multiple_of(BASE64_GROUP_CHARS) {
        return Err(Base64Error::Length { len: text.len() });
    }

    let mut decoded = vec![0; DECODE_CHUNK_CHARS / BASE64_GROUP_CHARS * BASE64_GROUP_BYTES];
    for (index, chunk) in text.as_bytes().chunks(DECODE_CHUNK_CHARS).enumerate() {
        let len = STANDARD
            .decode_slice(chunk, &mut decoded)
            .map_err(|source| Base64Error::Invalid {
                chunk_offset: index * DECODE_CHUNK_CHARS,
                source,
            })?;
        let bytes = decoded.get(..len).unwrap_or_default();
        out.write_all(bytes).map_err(Base64Error::Write)?;
    }
    Ok(())
}

/// Failure to decode a base64 field into a file.
#[derive(Debug, thiserror::Error)]
pub(crate) enum Base64Error {
    #[error("length {len} is not a multiple of 4, so the base64 is truncated or unpadded")]
    Length { len: usize },
    #[error("invalid base64 in the chunk at character {chunk_offset}: {source}")]
    Invalid {
        chunk_offset: usize,
        source: base64::DecodeSliceError,
    },
    #[error("cannot write the decoded data")]
    Write(#[source] std::io::Error),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entries(dir: &Path) -> Vec<String> {
        let mut names: Vec<String> = std::fs::read_dir(dir)
            .unwrap()
            .map(|entry| entry.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        names.sort();
        names
    }

    #[test]
    fn decode_matches_one_shot_decode() {
        let data: Vec<u8> = (0..200_000u32).map(|i| (i * 7 % 251) as u8).collect();
        for len in [
            0,
            1,
            2,
            3,
            DECODE_CHUNK_CHARS / BASE64_GROUP_CHARS * BASE64_GROUP_BYTES,
            DECODE_CHUNK_CHARS / BASE64_GROUP_CHARS * BASE64_GROUP_BYTES + 1,
            data.len(),
        ] {
            let text = STANDARD.encode(&data[..len]);
            let mut out = Vec::new();
            decode_base64_into(&text, &mut out).unwrap();
            assert_eq!(out, &data[..len], "length {len}");
        }
    }

    #[test]
    fn decode_rejects_bad_base64() {
        assert!(matches!(
            decode_base64_into("AAE", &mut Vec::new()),
            Err(Base64Error::Length { len: 3 })
        ));
        assert!(matches!(
            decode_base64_into("AA*A", &mut Vec::new()),
            Err(Base64Error::Invalid { chunk_offset: 0, .. })
        ));

        let mut text = "A".repeat(DECODE_CHUNK_CHARS);
        text.push_str("AA==AAAA");
        assert!(matches!(
            decode_base64_into(&text, &mut Vec::new()),
            Err(Base64Error::Invalid {
                chunk_offset: DECODE_CHUNK_CHARS,
                ..
            })
        ));
    }

    #[test]
    fn commit_replaces_target() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out.sig");
        std::fs::write(&target, b"old").unwrap();

        write_file(&target, b"new").unwrap();
        assert_eq!(std::fs::read(&target).unwrap(), b"new");
        assert_eq!(entries(dir.path()), ["out.sig"]);
    }

    #[test]
    fn dropped_file_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("out.sig");
        let mut file = AtomicFile::create(&target).unwrap();
        file.writer().write_all(b"partial").unwrap();
        assert_eq!(entries(dir.path()).len(), 1);

        drop(file);
        assert!(entries(dir.path()).is_empty());
    }

    #[test]
    fn missing_folder_is_reported() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("absent").join("out.sig");
        let message = format!("{:#}", AtomicFile::create(&target).err().unwrap());
        assert!(message.contains("cannot create a temporary file"), "{message}");
    }
}
