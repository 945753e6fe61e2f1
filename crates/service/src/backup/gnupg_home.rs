//! The `gpg/` folder of a backup: a GnuPG 2.2 home made from this store's
//! OpenPGP keys on export, and converted back into them on import.

use crate::backup::archive::ArchiveFiles;
use crate::backup::PlannedFile;
use crate::{Service, ServiceError};

/// Files of the GnuPG home for every stored OpenPGP key, relative to `gpg/`.
pub(crate) fn export(service: &Service) -> Result<ArchiveFiles, ServiceError> {
    let keys = service.openpgp_fingerprints()?;
    if keys.is_empty() {
        return Ok(ArchiveFiles::new());
    }
    // TODO: write pubring.kbx and private-keys-v1.d once the GnuPG codecs land.
    Err(ServiceError::Internal(
        "exporting OpenPGP keys is not available yet".into(),
    ))
}

/// Store writes for the keys of a GnuPG home.
pub(crate) fn import_plan(_service: &Service, files: &ArchiveFiles) -> Result<Vec<PlannedFile>, ServiceError> {
    if files.is_empty() {
        return Ok(Vec::new());
    }
    Err(ServiceError::Internal(
        "importing OpenPGP keys is not available yet".into(),
    ))
}
