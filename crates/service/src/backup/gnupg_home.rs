//! The `gpg/` folder of a backup: a GnuPG 2.2 home made from this store's
//! OpenPGP keys on export (`pubring.kbx` and unprotected keys in
//! `private-keys-v1.d/<KEYGRIP>.key`), and converted back into them on
//! import. Other files of a GnuPG home (trustdb, revocation certificates,
//! backups of the keybox) carry nothing a signer needs and are skipped.

use balena_sign_crypto::RsaPrivateKey;
use balena_sign_formats::gnupg::{self, KeyboxWriter, Keygrip};
use balena_sign_formats::openpgp::TransferablePublicKey;

use crate::backup::archive::ArchiveFiles;
use crate::backup::PlannedFile;
use crate::{Service, ServiceError};

const KEYBOX_FILE: &str = "pubring.kbx";
const PRIVATE_KEYS_FOLDER: &str = "private-keys-v1.d";
const KIND: &str = "OpenPGP key";

/// Files of the GnuPG home for every stored OpenPGP key, relative to `gpg/`.
pub(crate) fn export(service: &Service) -> Result<ArchiveFiles, ServiceError> {
    let mut files = ArchiveFiles::new();
    let fingerprints = service.openpgp_fingerprints()?;
    if fingerprints.is_empty() {
        return Ok(files);
    }

    let now = u32::try_from(service.clock.now_unix()).map_err(internal)?;
    let mut keybox = KeyboxWriter::new(now);
    for fingerprint in fingerprints {
        let public = service.openpgp_keys.public(&fingerprint)?;
        let transferable = TransferablePublicKey::from_bytes(&public).map_err(internal)?;
        let created = transferable.created();
        keybox.add_key(&transferable, created).map_err(internal)?;

        let key = service.openpgp_keys.signer(&fingerprint)?;
        let components = key.private_components().map_err(internal)?;
        let key_file = gnupg::write_extended_private_key(&components, Some(u64::from(created))).map_err(internal)?;
        let keygrip = Keygrip::from_public_key(transferable.primary_key())
            .ok_or_else(|| internal(format!("OpenPGP key {fingerprint} is not RSA")))?;
        files.insert(format!("{PRIVATE_KEYS_FOLDER}/{keygrip}.key"), key_file.to_vec());
    }
    files.insert(KEYBOX_FILE.to_owned(), keybox.finish());
    Ok(files)
}

/// Store writes for the keys of a GnuPG home: each key of the keybox whose
/// secret key is present becomes `gpg/<FINGERPRINT>/`.
pub(crate) fn import_plan(_service: &Service, files: &ArchiveFiles) -> Result<Vec<PlannedFile>, ServiceError> {
    let has_private_keys = files.keys().any(|name| name.starts_with(PRIVATE_KEYS_FOLDER));
    let Some(keybox) = files.get(KEYBOX_FILE) else {
        if has_private_keys {
            return Err(invalid("gpg/ holds secret keys but no pubring.kbx to name them"));
        }
        return Ok(Vec::new());
    };

    let blobs = gnupg::openpgp_blobs(keybox).map_err(|err| invalid(&format!("gpg/pubring.kbx: {err}")))?;
    let mut plan = Vec::new();
    for blob in blobs.iter().filter(|blob| !blob.is_ephemeral()) {
        let transferable = blob
            .transferable_public_key()
            .map_err(|err| invalid(&format!("gpg/pubring.kbx: {err}")))?;
        let fingerprint = transferable.fingerprint().to_string();
        let Some(keygrip) = Keygrip::from_public_key(transferable.primary_key()) else {
            tracing::warn!(%fingerprint, "skipping a key that is not RSA");
            continue;
        };
        let Some(key_file) = files.get(&format!("{PRIVATE_KEYS_FOLDER}/{keygrip}.key")) else {
            tracing::warn!(%fingerprint, "skipping a public key without its secret key");
            continue;
        };

        let parsed = gnupg::parse_private_key(key_file)
            .map_err(|err| invalid(&format!("secret key of {fingerprint} ({keygrip}.key): {err}")))?;
        let (key, pem) = RsaPrivateKey::from_components(&parsed.components)
            .map_err(|err| invalid(&format!("secret key of {fingerprint}: {err}")))?;
        let matches = transferable
            .primary_key()
            .rsa()
            .is_some_and(|public| public.modulus == key.public_key().modulus);
        if !matches {
            return Err(invalid(&format!(
                "the secret key {keygrip}.key does not belong to key {fingerprint}"
            )));
        }

        let folder = format!("gpg/{fingerprint}");
        let mut private = PlannedFile::new(&format!("{folder}/private.pem"), pem.as_bytes(), KIND, &fingerprint);
        let mut public = PlannedFile::new(
            &format!("{folder}/public.gpg"),
            &transferable.to_bytes(),
            KIND,
            &fingerprint,
        );
        // The fingerprint names the folder, so a stored key with this name is this key.
        private.same_key_material_is_enough = true;
        public.same_key_material_is_enough = true;
        plan.push(private);
        plan.push(public);
    }
    Ok(plan)
}

fn invalid(reason: &str) -> ServiceError {
    ServiceError::InvalidField {
        field: "data",
        reason: reason.to_owned(),
    }
}

fn internal(err: impl std::fmt::Display) -> ServiceError {
    ServiceError::Internal(err.to_string())
}
