use super::*;
use crate::openpgp::{PublicKey, UserId};
use crate::rsa_key::RsaPublicKey;
use crate::test_support::FakeSigner;
use crate::Signer;

const KEY_CREATED: u32 = 0x6b13_17bf;
const FILE_CREATED: u32 = 0x6b13_17bb;
const BLOB_CREATED: u32 = 0x6b13_17c2;
const USER_ID: &str = "fixture GRUB key <security@balena.io>";

fn key(fill: u8) -> TransferablePublicKey {
    let signer = FakeSigner::new(fill);
    let rsa = RsaPublicKey::from_spki_der(signer.public_key_der()).unwrap();
    let public_key = PublicKey::new_rsa(&rsa, KEY_CREATED).unwrap();
    TransferablePublicKey::certify(public_key, UserId::new(USER_ID).unwrap(), &signer).unwrap()
}

fn keybox(keys: &[TransferablePublicKey]) -> Vec<u8> {
    let mut writer = KeyboxWriter::new(FILE_CREATED);
    for key in keys {
        writer.add_key(key, BLOB_CREATED).unwrap();
    }
    writer.finish()
}

fn u16_at(data: &[u8], offset: usize) -> u16 {
    u16::from_be_bytes(data[offset..offset + 2].try_into().unwrap())
}

fn u32_at(data: &[u8], offset: usize) -> u32 {
    u32::from_be_bytes(data[offset..offset + 4].try_into().unwrap())
}

/// Recomputes the checksum of the OpenPGP blob that starts at `start`.
fn reseal(data: &mut [u8], start: usize) {
    let len = u32_at(data, start) as usize;
    let keyblock_end = u32_at(data, start + 8) as usize + u32_at(data, start + 12) as usize;
    let checksum = Sha1::digest(&data[start..start + keyblock_end]);
    data[start + len - 20..start + len].copy_from_slice(&checksum);
}

#[test]
fn header_blob_layout() {
    let data = KeyboxWriter::new(FILE_CREATED).finish();
    let mut expected = vec![0x00, 0x00, 0x00, 0x20, 0x01, 0x01, 0x00, 0x02];
    expected.extend_from_slice(b"KBXf");
    expected.extend_from_slice(&[0x00; 4]);
    expected.extend_from_slice(&[0x6b, 0x13, 0x17, 0xbb, 0x6b, 0x13, 0x17, 0xbb]);
    expected.extend_from_slice(&[0x00; 8]);
    assert_eq!(data, expected);
    assert!(openpgp_blobs(&data).unwrap().is_empty());
}

#[test]
fn openpgp_blob_layout_matches_gnupg() {
    let key = key(0x11);
    let data = keybox(std::slice::from_ref(&key));
    let blob = &data[HEADER_BLOB_LEN..];

    assert_eq!(u32_at(blob, 0) as usize, blob.len());
    assert_eq!(blob[4..8], [0x02, 0x01, 0x00, 0x00]);
    let keyblock_offset = u32_at(blob, 8) as usize;
    let keyblock_len = u32_at(blob, 12) as usize;
    assert_eq!(keyblock_offset, 0x5e, "header of one key, one user ID, one signature");
    assert_eq!(keyblock_offset + keyblock_len + 20, blob.len());

    assert_eq!(u16_at(blob, 16), 1, "number of keys");
    assert_eq!(u16_at(blob, 18), 28, "key info size");
    assert_eq!(blob[20..40], key.fingerprint().0);
    assert_eq!(u32_at(blob, 40), 32, "key ID offset: last 8 fingerprint bytes");
    assert_eq!(blob[32..40], key.fingerprint().key_id().0);
    assert_eq!(u32_at(blob, 44), 0, "key flags");
    assert_eq!(u16_at(blob, 48), 0, "serial number length");
    assert_eq!(u16_at(blob, 50), 1, "number of user IDs");
    assert_eq!(u16_at(blob, 52), 12, "user ID info size");
    let user_id_offset = u32_at(blob, 54) as usize;
    assert_eq!(u32_at(blob, 58) as usize, USER_ID.len());
    assert_eq!(
        &blob[user_id_offset..user_id_offset + USER_ID.len()],
        USER_ID.as_bytes()
    );
    assert_eq!(u32_at(blob, 62), 0, "user ID flags and validity");
    assert_eq!(u16_at(blob, 66), 1, "number of signatures");
    assert_eq!(u16_at(blob, 68), 4, "signature info size");
    assert_eq!(u32_at(blob, 70), 0, "signature expiration: not checked");
    assert_eq!(blob[74..86], [0x00; 12], "trust, validity and timestamps");
    assert_eq!(u32_at(blob, 86), BLOB_CREATED);
    assert_eq!(u32_at(blob, 90), 0, "reserved space size");

    let checksum = Sha1::digest(&blob[..blob.len() - 20]);
    assert_eq!(blob[blob.len() - 20..], *checksum);
}

#[test]
fn keyblock_has_gnupg_trust_packets() {
    let key = key(0x11);
    let data = keybox(std::slice::from_ref(&key));
    let blobs = openpgp_blobs(&data).unwrap();
    let keyblock = blobs[0].keyblock();

    let packets: Vec<_> = PacketReader::new(keyblock).map(Result::unwrap).collect();
    let tags: Vec<u8> = packets.iter().map(|packet| packet.tag.0).collect();
    assert_eq!(tags, [6, 12, 13, 12, 2, 12]);
    assert_eq!(packets[1].body, b"\x00\x00gpg\x01\x00\x00\x00\x00\x00\x00");
    assert_eq!(packets[3].body, b"\x00\x00gpg\x02\x00\x00\x00\x00\x00\x00");
    assert_eq!(packets[5].body, b"\x00\x00gpg\x00");
    assert_eq!(keyblock[packets[1].offset], 0xb0);
}

#[test]
fn reads_what_it_writes() {
    let keys = [key(0x11), key(0x22)];
    let data = keybox(&keys);
    let blobs = openpgp_blobs(&data).unwrap();
    assert_eq!(blobs.len(), 2);
    for (blob, key) in blobs.iter().zip(&keys) {
        assert_eq!(blob.fingerprints(), [key.fingerprint()]);
        assert_eq!(blob.created(), BLOB_CREATED);
        assert!(!blob.is_ephemeral());
        assert_eq!(&blob.transferable_public_key().unwrap(), key);
    }
    assert_eq!(blobs[0].offset(), HEADER_BLOB_LEN);
}

/// Builds an X.509 blob as gpgsm writes it, reduced to what the reader
/// looks at.
fn x509_blob() -> Vec<u8> {
    let mut blob = vec![0x00, 0x00, 0x00, 0x30, 0x03, 0x01];
    blob.resize(0x30, 0xee);
    blob
}

#[test]
fn skips_empty_x509_and_unknown_blobs() {
    let key = key(0x11);
    let single = keybox(std::slice::from_ref(&key));
    let mut data = single[..HEADER_BLOB_LEN].to_vec();
    data.extend_from_slice(&[0x00, 0x00, 0x00, 0x08, 0x00, 0xaa, 0xbb, 0xcc]);
    data.extend_from_slice(&x509_blob());
    data.extend_from_slice(&[0x00, 0x00, 0x00, 0x06, 0x07, 0x00]);
    let start = data.len();
    data.extend_from_slice(&single[HEADER_BLOB_LEN..]);

    let blobs = openpgp_blobs(&data).unwrap();
    assert_eq!(blobs.len(), 1);
    assert_eq!(blobs[0].offset(), start);
    assert_eq!(blobs[0].transferable_public_key().unwrap(), key);

    // A keybox without a header blob, as some tools write, still reads.
    assert_eq!(openpgp_blobs(&single[HEADER_BLOB_LEN..]).unwrap().len(), 1);
}

#[test]
fn rejects_openpgp_keyring() {
    let data = key(0x11).to_bytes();
    assert_eq!(openpgp_blobs(&data).unwrap_err(), KeyboxError::NotKeybox { byte: 0x99 });
}

#[test]
fn rejects_truncated_keybox() {
    let data = keybox(&[key(0x11)]);
    for len in 1..data.len() {
        let result = openpgp_blobs(&data[..len]);
        if len == HEADER_BLOB_LEN {
            assert!(result.unwrap().is_empty());
        } else {
            assert!(result.is_err(), "length {len}");
        }
    }
}

#[test]
fn rejects_blob_lengths_out_of_range() {
    let data = keybox(&[key(0x11)]);
    let cases = [
        (0u32, KeyboxError::BlobTooShort { offset: 32, len: 0 }),
        (4, KeyboxError::BlobTooShort { offset: 32, len: 4 }),
        (
            0x0050_0001,
            KeyboxError::BlobTooLong {
                offset: 32,
                len: 0x0050_0001,
                max: MAX_BLOB_LEN,
            },
        ),
        (
            0x0000_ffff,
            KeyboxError::BlobPastEnd {
                offset: 32,
                len: 0xffff,
                available: data.len() - HEADER_BLOB_LEN,
            },
        ),
    ];
    for (len, expected) in cases {
        let mut hostile = data.clone();
        hostile[32..36].copy_from_slice(&len.to_be_bytes());
        assert_eq!(openpgp_blobs(&hostile).unwrap_err(), expected, "length {len:#x}");
    }
}

#[test]
fn rejects_keyblock_outside_blob() {
    let data = keybox(&[key(0x11)]);
    let blob_len = data.len() - HEADER_BLOB_LEN;

    let mut hostile = data.clone();
    hostile[44..48].copy_from_slice(&u32::MAX.to_be_bytes());
    assert!(matches!(
        openpgp_blobs(&hostile).unwrap_err(),
        KeyboxError::KeyblockPastEnd {
            keyblock_len: u32::MAX,
            ..
        }
    ));

    let mut hostile = data.clone();
    hostile[40..44].copy_from_slice(&(blob_len as u32).to_be_bytes());
    assert!(matches!(
        openpgp_blobs(&hostile).unwrap_err(),
        KeyboxError::KeyblockPastEnd { .. }
    ));

    let mut hostile = data.clone();
    hostile[40..44].copy_from_slice(&0x10u32.to_be_bytes());
    assert_eq!(
        openpgp_blobs(&hostile).unwrap_err(),
        KeyboxError::KeyblockOverlapsHeader {
            offset: 32,
            keyblock_offset: 0x10
        }
    );
}

#[test]
fn rejects_hostile_array_sizes() {
    let data = keybox(&[key(0x11)]);

    let mut hostile = data.clone();
    hostile[48..50].copy_from_slice(&0xffffu16.to_be_bytes());
    assert!(matches!(
        openpgp_blobs(&hostile).unwrap_err(),
        KeyboxError::Truncated { field: "key info", .. }
    ));

    let mut hostile = data.clone();
    hostile[48..50].copy_from_slice(&0u16.to_be_bytes());
    assert_eq!(openpgp_blobs(&hostile).unwrap_err(), KeyboxError::NoKeys { offset: 32 });

    let mut hostile = data.clone();
    hostile[50..52].copy_from_slice(&27u16.to_be_bytes());
    assert!(matches!(
        openpgp_blobs(&hostile).unwrap_err(),
        KeyboxError::InfoTooShort { size: 27, min: 28, .. }
    ));

    // The user ID count sits after 20 fixed bytes, one key info and the
    // serial number length.
    let mut hostile = data.clone();
    hostile[32 + 50..32 + 54].copy_from_slice(&[0xff, 0xff, 0xff, 0xff]);
    assert!(matches!(
        openpgp_blobs(&hostile).unwrap_err(),
        KeyboxError::Truncated {
            field: "user ID info",
            ..
        }
    ));

    let mut hostile = data.clone();
    hostile[32 + 48..32 + 50].copy_from_slice(&0xfff0u16.to_be_bytes());
    assert!(matches!(
        openpgp_blobs(&hostile).unwrap_err(),
        KeyboxError::Truncated {
            field: "serial number",
            ..
        }
    ));

    let mut hostile = data.clone();
    hostile[32 + 90..32 + 94].copy_from_slice(&u32::MAX.to_be_bytes());
    assert!(matches!(
        openpgp_blobs(&hostile).unwrap_err(),
        KeyboxError::Truncated {
            field: "reserved space",
            ..
        }
    ));
}

#[test]
fn rejects_damaged_blobs() {
    let data = keybox(&[key(0x11)]);

    let mut damaged = data.clone();
    let last = damaged.len() - 30;
    damaged[last] ^= 0x01;
    assert_eq!(
        openpgp_blobs(&damaged).unwrap_err(),
        KeyboxError::ChecksumMismatch { offset: 32 }
    );

    let mut newer = data.clone();
    newer[37] = 0x02;
    assert_eq!(
        openpgp_blobs(&newer).unwrap_err(),
        KeyboxError::UnsupportedBlobVersion { offset: 32, version: 2 }
    );

    let mut bad_magic = data.clone();
    bad_magic[8] = b'X';
    assert_eq!(
        openpgp_blobs(&bad_magic).unwrap_err(),
        KeyboxError::InvalidHeaderBlob { offset: 0 }
    );
}

#[test]
fn rejects_fingerprint_mismatch() {
    let key = key(0x11);
    let mut data = keybox(std::slice::from_ref(&key));
    data[32 + 20] ^= 0xff;
    reseal(&mut data, 32);

    let blobs = openpgp_blobs(&data).unwrap();
    let err = blobs[0].transferable_public_key().unwrap_err();
    assert!(matches!(err, KeyboxError::FingerprintMismatch { offset: 32, actual, .. } if actual == key.fingerprint()));
}

#[test]
fn rejects_invalid_keyblock() {
    let mut data = keybox(&[key(0x11)]);
    let keyblock_start = 32 + 0x5e;
    data[keyblock_start + 3] = 0x03;
    reseal(&mut data, 32);

    let blobs = openpgp_blobs(&data).unwrap();
    assert!(matches!(
        blobs[0].transferable_public_key().unwrap_err(),
        KeyboxError::Keyblock {
            offset: 32,
            source: ParseError::UnsupportedKeyVersion { .. }
        }
    ));
}
