//! Subject names in the slash form that `openssl req -subj` takes, such as
//! `/C=US/O=Example/CN=name/`.
//!
//! The rules follow `parse_name` in OpenSSL 3.0's `apps/lib/apps.c`: a name
//! starts with `/`, `\` escapes the next character, `/` starts a new RDN and
//! `+` adds an attribute to the current one. Values are encoded as OpenSSL
//! does under `string_mask = utf8only` (Debian's default `openssl.cnf`):
//! UTF8String, except the types whose ASN.1 definition fixes another string
//! type. Where OpenSSL only warns and skips (an unknown attribute, an empty
//! value), this parser rejects the name, because a dropped attribute would go
//! unnoticed in a certificate that devices trust for years.

use const_oid::ObjectIdentifier;
use der::asn1::{Any, SetOfVec};
use der::Tag;
use x509_cert::attr::AttributeTypeAndValue;
use x509_cert::name::{Name, RdnSequence, RelativeDistinguishedName};

/// Maximum subject length in bytes; longer input is rejected before parsing.
pub const MAX_SUBJECT_LEN: usize = 4096;

/// Reason a subject string was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SubjectError {
    #[error("must start with '/', as in /C=US/O=Example/CN=name")]
    MissingLeadingSlash,
    #[error("is longer than {MAX_SUBJECT_LEN} bytes")]
    TooLong,
    #[error("ends with an escape character '\\'")]
    TrailingEscape,
    #[error("attribute {index} has no '=' between its type and value")]
    MissingEquals { index: usize },
    #[error("attribute type '{name}' is unknown; use a short name such as CN, O, OU, C, ST, L or emailAddress, or a dotted OID")]
    UnknownAttribute { name: String },
    #[error("attribute {name} has an empty value")]
    EmptyValue { name: String },
    #[error("attribute {name} must be {min} to {max} characters long, got {actual}")]
    ValueLength {
        name: String,
        min: usize,
        max: usize,
        actual: usize,
    },
    #[error("attribute {name} may only contain {allowed}")]
    ValueCharacters { name: String, allowed: &'static str },
    #[error("contains a control character")]
    ControlCharacter,
    #[error("has no attributes")]
    Empty,
    #[error("cannot be encoded: {0}")]
    Encoding(String),
}

/// ASN.1 string type that an attribute's value is encoded as.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum StringKind {
    /// DirectoryString, encoded as UTF8String under `string_mask = utf8only`.
    Directory,
    Printable,
    Ia5,
}

/// An attribute type that OpenSSL accepts by name, with the size bounds that
/// OpenSSL enforces (`crypto/asn1/tbl_standard.h`), taken from the ASN.1
/// upper bounds in RFC 5280 Appendix A.
struct AttributeType {
    short_name: &'static str,
    long_name: &'static str,
    oid: ObjectIdentifier,
    kind: StringKind,
    min_chars: usize,
    max_chars: usize,
}

/// RFC 5280 `ub-name`, also used by OpenSSL for attributes without a bound.
const UB_NAME: usize = 32768;

const fn attribute(
    short_name: &'static str,
    long_name: &'static str,
    oid: &str,
    kind: StringKind,
    min_chars: usize,
    max_chars: usize,
) -> AttributeType {
    AttributeType {
        short_name,
        long_name,
        oid: ObjectIdentifier::new_unwrap(oid),
        kind,
        min_chars,
        max_chars,
    }
}

const ATTRIBUTE_TYPES: &[AttributeType] = &[
    attribute("CN", "commonName", "2.5.4.3", StringKind::Directory, 1, 64),
    attribute("C", "countryName", "2.5.4.6", StringKind::Printable, 2, 2),
    attribute("L", "localityName", "2.5.4.7", StringKind::Directory, 1, 128),
    attribute("ST", "stateOrProvinceName", "2.5.4.8", StringKind::Directory, 1, 128),
    attribute("O", "organizationName", "2.5.4.10", StringKind::Directory, 1, 64),
    attribute("OU", "organizationalUnitName", "2.5.4.11", StringKind::Directory, 1, 64),
    attribute("street", "streetAddress", "2.5.4.9", StringKind::Directory, 1, UB_NAME),
    attribute("title", "title", "2.5.4.12", StringKind::Directory, 1, UB_NAME),
    attribute("SN", "surname", "2.5.4.4", StringKind::Directory, 1, UB_NAME),
    attribute("GN", "givenName", "2.5.4.42", StringKind::Directory, 1, UB_NAME),
    attribute("initials", "initials", "2.5.4.43", StringKind::Directory, 1, UB_NAME),
    attribute(
        "generationQualifier",
        "generationQualifier",
        "2.5.4.44",
        StringKind::Directory,
        1,
        UB_NAME,
    ),
    attribute("serialNumber", "serialNumber", "2.5.4.5", StringKind::Printable, 1, 64),
    attribute(
        "dnQualifier",
        "dnQualifier",
        "2.5.4.46",
        StringKind::Printable,
        1,
        UB_NAME,
    ),
    attribute("name", "name", "2.5.4.41", StringKind::Directory, 1, UB_NAME),
    attribute("pseudonym", "pseudonym", "2.5.4.65", StringKind::Directory, 1, UB_NAME),
    attribute("postalCode", "postalCode", "2.5.4.17", StringKind::Directory, 1, 40),
    attribute(
        "businessCategory",
        "businessCategory",
        "2.5.4.15",
        StringKind::Directory,
        1,
        UB_NAME,
    ),
    attribute(
        "description",
        "description",
        "2.5.4.13",
        StringKind::Directory,
        1,
        UB_NAME,
    ),
    attribute(
        "DC",
        "domainComponent",
        "0.9.2342.19200300.100.1.25",
        StringKind::Ia5,
        1,
        UB_NAME,
    ),
    attribute(
        "UID",
        "userId",
        "0.9.2342.19200300.100.1.1",
        StringKind::Directory,
        1,
        UB_NAME,
    ),
    attribute(
        "emailAddress",
        "emailAddress",
        "1.2.840.113549.1.9.1",
        StringKind::Ia5,
        1,
        128,
    ),
];

/// Attribute found in the subject string, before encoding.
struct ParsedAttribute {
    name: String,
    value: String,
    /// True when a `+` joined this attribute to the previous RDN.
    joins_previous: bool,
}

/// Parses an OpenSSL slash-form subject into a `Name`.
pub fn parse_openssl_subject(subject: &str) -> Result<Name, SubjectError> {
    if subject.len() > MAX_SUBJECT_LEN {
        return Err(SubjectError::TooLong);
    }
    if subject.chars().any(char::is_control) {
        return Err(SubjectError::ControlCharacter);
    }

    let attributes = split_attributes(subject)?;
    if attributes.is_empty() {
        return Err(SubjectError::Empty);
    }

    let mut rdns: Vec<Vec<AttributeTypeAndValue>> = Vec::new();
    for parsed in attributes {
        let encoded = encode_attribute(&parsed)?;
        match rdns.last_mut() {
            Some(rdn) if parsed.joins_previous => rdn.push(encoded),
            _ => rdns.push(vec![encoded]),
        }
    }

    let mut sequence = Vec::with_capacity(rdns.len());
    for rdn in rdns {
        // SetOfVec sorts its elements into DER order, as OpenSSL's encoder does.
        let set = SetOfVec::try_from(rdn).map_err(|err| SubjectError::Encoding(err.to_string()))?;
        sequence.push(RelativeDistinguishedName(set));
    }
    Ok(RdnSequence(sequence))
}

/// Splits `/type=value/type=value+type=value` into attributes, resolving escapes.
fn split_attributes(subject: &str) -> Result<Vec<ParsedAttribute>, SubjectError> {
    let mut chars = subject.chars();
    if chars.next() != Some('/') {
        return Err(SubjectError::MissingLeadingSlash);
    }

    let mut attributes = Vec::new();
    let mut joins_previous = false;
    loop {
        let mut name = String::new();
        let mut value = String::new();
        let mut in_value = false;
        let mut separator = None;

        while let Some(c) = chars.next() {
            match c {
                '\\' => {
                    let escaped = chars.next().ok_or(SubjectError::TrailingEscape)?;
                    if in_value {
                        value.push(escaped)
                    } else {
                        name.push(escaped)
                    }
                }
                '=' if !in_value => in_value = true,
                '/' | '+' if in_value => {
                    separator = Some(c);
                    break;
                }
                _ if in_value => value.push(c),
                _ => name.push(c),
            }
        }

        // A trailing '/' ends the name, as in "/CN=name/".
        if name.is_empty() && !in_value && separator.is_none() {
            break;
        }
        if !in_value {
            return Err(SubjectError::MissingEquals {
                index: attributes.len() + 1,
            });
        }
        attributes.push(ParsedAttribute {
            name,
            value,
            joins_previous,
        });
        joins_previous = separator == Some('+');
        if separator.is_none() {
            break;
        }
    }
    Ok(attributes)
}

fn encode_attribute(parsed: &ParsedAttribute) -> Result<AttributeTypeAndValue, SubjectError> {
    let (oid, kind, min_chars, max_chars) = match lookup_attribute(&parsed.name) {
        Some(known) => (known.oid, known.kind, known.min_chars, known.max_chars),
        None => match ObjectIdentifier::new(&parsed.name) {
            Ok(oid) if parsed.name.contains('.') => (oid, StringKind::Directory, 1, UB_NAME),
            _ => {
                return Err(SubjectError::UnknownAttribute {
                    name: parsed.name.clone(),
                })
            }
        },
    };

    let value = parsed.value.as_str();
    if value.is_empty() {
        return Err(SubjectError::EmptyValue {
            name: parsed.name.clone(),
        });
    }
    let chars = value.chars().count();
    if chars < min_chars || chars > max_chars {
        return Err(SubjectError::ValueLength {
            name: parsed.name.clone(),
            min: min_chars,
            max: max_chars,
            actual: chars,
        });
    }

    let tag = match kind {
        StringKind::Directory => Tag::Utf8String,
        StringKind::Printable => {
            if !value.chars().all(is_printable_string_char) {
                return Err(SubjectError::ValueCharacters {
                    name: parsed.name.clone(),
                    allowed: "letters, digits, space and ' ( ) + , - . / : = ?",
                });
            }
            Tag::PrintableString
        }
        StringKind::Ia5 => {
            if !value.is_ascii() {
                return Err(SubjectError::ValueCharacters {
                    name: parsed.name.clone(),
                    allowed: "ASCII characters",
                });
            }
            Tag::Ia5String
        }
    };

    let value = Any::new(tag, value.as_bytes()).map_err(|err| SubjectError::Encoding(err.to_string()))?;
    Ok(AttributeTypeAndValue { oid, value })
}

fn lookup_attribute(name: &str) -> Option<&'static AttributeType> {
    ATTRIBUTE_TYPES
        .iter()
        .find(|known| known.short_name == name || known.long_name == name)
}

/// Returns true for characters of the PrintableString alphabet (X.680 §41.4).
fn is_printable_string_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || " '()+,-./:=?".contains(c)
}

#[cfg(test)]
mod tests {
    use super::*;
    use der::Encode;

    fn rdn_strings(name: &Name) -> Vec<String> {
        name.0.iter().map(|rdn| rdn.to_string()).collect()
    }

    #[test]
    fn parses_plain_subject_with_trailing_slash() {
        let name = parse_openssl_subject("/C=US/O=Example/CN=name/").unwrap();
        assert_eq!(rdn_strings(&name), ["C=US", "O=Example", "CN=name"]);
    }

    #[test]
    fn country_is_printable_string() {
        let name = parse_openssl_subject("/C=DE").unwrap();
        let der = name.to_der().unwrap();
        assert!(der.windows(4).any(|w| w == [0x13, 0x02, b'D', b'E']));
    }

    #[test]
    fn common_name_is_utf8_string() {
        let name = parse_openssl_subject("/CN=é").unwrap();
        let der = name.to_der().unwrap();
        assert!(der.windows(4).any(|w| w == [0x0c, 0x02, 0xc3, 0xa9]));
    }

    #[test]
    fn escaped_slash_stays_in_value() {
        let name = parse_openssl_subject("/O=A\\/B/CN=x").unwrap();
        assert_eq!(name.0.len(), 2);
        let der = name.to_der().unwrap();
        assert!(der.windows(3).any(|w| w == b"A/B"));
    }

    #[test]
    fn plus_makes_multi_valued_rdn() {
        let name = parse_openssl_subject("/O=Org/CN=a+UID=b").unwrap();
        assert_eq!(name.0.len(), 2);
        assert_eq!(name.0[1].0.len(), 2);
    }

    #[test]
    fn rejects_bad_subjects() {
        let cases: &[(&str, SubjectError)] = &[
            ("CN=x", SubjectError::MissingLeadingSlash),
            ("/", SubjectError::Empty),
            ("/CN", SubjectError::MissingEquals { index: 1 }),
            ("/CN=x\\", SubjectError::TrailingEscape),
            ("/XX=x", SubjectError::UnknownAttribute { name: "XX".into() }),
            ("/CN=", SubjectError::EmptyValue { name: "CN".into() }),
            ("/CN=a\nb", SubjectError::ControlCharacter),
        ];
        for (input, expected) in cases {
            assert_eq!(parse_openssl_subject(input).unwrap_err(), *expected, "{input}");
        }
    }

    #[test]
    fn rejects_three_letter_country() {
        let err = parse_openssl_subject("/C=USA").unwrap_err();
        assert!(matches!(err, SubjectError::ValueLength { actual: 3, .. }));
    }

    #[test]
    fn rejects_non_printable_country() {
        let err = parse_openssl_subject("/C=U*").unwrap_err();
        assert!(matches!(err, SubjectError::ValueCharacters { .. }));
    }

    #[test]
    fn accepts_dotted_oid() {
        let name = parse_openssl_subject("/2.5.4.3=x").unwrap();
        assert_eq!(rdn_strings(&name), ["CN=x"]);
    }
}
