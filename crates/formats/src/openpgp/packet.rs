//! Packet framing (RFC 4880 §4.2): a header octet (the CTB) with the tag,
//! then a body length in the old or the new format, then the body.
//!
//! ```text
//! old format:  1 0 t t t t l l   body length in 1, 2 or 4 octets for l = 0, 1, 2;
//!                                l = 3 is an indeterminate length (to end of input)
//! new format:  1 1 t t t t t t   body length: one octet < 192;
//!                                two octets 192..=223: ((o1 - 192) << 8) + o2 + 192;
//!                                one octet 224..=254: a partial body length;
//!                                0xFF then four octets
//! ```
//!
//! The writer always uses the old format with the shortest length field,
//! which gives the headers GnuPG 2.2.40 writes for RSA keys and signatures
//! (0x99, 0xB4, 0x89). The reader accepts both formats but rejects partial
//! and indeterminate lengths, which only literal and encrypted data may use.

use super::error::ParseError;
use super::reader::Reader;

/// Maximum packet body length the reader accepts by default: 256 KiB, the
/// limit GnuPG sets on key packets (`MAX_KEY_PACKET_LENGTH` in
/// `g10/packet.h`). A version 4 RSA signature is at most 139,274 bytes (two
/// full subpacket areas and a 65535-bit MPI), so it fits too.
pub const MAX_PACKET_BODY_LEN: usize = 256 * 1024;

/// CTB bit 7, set in every packet header.
const CTB_ALWAYS_SET: u8 = 0x80;
/// CTB bit 6, set in new-format headers.
const CTB_NEW_FORMAT: u8 = 0x40;
/// Tag bits of a new-format CTB.
const NEW_FORMAT_TAG_MASK: u8 = 0x3f;
/// Tag bits of an old-format CTB, after shifting out the length type.
const OLD_FORMAT_TAG_MASK: u8 = 0x0f;
/// Shift of the tag in an old-format CTB.
const OLD_FORMAT_TAG_SHIFT: u8 = 2;
/// Length-type bits of an old-format CTB.
const OLD_FORMAT_LENGTH_TYPE_MASK: u8 = 0x03;

/// Old-format length types (RFC 4880 §4.2.1).
const OLD_LENGTH_ONE_OCTET: u8 = 0x00;
const OLD_LENGTH_TWO_OCTETS: u8 = 0x01;
const OLD_LENGTH_FOUR_OCTETS: u8 = 0x02;

/// First octet values of new-format lengths (RFC 4880 §4.2.2).
const NEW_LENGTH_TWO_OCTETS_FIRST: u8 = 0xc0;
const NEW_LENGTH_PARTIAL_FIRST: u8 = 0xe0;
const NEW_LENGTH_FIVE_OCTETS: u8 = 0xff;
/// Smallest length that needs the two-octet new format.
const NEW_LENGTH_TWO_OCTETS_MIN: u32 = 192;

/// Packet tag (RFC 4880 §4.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Tag(pub u8);

impl Tag {
    pub const SIGNATURE: Self = Self(0x02);
    pub const SECRET_KEY: Self = Self(0x05);
    pub const PUBLIC_KEY: Self = Self(0x06);
    pub const SECRET_SUBKEY: Self = Self(0x07);
    pub const MARKER: Self = Self(0x0a);
    pub const TRUST: Self = Self(0x0c);
    pub const USER_ID: Self = Self(0x0d);
    pub const PUBLIC_SUBKEY: Self = Self(0x0e);
    pub const USER_ATTRIBUTE: Self = Self(0x11);
}

/// Header format of a packet that was read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HeaderFormat {
    Old,
    New,
}

/// One packet, borrowed from the input.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Packet<'a> {
    pub tag: Tag,
    pub header_format: HeaderFormat,
    /// Offset of the header octet in the input.
    pub offset: usize,
    /// Offset of the first body byte in the input.
    pub body_offset: usize,
    pub body: &'a [u8],
}

/// Reads packets one after another from binary OpenPGP data.
///
/// Each body length is checked against the input and against a maximum
/// before anything is allocated, so hostile lengths cost nothing. After the
/// first error the iterator ends.
#[derive(Clone, Debug)]
pub struct PacketReader<'a> {
    reader: Reader<'a>,
    max_body_len: usize,
    failed: bool,
}

impl<'a> PacketReader<'a> {
    /// Reads `data` with bodies limited to [`MAX_PACKET_BODY_LEN`].
    pub fn new(data: &'a [u8]) -> Self {
        Self::with_max_body_len(data, MAX_PACKET_BODY_LEN)
    }

    /// Reads `data` with bodies limited to `max_body_len` bytes.
    pub fn with_max_body_len(data: &'a [u8], max_body_len: usize) -> Self {
        Self {
            reader: Reader::new(data, 0),
            max_body_len,
            failed: false,
        }
    }

    /// Offset of the next packet header.
    pub fn offset(&self) -> usize {
        self.reader.offset()
    }

    fn read_packet(&mut self) -> Result<Packet<'a>, ParseError> {
        let offset = self.reader.offset();
        let ctb = self.reader.u8("packet header")?;
        if ctb & CTB_ALWAYS_SET == 0 {
            return Err(ParseError::InvalidPacketHeader { offset, ctb });
        }

        let (tag, header_format, len) = if ctb & CTB_NEW_FORMAT != 0 {
            let len = read_new_format_length(&mut self.reader, offset)?;
            (Tag(ctb & NEW_FORMAT_TAG_MASK), HeaderFormat::New, len)
        } else {
            let tag = Tag((ctb >> OLD_FORMAT_TAG_SHIFT) & OLD_FORMAT_TAG_MASK);
            let len = read_old_format_length(&mut self.reader, ctb, offset)?;
            (tag, HeaderFormat::Old, len)
        };
        if tag.0 == 0 {
            return Err(ParseError::ReservedTag { offset });
        }

        let too_long = ParseError::PacketTooLong {
            tag: tag.0,
            offset,
            len: u64::from(len),
            max: self.max_body_len,
        };
        let len = usize::try_from(len).map_err(|_| too_long.clone())?;
        if len > self.max_body_len {
            return Err(too_long);
        }

        let body_offset = self.reader.offset();
        let body = self.reader.take(len, "packet body")?;
        Ok(Packet {
            tag,
            header_format,
            offset,
            body_offset,
            body,
        })
    }
}

impl<'a> Iterator for PacketReader<'a> {
    type Item = Result<Packet<'a>, ParseError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed || self.reader.is_empty() {
            return None;
        }
        let packet = self.read_packet();
        self.failed = packet.is_err();
        Some(packet)
    }
}

fn read_old_format_length(reader: &mut Reader<'_>, ctb: u8, offset: usize) -> Result<u32, ParseError> {
    match ctb & OLD_FORMAT_LENGTH_TYPE_MASK {
        OLD_LENGTH_ONE_OCTET => Ok(u32::from(reader.u8("packet length")?)),
        OLD_LENGTH_TWO_OCTETS => Ok(u32::from(reader.u16("packet length")?)),
        OLD_LENGTH_FOUR_OCTETS => reader.u32("packet length"),
        _ => Err(ParseError::IndeterminateLength { offset }),
    }
}

fn read_new_format_length(reader: &mut Reader<'_>, offset: usize) -> Result<u32, ParseError> {
    let first = reader.u8("packet length")?;
    match first {
        0..NEW_LENGTH_TWO_OCTETS_FIRST => Ok(u32::from(first)),
        NEW_LENGTH_TWO_OCTETS_FIRST..NEW_LENGTH_PARTIAL_FIRST => {
            let second = reader.u8("packet length")?;
            Ok(two_octet_length(first, second))
        }
        NEW_LENGTH_FIVE_OCTETS => reader.u32("packet length"),
        _ => Err(ParseError::PartialBodyLength { offset }),
    }
}

/// Decodes a new-format two-octet length, which also frames subpackets
/// (RFC 4880 §5.2.3.1).
pub(crate) fn two_octet_length(first: u8, second: u8) -> u32 {
    let high = u32::from(first.saturating_sub(NEW_LENGTH_TWO_OCTETS_FIRST));
    (high << 8) + u32::from(second) + NEW_LENGTH_TWO_OCTETS_MIN
}

/// Appends a packet with an old-format header and the shortest length field.
///
/// Tags above 15 do not fit an old-format header; every caller passes one
/// of the key, user ID or signature tags.
pub(crate) fn write_packet(out: &mut Vec<u8>, tag: Tag, body: &[u8]) {
    debug_assert!(tag.0 <= OLD_FORMAT_TAG_MASK, "tag {} needs a new-format header", tag.0);
    let ctb_tag = CTB_ALWAYS_SET | ((tag.0 & OLD_FORMAT_TAG_MASK) << OLD_FORMAT_TAG_SHIFT);

    if let Ok(len) = u8::try_from(body.len()) {
        out.push(ctb_tag | OLD_LENGTH_ONE_OCTET);
        out.push(len);
    } else if let Ok(len) = u16::try_from(body.len()) {
        out.push(ctb_tag | OLD_LENGTH_TWO_OCTETS);
        out.extend_from_slice(&len.to_be_bytes());
    } else {
        // Every body built or parsed here is at most MAX_PACKET_BODY_LEN
        // bytes, far below u32::MAX.
        let len = u32::try_from(body.len()).unwrap_or(u32::MAX);
        out.push(ctb_tag | OLD_LENGTH_FOUR_OCTETS);
        out.extend_from_slice(&len.to_be_bytes());
    }
    out.extend_from_slice(body);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn read_all(data: &[u8]) -> Result<Vec<Packet<'_>>, ParseError> {
        PacketReader::new(data).collect()
    }

    #[test]
    fn writes_shortest_old_format_header() {
        let mut out = Vec::new();
        write_packet(&mut out, Tag::USER_ID, b"abc");
        assert_eq!(out, [0xb4, 0x03, b'a', b'b', b'c']);

        let mut out = Vec::new();
        write_packet(&mut out, Tag::SIGNATURE, &[0x00; 0x123]);
        assert_eq!(out.get(..3), Some(&[0x89, 0x01, 0x23][..]));

        let mut out = Vec::new();
        write_packet(&mut out, Tag::PUBLIC_KEY, &[0x00; 0x1_0000]);
        assert_eq!(out.get(..5), Some(&[0x9a, 0x00, 0x01, 0x00, 0x00][..]));
    }

    #[test]
    fn reads_old_format_headers() {
        let data = [
            0xb4, 0x01, b'x', 0x89, 0x00, 0x02, 0xaa, 0xbb, 0x9a, 0x00, 0x00, 0x00, 0x01, 0xcc,
        ];
        let packets = read_all(&data).unwrap();
        assert_eq!(packets.len(), 3);
        assert_eq!(packets[0].tag, Tag::USER_ID);
        assert_eq!(packets[0].body, b"x");
        assert_eq!(packets[1].tag, Tag::SIGNATURE);
        assert_eq!(packets[1].body, [0xaa, 0xbb]);
        assert_eq!(packets[1].offset, 3);
        assert_eq!(packets[1].body_offset, 6);
        assert_eq!(packets[2].tag, Tag::PUBLIC_KEY);
        assert_eq!(packets[2].header_format, HeaderFormat::Old);
    }

    #[test]
    fn reads_new_format_lengths() {
        let mut data = vec![0xcd, 0x01, b'x'];
        // Two-octet length 0xc0 0x00 is 192, which GRUB 2.06 would read as 0.
        data.extend_from_slice(&[0xc2, 0xc0, 0x00]);
        data.extend_from_slice(&[0x00; 192]);
        data.extend_from_slice(&[0xc6, 0xff, 0x00, 0x00, 0x00, 0x02, 0x01, 0x02]);
        let packets = read_all(&data).unwrap();
        assert_eq!(packets.len(), 3);
        assert_eq!(packets[0].tag, Tag::USER_ID);
        assert_eq!(packets[1].tag, Tag::SIGNATURE);
        assert_eq!(packets[1].body.len(), 192);
        assert_eq!(packets[2].tag, Tag::PUBLIC_KEY);
        assert_eq!(packets[2].header_format, HeaderFormat::New);
        assert_eq!(packets[2].body, [0x01, 0x02]);
    }

    #[test]
    fn two_octet_length_range() {
        assert_eq!(two_octet_length(0xc0, 0x00), 192);
        assert_eq!(two_octet_length(0xdf, 0xff), 8383);
    }

    #[test]
    fn rejects_partial_body_length() {
        let err = read_all(&[0xcb, 0xe1, 0x00, 0x00]).unwrap_err();
        assert_eq!(err, ParseError::PartialBodyLength { offset: 0 });
    }

    #[test]
    fn rejects_indeterminate_length() {
        let err = read_all(&[0xb4, 0x01, b'x', 0xaf, 0x00]).unwrap_err();
        assert_eq!(err, ParseError::IndeterminateLength { offset: 3 });
    }

    #[test]
    fn rejects_clear_bit_seven() {
        let err = read_all(b"-----BEGIN PGP").unwrap_err();
        assert_eq!(err, ParseError::InvalidPacketHeader { offset: 0, ctb: b'-' });
    }

    #[test]
    fn rejects_reserved_tag() {
        assert_eq!(
            read_all(&[0x80, 0x00]).unwrap_err(),
            ParseError::ReservedTag { offset: 0 }
        );
        assert_eq!(
            read_all(&[0xc0, 0x00]).unwrap_err(),
            ParseError::ReservedTag { offset: 0 }
        );
    }

    #[test]
    fn rejects_truncated_header_and_body() {
        assert!(matches!(
            read_all(&[0x89, 0x01]).unwrap_err(),
            ParseError::Truncated {
                field: "packet length",
                ..
            }
        ));
        assert!(matches!(
            read_all(&[0xc2, 0xc5]).unwrap_err(),
            ParseError::Truncated {
                field: "packet length",
                ..
            }
        ));
        assert_eq!(
            read_all(&[0x89, 0x00, 0x05, 0x04, 0x00]).unwrap_err(),
            ParseError::Truncated {
                field: "packet body",
                offset: 3,
                needed: 3
            }
        );
    }

    #[test]
    fn rejects_oversize_length_before_reading() {
        let err = read_all(&[0xc2, 0xff, 0xff, 0xff, 0xff, 0xff]).unwrap_err();
        assert_eq!(
            err,
            ParseError::PacketTooLong {
                tag: 2,
                offset: 0,
                len: 0xffff_ffff,
                max: MAX_PACKET_BODY_LEN
            }
        );

        let err = PacketReader::with_max_body_len(&[0xb4, 0x03, b'a', b'b', b'c'], 2)
            .next()
            .unwrap()
            .unwrap_err();
        assert!(matches!(err, ParseError::PacketTooLong { len: 3, max: 2, .. }));
    }

    #[test]
    fn stops_after_first_error() {
        let mut reader = PacketReader::new(&[0x00, 0xb4, 0x00]);
        assert!(reader.next().unwrap().is_err());
        assert!(reader.next().is_none());
    }
}
