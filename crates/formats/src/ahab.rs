//! NXP Advanced High Assurance Boot (AHAB), the container authentication of
//! i.MX8QM, i.MX8QXP, i.MX8DXL, i.MX8ULP and i.MX9x parts, from the "AHAB"
//! chapters of their security reference manuals. Every AHAB structure is
//! little-endian.
//!
//! CST signs AHAB containers in place: for a description with
//! `[Header] Target = AHAB` it reads the image, fills in the signature block
//! of the container at `Offsets`, and writes the whole image back.
//! [`sign_described`] does the same. Only SRK signatures with RSA PKCS#1
//! v1.5 records are made; a `[Install Certificate]` signing key is not
//! supported.

pub mod container;
pub mod srk;

use std::collections::BTreeMap;

pub use container::{sign_container, ContainerError, ContainerSigning};
pub use srk::{fuse_words, AhabSrkError, AhabSrkRecord, AhabSrkTable};

use crate::hab::csf_text::AhabDescription;
use crate::hab::load_certificate;
use crate::signer::Signer;

/// Errors of signing a container from a description.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AhabError {
    #[error("file \"{name}\" (line {line}) was not provided")]
    MissingFile { name: String, line: usize },
    #[error("\"{name}\" is not a valid AHAB SRK table: {source}")]
    InvalidSrkTable { name: String, source: AhabSrkError },
    #[error("\"{name}\" is not a valid X.509 certificate in DER or PEM form: {source}")]
    InvalidCertificate { name: String, source: der::Error },
    #[error("the key of Source certificate \"{name}\" is not SRK {index} of the SRK table")]
    SourceNotInTable { name: String, index: u8 },
    #[error("[Install Certificate] (line {line}) is not supported: containers are signed by the SRK itself")]
    CertificateUnsupported { line: usize },
    #[error(transparent)]
    Container(#[from] ContainerError),
}

/// Signs the container that an AHAB description names. `files` contains the
/// SRK table and the Source certificate by the names the description uses,
/// `image` is the file of `[Authenticate Data]`, and `srk_key` is the
/// private key of the Source certificate.
pub fn sign_described(
    description: &AhabDescription,
    files: &BTreeMap<String, Vec<u8>>,
    image: &[u8],
    srk_key: &dyn Signer,
) -> Result<Vec<u8>, AhabError> {
    if let Some(certificate) = &description.certificate {
        return Err(AhabError::CertificateUnsupported {
            line: certificate.file.line,
        });
    }

    let file = |name: &crate::hab::csf_text::FileName| {
        files.get(&name.name).ok_or_else(|| AhabError::MissingFile {
            name: name.name.clone(),
            line: name.line,
        })
    };
    let table = AhabSrkTable::parse(file(&description.srk_table)?).map_err(|source| AhabError::InvalidSrkTable {
        name: description.srk_table.name.clone(),
        source,
    })?;

    let source_name = &description.srk_certificate.name;
    let source =
        load_certificate(file(&description.srk_certificate)?).map_err(|source| AhabError::InvalidCertificate {
            name: source_name.clone(),
            source,
        })?;
    let source_key = crate::hab::srk::rsa_key_of(&source.certificate);
    let table_key = table
        .records()
        .get(usize::from(description.source_index))
        .map(|record| &record.key);
    if source_key.as_ref() != table_key {
        return Err(AhabError::SourceNotInTable {
            name: source_name.clone(),
            index: description.source_index,
        });
    }

    let signing = ContainerSigning {
        container_offset: description.container_offset,
        signature_block_offset: description.signature_block_offset,
        srk_table: &table,
        srk_index: description.source_index,
        srk_set: description.source_set,
        revocations: description.revocations,
        signer: srk_key,
    };
    Ok(sign_container(image, &signing)?)
}
