//! The binary Command Sequence File (CSF) that CST writes for a HAB4
//! description (`cst -i csf.txt -o csf.bin`), built from the HAB4 API
//! reference command layouts (`hab_cmd.h`).
//!
//! ```text
//! D4 | length u16 | version        header; length covers header and commands
//! commands                         in description order
//! data blobs                       in command order, each padded to 4 bytes:
//!   SRK table                        (Install SRK, no header of its own)
//!   D7 | length | version | DER      certificate (Install CSFK, Install Key)
//!   D8 | length | version | CMS      signature (Authenticate CSF, Authenticate Data)
//! ```
//!
//! Install Key and Authenticate Data commands hold the offset of their blob
//! from the start of the CSF (the "absolute address" flag is clear). The
//! CSF signature covers the header and commands, offsets included, but no
//! blob; an image signature covers the concatenated blocks of its command.
//! A blob header's length excludes the padding, as in CST's
//! `save_file_data`.
//!
//! As CST does, when `[Header] Engine = CAAM` and no `[Unlock]` leaves the
//! CAAM RNG unlocked, an `Unlock CAAM RNG` command is appended after the
//! last command, so that the kernel can still instantiate the RNG.

use std::collections::BTreeMap;

use sha1::{Digest, Sha1};
use x509_cert::ext::pkix::AuthorityKeyIdentifier;

use super::cms_signature::{self, CmsError};
use super::csf_text::{Block, Engine, FileName, HabCommand, HabDescription, HashAlgorithmName};
use super::srk::{SrkError, SrkTable, HAB_TAG_CRT};
use super::{header, load_certificate, LoadedCertificate, HEADER_LEN};
use crate::signer::Signer;

/// `HAB_TAG_CSF`: the CSF header tag.
pub const HAB_TAG_CSF: u8 = 0xd4;

/// `HAB_TAG_SIG`: the tag of a signature blob.
pub const HAB_TAG_SIG: u8 = 0xd8;

/// `HAB_CMD_SET`: Set command (here always Set Engine).
pub const HAB_CMD_SET: u8 = 0xb1;

/// `HAB_CMD_UNLK`: Unlock command.
pub const HAB_CMD_UNLK: u8 = 0xb2;

/// `HAB_CMD_INS_KEY`: Install Key command (also Install SRK and Install CSFK).
pub const HAB_CMD_INS_KEY: u8 = 0xbe;

/// `HAB_CMD_AUT_DAT`: Authenticate Data command (also Authenticate CSF).
pub const HAB_CMD_AUT_DAT: u8 = 0xca;

/// `HAB_CMD_INS_KEY_CLR`: Install Key flags with nothing set: the key data
/// offset is relative to the CSF.
pub const HAB_CMD_INS_KEY_CLR: u8 = 0x00;

/// `HAB_CMD_INS_KEY_CSF`: Install Key flag marking the CSF key.
pub const HAB_CMD_INS_KEY_CSF: u8 = 0x02;

/// `HAB_CMD_AUT_DAT_CLR`: Authenticate Data flags with nothing set: the
/// signature offset is relative to the CSF.
pub const HAB_CMD_AUT_DAT_CLR: u8 = 0x00;

/// `HAB_PCL_SRK`: key protocol of an SRK table.
pub const HAB_PCL_SRK: u8 = 0x03;

/// `HAB_PCL_X509`: key protocol of an X.509 certificate.
pub const HAB_PCL_X509: u8 = 0x09;

/// `HAB_PCL_CMS`: signature protocol CMS.
pub const HAB_PCL_CMS: u8 = 0xc5;

/// `HAB_ALG_ANY`: no hash algorithm.
pub const HAB_ALG_ANY: u8 = 0x00;

/// `HAB_ALG_SHA256`.
pub const HAB_ALG_SHA256: u8 = 0x17;

/// `HAB_IDX_SRK`: key slot of the installed SRK.
pub const HAB_IDX_SRK: u8 = 0;

/// `HAB_IDX_CSFK`: key slot of the CSF key.
pub const HAB_IDX_CSFK: u8 = 1;

/// `HAB_VAR_CFG_ENG`: the Set command item that selects an engine.
pub const HAB_VAR_CFG_ENG: u8 = 0x03;

/// `HAB_CAAM_UNLOCK_RNG`: CAAM feature bit that leaves the RNG unlocked.
pub const HAB_CAAM_UNLOCK_RNG: u32 = 0x02;

/// Length of Install Key and of Authenticate Data without blocks.
pub const INSTALL_KEY_LEN: usize = 12;

/// Length of Authenticate Data (and Authenticate CSF) without blocks.
pub const AUTHENTICATE_DATA_BASE_LEN: usize = 12;

/// Length of one `start address, length` pair in Authenticate Data.
pub const BLOCK_LEN: usize = 8;

/// Length of Set Engine.
pub const SET_ENGINE_LEN: usize = 8;

/// Length of the Unlock features word.
pub const UNLOCK_FEATURES_LEN: usize = 4;

/// Offset of the 32-bit blob offset in Install Key and Authenticate Data.
pub const COMMAND_BLOB_OFFSET: usize = 8;

/// Alignment of every blob: the HAB library reads them as 32-bit words.
pub const BLOB_ALIGN: usize = 4;

/// Most blocks each engine hashes in one Authenticate Data command
/// (`HAB_CAAM_BLOCK_MAX`, `HAB_DCP_BLOCK_MAX`, `HAB_SAHARA_BLOCK_MAX`,
/// `HAB_RTIC_BLOCK_MAX` in `hab_types.h`).
pub const HAB_CAAM_BLOCK_MAX: usize = 8;
pub const HAB_DCP_BLOCK_MAX: usize = 6;
pub const HAB_SAHARA_BLOCK_MAX: usize = 12;
pub const HAB_RTIC_BLOCK_MAX: usize = 2;

/// Everything besides the description that a CSF needs.
pub struct HabSigningInputs<'a> {
    /// Contents of the SRK table and certificate files (DER or PEM), keyed
    /// by the names the description uses.
    pub files: &'a BTreeMap<String, Vec<u8>>,
    /// The data that every `Blocks` entry reads from: a block's offset and
    /// length select bytes of the payload whatever file name it gives.
    pub payload: &'a [u8],
    /// Signing time of both CMS signatures, Unix seconds.
    pub signing_time: u64,
    /// Private key of the `[Install CSFK]` certificate.
    pub csf_key: &'a dyn Signer,
    /// Private key of the certificates installed by `[Install Key]`.
    pub image_key: &'a dyn Signer,
}

/// Errors of building a CSF.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CsfError {
    #[error("file \"{name}\" (line {line}) was not provided")]
    MissingFile { name: String, line: usize },
    #[error("\"{name}\" is not a valid HAB4 SRK table: {source}")]
    InvalidSrkTable { name: String, source: SrkError },
    #[error("Source index {index} selects a key beyond the {count} keys of SRK table \"{name}\"")]
    SrkIndex { name: String, index: u8, count: usize },
    #[error("\"{name}\" is not a valid X.509 certificate in DER or PEM form: {source}")]
    InvalidCertificate { name: String, source: der::Error },
    #[error("certificate \"{name}\" was issued by SRK {issuer}, but Source index selects SRK {selected}")]
    WrongSrk { name: String, issuer: usize, selected: u8 },
    #[error("line {line}: no [Install Key] before this command installs a key in slot {index}")]
    KeyNotInstalled { line: usize, index: u8 },
    #[error("[{command}] needs an earlier [{needs}]")]
    CommandOrder { command: &'static str, needs: &'static str },
    #[error("line {line}: block {block} (offset {offset:#x}, length {length:#x}) ends beyond the {payload_len:#x}-byte payload")]
    BlockOutsidePayload {
        line: usize,
        block: usize,
        offset: u32,
        length: u32,
        payload_len: usize,
    },
    #[error("line {line}: block {block} at address {address:#x} with length {length:#x} passes the end of the 32-bit address space")]
    BlockAddressOverflow {
        line: usize,
        block: usize,
        address: u32,
        length: u32,
    },
    #[error("line {line}: {count} blocks, but engine {engine:?} hashes at most {max} in one command")]
    TooManyBlocksForEngine {
        line: usize,
        count: usize,
        engine: Engine,
        max: usize,
    },
    #[error("the CSF commands take {len} bytes, more than a HAB length field holds")]
    TooLarge { len: usize },
    #[error("CSF signature: {0}")]
    CsfSignature(CmsError),
    #[error("the CSF signature is {actual} bytes, but {reserved} were reserved for it")]
    CsfSignatureLength { reserved: usize, actual: usize },
    #[error("line {line}: image signature: {source}")]
    ImageSignature { line: usize, source: CmsError },
}

/// Compiles a HAB4 description into the binary CSF.
pub fn compile(description: &HabDescription, inputs: &HabSigningInputs<'_>) -> Result<Vec<u8>, CsfError> {
    let mut builder = Builder {
        description,
        inputs,
        commands: header(HAB_TAG_CSF, 0, description.header.version.byte()).to_vec(),
        blobs: Vec::new(),
        srk_table: None,
        keys: BTreeMap::new(),
        csf_signature_blob: None,
        caam_rng_unlocked: false,
    };
    for command in &description.commands {
        builder.add(command)?;
    }
    builder.finish()
}

/// A blob and the command field that points at it.
struct Blob {
    /// Position of the blob's 32-bit offset field in the commands.
    offset_field: usize,
    /// Blob bytes including padding.
    bytes: Vec<u8>,
}

struct Builder<'a> {
    description: &'a HabDescription,
    inputs: &'a HabSigningInputs<'a>,
    /// Header and commands.
    commands: Vec<u8>,
    blobs: Vec<Blob>,
    /// The installed SRK table and the selected index.
    srk_table: Option<(SrkTable, u8)>,
    /// Installed certificates by key slot (CSF key and image keys).
    keys: BTreeMap<u8, LoadedCertificate>,
    /// Index in `blobs` of the CSF signature, filled in last.
    csf_signature_blob: Option<usize>,
    caam_rng_unlocked: bool,
}

impl Builder<'_> {
    fn add(&mut self, command: &HabCommand) -> Result<(), CsfError> {
        match command {
            HabCommand::InstallSrk {
                file,
                source_index,
                hash_algorithm,
            } => self.add_install_srk(file, *source_index, *hash_algorithm),
            HabCommand::InstallCsfk { file } => self.add_install_csfk(file),
            HabCommand::AuthenticateCsf {
                engine,
                engine_configuration,
            } => self.add_authenticate_csf(*engine, *engine_configuration),
            HabCommand::Unlock { engine, features, uid } => {
                if *engine == Engine::Caam && features.is_some_and(|bits| bits & HAB_CAAM_UNLOCK_RNG != 0) {
                    self.caam_rng_unlocked = true;
                }
                push_unlock(
                    &mut self.commands,
                    *engine,
                    *features,
                    uid.as_ref().map(|uid| uid.as_slice()),
                );
                Ok(())
            }
            HabCommand::InstallKey {
                file,
                verification_index,
                target_index,
                hash_algorithm,
            } => self.add_install_key(file, *verification_index, *target_index, *hash_algorithm),
            HabCommand::AuthenticateData {
                verification_index,
                engine,
                engine_configuration,
                blocks,
            } => self.add_authenticate_data(*verification_index, *engine, *engine_configuration, blocks),
            HabCommand::SetEngine {
                hash_algorithm,
                engine,
                engine_configuration,
            } => {
                let configuration = engine_configuration.unwrap_or(self.description.header.engine_configuration);
                self.commands
                    .extend_from_slice(&header(HAB_CMD_SET, SET_ENGINE_LEN as u16, HAB_VAR_CFG_ENG));
                self.commands.extend_from_slice(&[
                    0,
                    hash_algorithm_byte(Some(*hash_algorithm)),
                    engine.tag(),
                    configuration,
                ]);
                Ok(())
            }
        }
    }

    /// Install SRK: the table is its own blob, without a blob header.
    fn add_install_srk(
        &mut self,
        file: &FileName,
        source_index: u8,
        hash_algorithm: HashAlgorithmName,
    ) -> Result<(), CsfError> {
        let bytes = self.file(&file.name, file.line)?;
        let table = SrkTable::parse(bytes).map_err(|source| CsfError::InvalidSrkTable {
            name: file.name.clone(),
            source,
        })?;
        if usize::from(source_index) >= table.entries().len() {
            return Err(CsfError::SrkIndex {
                name: file.name.clone(),
                index: source_index,
                count: table.entries().len(),
            });
        }

        let blob = padded(bytes.to_vec());
        let algorithm = hash_algorithm_byte(Some(hash_algorithm));
        self.push_install_key(
            HAB_CMD_INS_KEY_CLR,
            HAB_PCL_SRK,
            algorithm,
            source_index,
            HAB_IDX_SRK,
            blob,
        );
        self.srk_table = Some((table, source_index));
        Ok(())
    }

    fn add_install_csfk(&mut self, file: &FileName) -> Result<(), CsfError> {
        let certificate = self.certificate(&file.name, file.line)?;
        self.check_issued_by_selected_srk(&file.name, &certificate)?;

        let blob = blob_with_header(HAB_TAG_CRT, &certificate.der, self.version())?;
        self.push_install_key(
            HAB_CMD_INS_KEY_CSF,
            HAB_PCL_X509,
            HAB_ALG_ANY,
            HAB_IDX_SRK,
            HAB_IDX_CSFK,
            blob,
        );
        self.keys.insert(HAB_IDX_CSFK, certificate);
        Ok(())
    }

    fn add_install_key(
        &mut self,
        file: &FileName,
        verification_index: u8,
        target_index: u8,
        hash_algorithm: Option<HashAlgorithmName>,
    ) -> Result<(), CsfError> {
        let certificate = self.certificate(&file.name, file.line)?;
        if verification_index == HAB_IDX_SRK {
            self.check_issued_by_selected_srk(&file.name, &certificate)?;
        } else if !self.keys.contains_key(&verification_index) {
            return Err(CsfError::KeyNotInstalled {
                line: file.line,
                index: verification_index,
            });
        }

        let blob = blob_with_header(HAB_TAG_CRT, &certificate.der, self.version())?;
        let algorithm = hash_algorithm_byte(hash_algorithm);
        self.push_install_key(
            HAB_CMD_INS_KEY_CLR,
            HAB_PCL_X509,
            algorithm,
            verification_index,
            target_index,
            blob,
        );
        self.keys.insert(target_index, certificate);
        Ok(())
    }

    /// Reserves the CSF signature blob; its size is fixed by the key and
    /// certificate, so the offsets after it are known before signing.
    fn add_authenticate_csf(&mut self, engine: Option<Engine>, configuration: Option<u8>) -> Result<(), CsfError> {
        let certificate = &self.csf_certificate()?.certificate;
        cms_signature::check_signer_matches(certificate, self.inputs.csf_key).map_err(CsfError::CsfSignature)?;
        let cms_len = cms_signature::signature_len(certificate, self.inputs.csf_key, self.inputs.signing_time)
            .map_err(CsfError::CsfSignature)?;

        let offset_field = self.commands.len() + COMMAND_BLOB_OFFSET;
        self.push_authenticate_header(0, HAB_IDX_CSFK, engine, configuration);
        self.csf_signature_blob = Some(self.blobs.len());
        self.blobs.push(Blob {
            offset_field,
            bytes: padded(vec![0; HEADER_LEN + cms_len]),
        });
        Ok(())
    }

    fn add_authenticate_data(
        &mut self,
        verification_index: u8,
        engine: Option<Engine>,
        configuration: Option<u8>,
        blocks: &[Block],
    ) -> Result<(), CsfError> {
        let line = blocks.first().map_or(0, |block| block.file.line);
        let certificate = &self
            .keys
            .get(&verification_index)
            .ok_or(CsfError::KeyNotInstalled {
                line,
                index: verification_index,
            })?
            .certificate;

        let effective_engine = engine.unwrap_or(self.description.header.engine);
        let max = match effective_engine {
            Engine::Caam => HAB_CAAM_BLOCK_MAX,
            Engine::Dcp => HAB_DCP_BLOCK_MAX,
            Engine::Rtic => HAB_RTIC_BLOCK_MAX,
            _ => HAB_SAHARA_BLOCK_MAX,
        };
        if blocks.len() > max {
            return Err(CsfError::TooManyBlocksForEngine {
                line,
                count: blocks.len(),
                engine: effective_engine,
                max,
            });
        }

        let signed = self.signed_blocks(blocks)?;
        let cms =
            cms_signature::sign_detached_with(&signed, certificate, self.inputs.image_key, self.inputs.signing_time)
                .map_err(|source| CsfError::ImageSignature { line, source })?;
        let blob = blob_with_header(HAB_TAG_SIG, &cms, self.version())?;

        let offset_field = self.commands.len() + COMMAND_BLOB_OFFSET;
        self.push_authenticate_header(blocks.len(), verification_index, engine, configuration);
        for block in blocks {
            self.commands.extend_from_slice(&block.address.to_be_bytes());
            self.commands.extend_from_slice(&block.length.to_be_bytes());
        }
        self.blobs.push(Blob {
            offset_field,
            bytes: blob,
        });
        Ok(())
    }

    /// Concatenates the payload bytes that the blocks select.
    fn signed_blocks(&self, blocks: &[Block]) -> Result<Vec<u8>, CsfError> {
        let payload = self.inputs.payload;
        let mut signed = Vec::new();
        for (number, block) in blocks.iter().enumerate() {
            let outside = || CsfError::BlockOutsidePayload {
                line: block.file.line,
                block: number + 1,
                offset: block.offset,
                length: block.length,
                payload_len: payload.len(),
            };
            if block.address.checked_add(block.length).is_none() {
                return Err(CsfError::BlockAddressOverflow {
                    line: block.file.line,
                    block: number + 1,
                    address: block.address,
                    length: block.length,
                });
            }

            let start = usize::try_from(block.offset).map_err(|_| outside())?;
            let length = usize::try_from(block.length).map_err(|_| outside())?;
            let end = start.checked_add(length).ok_or_else(outside)?;
            signed.extend_from_slice(payload.get(start..end).ok_or_else(outside)?);
        }
        Ok(signed)
    }

    /// Writes the 12-byte start of Authenticate Data; the blob offset is
    /// filled in by `finish`.
    fn push_authenticate_header(
        &mut self,
        block_count: usize,
        key: u8,
        engine: Option<Engine>,
        configuration: Option<u8>,
    ) {
        let header_defaults = &self.description.header;
        // At most HAB_SAHARA_BLOCK_MAX blocks get here, so the length fits.
        let len = AUTHENTICATE_DATA_BASE_LEN + block_count * BLOCK_LEN;
        self.commands
            .extend_from_slice(&header(HAB_CMD_AUT_DAT, len as u16, HAB_CMD_AUT_DAT_CLR));
        self.commands.extend_from_slice(&[
            key,
            HAB_PCL_CMS,
            engine.unwrap_or(header_defaults.engine).tag(),
            configuration.unwrap_or(header_defaults.engine_configuration),
        ]);
        self.commands.extend_from_slice(&[0; 4]);
    }

    fn push_install_key(&mut self, flags: u8, protocol: u8, algorithm: u8, source: u8, target: u8, blob: Vec<u8>) {
        let offset_field = self.commands.len() + COMMAND_BLOB_OFFSET;
        self.commands
            .extend_from_slice(&header(HAB_CMD_INS_KEY, INSTALL_KEY_LEN as u16, flags));
        self.commands.extend_from_slice(&[protocol, algorithm, source, target]);
        self.commands.extend_from_slice(&[0; 4]);
        self.blobs.push(Blob {
            offset_field,
            bytes: blob,
        });
    }

    /// Appends CST's implicit `Unlock CAAM RNG`, sets the lengths and blob
    /// offsets, signs the commands and joins everything.
    fn finish(mut self) -> Result<Vec<u8>, CsfError> {
        if self.description.header.engine == Engine::Caam && !self.caam_rng_unlocked {
            push_unlock(&mut self.commands, Engine::Caam, Some(HAB_CAAM_UNLOCK_RNG), None);
        }

        let commands_len = self.commands.len();
        let length = u16::try_from(commands_len).map_err(|_| CsfError::TooLarge { len: commands_len })?;
        self.commands.splice(1..3, length.to_be_bytes()).for_each(drop);

        let mut blob_offset = commands_len;
        for blob in &self.blobs {
            let offset = u32::try_from(blob_offset).map_err(|_| CsfError::TooLarge { len: blob_offset })?;
            self.commands
                .splice(blob.offset_field..blob.offset_field + 4, offset.to_be_bytes())
                .for_each(drop);
            blob_offset += blob.bytes.len();
        }

        self.sign_commands()?;

        let mut csf = self.commands;
        for blob in self.blobs {
            csf.extend_from_slice(&blob.bytes);
        }
        Ok(csf)
    }

    fn sign_commands(&mut self) -> Result<(), CsfError> {
        let Some(index) = self.csf_signature_blob else {
            return Ok(());
        };
        let certificate = &self.csf_certificate()?.certificate;
        let cms = cms_signature::sign_detached_with(
            &self.commands,
            certificate,
            self.inputs.csf_key,
            self.inputs.signing_time,
        )
        .map_err(CsfError::CsfSignature)?;
        let blob = blob_with_header(HAB_TAG_SIG, &cms, self.description.header.version.byte())?;

        // signature_len measured the same structure with a placeholder
        // signature, so the lengths agree unless the signer misbehaves.
        if let Some(reserved) = self.blobs.get_mut(index) {
            if reserved.bytes.len() != blob.len() {
                return Err(CsfError::CsfSignatureLength {
                    reserved: reserved.bytes.len(),
                    actual: blob.len(),
                });
            }
            reserved.bytes = blob;
        }
        Ok(())
    }

    /// Returns the certificate of `[Install CSFK]`. The parser puts that
    /// section before `[Authenticate CSF]`, but a description built in code
    /// might not.
    fn csf_certificate(&self) -> Result<&LoadedCertificate, CsfError> {
        self.keys.get(&HAB_IDX_CSFK).ok_or(CsfError::CommandOrder {
            command: "Authenticate CSF",
            needs: "Install CSFK",
        })
    }

    fn version(&self) -> u8 {
        self.description.header.version.byte()
    }

    fn file(&self, name: &str, line: usize) -> Result<&[u8], CsfError> {
        self.inputs
            .files
            .get(name)
            .map(Vec::as_slice)
            .ok_or_else(|| CsfError::MissingFile {
                name: name.to_owned(),
                line,
            })
    }

    fn certificate(&self, name: &str, line: usize) -> Result<LoadedCertificate, CsfError> {
        load_certificate(self.file(name, line)?).map_err(|source| CsfError::InvalidCertificate {
            name: name.to_owned(),
            source,
        })
    }

    /// Rejects a certificate whose authority key identifier names another
    /// SRK of the table than the one `Source index` installs: the boot ROM
    /// would fail to verify it. Certificates without that identifier, or
    /// with one that matches no SRK, are left to the boot ROM.
    fn check_issued_by_selected_srk(&self, name: &str, certificate: &LoadedCertificate) -> Result<(), CsfError> {
        let Some((table, selected)) = &self.srk_table else {
            return Ok(());
        };
        let Some(authority_key_id) = authority_key_identifier(&certificate.certificate) else {
            return Ok(());
        };

        let issuer = table.entries().iter().position(|entry| {
            entry
                .key
                .to_pkcs1_der()
                .is_ok_and(|der| Sha1::digest(der).as_slice() == authority_key_id.as_slice())
        });
        match issuer {
            Some(issuer) if issuer != usize::from(*selected) => Err(CsfError::WrongSrk {
                name: name.to_owned(),
                issuer,
                selected: *selected,
            }),
            _ => Ok(()),
        }
    }
}

/// Returns the keyIdentifier of a certificate's authorityKeyIdentifier
/// extension.
fn authority_key_identifier(certificate: &x509_cert::Certificate) -> Option<Vec<u8>> {
    use der::Decode;

    certificate
        .tbs_certificate
        .extensions
        .iter()
        .flatten()
        .find(|extension| extension.extn_id == const_oid::db::rfc5280::ID_CE_AUTHORITY_KEY_IDENTIFIER)
        .and_then(|extension| AuthorityKeyIdentifier::from_der(extension.extn_value.as_bytes()).ok())
        .and_then(|identifier| identifier.key_identifier)
        .map(|key_id| key_id.as_bytes().to_vec())
}

fn hash_algorithm_byte(algorithm: Option<HashAlgorithmName>) -> u8 {
    match algorithm {
        Some(HashAlgorithmName::Sha256) => HAB_ALG_SHA256,
        None => HAB_ALG_ANY,
    }
}

/// Unlock: header with the engine, then the features word when features
/// are given, then the UID.
fn push_unlock(commands: &mut Vec<u8>, engine: Engine, features: Option<u32>, uid: Option<&[u8]>) {
    let uid = uid.unwrap_or_default();
    let len = HEADER_LEN + features.map_or(0, |_| UNLOCK_FEATURES_LEN) + uid.len();
    commands.extend_from_slice(&header(HAB_CMD_UNLK, len as u16, engine.tag()));
    if let Some(features) = features {
        commands.extend_from_slice(&features.to_be_bytes());
    }
    commands.extend_from_slice(uid);
}

/// Builds a certificate or signature blob: header, content, zero padding.
fn blob_with_header(tag: u8, content: &[u8], version: u8) -> Result<Vec<u8>, CsfError> {
    let len = HEADER_LEN + content.len();
    let length = u16::try_from(len).map_err(|_| CsfError::TooLarge { len })?;
    let mut blob = header(tag, length, version).to_vec();
    blob.extend_from_slice(content);
    Ok(padded(blob))
}

fn padded(mut bytes: Vec<u8>) -> Vec<u8> {
    bytes.resize(bytes.len().next_multiple_of(BLOB_ALIGN), 0);
    bytes
}
