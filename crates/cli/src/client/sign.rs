//! The signing commands: upload a file (or a digest) and write what the
//! server returns.

use std::fs::File;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use anyhow::{bail, Context};
use clap::Args;
use reqwest::Body;
use sha2::{Digest, Sha256};

use super::http::Connection;
use super::output::{decode_base64_into, write_file, AtomicFile};
use super::upload::{progress_bar, PayloadBody};

/// Files larger than this get a progress bar while they are uploaded.
const PROGRESS_MIN_LEN: u64 = 4 << 20;

/// Hex digits of a SHA-256 digest.
const SHA256_HEX_LEN: usize = 64;

/// An endpoint that takes `{"key_id", "payload"}` and returns one base64 field.
pub(crate) struct PayloadEndpoint {
    path: &'static [&'static str],
    response_field: &'static str,
    /// Appended to the input's name to make the default output name.
    default_suffix: &'static str,
}

pub(crate) const GPG_SIGN: PayloadEndpoint = PayloadEndpoint {
    path: &["gpg", "sign"],
    response_field: "signature",
    default_suffix: ".sig",
};

pub(crate) const EFI_SIGN: PayloadEndpoint = PayloadEndpoint {
    path: &["secureboot", "efi"],
    response_field: "signed",
    default_suffix: ".signed",
};

pub(crate) const KMOD_SIGN: PayloadEndpoint = PayloadEndpoint {
    path: &["kmod", "sign"],
    response_field: "signed",
    default_suffix: ".signed",
};

pub(crate) const RSA_SIGN: PayloadEndpoint = PayloadEndpoint {
    path: &["rsa", "sign"],
    response_field: "signature",
    default_suffix: ".sig",
};

/// Arguments of the commands that upload a whole file; each command sets
/// the help of `key` and `output`.
#[derive(Args)]
pub(crate) struct PayloadArgs {
    /// Id of the signing key.
    #[arg(long)]
    key: String,

    /// File to sign.
    file: PathBuf,

    /// File to write.
    #[arg(short, long, value_name = "OUT")]
    output: Option<PathBuf>,
}

#[derive(Args)]
pub(crate) struct DigestArgs {
    /// Id of the certificate whose key signs.
    #[arg(long, value_name = "CERT_ID")]
    key: String,

    /// SHA-256 digest to sign, as 64 hex digits, in place of FILE.
    #[arg(long, value_name = "HEX", conflicts_with = "file", required_unless_present = "file")]
    digest: Option<String>,

    /// File whose SHA-256 digest is signed; it is hashed here and only the digest is sent.
    file: Option<PathBuf>,

    /// Signature file to write; default FILE.sig, required with --digest.
    #[arg(short, long, value_name = "OUT", required_unless_present = "file")]
    output: Option<PathBuf>,
}

/// Uploads `args.file` to `endpoint` and writes the decoded response field.
pub(crate) fn sign_payload(
    connection: &Connection,
    endpoint: &PayloadEndpoint,
    args: &PayloadArgs,
) -> anyhow::Result<()> {
    let output = match &args.output {
        Some(output) => output.clone(),
        None => with_suffix(&args.file, endpoint.default_suffix),
    };
    let (file, len) = open_input(&args.file)?;
    // A trial temporary file, deleted at once, makes an unwritable output
    // folder fail before the upload. The real one is created only once the
    // response is in, so that a client killed during a long upload leaves none.
    drop(AtomicFile::create(&output)?);

    let progress = (len > PROGRESS_MIN_LEN && std::io::stderr().is_terminal())
        .then(|| progress_bar(len, &args.file.to_string_lossy()));
    let body = PayloadBody::new("key_id", &args.key, file, len, progress.clone())?;
    let response = connection.post(endpoint.path, Body::wrap(body));
    if let Some(progress) = progress {
        progress.finish_and_clear();
    }
    let response = response?;

    let text = response.text(endpoint.response_field)?;
    let mut out = AtomicFile::create(&output)?;
    decode_base64_into(&text, out.writer()).with_context(|| {
        format!(
            "cannot decode `{}` of the response to {} into {}",
            endpoint.response_field,
            response.request(),
            output.display()
        )
    })?;
    out.commit()
}

/// Signs the SHA-256 digest of a file, or a given digest, with `/cert/sign`.
pub(crate) fn sign_digest(connection: &Connection, args: &DigestArgs) -> anyhow::Result<()> {
    let digest = match (&args.digest, &args.file) {
        (Some(digest), _) => parse_digest(digest)?,
        (None, Some(file)) => hash_file(file)?,
        (None, None) => bail!("pass FILE or --digest"),
    };
    let output = match (&args.output, &args.file) {
        (Some(output), _) => output.clone(),
        (None, Some(file)) => with_suffix(file, ".sig"),
        (None, None) => bail!("pass --output with --digest"),
    };

    let body = serde_json::json!({ "cert_id": args.key, "digest": digest });
    let response = connection.post(&["cert", "sign"], Body::from(body.to_string()))?;
    let signature = response.base64("signature")?;
    write_file(&output, &signature)
}

/// Opens a file to upload and returns it with its length.
fn open_input(path: &Path) -> anyhow::Result<(File, u64)> {
    let file = File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let metadata = file
        .metadata()
        .with_context(|| format!("cannot read the size of {}", path.display()))?;
    if !metadata.is_file() {
        bail!("{} is not a regular file", path.display());
    }
    Ok((file, metadata.len()))
}

/// Returns the lower-case hex SHA-256 of a file, read in pieces.
fn hash_file(path: &Path) -> anyhow::Result<String> {
    let (mut file, _) = open_input(path)?;
    let mut hasher = Sha256::new();
    std::io::copy(&mut file, &mut hasher).with_context(|| format!("cannot read {}", path.display()))?;
    Ok(hex::encode(hasher.finalize()))
}

/// Checks a `--digest` value and returns it in lower case.
fn parse_digest(text: &str) -> anyhow::Result<String> {
    if text.len() != SHA256_HEX_LEN || !text.bytes().all(|byte| byte.is_ascii_hexdigit()) {
        bail!(
            "invalid --digest {text:?}: expected a SHA-256 digest as {SHA256_HEX_LEN} hex digits, got {} characters",
            text.chars().count()
        );
    }
    Ok(text.to_ascii_lowercase())
}

/// Returns `path` with `suffix` appended to its file name.
fn with_suffix(path: &Path, suffix: &str) -> PathBuf {
    let mut name = path.as_os_str().to_owned();
    name.push(suffix);
    PathBuf::from(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_is_checked_and_lowercased() {
        let upper = "AB".repeat(32);
        assert_eq!(parse_digest(&upper).unwrap(), "ab".repeat(32));
        for bad in ["", "ab", &"g".repeat(64), &"a".repeat(65)] {
            assert!(parse_digest(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn file_hash_matches_sha256() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("image");
        std::fs::write(&path, b"abc").unwrap();
        assert_eq!(
            hash_file(&path).unwrap(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn default_output_appends_suffix() {
        assert_eq!(
            with_suffix(Path::new("dir/grubx64.efi"), ".signed"),
            Path::new("dir/grubx64.efi.signed")
        );
    }

    #[test]
    fn folder_is_not_an_input() {
        let dir = tempfile::tempdir().unwrap();
        assert!(open_input(dir.path())
            .unwrap_err()
            .to_string()
            .contains("not a regular file"));
    }
}
