//! `client fetch-keys`: the public material a balenaOS build embeds, written
//! as files into one folder.

use std::io::Write;
use std::path::PathBuf;

use anyhow::{anyhow, bail, Context};
use balena_sign_formats::openpgp::{dearmor, ArmorKind};
use clap::Args;

use super::http::Connection;
use super::output::write_file;

/// Help shown after the options of `fetch-keys`.
pub(crate) const AFTER_HELP: &str = "\
Files written into DIR:
  <FPR>.asc, <FPR>.gpg  GPG public key, ASCII-armored and binary
  <ID>.crt, <ID>.der    certificate, PEM and DER
  <ID>.pem              Raspberry Pi RSA public key, PEM
  PK.auth, PK.esl       Secure Boot PK variable, signed and as an EFI signature
                        list
  KEK.auth, KEK.esl     the same for KEK
  db.auth, db.esl       the same for db
  <PKI_ID>.efuses       i.MX SRK hash to burn into the fuses

With none of the selection options, every GPG key, RSA key and i.MX PKI that
the server lists is fetched. Everything is fetched before the first file is
written, so a failed request writes nothing. Existing files are replaced.
Each path written is printed on standard output.

Environment:
  BALENASIGN_URL      server base URL, when --url is not given
  BALENASIGN_API_KEY  optional here: sent as X-API-Key when set, which older
                      servers expect on GET /imx/efuses";

/// Certificate label of a PEM certificate.
const PEM_CERTIFICATE_LABEL: &str = "CERTIFICATE";

#[derive(Args)]
pub(crate) struct FetchKeysArgs {
    /// Folder to write the files into; created when missing.
    dir: PathBuf,

    /// Fingerprint of a GPG key to fetch (repeat for more).
    #[arg(long = "gpg", value_name = "FPR")]
    gpg: Vec<String>,

    /// Id of a certificate to fetch (repeat for more).
    #[arg(long = "cert", value_name = "ID")]
    certs: Vec<String>,

    /// Id of a Raspberry Pi RSA key to fetch (repeat for more).
    #[arg(long = "rsa", value_name = "ID")]
    rsa: Vec<String>,

    /// Comma-separated certificate ids of the PK variable to fetch as PK.auth and PK.esl.
    #[arg(long, value_name = "IDS")]
    secureboot_pk: Option<String>,

    /// Comma-separated certificate ids of the KEK variable to fetch as KEK.auth and KEK.esl.
    #[arg(long, value_name = "IDS")]
    secureboot_kek: Option<String>,

    /// Comma-separated certificate ids of the db variable to fetch as db.auth and db.esl.
    #[arg(long, value_name = "IDS")]
    secureboot_db: Option<String>,

    /// Id of an i.MX PKI tree whose SRK fuse hash to fetch (repeat for more).
    #[arg(long = "imx-pki", value_name = "ID")]
    imx_pkis: Vec<String>,
}

/// A Secure Boot variable that the server serves.
struct Variable {
    /// Path segment and response field, such as `pk`.
    name: &'static str,
    /// Stem of the output files, such as `PK`.
    file_stem: &'static str,
}

const PK: Variable = Variable {
    name: "pk",
    file_stem: "PK",
};

const KEK: Variable = Variable {
    name: "kek",
    file_stem: "KEK",
};

const DB: Variable = Variable {
    name: "db",
    file_stem: "db",
};

/// A file to write: name inside the folder and contents.
struct OutputFile {
    name: String,
    data: Vec<u8>,
}

impl FetchKeysArgs {
    fn selects_nothing(&self) -> bool {
        self.gpg.is_empty()
            && self.certs.is_empty()
            && self.rsa.is_empty()
            && self.secureboot_pk.is_none()
            && self.secureboot_kek.is_none()
            && self.secureboot_db.is_none()
            && self.imx_pkis.is_empty()
    }

    fn variables(&self) -> impl Iterator<Item = (&'static Variable, &str)> {
        [
            (&PK, &self.secureboot_pk),
            (&KEK, &self.secureboot_kek),
            (&DB, &self.secureboot_db),
        ]
        .into_iter()
        .filter_map(|(variable, ids)| ids.as_deref().map(|ids| (variable, ids)))
    }
}

pub(crate) fn run(connection: &Connection, args: &FetchKeysArgs) -> anyhow::Result<()> {
    let files = if args.selects_nothing() {
        fetch_listed(connection)?
    } else {
        fetch_selected(connection, args)?
    };

    std::fs::create_dir_all(&args.dir).with_context(|| format!("cannot create folder {}", args.dir.display()))?;
    let mut stdout = std::io::stdout().lock();
    for file in files {
        let path = args.dir.join(&file.name);
        write_file(&path, &file.data)?;
        writeln!(stdout, "{}", path.display()).context("cannot write to standard output")?;
    }
    Ok(())
}

/// Fetches every GPG key, RSA key and i.MX PKI fuse hash the server lists.
fn fetch_listed(connection: &Connection) -> anyhow::Result<Vec<OutputFile>> {
    let gpg = connection.get(&["gpg", "keys"])?.list("keys")?;
    let rsa = connection.get(&["rsa", "keys"])?.list("keys")?;
    let pkis = connection.get(&["imx", "pkis"])?.list("pkis")?;

    let mut files = Vec::new();
    for fingerprint in &gpg {
        files.extend(fetch_gpg_key(connection, fingerprint)?);
    }
    for id in &rsa {
        files.push(fetch_rsa_key(connection, id)?);
    }
    for pki_id in &pkis {
        files.push(fetch_efuses(connection, pki_id)?);
    }
    Ok(files)
}

fn fetch_selected(connection: &Connection, args: &FetchKeysArgs) -> anyhow::Result<Vec<OutputFile>> {
    let mut files = Vec::new();
    for fingerprint in &args.gpg {
        files.extend(fetch_gpg_key(connection, fingerprint)?);
    }
    for cert_id in &args.certs {
        files.extend(fetch_certificate(connection, cert_id)?);
    }
    for id in &args.rsa {
        files.push(fetch_rsa_key(connection, id)?);
    }
    for (variable, ids) in args.variables() {
        files.extend(fetch_variable(connection, variable, ids)?);
    }
    for pki_id in &args.imx_pkis {
        files.push(fetch_efuses(connection, pki_id)?);
    }
    Ok(files)
}

/// `<FPR>.asc` as served and `<FPR>.gpg`, its binary form.
fn fetch_gpg_key(connection: &Connection, fingerprint: &str) -> anyhow::Result<[OutputFile; 2]> {
    check_file_stem(fingerprint)?;
    let response = connection.get(&["gpg", "key", fingerprint])?;
    let armored = response.text("key")?;
    let binary = dearmor(&armored, ArmorKind::PublicKeyBlock).with_context(|| {
        format!(
            "`key` in the response to {} is not an armored public key",
            response.request()
        )
    })?;
    Ok([
        OutputFile {
            name: format!("{fingerprint}.asc"),
            data: armored.as_bytes().to_vec(),
        },
        OutputFile {
            name: format!("{fingerprint}.gpg"),
            data: binary,
        },
    ])
}

/// `<ID>.crt` as served (PEM) and `<ID>.der`.
fn fetch_certificate(connection: &Connection, cert_id: &str) -> anyhow::Result<[OutputFile; 2]> {
    check_file_stem(cert_id)?;
    let response = connection.get(&["cert", cert_id])?;
    let pem = response.text("cert")?;
    let (label, der) = pem_rfc7468::decode_vec(pem.as_bytes())
        .map_err(|err| anyhow!("`cert` in the response to {} is not PEM: {err}", response.request()))?;
    if label != PEM_CERTIFICATE_LABEL {
        bail!(
            "`cert` in the response to {} is a PEM {label:?}, expected {PEM_CERTIFICATE_LABEL:?}",
            response.request()
        );
    }
    Ok([
        OutputFile {
            name: format!("{cert_id}.crt"),
            data: pem.as_bytes().to_vec(),
        },
        OutputFile {
            name: format!("{cert_id}.der"),
            data: der,
        },
    ])
}

/// `<ID>.pem`, the PEM public key.
fn fetch_rsa_key(connection: &Connection, id: &str) -> anyhow::Result<OutputFile> {
    check_file_stem(id)?;
    let response = connection.get(&["rsa", "key", id])?;
    Ok(OutputFile {
        name: format!("{id}.pem"),
        data: response.text("key")?.as_bytes().to_vec(),
    })
}

/// `<VAR>.auth` (the authenticated variable) and `<VAR>.esl` (its signature list).
fn fetch_variable(connection: &Connection, variable: &Variable, ids: &str) -> anyhow::Result<[OutputFile; 2]> {
    let response = connection.get(&["secureboot", variable.name, ids])?;
    Ok([
        OutputFile {
            name: format!("{}.auth", variable.file_stem),
            data: response.base64(variable.name)?,
        },
        OutputFile {
            name: format!("{}.esl", variable.file_stem),
            data: response.base64("esl")?,
        },
    ])
}

/// `<PKI_ID>.efuses`, the SRK hash.
fn fetch_efuses(connection: &Connection, pki_id: &str) -> anyhow::Result<OutputFile> {
    check_file_stem(pki_id)?;
    let response = connection.get(&["imx", "efuses", pki_id])?;
    Ok(OutputFile {
        name: format!("{pki_id}.efuses"),
        data: response.base64("efuses")?,
    })
}

/// Rejects an id that cannot be a file name inside the output folder: a
/// listed id comes from the server and must not name a file elsewhere.
fn check_file_stem(id: &str) -> anyhow::Result<()> {
    let invalid = id.is_empty() || id.starts_with('.') || id.chars().any(|c| c == '/' || c == '\\' || c.is_control());
    if invalid {
        bail!("invalid key id {id:?}: it must be a file name, without '/', control characters or a leading '.'");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_that_leave_folder_are_rejected() {
        for id in ["", ".", "..", "../x", "a/b", "a\\b", ".hidden", "a\0b", "a\nb"] {
            assert!(check_file_stem(id).is_err(), "{id:?}");
        }
        for id in ["db", "0123ABCD", "kek-2024_1", "a.b"] {
            assert!(check_file_stem(id).is_ok(), "{id:?}");
        }
    }
}
