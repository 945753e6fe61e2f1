//! Encrypted backups of the whole store, interchangeable with the older
//! service's `/export` and `/import`.
//!
//! The archive keeps the older layout: `x509/` and `rsa/` as stored, `pki/`
//! trees as stored, and `gpg/` as a GnuPG 2.2 home (keybox and unprotected
//! secret keys), converted from and to this store's OpenPGP keys.

pub mod archive;
mod gnupg_home;

use std::collections::BTreeMap;

use balena_sign_auth::{KeyScope, Permission};
use balena_sign_crypto::fernet::{FernetError, FernetKey, SALT_LEN};
use balena_sign_crypto::RsaPrivateKey;
use balena_sign_keystore::StoreError;

use crate::operation::Operation;
use crate::{RequestContext, Service, ServiceError};
use archive::{ArchiveError, ArchiveFiles};

const X509_FOLDER: &str = "x509";
const RSA_FOLDER: &str = "rsa";
const PKI_FOLDER: &str = "pki";
const GPG_FOLDER: &str = "gpg";

/// An encrypted backup as `/export` returns it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Backup {
    /// The Fernet token, base64url text.
    pub data: String,
    /// The PBKDF2 salt, standard base64.
    pub salt: String,
}

/// Counts of what an import added to the store.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct ImportSummary {
    /// Files written, relative to the store.
    pub written: usize,
    /// Files that were already present with the same contents.
    pub unchanged: usize,
}

impl Service {
    /// Archives and encrypts the whole store under `passphrase`.
    pub fn export(&self, context: &RequestContext, passphrase: &str) -> Result<Backup, ServiceError> {
        check_passphrase(passphrase)?;
        let operation = Operation {
            name: "backup.export",
            permission: Permission::Backup,
            scope: KeyScope::Unnamed,
            key_id: None,
            payload_sha256: None,
            payload_len: 0,
        };
        let backup = self.perform(context, operation, || {
            let _guard = self
                .maintenance
                .lock()
                .map_err(|_| ServiceError::Internal("maintenance lock poisoned".into()))?;
            self.export_unchecked(passphrase).map(ExportedBackup)
        })?;
        Ok(backup.0)
    }

    fn export_unchecked(&self, passphrase: &str) -> Result<Backup, ServiceError> {
        let mut files = ArchiveFiles::new();
        for folder in [X509_FOLDER, RSA_FOLDER, PKI_FOLDER] {
            self.collect_files(folder, &mut files)?;
        }
        for (path, contents) in gnupg_home::export(self)? {
            files.insert(format!("{GPG_FOLDER}/{path}"), contents);
        }

        let now = self.clock.now_unix();
        let gzip = archive::write_archive(&files, now).map_err(internal)?;
        let mut salt = [0u8; SALT_LEN];
        getrandom::fill(&mut salt).map_err(internal)?;
        let key = FernetKey::from_passphrase(passphrase.as_bytes(), &salt);
        let data = key.encrypt(&gzip, now).map_err(internal)?;
        tracing::info!(files = files.len(), bytes = gzip.len(), "exported the store");
        Ok(Backup {
            data,
            salt: base64_standard(&salt),
        })
    }

    /// Adds every regular file under `folder` to `files`.
    fn collect_files(&self, folder: &str, files: &mut ArchiveFiles) -> Result<(), ServiceError> {
        let mut pending = vec![folder.to_owned()];
        while let Some(current) = pending.pop() {
            let path = self.store().path(&current);
            let entries = match std::fs::read_dir(&path) {
                Ok(entries) => entries,
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => continue,
                Err(err) => return Err(StoreError::io(&path, err).into()),
            };
            for entry in entries {
                let entry = entry.map_err(|err| StoreError::io(&path, err))?;
                let name = entry.file_name().to_string_lossy().into_owned();
                if name.starts_with('.') {
                    continue;
                }
                let relative = format!("{current}/{name}");
                let kind = entry.file_type().map_err(|err| StoreError::io(entry.path(), err))?;
                if kind.is_dir() {
                    pending.push(relative);
                } else if kind.is_file() {
                    let contents = std::fs::read(entry.path()).map_err(|err| StoreError::io(entry.path(), err))?;
                    files.insert(relative, contents);
                }
            }
        }
        Ok(())
    }

    /// Decrypts a backup and merges it into the store: all of it, or, when
    /// anything conflicts or fails, none of it.
    pub fn import(
        &self,
        context: &RequestContext,
        passphrase: &str,
        data: &str,
        salt: &[u8],
    ) -> Result<ImportSummary, ServiceError> {
        check_passphrase(passphrase)?;
        if salt.len() != SALT_LEN {
            return Err(ServiceError::InvalidField {
                field: "salt",
                reason: format!("must be {SALT_LEN} bytes, got {}", salt.len()),
            });
        }
        let operation = Operation {
            name: "backup.import",
            permission: Permission::Backup,
            scope: KeyScope::Unnamed,
            key_id: None,
            payload_sha256: Some(crate::operation::payload_digest(data.as_bytes())),
            payload_len: data.len(),
        };
        let summary = self.perform(context, operation, || {
            let _guard = self
                .maintenance
                .lock()
                .map_err(|_| ServiceError::Internal("maintenance lock poisoned".into()))?;
            self.import_unchecked(passphrase, data, salt).map(ImportedBackup)
        })?;
        Ok(summary.0)
    }

    fn import_unchecked(&self, passphrase: &str, data: &str, salt: &[u8]) -> Result<ImportSummary, ServiceError> {
        let key = FernetKey::from_passphrase(passphrase.as_bytes(), salt);
        let gzip = key.decrypt(data).map_err(|err| match err {
            FernetError::Encoding => ServiceError::InvalidField {
                field: "data",
                reason: "is not a Fernet token (base64url text)".into(),
            },
            FernetError::Rejected | FernetError::Encrypt => ServiceError::Unauthorized(
                "the passphrase does not decrypt the backup, or the backup is damaged".into(),
            ),
        })?;
        let files = archive::read_archive(&gzip).map_err(archive_error)?;

        let plan = self.plan_import(&files)?;
        let summary = self.apply_plan(&plan)?;
        tracing::info!(
            written = summary.written,
            unchanged = summary.unchanged,
            "imported a backup"
        );
        Ok(summary)
    }

    /// Turns archive files into store writes, checking each item and every
    /// conflict before anything is written.
    fn plan_import(&self, files: &ArchiveFiles) -> Result<Vec<PlannedFile>, ServiceError> {
        let mut plan = Vec::new();
        let mut gpg_files = ArchiveFiles::new();
        let mut certificates: BTreeMap<String, CertificateFiles<'_>> = BTreeMap::new();

        for (path, contents) in files {
            let (top, rest) = path.split_once('/').unwrap_or((path, ""));
            match top {
                X509_FOLDER => {
                    let name = single_name(path, rest)?;
                    if let Some(id) = name.strip_suffix(".crt") {
                        certificates.entry(id.to_owned()).or_default().cert = Some(contents);
                    } else if let Some(id) = name.strip_suffix(".key") {
                        certificates.entry(id.to_owned()).or_default().key = Some(contents);
                    } else if is_derived_x509_file(name) {
                        plan.push(PlannedFile::new(path, contents, "certificate file", name));
                    } else {
                        return Err(unexpected_member(path));
                    }
                }
                RSA_FOLDER => {
                    let (id, name) = rest.split_once('/').ok_or_else(|| unexpected_member(path))?;
                    crate::check_id("data", id)?;
                    match name {
                        "private.pem" => {
                            check_private_key(path, contents)?;
                            plan.push(PlannedFile::new(path, contents, "RSA key", id));
                        }
                        "public.pem" => plan.push(PlannedFile::new(path, contents, "RSA key", id)),
                        _ => return Err(unexpected_member(path)),
                    }
                }
                PKI_FOLDER => {
                    let id = rest.split('/').next().unwrap_or_default();
                    for part in rest.split('/') {
                        crate::check_id("data", part).map_err(|_| unexpected_member(path))?;
                    }
                    plan.push(PlannedFile::new(path, contents, "PKI tree", id));
                }
                GPG_FOLDER => {
                    gpg_files.insert(rest.to_owned(), contents.clone());
                }
                _ => return Err(unexpected_member(path)),
            }
        }

        for (id, CertificateFiles { cert, key }) in certificates {
            crate::check_id("data", &id)?;
            let (Some(cert), Some(key)) = (cert, key) else {
                return Err(ServiceError::InvalidField {
                    field: "data",
                    reason: format!(
                        "certificate '{id}' comes without its {} file",
                        if cert.is_none() { ".crt" } else { ".key" }
                    ),
                });
            };
            check_certificate_pair(&id, cert, key)?;
            // The key first: it claims the id, and the certificate makes the pair visible.
            plan.push(PlannedFile::new(
                &format!("{X509_FOLDER}/{id}.key"),
                key,
                "certificate",
                &id,
            ));
            plan.push(PlannedFile::new(
                &format!("{X509_FOLDER}/{id}.crt"),
                cert,
                "certificate",
                &id,
            ));
        }

        plan.extend(gnupg_home::import_plan(self, &gpg_files)?);
        plan.sort_by_key(PlannedFile::order);

        for planned in &mut plan {
            match self.store().read(&planned.path, planned.kind, &planned.id) {
                Ok(existing) if existing == planned.contents || planned.same_key_material_is_enough => {
                    planned.present = true
                }
                Ok(_) => {
                    return Err(ServiceError::Conflict(format!(
                        "{} '{}' already exists with different contents than in the backup; nothing was imported",
                        planned.kind, planned.id
                    )))
                }
                Err(StoreError::NotFound { .. }) => {}
                Err(err) => return Err(err.into()),
            }
        }
        Ok(plan)
    }

    /// Writes the planned files; on the first failure removes what this
    /// import wrote and returns the error.
    fn apply_plan(&self, plan: &[PlannedFile]) -> Result<ImportSummary, ServiceError> {
        let mut written: Vec<&str> = Vec::new();
        let mut summary = ImportSummary::default();
        for planned in plan {
            if planned.present {
                summary.unchanged += 1;
                continue;
            }
            let result = self
                .store()
                .create_file_new(&planned.path, &planned.contents, planned.kind, &planned.id);
            if let Err(err) = result {
                for path in written.iter().rev() {
                    let _ = self.store().remove_file(path);
                }
                self.remove_empty_folders(plan);
                return Err(err.into());
            }
            written.push(&planned.path);
            summary.written += 1;
        }
        Ok(summary)
    }

    /// Removes folders left empty by a rolled-back import.
    fn remove_empty_folders(&self, plan: &[PlannedFile]) {
        let mut folders: Vec<String> = plan
            .iter()
            .filter_map(|planned| planned.path.rsplit_once('/').map(|(folder, _)| folder.to_owned()))
            .collect();
        folders.sort_by_key(|folder| std::cmp::Reverse(folder.matches('/').count()));
        folders.dedup();
        for folder in folders {
            // remove_dir only removes empty folders, which is the point.
            let _ = std::fs::remove_dir(self.store().path(&folder));
        }
    }
}

/// The `.crt` and `.key` files of one certificate in a backup.
#[derive(Default)]
struct CertificateFiles<'a> {
    cert: Option<&'a Vec<u8>>,
    key: Option<&'a Vec<u8>>,
}

/// A file an import will write.
pub(crate) struct PlannedFile {
    pub(crate) path: String,
    pub(crate) contents: Vec<u8>,
    pub(crate) kind: &'static str,
    pub(crate) id: String,
    /// Already in the store with the same contents (or, for converted
    /// OpenPGP keys, the same key).
    pub(crate) present: bool,
    /// A converted file whose bytes may differ from the stored one while the
    /// key is the same, because the fingerprint names the folder.
    pub(crate) same_key_material_is_enough: bool,
}

impl PlannedFile {
    pub(crate) fn new(path: &str, contents: &[u8], kind: &'static str, id: &str) -> Self {
        Self {
            path: path.to_owned(),
            contents: contents.to_vec(),
            kind,
            id: id.to_owned(),
            present: false,
            same_key_material_is_enough: false,
        }
    }

    /// Write order: private files before the public files that mark an item
    /// complete, so a reader never sees half an item.
    fn order(&self) -> (u8, String) {
        let marker = self.path.ends_with(".crt")
            || self.path.ends_with("/public.pem")
            || self.path.ends_with("/public.gpg")
            || self.path.ends_with("SRK_table.bin");
        (u8::from(marker), self.path.clone())
    }
}

struct ExportedBackup(Backup);

impl crate::operation::AuditOutput for ExportedBackup {
    fn output_bytes(&self) -> Option<&[u8]> {
        Some(self.0.data.as_bytes())
    }
}

struct ImportedBackup(ImportSummary);

impl crate::operation::AuditOutput for ImportedBackup {
    fn output_bytes(&self) -> Option<&[u8]> {
        None
    }
}

fn check_passphrase(passphrase: &str) -> Result<(), ServiceError> {
    if passphrase.is_empty() {
        return Err(ServiceError::InvalidField {
            field: "key",
            reason: "the passphrase must not be empty".into(),
        });
    }
    Ok(())
}

fn single_name<'a>(path: &str, rest: &'a str) -> Result<&'a str, ServiceError> {
    if rest.contains('/') {
        return Err(unexpected_member(path));
    }
    crate::check_id("data", rest).map_err(|_| unexpected_member(path))?;
    Ok(rest)
}

/// `<id>.der`, `<id>.esl`, and `<list hash>.<VARIABLE>.auth`.
fn is_derived_x509_file(name: &str) -> bool {
    if name.ends_with(".der") || name.ends_with(".esl") {
        return true;
    }
    match name.strip_suffix(".auth").and_then(|stem| stem.split_once('.')) {
        Some((hash, variable)) => {
            hash.len() == 64
                && hash.bytes().all(|b| b.is_ascii_hexdigit())
                && ["PK", "KEK", "db", "dbx"].contains(&variable)
        }
        None => false,
    }
}

fn check_private_key(path: &str, contents: &[u8]) -> Result<(), ServiceError> {
    let pem = std::str::from_utf8(contents).map_err(|_| invalid_member(path, "is not PEM text"))?;
    RsaPrivateKey::from_pem(pem).map_err(|err| invalid_member(path, &err.to_string()))?;
    Ok(())
}

fn check_certificate_pair(id: &str, cert: &[u8], key: &[u8]) -> Result<(), ServiceError> {
    use balena_sign_formats::Signer;
    use der::Decode;

    let key_path = format!("{X509_FOLDER}/{id}.key");
    let pem = std::str::from_utf8(key).map_err(|_| invalid_member(&key_path, "is not PEM text"))?;
    let key = RsaPrivateKey::from_pem(pem).map_err(|err| invalid_member(&key_path, &err.to_string()))?;

    let cert_path = format!("{X509_FOLDER}/{id}.crt");
    let (_, der) = der::pem::decode_vec(cert).map_err(|err| invalid_member(&cert_path, &err.to_string()))?;
    let certificate =
        x509_cert::Certificate::from_der(&der).map_err(|err| invalid_member(&cert_path, &err.to_string()))?;
    let public = der::Encode::to_der(&certificate.tbs_certificate.subject_public_key_info).map_err(internal)?;
    if public != key.public_key_der() {
        return Err(invalid_member(
            &cert_path,
            "does not match the public key of its .key file",
        ));
    }
    Ok(())
}

fn unexpected_member(path: &str) -> ServiceError {
    ServiceError::InvalidField {
        field: "data",
        reason: format!("the backup contains {path:?}, which is not part of a balena-sign store"),
    }
}

fn invalid_member(path: &str, reason: &str) -> ServiceError {
    ServiceError::InvalidField {
        field: "data",
        reason: format!("backup member {path:?} {reason}"),
    }
}

fn archive_error(err: ArchiveError) -> ServiceError {
    ServiceError::InvalidField {
        field: "data",
        reason: err.to_string(),
    }
}

fn base64_standard(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn internal(err: impl std::fmt::Display) -> ServiceError {
    ServiceError::Internal(err.to_string())
}
