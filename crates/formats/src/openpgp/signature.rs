//! Version 4 signature packets (RFC 4880 §5.2.3).
//!
//! ```text
//! version (0x04) | signature type | public-key algorithm | hash algorithm
//! u16 hashed subpacket area length   | hashed subpackets
//! u16 unhashed subpacket area length | unhashed subpackets
//! left 16 bits of the digest | signature MPIs (RSA: one MPI, m^d mod n)
//! ```
//!
//! The digest covers the signed data, then the packet from the version
//! octet through the hashed area, then the trailer `04 FF` and the length
//! of that part as a u32 (RFC 4880 §5.2.4).
//!
//! Signatures are written as GnuPG 2.2.40 writes them: the issuer
//! fingerprint (subpacket 33) and the creation time (subpacket 2) hashed, the
//! issuer key ID (subpacket 16) unhashed. GRUB 2.06 looks for the issuer key
//! ID only in the unhashed area, so it must stay there.

use std::io;

use sha2::{Digest, Sha256, Sha512};

use super::error::{BuildError, ParseError};
use super::key::{Fingerprint, KeyId, PublicKey, PublicKeyAlgorithm, FINGERPRINT_LEN};
use super::mpi::{read_mpi, strip_leading_zeros, write_mpi};
use super::packet::{two_octet_length, write_packet, Tag};
use super::reader::Reader;
use crate::rsa_key::RsaPublicKey;
use crate::signer::{HashAlgorithm, Signer};

/// Signature packet version written and accepted.
pub const SIGNATURE_VERSION_4: u8 = 0x04;

/// Octets of the digest copied into the packet as a quick check.
const DIGEST_PREFIX_LEN: usize = 2;

/// Octet between the version and the length in the hash trailer.
const TRAILER_MARKER: u8 = 0xff;

/// First octet of a user ID in a certification hash (RFC 4880 §5.2.4):
/// the old-format user ID CTB, followed by a four-octet length.
const USER_ID_HASH_PREFIX: u8 = 0xb4;

/// Critical bit of a subpacket type octet.
const SUBPACKET_CRITICAL: u8 = 0x80;

/// Subpacket lengths (RFC 4880 §5.2.3.1) share the new-format packet length
/// encoding: one octet below 192, two octets from 192 to 8383, else 0xFF and
/// four octets.
const SUBPACKET_LENGTH_TWO_OCTETS_FIRST: u8 = 0xc0;
const SUBPACKET_LENGTH_FIVE_OCTETS: u8 = 0xff;
const SUBPACKET_LENGTH_TWO_OCTETS_MIN: usize = 192;
/// Largest value of `length - 192` that two octets encode (8383 - 192).
const SUBPACKET_LENGTH_TWO_OCTETS_RANGE: usize = 0x1fff;

/// Version octet in front of a version 4 fingerprint in subpacket 33.
const ISSUER_FINGERPRINT_KEY_VERSION: u8 = 0x04;

/// Key flags of a certify-and-sign primary key: 0x01 (certify other keys)
/// and 0x02 (sign data), what `gpg --quick-generate-key ... sign` sets.
const KEY_FLAGS_CERTIFY_SIGN: [u8; 1] = [0x03];

/// Symmetric algorithm preferences of GnuPG 2.2.40: AES-256, AES-192,
/// AES-128, TripleDES.
const PREFERRED_SYMMETRIC_ALGORITHMS: [u8; 4] = [0x09, 0x08, 0x07, 0x02];

/// Hash preferences of GnuPG 2.2.40: SHA-512, SHA-384, SHA-256, SHA-224,
/// SHA-1.
const PREFERRED_HASH_ALGORITHMS: [u8; 5] = [0x0a, 0x09, 0x08, 0x0b, 0x02];

/// Compression preferences of GnuPG 2.2.40: ZLIB, BZip2, ZIP.
const PREFERRED_COMPRESSION_ALGORITHMS: [u8; 3] = [0x02, 0x03, 0x01];

/// Features: 0x01, modification detection.
const FEATURES_MODIFICATION_DETECTION: [u8; 1] = [0x01];

/// Key server preferences: 0x80, no-modify.
const KEY_SERVER_PREFERENCES_NO_MODIFY: [u8; 1] = [0x80];

/// Signature type (RFC 4880 §5.2.1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SignatureType(pub u8);

impl SignatureType {
    pub const BINARY_DOCUMENT: Self = Self(0x00);
    pub const CANONICAL_TEXT_DOCUMENT: Self = Self(0x01);
    pub const GENERIC_CERTIFICATION: Self = Self(0x10);
    pub const PERSONA_CERTIFICATION: Self = Self(0x11);
    pub const CASUAL_CERTIFICATION: Self = Self(0x12);
    pub const POSITIVE_CERTIFICATION: Self = Self(0x13);
    pub const SUBKEY_BINDING: Self = Self(0x18);
    pub const PRIMARY_KEY_BINDING: Self = Self(0x19);
    pub const DIRECT_KEY: Self = Self(0x1f);
    pub const KEY_REVOCATION: Self = Self(0x20);
    pub const SUBKEY_REVOCATION: Self = Self(0x28);
    pub const CERTIFICATION_REVOCATION: Self = Self(0x30);
}

/// Hash algorithm ID (RFC 4880 §9.4).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct HashAlgorithmId(pub u8);

impl HashAlgorithmId {
    pub const MD5: Self = Self(0x01);
    pub const SHA1: Self = Self(0x02);
    pub const RIPEMD160: Self = Self(0x03);
    pub const SHA256: Self = Self(0x08);
    pub const SHA384: Self = Self(0x09);
    pub const SHA512: Self = Self(0x0a);
    pub const SHA224: Self = Self(0x0b);
}

impl From<HashAlgorithm> for HashAlgorithmId {
    fn from(algorithm: HashAlgorithm) -> Self {
        match algorithm {
            HashAlgorithm::Sha256 => Self::SHA256,
            HashAlgorithm::Sha512 => Self::SHA512,
        }
    }
}

/// Signature subpacket type (RFC 4880 §5.2.3.1), without the critical bit.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct SubpacketType(pub u8);

impl SubpacketType {
    pub const SIGNATURE_CREATION_TIME: Self = Self(0x02);
    pub const KEY_EXPIRATION_TIME: Self = Self(0x09);
    pub const PREFERRED_SYMMETRIC_ALGORITHMS: Self = Self(0x0b);
    pub const ISSUER: Self = Self(0x10);
    pub const PREFERRED_HASH_ALGORITHMS: Self = Self(0x15);
    pub const PREFERRED_COMPRESSION_ALGORITHMS: Self = Self(0x16);
    pub const KEY_SERVER_PREFERENCES: Self = Self(0x17);
    pub const PRIMARY_USER_ID: Self = Self(0x19);
    pub const KEY_FLAGS: Self = Self(0x1b);
    pub const FEATURES: Self = Self(0x1e);
    /// Issuer Fingerprint, defined after RFC 4880 (RFC 9580 §5.2.3.35).
    pub const ISSUER_FINGERPRINT: Self = Self(0x21);
}

/// One signature subpacket.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Subpacket {
    /// Whether a verifier that does not know the type must reject the signature.
    pub critical: bool,
    pub subpacket_type: SubpacketType,
    pub data: Vec<u8>,
}

impl Subpacket {
    /// Creates a non-critical subpacket.
    pub fn new(subpacket_type: SubpacketType, data: &[u8]) -> Self {
        Self {
            critical: false,
            subpacket_type,
            data: data.to_vec(),
        }
    }

    /// Appends the length (which counts the type octet), the type and the data.
    fn encode(&self, area: &mut Vec<u8>) {
        let len = self.data.len().saturating_add(1);
        if let Ok(short @ 0..SUBPACKET_LENGTH_TWO_OCTETS_FIRST) = u8::try_from(len) {
            area.push(short);
        } else if let Some(two_octet @ 0..=SUBPACKET_LENGTH_TWO_OCTETS_RANGE) =
            len.checked_sub(SUBPACKET_LENGTH_TWO_OCTETS_MIN)
        {
            let [high, low] = u16::try_from(two_octet).unwrap_or_default().to_be_bytes();
            area.extend_from_slice(&[SUBPACKET_LENGTH_TWO_OCTETS_FIRST + high, low]);
        } else {
            area.push(SUBPACKET_LENGTH_FIVE_OCTETS);
            // Subpacket areas are at most 65535 octets long.
            area.extend_from_slice(&u32::try_from(len).unwrap_or(u32::MAX).to_be_bytes());
        }

        let critical = if self.critical { SUBPACKET_CRITICAL } else { 0 };
        area.push(self.subpacket_type.0 | critical);
        area.extend_from_slice(&self.data);
    }
}

/// A parsed version 4 signature packet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signature {
    signature_type: SignatureType,
    public_key_algorithm: PublicKeyAlgorithm,
    hash_algorithm: HashAlgorithmId,
    hashed_subpackets: Vec<Subpacket>,
    unhashed_subpackets: Vec<Subpacket>,
    digest_prefix: [u8; DIGEST_PREFIX_LEN],
    body: Vec<u8>,
}

impl Signature {
    /// Reads the body of a signature packet.
    pub fn from_packet_body(body: &[u8]) -> Result<Self, ParseError> {
        Self::parse(body, 0)
    }

    /// Reads a signature body that starts at `offset` of the input.
    ///
    /// The structure is checked, not the cryptographic signature: RSA
    /// signatures must hold exactly one MPI, and the signature MPIs of other
    /// algorithms are kept unread.
    pub(crate) fn parse(body: &[u8], offset: usize) -> Result<Self, ParseError> {
        let mut reader = Reader::new(body, offset);
        let version = reader.u8("signature version")?;
        if version != SIGNATURE_VERSION_4 {
            return Err(ParseError::UnsupportedSignatureVersion { offset, version });
        }
        let signature_type = SignatureType(reader.u8("signature type")?);
        let public_key_algorithm = PublicKeyAlgorithm(reader.u8("public-key algorithm")?);
        let hash_algorithm = HashAlgorithmId(reader.u8("hash algorithm")?);

        let hashed_len = reader.u16("hashed subpacket area length")?;
        let hashed_subpackets = parse_subpackets(reader.sub(usize::from(hashed_len), "hashed subpacket area")?)?;
        let unhashed_len = reader.u16("unhashed subpacket area length")?;
        let unhashed_subpackets = parse_subpackets(reader.sub(usize::from(unhashed_len), "unhashed subpacket area")?)?;
        let digest_prefix = reader.take_array("left 16 bits of the digest")?;

        if public_key_algorithm.is_rsa() {
            read_mpi(&mut reader, "RSA signature")?;
            reader.finish("RSA signature")?;
        }

        Ok(Self {
            signature_type,
            public_key_algorithm,
            hash_algorithm,
            hashed_subpackets,
            unhashed_subpackets,
            digest_prefix,
            body: body.to_vec(),
        })
    }

    pub fn signature_type(&self) -> SignatureType {
        self.signature_type
    }

    pub fn public_key_algorithm(&self) -> PublicKeyAlgorithm {
        self.public_key_algorithm
    }

    pub fn hash_algorithm(&self) -> HashAlgorithmId {
        self.hash_algorithm
    }

    /// Subpackets covered by the signature.
    pub fn hashed_subpackets(&self) -> &[Subpacket] {
        &self.hashed_subpackets
    }

    /// Subpackets anyone may change without breaking the signature.
    pub fn unhashed_subpackets(&self) -> &[Subpacket] {
        &self.unhashed_subpackets
    }

    /// Returns the first two octets of the digest, as stored in the packet.
    pub fn digest_prefix(&self) -> [u8; DIGEST_PREFIX_LEN] {
        self.digest_prefix
    }

    /// The packet body, from the version octet to the end of the MPIs.
    pub fn body(&self) -> &[u8] {
        &self.body
    }

    /// Encodes the signature packet (tag 2) with an old-format header.
    pub fn to_packet(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.body.len() + 3);
        write_packet(&mut out, Tag::SIGNATURE, &self.body);
        out
    }

    /// Creation time from the hashed area, Unix seconds. Only the hashed
    /// copy counts because the unhashed area is not protected.
    pub fn creation_time(&self) -> Option<u32> {
        let data = find(&self.hashed_subpackets, SubpacketType::SIGNATURE_CREATION_TIME)?;
        Some(u32::from_be_bytes(data.try_into().ok()?))
    }

    /// Issuer key ID from either area (GnuPG writes it unhashed).
    pub fn issuer_key_id(&self) -> Option<KeyId> {
        let data = find(&self.hashed_subpackets, SubpacketType::ISSUER)
            .or_else(|| find(&self.unhashed_subpackets, SubpacketType::ISSUER))?;
        Some(KeyId(data.try_into().ok()?))
    }

    /// Issuer fingerprint of a version 4 key, from either area.
    pub fn issuer_fingerprint(&self) -> Option<Fingerprint> {
        let data = find(&self.hashed_subpackets, SubpacketType::ISSUER_FINGERPRINT)
            .or_else(|| find(&self.unhashed_subpackets, SubpacketType::ISSUER_FINGERPRINT))?;
        let (&version, fingerprint) = data.split_first()?;
        if version != ISSUER_FINGERPRINT_KEY_VERSION {
            return None;
        }
        Some(Fingerprint(fingerprint.try_into().ok()?))
    }

    /// First octet of the hashed key flags (RFC 4880 §5.2.3.21).
    pub fn key_flags(&self) -> Option<u8> {
        find(&self.hashed_subpackets, SubpacketType::KEY_FLAGS)?
            .first()
            .copied()
    }
}

/// Data of the first subpacket of `subpacket_type`.
fn find(subpackets: &[Subpacket], subpacket_type: SubpacketType) -> Option<&[u8]> {
    subpackets
        .iter()
        .find(|subpacket| subpacket.subpacket_type == subpacket_type)
        .map(|subpacket| subpacket.data.as_slice())
}

fn parse_subpackets(mut area: Reader<'_>) -> Result<Vec<Subpacket>, ParseError> {
    let mut subpackets = Vec::new();
    while !area.is_empty() {
        let offset = area.offset();
        let len = read_subpacket_length(&mut area)?;
        if len == 0 {
            return Err(ParseError::EmptySubpacket { offset });
        }
        let type_octet = area.u8("subpacket type")?;
        let data = area.take(len - 1, "subpacket data")?;
        subpackets.push(Subpacket {
            critical: type_octet & SUBPACKET_CRITICAL != 0,
            subpacket_type: SubpacketType(type_octet & !SUBPACKET_CRITICAL),
            data: data.to_vec(),
        });
    }
    Ok(subpackets)
}

fn read_subpacket_length(area: &mut Reader<'_>) -> Result<usize, ParseError> {
    let first = area.u8("subpacket length")?;
    let len = match first {
        0..SUBPACKET_LENGTH_TWO_OCTETS_FIRST => u32::from(first),
        SUBPACKET_LENGTH_FIVE_OCTETS => area.u32("subpacket length")?,
        _ => two_octet_length(first, area.u8("subpacket length")?),
    };
    // A length that does not fit usize cannot fit the area either.
    Ok(usize::try_from(len).unwrap_or(usize::MAX))
}

/// Streaming hash of a document to be signed.
///
/// Feed the document with [`update`](Self::update) (or through
/// [`std::io::Write`]) in as many pieces as convenient, then call
/// [`sign`](Self::sign).
#[derive(Clone, Debug)]
pub struct DocumentHasher {
    hasher: Hasher,
}

impl DocumentHasher {
    pub fn new(algorithm: HashAlgorithm) -> Self {
        Self {
            hasher: Hasher::new(algorithm),
        }
    }

    pub fn update(&mut self, data: &[u8]) {
        self.hasher.update(data);
    }

    pub fn algorithm(&self) -> HashAlgorithm {
        self.hasher.algorithm()
    }

    /// Finishes the hash and returns a detached signature packet of type
    /// 0x00 (binary document) by `key`, made at `created` (Unix seconds).
    pub fn sign(self, signer: &dyn Signer, key: &PublicKey, created: u32) -> Result<Vec<u8>, BuildError> {
        let fields = SignatureFields::binary_document(key, self.algorithm(), created);
        let signature = fields.sign(self.hasher, signer, key)?;
        Ok(signature.to_packet())
    }
}

impl io::Write for DocumentHasher {
    fn write(&mut self, data: &[u8]) -> io::Result<usize> {
        self.update(data);
        Ok(data.len())
    }

    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Signs `document` as `gpg --detach-sign` does and returns the binary
/// signature packet: version 4, type 0x00 (binary document), made by `key`
/// through `signer` at `created` (Unix seconds).
///
/// The document is hashed in place; see [`DocumentHasher`] to hash it in
/// pieces.
pub fn sign_binary_document(
    signer: &dyn Signer,
    key: &PublicKey,
    document: &[u8],
    hash: HashAlgorithm,
    created: u32,
) -> Result<Vec<u8>, BuildError> {
    let mut hasher = DocumentHasher::new(hash);
    hasher.update(document);
    hasher.sign(signer, key, created)
}

/// Makes a positive certification (type 0x13) of `user_id` on `key` by the
/// key itself, with SHA-512 and the hashed subpackets GnuPG 2.2.40 writes
/// when it generates a certify-and-sign key.
pub(crate) fn self_certification(
    signer: &dyn Signer,
    key: &PublicKey,
    user_id: &[u8],
    created: u32,
) -> Result<Signature, BuildError> {
    let fields = SignatureFields::self_certification(key, created);
    let mut hasher = Hasher::new(fields.hash);
    hasher.update(&key.hash_prefix());
    hasher.update(key.body());
    hasher.update(&[USER_ID_HASH_PREFIX]);
    // User IDs are at most a few KiB (the caller checks), so the length fits.
    hasher.update(&u32::try_from(user_id.len()).unwrap_or(u32::MAX).to_be_bytes());
    hasher.update(user_id);
    fields.sign(hasher, signer, key)
}

/// Everything of a signature packet except the digest prefix and the MPI.
struct SignatureFields {
    signature_type: SignatureType,
    hash: HashAlgorithm,
    hashed_subpackets: Vec<Subpacket>,
    unhashed_subpackets: Vec<Subpacket>,
}

impl SignatureFields {
    fn binary_document(key: &PublicKey, hash: HashAlgorithm, created: u32) -> Self {
        Self {
            signature_type: SignatureType::BINARY_DOCUMENT,
            hash,
            hashed_subpackets: vec![
                issuer_fingerprint(key.fingerprint()),
                Subpacket::new(SubpacketType::SIGNATURE_CREATION_TIME, &created.to_be_bytes()),
            ],
            unhashed_subpackets: vec![Subpacket::new(SubpacketType::ISSUER, &key.key_id().0)],
        }
    }

    fn self_certification(key: &PublicKey, created: u32) -> Self {
        Self {
            signature_type: SignatureType::POSITIVE_CERTIFICATION,
            hash: HashAlgorithm::Sha512,
            hashed_subpackets: vec![
                issuer_fingerprint(key.fingerprint()),
                Subpacket::new(SubpacketType::SIGNATURE_CREATION_TIME, &created.to_be_bytes()),
                Subpacket::new(SubpacketType::KEY_FLAGS, &KEY_FLAGS_CERTIFY_SIGN),
                Subpacket::new(
                    SubpacketType::PREFERRED_SYMMETRIC_ALGORITHMS,
                    &PREFERRED_SYMMETRIC_ALGORITHMS,
                ),
                Subpacket::new(SubpacketType::PREFERRED_HASH_ALGORITHMS, &PREFERRED_HASH_ALGORITHMS),
                Subpacket::new(
                    SubpacketType::PREFERRED_COMPRESSION_ALGORITHMS,
                    &PREFERRED_COMPRESSION_ALGORITHMS,
                ),
                Subpacket::new(SubpacketType::FEATURES, &FEATURES_MODIFICATION_DETECTION),
                Subpacket::new(SubpacketType::KEY_SERVER_PREFERENCES, &KEY_SERVER_PREFERENCES_NO_MODIFY),
            ],
            unhashed_subpackets: vec![Subpacket::new(SubpacketType::ISSUER, &key.key_id().0)],
        }
    }

    /// Hashes the packet fields into `hasher`, which has already seen the
    /// signed data, and signs the digest.
    fn sign(self, mut hasher: Hasher, signer: &dyn Signer, key: &PublicKey) -> Result<Signature, BuildError> {
        let public_key_algorithm = signing_algorithm(signer, key)?;
        let hash_algorithm = HashAlgorithmId::from(self.hash);

        let mut body = vec![
            SIGNATURE_VERSION_4,
            self.signature_type.0,
            public_key_algorithm.0,
            hash_algorithm.0,
        ];
        push_area(&mut body, &self.hashed_subpackets);
        hasher.update(&body);
        hasher.update(&[SIGNATURE_VERSION_4, TRAILER_MARKER]);
        // The hashed part is 6 octets plus an area of at most 65535 octets.
        hasher.update(&u32::try_from(body.len()).unwrap_or(u32::MAX).to_be_bytes());
        let digest = hasher.finalize();
        let signature = signer.sign_digest(self.hash, &digest)?;

        // SHA-256 and SHA-512 digests are longer than the two-octet prefix.
        let digest_prefix = digest.first_chunk::<DIGEST_PREFIX_LEN>().copied().unwrap_or_default();
        push_area(&mut body, &self.unhashed_subpackets);
        body.extend_from_slice(&digest_prefix);
        write_mpi(&mut body, &signature, "signature")?;

        Ok(Signature {
            signature_type: self.signature_type,
            public_key_algorithm,
            hash_algorithm,
            hashed_subpackets: self.hashed_subpackets,
            unhashed_subpackets: self.unhashed_subpackets,
            digest_prefix,
            body,
        })
    }
}

/// Checks that `signer` has the private half of `key` and returns the
/// public-key algorithm octet for the signature.
fn signing_algorithm(signer: &dyn Signer, key: &PublicKey) -> Result<PublicKeyAlgorithm, BuildError> {
    let algorithm = key.algorithm();
    let expected = match key.rsa() {
        Some(rsa) if algorithm != PublicKeyAlgorithm::RSA_ENCRYPT_ONLY => rsa,
        _ => return Err(BuildError::NotRsa),
    };

    let actual = RsaPublicKey::from_spki_der(signer.public_key_der()).map_err(BuildError::SignerPublicKey)?;
    let same_modulus = strip_leading_zeros(&actual.modulus) == strip_leading_zeros(&expected.modulus);
    let same_exponent = strip_leading_zeros(&actual.public_exponent) == strip_leading_zeros(&expected.public_exponent);
    if !same_modulus || !same_exponent {
        return Err(BuildError::SignerKeyMismatch {
            fingerprint: key.fingerprint(),
        });
    }
    Ok(algorithm)
}

fn issuer_fingerprint(fingerprint: Fingerprint) -> Subpacket {
    let mut data = Vec::with_capacity(1 + FINGERPRINT_LEN);
    data.push(ISSUER_FINGERPRINT_KEY_VERSION);
    data.extend_from_slice(&fingerprint.0);
    Subpacket::new(SubpacketType::ISSUER_FINGERPRINT, &data)
}

/// Appends a two-octet area length and the encoded subpackets.
fn push_area(out: &mut Vec<u8>, subpackets: &[Subpacket]) {
    let mut area = Vec::new();
    for subpacket in subpackets {
        subpacket.encode(&mut area);
    }
    // Areas built here contain a few fixed-size subpackets, far below 65535 octets.
    let len = u16::try_from(area.len()).unwrap_or(u16::MAX);
    out.extend_from_slice(&len.to_be_bytes());
    out.extend_from_slice(&area);
}

/// Hash state for the two algorithms signatures are made with.
#[derive(Clone, Debug)]
enum Hasher {
    Sha256(Sha256),
    Sha512(Sha512),
}

impl Hasher {
    fn new(algorithm: HashAlgorithm) -> Self {
        match algorithm {
            HashAlgorithm::Sha256 => Self::Sha256(Sha256::new()),
            HashAlgorithm::Sha512 => Self::Sha512(Sha512::new()),
        }
    }

    fn algorithm(&self) -> HashAlgorithm {
        match self {
            Self::Sha256(_) => HashAlgorithm::Sha256,
            Self::Sha512(_) => HashAlgorithm::Sha512,
        }
    }

    fn update(&mut self, data: &[u8]) {
        match self {
            Self::Sha256(hasher) => hasher.update(data),
            Self::Sha512(hasher) => hasher.update(data),
        }
    }

    fn finalize(self) -> Vec<u8> {
        match self {
            Self::Sha256(hasher) => hasher.finalize().to_vec(),
            Self::Sha512(hasher) => hasher.finalize().to_vec(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::openpgp::test_support::{FakeSigner, CREATED};

    const DOCUMENT: &[u8] = b"GRUB payload\n";

    /// The digest the signature must cover, computed from the layout alone.
    fn expected_digest(key: &PublicKey, hash_octet: u8, document: &[u8]) -> Vec<u8> {
        let mut hashed_part = vec![0x04, 0x00, 0x01, hash_octet, 0x00, 0x1d, 0x16, 0x21, 0x04];
        hashed_part.extend_from_slice(&key.fingerprint().0);
        hashed_part.extend_from_slice(&[0x05, 0x02]);
        hashed_part.extend_from_slice(&CREATED.to_be_bytes());
        let mut input = document.to_vec();
        input.extend_from_slice(&hashed_part);
        input.extend_from_slice(&[0x04, 0xff, 0x00, 0x00, 0x00, 0x23]);
        match hash_octet {
            0x08 => Sha256::digest(&input).to_vec(),
            _ => Sha512::digest(&input).to_vec(),
        }
    }

    #[test]
    fn document_signature_layout_matches_gnupg() {
        let signer = FakeSigner::new(0x11);
        let key = signer.public_key();
        let packet = sign_binary_document(&signer, &key, DOCUMENT, HashAlgorithm::Sha512, CREATED).unwrap();

        let mut expected = vec![0x89, 0x01, 0x32, 0x04, 0x00, 0x01, 0x0a, 0x00, 0x1d, 0x16, 0x21, 0x04];
        expected.extend_from_slice(&key.fingerprint().0);
        expected.extend_from_slice(&[0x05, 0x02, 0x6b, 0x13, 0x21, 0x39]);
        expected.extend_from_slice(&[0x00, 0x0a, 0x09, 0x10]);
        expected.extend_from_slice(&key.key_id().0);
        let digest = expected_digest(&key, 0x0a, DOCUMENT);
        expected.extend_from_slice(&digest[..2]);
        // The fake signature starts 00 01, so its MPI has 2048 - 15 bits.
        expected.extend_from_slice(&[0x07, 0xf1]);
        assert_eq!(packet[..expected.len()], expected);
        assert_eq!(packet.len(), expected.len() + 255);

        let digest_info = crate::pkcs1::digest_info(HashAlgorithm::Sha512, &digest).unwrap();
        assert_eq!(packet[expected.len()..expected.len() + 1], [0x01]);
        assert_eq!(
            packet[expected.len() + 1..expected.len() + 1 + digest_info.len()],
            digest_info
        );
    }

    #[test]
    fn document_signature_with_sha256() {
        let signer = FakeSigner::new(0x11);
        let key = signer.public_key();
        let packet = sign_binary_document(&signer, &key, DOCUMENT, HashAlgorithm::Sha256, CREATED).unwrap();
        assert_eq!(packet[6], 0x08);
        let signature = Signature::from_packet_body(&packet[3..]).unwrap();
        let digest = expected_digest(&key, 0x08, DOCUMENT);
        assert_eq!(signature.digest_prefix(), digest[..2]);
        assert_eq!(signature.hash_algorithm(), HashAlgorithmId::SHA256);
    }

    #[test]
    fn streaming_hash_equals_one_call() {
        let signer = FakeSigner::new(0x22);
        let key = signer.public_key();
        let document: Vec<u8> = (0..100_000u32).map(|value| value as u8).collect();
        let whole = sign_binary_document(&signer, &key, &document, HashAlgorithm::Sha512, CREATED).unwrap();

        let mut hasher = DocumentHasher::new(HashAlgorithm::Sha512);
        for chunk in document.chunks(4093) {
            io::Write::write_all(&mut hasher, chunk).unwrap();
        }
        assert_eq!(hasher.sign(&signer, &key, CREATED).unwrap(), whole);
    }

    #[test]
    fn parses_own_document_signature() {
        let signer = FakeSigner::new(0x33);
        let key = signer.public_key();
        let packet = sign_binary_document(&signer, &key, DOCUMENT, HashAlgorithm::Sha512, CREATED).unwrap();
        let signature = Signature::from_packet_body(&packet[3..]).unwrap();
        assert_eq!(signature.signature_type(), SignatureType::BINARY_DOCUMENT);
        assert_eq!(signature.public_key_algorithm(), PublicKeyAlgorithm::RSA);
        assert_eq!(signature.creation_time(), Some(CREATED));
        assert_eq!(signature.issuer_key_id(), Some(key.key_id()));
        assert_eq!(signature.issuer_fingerprint(), Some(key.fingerprint()));
        assert_eq!(signature.unhashed_subpackets().len(), 1);
        assert_eq!(signature.key_flags(), None);
        assert_eq!(signature.to_packet(), packet);
    }

    #[test]
    fn rejects_signer_of_another_key() {
        let signer = FakeSigner::new(0x11);
        let other = FakeSigner::new(0x22).public_key();
        let err = sign_binary_document(&signer, &other, DOCUMENT, HashAlgorithm::Sha512, CREATED).unwrap_err();
        assert!(matches!(err, BuildError::SignerKeyMismatch { fingerprint } if fingerprint == other.fingerprint()));
    }

    #[test]
    fn rejects_non_rsa_key() {
        let signer = FakeSigner::new(0x11);
        let key = PublicKey::from_packet_body(&[0x04, 0x00, 0x00, 0x00, 0x01, 0x16, 0x00]).unwrap();
        let err = sign_binary_document(&signer, &key, DOCUMENT, HashAlgorithm::Sha512, CREATED).unwrap_err();
        assert!(matches!(err, BuildError::NotRsa));
    }

    fn own_signature_body() -> Vec<u8> {
        let signer = FakeSigner::new(0x44);
        let key = signer.public_key();
        let packet = sign_binary_document(&signer, &key, DOCUMENT, HashAlgorithm::Sha512, CREATED).unwrap();
        packet[3..].to_vec()
    }

    #[test]
    fn rejects_every_truncation() {
        let body = own_signature_body();
        for len in 0..body.len() {
            let err = Signature::from_packet_body(&body[..len]).unwrap_err();
            assert!(matches!(err, ParseError::Truncated { .. }), "length {len}: {err}");
        }
    }

    #[test]
    fn rejects_other_signature_versions() {
        let mut body = own_signature_body();
        for version in [0x03, 0x05, 0x06] {
            body[0] = version;
            let err = Signature::from_packet_body(&body).unwrap_err();
            assert_eq!(err, ParseError::UnsupportedSignatureVersion { offset: 0, version });
        }
    }

    #[test]
    fn rejects_trailing_signature_bytes() {
        let mut body = own_signature_body();
        body.push(0x00);
        let err = Signature::from_packet_body(&body).unwrap_err();
        assert!(matches!(
            err,
            ParseError::TrailingData {
                field: "RSA signature",
                len: 1,
                ..
            }
        ));
    }

    #[test]
    fn rejects_hashed_area_past_end() {
        let mut body = own_signature_body();
        body[4..6].copy_from_slice(&[0xff, 0xff]);
        let err = Signature::from_packet_body(&body).unwrap_err();
        assert!(matches!(
            err,
            ParseError::Truncated {
                field: "hashed subpacket area",
                offset: 6,
                ..
            }
        ));
    }

    #[test]
    fn rejects_zero_length_subpacket() {
        let body = [
            0x04, 0x00, 0x01, 0x0a, 0x00, 0x01, 0x00, 0x00, 0x00, 0xab, 0xcd, 0x00, 0x00,
        ];
        let err = Signature::from_packet_body(&body).unwrap_err();
        assert_eq!(err, ParseError::EmptySubpacket { offset: 6 });
    }

    #[test]
    fn rejects_subpacket_past_area() {
        // The subpacket claims 5 octets in an area of 3.
        let body = [
            0x04, 0x00, 0x01, 0x0a, 0x00, 0x03, 0x05, 0x02, 0x00, 0x00, 0x00, 0xab, 0xcd, 0x00, 0x00,
        ];
        let err = Signature::from_packet_body(&body).unwrap_err();
        assert!(matches!(
            err,
            ParseError::Truncated {
                field: "subpacket data",
                offset: 8,
                ..
            }
        ));

        let body = [
            0x04, 0x00, 0x01, 0x0a, 0x00, 0x02, 0xff, 0xff, 0x00, 0x00, 0xab, 0xcd, 0x00, 0x00,
        ];
        let err = Signature::from_packet_body(&body).unwrap_err();
        assert!(matches!(
            err,
            ParseError::Truncated {
                field: "subpacket length",
                ..
            }
        ));
    }

    #[test]
    fn subpacket_lengths_round_trip() {
        for data_len in [0, 190, 191, 192, 8382, 8383, 10_000] {
            let subpacket = Subpacket {
                critical: data_len % 2 == 0,
                subpacket_type: SubpacketType(0x65),
                data: vec![0xee; data_len],
            };
            let mut area = Vec::new();
            subpacket.encode(&mut area);
            let header_len = match data_len + 1 {
                0..192 => 1,
                192..=8383 => 2,
                _ => 5,
            };
            assert_eq!(area.len(), header_len + 1 + data_len, "data length {data_len}");

            let parsed = parse_subpackets(Reader::new(&area, 0)).unwrap();
            assert_eq!(parsed, [subpacket]);
        }
    }

    #[test]
    fn keeps_mpis_of_other_algorithms_unread() {
        let body = [
            0x04, 0x00, 0x11, 0x08, 0x00, 0x00, 0x00, 0x00, 0xab, 0xcd, 0x01, 0x02, 0x03,
        ];
        let signature = Signature::from_packet_body(&body).unwrap();
        assert_eq!(signature.public_key_algorithm(), PublicKeyAlgorithm::DSA);
        assert_eq!(signature.digest_prefix(), [0xab, 0xcd]);
        assert_eq!(signature.body(), body);
    }
}
