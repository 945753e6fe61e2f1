//! GnuPG home directories written by our codecs and read by GnuPG 2.2
//! (`gpg`, `gpg-agent`, `gpgv`), and homes that GnuPG made read by our
//! codecs: the keybox `pubring.kbx`, the key files
//! `private-keys-v1.d/<KEYGRIP>.key` and keygrips.
//!
//! Each test uses throwaway home folders whose agents are stopped when it
//! ends. Times are pinned in the past with `--faked-system-time`, so that
//! signatures compare byte for byte.

// The helpers below fail a test the way its own asserts do, by panicking.
#![allow(clippy::unwrap_used)]

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use balena_sign_conformance::gnupg::{secret_key_export, GnupgHome};
use balena_sign_conformance::{run_tool, Scratch};
use balena_sign_crypto::{RsaKeySize, RsaPrivateKey};
use balena_sign_formats::gnupg::{
    openpgp_blobs, parse_private_key, write_extended_private_key, KeyboxWriter, Keygrip, PrivateKeyError,
    PrivateKeyFile, PrivateKeyFormat, RsaPrivateComponents,
};
use balena_sign_formats::openpgp::{sign_binary_document, PublicKey, TransferablePublicKey, UserId};
use balena_sign_formats::HashAlgorithm;

/// Key creation time: 2024-01-02T03:04:05Z.
const KEY_CREATED: u32 = 1_704_164_645;
const KEY_CREATED_ISO: &str = "20240102T030405";

/// Signature creation time: 2025-02-03T04:05:06Z.
const SIGNED_AT: u32 = 1_738_555_506;
const SIGNED_AT_ISO: &str = "20250203T040506";

/// Time recorded in the keyboxes we write: 2024-06-01T00:00:00Z.
const KEYBOX_CREATED: u32 = 1_717_200_000;

const USER_ID: &str = "Balena Test (gnupg home) <test@example.com>";

/// A fresh RSA key in a scratch folder, with our OpenPGP key for it.
struct Fixture {
    scratch: Scratch,
    signer: RsaPrivateKey,
    transferable: TransferablePublicKey,
}

impl Fixture {
    fn new(size: RsaKeySize) -> Self {
        let scratch = Scratch::new().unwrap();
        let signer = scratch.rsa_key("key.pem", size).unwrap();
        let public_key = PublicKey::new_rsa(signer.public_key(), KEY_CREATED).unwrap();
        let user_id = UserId::new(USER_ID).unwrap();
        let transferable = TransferablePublicKey::certify(public_key, user_id, &signer).unwrap();
        Self {
            scratch,
            signer,
            transferable,
        }
    }

    fn dir(&self) -> &Path {
        self.scratch.root()
    }

    fn write(&self, name: &str, data: &[u8]) -> PathBuf {
        let path = self.scratch.path(name);
        fs::write(&path, data).unwrap();
        path
    }

    fn fingerprint(&self) -> String {
        self.transferable.fingerprint().to_string()
    }

    fn keygrip(&self) -> Keygrip {
        Keygrip::from_public_key(self.transferable.primary_key()).unwrap()
    }

    /// Our key file for the fixture's key, as gpg-agent would write it.
    fn key_file(&self) -> Vec<u8> {
        let components = self.signer.private_components().unwrap();
        write_extended_private_key(&components, Some(u64::from(KEY_CREATED)))
            .unwrap()
            .to_vec()
    }

    /// Writes a GnuPG home holding the fixture's key, made by our codecs
    /// only: `pubring.kbx` and the key file.
    fn export_home(&self, name: &str) -> GnupgHome {
        let home = GnupgHome::new(&self.scratch, name);
        let mut keybox = KeyboxWriter::new(KEYBOX_CREATED);
        keybox.add_key(&self.transferable, KEYBOX_CREATED).unwrap();
        fs::write(home.path.join("pubring.kbx"), keybox.finish()).unwrap();

        let keys = home.path.join("private-keys-v1.d");
        fs::create_dir(&keys).unwrap();
        fs::set_permissions(&keys, fs::Permissions::from_mode(0o700)).unwrap();
        let key_path = keys.join(format!("{}.key", self.keygrip()));
        fs::write(&key_path, self.key_file()).unwrap();
        fs::set_permissions(&key_path, fs::Permissions::from_mode(0o600)).unwrap();
        home
    }

    /// Imports the fixture's key into `home` with `gpg --import`.
    fn import_into(&self, home: &GnupgHome) {
        let secret = secret_key_export(&self.scratch.path("key.pem"), &self.transferable);
        let secret_path = self.write("secret.gpg", &secret);
        home.gpg(self.dir(), &["--import", secret_path.to_str().unwrap()]);
    }
}

/// Deterministic filler bytes (xorshift32), so failures reproduce.
fn document(len: usize) -> Vec<u8> {
    let mut state = 0x2545_f491_u32;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 17;
            state ^= state << 5;
            state.to_le_bytes()[0]
        })
        .collect()
}

/// Signs `document_path` with gpg at the pinned signing time, SHA-512.
fn gpg_detach_sign(home: &GnupgHome, dir: &Path, fingerprint: &str, document_path: &Path) -> Vec<u8> {
    let faked_time = format!("{SIGNED_AT_ISO}!");
    let output = home.gpg(
        dir,
        &[
            "--faked-system-time",
            &faked_time,
            "--digest-algo",
            "SHA512",
            "--local-user",
            fingerprint,
            "--detach-sign",
            "--output",
            "-",
            document_path.to_str().unwrap(),
        ],
    );
    output.stdout
}

/// Runs gpgv on a detached signature with `keyring` and returns its
/// standard error, failing when gpgv does not accept the signature.
fn gpgv(dir: &Path, keyring: &Path, signature: &Path, document: &Path) -> String {
    let gpgv_home = dir.join("gpgv-home");
    fs::create_dir_all(&gpgv_home).unwrap();
    let output = run_tool(
        dir,
        "gpgv",
        &[
            "--homedir",
            gpgv_home.to_str().unwrap(),
            "--keyring",
            keyring.to_str().unwrap(),
            signature.to_str().unwrap(),
            document.to_str().unwrap(),
        ],
    )
    .unwrap();
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// Runs gpg on `home` and returns its standard error.
fn gpg_stderr(home: &GnupgHome, dir: &Path, args: &[&str]) -> String {
    String::from_utf8_lossy(&home.gpg(dir, args).stderr).into_owned()
}

/// Returns the only file in the home's `private-keys-v1.d`, with its name.
fn only_key_file(home: &GnupgHome) -> (String, Vec<u8>) {
    let entries: Vec<_> = fs::read_dir(home.path.join("private-keys-v1.d"))
        .unwrap()
        .map(|entry| entry.unwrap().path())
        .collect();
    assert_eq!(entries.len(), 1, "{entries:?}");
    let name = entries[0].file_name().unwrap().to_str().unwrap().to_owned();
    (name, fs::read(&entries[0]).unwrap())
}

fn assert_same_components(got: &RsaPrivateComponents, want: &RsaPrivateComponents) {
    assert_eq!(got.n, want.n, "n");
    assert_eq!(got.e, want.e, "e");
    assert_eq!(got.d, want.d, "d");
    assert_eq!(got.p, want.p, "p");
    assert_eq!(got.q, want.q, "q");
    assert_eq!(got.u, want.u, "u");
}

#[test]
fn gpg_uses_exported_home_rsa2048() {
    check_gpg_uses_exported_home(RsaKeySize::Rsa2048);
}

#[test]
fn gpg_uses_exported_home_rsa4096() {
    check_gpg_uses_exported_home(RsaKeySize::Rsa4096);
}

/// Writes a home from our key with our codecs only, then has gpg list the
/// secret key, sign with it and check its trust database, and gpgv verify
/// the signature against our exported public key.
fn check_gpg_uses_exported_home(size: RsaKeySize) {
    let fixture = Fixture::new(size);
    let dir = fixture.dir();
    let home = fixture.export_home("exported");
    let keybox_path = home.path.join("pubring.kbx");
    let keybox_before = fs::read(&keybox_path).unwrap();
    let key_file_path = home.path.join(format!("private-keys-v1.d/{}.key", fixture.keygrip()));

    let args = ["--with-keygrip", "--list-secret-keys"];
    let secret_keys = home.colon_records(dir, &args, "sec");
    assert_eq!(secret_keys.len(), 1);
    assert_eq!(secret_keys[0][2], size.bits().to_string(), "key length");
    assert_eq!(secret_keys[0][5], KEY_CREATED.to_string(), "creation time");
    assert_eq!(secret_keys[0][14], "+", "secret key available");
    assert_eq!(home.colon_records(dir, &args, "fpr")[0][9], fixture.fingerprint());
    assert_eq!(
        home.colon_records(dir, &args, "grp")[0][9],
        fixture.keygrip().to_string()
    );
    assert_eq!(home.colon_records(dir, &args, "uid")[0][9], USER_ID);

    let data = document(50_000);
    let data_path = fixture.write("data", &data);
    let signature = gpg_detach_sign(&home, dir, &fixture.fingerprint(), &data_path);
    let signature_path = fixture.write("data.sig", &signature);
    let keyring_path = fixture.write("pub.gpg", &fixture.transferable.to_bytes());
    let verified = gpgv(dir, &keyring_path, &signature_path, &data_path);
    assert!(verified.contains("Good signature"), "{verified}");

    let ours = sign_binary_document(
        &fixture.signer,
        fixture.transferable.primary_key(),
        &data,
        HashAlgorithm::Sha512,
        SIGNED_AT,
    )
    .unwrap();
    assert_eq!(
        hex::encode(&signature),
        hex::encode(ours),
        "gpg's signature equals ours"
    );

    for args in [&["--check-trustdb"][..], &["--list-keys"], &["--list-secret-keys"]] {
        let stderr = gpg_stderr(&home, dir, args).to_lowercase();
        assert!(!stderr.contains("keybox"), "gpg {args:?}: {stderr}");
        assert!(!stderr.contains("error"), "gpg {args:?}: {stderr}");
    }
    assert_eq!(
        fs::read(&keybox_path).unwrap(),
        keybox_before,
        "gpg rewrote pubring.kbx"
    );
    assert_eq!(
        fs::read(&key_file_path).unwrap(),
        fixture.key_file(),
        "gpg-agent rewrote the key file"
    );
}

/// Imports our key with `gpg --import`, reads the key file gpg-agent keeps
/// until first use, then has the agent convert it by signing and compares
/// the converted file with ours.
#[test]
fn key_file_equals_gpg_agent_output() {
    let fixture = Fixture::new(RsaKeySize::Rsa2048);
    let dir = fixture.dir();
    let home = GnupgHome::new(&fixture.scratch, "imported");
    fixture.import_into(&home);
    let expected = fixture.signer.private_components().unwrap();

    let (name, unconverted) = only_key_file(&home);
    assert_eq!(name, format!("{}.key", fixture.keygrip()));
    let text = String::from_utf8_lossy(&unconverted);
    assert!(text.contains("(protected openpgp-native"), "{text}");
    let parsed = parse_private_key(&unconverted).unwrap();
    assert_same_components(&parsed.components, &expected);
    assert_eq!(parsed.created, Some(u64::from(KEY_CREATED)));

    let data_path = fixture.write("data", b"convert the key");
    gpg_detach_sign(&home, dir, &fixture.fingerprint(), &data_path);
    let (_, converted) = only_key_file(&home);
    assert_eq!(
        String::from_utf8_lossy(&converted),
        String::from_utf8_lossy(&fixture.key_file())
    );
}

/// With `disable-extended-key-format`, gpg-agent 2.2 writes the canonical
/// S-expression that GnuPG 2.0 and 2.1 used.
#[test]
fn reads_canonical_key_file() {
    let fixture = Fixture::new(RsaKeySize::Rsa2048);
    let dir = fixture.dir();
    let home = GnupgHome::new(&fixture.scratch, "canonical");
    fs::write(home.path.join("gpg-agent.conf"), "disable-extended-key-format\n").unwrap();
    fixture.import_into(&home);
    let data_path = fixture.write("data", b"convert the key");
    gpg_detach_sign(&home, dir, &fixture.fingerprint(), &data_path);

    let (_, file) = only_key_file(&home);
    assert!(
        file.starts_with(b"(11:private-key(3:rsa(1:n"),
        "{}",
        String::from_utf8_lossy(&file)
    );
    let parsed = parse_private_key(&file).unwrap();
    assert_eq!(parsed.format, PrivateKeyFormat::Canonical);
    assert_eq!(parsed.created, None);
    assert_same_components(&parsed.components, &fixture.signer.private_components().unwrap());
}

/// Generates a key with gpg, reads the home with our codecs, rebuilds the
/// key in AWS-LC and signs with it. gpgv must accept the signature against
/// gpg's own export, and our encoders must reproduce gpg's files byte for
/// byte.
#[test]
fn reads_home_gpg_generated() {
    let scratch = Scratch::new().unwrap();
    let dir = scratch.root();
    let home = GnupgHome::new(&scratch, "generated");
    let faked_time = format!("{KEY_CREATED_ISO}!");
    home.gpg(
        dir,
        &[
            "--faked-system-time",
            &faked_time,
            "--quick-generate-key",
            USER_ID,
            "rsa4096",
            "sign",
            "never",
        ],
    );
    let gpg_fingerprint = home.colon_records(dir, &["--list-keys"], "fpr")[0][9].clone();
    let gpg_keygrip = home.colon_records(dir, &["--with-keygrip", "--list-keys"], "grp")[0][9].clone();

    let keybox = fs::read(home.path.join("pubring.kbx")).unwrap();
    let blobs = openpgp_blobs(&keybox).unwrap();
    assert_eq!(blobs.len(), 1);
    let key = blobs[0].transferable_public_key().unwrap();
    assert_eq!(key.fingerprint().to_string(), gpg_fingerprint);
    assert_eq!(blobs[0].fingerprints(), [key.fingerprint()]);
    assert_eq!(key.user_ids()[0].user_id().as_str(), Some(USER_ID));

    let (name, key_file) = only_key_file(&home);
    let parsed: PrivateKeyFile = parse_private_key(&key_file).unwrap();
    assert_eq!(parsed.format, PrivateKeyFormat::Extended);
    assert_eq!(parsed.created, Some(u64::from(KEY_CREATED)));
    let keygrip = Keygrip::from_rsa_modulus(&parsed.components.n);
    assert_eq!(keygrip.to_string(), gpg_keygrip);
    assert_eq!(name, format!("{gpg_keygrip}.key"));
    assert_eq!(Keygrip::from_public_key(key.primary_key()), Some(keygrip));
    assert_eq!(parsed.components.n, key.primary_key().rsa().unwrap().modulus);

    let (signer, _pem) = RsaPrivateKey::from_components(&parsed.components).unwrap();
    assert_same_components(&signer.private_components().unwrap(), &parsed.components);
    let data = document(70_000);
    let data_path = scratch.path("data");
    fs::write(&data_path, &data).unwrap();
    let signature = sign_binary_document(&signer, key.primary_key(), &data, HashAlgorithm::Sha512, SIGNED_AT).unwrap();
    let signature_path = scratch.path("data.sig");
    fs::write(&signature_path, &signature).unwrap();
    let export = home.gpg(dir, &["--export", &gpg_fingerprint]).stdout;
    let keyring_path = scratch.path("gpg-export.gpg");
    fs::write(&keyring_path, export).unwrap();
    let verified = gpgv(dir, &keyring_path, &signature_path, &data_path);
    assert!(verified.contains("Good signature"), "{verified}");
    assert_eq!(
        hex::encode(&signature),
        hex::encode(gpg_detach_sign(&home, dir, &gpg_fingerprint, &data_path)),
        "our signature equals gpg's"
    );

    let file_created = u32::from_be_bytes(keybox[16..20].try_into().unwrap());
    let mut rewritten = KeyboxWriter::new(file_created);
    rewritten.add_key(&key, blobs[0].created()).unwrap();
    assert_eq!(hex::encode(rewritten.finish()), hex::encode(&keybox), "pubring.kbx");

    let rewritten = write_extended_private_key(&parsed.components, parsed.created).unwrap();
    assert_eq!(
        String::from_utf8_lossy(&rewritten),
        String::from_utf8_lossy(&key_file),
        "key file"
    );
}

/// A key imported with `gpg --import` gets a keybox blob whose trust
/// packets mark its signatures as checked; the reader takes it as well.
#[test]
fn reads_keybox_after_import() {
    let fixture = Fixture::new(RsaKeySize::Rsa2048);
    let home = GnupgHome::new(&fixture.scratch, "imported");
    fixture.import_into(&home);

    let keybox = fs::read(home.path.join("pubring.kbx")).unwrap();
    let blobs = openpgp_blobs(&keybox).unwrap();
    assert_eq!(blobs.len(), 1);
    assert_eq!(blobs[0].transferable_public_key().unwrap(), fixture.transferable);
}

#[test]
fn rejects_passphrase_protected_key() {
    let scratch = Scratch::new().unwrap();
    let dir = scratch.root();
    let home = GnupgHome::new(&scratch, "protected");
    run_tool(
        dir,
        "gpg",
        &[
            "--homedir",
            home.path.to_str().unwrap(),
            "--batch",
            "--pinentry-mode",
            "loopback",
            "--passphrase",
            "correct horse",
            "--quick-generate-key",
            USER_ID,
            "rsa2048",
            "sign",
            "never",
        ],
    )
    .unwrap();

    let (_, key_file) = only_key_file(&home);
    assert!(key_file.starts_with(b"Created: "));
    assert_eq!(parse_private_key(&key_file).unwrap_err(), PrivateKeyError::Protected);
}
