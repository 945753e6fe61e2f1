//! S-expressions as libgcrypt 1.10 reads and writes them (`src/sexp.c`).
//!
//! The reader takes the canonical form (`(3:rsa(1:n3:...))`) and the
//! advanced form (`(rsa (n #00BE...#))`) with every atom encoding
//! libgcrypt's `gcry_sexp_sscan` accepts:
//!
//! ```text
//! token          [A-Za-z-./_:*+=][A-Za-z0-9-./_:*+=]*
//! verbatim       <decimal length>:<bytes>
//! hex            #<hex digits and whitespace>#
//! quoted string  "<text with \b \t \v \n \f \r \" \' \\ \ooo \xHH escapes>"
//! base64         |<base64>|
//! ```
//!
//! A decimal length may also precede a hex, quoted or base64 atom, where
//! libgcrypt ignores it. Display hints (`[hint]atom`) are rejected: no key
//! file carries them.
//!
//! The writer produces the single-line advanced form that gpg-agent stores
//! in `Key:` entries: libgcrypt's `GCRYSEXP_FMT_ADVANCED` output with the
//! line breaks and indentation removed as GnuPG's `nvc_set_private_key`
//! does, so `(private-key (rsa (n #00BE...#)(e #010001#)...))`.

use zeroize::Zeroizing;

/// Maximum nesting of lists. A key that `gpg --import` stored nests five
/// deep (`protected-private-key`, `rsa`, `protected`, `openpgp-private-key`,
/// `skey`), so 16 leaves room and stops stack exhaustion on hostile input.
pub(crate) const MAX_DEPTH: usize = 16;

/// Maximum atom length in bytes, the most libgcrypt stores in one atom (its
/// `DATALEN` is 16 bits).
pub(crate) const MAX_ATOM_LEN: usize = 0xffff;

/// Characters that may follow the first character of a token.
const TOKEN_SPECIALS: &[u8] = b"-./_:*+=";

/// Error from reading an S-expression. Offsets count bytes from the start of
/// the S-expression text.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SexpError {
    #[error("the S-expression ends at offset {offset:#x} inside {context}")]
    UnexpectedEnd { offset: usize, context: &'static str },
    #[error("')' at offset {offset:#x} has no matching '('")]
    UnmatchedClose { offset: usize },
    #[error("list at offset {offset:#x} is nested deeper than {max} levels")]
    TooDeep { offset: usize, max: usize },
    #[error("atom at offset {offset:#x} is {len} bytes long, over the maximum of {max}")]
    AtomTooLong { offset: usize, len: u64, max: usize },
    #[error("byte {byte:#04x} at offset {offset:#x} is not valid in {context}")]
    InvalidCharacter {
        offset: usize,
        byte: u8,
        context: &'static str,
    },
    #[error("hex atom at offset {offset:#x} has an odd number of digits")]
    OddHexDigits { offset: usize },
    #[error("escape sequence at offset {offset:#x} in a quoted string is invalid")]
    InvalidEscape { offset: usize },
    #[error("base64 atom at offset {offset:#x} is not valid base64")]
    InvalidBase64 { offset: usize },
    #[error("length prefix at offset {offset:#x} is not followed by ':', '\"', '#' or '|'")]
    InvalidLengthPrefix { offset: usize },
    #[error("display hint at offset {offset:#x} is not supported; key files have none")]
    DisplayHint { offset: usize },
    #[error("{len} bytes follow the S-expression that ends at offset {offset:#x}")]
    TrailingData { offset: usize, len: usize },
    #[error("the S-expression at offset {offset:#x} is not a list")]
    NotAList { offset: usize },
}

/// A parsed S-expression. Atoms are zeroed when dropped, since key files
/// keep secret values in them.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Sexp {
    Atom(Zeroizing<Vec<u8>>),
    List(Vec<Sexp>),
}

impl Sexp {
    pub(crate) fn atom(bytes: &[u8]) -> Self {
        Self::Atom(Zeroizing::new(bytes.to_vec()))
    }

    pub(crate) fn as_atom(&self) -> Option<&[u8]> {
        match self {
            Self::Atom(bytes) => Some(bytes),
            Self::List(_) => None,
        }
    }

    pub(crate) fn as_list(&self) -> Option<&[Sexp]> {
        match self {
            Self::Atom(_) => None,
            Self::List(items) => Some(items),
        }
    }

    /// Returns the first element of a list when it is an atom, the name by
    /// which libgcrypt looks lists up.
    pub(crate) fn name(&self) -> Option<&[u8]> {
        self.as_list()?.first()?.as_atom()
    }

    /// Returns the first element of this list that is a list named `name`.
    pub(crate) fn find(&self, name: &[u8]) -> Option<&Sexp> {
        self.as_list()?.iter().find(|item| item.name() == Some(name))
    }
}

/// Reads one list, with only whitespace around it.
pub(crate) fn parse(text: &[u8]) -> Result<Sexp, SexpError> {
    let mut parser = Parser { text, pos: 0 };
    parser.skip_whitespace();
    let start = parser.pos;
    if parser.peek() != Some(b'(') {
        return Err(SexpError::NotAList { offset: start });
    }

    let sexp = parser.list(0)?;
    let end = parser.pos;
    parser.skip_whitespace();
    if parser.pos < text.len() {
        return Err(SexpError::TrailingData {
            offset: end,
            len: text.len() - end,
        });
    }
    Ok(sexp)
}

struct Parser<'a> {
    text: &'a [u8],
    pos: usize,
}

impl Parser<'_> {
    fn peek(&self) -> Option<u8> {
        self.text.get(self.pos).copied()
    }

    fn next_byte(&mut self, context: &'static str) -> Result<u8, SexpError> {
        let byte = self.peek().ok_or(SexpError::UnexpectedEnd {
            offset: self.pos,
            context,
        })?;
        self.pos += 1;
        Ok(byte)
    }

    fn skip_whitespace(&mut self) {
        while self.peek().is_some_and(is_whitespace) {
            self.pos += 1;
        }
    }

    fn list(&mut self, depth: usize) -> Result<Sexp, SexpError> {
        if depth >= MAX_DEPTH {
            return Err(SexpError::TooDeep {
                offset: self.pos,
                max: MAX_DEPTH,
            });
        }
        self.pos += 1;

        let mut items = Vec::new();
        loop {
            self.skip_whitespace();
            match self.peek() {
                None => {
                    return Err(SexpError::UnexpectedEnd {
                        offset: self.pos,
                        context: "a list",
                    })
                }
                Some(b')') => {
                    self.pos += 1;
                    return Ok(Sexp::List(items));
                }
                Some(b'(') => items.push(self.list(depth + 1)?),
                Some(_) => items.push(Sexp::Atom(self.atom()?)),
            }
        }
    }

    fn atom(&mut self) -> Result<Zeroizing<Vec<u8>>, SexpError> {
        let offset = self.pos;
        match self.peek() {
            Some(b'#') => self.hex(),
            Some(b'"') => self.quoted(),
            Some(b'|') => self.base64(),
            Some(b'[') => Err(SexpError::DisplayHint { offset }),
            Some(byte) if byte.is_ascii_digit() => self.length_prefixed(),
            Some(byte) if byte.is_ascii_alphabetic() || TOKEN_SPECIALS.contains(&byte) => Ok(self.token()),
            Some(byte) => Err(SexpError::InvalidCharacter {
                offset,
                byte,
                context: "an S-expression",
            }),
            None => Err(SexpError::UnexpectedEnd {
                offset,
                context: "a list",
            }),
        }
    }

    fn token(&mut self) -> Zeroizing<Vec<u8>> {
        let start = self.pos;
        while self.peek().is_some_and(is_token_char) {
            self.pos += 1;
        }
        Zeroizing::new(self.text.get(start..self.pos).unwrap_or_default().to_vec())
    }

    /// Reads `<length>:<bytes>`, or a length before a hex, quoted or base64
    /// atom, which libgcrypt ignores.
    fn length_prefixed(&mut self) -> Result<Zeroizing<Vec<u8>>, SexpError> {
        let offset = self.pos;
        let mut len = 0u64;
        while let Some(digit) = self.peek().filter(u8::is_ascii_digit) {
            len = len
                .checked_mul(10)
                .and_then(|len| len.checked_add(u64::from(digit - b'0')))
                .ok_or(SexpError::AtomTooLong {
                    offset,
                    len: u64::MAX,
                    max: MAX_ATOM_LEN,
                })?;
            self.pos += 1;
        }

        match self.peek() {
            Some(b':') => self.pos += 1,
            Some(b'#' | b'"' | b'|') => return self.atom(),
            Some(_) => return Err(SexpError::InvalidLengthPrefix { offset: self.pos }),
            None => {
                return Err(SexpError::UnexpectedEnd {
                    offset: self.pos,
                    context: "a length prefix",
                })
            }
        }

        let too_long = SexpError::AtomTooLong {
            offset,
            len,
            max: MAX_ATOM_LEN,
        };
        let len = usize::try_from(len).map_err(|_| too_long.clone())?;
        if len > MAX_ATOM_LEN {
            return Err(too_long);
        }
        let end = self.pos.checked_add(len).ok_or(too_long)?;
        let bytes = self.text.get(self.pos..end).ok_or(SexpError::UnexpectedEnd {
            offset: self.text.len(),
            context: "a verbatim atom",
        })?;
        self.pos = end;
        Ok(Zeroizing::new(bytes.to_vec()))
    }

    /// Reads `#...#`: pairs of hex digits, with whitespace allowed anywhere.
    fn hex(&mut self) -> Result<Zeroizing<Vec<u8>>, SexpError> {
        let offset = self.pos;
        self.pos += 1;

        let mut bytes = Zeroizing::new(Vec::new());
        let mut high_nibble = None;
        loop {
            let byte = self.next_byte("a hex atom")?;
            if byte == b'#' {
                break;
            }
            if is_whitespace(byte) {
                continue;
            }
            let nibble = hex_value(byte).ok_or(SexpError::InvalidCharacter {
                offset: self.pos - 1,
                byte,
                context: "a hex atom",
            })?;
            match high_nibble.take() {
                None => high_nibble = Some(nibble),
                Some(high) => {
                    check_atom_len(offset, bytes.len() + 1)?;
                    bytes.push((high << 4) | nibble);
                }
            }
        }

        if high_nibble.is_some() {
            return Err(SexpError::OddHexDigits { offset });
        }
        Ok(bytes)
    }

    /// Reads `"..."` and resolves its escapes.
    fn quoted(&mut self) -> Result<Zeroizing<Vec<u8>>, SexpError> {
        let offset = self.pos;
        self.pos += 1;

        let mut bytes = Zeroizing::new(Vec::new());
        loop {
            let byte = match self.next_byte("a quoted string")? {
                b'"' => break,
                b'\\' => match self.escape()? {
                    Some(byte) => byte,
                    None => continue,
                },
                byte => byte,
            };
            check_atom_len(offset, bytes.len() + 1)?;
            bytes.push(byte);
        }
        Ok(bytes)
    }

    /// Reads the escape after a backslash. Returns `None` for an escaped line
    /// break, which adds no byte.
    fn escape(&mut self) -> Result<Option<u8>, SexpError> {
        let offset = self.pos - 1;
        let invalid = SexpError::InvalidEscape { offset };
        let byte = match self.next_byte("a quoted string")? {
            b'b' => 0x08,
            b't' => b'\t',
            b'v' => 0x0b,
            b'n' => b'\n',
            b'f' => 0x0c,
            b'r' => b'\r',
            byte @ (b'"' | b'\'' | b'\\') => byte,
            line_break @ (b'\r' | b'\n') => {
                let pair = if line_break == b'\r' { b'\n' } else { b'\r' };
                if self.peek() == Some(pair) {
                    self.pos += 1;
                }
                return Ok(None);
            }
            b'x' => {
                let high = self.peek().and_then(hex_value).ok_or(invalid.clone())?;
                self.pos += 1;
                let low = self.peek().and_then(hex_value).ok_or(invalid)?;
                self.pos += 1;
                (high << 4) | low
            }
            first @ b'0'..=b'7' => {
                let second = self.peek().filter(|byte| matches!(byte, b'0'..=b'7'));
                let third = self.text.get(self.pos + 1).filter(|byte| matches!(byte, b'0'..=b'7'));
                let (Some(second), Some(&third)) = (second, third) else {
                    return Err(invalid);
                };
                self.pos += 2;
                let value = u32::from(first - b'0') * 64 + u32::from(second - b'0') * 8 + u32::from(third - b'0');
                u8::try_from(value).map_err(|_| invalid)?
            }
            _ => return Err(invalid),
        };
        Ok(Some(byte))
    }

    /// Reads `|...|`, standard base64 with padding.
    fn base64(&mut self) -> Result<Zeroizing<Vec<u8>>, SexpError> {
        use base64::Engine;

        let offset = self.pos;
        self.pos += 1;
        let start = self.pos;
        loop {
            match self.next_byte("a base64 atom")? {
                b'|' => break,
                byte if byte.is_ascii_alphanumeric() || matches!(byte, b'+' | b'/' | b'=') => {}
                byte => {
                    return Err(SexpError::InvalidCharacter {
                        offset: self.pos - 1,
                        byte,
                        context: "a base64 atom",
                    })
                }
            }
        }

        let encoded = self.text.get(start..self.pos - 1).unwrap_or_default();
        check_atom_len(offset, encoded.len() / 4 * 3)?;
        let bytes = base64::engine::general_purpose::STANDARD
            .decode(encoded)
            .map_err(|_| SexpError::InvalidBase64 { offset })?;
        Ok(Zeroizing::new(bytes))
    }
}

fn check_atom_len(offset: usize, len: usize) -> Result<(), SexpError> {
    if len > MAX_ATOM_LEN {
        return Err(SexpError::AtomTooLong {
            offset,
            len: len as u64,
            max: MAX_ATOM_LEN,
        });
    }
    Ok(())
}

/// Whitespace as libgcrypt and GnuPG's `ascii_isspace` define it.
fn is_whitespace(byte: u8) -> bool {
    matches!(byte, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

fn is_token_char(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || TOKEN_SPECIALS.contains(&byte)
}

fn hex_value(byte: u8) -> Option<u8> {
    char::from(byte).to_digit(16).and_then(|value| u8::try_from(value).ok())
}

/// Encodes `sexp` in the single-line advanced form of gpg-agent's `Key:`
/// entries.
///
/// libgcrypt writes a space after an atom that is not last in its list and
/// starts every nested list on a new indented line. GnuPG then turns the
/// line breaks into spaces and drops whitespace that follows whitespace or a
/// parenthesis. What remains is one space between an atom and what follows
/// it, and nothing after a closing parenthesis.
pub(crate) fn to_advanced(sexp: &Sexp) -> Zeroizing<Vec<u8>> {
    let mut out = Zeroizing::new(Vec::new());
    write_advanced(&mut out, sexp);
    out
}

fn write_advanced(out: &mut Vec<u8>, sexp: &Sexp) {
    match sexp {
        Sexp::Atom(bytes) => write_atom(out, bytes),
        Sexp::List(items) => {
            out.push(b'(');
            let mut items = items.iter().peekable();
            while let Some(item) = items.next() {
                write_advanced(out, item);
                if matches!(item, Sexp::Atom(_)) && items.peek().is_some() {
                    out.push(b' ');
                }
            }
            out.push(b')');
        }
    }
}

/// Writes an atom in the encoding libgcrypt's `suitable_encoding` picks: a
/// token when every byte may appear in one, a quoted string when every byte
/// is printable or has an escape, and hex otherwise. Atoms whose first byte
/// is zero or has its top bit set are always hex, so integers stay
/// unambiguous.
///
/// libgcrypt takes a zero byte after the first for a printable one and
/// writes it raw into a token or as `\x00` into a string; here such atoms
/// are written in hex, which reads back to the same bytes.
fn write_atom(out: &mut Vec<u8>, bytes: &[u8]) {
    match AtomEncoding::for_bytes(bytes) {
        AtomEncoding::Token => out.extend_from_slice(bytes),
        AtomEncoding::Quoted => write_quoted(out, bytes),
        AtomEncoding::Hex => {
            out.push(b'#');
            out.extend_from_slice(hex::encode_upper(bytes).as_bytes());
            out.push(b'#');
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum AtomEncoding {
    Token,
    Quoted,
    Hex,
}

impl AtomEncoding {
    fn for_bytes(bytes: &[u8]) -> Self {
        let Some(&first) = bytes.first() else {
            return Self::Quoted;
        };
        if first == 0x00 || first & 0x80 != 0 {
            return Self::Hex;
        }
        if bytes
            .iter()
            .any(|&byte| needs_hex_escape(byte) && escape_letter(byte).is_none())
        {
            return Self::Hex;
        }

        // GnuPG drops a space that follows a space or a parenthesis anywhere
        // in the value, inside quoted strings too, so such a string would be
        // stored altered. libgcrypt reads hex just as well.
        let altered = bytes.windows(2).any(|pair| matches!(pair, [b' ' | b'(' | b')', b' ']));
        if altered {
            return Self::Hex;
        }

        if !first.is_ascii_digit() && bytes.iter().all(|&byte| is_token_char(byte)) {
            Self::Token
        } else {
            Self::Quoted
        }
    }
}

/// Bytes that libgcrypt writes as `\xHH` in a quoted string unless they
/// have a letter escape.
fn needs_hex_escape(byte: u8) -> bool {
    byte < 0x20 || (0x7f..=0xa0).contains(&byte)
}

fn escape_letter(byte: u8) -> Option<u8> {
    match byte {
        0x08 => Some(b'b'),
        b'\t' => Some(b't'),
        0x0b => Some(b'v'),
        b'\n' => Some(b'n'),
        0x0c => Some(b'f'),
        b'\r' => Some(b'r'),
        b'"' | b'\'' | b'\\' => Some(byte),
        _ => None,
    }
}

fn write_quoted(out: &mut Vec<u8>, bytes: &[u8]) {
    out.push(b'"');
    for &byte in bytes {
        if let Some(letter) = escape_letter(byte) {
            out.extend_from_slice(&[b'\\', letter]);
        } else if needs_hex_escape(byte) {
            out.extend_from_slice(format!("\\x{byte:02x}").as_bytes());
        } else {
            out.push(byte);
        }
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn list(items: Vec<Sexp>) -> Sexp {
        Sexp::List(items)
    }

    #[test]
    fn reads_canonical_form() {
        let sexp = parse(b"(11:private-key(3:rsa(1:n3:\x00\xbe\x01)))").unwrap();
        let expected = list(vec![
            Sexp::atom(b"private-key"),
            list(vec![
                Sexp::atom(b"rsa"),
                list(vec![Sexp::atom(b"n"), Sexp::atom(&[0x00, 0xbe, 0x01])]),
            ]),
        ]);
        assert_eq!(sexp, expected);
    }

    #[test]
    fn reads_every_advanced_atom_form() {
        let text = b" (key tok-en.1 \"a\\tb\\x41\\101\\\nc\" #00 be\n01# |AQID| 3:a b 2#0102# 4\"xy\" ) \n";
        let sexp = parse(text).unwrap();
        let expected = list(vec![
            Sexp::atom(b"key"),
            Sexp::atom(b"tok-en.1"),
            Sexp::atom(b"a\tbAAc"),
            Sexp::atom(&[0x00, 0xbe, 0x01]),
            Sexp::atom(&[0x01, 0x02, 0x03]),
            Sexp::atom(b"a b"),
            Sexp::atom(&[0x01, 0x02]),
            Sexp::atom(b"xy"),
        ]);
        assert_eq!(sexp, expected);
    }

    #[test]
    fn finds_named_sublists() {
        let sexp = parse(b"(rsa (n #01#)(e #0101#)(n #02#))").unwrap();
        assert_eq!(sexp.name(), Some(&b"rsa"[..]));
        let n = sexp.find(b"n").unwrap().as_list().unwrap();
        assert_eq!(n[1].as_atom(), Some(&[0x01][..]));
        assert!(sexp.find(b"d").is_none());
    }

    #[test]
    fn rejects_unbalanced_lists() {
        assert_eq!(
            parse(b"(a (b)").unwrap_err(),
            SexpError::UnexpectedEnd {
                offset: 6,
                context: "a list"
            }
        );
        assert_eq!(
            parse(b"(a))").unwrap_err(),
            SexpError::TrailingData { offset: 3, len: 1 }
        );
        assert_eq!(parse(b"a").unwrap_err(), SexpError::NotAList { offset: 0 });
        assert_eq!(parse(b"").unwrap_err(), SexpError::NotAList { offset: 0 });
    }

    #[test]
    fn rejects_nesting_too_deep() {
        let mut text = vec![b'('; MAX_DEPTH];
        text.extend(vec![b')'; MAX_DEPTH]);
        assert!(parse(&text).is_ok());

        let mut text = vec![b'('; 100_000];
        text.extend(vec![b')'; 100_000]);
        assert_eq!(
            parse(&text).unwrap_err(),
            SexpError::TooDeep {
                offset: MAX_DEPTH,
                max: MAX_DEPTH
            }
        );
    }

    #[test]
    fn rejects_huge_atoms() {
        let err = parse(b"(99999999999999999999999:x)").unwrap_err();
        assert!(matches!(err, SexpError::AtomTooLong { offset: 1, .. }), "{err}");

        let err = parse(b"(65536:x)").unwrap_err();
        assert_eq!(
            err,
            SexpError::AtomTooLong {
                offset: 1,
                len: 65536,
                max: MAX_ATOM_LEN
            }
        );

        let err = parse(b"(10:abc)").unwrap_err();
        assert!(matches!(err, SexpError::UnexpectedEnd { .. }), "{err}");

        let mut text = b"(#".to_vec();
        text.extend(vec![b'A'; 2 * (MAX_ATOM_LEN + 1)]);
        text.extend_from_slice(b"#)");
        assert!(matches!(parse(&text).unwrap_err(), SexpError::AtomTooLong { .. }));

        let mut text = b"(\"".to_vec();
        text.extend(vec![b'a'; MAX_ATOM_LEN + 1]);
        text.extend_from_slice(b"\")");
        assert!(matches!(parse(&text).unwrap_err(), SexpError::AtomTooLong { .. }));
    }

    #[test]
    fn rejects_malformed_atoms() {
        let cases: [(&[u8], SexpError); 9] = [
            (b"(#0#)", SexpError::OddHexDigits { offset: 1 }),
            (
                b"(#0g#)",
                SexpError::InvalidCharacter {
                    offset: 3,
                    byte: b'g',
                    context: "a hex atom",
                },
            ),
            (b"(\"\\q\")", SexpError::InvalidEscape { offset: 2 }),
            (b"(\"\\x4\")", SexpError::InvalidEscape { offset: 2 }),
            (b"(\"\\18\")", SexpError::InvalidEscape { offset: 2 }),
            (b"(|AQI|)", SexpError::InvalidBase64 { offset: 1 }),
            (b"(3x)", SexpError::InvalidLengthPrefix { offset: 2 }),
            (b"([hint]x)", SexpError::DisplayHint { offset: 1 }),
            (
                b"(a {})",
                SexpError::InvalidCharacter {
                    offset: 3,
                    byte: b'{',
                    context: "an S-expression",
                },
            ),
        ];
        for (text, expected) in cases {
            assert_eq!(parse(text).unwrap_err(), expected, "{}", String::from_utf8_lossy(text));
        }
        assert!(matches!(
            parse(b"(\"abc").unwrap_err(),
            SexpError::UnexpectedEnd {
                context: "a quoted string",
                ..
            }
        ));
    }

    #[test]
    fn writes_gnupg_single_line_form() {
        let sexp = list(vec![
            Sexp::atom(b"private-key"),
            list(vec![
                Sexp::atom(b"rsa"),
                list(vec![Sexp::atom(b"n"), Sexp::atom(&[0x00, 0xbe])]),
                list(vec![Sexp::atom(b"e"), Sexp::atom(&[0x01, 0x00, 0x01])]),
            ]),
        ]);
        assert_eq!(
            to_advanced(&sexp).as_slice(),
            b"(private-key (rsa (n #00BE#)(e #010001#)))"
        );
    }

    #[test]
    fn picks_libgcrypt_atom_encoding() {
        let cases: [(&[u8], &[u8]); 8] = [
            (b"rsa", b"rsa"),
            (b"4", b"\"4\""),
            (b"a b", b"\"a b\""),
            (b"a\tb'", b"\"a\\tb\\'\""),
            (&[0x41, 0x7f], b"#417F#"),
            (&[0x41, 0xe9], b"\"A\xe9\""),
            (b"a  b", b"#61202062#"),
            (b"", b"\"\""),
        ];
        for (atom, expected) in cases {
            let mut out = Vec::new();
            write_atom(&mut out, atom);
            assert_eq!(out, expected, "{atom:?}");
            let reread = parse(&[b"(", out.as_slice(), b")"].concat()).unwrap();
            assert_eq!(reread, list(vec![Sexp::atom(atom)]));
        }
    }
}
