//! gpg-agent's secret key files, `private-keys-v1.d/<KEYGRIP>.key`, for RSA
//! keys (GnuPG 2.2 `agent/keyformat.txt`, `common/name-value.c`).
//!
//! Two formats exist. GnuPG 2.2.40 writes the extended format, RFC 822-like
//! `Name: value` entries whose `Key:` value is an S-expression in advanced
//! form, folded onto lines that start with a space:
//!
//! ```text
//! Created: 20261204T194255
//! Key: (private-key (rsa (n #00BECE52EAEB017650EC1D54DA28578B5B8223EF62AF
//!  A10C90D88F733BB047E2094CBF3A32EC029F33E7AD84CF8A4581D7B9C020211B35278E
//!  ...#)(e #010001#)(d #...#)(p #...#)(q #...#)(u #...#)))
//! ```
//!
//! Older versions, and 2.2 with `disable-extended-key-format`, write the
//! bare canonical S-expression, `(11:private-key(3:rsa(1:n257:...)...))`.
//!
//! Both hold the RSA key as libgcrypt does: n, e, d, primes p < q, and
//! u = p^-1 mod q. A key imported with `gpg --import` and not used since is
//! stored as `protected-private-key` with its OpenPGP secret key packet
//! inside (`openpgp-native`). When that packet has no passphrase
//! (`(protection none)`), the reader takes the values from it. Keys with a
//! passphrase and keys on smartcards are rejected.

use std::fmt;

use zeroize::{Zeroize, Zeroizing};

use super::sexp::{self, Sexp, SexpError};
use super::time::{from_isotime, to_isotime};

/// Maximum key file length in bytes. GnuPG 2.2 makes RSA keys of at most
/// 8192 bits (with `--enable-large-rsa`), and an unprotected RSA-16384 key would
/// take about 15 KB in the extended format, estimated from its hex digits.
pub const MAX_KEY_FILE_LEN: usize = 256 * 1024;

/// Line length at which GnuPG folds entries, counting the name on the first
/// line but not the leading space of continuation lines
/// (`assert_raw_value` in `common/name-value.c`).
const FOLD_LINE_LEN: usize = 70;
/// How far back from the fold point GnuPG looks for a space to break at.
const FOLD_SPACE_SEARCH: usize = 30;

const KEY_NAME: &str = "Key:";
const CREATED_NAME: &str = "Created:";

/// List names (`agent/keyformat.txt`).
const PRIVATE_KEY: &[u8] = b"private-key";
const PROTECTED_PRIVATE_KEY: &[u8] = b"protected-private-key";
const SHADOWED_PRIVATE_KEY: &[u8] = b"shadowed-private-key";
const RSA: &[u8] = b"rsa";
const PROTECTED: &[u8] = b"protected";
const OPENPGP_NATIVE: &[u8] = b"openpgp-native";
const OPENPGP_PRIVATE_KEY: &[u8] = b"openpgp-private-key";
const OPENPGP_ALGORITHM_RSA: &[u8] = b"RSA";
const PROTECTION_NONE: &[u8] = b"none";
/// `skey` marker of a value stored in the clear; `e` marks an encrypted one.
const SKEY_PLAIN: &[u8] = b"_";

/// Names of the RSA parameters, in the order GnuPG writes them.
const RSA_PARAMETERS: [&str; 6] = ["n", "e", "d", "p", "q", "u"];

/// The six RSA values of a GnuPG or OpenPGP secret key, each an unsigned
/// big-endian integer without leading zeros. The primes follow the OpenPGP
/// convention: p < q and u = p^-1 mod q. Every buffer is zeroed on drop.
pub struct RsaPrivateComponents {
    /// Modulus, p * q.
    pub n: Vec<u8>,
    /// Public exponent.
    pub e: Vec<u8>,
    /// Private exponent.
    pub d: Vec<u8>,
    /// Smaller prime.
    pub p: Vec<u8>,
    /// Larger prime.
    pub q: Vec<u8>,
    /// Multiplicative inverse of p modulo q.
    pub u: Vec<u8>,
}

impl RsaPrivateComponents {
    /// Length of the modulus in bits.
    pub fn modulus_bits(&self) -> usize {
        match self.n.first() {
            Some(top) => self.n.len() * 8 - top.leading_zeros() as usize,
            None => 0,
        }
    }

    fn values(&self) -> [&[u8]; 6] {
        [&self.n, &self.e, &self.d, &self.p, &self.q, &self.u]
    }
}

impl Drop for RsaPrivateComponents {
    fn drop(&mut self) {
        for value in [
            &mut self.n,
            &mut self.e,
            &mut self.d,
            &mut self.p,
            &mut self.q,
            &mut self.u,
        ] {
            value.zeroize();
        }
    }
}

impl fmt::Debug for RsaPrivateComponents {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // The private values never appear in debug output.
        f.debug_struct("RsaPrivateComponents")
            .field("modulus_bits", &self.modulus_bits())
            .finish_non_exhaustive()
    }
}

/// Format of a key file that was read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PrivateKeyFormat {
    /// `Name: value` entries with a `Key:` entry, GnuPG 2.2's default.
    Extended,
    /// A bare canonical S-expression, as GnuPG 2.0 and 2.1 write it.
    Canonical,
}

/// An RSA secret key read from a key file.
#[derive(Debug)]
pub struct PrivateKeyFile {
    pub components: RsaPrivateComponents,
    /// Value of the `Created:` entry in Unix seconds, when there is one.
    pub created: Option<u64>,
    pub format: PrivateKeyFormat,
}

/// Error from reading a key file. Line numbers count from 1; S-expression
/// offsets count bytes from the start of the `Key:` value, or of the file in
/// the canonical format.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PrivateKeyError {
    #[error("the key file is {len} bytes long, over the maximum of {max}")]
    TooLong { len: usize, max: usize },
    #[error("line {line} of the key file is neither a 'Name: value' entry, an indented continuation nor a comment")]
    MissingColon { line: usize },
    #[error(
        "entry name on line {line} is invalid; names start with a letter and contain only letters, digits and '-'"
    )]
    InvalidName { line: usize },
    #[error("the key file has no 'Key:' entry")]
    MissingKey,
    #[error("line {line} holds a second 'Key:' entry; a key file holds one key")]
    DuplicateKey { line: usize },
    #[error("'Created:' on line {line} is not a time of the form YYYYMMDDTHHMMSS")]
    InvalidCreated { line: usize },
    #[error("the key is not a valid S-expression: {0}")]
    Sexp(#[from] SexpError),
    #[error("the key file holds a '{found}' list; expected private-key")]
    NotPrivateKey { found: String },
    #[error("the key is protected by a passphrase; remove the passphrase (gpg --passwd, empty passphrase) before importing it")]
    Protected,
    #[error("the key is stored on a smartcard; the file holds only a reference to it")]
    Shadowed,
    #[error("the key is a '{algorithm}' key; only RSA keys are supported")]
    UnsupportedAlgorithm { algorithm: String },
    #[error("the RSA parameter '{name}' is missing")]
    MissingParameter { name: &'static str },
    #[error("the RSA parameter '{name}' appears twice")]
    DuplicateParameter { name: &'static str },
    #[error("the RSA parameter '{name}' is not an (name value) list with one atom value")]
    InvalidParameter { name: &'static str },
    #[error("the RSA parameter '{name}' is zero")]
    ZeroParameter { name: &'static str },
    #[error("the RSA parameter '{name}' differs between the public part and the OpenPGP secret key packet")]
    MismatchedParameter { name: &'static str },
    #[error("the OpenPGP secret key checksum is {actual}, but the file records {expected}; the key is damaged")]
    ChecksumMismatch { expected: u16, actual: u16 },
}

/// Error from writing a key file.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PrivateKeyBuildError {
    #[error("the RSA parameter '{name}' is zero")]
    ZeroParameter { name: &'static str },
    #[error("creation time {created} is after year 9999 and does not fit GnuPG's time format")]
    CreatedOutOfRange { created: u64 },
}

/// Reads a key file in either format.
pub fn parse_private_key(data: &[u8]) -> Result<PrivateKeyFile, PrivateKeyError> {
    if data.len() > MAX_KEY_FILE_LEN {
        return Err(PrivateKeyError::TooLong {
            len: data.len(),
            max: MAX_KEY_FILE_LEN,
        });
    }

    // gpg-agent distinguishes the formats by the first byte.
    if data.first() == Some(&b'(') {
        let sexp = sexp::parse(data)?;
        return Ok(PrivateKeyFile {
            components: rsa_components(&sexp)?,
            created: None,
            format: PrivateKeyFormat::Canonical,
        });
    }

    let entries = parse_entries(data)?;
    let mut keys = entries.iter().filter(|entry| entry.name.eq_ignore_ascii_case(KEY_NAME));
    let key = keys.next().ok_or(PrivateKeyError::MissingKey)?;
    if let Some(second) = keys.next() {
        return Err(PrivateKeyError::DuplicateKey { line: second.line });
    }
    let created = entries
        .iter()
        .find(|entry| entry.name.eq_ignore_ascii_case(CREATED_NAME))
        .map(|entry| from_isotime(&entry.value).ok_or(PrivateKeyError::InvalidCreated { line: entry.line }))
        .transpose()?;

    let sexp = sexp::parse(&key.value)?;
    Ok(PrivateKeyFile {
        components: rsa_components(&sexp)?,
        created,
        format: PrivateKeyFormat::Extended,
    })
}

/// Writes an unprotected RSA key in the extended format, byte for byte as
/// gpg-agent 2.2.40 writes it: an optional `Created:` entry (`created` in
/// Unix seconds), then the `Key:` entry folded at 70 columns.
pub fn write_extended_private_key(
    components: &RsaPrivateComponents,
    created: Option<u64>,
) -> Result<Zeroizing<Vec<u8>>, PrivateKeyBuildError> {
    let mut out = Zeroizing::new(Vec::new());
    if let Some(created) = created {
        let isotime = to_isotime(created).ok_or(PrivateKeyBuildError::CreatedOutOfRange { created })?;
        write_entry(&mut out, CREATED_NAME, isotime.as_bytes());
    }

    let mut parameters = vec![Sexp::atom(RSA)];
    for (name, value) in RSA_PARAMETERS.into_iter().zip(components.values()) {
        let value = strip_leading_zeros(value);
        if value.is_empty() {
            return Err(PrivateKeyBuildError::ZeroParameter { name });
        }
        parameters.push(Sexp::List(vec![
            Sexp::atom(name.as_bytes()),
            Sexp::atom(&signed_integer(value)),
        ]));
    }
    let key = Sexp::List(vec![Sexp::atom(PRIVATE_KEY), Sexp::List(parameters)]);
    write_entry(&mut out, KEY_NAME, &sexp::to_advanced(&key));
    Ok(out)
}

/// One `Name: value` entry with its continuation lines joined.
struct Entry {
    /// Name with its colon, as GnuPG keeps it.
    name: String,
    value: Zeroizing<Vec<u8>>,
    /// Line of the name, counted from 1.
    line: usize,
}

/// Splits the extended format into entries, skipping comments and blank
/// lines (`do_nvc_parse` in `common/name-value.c`).
fn parse_entries(data: &[u8]) -> Result<Vec<Entry>, PrivateKeyError> {
    let mut entries = Vec::new();
    let mut current: Option<(String, usize, Vec<&[u8]>)> = None;

    let mut lines: Vec<&[u8]> = data.split(|&byte| byte == b'\n').collect();
    if lines.last().is_some_and(|line| line.is_empty()) {
        lines.pop();
    }
    for (index, line) in lines.into_iter().enumerate() {
        let trimmed = trim_start(line);
        let is_continuation = line.first().is_some_and(|&byte| byte == b' ' || byte == b'\t') || trimmed.is_empty();
        if let Some((_, _, raw_lines)) = current.as_mut().filter(|_| is_continuation) {
            raw_lines.push(line);
            continue;
        }

        if let Some((name, line, raw_lines)) = current.take() {
            entries.push(Entry {
                name,
                value: join_value(&raw_lines),
                line,
            });
        }
        if trimmed.is_empty() || trimmed.first() == Some(&b'#') {
            continue;
        }

        let line_number = index + 1;
        let colon = trimmed
            .iter()
            .position(|&byte| byte == b':')
            .ok_or(PrivateKeyError::MissingColon { line: line_number })?;
        let (name, value) = trimmed.split_at(colon + 1);
        if !is_valid_name(name) {
            return Err(PrivateKeyError::InvalidName { line: line_number });
        }
        let name = String::from_utf8_lossy(name).into_owned();
        current = Some((name, line_number, vec![value]));
    }

    if let Some((name, line, raw_lines)) = current {
        entries.push(Entry {
            name,
            value: join_value(&raw_lines),
            line,
        });
    }
    Ok(entries)
}

/// Joins the raw lines of a value as GnuPG's `assert_value` does: each
/// line loses one leading space and all trailing whitespace, and a blank
/// line stands for a line break.
fn join_value(raw_lines: &[&[u8]]) -> Zeroizing<Vec<u8>> {
    let mut value = Zeroizing::new(Vec::new());
    let mut after_blank_line = false;
    for line in raw_lines {
        let line = if after_blank_line {
            trim_start(line)
        } else {
            match line.split_first() {
                Some((&first, rest)) if is_space(first) => rest,
                _ => line,
            }
        };
        let line = trim_end(line);
        if line.is_empty() {
            value.push(b'\n');
            after_blank_line = true;
        } else {
            value.extend_from_slice(line);
            after_blank_line = false;
        }
    }
    value
}

/// Checks an entry name: a letter, then letters, digits and hyphens, then a
/// colon.
fn is_valid_name(name: &[u8]) -> bool {
    let Some((b':', body)) = name.split_last() else {
        return false;
    };
    let Some((first, rest)) = body.split_first() else {
        return false;
    };
    first.is_ascii_alphabetic() && rest.iter().all(|&byte| byte.is_ascii_alphanumeric() || byte == b'-')
}

/// Writes `name` and `value` folded as GnuPG's `assert_raw_value` does:
/// lines of at most 70 characters after the leading space (the first line
/// also contains the name), broken at the last space within 30 characters of
/// the limit, or hard at the limit when there is none. The space broken at
/// starts the next line.
fn write_entry(out: &mut Vec<u8>, name: &str, value: &[u8]) {
    out.extend_from_slice(name.as_bytes());
    let mut rest = value;
    let mut line_len = FOLD_LINE_LEN.saturating_sub(name.len());
    while !rest.is_empty() {
        let amount = if rest.len() <= line_len {
            rest.len()
        } else {
            let search_start = line_len.saturating_sub(FOLD_SPACE_SEARCH);
            (search_start..line_len)
                .rev()
                .find(|&index| rest.get(index).copied().is_some_and(is_space))
                .unwrap_or(line_len)
        };
        let (line, remainder) = rest.split_at(amount);
        out.push(b' ');
        out.extend_from_slice(line);
        out.push(b'\n');
        rest = remainder;
        line_len = FOLD_LINE_LEN;
    }
}

/// Reads the RSA values from a `private-key` list, or from the clear-text
/// OpenPGP packet inside an `openpgp-native` `protected-private-key` list.
fn rsa_components(sexp: &Sexp) -> Result<RsaPrivateComponents, PrivateKeyError> {
    let items = sexp.as_list().unwrap_or_default();
    let name = sexp.name().unwrap_or_default();
    let not_private_key = || PrivateKeyError::NotPrivateKey { found: printable(name) };

    let algorithm = items.get(1).filter(|item| item.as_list().is_some());
    match name {
        PRIVATE_KEY => rsa_parameters(algorithm.ok_or_else(not_private_key)?),
        PROTECTED_PRIVATE_KEY => openpgp_native(algorithm.ok_or_else(not_private_key)?),
        SHADOWED_PRIVATE_KEY => Err(PrivateKeyError::Shadowed),
        _ => Err(not_private_key()),
    }
}

/// Reads `(rsa (n ...)(e ...)(d ...)(p ...)(q ...)(u ...))`. Parameters may
/// come in any order, and lists with other names are ignored, as libgcrypt
/// does.
fn rsa_parameters(algorithm: &Sexp) -> Result<RsaPrivateComponents, PrivateKeyError> {
    check_rsa(algorithm)?;
    let [n, e, d, p, q, u] = RSA_PARAMETERS.map(|name| parameter(algorithm, name));
    Ok(RsaPrivateComponents {
        n: n?,
        e: e?,
        d: d?,
        p: p?,
        q: q?,
        u: u?,
    })
}

fn check_rsa(algorithm: &Sexp) -> Result<(), PrivateKeyError> {
    match algorithm.name() {
        Some(RSA) => Ok(()),
        other => Err(PrivateKeyError::UnsupportedAlgorithm {
            algorithm: printable(other.unwrap_or_default()),
        }),
    }
}

/// Returns the value of the one `(name value)` list in `algorithm`.
fn parameter(algorithm: &Sexp, name: &'static str) -> Result<Vec<u8>, PrivateKeyError> {
    let mut matches = algorithm
        .as_list()
        .unwrap_or_default()
        .iter()
        .filter(|item| item.name() == Some(name.as_bytes()));
    let list = matches.next().ok_or(PrivateKeyError::MissingParameter { name })?;
    if matches.next().is_some() {
        return Err(PrivateKeyError::DuplicateParameter { name });
    }

    let value = match list.as_list() {
        Some([_, value]) => value.as_atom(),
        _ => None,
    };
    let value = value.ok_or(PrivateKeyError::InvalidParameter { name })?;
    unsigned_value(value, name)
}

fn unsigned_value(value: &[u8], name: &'static str) -> Result<Vec<u8>, PrivateKeyError> {
    let value = strip_leading_zeros(value);
    if value.is_empty() {
        return Err(PrivateKeyError::ZeroParameter { name });
    }
    Ok(value.to_vec())
}

/// Reads the values of an imported key that gpg-agent has not converted
/// yet (`agent/cvt-openpgp.c`):
///
/// ```text
/// (rsa (n N)(e E)
///   (protected openpgp-native
///     (openpgp-private-key (version V)(algo RSA)
///       (skey _ N _ E _ D _ P _ Q _ U)(csum SUM)(protection none))))
/// ```
///
/// Each `skey` value follows a marker, `_` in the clear or `e` encrypted.
fn openpgp_native(algorithm: &Sexp) -> Result<RsaPrivateComponents, PrivateKeyError> {
    check_rsa(algorithm)?;
    let protected = algorithm.find(PROTECTED).and_then(Sexp::as_list).unwrap_or_default();
    let packet = match protected {
        [_, mode, packet, ..] if mode.as_atom() == Some(OPENPGP_NATIVE) => packet,
        _ => return Err(PrivateKeyError::Protected),
    };
    if packet.name() != Some(OPENPGP_PRIVATE_KEY) {
        return Err(PrivateKeyError::Protected);
    }
    let protection = packet.find(b"protection").and_then(Sexp::as_list);
    if protection.and_then(|list| list.get(1)).and_then(Sexp::as_atom) != Some(PROTECTION_NONE) {
        return Err(PrivateKeyError::Protected);
    }
    let algo = packet.find(b"algo").and_then(Sexp::as_list);
    let algo = algo
        .and_then(|list| list.get(1))
        .and_then(Sexp::as_atom)
        .unwrap_or_default();
    if algo != OPENPGP_ALGORITHM_RSA {
        return Err(PrivateKeyError::UnsupportedAlgorithm {
            algorithm: printable(algo),
        });
    }

    let values = skey_values(packet)?;
    let [n, e, d, p, q, u] = values;
    for (name, outer) in [("n", &n), ("e", &e)] {
        if parameter(algorithm, name)? != *outer {
            return Err(PrivateKeyError::MismatchedParameter { name });
        }
    }
    let components = RsaPrivateComponents { n, e, d, p, q, u };
    check_openpgp_checksum(packet, &components)?;
    Ok(components)
}

/// Reads `(skey _ N _ E _ D _ P _ Q _ U)`, failing on encrypted values.
fn skey_values(packet: &Sexp) -> Result<[Vec<u8>; 6], PrivateKeyError> {
    let skey = packet.find(b"skey").and_then(Sexp::as_list).unwrap_or_default();
    let mut pairs = skey.get(1..).unwrap_or_default().chunks(2);
    let mut values: [Vec<u8>; 6] = Default::default();
    for (name, slot) in RSA_PARAMETERS.into_iter().zip(values.iter_mut()) {
        let pair = pairs.next().ok_or(PrivateKeyError::MissingParameter { name })?;
        let (marker, value) = match pair {
            [marker, value] => (marker.as_atom(), value.as_atom()),
            _ => (None, None),
        };
        if marker != Some(SKEY_PLAIN) {
            return Err(PrivateKeyError::Protected);
        }
        let value = value.ok_or(PrivateKeyError::InvalidParameter { name })?;
        *slot = unsigned_value(value, name)?;
    }
    Ok(values)
}

/// Checks `(csum SUM)`: the 16-bit sum of the bytes of the secret values d,
/// p, q, u as OpenPGP MPIs (RFC 4880 §5.5.3). A missing sum reads as 0, as
/// in gpg-agent.
fn check_openpgp_checksum(packet: &Sexp, components: &RsaPrivateComponents) -> Result<(), PrivateKeyError> {
    let recorded = packet.find(b"csum").and_then(Sexp::as_list);
    let recorded = recorded.and_then(|list| list.get(1)).and_then(Sexp::as_atom);
    let expected = recorded
        .and_then(|text| std::str::from_utf8(text).ok())
        .and_then(|text| text.parse::<u32>().ok())
        .map_or(0, |sum| (sum & 0xffff) as u16);

    let mut actual = 0u16;
    for value in [&components.d, &components.p, &components.q, &components.u] {
        let bits = value.len() * 8 - value.first().map_or(0, |top| top.leading_zeros() as usize);
        // Values over 65535 bits have no OpenPGP MPI form; their sum fails.
        let bits = u16::try_from(bits).unwrap_or(u16::MAX);
        for byte in bits.to_be_bytes().iter().chain(value.iter()) {
            actual = actual.wrapping_add(u16::from(*byte));
        }
    }
    if actual != expected {
        return Err(PrivateKeyError::ChecksumMismatch { expected, actual });
    }
    Ok(())
}

fn strip_leading_zeros(value: &[u8]) -> &[u8] {
    let start = value.iter().position(|&byte| byte != 0).unwrap_or(value.len());
    value.get(start..).unwrap_or_default()
}

/// Encodes a positive integer in libgcrypt's standard format: a zero byte in
/// front when the top bit is set.
fn signed_integer(magnitude: &[u8]) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::with_capacity(magnitude.len() + 1));
    if magnitude.first().is_some_and(|&top| top & 0x80 != 0) {
        out.push(0x00);
    }
    out.extend_from_slice(magnitude);
    out
}

/// Returns an atom as text for an error message, cut to 32 characters.
fn printable(atom: &[u8]) -> String {
    String::from_utf8_lossy(atom).chars().take(32).collect()
}

fn is_space(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

fn trim_start(line: &[u8]) -> &[u8] {
    let start = line.iter().position(|&byte| !is_space(byte)).unwrap_or(line.len());
    line.get(start..).unwrap_or_default()
}

fn trim_end(line: &[u8]) -> &[u8] {
    let end = line
        .iter()
        .rposition(|&byte| !is_space(byte))
        .map_or(0, |index| index + 1);
    line.get(..end).unwrap_or_default()
}

#[cfg(test)]
mod tests;
