//! OpenPGP keys and detached signatures checked against GnuPG 2.2 (`gpg`,
//! `gpgv`) and GRUB 2.06 (`grub-emu` with the `pgp` module).
//!
//! GnuPG runs with a throwaway home folder per test, and its agent is
//! stopped when the test ends. Times are pinned in the past, because gpg
//! rejects keys created after the current time.

// The helpers below fail a test the way its own asserts do, by panicking.
#![allow(clippy::unwrap_used)]

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::PathBuf;

use balena_sign_conformance::gnupg::{secret_key_export, GnupgHome};
use balena_sign_conformance::grub::{run_grub, GrubCheck};
use balena_sign_conformance::{run_tool, Scratch};
use balena_sign_crypto::{RsaKeySize, RsaPrivateKey};
use balena_sign_formats::openpgp::{
    dearmor, sign_binary_document, ArmorKind, PublicKey, SignatureType, Subpacket, SubpacketType,
    TransferablePublicKey, UserId,
};
use balena_sign_formats::HashAlgorithm;

/// Key creation time: 2024-01-02T03:04:05Z.
const KEY_CREATED: u32 = 1_704_164_645;
const KEY_CREATED_ISO: &str = "20240102T030405";

/// Signature creation time: 2025-02-03T04:05:06Z.
const SIGNED_AT: u32 = 1_738_555_506;
const SIGNED_AT_ISO: &str = "20250203T040506";

const NAME_REAL: &str = "Balena Test";
const NAME_COMMENT: &str = "conformance";
const NAME_EMAIL: &str = "test@example.com";
const USER_ID: &str = "Balena Test (conformance) <test@example.com>";

/// Size of the large document: big enough that GRUB and gpg read it in
/// many blocks.
const LARGE_DOCUMENT_LEN: usize = 8 * 1024 * 1024;

/// A fresh RSA key in a scratch folder, with our OpenPGP key for it.
struct Fixture {
    scratch: Scratch,
    signer: RsaPrivateKey,
    public_key: PublicKey,
    transferable: TransferablePublicKey,
}

impl Fixture {
    fn new(size: RsaKeySize) -> Self {
        let scratch = Scratch::new().unwrap();
        let signer = scratch.rsa_key("key.pem", size).unwrap();
        let public_key = PublicKey::new_rsa(signer.public_key(), KEY_CREATED).unwrap();
        let user_id = UserId::from_parts(NAME_REAL, Some(NAME_COMMENT), NAME_EMAIL).unwrap();
        let transferable = TransferablePublicKey::certify(public_key.clone(), user_id, &signer).unwrap();
        Self {
            scratch,
            signer,
            public_key,
            transferable,
        }
    }

    /// Writes `data` to `name` in the scratch folder and returns its path.
    fn write(&self, name: &str, data: &[u8]) -> PathBuf {
        let path = self.scratch.path(name);
        fs::write(&path, data).unwrap();
        path
    }

    fn fingerprint(&self) -> String {
        self.public_key.fingerprint().to_string()
    }

    fn sign(&self, document: &[u8], hash: HashAlgorithm) -> Vec<u8> {
        sign_binary_document(&self.signer, &self.public_key, document, hash, SIGNED_AT).unwrap()
    }

    /// Our key as gpg imports it, with an unprotected secret-key packet.
    fn secret_key_export(&self) -> Vec<u8> {
        secret_key_export(&self.scratch.path("key.pem"), &self.transferable)
    }
}

/// Deterministic filler bytes (xorshift32), so failures reproduce.
fn document(len: usize) -> Vec<u8> {
    let mut state = 0x9e37_79b9_u32;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state.to_le_bytes()[0]
        })
        .collect()
}

#[test]
fn gpg_imports_key_and_lists_it() {
    let fixture = Fixture::new(RsaKeySize::Rsa2048);
    let dir = fixture.scratch.root();
    let home = GnupgHome::new(&fixture.scratch, "gnupg");
    let key_path = fixture.write("key.pub", &fixture.transferable.to_bytes());

    home.gpg(dir, &["--import", key_path.to_str().unwrap()]);

    let keys = home.colon_records(dir, &["--list-keys"], "pub");
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0][2], "2048", "key length");
    assert_eq!(keys[0][3], "1", "public-key algorithm");
    assert_eq!(keys[0][4], fixture.public_key.key_id().to_string());
    assert_eq!(keys[0][5], KEY_CREATED.to_string());
    assert_eq!(keys[0][11], "scSC", "key capabilities");

    let fingerprints = home.colon_records(dir, &["--list-keys"], "fpr");
    assert_eq!(fingerprints[0][9], fixture.fingerprint());
    let user_ids = home.colon_records(dir, &["--list-keys"], "uid");
    assert_eq!(user_ids.len(), 1);
    assert_eq!(user_ids[0][9], USER_ID);

    // "!" in field 2 is a good signature.
    let signatures = home.colon_records(dir, &["--check-signatures"], "sig");
    assert_eq!(signatures.len(), 1);
    assert_eq!(signatures[0][1], "!", "self-certification check");
    assert_eq!(signatures[0][10], "13x", "signature class");
}

#[test]
fn gpg_export_equals_our_bytes() {
    let fixture = Fixture::new(RsaKeySize::Rsa2048);
    let dir = fixture.scratch.root();
    let home = GnupgHome::new(&fixture.scratch, "gnupg");
    let key_path = fixture.write("key.pub", &fixture.transferable.to_bytes());
    home.gpg(dir, &["--import", key_path.to_str().unwrap()]);

    let binary = home.gpg(dir, &["--export", &fixture.fingerprint()]).stdout;
    assert_eq!(binary, fixture.transferable.to_bytes());

    let armored = home.gpg(dir, &["--armor", "--export", &fixture.fingerprint()]).stdout;
    assert_eq!(String::from_utf8(armored).unwrap(), fixture.transferable.to_armored());
}

#[test]
fn gpg_dearmor_gives_binary_key() {
    let fixture = Fixture::new(RsaKeySize::Rsa2048);
    let dir = fixture.scratch.root();
    let home = GnupgHome::new(&fixture.scratch, "gnupg");
    let armored_path = fixture.write("key.asc", fixture.transferable.to_armored().as_bytes());

    let output = home.gpg(dir, &["--dearmor", "--output", "-", armored_path.to_str().unwrap()]);
    assert_eq!(output.stdout, fixture.transferable.to_bytes());
}

#[test]
fn gpgv_verifies_detached_signatures() {
    let fixture = Fixture::new(RsaKeySize::Rsa2048);
    let dir = fixture.scratch.root();
    let home = GnupgHome::new(&fixture.scratch, "gnupg");
    let key_path = fixture.write("key.pub", &fixture.transferable.to_bytes());

    for (name, len) in [("small", 13), ("large", LARGE_DOCUMENT_LEN)] {
        let data = document(len);
        let data_path = fixture.write(name, &data);
        for hash in [HashAlgorithm::Sha512, HashAlgorithm::Sha256] {
            let sig_path = fixture.write(&format!("{name}.{hash}.sig"), &fixture.sign(&data, hash));
            let output = run_tool(
                dir,
                "gpgv",
                &[
                    "--homedir",
                    home.path.to_str().unwrap(),
                    "--keyring",
                    key_path.to_str().unwrap(),
                    sig_path.to_str().unwrap(),
                    data_path.to_str().unwrap(),
                ],
            )
            .unwrap_or_else(|err| panic!("{name} with {hash}: {err}"));
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert!(stderr.contains("Good signature"), "{name} with {hash}: {stderr}");
        }
    }
}

#[test]
fn gpgv_rejects_changed_document() {
    let fixture = Fixture::new(RsaKeySize::Rsa2048);
    let dir = fixture.scratch.root();
    let home = GnupgHome::new(&fixture.scratch, "gnupg");
    let key_path = fixture.write("key.pub", &fixture.transferable.to_bytes());
    let sig_path = fixture.write("data.sig", &fixture.sign(b"original", HashAlgorithm::Sha512));
    let data_path = fixture.write("data", b"changed!");

    let result = run_tool(
        dir,
        "gpgv",
        &[
            "--homedir",
            home.path.to_str().unwrap(),
            "--keyring",
            key_path.to_str().unwrap(),
            sig_path.to_str().unwrap(),
            data_path.to_str().unwrap(),
        ],
    );
    let err = result.unwrap_err();
    assert!(err.contains("BAD signature"), "{err}");
}

/// Imports the fixture's private key into `home`. gpg checks our
/// self-certification on the way.
fn import_secret_key(fixture: &Fixture, home: &GnupgHome) {
    let secret_path = fixture.write("secret.gpg", &fixture.secret_key_export());
    home.gpg(fixture.scratch.root(), &["--import", secret_path.to_str().unwrap()]);
    let secret_keys = home.colon_records(fixture.scratch.root(), &["--list-secret-keys"], "fpr");
    assert_eq!(secret_keys[0][9], fixture.fingerprint());
}

#[test]
fn signature_equals_gpg_detach_sign() {
    for size in [RsaKeySize::Rsa2048, RsaKeySize::Rsa4096] {
        let fixture = Fixture::new(size);
        let dir = fixture.scratch.root();
        let home = GnupgHome::new(&fixture.scratch, "gnupg");
        import_secret_key(&fixture, &home);

        let data = document(100_000);
        let data_path = fixture.write("data", &data);
        for (hash, digest_algo) in [(HashAlgorithm::Sha512, "SHA512"), (HashAlgorithm::Sha256, "SHA256")] {
            let faked_time = format!("{SIGNED_AT_ISO}!");
            let output = home.gpg(
                dir,
                &[
                    "--faked-system-time",
                    &faked_time,
                    "--digest-algo",
                    digest_algo,
                    "--local-user",
                    &fixture.fingerprint(),
                    "--detach-sign",
                    "--output",
                    "-",
                    data_path.to_str().unwrap(),
                ],
            );
            assert_eq!(
                hex::encode(output.stdout),
                hex::encode(fixture.sign(&data, hash)),
                "{}-bit key, {hash}",
                size.bits()
            );
        }
    }
}

/// Checks that gpg, given the same private key (batch parameter
/// `Key-Grip`), time, user ID and usage, exports our bytes exactly.
#[test]
fn key_equals_gpg_generated_from_same_key() {
    check_key_equals_gpg_generated(RsaKeySize::Rsa2048);
    check_key_equals_gpg_generated(RsaKeySize::Rsa4096);
}

fn check_key_equals_gpg_generated(size: RsaKeySize) {
    let fixture = Fixture::new(size);
    let dir = fixture.scratch.root();

    // Our key puts the private key into the first home's agent.
    let import_home = GnupgHome::new(&fixture.scratch, "import");
    import_secret_key(&fixture, &import_home);
    let grips = import_home.colon_records(dir, &["--with-keygrip", "--list-secret-keys"], "grp");
    let keygrip = grips[0][9].clone();

    // A second home contains only the private key, so gpg makes the user ID
    // and self-certification itself.
    let generate_home = GnupgHome::new(&fixture.scratch, "generate");
    let private_keys = generate_home.path.join("private-keys-v1.d");
    fs::create_dir(&private_keys).unwrap();
    fs::set_permissions(&private_keys, fs::Permissions::from_mode(0o700)).unwrap();
    let key_file = format!("{keygrip}.key");
    fs::copy(
        import_home.path.join("private-keys-v1.d").join(&key_file),
        private_keys.join(&key_file),
    )
    .unwrap();

    let parameters = format!(
        "%no-protection\nKey-Type: RSA\nKey-Grip: {keygrip}\nKey-Usage: sign\nName-Real: {NAME_REAL}\n\
         Name-Comment: {NAME_COMMENT}\nName-Email: {NAME_EMAIL}\nExpire-Date: 0\n\
         Creation-Date: {KEY_CREATED_ISO}\n%commit\n"
    );
    let parameters_path = fixture.write("parameters", parameters.as_bytes());
    let faked_time = format!("{KEY_CREATED_ISO}!");
    generate_home.gpg(
        dir,
        &[
            "--faked-system-time",
            &faked_time,
            "--gen-key",
            parameters_path.to_str().unwrap(),
        ],
    );

    let exported = generate_home.gpg(dir, &["--export", &fixture.fingerprint()]).stdout;
    assert_eq!(
        hex::encode(exported),
        hex::encode(fixture.transferable.to_bytes()),
        "{}-bit key",
        size.bits()
    );
}

/// Reads keys that gpg generated itself: `--quick-generate-key ... sign`
/// (what the server mirrors) and the unattended parameters python-gnupg
/// writes for the existing service (`Key-Type: RSA`, no usage, so flags
/// certify, sign, encrypt and authenticate).
#[test]
fn parses_keys_gpg_generated() {
    let scratch = Scratch::new().unwrap();
    let dir = scratch.root();
    let faked_time = format!("{KEY_CREATED_ISO}!");

    let quick_home = GnupgHome::new(&scratch, "quick");
    quick_home.gpg(
        dir,
        &[
            "--faked-system-time",
            &faked_time,
            "--quick-generate-key",
            USER_ID,
            "rsa2048",
            "sign",
            "never",
        ],
    );

    let batch_home = GnupgHome::new(&scratch, "batch");
    let parameters = format!(
        "%no-protection\nKey-Type: RSA\nKey-Length: 2048\nName-Real: {NAME_REAL}\nName-Comment: {NAME_COMMENT}\n\
         Name-Email: {NAME_EMAIL}\nExpire-Date: 0\n%commit\n"
    );
    fs::write(scratch.path("parameters"), parameters).unwrap();
    batch_home.gpg(dir, &["--faked-system-time", &faked_time, "--gen-key", "parameters"]);

    for (home, key_flags) in [(&quick_home, 0x03), (&batch_home, 0x2f)] {
        let fingerprint = home.colon_records(dir, &["--list-keys"], "fpr")[0][9].clone();
        let binary = home.gpg(dir, &["--export", &fingerprint]).stdout;
        let armored = String::from_utf8(home.gpg(dir, &["--armor", "--export", &fingerprint]).stdout).unwrap();

        let key = TransferablePublicKey::from_bytes(&binary).unwrap();
        assert_eq!(key.fingerprint().to_string(), fingerprint);
        assert_eq!(key.created(), KEY_CREATED);
        assert_eq!(key.user_ids()[0].user_id().as_str(), Some(USER_ID));
        let certification = &key.user_ids()[0].signatures()[0];
        assert_eq!(certification.signature_type(), SignatureType::POSITIVE_CERTIFICATION);
        assert_eq!(certification.key_flags(), Some(key_flags));
        assert_eq!(key.to_bytes(), binary);

        assert_eq!(dearmor(&armored, ArmorKind::PublicKeyBlock).unwrap(), binary);
        assert_eq!(TransferablePublicKey::from_armored(&armored).unwrap(), key);
    }

    // Apart from the issuer and time, gpg's self-certification has our
    // hashed subpackets.
    let fixture = Fixture::new(RsaKeySize::Rsa2048);
    let ours = &fixture.transferable.user_ids()[0].signatures()[0];
    let fingerprint = quick_home.colon_records(dir, &["--list-keys"], "fpr")[0][9].clone();
    let theirs = TransferablePublicKey::from_bytes(&quick_home.gpg(dir, &["--export", &fingerprint]).stdout).unwrap();
    let theirs = &theirs.user_ids()[0].signatures()[0];
    let types = |subpackets: &[Subpacket]| {
        subpackets
            .iter()
            .map(|subpacket| subpacket.subpacket_type)
            .collect::<Vec<_>>()
    };
    assert_eq!(types(theirs.hashed_subpackets()), types(ours.hashed_subpackets()));
    assert_eq!(types(theirs.unhashed_subpackets()), types(ours.unhashed_subpackets()));
    for (their, our) in theirs.hashed_subpackets().iter().zip(ours.hashed_subpackets()) {
        if their.subpacket_type != SubpacketType::ISSUER_FINGERPRINT
            && their.subpacket_type != SubpacketType::SIGNATURE_CREATION_TIME
        {
            assert_eq!(their, our);
        }
    }
}

/// Checks that GRUB verifies our signatures over a small and a large file,
/// with both hashes, against our binary public key. A changed file must fail.
fn check_grub_verifies(size: RsaKeySize) {
    let fixture = Fixture::new(size);
    let public_key = fixture.write("key.pub", &fixture.transferable.to_bytes());

    let mut checks = Vec::new();
    for (name, len) in [("small", 13), ("large", LARGE_DOCUMENT_LEN)] {
        let data = document(len);
        let data_path = fixture.write(name, &data);
        for hash in [HashAlgorithm::Sha512, HashAlgorithm::Sha256] {
            let label = format!("{name}-{hash}");
            let signature = fixture.write(&format!("{label}.sig"), &fixture.sign(&data, hash));
            checks.push(GrubCheck {
                label,
                data: data_path.clone(),
                signature,
            });
        }
    }
    let changed = fixture.write("changed", b"changed");
    let signature = fixture.write("changed.sig", &fixture.sign(b"original", HashAlgorithm::Sha512));
    checks.push(GrubCheck {
        label: "changed".to_owned(),
        data: changed,
        signature,
    });

    let results = run_grub(&fixture.scratch, &public_key, &checks);
    for (label, code) in &results {
        if label == "changed" {
            assert_ne!(code, "0", "GRUB accepted a changed file");
        } else {
            assert_eq!(code, "0", "GRUB rejected {label} with a {}-bit key", size.bits());
        }
    }
}

#[test]
fn grub_verifies_2048_bit_signatures() {
    check_grub_verifies(RsaKeySize::Rsa2048);
}

#[test]
fn grub_verifies_4096_bit_signatures() {
    check_grub_verifies(RsaKeySize::Rsa4096);
}
