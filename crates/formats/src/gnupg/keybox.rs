//! Keybox files (`pubring.kbx`), GnuPG 2.1 and 2.2's public keyring: a
//! sequence of blobs, each starting with its length, as GnuPG's
//! `kbx/keybox-blob.c` describes them. Integers are big-endian, and offsets
//! count from the start of the blob.
//!
//! ```text
//! header blob (first in the file, 32 bytes):
//!   u32 length | u8 type 1 | u8 version 1 | u16 flags (0x0002: OpenPGP)
//!   "KBXf" | u32 0 | u32 file created at | u32 last maintenance run | u32 0 | u32 0
//!
//! OpenPGP blob (type 2, version 1):
//!   u32 length | u8 type 2 | u8 version 1 | u16 blob flags
//!   u32 keyblock offset | u32 keyblock length
//!   u16 number of keys | u16 key info size (28)
//!     per key: 20-byte fingerprint | u32 offset of the key ID | u16 flags | u16 0
//!   u16 serial number length | serial number
//!   u16 number of user IDs | u16 user ID info size (12)
//!     per user ID: u32 offset | u32 length | u16 flags | u8 validity | u8 0
//!   u16 number of signatures | u16 signature info size (4)
//!     per signature: u32 expiration time
//!   u8 ownertrust | u8 all validity | u16 0 | u32 recheck after
//!   u32 latest timestamp | u32 blob created at | u32 reserved space size | reserved space
//!   keyblock (OpenPGP packets)
//!   unused space | 20-byte SHA-1 of the blob up to the end of the keyblock
//! ```
//!
//! Empty blobs (type 0) mark deleted keys, and X.509 blobs (type 3) hold
//! gpgsm's certificates; the reader skips both, and blobs of unknown types.
//!
//! The writer fills the blob as GnuPG 2.2.40 does for a key it generates: a
//! v4 key ID offset pointing at the last 8 bytes of the key's fingerprint,
//! every user ID packet recorded by the offset and length of its body, one
//! zeroed entry per signature packet, and zero for all flags, validities and
//! trust values. Like GnuPG, it writes a trust packet (tag 12) with GnuPG's
//! metadata after the primary key, each user ID and each signature, marking
//! every signature as not yet checked so that gpg checks it when needed.

use sha1::{Digest, Sha1};

use crate::openpgp::{Fingerprint, PacketReader, ParseError, Tag, TransferablePublicKey, FINGERPRINT_LEN};

/// Largest blob GnuPG reads (`IMAGELEN_LIMIT` in `kbx/keybox-file.c`).
pub const MAX_BLOB_LEN: usize = 5 * 1024 * 1024;

/// Blob types (byte 4 of every blob); 0 is an empty blob and 3 an X.509 one.
const BLOB_TYPE_HEADER: u8 = 0x01;
const BLOB_TYPE_OPENPGP: u8 = 0x02;

/// Version of the header and OpenPGP blobs GnuPG 2.2 writes. Version 2
/// OpenPGP blobs carry 32-byte fingerprints (`kbx/keybox-dump.c`) and are
/// rejected.
const BLOB_VERSION_1: u8 = 0x01;

/// Length field and type byte that start every blob.
const BLOB_PREFIX_LEN: usize = 5;
const HEADER_BLOB_LEN: usize = 32;
const HEADER_MAGIC: &[u8; 4] = b"KBXf";
/// Header blob flag: the file contains OpenPGP blobs.
const HEADER_FLAG_OPENPGP: u16 = 0x0002;

/// OpenPGP blob flag: ephemeral, kept only while GnuPG looks a key up.
pub const BLOB_FLAG_EPHEMERAL: u16 = 0x0002;

/// Sizes of the info structures GnuPG writes, which are also the minimum
/// sizes it reads.
const KEY_INFO_LEN: u16 = 28;
const USER_ID_INFO_LEN: u16 = 12;
const SIGNATURE_INFO_LEN: u16 = 4;
/// Bytes from the start of a key info entry to the key ID offset field.
const KEY_ID_OFFSET_FIELD: usize = FINGERPRINT_LEN;
/// A v4 key ID is the last 8 bytes of the fingerprint, which ends where the
/// key ID offset field starts.
const KEY_ID_LEN: usize = 8;
const CHECKSUM_LEN: usize = 20;

/// Fields of an OpenPGP blob before the key infos: length, type, version,
/// flags, keyblock offset and length, number of keys and key info size.
const BLOB_FIXED_PREFIX_LEN: usize = 20;
/// Length of the serial number length field.
const SERIAL_LENGTH_FIELD_LEN: usize = 2;
/// Count and entry size before the user ID and signature info arrays.
const INFO_ARRAY_HEADER_LEN: usize = 4;
/// Ownertrust, validity, reserved u16, recheck time and latest timestamp.
const BLOB_TRUST_FIELDS_LEN: usize = 12;
/// Fields after the signature infos: the trust fields, the blob creation
/// time and the reserved space size.
const BLOB_TRAILER_LEN: usize = BLOB_TRUST_FIELDS_LEN + 8;

/// Trust packet (tag 12) with GnuPG's metadata (`do_ring_trust` in
/// `g10/build-packet.c`): trust value, signature cache, "gpg", subtype,
/// then for keys and user IDs: key origin, u32 last update, URL length.
const TRUST_MAGIC: &[u8; 3] = b"gpg";
const TRUST_SUBTYPE_SIGNATURE: u8 = 0x00;
const TRUST_SUBTYPE_KEY: u8 = 0x01;
const TRUST_SUBTYPE_USER_ID: u8 = 0x02;
/// Old-format CTB of a trust packet with a one-octet length.
const TRUST_PACKET_CTB: u8 = 0xb0;

/// Error from reading a keybox. Offsets count bytes from the start of the
/// file; `offset` alone is where the blob in question starts.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyboxError {
    #[error("the file is not a keybox: it starts with byte {byte:#04x}, an OpenPGP packet header; read a pubring.gpg keyring as OpenPGP packets instead")]
    NotKeybox { byte: u8 },
    #[error("{field} at offset {offset:#x} is truncated")]
    Truncated { field: &'static str, offset: usize },
    #[error("blob at offset {offset:#x} declares length {len}; a blob is at least 5 bytes")]
    BlobTooShort { offset: usize, len: u32 },
    #[error("blob at offset {offset:#x} declares length {len}, over GnuPG's maximum of {max}")]
    BlobTooLong { offset: usize, len: u32, max: usize },
    #[error("blob at offset {offset:#x} declares length {len}, but only {available} bytes remain in the file")]
    BlobPastEnd { offset: usize, len: u32, available: usize },
    #[error("header blob at offset {offset:#x} lacks the 'KBXf' magic; the file is not a keybox")]
    InvalidHeaderBlob { offset: usize },
    #[error("OpenPGP blob at offset {offset:#x} has version {version}; only version 1, which GnuPG 2.1 and 2.2 write, is supported")]
    UnsupportedBlobVersion { offset: usize, version: u8 },
    #[error("OpenPGP blob at offset {offset:#x} lists no keys")]
    NoKeys { offset: usize },
    #[error("{field} size {size} in the blob at offset {offset:#x} is below the minimum of {min}")]
    InfoTooShort {
        offset: usize,
        field: &'static str,
        size: u16,
        min: u16,
    },
    #[error("keyblock of the blob at offset {offset:#x} starts at blob offset {keyblock_offset:#x}, inside the blob's header")]
    KeyblockOverlapsHeader { offset: usize, keyblock_offset: u32 },
    #[error("keyblock of the blob at offset {offset:#x} ({keyblock_len} bytes at blob offset {keyblock_offset:#x}) runs past the checksum at the end of the {blob_len}-byte blob")]
    KeyblockPastEnd {
        offset: usize,
        keyblock_offset: u32,
        keyblock_len: u32,
        blob_len: usize,
    },
    #[error("SHA-1 checksum of the blob at offset {offset:#x} does not match its contents; the keybox is damaged")]
    ChecksumMismatch { offset: usize },
    #[error("keyblock of the blob at offset {offset:#x} is invalid: {source}")]
    Keyblock {
        offset: usize,
        #[source]
        source: ParseError,
    },
    #[error("blob at offset {offset:#x} lists fingerprint {recorded}, but its keyblock holds key {actual}")]
    FingerprintMismatch {
        offset: usize,
        recorded: Fingerprint,
        actual: Fingerprint,
    },
}

/// Error from writing a keybox.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyboxBuildError {
    #[error("the key has {count} {what}, over the keybox maximum of {max}")]
    TooMany {
        what: &'static str,
        count: usize,
        max: usize,
    },
    #[error("the key's blob would be {len} bytes, over GnuPG's maximum of {max}")]
    BlobTooLong { len: usize, max: usize },
    #[error("the key cannot be encoded: {0}")]
    Keyblock(#[source] ParseError),
}

/// An OpenPGP blob, borrowed from the keybox.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OpenPgpBlob<'a> {
    offset: usize,
    flags: u16,
    fingerprints: Vec<Fingerprint>,
    keyblock: &'a [u8],
    created: u32,
}

impl<'a> OpenPgpBlob<'a> {
    /// Offset of the blob in the file.
    pub fn offset(&self) -> usize {
        self.offset
    }

    /// Blob flags; see [`BLOB_FLAG_EPHEMERAL`].
    pub fn flags(&self) -> u16 {
        self.flags
    }

    /// Returns whether GnuPG stored the key only for a lookup in progress;
    /// gpg hides such keys from listings.
    pub fn is_ephemeral(&self) -> bool {
        self.flags & BLOB_FLAG_EPHEMERAL != 0
    }

    /// Fingerprints the blob lists: the primary key's, then each subkey's.
    pub fn fingerprints(&self) -> &[Fingerprint] {
        &self.fingerprints
    }

    /// Returns the keyblock: the key's OpenPGP packets, with GnuPG's trust
    /// packets.
    pub fn keyblock(&self) -> &'a [u8] {
        self.keyblock
    }

    /// Time the blob was written, Unix seconds.
    pub fn created(&self) -> u32 {
        self.created
    }

    /// Reads the keyblock and checks that its primary key has the first
    /// fingerprint the blob lists.
    pub fn transferable_public_key(&self) -> Result<TransferablePublicKey, KeyboxError> {
        let key = TransferablePublicKey::from_bytes(self.keyblock).map_err(|source| KeyboxError::Keyblock {
            offset: self.offset,
            source,
        })?;

        let actual = key.fingerprint();
        match self.fingerprints.first() {
            Some(&recorded) if recorded != actual => Err(KeyboxError::FingerprintMismatch {
                offset: self.offset,
                recorded,
                actual,
            }),
            _ => Ok(key),
        }
    }
}

/// Reads every OpenPGP blob of a keybox, in file order, skipping the header,
/// empty, X.509 and unknown blobs.
pub fn openpgp_blobs(data: &[u8]) -> Result<Vec<OpenPgpBlob<'_>>, KeyboxError> {
    if let Some(&byte) = data.first().filter(|&&byte| byte & 0x80 != 0) {
        return Err(KeyboxError::NotKeybox { byte });
    }

    let mut blobs = Vec::new();
    let mut offset = 0;
    while offset < data.len() {
        let blob = next_blob(data, offset)?;
        match blob.get(4).copied() {
            Some(BLOB_TYPE_HEADER) => check_header_blob(blob, offset)?,
            Some(BLOB_TYPE_OPENPGP) => blobs.push(parse_openpgp_blob(blob, offset)?),
            _ => {}
        }
        offset += blob.len();
    }
    Ok(blobs)
}

/// Returns the blob at `offset`, checked against the file and GnuPG's limit.
fn next_blob(data: &[u8], offset: usize) -> Result<&[u8], KeyboxError> {
    let rest = data.get(offset..).unwrap_or_default();
    let mut cursor = Cursor::new(rest, offset);
    let len = cursor.u32("blob length")?;
    cursor.u8("blob type")?;

    if (len as usize) < BLOB_PREFIX_LEN {
        return Err(KeyboxError::BlobTooShort { offset, len });
    }
    if len as usize > MAX_BLOB_LEN {
        return Err(KeyboxError::BlobTooLong {
            offset,
            len,
            max: MAX_BLOB_LEN,
        });
    }
    rest.get(..len as usize).ok_or(KeyboxError::BlobPastEnd {
        offset,
        len,
        available: rest.len(),
    })
}

fn check_header_blob(blob: &[u8], offset: usize) -> Result<(), KeyboxError> {
    let mut cursor = Cursor::new(blob, offset);
    cursor.take(8, "header blob prefix")?;
    let magic = cursor.take(HEADER_MAGIC.len(), "header blob magic")?;
    if magic != HEADER_MAGIC {
        return Err(KeyboxError::InvalidHeaderBlob { offset });
    }
    Ok(())
}

fn parse_openpgp_blob(blob: &[u8], offset: usize) -> Result<OpenPgpBlob<'_>, KeyboxError> {
    let mut cursor = Cursor::new(blob, offset);
    cursor.take(BLOB_PREFIX_LEN, "blob length and type")?;
    let version = cursor.u8("blob version")?;
    if version != BLOB_VERSION_1 {
        return Err(KeyboxError::UnsupportedBlobVersion { offset, version });
    }
    let flags = cursor.u16("blob flags")?;
    let keyblock_offset = cursor.u32("keyblock offset")?;
    let keyblock_len = cursor.u32("keyblock length")?;

    let fingerprints = read_key_infos(&mut cursor, offset)?;
    let serial_len = cursor.u16("serial number length")?;
    cursor.take(usize::from(serial_len), "serial number")?;
    skip_info_array(&mut cursor, offset, "user ID info", USER_ID_INFO_LEN)?;
    skip_info_array(&mut cursor, offset, "signature info", SIGNATURE_INFO_LEN)?;

    cursor.take(BLOB_TRUST_FIELDS_LEN, "ownertrust, validity and timestamps")?;
    let created = cursor.u32("blob creation time")?;
    let reserved_len = cursor.u32("reserved space size")?;
    cursor.take(reserved_len as usize, "reserved space")?;

    let keyblock = keyblock(blob, offset, cursor.pos, keyblock_offset, keyblock_len)?;
    Ok(OpenPgpBlob {
        offset,
        flags,
        fingerprints,
        keyblock,
        created,
    })
}

fn read_key_infos(cursor: &mut Cursor<'_>, offset: usize) -> Result<Vec<Fingerprint>, KeyboxError> {
    let count = cursor.u16("number of keys")?;
    let size = cursor.u16("key info size")?;
    if count == 0 {
        return Err(KeyboxError::NoKeys { offset });
    }
    if size < KEY_INFO_LEN {
        return Err(KeyboxError::InfoTooShort {
            offset,
            field: "key info",
            size,
            min: KEY_INFO_LEN,
        });
    }

    let mut fingerprints = Vec::with_capacity(usize::from(count));
    for _ in 0..count {
        let mut info = cursor.sub(usize::from(size), "key info")?;
        fingerprints.push(Fingerprint(info.take_array("key fingerprint")?));
    }
    Ok(fingerprints)
}

fn skip_info_array(cursor: &mut Cursor<'_>, offset: usize, field: &'static str, min: u16) -> Result<(), KeyboxError> {
    let count = cursor.u16(field)?;
    let size = cursor.u16(field)?;
    if count > 0 && size < min {
        return Err(KeyboxError::InfoTooShort {
            offset,
            field,
            size,
            min,
        });
    }
    cursor.take(usize::from(count) * usize::from(size), field)?;
    Ok(())
}

/// Returns the keyblock, after checking that it lies between the blob's
/// header and its checksum and that the checksum matches.
fn keyblock(
    blob: &[u8],
    offset: usize,
    header_end: usize,
    keyblock_offset: u32,
    keyblock_len: u32,
) -> Result<&[u8], KeyboxError> {
    if (keyblock_offset as usize) < header_end {
        return Err(KeyboxError::KeyblockOverlapsHeader {
            offset,
            keyblock_offset,
        });
    }
    let past_end = KeyboxError::KeyblockPastEnd {
        offset,
        keyblock_offset,
        keyblock_len,
        blob_len: blob.len(),
    };
    let end = (keyblock_offset as usize)
        .checked_add(keyblock_len as usize)
        .ok_or(past_end.clone())?;
    let checksum_start = blob.len().checked_sub(CHECKSUM_LEN).ok_or(past_end.clone())?;
    if end > checksum_start {
        return Err(past_end);
    }

    let hashed = blob.get(..end).ok_or(past_end.clone())?;
    let checksum = blob.get(checksum_start..).ok_or(past_end.clone())?;
    if Sha1::digest(hashed).as_slice() != checksum {
        return Err(KeyboxError::ChecksumMismatch { offset });
    }
    blob.get(keyblock_offset as usize..end).ok_or(past_end)
}

/// Writes a keybox: the header blob, then one OpenPGP blob per key.
#[derive(Clone, Debug)]
pub struct KeyboxWriter {
    out: Vec<u8>,
}

impl KeyboxWriter {
    /// Starts the file with its header blob, recording `created` (Unix
    /// seconds) as the time the file was created and last maintained.
    pub fn new(created: u32) -> Self {
        let mut out = Vec::with_capacity(HEADER_BLOB_LEN);
        out.extend_from_slice(&(HEADER_BLOB_LEN as u32).to_be_bytes());
        out.extend_from_slice(&[BLOB_TYPE_HEADER, BLOB_VERSION_1]);
        out.extend_from_slice(&HEADER_FLAG_OPENPGP.to_be_bytes());
        out.extend_from_slice(HEADER_MAGIC);
        out.extend_from_slice(&0u32.to_be_bytes());
        out.extend_from_slice(&created.to_be_bytes());
        out.extend_from_slice(&created.to_be_bytes());
        out.extend_from_slice(&[0u8; 8]);
        Self { out }
    }

    /// Appends the OpenPGP blob for `key`, recording `created` (Unix
    /// seconds) as the time the blob was written.
    pub fn add_key(&mut self, key: &TransferablePublicKey, created: u32) -> Result<(), KeyboxBuildError> {
        let blob = openpgp_blob(key, created)?;
        self.out.extend_from_slice(&blob);
        Ok(())
    }

    /// Returns the file contents.
    pub fn finish(self) -> Vec<u8> {
        self.out
    }
}

/// The keyblock as GnuPG stores it, with what the blob header records
/// about it.
struct KeyblockImage {
    bytes: Vec<u8>,
    /// Offset of each user ID packet body in `bytes`, and its length.
    user_ids: Vec<(usize, usize)>,
    signature_count: usize,
}

fn openpgp_blob(key: &TransferablePublicKey, created: u32) -> Result<Vec<u8>, KeyboxBuildError> {
    let image = keyblock_image(key)?;
    let mut fingerprints = vec![key.fingerprint()];
    fingerprints.extend(key.subkeys().iter().map(|binding| binding.key().fingerprint()));

    let key_count = count_u16("keys", fingerprints.len())?;
    let user_id_count = count_u16("user IDs", image.user_ids.len())?;
    let signature_count = count_u16("signatures", image.signature_count)?;

    let header_len = BLOB_FIXED_PREFIX_LEN
        + fingerprints.len() * usize::from(KEY_INFO_LEN)
        + SERIAL_LENGTH_FIELD_LEN
        + INFO_ARRAY_HEADER_LEN
        + image.user_ids.len() * usize::from(USER_ID_INFO_LEN)
        + INFO_ARRAY_HEADER_LEN
        + image.signature_count * usize::from(SIGNATURE_INFO_LEN)
        + BLOB_TRAILER_LEN;
    let blob_len = header_len + image.bytes.len() + CHECKSUM_LEN;
    if blob_len > MAX_BLOB_LEN {
        return Err(KeyboxBuildError::BlobTooLong {
            len: blob_len,
            max: MAX_BLOB_LEN,
        });
    }

    // Every value below is bounded by MAX_BLOB_LEN, so it fits in a u32.
    let mut out = Vec::with_capacity(blob_len);
    out.extend_from_slice(&(blob_len as u32).to_be_bytes());
    out.extend_from_slice(&[BLOB_TYPE_OPENPGP, BLOB_VERSION_1]);
    out.extend_from_slice(&0u16.to_be_bytes());
    out.extend_from_slice(&(header_len as u32).to_be_bytes());
    out.extend_from_slice(&(image.bytes.len() as u32).to_be_bytes());

    out.extend_from_slice(&key_count.to_be_bytes());
    out.extend_from_slice(&KEY_INFO_LEN.to_be_bytes());
    for fingerprint in &fingerprints {
        let key_id_offset = out.len() + KEY_ID_OFFSET_FIELD - KEY_ID_LEN;
        out.extend_from_slice(&fingerprint.0);
        out.extend_from_slice(&(key_id_offset as u32).to_be_bytes());
        out.extend_from_slice(&[0u8; 4]);
    }

    out.extend_from_slice(&0u16.to_be_bytes());
    out.extend_from_slice(&user_id_count.to_be_bytes());
    out.extend_from_slice(&USER_ID_INFO_LEN.to_be_bytes());
    for &(user_id_offset, len) in &image.user_ids {
        out.extend_from_slice(&((header_len + user_id_offset) as u32).to_be_bytes());
        out.extend_from_slice(&(len as u32).to_be_bytes());
        out.extend_from_slice(&[0u8; 4]);
    }

    out.extend_from_slice(&signature_count.to_be_bytes());
    out.extend_from_slice(&SIGNATURE_INFO_LEN.to_be_bytes());
    out.resize(out.len() + image.signature_count * usize::from(SIGNATURE_INFO_LEN), 0);

    out.extend_from_slice(&[0u8; BLOB_TRUST_FIELDS_LEN]);
    out.extend_from_slice(&created.to_be_bytes());
    out.extend_from_slice(&0u32.to_be_bytes());
    debug_assert_eq!(out.len(), header_len);

    out.extend_from_slice(&image.bytes);
    let checksum = Sha1::digest(&out);
    out.extend_from_slice(&checksum);
    Ok(out)
}

/// Encodes `key` and inserts GnuPG's trust packets after the primary key,
/// each user ID and each signature.
fn keyblock_image(key: &TransferablePublicKey) -> Result<KeyblockImage, KeyboxBuildError> {
    let packets = key.to_bytes();
    let mut image = KeyblockImage {
        bytes: Vec::with_capacity(packets.len() + 256),
        user_ids: Vec::new(),
        signature_count: 0,
    };

    for packet in PacketReader::new(&packets) {
        let packet = packet.map_err(KeyboxBuildError::Keyblock)?;
        let end = packet.body_offset + packet.body.len();
        let raw = packets.get(packet.offset..end).unwrap_or_default();
        let body_offset = image.bytes.len() + (packet.body_offset - packet.offset);
        image.bytes.extend_from_slice(raw);

        match packet.tag {
            Tag::PUBLIC_KEY => write_trust_packet(&mut image.bytes, TRUST_SUBTYPE_KEY),
            Tag::USER_ID => {
                image.user_ids.push((body_offset, packet.body.len()));
                write_trust_packet(&mut image.bytes, TRUST_SUBTYPE_USER_ID);
            }
            Tag::SIGNATURE => {
                image.signature_count += 1;
                write_trust_packet(&mut image.bytes, TRUST_SUBTYPE_SIGNATURE);
            }
            _ => {}
        }
    }
    Ok(image)
}

/// Writes a trust packet with zero trust, no cached signature check, no key
/// origin, no update time and no URL.
fn write_trust_packet(out: &mut Vec<u8>, subtype: u8) {
    let mut body = vec![0x00, 0x00];
    body.extend_from_slice(TRUST_MAGIC);
    body.push(subtype);
    if subtype != TRUST_SUBTYPE_SIGNATURE {
        body.push(0x00);
        body.extend_from_slice(&0u32.to_be_bytes());
        body.push(0x00);
    }
    out.push(TRUST_PACKET_CTB);
    out.push(body.len() as u8);
    out.extend_from_slice(&body);
}

fn count_u16(what: &'static str, count: usize) -> Result<u16, KeyboxBuildError> {
    u16::try_from(count).map_err(|_| KeyboxBuildError::TooMany {
        what,
        count,
        max: usize::from(u16::MAX),
    })
}

/// A bounded big-endian reader whose errors carry file offsets.
struct Cursor<'a> {
    data: &'a [u8],
    pos: usize,
    base: usize,
}

impl<'a> Cursor<'a> {
    fn new(data: &'a [u8], base: usize) -> Self {
        Self { data, pos: 0, base }
    }

    fn take(&mut self, len: usize, field: &'static str) -> Result<&'a [u8], KeyboxError> {
        let truncated = KeyboxError::Truncated {
            field,
            offset: self.base + self.pos,
        };
        let end = self.pos.checked_add(len).ok_or(truncated.clone())?;
        let bytes = self.data.get(self.pos..end).ok_or(truncated)?;
        self.pos = end;
        Ok(bytes)
    }

    fn take_array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], KeyboxError> {
        let mut array = [0u8; N];
        array.copy_from_slice(self.take(N, field)?);
        Ok(array)
    }

    fn sub(&mut self, len: usize, field: &'static str) -> Result<Cursor<'a>, KeyboxError> {
        let base = self.base + self.pos;
        Ok(Cursor::new(self.take(len, field)?, base))
    }

    fn u8(&mut self, field: &'static str) -> Result<u8, KeyboxError> {
        let [byte] = self.take_array(field)?;
        Ok(byte)
    }

    fn u16(&mut self, field: &'static str) -> Result<u16, KeyboxError> {
        Ok(u16::from_be_bytes(self.take_array(field)?))
    }

    fn u32(&mut self, field: &'static str) -> Result<u32, KeyboxError> {
        Ok(u32::from_be_bytes(self.take_array(field)?))
    }
}

#[cfg(test)]
mod tests;
