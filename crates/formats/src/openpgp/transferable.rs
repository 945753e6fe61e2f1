//! Transferable public keys (RFC 4880 §11.1), what `gpg --export` writes:
//!
//! ```text
//! public-key packet
//!     zero or more revocation or direct-key signatures
//! one or more user ID packets, each followed by its certifications
//! zero or more user attribute packets, each followed by its certifications
//! zero or more public-subkey packets, each followed by its binding and
//!     revocation signatures
//! ```
//!
//! The reader also skips the trust packets (tag 12) of GnuPG's `pubring.gpg`
//! and marker packets (tag 10). It drops user attribute packets (photo IDs)
//! with their signatures: their tag 17 does not fit an old-format header,
//! and GRUB ignores them anyway.

use std::fmt;

use super::armor::{armor, dearmor, ArmorKind};
use super::error::{BuildError, ParseError, UserIdError};
use super::key::{Fingerprint, PublicKey};
use super::packet::{write_packet, Packet, PacketReader, Tag};
use super::signature::{self_certification, Signature};
use crate::signer::Signer;

/// Maximum user ID length in bytes, the limit GnuPG applies when it reads
/// packets (`MAX_UID_PACKET_LENGTH` in `g10/packet.h`).
pub const MAX_USER_ID_LEN: usize = 2048;

/// A user ID packet body, by convention UTF-8 text such as
/// `Name (Comment) <mail@example.com>`. Keys read from elsewhere may hold
/// other encodings, so the bytes are kept as they are.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserId(Vec<u8>);

impl UserId {
    /// Checks a user ID to certify: not empty, at most
    /// [`MAX_USER_ID_LEN`] bytes, no control characters.
    pub fn new(text: &str) -> Result<Self, UserIdError> {
        if text.is_empty() {
            return Err(UserIdError::Empty);
        }
        if text.len() > MAX_USER_ID_LEN {
            return Err(UserIdError::TooLong {
                len: text.len(),
                max: MAX_USER_ID_LEN,
            });
        }
        if let Some(character) = text.chars().find(|character| character.is_control()) {
            return Err(UserIdError::ControlCharacter { character });
        }
        Ok(Self(text.as_bytes().to_vec()))
    }

    /// Joins the parts as GnuPG 2.2 does for the `Name-Real`,
    /// `Name-Comment` and `Name-Email` parameters of unattended key
    /// generation: `name (comment) <email>`, leaving out a missing or empty
    /// comment, and just `email` when the name and comment are empty.
    pub fn from_parts(name_real: &str, name_comment: Option<&str>, name_email: &str) -> Result<Self, UserIdError> {
        let mut text = name_real.to_owned();
        if let Some(comment) = name_comment.filter(|comment| !comment.is_empty()) {
            text.push_str(" (");
            text.push_str(comment);
            text.push(')');
        }
        if text.is_empty() {
            text.push_str(name_email);
        } else if !name_email.is_empty() {
            text.push_str(" <");
            text.push_str(name_email);
            text.push('>');
        }
        Self::new(&text)
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Returns the user ID as text, when it is UTF-8.
    pub fn as_str(&self) -> Option<&str> {
        std::str::from_utf8(&self.0).ok()
    }
}

impl fmt::Display for UserId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(&self.0))
    }
}

/// A user ID with the signatures that follow it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UserIdBinding {
    user_id: UserId,
    signatures: Vec<Signature>,
}

impl UserIdBinding {
    pub fn user_id(&self) -> &UserId {
        &self.user_id
    }

    /// Certifications and revocations of this user ID, in input order.
    pub fn signatures(&self) -> &[Signature] {
        &self.signatures
    }
}

/// A subkey with the signatures that follow it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SubkeyBinding {
    key: PublicKey,
    signatures: Vec<Signature>,
}

impl SubkeyBinding {
    pub fn key(&self) -> &PublicKey {
        &self.key
    }

    /// Binding and revocation signatures of this subkey, in input order.
    pub fn signatures(&self) -> &[Signature] {
        &self.signatures
    }
}

/// A public key with its user IDs, subkeys and signatures.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TransferablePublicKey {
    primary_key: PublicKey,
    direct_signatures: Vec<Signature>,
    user_ids: Vec<UserIdBinding>,
    subkeys: Vec<SubkeyBinding>,
}

/// Packet that the signatures being read belong to.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Section {
    PrimaryKey,
    UserId,
    UserAttribute,
    Subkey,
}

impl TransferablePublicKey {
    /// Certifies `user_id` on `key` through `signer`, which must have the
    /// private half of `key`. The result is what `gpg --export` writes for a
    /// key from `gpg --quick-generate-key NAME rsa4096 sign never`. It has
    /// one positive self-certification made at the key's creation time, with
    /// SHA-512, key flags certify and sign, and GnuPG's algorithm preferences.
    pub fn certify(key: PublicKey, user_id: UserId, signer: &dyn Signer) -> Result<Self, BuildError> {
        let certification = self_certification(signer, &key, user_id.as_bytes(), key.created())?;
        Ok(Self {
            primary_key: key,
            direct_signatures: Vec::new(),
            user_ids: vec![UserIdBinding {
                user_id,
                signatures: vec![certification],
            }],
            subkeys: Vec::new(),
        })
    }

    /// Reads one binary transferable public key, such as the output of
    /// `gpg --export KEYID`. Signatures are checked for structure only.
    pub fn from_bytes(data: &[u8]) -> Result<Self, ParseError> {
        let mut packets = PacketReader::new(data);
        let first = next_packet(&mut packets)?.ok_or(ParseError::Empty)?;
        let mut key = Self::start(&first)?;

        let mut section = Section::PrimaryKey;
        while let Some(packet) = next_packet(&mut packets)? {
            section = key.add_packet(&packet, section)?;
        }

        if key.user_ids.is_empty() {
            return Err(ParseError::MissingUserId { offset: first.offset });
        }
        Ok(key)
    }

    /// Reads an ASCII-armored transferable public key, such as the output of
    /// `gpg --armor --export KEYID`.
    pub fn from_armored(text: &str) -> Result<Self, ParseError> {
        let data = dearmor(text, ArmorKind::PublicKeyBlock)?;
        Self::from_bytes(&data)
    }

    /// Encodes the key in binary form, every packet with an old-format header.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::new();
        write_packet(&mut out, Tag::PUBLIC_KEY, self.primary_key.body());
        write_signatures(&mut out, &self.direct_signatures);
        for binding in &self.user_ids {
            write_packet(&mut out, Tag::USER_ID, binding.user_id.as_bytes());
            write_signatures(&mut out, &binding.signatures);
        }
        for binding in &self.subkeys {
            write_packet(&mut out, Tag::PUBLIC_SUBKEY, binding.key.body());
            write_signatures(&mut out, &binding.signatures);
        }
        out
    }

    /// Encodes the key as `gpg --armor --export` writes it.
    pub fn to_armored(&self) -> String {
        armor(ArmorKind::PublicKeyBlock, &self.to_bytes())
    }

    pub fn primary_key(&self) -> &PublicKey {
        &self.primary_key
    }

    /// Fingerprint of the primary key.
    pub fn fingerprint(&self) -> Fingerprint {
        self.primary_key.fingerprint()
    }

    /// Creation time of the primary key, Unix seconds.
    pub fn created(&self) -> u32 {
        self.primary_key.created()
    }

    /// Revocation and direct-key signatures on the primary key.
    pub fn direct_signatures(&self) -> &[Signature] {
        &self.direct_signatures
    }

    /// User IDs in input order; never empty.
    pub fn user_ids(&self) -> &[UserIdBinding] {
        &self.user_ids
    }

    pub fn subkeys(&self) -> &[SubkeyBinding] {
        &self.subkeys
    }

    fn start(first: &Packet<'_>) -> Result<Self, ParseError> {
        match first.tag {
            Tag::PUBLIC_KEY => Ok(Self {
                primary_key: PublicKey::parse(first.body, first.body_offset)?,
                direct_signatures: Vec::new(),
                user_ids: Vec::new(),
                subkeys: Vec::new(),
            }),
            Tag::SECRET_KEY => Err(ParseError::SecretKey { offset: first.offset }),
            tag => Err(ParseError::UnexpectedPacket {
                tag: tag.0,
                offset: first.offset,
                expected: "a public-key packet (tag 6)",
            }),
        }
    }

    /// Adds one packet after the primary key and returns the section that
    /// the following signatures belong to.
    fn add_packet(&mut self, packet: &Packet<'_>, section: Section) -> Result<Section, ParseError> {
        match packet.tag {
            Tag::SIGNATURE => {
                let signature = Signature::parse(packet.body, packet.body_offset)?;
                self.add_signature(signature, section);
                Ok(section)
            }
            Tag::USER_ID if section != Section::Subkey => {
                let user_id = read_user_id(packet)?;
                self.user_ids.push(UserIdBinding {
                    user_id,
                    signatures: Vec::new(),
                });
                Ok(Section::UserId)
            }
            Tag::USER_ATTRIBUTE if section != Section::Subkey => Ok(Section::UserAttribute),
            Tag::PUBLIC_SUBKEY if !self.user_ids.is_empty() => {
                let key = PublicKey::parse(packet.body, packet.body_offset)?;
                self.subkeys.push(SubkeyBinding {
                    key,
                    signatures: Vec::new(),
                });
                Ok(Section::Subkey)
            }
            Tag::PUBLIC_SUBKEY => Err(ParseError::UnexpectedPacket {
                tag: packet.tag.0,
                offset: packet.offset,
                expected: "a user ID packet before the first subkey",
            }),
            Tag::PUBLIC_KEY => Err(ParseError::MultipleKeys { offset: packet.offset }),
            Tag::SECRET_KEY | Tag::SECRET_SUBKEY => Err(ParseError::SecretKey { offset: packet.offset }),
            tag => Err(ParseError::UnexpectedPacket {
                tag: tag.0,
                offset: packet.offset,
                expected: match section {
                    Section::Subkey => "a signature or public-subkey packet",
                    _ => "a signature, user ID, user attribute or public-subkey packet",
                },
            }),
        }
    }

    fn add_signature(&mut self, signature: Signature, section: Section) {
        let signatures = match section {
            Section::PrimaryKey => Some(&mut self.direct_signatures),
            Section::UserId => self.user_ids.last_mut().map(|binding| &mut binding.signatures),
            Section::UserAttribute => None,
            Section::Subkey => self.subkeys.last_mut().map(|binding| &mut binding.signatures),
        };
        if let Some(signatures) = signatures {
            signatures.push(signature);
        }
    }
}

/// Returns the next packet that is not a trust or marker packet.
fn next_packet<'a>(packets: &mut PacketReader<'a>) -> Result<Option<Packet<'a>>, ParseError> {
    for packet in packets.by_ref() {
        let packet = packet?;
        if packet.tag != Tag::TRUST && packet.tag != Tag::MARKER {
            return Ok(Some(packet));
        }
    }
    Ok(None)
}

fn read_user_id(packet: &Packet<'_>) -> Result<UserId, ParseError> {
    if packet.body.len() > MAX_USER_ID_LEN {
        return Err(ParseError::UserIdTooLong {
            offset: packet.offset,
            len: packet.body.len(),
            max: MAX_USER_ID_LEN,
        });
    }
    Ok(UserId(packet.body.to_vec()))
}

fn write_signatures(out: &mut Vec<u8>, signatures: &[Signature]) {
    for signature in signatures {
        write_packet(out, Tag::SIGNATURE, signature.body());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openpgp::armor::ArmorKind;
    use crate::openpgp::signature::SignatureType;
    use crate::openpgp::test_support::{FakeSigner, CREATED};
    use sha2::{Digest, Sha512};

    const USER_ID: &str = "Test Name (Comment) <test@example.com>";

    fn certified() -> TransferablePublicKey {
        let signer = FakeSigner::new(0x11);
        TransferablePublicKey::certify(signer.public_key(), UserId::new(USER_ID).unwrap(), &signer).unwrap()
    }

    fn packets(data: &[u8]) -> Vec<Packet<'_>> {
        PacketReader::new(data).collect::<Result<_, _>>().unwrap()
    }

    #[test]
    fn export_uses_old_format_headers() {
        let bytes = certified().to_bytes();
        let packets = packets(&bytes);
        let ctbs: Vec<u8> = packets.iter().map(|packet| bytes[packet.offset]).collect();
        assert_eq!(ctbs, [0x99, 0xb4, 0x89]);
        assert_eq!(packets[1].body, USER_ID.as_bytes());
    }

    #[test]
    fn self_certification_matches_gnupg_layout() {
        let key = certified();
        let bytes = key.to_bytes();
        let signature = packets(&bytes)[2].body.to_vec();
        let fingerprint = key.fingerprint().0;

        let mut hashed_part = vec![0x04, 0x13, 0x01, 0x0a, 0x00, 0x38, 0x16, 0x21, 0x04];
        hashed_part.extend_from_slice(&fingerprint);
        hashed_part.extend_from_slice(&[0x05, 0x02, 0x6b, 0x13, 0x21, 0x39]);
        hashed_part.extend_from_slice(&[0x02, 0x1b, 0x03]);
        hashed_part.extend_from_slice(&[0x05, 0x0b, 0x09, 0x08, 0x07, 0x02]);
        hashed_part.extend_from_slice(&[0x06, 0x15, 0x0a, 0x09, 0x08, 0x0b, 0x02]);
        hashed_part.extend_from_slice(&[0x04, 0x16, 0x02, 0x03, 0x01]);
        hashed_part.extend_from_slice(&[0x02, 0x1e, 0x01]);
        hashed_part.extend_from_slice(&[0x02, 0x17, 0x80]);
        assert_eq!(signature[..hashed_part.len()], hashed_part);

        let unhashed = &signature[hashed_part.len()..hashed_part.len() + 12];
        assert_eq!(unhashed[..4], [0x00, 0x0a, 0x09, 0x10]);
        assert_eq!(unhashed[4..], fingerprint[12..]);

        let mut input = vec![0x99, 0x01, 0x0d];
        input.extend_from_slice(key.primary_key().body());
        input.extend_from_slice(&[0xb4, 0x00, 0x00, 0x00, USER_ID.len() as u8]);
        input.extend_from_slice(USER_ID.as_bytes());
        input.extend_from_slice(&hashed_part);
        input.extend_from_slice(&[0x04, 0xff, 0x00, 0x00, 0x00, hashed_part.len() as u8]);
        let digest = Sha512::digest(&input);
        assert_eq!(signature[hashed_part.len() + 12..hashed_part.len() + 14], digest[..2]);
    }

    #[test]
    fn parses_own_export() {
        let key = certified();
        let parsed = TransferablePublicKey::from_bytes(&key.to_bytes()).unwrap();
        assert_eq!(parsed, key);
        assert_eq!(parsed.created(), CREATED);
        assert_eq!(parsed.user_ids().len(), 1);
        assert_eq!(parsed.user_ids()[0].user_id().as_str(), Some(USER_ID));

        let certification = &parsed.user_ids()[0].signatures()[0];
        assert_eq!(certification.signature_type(), SignatureType::POSITIVE_CERTIFICATION);
        assert_eq!(certification.key_flags(), Some(0x03));
        assert_eq!(certification.creation_time(), Some(CREATED));
        assert_eq!(certification.issuer_fingerprint(), Some(key.fingerprint()));
    }

    #[test]
    fn armored_export_round_trip() {
        let key = certified();
        let text = key.to_armored();
        assert!(text.starts_with("-----BEGIN PGP PUBLIC KEY BLOCK-----\n\n"));
        assert_eq!(TransferablePublicKey::from_armored(&text).unwrap(), key);
        let err = TransferablePublicKey::from_armored(&crate::openpgp::armor(ArmorKind::Signature, b"x")).unwrap_err();
        assert!(matches!(err, ParseError::Armor(_)));
    }

    /// Re-frames every packet with a new-format header, as rPGP writes keys.
    fn new_format(data: &[u8]) -> Vec<u8> {
        let mut out = Vec::new();
        for packet in packets(data) {
            out.push(0xc0 | packet.tag.0);
            let len = packet.body.len();
            if len < 192 {
                out.push(len as u8);
            } else {
                let value = len - 192;
                out.extend_from_slice(&[(value >> 8) as u8 + 0xc0, value as u8]);
            }
            out.extend_from_slice(packet.body);
        }
        out
    }

    #[test]
    fn rewrites_new_format_as_old() {
        let key = certified();
        let new = new_format(&key.to_bytes());
        assert_eq!(new[0], 0xc6);
        let parsed = TransferablePublicKey::from_bytes(&new).unwrap();
        assert_eq!(parsed.to_bytes(), key.to_bytes());
    }

    #[test]
    fn skips_trust_and_marker_packets() {
        let key = certified();
        let bytes = key.to_bytes();
        let packets = packets(&bytes);
        let mut with_trust = Vec::new();
        with_trust.extend_from_slice(&[0xa8, 0x03, b'P', b'G', b'P']);
        for packet in packets {
            with_trust.extend_from_slice(&bytes[packet.offset..packet.body_offset + packet.body.len()]);
            with_trust.extend_from_slice(&[0xb0, 0x02, 0x00, 0x00]);
        }
        let parsed = TransferablePublicKey::from_bytes(&with_trust).unwrap();
        assert_eq!(parsed, key);
    }

    #[test]
    fn keeps_subkeys_and_drops_user_attributes() {
        let key = certified();
        let bytes = key.to_bytes();
        let signature = packets(&bytes)[2].body.to_vec();
        let subkey = FakeSigner::new(0x22).public_key();

        let mut data = bytes.clone();
        data.extend_from_slice(&[0xd1, 0x02, 0x01, 0x02]);
        write_packet(&mut data, Tag::SIGNATURE, &signature);
        write_packet(&mut data, Tag::PUBLIC_SUBKEY, subkey.body());
        write_packet(&mut data, Tag::SIGNATURE, &signature);

        let parsed = TransferablePublicKey::from_bytes(&data).unwrap();
        assert_eq!(parsed.user_ids().len(), 1);
        assert_eq!(parsed.user_ids()[0].signatures().len(), 1);
        assert_eq!(parsed.subkeys().len(), 1);
        assert_eq!(parsed.subkeys()[0].key().fingerprint(), subkey.fingerprint());
        assert_eq!(parsed.subkeys()[0].signatures().len(), 1);

        let mut expected = bytes;
        write_packet(&mut expected, Tag::PUBLIC_SUBKEY, subkey.body());
        write_packet(&mut expected, Tag::SIGNATURE, &signature);
        assert_eq!(parsed.to_bytes(), expected);
    }

    #[test]
    fn rejects_empty_input() {
        assert_eq!(TransferablePublicKey::from_bytes(&[]).unwrap_err(), ParseError::Empty);
    }

    #[test]
    fn rejects_secret_key() {
        let key = certified();
        let mut data = key.to_bytes();
        data[0] = 0x95;
        assert_eq!(
            TransferablePublicKey::from_bytes(&data).unwrap_err(),
            ParseError::SecretKey { offset: 0 }
        );
    }

    #[test]
    fn rejects_key_without_user_id() {
        let key = certified();
        let data = key.primary_key().to_packet();
        assert_eq!(
            TransferablePublicKey::from_bytes(&data).unwrap_err(),
            ParseError::MissingUserId { offset: 0 }
        );
    }

    #[test]
    fn rejects_second_key() {
        let bytes = certified().to_bytes();
        let mut data = bytes.clone();
        data.extend_from_slice(&bytes);
        assert_eq!(
            TransferablePublicKey::from_bytes(&data).unwrap_err(),
            ParseError::MultipleKeys { offset: bytes.len() }
        );
    }

    #[test]
    fn rejects_packets_out_of_order() {
        let key = certified();
        let subkey = FakeSigner::new(0x22).public_key();

        let mut data = key.primary_key().to_packet();
        write_packet(&mut data, Tag::PUBLIC_SUBKEY, subkey.body());
        assert!(matches!(
            TransferablePublicKey::from_bytes(&data).unwrap_err(),
            ParseError::UnexpectedPacket { tag: 14, .. }
        ));

        let mut data = key.to_bytes();
        write_packet(&mut data, Tag::PUBLIC_SUBKEY, subkey.body());
        let offset = data.len();
        write_packet(&mut data, Tag::USER_ID, b"late");
        assert_eq!(
            TransferablePublicKey::from_bytes(&data).unwrap_err(),
            ParseError::UnexpectedPacket {
                tag: 13,
                offset,
                expected: "a signature or public-subkey packet"
            }
        );

        let mut data = key.to_bytes();
        write_packet(&mut data, Tag(0x0b), b"literal");
        assert!(matches!(
            TransferablePublicKey::from_bytes(&data).unwrap_err(),
            ParseError::UnexpectedPacket { tag: 11, .. }
        ));
    }

    #[test]
    fn rejects_oversize_user_id() {
        let key = certified();
        let mut data = key.primary_key().to_packet();
        write_packet(&mut data, Tag::USER_ID, &[b'a'; MAX_USER_ID_LEN + 1]);
        assert!(matches!(
            TransferablePublicKey::from_bytes(&data).unwrap_err(),
            ParseError::UserIdTooLong {
                len: 2049,
                max: 2048,
                ..
            }
        ));
    }

    #[test]
    fn rejects_truncation_inside_packets() {
        let bytes = certified().to_bytes();
        let signature_offset = packets(&bytes)[2].offset;
        for len in 1..bytes.len() {
            let parsed = TransferablePublicKey::from_bytes(&bytes[..len]);
            if len == signature_offset {
                // A user ID without certifications is well-formed.
                assert!(parsed.unwrap().user_ids()[0].signatures().is_empty());
            } else {
                assert!(parsed.is_err(), "length {len}");
            }
        }
    }

    #[test]
    fn user_id_from_parts_like_gnupg() {
        let cases = [
            ("A", None, "a@b.c", "A <a@b.c>"),
            ("A", Some("c"), "a@b.c", "A (c) <a@b.c>"),
            ("A", Some(""), "a@b.c", "A <a@b.c>"),
            ("A", None, "", "A"),
            ("", None, "a@b.c", "a@b.c"),
        ];
        for (name, comment, email, expected) in cases {
            let user_id = UserId::from_parts(name, comment, email).unwrap();
            assert_eq!(user_id.as_str(), Some(expected));
        }
    }

    #[test]
    fn rejects_invalid_user_ids() {
        assert_eq!(UserId::new(""), Err(UserIdError::Empty));
        assert_eq!(
            UserId::new("a\nb"),
            Err(UserIdError::ControlCharacter { character: '\n' })
        );
        assert_eq!(
            UserId::new(&"a".repeat(2049)),
            Err(UserIdError::TooLong { len: 2049, max: 2048 })
        );
    }
}
