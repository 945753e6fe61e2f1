//! Sections, keys and values, checked against what each section accepts.

use super::lexer::{Token, TokenKind};
use super::*;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum SectionKind {
    Header,
    InstallSrk,
    InstallCsfk,
    AuthenticateCsf,
    Unlock,
    InstallKey,
    AuthenticateData,
    SetEngine,
    InstallCertificate,
}

/// Section names as written in CST's documentation.
pub(super) const SECTION_NAMES: &str =
    "[Header], [Install SRK], [Install CSFK], [Authenticate CSF], [Unlock], [Install Key], \
                             [Authenticate Data], [Set Engine], [Install Certificate]";

impl SectionKind {
    pub(super) fn from_normalized(name: &str) -> Option<Self> {
        Some(match name {
            "header" => Self::Header,
            "installsrk" => Self::InstallSrk,
            "installcsfk" => Self::InstallCsfk,
            "authenticatecsf" => Self::AuthenticateCsf,
            "unlock" => Self::Unlock,
            "installkey" => Self::InstallKey,
            "authenticatedata" => Self::AuthenticateData,
            "setengine" => Self::SetEngine,
            "installcertificate" => Self::InstallCertificate,
            _ => return None,
        })
    }

    pub(super) fn name(self) -> &'static str {
        match self {
            Self::Header => "Header",
            Self::InstallSrk => "Install SRK",
            Self::InstallCsfk => "Install CSFK",
            Self::AuthenticateCsf => "Authenticate CSF",
            Self::Unlock => "Unlock",
            Self::InstallKey => "Install Key",
            Self::AuthenticateData => "Authenticate Data",
            Self::SetEngine => "Set Engine",
            Self::InstallCertificate => "Install Certificate",
        }
    }
}

/// One value item: the atoms between two commas.
pub(super) type Item = Vec<Token>;

pub(super) struct Entry {
    /// Key with spaces removed, lower case.
    pub(super) key: String,
    pub(super) line: usize,
    pub(super) items: Vec<Item>,
}

pub(super) struct Section {
    pub(super) kind: SectionKind,
    pub(super) line: usize,
    pub(super) entries: Vec<Entry>,
}

/// Splits the tokens into logical lines and groups them into sections.
pub(super) fn group_sections(tokens: &[Token]) -> Result<Vec<Section>, CsfTextError> {
    let mut sections: Vec<Section> = Vec::new();
    for line in tokens.split(|token| token.kind == TokenKind::EndOfLine) {
        let Some(first) = line.first() else { continue };
        if first.kind == TokenKind::OpenBracket {
            sections.push(parse_section_header(line)?);
            continue;
        }

        let entry = parse_entry(line)?;
        let section = sections.last_mut().ok_or_else(|| {
            error(
                entry.line,
                CsfTextErrorKind::KeyOutsideSection { key: entry.key.clone() },
            )
        })?;
        section.entries.push(entry);
    }
    Ok(sections)
}

pub(super) fn parse_section_header(line: &[Token]) -> Result<Section, CsfTextError> {
    let line_number = line.first().map_or(1, |token| token.line);
    let inner = line.get(1..).unwrap_or_default();
    let close = inner
        .iter()
        .position(|token| token.kind == TokenKind::CloseBracket)
        .ok_or_else(|| expected(line_number, "']' after the section name", line.last()))?;
    let (name_tokens, rest) = inner.split_at(close);
    if let Some(extra) = rest.get(1) {
        return Err(expected(extra.line, "the end of the line after ']'", Some(extra)));
    }

    let name = joined_words(name_tokens).ok_or_else(|| expected(line_number, "a section name", name_tokens.first()))?;
    let kind = SectionKind::from_normalized(&name.to_ascii_lowercase()).ok_or_else(|| {
        error(
            line_number,
            CsfTextErrorKind::UnknownSection {
                name: words_as_written(name_tokens),
                allowed: SECTION_NAMES,
            },
        )
    })?;
    Ok(Section {
        kind,
        line: line_number,
        entries: Vec::new(),
    })
}

pub(super) fn parse_entry(line: &[Token]) -> Result<Entry, CsfTextError> {
    let line_number = line.first().map_or(1, |token| token.line);
    let equals = line
        .iter()
        .position(|token| token.kind == TokenKind::Equals)
        .ok_or_else(|| expected(line_number, "'Key = value' or a [Section]", line.first()))?;
    let (key_tokens, value_tokens) = line.split_at(equals);
    let key =
        joined_words(key_tokens).ok_or_else(|| expected(line_number, "a key name before '='", key_tokens.first()))?;

    let value_tokens = value_tokens.get(1..).unwrap_or_default();
    let mut items = Vec::new();
    for item in value_tokens.split(|token| token.kind == TokenKind::Comma) {
        if item.is_empty() {
            return Err(error(
                line_number,
                CsfTextErrorKind::Expected {
                    expected: "a value before and after each ','",
                    found: "nothing".into(),
                },
            ));
        }
        if let Some(stray) = item.iter().find(|token| !is_atom(&token.kind)) {
            return Err(expected(
                stray.line,
                "a number, a word or a quoted file name",
                Some(stray),
            ));
        }
        items.push(item.to_vec());
    }
    Ok(Entry {
        key: key.to_ascii_lowercase(),
        line: line_number,
        items,
    })
}

pub(super) fn is_atom(kind: &TokenKind) -> bool {
    matches!(
        kind,
        TokenKind::Word(_) | TokenKind::Number(_) | TokenKind::Version(..) | TokenKind::Text(_)
    )
}

/// Joins a run of words without spaces, as CST does for names. Returns
/// `None` when the run is empty or contains something other than words.
pub(super) fn joined_words(tokens: &[Token]) -> Option<String> {
    if tokens.is_empty() {
        return None;
    }
    tokens
        .iter()
        .map(|token| match &token.kind {
            TokenKind::Word(word) => Some(word.as_str()),
            _ => None,
        })
        .collect::<Option<Vec<_>>>()
        .map(|words| words.concat())
}

pub(super) fn words_as_written(tokens: &[Token]) -> String {
    tokens
        .iter()
        .map(|token| match &token.kind {
            TokenKind::Word(word) => word.clone(),
            other => other.to_string(),
        })
        .collect::<Vec<_>>()
        .join(" ")
}

pub(super) fn expected(line: usize, what: &'static str, found: Option<&Token>) -> CsfTextError {
    error(
        found.map_or(line, |token| token.line),
        CsfTextErrorKind::Expected {
            expected: what,
            found: found.map_or_else(|| "nothing".into(), |token| token.kind.to_string()),
        },
    )
}

/// A key that a section accepts: its normalized form and its name as the
/// documentation writes it.
#[derive(Clone, Copy)]
pub(super) struct KeyName {
    pub(super) normalized: &'static str,
    pub(super) display: &'static str,
}

pub(super) const fn key(normalized: &'static str, display: &'static str) -> KeyName {
    KeyName { normalized, display }
}

pub(super) const KEY_TARGET: KeyName = key("target", "Target");
pub(super) const KEY_VERSION: KeyName = key("version", "Version");
pub(super) const KEY_HASH_ALGORITHM: KeyName = key("hashalgorithm", "Hash Algorithm");
pub(super) const KEY_ENGINE: KeyName = key("engine", "Engine");
pub(super) const KEY_ENGINE_CONFIGURATION: KeyName = key("engineconfiguration", "Engine Configuration");
pub(super) const KEY_CERTIFICATE_FORMAT: KeyName = key("certificateformat", "Certificate Format");
pub(super) const KEY_SIGNATURE_FORMAT: KeyName = key("signatureformat", "Signature Format");
pub(super) const KEY_FILE: KeyName = key("file", "File");
pub(super) const KEY_SOURCE_INDEX: KeyName = key("sourceindex", "Source index");
pub(super) const KEY_SOURCE_SET: KeyName = key("sourceset", "Source set");
pub(super) const KEY_SOURCE: KeyName = key("source", "Source");
pub(super) const KEY_REVOCATIONS: KeyName = key("revocations", "Revocations");
pub(super) const KEY_VERIFICATION_INDEX: KeyName = key("verificationindex", "Verification index");
pub(super) const KEY_TARGET_INDEX: KeyName = key("targetindex", "Target index");
pub(super) const KEY_BLOCKS: KeyName = key("blocks", "Blocks");
pub(super) const KEY_FEATURES: KeyName = key("features", "Features");
pub(super) const KEY_UID: KeyName = key("uid", "UID");
pub(super) const KEY_PERMISSIONS: KeyName = key("permissions", "Permissions");
pub(super) const KEY_OFFSETS: KeyName = key("offsets", "Offsets");

pub(super) const HEADER_KEYS: [KeyName; 7] = [
    KEY_TARGET,
    KEY_VERSION,
    KEY_HASH_ALGORITHM,
    KEY_ENGINE,
    KEY_ENGINE_CONFIGURATION,
    KEY_CERTIFICATE_FORMAT,
    KEY_SIGNATURE_FORMAT,
];

/// The entries of one section, checked against the keys it accepts.
pub(super) struct Keys<'a> {
    pub(super) section: &'static str,
    pub(super) line: usize,
    pub(super) entries: Vec<(KeyName, &'a Entry)>,
}

impl<'a> Keys<'a> {
    pub(super) fn new(section: &'a Section, accepted: &[KeyName]) -> Result<Self, CsfTextError> {
        let name = section.kind.name();
        let mut entries: Vec<(KeyName, &Entry)> = Vec::new();
        for entry in &section.entries {
            let known = accepted.iter().find(|key| key.normalized == entry.key).ok_or_else(|| {
                error(
                    entry.line,
                    CsfTextErrorKind::UnknownKey {
                        section: name,
                        key: entry.key.clone(),
                        allowed: allowed_list(accepted),
                    },
                )
            })?;
            if entries.iter().any(|(seen, _)| seen.normalized == known.normalized) {
                return Err(error(
                    entry.line,
                    CsfTextErrorKind::DuplicateKey {
                        section: name,
                        key: known.display,
                    },
                ));
            }
            entries.push((*known, entry));
        }
        Ok(Self {
            section: name,
            line: section.line,
            entries,
        })
    }

    /// Removes and returns the value of `key`, if present.
    pub(super) fn take(&mut self, key: KeyName) -> Option<Value<'a>> {
        let position = self
            .entries
            .iter()
            .position(|(seen, _)| seen.normalized == key.normalized)?;
        let (name, entry) = self.entries.remove(position);
        Some(Value {
            key: name.display,
            line: entry.line,
            items: &entry.items,
        })
    }

    pub(super) fn require(&mut self, key: KeyName) -> Result<Value<'a>, CsfTextError> {
        let section = self.section;
        let line = self.line;
        self.take(key).ok_or_else(|| {
            error(
                line,
                CsfTextErrorKind::MissingKey {
                    section,
                    key: key.display,
                },
            )
        })
    }

    /// Fails on any key that the section accepts in general but that the
    /// caller did not take, such as HAB-only keys in an AHAB header.
    pub(super) fn finish(self, allowed: &str) -> Result<(), CsfTextError> {
        match self.entries.first() {
            Some((name, entry)) => Err(error(
                entry.line,
                CsfTextErrorKind::UnknownKey {
                    section: self.section,
                    key: name.display.to_owned(),
                    allowed: allowed.to_owned(),
                },
            )),
            None => Ok(()),
        }
    }
}

/// Lists the documented names of the accepted keys, for error messages.
pub(super) fn allowed_list(accepted: &[KeyName]) -> String {
    accepted.iter().map(|key| key.display).collect::<Vec<_>>().join(", ")
}

/// The value of one key.
pub(super) struct Value<'a> {
    pub(super) key: &'static str,
    pub(super) line: usize,
    pub(super) items: &'a [Item],
}

impl Value<'_> {
    pub(super) fn invalid(&self, expected: &'static str) -> CsfTextError {
        let found = self
            .items
            .iter()
            .map(|item| {
                item.iter()
                    .map(|token| token.kind.to_string())
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .collect::<Vec<_>>()
            .join(", ");
        error(
            self.line,
            CsfTextErrorKind::InvalidValue {
                key: self.key,
                expected,
                found,
            },
        )
    }

    /// The only item, which must be a single atom.
    pub(super) fn single(&self, expected: &'static str) -> Result<&TokenKind, CsfTextError> {
        match self.items {
            [item] => match item.as_slice() {
                [token] => Ok(&token.kind),
                _ => Err(self.invalid(expected)),
            },
            _ => Err(self.invalid(expected)),
        }
    }

    pub(super) fn number(&self) -> Result<u32, CsfTextError> {
        match self.single("one number")? {
            TokenKind::Number(number) => Ok(*number),
            _ => Err(self.invalid("one number")),
        }
    }

    /// Reads a number from `min` to `max` that fits a byte.
    pub(super) fn byte_in(&self, min: u8, max: u8) -> Result<u8, CsfTextError> {
        let number = self.number()?;
        match u8::try_from(number) {
            Ok(byte) if (min..=max).contains(&byte) => Ok(byte),
            _ => Err(error(
                self.line,
                CsfTextErrorKind::OutOfRange {
                    key: self.key,
                    value: u64::from(number),
                    min: u64::from(min),
                    max: u64::from(max),
                },
            )),
        }
    }

    pub(super) fn file(&self) -> Result<FileName, CsfTextError> {
        match self.single("a quoted file name")? {
            TokenKind::Text(name) if !name.is_empty() => Ok(FileName {
                name: name.clone(),
                line: self.line,
            }),
            _ => Err(self.invalid("a quoted file name")),
        }
    }

    /// Reads a keyword, upper case with the spaces between its words removed.
    pub(super) fn keyword(&self, expected: &'static str) -> Result<String, CsfTextError> {
        match self.items {
            [item] => item_keyword(item).ok_or_else(|| self.invalid(expected)),
            _ => Err(self.invalid(expected)),
        }
    }

    pub(super) fn unsupported(&self, value: String, reason: &'static str) -> CsfTextError {
        error(
            self.line,
            CsfTextErrorKind::Unsupported {
                key: self.key,
                value,
                reason,
            },
        )
    }
}

pub(super) fn item_keyword(item: &[Token]) -> Option<String> {
    joined_words(item).map(|word| word.to_ascii_uppercase())
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Target {
    Hab,
    Ahab,
}

pub(super) fn parse_target(value: Value<'_>) -> Result<Target, CsfTextError> {
    match value.keyword("HAB or AHAB")?.as_str() {
        "HAB" => Ok(Target::Hab),
        "AHAB" => Ok(Target::Ahab),
        _ => Err(value.invalid("HAB or AHAB")),
    }
}

pub(super) fn parse_hash_algorithm(value: Value<'_>) -> Result<HashAlgorithmName, CsfTextError> {
    match value.keyword("sha256")?.as_str() {
        "SHA256" => Ok(HashAlgorithmName::Sha256),
        other @ ("SHA1" | "SHA384" | "SHA512") => {
            Err(value.unsupported(other.to_ascii_lowercase(), "HAB4 signatures are made with SHA-256 only"))
        }
        _ => Err(value.invalid("sha256")),
    }
}

pub(super) fn parse_engine(value: Value<'_>) -> Result<Engine, CsfTextError> {
    let expected = "ANY, CAAM, DCP, SW, RTIC, SAHARA, SNVS or OCOTP";
    Ok(match value.keyword(expected)?.as_str() {
        "ANY" => Engine::Any,
        "RTIC" => Engine::Rtic,
        "SAHARA" => Engine::Sahara,
        "DCP" => Engine::Dcp,
        "CAAM" => Engine::Caam,
        "SNVS" => Engine::Snvs,
        "OCOTP" => Engine::Ocotp,
        "SW" => Engine::Sw,
        _ => return Err(value.invalid(expected)),
    })
}

/// Reads an engine that can hash and verify, for the Header, Authenticate
/// and Set Engine sections.
pub(super) fn parse_authentication_engine(value: Value<'_>) -> Result<Engine, CsfTextError> {
    let line = value.line;
    let key = value.key;
    let engine = parse_engine(value)?;
    if !engine.can_authenticate() {
        return Err(error(
            line,
            CsfTextErrorKind::InvalidValue {
                key,
                expected: "an engine that can verify signatures: ANY, CAAM, DCP, SW, RTIC or SAHARA",
                found: format!("{engine:?}").to_ascii_uppercase(),
            },
        ));
    }
    Ok(engine)
}

/// `Engine Configuration`: only 0, the default configuration, is
/// supported; CST's named swap configurations are rejected.
pub(super) fn parse_engine_configuration(value: Value<'_>) -> Result<u8, CsfTextError> {
    match value.single("0")? {
        TokenKind::Number(0) => Ok(0),
        other => Err(value.unsupported(other.to_string(), "only the default configuration 0 is supported")),
    }
}

pub(super) fn check_keyword(
    value: Value<'_>,
    accepted: &'static str,
    reason: &'static str,
) -> Result<(), CsfTextError> {
    let keyword = value.keyword(accepted)?;
    if keyword.eq_ignore_ascii_case(accepted) {
        Ok(())
    } else {
        Err(value.unsupported(keyword, reason))
    }
}
