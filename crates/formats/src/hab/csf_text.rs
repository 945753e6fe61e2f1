//! The CSF description: the text that NXP's Code Signing Tool (CST) reads
//! with `cst -i csf.txt`, described in the CST User's Guide.
//!
//! ```text
//! [Header]
//!     Version = 4.3
//!     Hash Algorithm = sha256
//!     Engine = CAAM
//! [Install SRK]
//!     File = "crts/SRK_table.bin"   # a comment
//!     Source index = 0
//! [Authenticate Data]
//!     Verification index = 2
//!     Blocks = 0x40480000 0x0 0x3020 "Image", \
//!              0x40490000 0x4000 0x100 "Image"
//! ```
//!
//! Sections and keys are matched as CST matches them: case-insensitive and
//! with spaces ignored, so `Source index`, `SourceIndex` and `source Index`
//! are one key, as are the keywords `SRK REVOKE` and `SRKREVOKE`. `#` starts
//! a comment, a `\` at the end of a line continues the value on the next
//! line, list items are separated by `,`, and file names are quoted.
//! Numbers are decimal or `0x` hexadecimal and must fit 32 bits.
//!
//! This parser is stricter than CST. Unknown sections and keys, repeated
//! keys, misplaced sections and values that CST would silently narrow are
//! errors. A mistake in a build script then fails the request instead of
//! producing an image that the boot ROM later rejects.
//!
//! File names are kept as written. [`CsfDescription::referenced_files`]
//! lists them with their role so that the caller can map each one to a
//! certificate, the SRK table or the payload before compiling.

/// Largest description accepted, in bytes. Real descriptions are under
/// 2 KiB; the bound keeps a hostile request from making the parser build
/// large token lists.
pub const MAX_DESCRIPTION_LEN: usize = 64 * 1024;

/// Maximum number of blocks in one `[Authenticate Data]` section. HAB4 hash engines
/// accept a bounded number of blocks per Authenticate Data command
/// (`hab_types.h`: SAHARA 12, CAAM 8, DCP 6, RTIC 2), and 12 is the largest.
/// The compiler checks the smaller limit of the engine in use.
pub const MAX_BLOCKS: usize = 12;

/// Length of an Unlock UID: the OCOTP unique ID is 64 bits.
pub const UNLOCK_UID_LEN: usize = 8;

/// Highest SRK index: an SRK table has at most four keys.
pub const MAX_SRK_INDEX: u8 = 3;

/// Lowest HAB key slot for a key installed by `[Install Key]`; slot 0 is the
/// SRK and slot 1 the CSF key.
pub const MIN_IMAGE_KEY_SLOT: u8 = 2;

/// Highest HAB key slot for a key installed by `[Install Key]` (CST keeps
/// `HAB_KEY_PUBLIC_MAX` = 5 key slots).
pub const MAX_IMAGE_KEY_SLOT: u8 = 4;

/// Largest AHAB SRK revocation mask: one bit for each of the four SRKs.
pub const MAX_AHAB_REVOCATIONS: u8 = 0x0f;

/// A CSF description that parsed and passed the structural checks.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CsfDescription {
    /// `[Header] Target = HAB` (the default): a HAB4 CSF.
    Hab(HabDescription),
    /// `[Header] Target = AHAB`: sign an AHAB container in place.
    Ahab(AhabDescription),
}

/// A HAB4 description: the header and the commands in file order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HabDescription {
    pub header: HabHeader,
    pub commands: Vec<HabCommand>,
}

/// `[Header]` of a HAB4 description: defaults for the commands.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HabHeader {
    /// `Version = 4.x`; the CSF header byte is `0x4x`.
    pub version: HabVersion,
    /// `Hash Algorithm`, default sha256.
    pub hash_algorithm: HashAlgorithmName,
    /// `Engine`, default ANY.
    pub engine: Engine,
    /// `Engine Configuration`, default 0.
    pub engine_configuration: u8,
}

/// A HAB version `major.minor`, such as 4.3.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct HabVersion {
    pub major: u8,
    pub minor: u8,
}

impl HabVersion {
    /// The version as HAB encodes it: major in the high nibble, minor in the
    /// low nibble (4.3 is 0x43).
    pub fn byte(self) -> u8 {
        (self.major << 4) | self.minor
    }
}

/// Hash algorithms a description may name. HAB4 CMS signatures and SRK
/// installation are only supported with SHA-256 here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HashAlgorithmName {
    Sha256,
}

/// HAB engines that a description may name (`hab_types.h` engine tags).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    /// `HAB_ENG_ANY`: the boot ROM picks the first suitable engine.
    Any,
    /// `HAB_ENG_RTIC`: run-time integrity checker.
    Rtic,
    /// `HAB_ENG_SAHARA`: crypto accelerator of older parts.
    Sahara,
    /// `HAB_ENG_DCP`: data co-processor.
    Dcp,
    /// `HAB_ENG_CAAM`: cryptographic acceleration and assurance module.
    Caam,
    /// `HAB_ENG_SNVS`: secure non-volatile storage (Unlock only).
    Snvs,
    /// `HAB_ENG_OCOTP`: fuse controller (Unlock only).
    Ocotp,
    /// `HAB_ENG_SW`: software engine.
    Sw,
}

impl Engine {
    /// Returns the engine tag byte.
    pub fn tag(self) -> u8 {
        match self {
            Self::Any => 0x00,
            Self::Rtic => 0x05,
            Self::Sahara => 0x06,
            Self::Dcp => 0x1b,
            Self::Caam => 0x1d,
            Self::Snvs => 0x1e,
            Self::Ocotp => 0x21,
            Self::Sw => 0xff,
        }
    }

    /// Returns whether the engine can hash and verify data (Authenticate
    /// CSF, Authenticate Data, Set Engine). SNVS and OCOTP can only be
    /// unlocked.
    pub fn can_authenticate(self) -> bool {
        !matches!(self, Self::Snvs | Self::Ocotp)
    }
}

/// A HAB4 CSF command, one for each section after `[Header]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HabCommand {
    /// `[Install SRK]`: install SRK number `source_index` from the table.
    InstallSrk {
        file: FileName,
        source_index: u8,
        hash_algorithm: HashAlgorithmName,
    },
    /// `[Install CSFK]`: install the CSF key certificate, verified by the SRK.
    InstallCsfk { file: FileName },
    /// `[Authenticate CSF]`: verify the CSF signature with the CSF key.
    AuthenticateCsf {
        engine: Option<Engine>,
        engine_configuration: Option<u8>,
    },
    /// `[Unlock]`: leave engine features unlocked after boot.
    Unlock {
        engine: Engine,
        /// The OR of the feature bits, `None` when `Features` is absent.
        features: Option<u32>,
        uid: Option<[u8; UNLOCK_UID_LEN]>,
    },
    /// `[Install Key]`: install an image key certificate into a key slot.
    InstallKey {
        file: FileName,
        verification_index: u8,
        target_index: u8,
        /// Written into the command when given; CST appends no hash.
        hash_algorithm: Option<HashAlgorithmName>,
    },
    /// `[Authenticate Data]`: verify a signature over memory blocks.
    AuthenticateData {
        verification_index: u8,
        engine: Option<Engine>,
        engine_configuration: Option<u8>,
        blocks: Vec<Block>,
    },
    /// `[Set Engine]`: choose the engine for a hash algorithm.
    SetEngine {
        hash_algorithm: HashAlgorithmName,
        engine: Engine,
        engine_configuration: Option<u8>,
    },
}

/// One `address offset length "file"` entry of `Blocks`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Block {
    /// Address of the block in memory when the boot ROM checks it.
    pub address: u32,
    /// Offset of the block in the file.
    pub offset: u32,
    pub length: u32,
    pub file: FileName,
}

/// A file name as written in the description, with the line it is on.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct FileName {
    pub name: String,
    pub line: usize,
}

/// An AHAB description: CST signs the container at `container_offset` of
/// the file and writes the whole file back.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AhabDescription {
    /// `[Install SRK] File`: the AHAB SRK table.
    pub srk_table: FileName,
    /// `[Install SRK] Source`: the certificate of the SRK that signs.
    pub srk_certificate: FileName,
    pub source_index: u8,
    pub source_set: SrkSet,
    /// Bit mask of SRKs to revoke, 0 to 0xF.
    pub revocations: u8,
    /// `[Install Certificate]`: a signing key certificate that the SRK signs
    /// and whose key then signs the container.
    pub certificate: Option<AhabCertificate>,
    /// `[Authenticate Data] File`: the image holding the container.
    pub image: FileName,
    /// `[Authenticate Data] Offsets`: container offset in the file.
    pub container_offset: u32,
    /// `[Authenticate Data] Offsets`: signature block offset in the container.
    pub signature_block_offset: u32,
}

/// `[Install Certificate]` of an AHAB description.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AhabCertificate {
    pub file: FileName,
    /// Permission bits granted to the certificate key, default 0.
    pub permissions: u8,
}

/// The SRK set that signs an AHAB container.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SrkSet {
    Nxp,
    Oem,
}

/// The use of a referenced file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FileRole {
    /// An SRK table (`[Install SRK] File`).
    SrkTable,
    /// The certificate of the SRK that signs an AHAB container.
    SrkCertificate,
    /// The CSF key certificate (`[Install CSFK] File`).
    CsfKeyCertificate,
    /// An image key certificate (`[Install Key] File`).
    ImageKeyCertificate,
    /// An AHAB signing key certificate (`[Install Certificate] File`).
    AhabCertificate,
    /// Data to sign: a `Blocks` file or the AHAB image.
    SignedData,
}

/// A file that the description names.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FileReference {
    pub file: FileName,
    pub role: FileRole,
}

impl CsfDescription {
    /// Lists every file the description names, in file order, with its
    /// role. Block files appear once per block.
    pub fn referenced_files(&self) -> Vec<FileReference> {
        let reference = |file: &FileName, role| FileReference {
            file: file.clone(),
            role,
        };
        let mut files = Vec::new();
        match self {
            Self::Hab(hab) => {
                for command in &hab.commands {
                    match command {
                        HabCommand::InstallSrk { file, .. } => files.push(reference(file, FileRole::SrkTable)),
                        HabCommand::InstallCsfk { file } => files.push(reference(file, FileRole::CsfKeyCertificate)),
                        HabCommand::InstallKey { file, .. } => {
                            files.push(reference(file, FileRole::ImageKeyCertificate));
                        }
                        HabCommand::AuthenticateData { blocks, .. } => {
                            files.extend(blocks.iter().map(|block| reference(&block.file, FileRole::SignedData)));
                        }
                        HabCommand::AuthenticateCsf { .. }
                        | HabCommand::Unlock { .. }
                        | HabCommand::SetEngine { .. } => {}
                    }
                }
            }
            Self::Ahab(ahab) => {
                files.push(reference(&ahab.srk_table, FileRole::SrkTable));
                files.push(reference(&ahab.srk_certificate, FileRole::SrkCertificate));
                if let Some(certificate) = &ahab.certificate {
                    files.push(reference(&certificate.file, FileRole::AhabCertificate));
                }
                files.push(reference(&ahab.image, FileRole::SignedData));
            }
        }
        files
    }

    /// Applies `rename` to every file name, for example to replace
    /// `%%CERTS_PATH%%` before resolving the files.
    pub fn rename_files(&mut self, mut rename: impl FnMut(&str) -> String) {
        let mut apply = |file: &mut FileName| file.name = rename(&file.name);
        match self {
            Self::Hab(hab) => {
                for command in &mut hab.commands {
                    match command {
                        HabCommand::InstallSrk { file, .. }
                        | HabCommand::InstallCsfk { file }
                        | HabCommand::InstallKey { file, .. } => apply(file),
                        HabCommand::AuthenticateData { blocks, .. } => {
                            blocks.iter_mut().for_each(|block| apply(&mut block.file));
                        }
                        HabCommand::AuthenticateCsf { .. }
                        | HabCommand::Unlock { .. }
                        | HabCommand::SetEngine { .. } => {}
                    }
                }
            }
            Self::Ahab(ahab) => {
                apply(&mut ahab.srk_table);
                apply(&mut ahab.srk_certificate);
                if let Some(certificate) = &mut ahab.certificate {
                    apply(&mut certificate.file);
                }
                apply(&mut ahab.image);
            }
        }
    }
}

/// A description that could not be parsed, with the 1-based line at fault.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("CSF description line {line}: {kind}")]
pub struct CsfTextError {
    pub line: usize,
    pub kind: CsfTextErrorKind,
}

/// The fault in a CSF description.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CsfTextErrorKind {
    #[error("the description is {len} bytes, more than the {MAX_DESCRIPTION_LEN} accepted")]
    TooLong { len: usize },
    #[error("the description is not valid UTF-8 text")]
    NotUtf8,
    #[error("the description has no sections")]
    Empty,
    #[error("unexpected character {0:?}")]
    UnexpectedCharacter(char),
    #[error("a quoted string is not closed before the end of the line")]
    UnterminatedString,
    #[error("'\\' continues a line only at its end, before any comment")]
    MisplacedContinuation,
    #[error("number {text} does not fit 32 bits")]
    NumberOverflow { text: String },
    #[error("invalid number {text}; write decimal digits or 0x and hexadecimal digits")]
    InvalidNumber { text: String },
    #[error("expected {expected}, found {found}")]
    Expected { expected: &'static str, found: String },
    #[error("key {key} appears before the first [Section]")]
    KeyOutsideSection { key: String },
    #[error("unknown section [{name}]; expected one of {allowed}")]
    UnknownSection { name: String, allowed: &'static str },
    #[error("section [{name}] may appear only once")]
    DuplicateSection { name: &'static str },
    #[error("section [{name}] must come after {after}")]
    SectionOrder { name: &'static str, after: &'static str },
    #[error("missing section [{name}]")]
    MissingSection { name: &'static str },
    #[error("unknown key '{key}' in [{section}]; expected one of {allowed}")]
    UnknownKey {
        section: &'static str,
        key: String,
        allowed: String,
    },
    #[error("key '{key}' appears twice in [{section}]")]
    DuplicateKey { section: &'static str, key: &'static str },
    #[error("[{section}] needs the key '{key}'")]
    MissingKey { section: &'static str, key: &'static str },
    #[error("'{key}' must be {expected}, found {found}")]
    InvalidValue {
        key: &'static str,
        expected: &'static str,
        found: String,
    },
    #[error("'{key}' is {value}, outside {min} to {max}")]
    OutOfRange {
        key: &'static str,
        value: u64,
        min: u64,
        max: u64,
    },
    #[error("'Blocks' lists {count} blocks; at most {MAX_BLOCKS} fit one Authenticate Data command")]
    TooManyBlocks { count: usize },
    #[error("'{key}' = {value} is not supported: {reason}")]
    Unsupported {
        key: &'static str,
        value: String,
        reason: &'static str,
    },
}

/// Parses a CSF description.
pub fn parse(text: &[u8]) -> Result<CsfDescription, CsfTextError> {
    if text.len() > MAX_DESCRIPTION_LEN {
        return Err(error(1, CsfTextErrorKind::TooLong { len: text.len() }));
    }
    let text = std::str::from_utf8(text).map_err(|err| {
        let valid = text.get(..err.valid_up_to()).unwrap_or_default();
        let line = 1 + valid.iter().filter(|&&byte| byte == b'\n').count();
        error(line, CsfTextErrorKind::NotUtf8)
    })?;

    let tokens = lex(text)?;
    let sections = group_sections(&tokens)?;
    let last_line = 1 + text.matches('\n').count();
    let header = sections
        .first()
        .ok_or_else(|| error(last_line, CsfTextErrorKind::Empty))?;
    if header.kind != SectionKind::Header {
        return Err(error(
            header.line,
            CsfTextErrorKind::SectionOrder {
                name: header.kind.name(),
                after: "[Header]",
            },
        ));
    }

    let mut header_keys = Keys::new(header, &HEADER_KEYS)?;
    let target = header_keys.take(KEY_TARGET).map(parse_target).transpose()?;
    if target == Some(Target::Ahab) {
        ahab::parse(header_keys, &sections, last_line).map(CsfDescription::Ahab)
    } else {
        hab::parse(header_keys, &sections, last_line).map(CsfDescription::Hab)
    }
}

fn error(line: usize, kind: CsfTextErrorKind) -> CsfTextError {
    CsfTextError { line, kind }
}

mod ahab;
mod hab;
mod lexer;
mod sections;

use lexer::lex;
use sections::*;

#[cfg(test)]
mod tests;
