//! Mutation smoke test of every parser that reads untrusted bytes: valid
//! samples are flipped, truncated, extended and spliced thousands of times
//! with a fixed seed, and each parser must return, never panic. In debug
//! builds this also catches integer overflow in offset arithmetic.

// Test helpers fail the way a test's own asserts do, by panicking.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, clippy::indexing_slicing)]

use balena_sign_conformance::pe_builder::generate_pe;
use balena_sign_crypto::{RsaKeySize, RsaPrivateKey};
use balena_sign_formats::ahab::AhabSrkTable;
use balena_sign_formats::efi::siglist;
use balena_sign_formats::efi::Guid;
use balena_sign_formats::gnupg;
use balena_sign_formats::hab::csf_text;
use balena_sign_formats::hab::srk::SrkTable;
use balena_sign_formats::openpgp::{self, ArmorKind, PublicKey, Signature, TransferablePublicKey, UserId};
use balena_sign_formats::pe;
use balena_sign_formats::x509::{self, CertificateParams};
use balena_sign_formats::HashAlgorithm;

/// Mutated inputs per sample.
const ROUNDS: usize = 20_000;

/// xorshift64: reproducible without a dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }

    fn below(&mut self, bound: usize) -> usize {
        (self.next() % bound.max(1) as u64) as usize
    }
}

/// Returns a mutated copy of `sample`: bytes flipped or set to boundary
/// values, a truncation, an insertion, or a copied span.
fn mutate(rng: &mut Rng, sample: &[u8]) -> Vec<u8> {
    let mut data = sample.to_vec();
    for _ in 0..=rng.below(4) {
        match rng.below(6) {
            0 if !data.is_empty() => {
                let at = rng.below(data.len());
                data[at] ^= 1 << rng.below(8);
            }
            1 if !data.is_empty() => {
                let at = rng.below(data.len());
                data[at] = [0x00, 0x7f, 0x80, 0xff][rng.below(4)];
            }
            2 => data.truncate(rng.below(data.len() + 1)),
            3 => {
                let at = rng.below(data.len() + 1);
                let bytes: Vec<u8> = (0..rng.below(16)).map(|_| rng.next() as u8).collect();
                data.splice(at..at, bytes);
            }
            4 if data.len() > 4 => {
                // A length-looking field set to a huge value.
                let at = rng.below(data.len() - 4);
                data[at..at + 4].copy_from_slice(&[0xff, 0xff, 0xff, 0x7f]);
            }
            _ if data.len() > 8 => {
                let from = rng.below(data.len() - 8);
                let to = rng.below(data.len() - 8);
                let span: Vec<u8> = data[from..from + 8].to_vec();
                data[to..to + 8].copy_from_slice(&span);
            }
            _ => {}
        }
    }
    data
}

fn fuzz(seed: u64, sample: &[u8], parse: impl Fn(&[u8])) {
    parse(sample);
    let mut rng = Rng(seed);
    for _ in 0..ROUNDS {
        parse(&mutate(&mut rng, sample));
    }
}

fn certificate(key: &RsaPrivateKey) -> Vec<u8> {
    let params = CertificateParams {
        subject: x509::parse_openssl_subject("/CN=robustness/").unwrap(),
        serial: [7; x509::SERIAL_LEN],
        not_before: 1_700_000_000,
        not_after: 1_800_000_000,
    };
    x509::self_signed_certificate(&params, key).unwrap()
}

#[test]
fn pe_parser_never_panics() {
    let image = generate_pe(true, &[(".text", 0x1800), (".data", 0x300)], 5);
    fuzz(1, &image, |data| {
        let _ = pe::PeImage::parse(data);
        let _ = pe::image_hash(data);
    });
}

#[test]
fn signature_list_parser_never_panics() {
    let (key, _) = RsaPrivateKey::generate(RsaKeySize::Rsa2048).unwrap();
    let mut lists = siglist::x509_signature_list(&certificate(&key), Guid::ZERO).unwrap();
    lists.extend(siglist::sha256_signature_list(&[[1; 32], [2; 32]], Guid::ZERO).unwrap());
    fuzz(2, &lists, |data| {
        let _ = siglist::parse_signature_lists(data);
    });
}

#[test]
fn openpgp_parsers_never_panic() {
    let (key, _) = RsaPrivateKey::generate(RsaKeySize::Rsa2048).unwrap();
    let public = PublicKey::new_rsa(key.public_key(), 1_700_000_000).unwrap();
    let user_id = UserId::from_parts("Robust", Some("test"), "robust@example.com").unwrap();
    let transferable = TransferablePublicKey::certify(public.clone(), user_id, &key).unwrap();
    let signature =
        openpgp::sign_binary_document(&key, &public, b"data", HashAlgorithm::Sha512, 1_700_000_001).unwrap();

    fuzz(3, &transferable.to_bytes(), |data| {
        let _ = TransferablePublicKey::from_bytes(data);
        let _ = PublicKey::from_packet_body(data);
    });
    fuzz(4, &signature[3..], |data| {
        let _ = Signature::from_packet_body(data);
    });
    fuzz(5, transferable.to_armored().as_bytes(), |data| {
        let text = String::from_utf8_lossy(data);
        let _ = openpgp::dearmor(&text, ArmorKind::PublicKeyBlock);
        let _ = TransferablePublicKey::from_armored(&text);
    });
}

#[test]
fn gnupg_parsers_never_panic() {
    let (key, _) = RsaPrivateKey::generate(RsaKeySize::Rsa2048).unwrap();
    let public = PublicKey::new_rsa(key.public_key(), 1_700_000_000).unwrap();
    let user_id = UserId::from_parts("Robust", None, "robust@example.com").unwrap();
    let transferable = TransferablePublicKey::certify(public, user_id, &key).unwrap();
    let mut keybox = gnupg::KeyboxWriter::new(1_700_000_000);
    keybox.add_key(&transferable, 1_700_000_000).unwrap();
    let keybox = keybox.finish();
    let key_file = gnupg::write_extended_private_key(&key.private_components().unwrap(), Some(1_700_000_000)).unwrap();

    fuzz(6, &keybox, |data| {
        if let Ok(blobs) = gnupg::openpgp_blobs(data) {
            for blob in blobs {
                let _ = blob.transferable_public_key();
            }
        }
    });
    fuzz(7, &key_file, |data| {
        let _ = gnupg::parse_private_key(data);
    });
}

#[test]
fn nxp_parsers_never_panic() {
    let keys: Vec<RsaPrivateKey> = (0..4)
        .map(|_| RsaPrivateKey::generate(RsaKeySize::Rsa2048).unwrap().0)
        .collect();
    let certificates: Vec<Vec<u8>> = keys.iter().map(certificate).collect();
    let refs: Vec<&[u8]> = certificates.iter().map(Vec::as_slice).collect();

    fuzz(8, &SrkTable::from_certificates(&refs).unwrap().to_bytes(), |data| {
        let _ = SrkTable::parse(data);
    });
    fuzz(
        9,
        &AhabSrkTable::from_certificates(&refs, HashAlgorithm::Sha512)
            .unwrap()
            .to_bytes(),
        |data| {
            let _ = AhabSrkTable::parse(data);
        },
    );

    let description = b"[Header]\n    Version = 4.3\n    Hash Algorithm = sha256\n    Engine = CAAM\n    Engine Configuration = 0\n    Certificate Format = X509\n    Signature Format = CMS\n[Install SRK]\n    File = \"table.bin\"\n    Source index = 0\n[Install CSFK]\n    File = \"csf.pem\"\n[Authenticate CSF]\n[Unlock]\n    Engine = CAAM\n    Features = MID, RNG\n[Install Key]\n    Verification index = 0\n    Target Index = 2\n    File = \"img.pem\"\n[Authenticate Data]\n    Verification index = 2\n    Blocks = 0x40480000 0x0 0x3020 \"image.bin\", \\\n        0x40483020 0x3020 0x20 \"image.bin\"\n";
    fuzz(10, description, |data| {
        let _ = csf_text::parse(data);
    });
}

#[test]
fn subject_parser_never_panics() {
    fuzz(
        11,
        b"/C=US/ST=Some\\/State/O=Example+OU=Devices/CN=name/emailAddress=a@b.c/",
        |data| {
            let _ = x509::parse_openssl_subject(&String::from_utf8_lossy(data));
        },
    );
}
