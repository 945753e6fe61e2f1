//! The LUKS2 binary header, as far as needed to read its label.
//!
//! Source: `struct luks2_hdr_disk` in cryptsetup's `lib/luks2/luks2.h`,
//! which the LUKS2 on-disk format specification describes as the binary
//! header. All integers are big-endian.
//!
//! ```text
//! struct luks2_hdr_disk {
//!     char     magic[6];       /* "LUKS\xba\xbe" (primary) or "SKUL\xba\xbe" (secondary) */
//!     uint16_t version;        /* 2 */
//!     uint64_t hdr_size;
//!     uint64_t seqid;
//!     char     label[48];      /* NUL-terminated, may be empty */
//!     char     checksum_alg[32];
//!     uint8_t  salt[64];
//!     char     uuid[40];
//!     char     subsystem[48];
//!     uint64_t hdr_offset;
//!     char     _padding[184];
//!     uint8_t  csum[64];
//!     char     _padding4096[7*512];
//! } __attribute__((packed));
//! ```
//!
//! Only the primary header at offset 0 is read: that is where `cryptsetup
//! luksFormat --label` and `cryptsetup config --label` write the label, and
//! where blkid (and so udev's `/dev/disk/by-label`) looks for it.

/// `magic` of the primary header.
pub const LUKS_MAGIC: [u8; 6] = [0x4c, 0x55, 0x4b, 0x53, 0xba, 0xbe];

/// `version` of a LUKS2 header; LUKS1 headers carry 1 and have no label.
pub const LUKS2_VERSION: u16 = 0x0002;

/// Offset of `version`.
const VERSION_OFFSET: usize = 0x06;

/// Offset of `label`.
const LABEL_OFFSET: usize = 0x18;

/// Size of `label`, including its terminating NUL.
pub const LABEL_FIELD_LEN: usize = 0x30;

/// Bytes of the device needed to read the label.
pub const HEADER_PREFIX_LEN: usize = LABEL_OFFSET + LABEL_FIELD_LEN;

/// Kind of header found in the first bytes of a device.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum HeaderKind {
    /// A LUKS2 header with this label (empty when none was set).
    Luks2 { label: String },
    /// A LUKS header of another version (LUKS1 has no label field).
    OtherLuksVersion(u16),
    /// No LUKS header: another filesystem, a partition table, or nothing.
    NotLuks,
}

/// Reads the header kind and label from the first bytes of a device.
///
/// cryptsetup never writes a label that lacks a NUL within its 48 bytes
/// or is not UTF-8. Such a label is returned with the invalid bytes
/// replaced, so it never equals a configured label by accident.
pub fn parse(prefix: &[u8]) -> HeaderKind {
    let Some(magic) = prefix.get(..LUKS_MAGIC.len()) else {
        return HeaderKind::NotLuks;
    };
    if magic != LUKS_MAGIC {
        return HeaderKind::NotLuks;
    }

    let Some(&[high, low]) = prefix.get(VERSION_OFFSET..VERSION_OFFSET + 2) else {
        return HeaderKind::NotLuks;
    };
    let version = u16::from_be_bytes([high, low]);
    if version != LUKS2_VERSION {
        return HeaderKind::OtherLuksVersion(version);
    }

    let Some(field) = prefix.get(LABEL_OFFSET..LABEL_OFFSET + LABEL_FIELD_LEN) else {
        return HeaderKind::NotLuks;
    };
    let label = match field.iter().position(|&byte| byte == 0) {
        Some(end) => String::from_utf8_lossy(field.get(..end).unwrap_or_default()).into_owned(),
        None => format!("{}\u{fffd}", String::from_utf8_lossy(field)),
    };
    HeaderKind::Luks2 { label }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(version: u16, label: &[u8]) -> Vec<u8> {
        let mut bytes = vec![0u8; 512];
        bytes[..6].copy_from_slice(&LUKS_MAGIC);
        bytes[6..8].copy_from_slice(&version.to_be_bytes());
        bytes[LABEL_OFFSET..LABEL_OFFSET + label.len()].copy_from_slice(label);
        bytes
    }

    #[test]
    fn reads_luks2_label() {
        let kind = parse(&header(2, b"balena-sign-secrets"));
        assert_eq!(
            kind,
            HeaderKind::Luks2 {
                label: "balena-sign-secrets".into()
            }
        );
    }

    #[test]
    fn reads_empty_label() {
        assert_eq!(parse(&header(2, b"")), HeaderKind::Luks2 { label: String::new() });
    }

    #[test]
    fn luks1_has_no_label() {
        assert_eq!(parse(&header(1, b"")), HeaderKind::OtherLuksVersion(1));
    }

    #[test]
    fn secondary_magic_is_not_primary() {
        let mut bytes = header(2, b"x");
        bytes[..4].copy_from_slice(b"SKUL");
        assert_eq!(parse(&bytes), HeaderKind::NotLuks);
    }

    #[test]
    fn truncated_headers_are_not_luks() {
        let full = header(2, b"label");
        for len in [0, 5, 7, LABEL_OFFSET, HEADER_PREFIX_LEN - 1] {
            assert_eq!(parse(&full[..len]), HeaderKind::NotLuks, "prefix of {len} bytes");
        }
        assert!(matches!(parse(&full[..HEADER_PREFIX_LEN]), HeaderKind::Luks2 { .. }));
    }

    #[test]
    fn unterminated_label_never_matches() {
        let kind = parse(&header(2, &[b'a'; LABEL_FIELD_LEN]));
        let HeaderKind::Luks2 { label } = kind else {
            panic!("expected a LUKS2 header, got {kind:?}");
        };
        assert_ne!(label, "a".repeat(LABEL_FIELD_LEN));
        assert!(label.starts_with(&"a".repeat(LABEL_FIELD_LEN)));
    }
}
