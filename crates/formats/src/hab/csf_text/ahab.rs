//! The sections of an AHAB description (`[Header] Target = AHAB`).

use super::lexer::{Token, TokenKind};
use super::sections::*;
use super::*;

const INSTALL_SRK_KEYS: [KeyName; 5] = [KEY_FILE, KEY_SOURCE, KEY_SOURCE_INDEX, KEY_SOURCE_SET, KEY_REVOCATIONS];
const INSTALL_CERTIFICATE_KEYS: [KeyName; 2] = [KEY_FILE, KEY_PERMISSIONS];
const AUTHENTICATE_DATA_KEYS: [KeyName; 2] = [KEY_FILE, KEY_OFFSETS];

pub(super) fn parse(
    mut header_keys: Keys<'_>,
    sections: &[Section],
    last_line: usize,
) -> Result<AhabDescription, CsfTextError> {
    let version = header_keys.require(KEY_VERSION)?;
    if !matches!(version.single("1.0")?, TokenKind::Version(1, 0)) {
        return Err(version.unsupported(
            version.single("1.0")?.to_string(),
            "only AHAB version 1.0 containers (i.MX8, i.MX8ULP, i.MX9) are supported",
        ));
    }
    header_keys.finish("Target, Version (the other header keys apply to HAB4 only)")?;

    let mut install_srk = None;
    let mut certificate = None;
    let mut authenticate = None;
    for section in sections.get(1..).unwrap_or_default() {
        let duplicate = || {
            error(
                section.line,
                CsfTextErrorKind::DuplicateSection {
                    name: section.kind.name(),
                },
            )
        };
        match section.kind {
            SectionKind::InstallSrk if install_srk.is_none() => install_srk = Some(parse_install_srk(section)?),
            SectionKind::InstallCertificate if certificate.is_none() => {
                certificate = Some(parse_install_certificate(section)?);
            }
            SectionKind::AuthenticateData if authenticate.is_none() => {
                authenticate = Some(parse_authenticate_data(section)?);
            }
            SectionKind::InstallSrk | SectionKind::InstallCertificate | SectionKind::AuthenticateData => {
                return Err(duplicate())
            }
            _ => {
                return Err(error(
                    section.line,
                    CsfTextErrorKind::UnknownSection {
                        name: section.kind.name().to_owned(),
                        allowed: "[Install SRK], [Install Certificate] or [Authenticate Data] in an AHAB description",
                    },
                ))
            }
        }
    }

    let missing = |name| error(last_line, CsfTextErrorKind::MissingSection { name });
    let srk = install_srk.ok_or_else(|| missing("Install SRK"))?;
    let (image, container_offset, signature_block_offset) = authenticate.ok_or_else(|| missing("Authenticate Data"))?;
    Ok(AhabDescription {
        srk_table: srk.table,
        srk_certificate: srk.certificate,
        source_index: srk.source_index,
        source_set: srk.source_set,
        revocations: srk.revocations,
        certificate,
        image,
        container_offset,
        signature_block_offset,
    })
}

struct InstallSrk {
    table: FileName,
    certificate: FileName,
    source_index: u8,
    source_set: SrkSet,
    revocations: u8,
}

fn parse_install_srk(section: &Section) -> Result<InstallSrk, CsfTextError> {
    let mut keys = Keys::new(section, &INSTALL_SRK_KEYS)?;
    let table = keys.require(KEY_FILE)?.file()?;
    let certificate = keys.require(KEY_SOURCE)?.file()?;
    let source_index = keys.require(KEY_SOURCE_INDEX)?.byte_in(0, MAX_SRK_INDEX)?;
    let set = keys.require(KEY_SOURCE_SET)?;
    let source_set = match set.keyword("OEM or NXP")?.as_str() {
        "OEM" => SrkSet::Oem,
        "NXP" => SrkSet::Nxp,
        _ => return Err(set.invalid("OEM or NXP")),
    };
    let revocations = keys.require(KEY_REVOCATIONS)?.byte_in(0, MAX_AHAB_REVOCATIONS)?;
    Ok(InstallSrk {
        table,
        certificate,
        source_index,
        source_set,
        revocations,
    })
}

fn parse_install_certificate(section: &Section) -> Result<AhabCertificate, CsfTextError> {
    let mut keys = Keys::new(section, &INSTALL_CERTIFICATE_KEYS)?;
    let file = keys.require(KEY_FILE)?.file()?;
    let permissions = keys
        .take(KEY_PERMISSIONS)
        .map(|value| value.byte_in(0, u8::MAX))
        .transpose()?
        .unwrap_or(0);
    Ok(AhabCertificate { file, permissions })
}

fn parse_authenticate_data(section: &Section) -> Result<(FileName, u32, u32), CsfTextError> {
    let mut keys = Keys::new(section, &AUTHENTICATE_DATA_KEYS)?;
    let file = keys.require(KEY_FILE)?.file()?;
    let offsets = keys.require(KEY_OFFSETS)?;
    let expected = "two numbers: container offset and signature block offset";
    match offsets.items {
        [item] => match item.as_slice() {
            [Token {
                kind: TokenKind::Number(container),
                ..
            }, Token {
                kind: TokenKind::Number(signature_block),
                ..
            }] => Ok((file, *container, *signature_block)),
            _ => Err(offsets.invalid(expected)),
        },
        _ => Err(offsets.invalid(expected)),
    }
}
