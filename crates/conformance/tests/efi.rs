//! EFI signature lists and authenticated variables against efitools 1.9.2
//! (`cert-to-efi-sig-list`, `hash-to-efi-sig-list`, `sig-list-to-certs`,
//! `sign-efi-sig-list`) and `openssl cms -verify`.

// The helpers below are test code outside #[test] functions, where a
// panic is the way to fail the test.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod identity;

use balena_sign_conformance::cms::wrap_signed_data;
use balena_sign_conformance::{run_tool, Scratch};
use balena_sign_formats::efi::authvar::{sign_variable, SecureBootVariable, VariableUpdate};
use balena_sign_formats::efi::siglist::{
    parse_signature_lists, sha256_signature_list, x509_signature_list, SignatureType,
};
use balena_sign_formats::efi::{EfiTime, Guid};
use balena_sign_formats::pe::image_hash;
use identity::Identity;

/// A signature owner GUID for `-g`.
const OWNER: &str = "8a2b5c3e-1d4f-4e6a-9b7c-0d1e2f3a4b5c";

/// The timestamp every variable is signed with, as `sign-efi-sig-list -t`
/// takes it.
const TIMESTAMP_TEXT: &str = "2024-01-02 03:04:05";

/// The owner GUID `hash-to-efi-sig-list` writes.
const HASH_TO_EFI_SIG_LIST_OWNER: &str = "605dab50-e046-4300-abb6-3dd810dd8b23";

/// EFI binaries of the Debian package shim-unsigned, hashed for dbx lists.
const SHIM_BINARIES: [&str; 2] = ["/usr/lib/shim/shimx64.efi", "/usr/lib/shim/fbx64.efi"];

fn timestamp() -> EfiTime {
    EfiTime::new(2024, 1, 2, 3, 4, 5).unwrap()
}

fn read(scratch: &Scratch, name: &str) -> Vec<u8> {
    std::fs::read(scratch.path(name)).unwrap()
}

#[test]
fn x509_list_matches_cert_to_efi_sig_list() {
    let scratch = Scratch::new().unwrap();
    let db = Identity::new(&scratch, "db");

    run_tool(
        scratch.root(),
        "cert-to-efi-sig-list",
        &["-g", OWNER, db.cert_arg(), "owned.esl"],
    )
    .unwrap();
    let owned = x509_signature_list(&db.cert_der, OWNER.parse().unwrap()).unwrap();
    assert_eq!(owned, read(&scratch, "owned.esl"));

    run_tool(scratch.root(), "cert-to-efi-sig-list", &[db.cert_arg(), "default.esl"]).unwrap();
    let default_owner = x509_signature_list(&db.cert_der, Guid::ZERO).unwrap();
    assert_eq!(default_owner, read(&scratch, "default.esl"));
}

#[test]
fn two_certificate_list_round_trips() {
    let scratch = Scratch::new().unwrap();
    let first = Identity::new(&scratch, "db1");
    let second = Identity::new(&scratch, "db2");
    let owner: Guid = OWNER.parse().unwrap();

    run_tool(
        scratch.root(),
        "cert-to-efi-sig-list",
        &["-g", OWNER, first.cert_arg(), "1.esl"],
    )
    .unwrap();
    run_tool(
        scratch.root(),
        "cert-to-efi-sig-list",
        &["-g", OWNER, second.cert_arg(), "2.esl"],
    )
    .unwrap();
    let mut reference = read(&scratch, "1.esl");
    reference.extend(read(&scratch, "2.esl"));

    let mut ours = x509_signature_list(&first.cert_der, owner).unwrap();
    ours.extend(x509_signature_list(&second.cert_der, owner).unwrap());
    assert_eq!(ours, reference);

    std::fs::write(scratch.path("both.esl"), &ours).unwrap();
    run_tool(scratch.root(), "sig-list-to-certs", &["both.esl", "out"]).unwrap();
    assert_eq!(read(&scratch, "out-0.der"), first.cert_der);
    assert_eq!(read(&scratch, "out-1.der"), second.cert_der);

    let lists = parse_signature_lists(&reference).unwrap();
    assert_eq!(lists.len(), 2);
    assert_eq!(lists[1].signatures[0].signature_data, second.cert_der.as_slice());
}

#[test]
fn hash_list_matches_hash_to_efi_sig_list() {
    let Some(binaries) = shim_binaries() else {
        return;
    };
    let scratch = Scratch::new().unwrap();

    let mut args: Vec<&str> = binaries.to_vec();
    args.push("hashes.esl");
    run_tool(scratch.root(), "hash-to-efi-sig-list", &args).unwrap();
    let reference = read(&scratch, "hashes.esl");

    let hashes: Vec<[u8; 32]> = binaries
        .iter()
        .map(|path| image_hash(&std::fs::read(path).unwrap()).unwrap())
        .collect();
    let ours = sha256_signature_list(&hashes, HASH_TO_EFI_SIG_LIST_OWNER.parse().unwrap()).unwrap();
    assert_eq!(ours, reference);

    let lists = parse_signature_lists(&reference).unwrap();
    assert_eq!(lists.len(), 1);
    assert_eq!(lists[0].signature_type, SignatureType::Sha256);
    assert_eq!(lists[0].signatures.len(), 2);
}

/// Who signs which variable, and with which list.
struct Case {
    variable: SecureBootVariable,
    signer: &'static str,
    list: &'static str,
}

/// The variable updates balena-sign makes: PK signed by itself, KEK by PK,
/// db and dbx by KEK, with a one-certificate, a two-certificate and a hash
/// list.
const CASES: [Case; 6] = [
    Case {
        variable: SecureBootVariable::Pk,
        signer: "PK",
        list: "PK.esl",
    },
    Case {
        variable: SecureBootVariable::Kek,
        signer: "PK",
        list: "KEK.esl",
    },
    Case {
        variable: SecureBootVariable::Db,
        signer: "KEK",
        list: "db.esl",
    },
    Case {
        variable: SecureBootVariable::Db,
        signer: "KEK",
        list: "two.esl",
    },
    Case {
        variable: SecureBootVariable::Dbx,
        signer: "KEK",
        list: "db.esl",
    },
    Case {
        variable: SecureBootVariable::Dbx,
        signer: "KEK",
        list: "hashes.esl",
    },
];

#[test]
fn auth_matches_sign_efi_sig_list() {
    let scratch = Scratch::new().unwrap();
    let identities = [
        Identity::new(&scratch, "PK"),
        Identity::new(&scratch, "KEK"),
        Identity::new(&scratch, "db"),
        Identity::new(&scratch, "db2"),
    ];
    write_lists(&scratch, &identities);

    for case in &CASES {
        let signer = identities
            .iter()
            .find(|identity| identity.cert_path.ends_with(format!("{}.crt", case.signer)));
        let signer = signer.unwrap();
        for append in [false, true] {
            check_auth(&scratch, case, signer, append, Some(timestamp()));
        }
    }
}

#[test]
fn append_without_time_matches() {
    // `sign-efi-sig-list -a` without `-t` writes an all-zero EFI_TIME, which
    // the service this one replaces relied on for appends.
    let scratch = Scratch::new().unwrap();
    let kek = Identity::new(&scratch, "KEK");
    let db = Identity::new(&scratch, "db");
    std::fs::write(
        scratch.path("db.esl"),
        x509_signature_list(&db.cert_der, Guid::ZERO).unwrap(),
    )
    .unwrap();

    let case = Case {
        variable: SecureBootVariable::Db,
        signer: "KEK",
        list: "db.esl",
    };
    check_auth(&scratch, &case, &kek, true, None);
}

/// Writes the signature lists that `CASES` name.
fn write_lists(scratch: &Scratch, identities: &[Identity; 4]) {
    let [pk, kek, db, db2] = identities;
    let list = |identity: &Identity| x509_signature_list(&identity.cert_der, Guid::ZERO).unwrap();
    std::fs::write(scratch.path("PK.esl"), list(pk)).unwrap();
    std::fs::write(scratch.path("KEK.esl"), list(kek)).unwrap();
    std::fs::write(scratch.path("db.esl"), list(db)).unwrap();
    let mut two = list(db);
    two.extend(list(db2));
    std::fs::write(scratch.path("two.esl"), two).unwrap();

    let hashes = [[0x11; 32], [0x22; 32], [0x33; 32]];
    let owner = HASH_TO_EFI_SIG_LIST_OWNER.parse().unwrap();
    std::fs::write(
        scratch.path("hashes.esl"),
        sha256_signature_list(&hashes, owner).unwrap(),
    )
    .unwrap();
}

/// Signs one case with our code and with `sign-efi-sig-list`, compares the
/// bytes, and verifies our PKCS #7 with `openssl cms -verify`. With no
/// `time`, the reference gets no `-t` and we sign with the zero time.
fn check_auth(scratch: &Scratch, case: &Case, signer: &Identity, append: bool, time: Option<EfiTime>) {
    let label = format!(
        "{} by {} with {} (append: {append})",
        case.variable, case.signer, case.list
    );
    let lists = read(scratch, case.list);
    let update = VariableUpdate {
        variable: case.variable,
        timestamp: time.unwrap_or(EfiTime::ZERO),
        append,
        signature_lists: &lists,
    };
    let ours = sign_variable(&update, &signer.cert_der, &signer.key).unwrap();

    let variable = case.variable.name();
    let mut args = Vec::new();
    if append {
        args.push("-a");
    }
    if time.is_some() {
        args.extend(["-t", TIMESTAMP_TEXT]);
    }
    let mut sign_args = args.clone();
    sign_args.extend([
        "-k",
        signer.key_arg(),
        "-c",
        signer.cert_arg(),
        variable,
        case.list,
        "ref.auth",
    ]);
    run_tool(scratch.root(), "sign-efi-sig-list", &sign_args).unwrap();
    assert!(
        ours == read(scratch, "ref.auth"),
        "{label}: differs from sign-efi-sig-list"
    );

    let mut output_args = args;
    output_args.extend(["-o", variable, case.list, "tbs.bin"]);
    run_tool(scratch.root(), "sign-efi-sig-list", &output_args).unwrap();
    assert_eq!(
        update.signed_bytes(),
        read(scratch, "tbs.bin"),
        "{label}: signed bytes differ"
    );

    verify_with_openssl(scratch, &ours, signer, &lists, &label);
}

/// Splits an authenticated variable as UEFI firmware does and verifies its
/// PKCS #7 over `tbs.bin` with `openssl cms -verify`.
fn verify_with_openssl(scratch: &Scratch, auth: &[u8], signer: &Identity, lists: &[u8], label: &str) {
    let dw_length = u32::from_le_bytes(auth[16..20].try_into().unwrap()) as usize;
    let signed_data = &auth[40..16 + dw_length];
    assert_eq!(&auth[16 + dw_length..], lists, "{label}: payload is not the list");

    std::fs::write(scratch.path("ci.der"), wrap_signed_data(signed_data)).unwrap();
    run_tool(
        scratch.root(),
        "openssl",
        &[
            "cms",
            "-verify",
            "-binary",
            "-inform",
            "DER",
            "-in",
            "ci.der",
            "-content",
            "tbs.bin",
            "-CAfile",
            signer.cert_arg(),
            "-purpose",
            "any",
            "-out",
            "/dev/null",
        ],
    )
    .unwrap_or_else(|error| panic!("{label}: {error}"));
}

/// Returns the shim binaries, or `None` after printing a message when
/// shim-unsigned is not installed.
fn shim_binaries() -> Option<[&'static str; 2]> {
    if SHIM_BINARIES.iter().all(|path| std::path::Path::new(path).exists()) {
        return Some(SHIM_BINARIES);
    }
    eprintln!(
        "SKIPPED: {SHIM_BINARIES:?} not found; install the Debian package shim-unsigned to hash real EFI binaries"
    );
    None
}
