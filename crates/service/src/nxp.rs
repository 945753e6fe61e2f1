//! NXP i.MX HAB4 and AHAB: PKI trees in the layout of NXP's Code Signing
//! Tool scripts, SRK fuse hashes, and CSF signing.
//!
//! A tree lives in `pki/<pki_id>/`:
//!
//! ```text
//! crts/<NAME>_crt.pem            certificates (CA1, SRK1..4, and for HAB4
//!                                CSFi_1 and IMGi_1 under each SRK)
//! keys/<NAME>_key.pem            their PKCS#8 keys, encrypted under key_pass.txt
//! keys/key_pass.txt              the random password, on two lines as the scripts write it
//! SRK_table.bin                  the SRK table
//! SRK_efuses.bin                 the SRK hash to burn into the fuses
//! ```
//!
//! `NAME` follows the scripts: `SRK1_sha256_4096_65537_v3_ca`,
//! `CSF1_1_sha256_4096_65537_v3_usr`, so build descriptions that name these
//! files keep working.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use balena_sign_auth::{KeyScope, Permission};
use balena_sign_crypto::{encrypted_pkcs8, RsaKeySize, RsaPrivateKey};
use balena_sign_formats::ahab::{self, AhabSrkTable};
use balena_sign_formats::hab::csf::{self, CsfError, HabSigningInputs};
use balena_sign_formats::hab::csf_text::{self, CsfDescription, FileRole};
use balena_sign_formats::hab::srk::SrkTable;
use balena_sign_formats::x509::{self, CertificateParams, IssuedProfile, SERIAL_LEN};
use balena_sign_formats::{HashAlgorithm, Signer};
use der::{Decode, EncodePem};

use crate::operation::{payload_digest, CreatedId, Operation};
use crate::{check_id, RequestContext, Service, ServiceError};

const PKI_FOLDER: &str = "pki";
const SRK_TABLE_FILE: &str = "SRK_table.bin";
const SRK_EFUSES_FILE: &str = "SRK_efuses.bin";
const KEY_PASS_FILE: &str = "keys/key_pass.txt";

/// Placeholder for the tree's certificate folder in a CSF description.
pub const CERTS_PATH_PLACEHOLDER: &str = "%%CERTS_PATH%%";
/// Placeholder for the uploaded payload in a CSF description.
pub const BIN_PATH_PLACEHOLDER: &str = "%%BIN_PATH%%";

/// Virtual paths that the placeholders resolve to, so that file names from a
/// request never touch the real file system.
const VIRTUAL_CERTS_PATH: &str = "/pki/crts";
const VIRTUAL_BIN_PATH: &str = "/payload";
const VIRTUAL_TREE_PREFIX: &str = "/pki/";

/// RSA size of every key in a tree.
const PKI_KEY_SIZE: RsaKeySize = RsaKeySize::Rsa4096;
/// Validity of the tree's certificates: ten years of 365 days, as the scripts count.
const PKI_VALIDITY_DAYS: u64 = 3650;
const SECONDS_PER_DAY: u64 = 86_400;
/// Number of SRKs in a table.
const SRK_COUNT: usize = 4;
/// Random bytes in a PKI id (32 hex digits).
const PKI_ID_LEN: usize = 16;
/// Random bytes in the key password.
const KEY_PASSWORD_LEN: usize = 24;

/// The boot ROM family a tree is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HabType {
    /// HAB4: i.MX6, i.MX7, i.MX8M.
    Hab,
    /// AHAB: i.MX8, i.MX8X, i.MX8ULP, i.MX9.
    Ahab,
}

impl HabType {
    /// Parses the `hab_type` field.
    pub fn parse(field: &'static str, text: &str) -> Result<Self, ServiceError> {
        match text {
            "hab" => Ok(Self::Hab),
            "ahab" => Ok(Self::Ahab),
            _ => Err(ServiceError::InvalidField {
                field,
                reason: "must be \"hab\" or \"ahab\"".into(),
            }),
        }
    }
}

fn certificate_name(role: &str, bits: u32, profile: &str) -> String {
    format!("{role}_sha256_{bits}_65537_v3_{profile}")
}

/// A key and certificate of a tree being built.
struct Member {
    name: String,
    key: RsaPrivateKey,
    key_pem: String,
    cert_der: Vec<u8>,
}

impl Service {
    /// Generates a PKI tree and returns its id.
    pub fn create_pki(&self, context: &RequestContext, hab_type: HabType) -> Result<String, ServiceError> {
        let operation = Operation {
            name: "imx.pki.create",
            permission: Permission::Create,
            scope: KeyScope::Unnamed,
            key_id: None,
            payload_sha256: None,
            payload_len: 0,
        };
        let created = self.perform_with_undo(
            context,
            operation,
            || self.create_pki_unchecked(hab_type).map(CreatedId),
            |created| {
                let _ = self.store().remove_folder(format!("{PKI_FOLDER}/{}", created.0));
            },
        )?;
        Ok(created.0)
    }

    fn create_pki_unchecked(&self, hab_type: HabType) -> Result<String, ServiceError> {
        let files = build_pki_files(hab_type, self.clock.now_unix())?;
        let mut id_bytes = [0u8; PKI_ID_LEN];
        getrandom::fill(&mut id_bytes).map_err(internal)?;
        let pki_id = hex::encode(id_bytes);

        let root = format!("{PKI_FOLDER}/{pki_id}");
        self.store().create_folder_new(&root, "PKI tree", &pki_id)?;
        for (path, contents) in &files {
            if let Err(err) = self
                .store()
                .create_file_new(format!("{root}/{path}"), contents, "PKI tree", &pki_id)
            {
                let _ = self.store().remove_folder(&root);
                return Err(err.into());
            }
        }
        tracing::info!(%pki_id, ?hab_type, "created PKI tree");
        Ok(pki_id)
    }

    /// Ids of all PKI trees, sorted.
    pub fn pki_ids(&self) -> Result<Vec<String>, ServiceError> {
        let ids = self.store().list(PKI_FOLDER)?;
        Ok(ids
            .into_iter()
            .filter(|id| {
                check_id("pki_id", id).is_ok() && self.store().exists(format!("{PKI_FOLDER}/{id}/{SRK_TABLE_FILE}"))
            })
            .collect())
    }

    /// Returns the SRK hash of tree `pki_id`: 32 bytes for HAB4, 64 for AHAB.
    pub fn pki_efuses(&self, pki_id: &str) -> Result<Vec<u8>, ServiceError> {
        check_id("pki_id", pki_id)?;
        Ok(self
            .store()
            .read(format!("{PKI_FOLDER}/{pki_id}/{SRK_EFUSES_FILE}"), "PKI tree", pki_id)?)
    }

    /// Compiles the CSF description `csf_text` for `payload` with the keys of
    /// tree `pki_id`. For HAB4 it returns the CSF binary. For AHAB it returns
    /// the whole image with the container's signature block filled in.
    pub fn sign_csf(
        &self,
        context: &RequestContext,
        pki_id: &str,
        hab_type: HabType,
        payload: &[u8],
        csf_text: &[u8],
    ) -> Result<Vec<u8>, ServiceError> {
        check_id("pki_id", pki_id)?;
        let operation = Operation {
            name: "imx.cst",
            permission: Permission::Sign,
            scope: KeyScope::Ids(&[pki_id]),
            key_id: Some(pki_id),
            payload_sha256: Some(payload_digest(payload)),
            payload_len: payload.len(),
        };
        self.perform(context, operation, || {
            self.sign_csf_unchecked(pki_id, hab_type, payload, csf_text)
        })
    }

    fn sign_csf_unchecked(
        &self,
        pki_id: &str,
        hab_type: HabType,
        payload: &[u8],
        csf_text: &[u8],
    ) -> Result<Vec<u8>, ServiceError> {
        if !self.store().exists(format!("{PKI_FOLDER}/{pki_id}/{SRK_TABLE_FILE}")) {
            return Err(ServiceError::NotFound {
                kind: "PKI tree",
                id: pki_id.to_owned(),
            });
        }

        let text = String::from_utf8(csf_text.to_vec()).map_err(|_| invalid_csf("is not UTF-8 text".into()))?;
        let text = text
            .replace(CERTS_PATH_PLACEHOLDER, VIRTUAL_CERTS_PATH)
            .replace(BIN_PATH_PLACEHOLDER, VIRTUAL_BIN_PATH);
        let description = csf_text::parse(text.as_bytes()).map_err(|err| invalid_csf(err.to_string()))?;

        let files = self.resolve_csf_files(pki_id, &description)?;
        let signing_time = self.clock.now_unix();
        match (&description, hab_type) {
            (CsfDescription::Hab(hab), HabType::Hab) => {
                let csf_key = self.tree_key_for(pki_id, &description, FileRole::CsfKeyCertificate)?;
                let image_key = self.tree_key_for(pki_id, &description, FileRole::ImageKeyCertificate)?;
                let inputs = HabSigningInputs {
                    files: &files,
                    payload,
                    signing_time,
                    csf_key: &csf_key,
                    image_key: &image_key,
                };
                csf::compile(hab, &inputs).map_err(|err| match err {
                    CsfError::CsfSignature(_)
                    | CsfError::CsfSignatureLength { .. }
                    | CsfError::ImageSignature { .. } => internal(err),
                    other => invalid_csf(other.to_string()),
                })
            }
            (CsfDescription::Ahab(ahab), HabType::Ahab) => {
                let srk_key = self.tree_key_for(pki_id, &description, FileRole::SrkCertificate)?;
                ahab::sign_described(ahab, &files, payload, &srk_key).map_err(|err| invalid_csf(err.to_string()))
            }
            (CsfDescription::Hab(_), HabType::Ahab) => Err(ServiceError::InvalidField {
                field: "hab_type",
                reason:
                    "is \"ahab\" but the description is a HAB4 CSF; add `Target = AHAB` to [Header] or send \"hab\""
                        .into(),
            }),
            (CsfDescription::Ahab(_), HabType::Hab) => Err(ServiceError::InvalidField {
                field: "hab_type",
                reason: "is \"hab\" but the description has `Target = AHAB`".into(),
            }),
        }
    }

    /// Reads every file the description names. Each must be the payload or
    /// resolve inside the tree; signed data must be the payload.
    fn resolve_csf_files(
        &self,
        pki_id: &str,
        description: &CsfDescription,
    ) -> Result<BTreeMap<String, Vec<u8>>, ServiceError> {
        let mut files = BTreeMap::new();
        for reference in description.referenced_files() {
            let name = &reference.file.name;
            let resolved = resolve_virtual_path(name).ok_or_else(|| {
                invalid_csf(format!(
                    "line {}: file \"{name}\" is outside the PKI tree; name files as %%CERTS_PATH%%/<file> or %%BIN_PATH%%",
                    reference.file.line
                ))
            })?;
            match (resolved, reference.role) {
                (VirtualPath::Payload, FileRole::SignedData) => {}
                (VirtualPath::Payload, _) => {
                    return Err(invalid_csf(format!(
                        "line {}: the payload cannot be used as a key or table file",
                        reference.file.line
                    )))
                }
                (VirtualPath::Tree(_), FileRole::SignedData) => {
                    return Err(invalid_csf(format!(
                        "line {}: only %%BIN_PATH%% can be signed",
                        reference.file.line
                    )))
                }
                (VirtualPath::Tree(relative), _) => {
                    let contents = self.read_tree_file(pki_id, &relative).map_err(|_| {
                        invalid_csf(format!(
                            "line {}: file \"{name}\" does not exist in PKI tree {pki_id}",
                            reference.file.line
                        ))
                    })?;
                    files.insert(name.clone(), contents);
                }
            }
        }
        Ok(files)
    }

    /// Loads the private key of the certificate the description names in `role`.
    fn tree_key_for(
        &self,
        pki_id: &str,
        description: &CsfDescription,
        role: FileRole,
    ) -> Result<RsaPrivateKey, ServiceError> {
        let reference = description
            .referenced_files()
            .into_iter()
            .find(|reference| reference.role == role)
            .ok_or_else(|| invalid_csf(format!("the description names no {role:?} file")))?;
        let Some(VirtualPath::Tree(relative)) = resolve_virtual_path(&reference.file.name) else {
            return Err(invalid_csf(format!(
                "line {}: file is outside the PKI tree",
                reference.file.line
            )));
        };
        let base = relative
            .strip_prefix("crts/")
            .and_then(|name| name.strip_suffix("_crt.pem").or_else(|| name.strip_suffix("_crt.der")))
            .ok_or_else(|| {
                invalid_csf(format!(
                    "line {}: certificate \"{}\" is not a crts/<NAME>_crt.pem file, so its key cannot be found",
                    reference.file.line, reference.file.name
                ))
            })?;

        let password = self.read_tree_file(pki_id, KEY_PASS_FILE)?;
        let password = password.split(|b| *b == b'\n').next().unwrap_or_default();
        let key_pem = self.read_tree_file(pki_id, &format!("keys/{base}_key.pem"))?;
        let key_pem = String::from_utf8(key_pem).map_err(internal)?;
        encrypted_pkcs8::decrypt_pem(&key_pem, password).map_err(internal)
    }

    fn read_tree_file(&self, pki_id: &str, relative: &str) -> Result<Vec<u8>, ServiceError> {
        for part in relative.split('/') {
            check_id("file", part)?;
        }
        Ok(self
            .store()
            .read(format!("{PKI_FOLDER}/{pki_id}/{relative}"), "PKI file", relative)?)
    }
}

enum VirtualPath {
    Payload,
    /// Path relative to the tree root, such as `crts/SRK1_..._crt.pem`.
    Tree(String),
}

/// Normalizes a file name with the placeholders replaced; `None` when it
/// points anywhere but the payload or inside the tree.
fn resolve_virtual_path(name: &str) -> Option<VirtualPath> {
    if !name.starts_with('/') {
        return None;
    }
    let mut parts: Vec<&str> = Vec::new();
    for part in name.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            other => parts.push(other),
        }
    }
    let normalized = format!("/{}", parts.join("/"));
    if normalized == VIRTUAL_BIN_PATH {
        return Some(VirtualPath::Payload);
    }
    let relative = normalized.strip_prefix(VIRTUAL_TREE_PREFIX)?;
    if relative.is_empty() {
        return None;
    }
    Some(VirtualPath::Tree(relative.to_owned()))
}

/// Builds every file of a new tree, relative to its folder.
fn build_pki_files(hab_type: HabType, now: u64) -> Result<BTreeMap<String, Vec<u8>>, ServiceError> {
    let bits = PKI_KEY_SIZE.bits();
    let mut names = vec![certificate_name("CA1", bits, "ca")];
    for srk in 1..=SRK_COUNT {
        names.push(certificate_name(&format!("SRK{srk}"), bits, "ca"));
    }
    if hab_type == HabType::Hab {
        for srk in 1..=SRK_COUNT {
            names.push(certificate_name(&format!("CSF{srk}_1"), bits, "usr"));
            names.push(certificate_name(&format!("IMG{srk}_1"), bits, "usr"));
        }
    }

    let keys = generate_keys(names.len())?;
    let not_after = now + PKI_VALIDITY_DAYS * SECONDS_PER_DAY;
    let mut members: Vec<Member> = Vec::with_capacity(names.len());
    for (name, (key, key_pem)) in names.into_iter().zip(keys) {
        let params = CertificateParams {
            subject: x509::parse_openssl_subject(&format!("/CN={name}/")).map_err(internal)?,
            serial: random_serial()?,
            not_before: now,
            not_after,
        };
        let cert_der = match issuer_index(&name) {
            None => x509::self_signed_certificate(&params, &key).map_err(internal)?,
            Some(index) => {
                let issuer = members
                    .get(index)
                    .ok_or_else(|| internal("issuer generated after its subject"))?;
                let profile = if name.ends_with("_ca") {
                    IssuedProfile::CertificateAuthority
                } else {
                    IssuedProfile::User
                };
                x509::issued_certificate(&params, &issuer.cert_der, &issuer.key, key.public_key_der(), profile)
                    .map_err(internal)?
            }
        };
        members.push(Member {
            name,
            key,
            key_pem,
            cert_der,
        });
    }

    let mut password_bytes = [0u8; KEY_PASSWORD_LEN];
    getrandom::fill(&mut password_bytes).map_err(internal)?;
    let password = hex::encode(password_bytes);

    let mut files = BTreeMap::new();
    for member in &members {
        let certificate = x509_cert::Certificate::from_der(&member.cert_der).map_err(internal)?;
        let pem = certificate.to_pem(der::pem::LineEnding::LF).map_err(internal)?;
        files.insert(format!("crts/{}_crt.pem", member.name), pem.into_bytes());
        files.insert(format!("crts/{}_crt.der", member.name), member.cert_der.clone());
        let encrypted = encrypted_pkcs8::encrypt_pem(&member.key_pem, password.as_bytes()).map_err(internal)?;
        files.insert(format!("keys/{}_key.pem", member.name), encrypted.into_bytes());
    }
    files.insert(
        KEY_PASS_FILE.to_owned(),
        format!("{password}\n{password}\n").into_bytes(),
    );

    let srks: Vec<&[u8]> = members
        .iter()
        .filter(|member| member.name.starts_with("SRK"))
        .map(|member| member.cert_der.as_slice())
        .collect();
    let (table, efuses) = match hab_type {
        HabType::Hab => {
            let table = SrkTable::from_certificates(&srks).map_err(internal)?;
            (table.to_bytes(), table.fuse_hash().to_vec())
        }
        HabType::Ahab => {
            let table = AhabSrkTable::from_certificates(&srks, HashAlgorithm::Sha512).map_err(internal)?;
            (table.to_bytes(), table.srk_hash(HashAlgorithm::Sha512))
        }
    };
    files.insert(SRK_TABLE_FILE.to_owned(), table);
    files.insert(SRK_EFUSES_FILE.to_owned(), efuses);
    Ok(files)
}

/// Index in the generation order of the certificate that signs `name`:
/// the CA signs the SRKs, SRK i signs CSFi_1 and IMGi_1.
fn issuer_index(name: &str) -> Option<usize> {
    if name.starts_with("CA1") {
        return None;
    }
    if name.starts_with("SRK") {
        return Some(0);
    }
    let srk: usize = name.get(3..4)?.parse().ok()?;
    Some(srk)
}

/// Generates `count` keys on all cores; RSA-4096 generation takes about a
/// second each.
fn generate_keys(count: usize) -> Result<Vec<(RsaPrivateKey, String)>, ServiceError> {
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(count.max(1));
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<(RsaPrivateKey, String)>>> = Mutex::new((0..count).map(|_| None).collect());

    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| loop {
                let index = next.fetch_add(1, Ordering::Relaxed);
                if index >= count {
                    break;
                }
                let generated = RsaPrivateKey::generate(PKI_KEY_SIZE).ok();
                if let Ok(mut results) = results.lock() {
                    if let Some(slot) = results.get_mut(index) {
                        *slot = generated;
                    }
                }
            });
        }
    });

    let results = results
        .into_inner()
        .map_err(|_| internal("key generation thread panicked"))?;
    results
        .into_iter()
        .map(|key| key.ok_or_else(|| internal("RSA key generation failed")))
        .collect()
}

fn random_serial() -> Result<[u8; SERIAL_LEN], ServiceError> {
    let mut serial = [0u8; SERIAL_LEN];
    getrandom::fill(&mut serial).map_err(internal)?;
    Ok(serial)
}

fn invalid_csf(reason: String) -> ServiceError {
    ServiceError::InvalidField { field: "csf", reason }
}

fn internal(err: impl std::fmt::Display) -> ServiceError {
    ServiceError::Internal(err.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn virtual_paths() {
        assert!(
            matches!(resolve_virtual_path("/pki/crts/../SRK_table.bin"), Some(VirtualPath::Tree(p)) if p == "SRK_table.bin")
        );
        assert!(matches!(resolve_virtual_path("/payload"), Some(VirtualPath::Payload)));
        assert!(
            matches!(resolve_virtual_path("/pki/crts/./x_crt.pem"), Some(VirtualPath::Tree(p)) if p == "crts/x_crt.pem")
        );
        for outside in [
            "/pki/../etc/passwd",
            "/etc/passwd",
            "relative.pem",
            "/pki/crts/../../x",
            "/",
            "/pki",
            "/../..",
        ] {
            assert!(resolve_virtual_path(outside).is_none(), "{outside}");
        }
    }

    #[test]
    fn issuers() {
        assert_eq!(issuer_index("CA1_sha256_4096_65537_v3_ca"), None);
        assert_eq!(issuer_index("SRK3_sha256_4096_65537_v3_ca"), Some(0));
        assert_eq!(issuer_index("CSF2_1_sha256_4096_65537_v3_usr"), Some(2));
        assert_eq!(issuer_index("IMG4_1_sha256_4096_65537_v3_usr"), Some(4));
    }
}
