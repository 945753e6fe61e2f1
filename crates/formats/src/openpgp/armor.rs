//! ASCII armor (RFC 4880 §6.2) as GnuPG 2.2 writes it:
//!
//! ```text
//! -----BEGIN PGP PUBLIC KEY BLOCK-----
//! (empty line: GnuPG 2.2 writes no armor headers)
//! base64 of the packets, 64 characters a line
//! =<base64 of the 3-byte CRC-24 of the packets>
//! -----END PGP PUBLIC KEY BLOCK-----
//! ```

use base64::engine::general_purpose::STANDARD;
use base64::Engine;

use super::error::ArmorError;

/// Base64 characters per line, as GnuPG writes them.
const LINE_LEN: usize = 64;

const BEGIN_PREFIX: &str = "-----BEGIN ";
const END_PREFIX: &str = "-----END ";
const DASHES: &str = "-----";
/// First character of the checksum line.
const CHECKSUM_PREFIX: char = '=';
/// Base64 characters of the checksum, which encode its 3 bytes.
const CHECKSUM_CHARS: usize = 4;

/// CRC-24 of RFC 4880 §6.1: initial value and generator polynomial.
const CRC24_INIT: u32 = 0x00b7_04ce;
const CRC24_POLY: u32 = 0x0186_4cfb;
/// Bit 24, which leaves the register when a shifted CRC-24 overflows.
const CRC24_OVERFLOW: u32 = 0x0100_0000;
const CRC24_MASK: u32 = 0x00ff_ffff;

/// Content type of an armored block, named by its header line.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArmorKind {
    /// `PGP PUBLIC KEY BLOCK`: a transferable public key.
    PublicKeyBlock,
    /// `PGP SIGNATURE`: a detached signature.
    Signature,
}

impl ArmorKind {
    /// Returns the label between `-----BEGIN ` and `-----`.
    pub fn label(self) -> &'static str {
        match self {
            Self::PublicKeyBlock => "PGP PUBLIC KEY BLOCK",
            Self::Signature => "PGP SIGNATURE",
        }
    }

    fn from_label(label: &str) -> Option<Self> {
        [Self::PublicKeyBlock, Self::Signature]
            .into_iter()
            .find(|kind| kind.label() == label)
    }
}

/// Armors `data` as GnuPG does, with LF line ends.
pub fn armor(kind: ArmorKind, data: &[u8]) -> String {
    let encoded = STANDARD.encode(data);
    let [_, crc_high, crc_middle, crc_low] = crc24(data).to_be_bytes();

    let mut out = String::with_capacity(encoded.len() + encoded.len() / LINE_LEN + 100);
    out.push_str(&format!("{BEGIN_PREFIX}{}{DASHES}\n\n", kind.label()));
    for line in encoded.as_bytes().chunks(LINE_LEN) {
        // Base64 output is ASCII, so every chunk is valid UTF-8.
        out.push_str(std::str::from_utf8(line).unwrap_or_default());
        out.push('\n');
    }
    out.push(CHECKSUM_PREFIX);
    out.push_str(&STANDARD.encode([crc_high, crc_middle, crc_low]));
    out.push_str(&format!("\n{END_PREFIX}{}{DASHES}\n", kind.label()));
    out
}

/// Removes the armor from the first block in `text`, which must be of kind
/// `expected`, and returns the binary data.
///
/// Text before the header line is skipped. Armor headers (`Key: value`) are
/// skipped. The checksum line is optional, as RFC 4880 allows, but when it is
/// present it must match.
pub fn dearmor(text: &str, expected: ArmorKind) -> Result<Vec<u8>, ArmorError> {
    let mut lines = text.lines().map(str::trim_end).zip(1..);

    let kind = loop {
        let (line, _) = lines.next().ok_or(ArmorError::MissingBeginLine)?;
        if let Some(label) = line
            .strip_prefix(BEGIN_PREFIX)
            .and_then(|rest| rest.strip_suffix(DASHES))
        {
            break ArmorKind::from_label(label).ok_or_else(|| ArmorError::UnsupportedLabel {
                label: label.to_owned(),
            })?;
        }
    };
    if kind != expected {
        return Err(ArmorError::WrongLabel {
            expected: expected.label(),
            found: kind.label(),
        });
    }
    let end_line = format!("{END_PREFIX}{}{DASHES}", kind.label());
    let missing_end = ArmorError::MissingEndLine { label: kind.label() };

    let mut encoded = String::new();
    let mut last_body_line = 0;
    let mut checksum = None;
    let mut in_headers = true;
    loop {
        let (line, number) = lines.next().ok_or_else(|| missing_end.clone())?;
        if line == end_line {
            break;
        }
        if checksum.is_some() {
            return Err(missing_end);
        }

        if in_headers {
            in_headers = false;
            if line.is_empty() {
                continue;
            }
            // Base64 has no ':', so a line with one is an armor header.
            if line.contains(':') {
                in_headers = true;
                continue;
            }
        }

        if let Some(crc) = line.strip_prefix(CHECKSUM_PREFIX) {
            checksum = Some(decode_checksum(crc, number)?);
        } else if line.bytes().all(is_base64_char) {
            encoded.push_str(line);
            last_body_line = number;
        } else {
            return Err(ArmorError::InvalidBase64 { line: number });
        }
    }

    let data = STANDARD
        .decode(&encoded)
        .map_err(|_| ArmorError::InvalidBase64 { line: last_body_line })?;
    if let Some(expected) = checksum {
        let actual = crc24(&data);
        if actual != expected {
            return Err(ArmorError::ChecksumMismatch { expected, actual });
        }
    }
    Ok(data)
}

fn decode_checksum(text: &str, line: usize) -> Result<u32, ArmorError> {
    if text.len() != CHECKSUM_CHARS {
        return Err(ArmorError::InvalidChecksum { line });
    }
    let bytes = STANDARD
        .decode(text)
        .map_err(|_| ArmorError::InvalidChecksum { line })?;
    match bytes.as_slice() {
        &[high, middle, low] => Ok(u32::from_be_bytes([0, high, middle, low])),
        _ => Err(ArmorError::InvalidChecksum { line }),
    }
}

fn is_base64_char(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'+' | b'/' | b'=')
}

/// CRC-24 of RFC 4880 §6.1, computed bit by bit.
pub(crate) fn crc24(data: &[u8]) -> u32 {
    let mut crc = CRC24_INIT;
    for &byte in data {
        crc ^= u32::from(byte) << 16;
        for _ in 0..8 {
            crc <<= 1;
            if crc & CRC24_OVERFLOW != 0 {
                crc ^= CRC24_POLY;
            }
        }
    }
    crc & CRC24_MASK
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc24_known_values() {
        assert_eq!(crc24(b""), CRC24_INIT);
        // CRC-24/OPENPGP check value for "123456789".
        assert_eq!(crc24(b"123456789"), 0x0021_cf02);
    }

    #[test]
    fn armor_layout_matches_gnupg() {
        let data: Vec<u8> = (0..=255).collect();
        let text = armor(ArmorKind::PublicKeyBlock, &data);
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "-----BEGIN PGP PUBLIC KEY BLOCK-----");
        assert_eq!(lines[1], "");
        assert!(lines[2..7].iter().all(|line| line.len() == LINE_LEN));
        assert_eq!(lines[7].len(), 344 - 5 * LINE_LEN);
        assert!(lines[8].starts_with('='));
        assert_eq!(lines[8].len(), 5);
        assert_eq!(lines[9], "-----END PGP PUBLIC KEY BLOCK-----");
        assert!(text.ends_with("-----\n"));
    }

    #[test]
    fn dearmor_reverses_armor() {
        let data: Vec<u8> = (0..1000u32).map(|value| (value * 7) as u8).collect();
        let text = armor(ArmorKind::Signature, &data);
        assert_eq!(dearmor(&text, ArmorKind::Signature).unwrap(), data);
    }

    #[test]
    fn dearmor_skips_headers_and_crlf() {
        let text = "some text\r\n-----BEGIN PGP SIGNATURE-----\r\nVersion: GnuPG v2\r\nComment: x\r\n\r\nAQID\r\n=AAAA\r\n-----END PGP SIGNATURE-----\r\n";
        let err = dearmor(text, ArmorKind::Signature).unwrap_err();
        assert!(matches!(err, ArmorError::ChecksumMismatch { .. }));

        let checksum = STANDARD.encode(&crc24(&[1, 2, 3]).to_be_bytes()[1..]);
        let text = text.replace("=AAAA", &format!("={checksum}"));
        assert_eq!(dearmor(&text, ArmorKind::Signature).unwrap(), [1, 2, 3]);
    }

    #[test]
    fn dearmor_accepts_missing_checksum() {
        let text = "-----BEGIN PGP SIGNATURE-----\n\nAQID\n-----END PGP SIGNATURE-----\n";
        assert_eq!(dearmor(text, ArmorKind::Signature).unwrap(), [1, 2, 3]);
    }

    #[test]
    fn dearmor_rejects_wrong_label() {
        let text = armor(ArmorKind::Signature, b"x");
        let err = dearmor(&text, ArmorKind::PublicKeyBlock).unwrap_err();
        assert_eq!(
            err,
            ArmorError::WrongLabel {
                expected: "PGP PUBLIC KEY BLOCK",
                found: "PGP SIGNATURE"
            }
        );

        let text = "-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nAQID\n-----END PGP PRIVATE KEY BLOCK-----\n";
        assert!(matches!(
            dearmor(text, ArmorKind::PublicKeyBlock),
            Err(ArmorError::UnsupportedLabel { .. })
        ));
    }

    #[test]
    fn dearmor_rejects_missing_lines() {
        assert_eq!(
            dearmor("AQID\n", ArmorKind::Signature).unwrap_err(),
            ArmorError::MissingBeginLine
        );
        let text = "-----BEGIN PGP SIGNATURE-----\n\nAQID\n";
        assert!(matches!(
            dearmor(text, ArmorKind::Signature),
            Err(ArmorError::MissingEndLine { .. })
        ));
        let text = "-----BEGIN PGP SIGNATURE-----\n\nAQID\n=AAAA\nAQID\n-----END PGP SIGNATURE-----\n";
        assert!(matches!(
            dearmor(text, ArmorKind::Signature),
            Err(ArmorError::MissingEndLine { .. })
        ));
    }

    #[test]
    fn dearmor_rejects_bad_base64() {
        let text = "-----BEGIN PGP SIGNATURE-----\n\nAQID\nAQ*D\n-----END PGP SIGNATURE-----\n";
        assert_eq!(
            dearmor(text, ArmorKind::Signature).unwrap_err(),
            ArmorError::InvalidBase64 { line: 4 }
        );
        let text = "-----BEGIN PGP SIGNATURE-----\n\nAQI\n-----END PGP SIGNATURE-----\n";
        assert_eq!(
            dearmor(text, ArmorKind::Signature).unwrap_err(),
            ArmorError::InvalidBase64 { line: 3 }
        );
        let text = "-----BEGIN PGP SIGNATURE-----\n\nAQID\n=AAA\n-----END PGP SIGNATURE-----\n";
        assert_eq!(
            dearmor(text, ArmorKind::Signature).unwrap_err(),
            ArmorError::InvalidChecksum { line: 4 }
        );
    }
}
