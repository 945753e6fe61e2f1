//! The sections of a HAB4 description and the order CST enforces.

use super::lexer::{Token, TokenKind};
use super::sections::*;
use super::*;

const INSTALL_SRK_KEYS: [KeyName; 4] = [KEY_FILE, KEY_SOURCE_INDEX, KEY_HASH_ALGORITHM, KEY_SOURCE_SET];
const INSTALL_CSFK_KEYS: [KeyName; 2] = [KEY_FILE, KEY_CERTIFICATE_FORMAT];
const AUTHENTICATE_CSF_KEYS: [KeyName; 3] = [KEY_ENGINE, KEY_ENGINE_CONFIGURATION, KEY_SIGNATURE_FORMAT];
const UNLOCK_KEYS: [KeyName; 3] = [KEY_ENGINE, KEY_FEATURES, KEY_UID];
const INSTALL_KEY_KEYS: [KeyName; 5] = [
    KEY_FILE,
    KEY_VERIFICATION_INDEX,
    KEY_TARGET_INDEX,
    KEY_HASH_ALGORITHM,
    KEY_CERTIFICATE_FORMAT,
];
const AUTHENTICATE_DATA_KEYS: [KeyName; 6] = [
    KEY_VERIFICATION_INDEX,
    KEY_BLOCKS,
    KEY_ENGINE,
    KEY_ENGINE_CONFIGURATION,
    KEY_SIGNATURE_FORMAT,
    KEY_HASH_ALGORITHM,
];
const SET_ENGINE_KEYS: [KeyName; 3] = [KEY_HASH_ALGORITHM, KEY_ENGINE, KEY_ENGINE_CONFIGURATION];

/// The last mandatory section seen, which decides where the next section
/// may appear (the order CST's `check_command_sequence` enforces).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Stage {
    Header,
    InstallSrk,
    InstallCsfk,
    AuthenticateCsf,
}

pub(super) fn parse(
    mut header_keys: Keys<'_>,
    sections: &[Section],
    last_line: usize,
) -> Result<HabDescription, CsfTextError> {
    let header = parse_header(&mut header_keys)?;
    header_keys.finish(&allowed_list(&HEADER_KEYS))?;

    let mut stage = Stage::Header;
    let mut commands = Vec::new();
    for section in sections.get(1..).unwrap_or_default() {
        check_order(section, &mut stage, &commands)?;
        commands.push(parse_command(section)?);
    }

    let missing = match stage {
        Stage::Header => Some("Install SRK"),
        Stage::InstallSrk => Some("Install CSFK"),
        Stage::InstallCsfk => Some("Authenticate CSF"),
        Stage::AuthenticateCsf => None,
    };
    if let Some(name) = missing {
        return Err(error(last_line, CsfTextErrorKind::MissingSection { name }));
    }
    Ok(HabDescription { header, commands })
}

fn parse_header(keys: &mut Keys<'_>) -> Result<HabHeader, CsfTextError> {
    let version = keys.require(KEY_VERSION)?;
    let version = match version.single("4.x, such as 4.3")? {
        TokenKind::Version(4, minor @ 0..=15) => HabVersion {
            major: 4,
            minor: u8::try_from(*minor).unwrap_or_default(),
        },
        _ => return Err(version.invalid("4.x, such as 4.3")),
    };

    let hash_algorithm = keys
        .take(KEY_HASH_ALGORITHM)
        .map(parse_hash_algorithm)
        .transpose()?
        .unwrap_or(HashAlgorithmName::Sha256);
    let engine = keys
        .take(KEY_ENGINE)
        .map(parse_authentication_engine)
        .transpose()?
        .unwrap_or(Engine::Any);
    let engine_configuration = keys
        .take(KEY_ENGINE_CONFIGURATION)
        .map(parse_engine_configuration)
        .transpose()?
        .unwrap_or(0);
    if let Some(value) = keys.take(KEY_CERTIFICATE_FORMAT) {
        check_keyword(value, "X509", "HAB4 installs X.509 certificates only")?;
    }
    if let Some(value) = keys.take(KEY_SIGNATURE_FORMAT) {
        check_keyword(value, "CMS", "HAB4 verifies CMS signatures only")?;
    }

    Ok(HabHeader {
        version,
        hash_algorithm,
        engine,
        engine_configuration,
    })
}

fn check_order(section: &Section, stage: &mut Stage, commands: &[HabCommand]) -> Result<(), CsfTextError> {
    let order_error = |after| {
        error(
            section.line,
            CsfTextErrorKind::SectionOrder {
                name: section.kind.name(),
                after,
            },
        )
    };
    let once = |at: Stage, next: Stage, after: &'static str, stage: &mut Stage| {
        if *stage > at {
            Err(error(
                section.line,
                CsfTextErrorKind::DuplicateSection {
                    name: section.kind.name(),
                },
            ))
        } else if *stage < at {
            Err(order_error(after))
        } else {
            *stage = next;
            Ok(())
        }
    };

    match section.kind {
        SectionKind::Header => Err(error(
            section.line,
            CsfTextErrorKind::DuplicateSection { name: "Header" },
        )),
        SectionKind::InstallSrk => once(Stage::Header, Stage::InstallSrk, "[Header]", stage),
        SectionKind::InstallCsfk => once(Stage::InstallSrk, Stage::InstallCsfk, "[Install SRK]", stage),
        SectionKind::AuthenticateCsf => once(Stage::InstallCsfk, Stage::AuthenticateCsf, "[Install CSFK]", stage),
        SectionKind::Unlock | SectionKind::InstallKey if *stage < Stage::AuthenticateCsf => {
            Err(order_error("[Authenticate CSF]"))
        }
        SectionKind::AuthenticateData if *stage < Stage::AuthenticateCsf => Err(order_error("[Authenticate CSF]")),
        SectionKind::AuthenticateData
            if !commands
                .iter()
                .any(|command| matches!(command, HabCommand::InstallKey { .. })) =>
        {
            Err(order_error("an [Install Key] that installs its verification key"))
        }
        SectionKind::Unlock | SectionKind::InstallKey | SectionKind::AuthenticateData | SectionKind::SetEngine => {
            Ok(())
        }
        SectionKind::InstallCertificate => Err(error(
            section.line,
            CsfTextErrorKind::UnknownSection {
                name: section.kind.name().to_owned(),
                allowed: "[Install SRK], [Install CSFK], [Authenticate CSF], [Unlock], [Install Key], \
                          [Authenticate Data] or [Set Engine] in a HAB4 description",
            },
        )),
    }
}

fn parse_command(section: &Section) -> Result<HabCommand, CsfTextError> {
    match section.kind {
        SectionKind::InstallSrk => install_srk(section),
        SectionKind::InstallCsfk => {
            let mut keys = Keys::new(section, &INSTALL_CSFK_KEYS)?;
            let file = keys.require(KEY_FILE)?.file()?;
            if let Some(value) = keys.take(KEY_CERTIFICATE_FORMAT) {
                check_keyword(value, "X509", "HAB4 installs X.509 certificates only")?;
            }
            Ok(HabCommand::InstallCsfk { file })
        }
        SectionKind::AuthenticateCsf => {
            let mut keys = Keys::new(section, &AUTHENTICATE_CSF_KEYS)?;
            let (engine, engine_configuration) = engine_keys(&mut keys)?;
            if let Some(value) = keys.take(KEY_SIGNATURE_FORMAT) {
                check_keyword(value, "CMS", "HAB4 verifies CMS signatures only")?;
            }
            Ok(HabCommand::AuthenticateCsf {
                engine,
                engine_configuration,
            })
        }
        SectionKind::Unlock => unlock(section),
        SectionKind::InstallKey => install_key(section),
        SectionKind::AuthenticateData => authenticate_data(section),
        SectionKind::SetEngine => {
            let mut keys = Keys::new(section, &SET_ENGINE_KEYS)?;
            let hash_algorithm = parse_hash_algorithm(keys.require(KEY_HASH_ALGORITHM)?)?;
            let engine = parse_authentication_engine(keys.require(KEY_ENGINE)?)?;
            let engine_configuration = keys
                .take(KEY_ENGINE_CONFIGURATION)
                .map(parse_engine_configuration)
                .transpose()?;
            Ok(HabCommand::SetEngine {
                hash_algorithm,
                engine,
                engine_configuration,
            })
        }
        // check_order already rejected these.
        SectionKind::Header | SectionKind::InstallCertificate => Err(error(
            section.line,
            CsfTextErrorKind::DuplicateSection {
                name: section.kind.name(),
            },
        )),
    }
}

fn install_srk(section: &Section) -> Result<HabCommand, CsfTextError> {
    let mut keys = Keys::new(section, &INSTALL_SRK_KEYS)?;
    let file = keys.require(KEY_FILE)?.file()?;
    let source_index = keys.require(KEY_SOURCE_INDEX)?.byte_in(0, MAX_SRK_INDEX)?;
    let hash_algorithm = keys
        .take(KEY_HASH_ALGORITHM)
        .map(parse_hash_algorithm)
        .transpose()?
        .unwrap_or(HashAlgorithmName::Sha256);
    if let Some(value) = keys.take(KEY_SOURCE_SET) {
        check_keyword(value, "OEM", "only the OEM SRK set is supported for HAB4")?;
    }
    Ok(HabCommand::InstallSrk {
        file,
        source_index,
        hash_algorithm,
    })
}

fn unlock(section: &Section) -> Result<HabCommand, CsfTextError> {
    let mut keys = Keys::new(section, &UNLOCK_KEYS)?;
    let engine_value = keys.require(KEY_ENGINE)?;
    let engine_line = engine_value.line;
    let engine = parse_engine(engine_value)?;
    let features = keys
        .take(KEY_FEATURES)
        .map(|value| features(&value, engine))
        .transpose()?;
    let uid = keys.take(KEY_UID).map(|value| uid(&value)).transpose()?;

    let needs_uid = features.is_some_and(|bits| bits & OCOTP_FEATURES_NEEDING_UID != 0);
    if engine == Engine::Ocotp && needs_uid && uid.is_none() {
        return Err(error(
            section.line,
            CsfTextErrorKind::MissingKey {
                section: "Unlock",
                key: "UID",
            },
        ));
    }
    if uid.is_some() && !(engine == Engine::Ocotp && needs_uid) {
        return Err(error(
            engine_line,
            CsfTextErrorKind::InvalidValue {
                key: "UID",
                expected: "only with Engine = OCOTP and Features FIELD RETURN, SCS or JTAG",
                found: "a UID".into(),
            },
        ));
    }
    Ok(HabCommand::Unlock { engine, features, uid })
}

/// OCOTP features that unlock only for the device whose UID is given.
const OCOTP_FEATURES_NEEDING_UID: u32 = 0x01 | 0x04 | 0x08;

/// ORs the feature keywords (or numbers) of an Unlock section.
fn features(value: &Value<'_>, engine: Engine) -> Result<u32, CsfTextError> {
    let (allowed, expected): (&[(&str, u32)], &'static str) = match engine {
        Engine::Caam => (
            &[("MID", 0x01), ("RNG", 0x02), ("MFG", 0x04)],
            "MID, RNG or MFG for CAAM",
        ),
        Engine::Snvs => (&[("LPSWR", 0x01), ("ZMKWRITE", 0x02)], "LP SWR or ZMK WRITE for SNVS"),
        Engine::Ocotp => (
            &[
                ("FIELDRETURN", 0x01),
                ("SRKREVOKE", 0x02),
                ("SCS", 0x04),
                ("JTAG", 0x08),
            ],
            "FIELD RETURN, SRK REVOKE, SCS or JTAG for OCOTP",
        ),
        _ => {
            return Err(error(
                value.line,
                CsfTextErrorKind::InvalidValue {
                    key: "Engine",
                    expected: "CAAM, SNVS or OCOTP, the engines that Unlock applies to",
                    found: format!("{engine:?}").to_ascii_uppercase(),
                },
            ))
        }
    };

    let mut bits = 0;
    for item in value.items {
        let bit = match item.as_slice() {
            [Token {
                kind: TokenKind::Number(number),
                ..
            }] => *number,
            _ => item_keyword(item)
                .and_then(|word| allowed.iter().find(|(name, _)| *name == word).map(|(_, bit)| *bit))
                .ok_or_else(|| value.invalid(expected))?,
        };
        bits |= bit;
    }
    Ok(bits)
}

fn uid(value: &Value<'_>) -> Result<[u8; UNLOCK_UID_LEN], CsfTextError> {
    let expected = "8 bytes separated by ',', such as 0x01, 0x23, 0x45, 0x67, 0x89, 0xab, 0xcd, 0xef";
    let bytes = value
        .items
        .iter()
        .map(|item| match item.as_slice() {
            [Token {
                kind: TokenKind::Number(number),
                ..
            }] => u8::try_from(*number).ok(),
            _ => None,
        })
        .collect::<Option<Vec<u8>>>()
        .ok_or_else(|| value.invalid(expected))?;
    bytes.try_into().map_err(|_| value.invalid(expected))
}

fn install_key(section: &Section) -> Result<HabCommand, CsfTextError> {
    let mut keys = Keys::new(section, &INSTALL_KEY_KEYS)?;
    let file = keys.require(KEY_FILE)?.file()?;
    let verification = keys.require(KEY_VERIFICATION_INDEX)?;
    let verification_index = verification.byte_in(0, MAX_IMAGE_KEY_SLOT)?;
    if verification_index == 1 {
        return Err(verification.invalid("0 (the SRK) or the slot of an installed key, 2 to 4"));
    }
    let target_index = keys
        .require(KEY_TARGET_INDEX)?
        .byte_in(MIN_IMAGE_KEY_SLOT, MAX_IMAGE_KEY_SLOT)?;
    let hash_algorithm = keys.take(KEY_HASH_ALGORITHM).map(parse_hash_algorithm).transpose()?;
    if let Some(value) = keys.take(KEY_CERTIFICATE_FORMAT) {
        check_keyword(value, "X509", "HAB4 installs X.509 certificates only")?;
    }
    Ok(HabCommand::InstallKey {
        file,
        verification_index,
        target_index,
        hash_algorithm,
    })
}

fn authenticate_data(section: &Section) -> Result<HabCommand, CsfTextError> {
    let mut keys = Keys::new(section, &AUTHENTICATE_DATA_KEYS)?;
    let verification_index = keys
        .require(KEY_VERIFICATION_INDEX)?
        .byte_in(MIN_IMAGE_KEY_SLOT, MAX_IMAGE_KEY_SLOT)?;
    let blocks = blocks(&keys.require(KEY_BLOCKS)?)?;
    let (engine, engine_configuration) = engine_keys(&mut keys)?;
    if let Some(value) = keys.take(KEY_SIGNATURE_FORMAT) {
        check_keyword(value, "CMS", "HAB4 verifies CMS signatures only")?;
    }
    if let Some(value) = keys.take(KEY_HASH_ALGORITHM) {
        parse_hash_algorithm(value)?;
    }
    Ok(HabCommand::AuthenticateData {
        verification_index,
        engine,
        engine_configuration,
        blocks,
    })
}

fn blocks(value: &Value<'_>) -> Result<Vec<Block>, CsfTextError> {
    if value.items.len() > MAX_BLOCKS {
        return Err(error(
            value.line,
            CsfTextErrorKind::TooManyBlocks {
                count: value.items.len(),
            },
        ));
    }

    let expected = "blocks of the form: address offset length \"file\", separated by ','";
    value
        .items
        .iter()
        .map(|item| match item.as_slice() {
            [Token {
                kind: TokenKind::Number(address),
                ..
            }, Token {
                kind: TokenKind::Number(offset),
                ..
            }, Token {
                kind: TokenKind::Number(length),
                ..
            }, Token {
                kind: TokenKind::Text(name),
                line,
            }] if !name.is_empty() => Ok(Block {
                address: *address,
                offset: *offset,
                length: *length,
                file: FileName {
                    name: name.clone(),
                    line: *line,
                },
            }),
            _ => Err(value.invalid(expected)),
        })
        .collect()
}

type EngineKeys = (Option<Engine>, Option<u8>);

fn engine_keys(keys: &mut Keys<'_>) -> Result<EngineKeys, CsfTextError> {
    let engine = keys.take(KEY_ENGINE).map(parse_authentication_engine).transpose()?;
    let configuration = keys
        .take(KEY_ENGINE_CONFIGURATION)
        .map(parse_engine_configuration)
        .transpose()?;
    Ok((engine, configuration))
}
