//! A throwaway NXP PKI tree built with our X.509 code, and the SPSDK and
//! OpenSSL runs that judge what is signed with it.

// Each test binary uses only some of these helpers.
#![allow(dead_code)]

use std::process::Command;

use balena_sign_conformance::spsdk;
use balena_sign_conformance::{run_tool, Scratch};
use balena_sign_crypto::{RsaKeySize, RsaPrivateKey};
use balena_sign_formats::hab::srk::SrkTable;
use balena_sign_formats::x509::{
    issued_certificate, parse_openssl_subject, self_signed_certificate, CertificateParams, IssuedProfile,
};
use balena_sign_formats::Signer;

/// Signing time of every CMS signature, Unix seconds.
pub const SIGNING_TIME: u64 = 1_700_000_000;

/// [`SIGNING_TIME`] in UTC, as `faketime` takes it.
pub const SIGNING_TIME_TEXT: &str = "2023-11-14 22:13:20";

/// Validity of every certificate: one day before the signing time, for ten
/// years, as Unix seconds and as `openssl ca -startdate/-enddate` text.
pub const NOT_BEFORE: u64 = 1_699_913_600;
pub const NOT_AFTER: u64 = 2_015_273_600;
const NOT_BEFORE_TEXT: &str = "231113221320Z";
const NOT_AFTER_TEXT: &str = "331110221320Z";

/// Returns the Python interpreter with SPSDK installed.
pub fn spsdk_python() -> String {
    spsdk::python()
}

/// One key of the tree with its certificate, written to `<name>.key`
/// (PKCS#8 PEM), `<name>.der` and `<name>.crt` (PEM after a text dump, as
/// `openssl ca` writes it).
pub struct Party {
    pub name: String,
    pub key: RsaPrivateKey,
    pub cert_der: Vec<u8>,
    subject: String,
    serial: [u8; 20],
}

impl Party {
    fn params(&self) -> CertificateParams {
        CertificateParams {
            subject: parse_openssl_subject(&self.subject).unwrap(),
            serial: self.serial,
            not_before: NOT_BEFORE,
            not_after: NOT_AFTER,
        }
    }
}

/// CA, SRK1..SRK4 (CA certificates) and, under SRK1, CSF1_1 and IMG1_1.
pub struct HabPki {
    scratch: Scratch,
    pub key_bits: u32,
    pub ca: Party,
    pub srks: Vec<Party>,
    pub csf: Party,
    pub img: Party,
}

impl HabPki {
    pub fn new(size: RsaKeySize) -> Self {
        let scratch = Scratch::new().unwrap();
        let bits = size.bits();
        let mut serial = 0x10;

        let ca = {
            let name = format!("CA1_sha256_{bits}_65537_v3_ca");
            let key = scratch.rsa_key(&format!("{name}.key"), size).unwrap();
            let subject = format!("/CN={name}");
            serial += 1;
            let serial = [serial; 20];
            let params = CertificateParams {
                subject: parse_openssl_subject(&subject).unwrap(),
                serial,
                not_before: NOT_BEFORE,
                not_after: NOT_AFTER,
            };
            let cert_der = self_signed_certificate(&params, &key).unwrap();
            write_certificate(&scratch, &name, &cert_der);
            Party {
                name,
                key,
                cert_der,
                subject,
                serial,
            }
        };

        let mut issue = |issuer: &Party, name: String, profile| {
            serial += 1;
            issue_party(&scratch, issuer, name, size, [serial; 20], profile)
        };
        let srks: Vec<Party> = (1..=4)
            .map(|i| {
                issue(
                    &ca,
                    format!("SRK{i}_sha256_{bits}_65537_v3_ca"),
                    IssuedProfile::CertificateAuthority,
                )
            })
            .collect();
        let csf = issue(
            &srks[0],
            format!("CSF1_1_sha256_{bits}_65537_v3_usr"),
            IssuedProfile::User,
        );
        let img = issue(
            &srks[0],
            format!("IMG1_1_sha256_{bits}_65537_v3_usr"),
            IssuedProfile::User,
        );

        Self {
            scratch,
            key_bits: bits,
            ca,
            srks,
            csf,
            img,
        }
    }

    pub fn path(&self, name: &str) -> std::path::PathBuf {
        self.scratch.path(name)
    }

    pub fn root(&self) -> &std::path::Path {
        self.scratch.root()
    }

    pub fn read(&self, name: &str) -> Vec<u8> {
        std::fs::read(self.path(name)).unwrap()
    }

    /// Our SRK table of SRK1..SRK4.
    pub fn srk_table(&self) -> Vec<u8> {
        let certificates: Vec<&[u8]> = self.srks.iter().map(|srk| srk.cert_der.as_slice()).collect();
        SrkTable::from_certificates(&certificates).unwrap().to_bytes()
    }

    /// SPSDK's SRK table and fuse hash for the certificates `<name>.crt`.
    pub fn spsdk_srk_table(&self, names: &[&str]) -> (Vec<u8>, Vec<u8>) {
        std::fs::write(self.path("srk_table.py"), spsdk::HAB_SRK_TABLE).unwrap();
        let mut args = vec!["srk_table.py".to_owned(), "spsdk_srk".to_owned()];
        args.extend(names.iter().map(|name| format!("{name}.crt")));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        run_tool(self.root(), &spsdk_python(), &args).unwrap();
        (self.read("spsdk_srk.table"), self.read("spsdk_srk.fuses"))
    }

    /// SPSDK's `SegCSF.parse` of a CSF file, one line per command.
    pub fn spsdk_parse_csf(&self, file: &str) -> String {
        std::fs::write(self.path("parse_csf.py"), spsdk::PARSE_CSF).unwrap();
        let output = run_tool(self.root(), &spsdk_python(), &["parse_csf.py", file]).unwrap();
        String::from_utf8(output.stdout).unwrap()
    }
}

fn issue_party(
    scratch: &Scratch,
    issuer: &Party,
    name: String,
    size: RsaKeySize,
    serial: [u8; 20],
    profile: IssuedProfile,
) -> Party {
    let key = scratch.rsa_key(&format!("{name}.key"), size).unwrap();
    let subject = format!("/CN={name}");
    let params = CertificateParams {
        subject: parse_openssl_subject(&subject).unwrap(),
        serial,
        not_before: NOT_BEFORE,
        not_after: NOT_AFTER,
    };
    let cert_der = issued_certificate(&params, &issuer.cert_der, &issuer.key, key.public_key_der(), profile).unwrap();
    write_certificate(scratch, &name, &cert_der);
    Party {
        name,
        key,
        cert_der,
        subject,
        serial,
    }
}

fn write_certificate(scratch: &Scratch, name: &str, der: &[u8]) {
    std::fs::write(scratch.path(&format!("{name}.der")), der).unwrap();
    run_tool(
        scratch.root(),
        "openssl",
        &[
            "x509",
            "-inform",
            "DER",
            "-in",
            &format!("{name}.der"),
            "-text",
            "-out",
            &format!("{name}.crt"),
        ],
    )
    .unwrap();
}

/// `openssl cms -sign` of `content` by `<signer>.key`/`<signer>.crt` with
/// the options CST uses, run with the clock frozen at [`SIGNING_TIME`].
pub fn faketime_openssl(pki: &HabPki, content: &[u8], signer: &str) -> Vec<u8> {
    std::fs::write(pki.path("to_sign.bin"), content).unwrap();
    let output = Command::new("faketime")
        .current_dir(pki.root())
        .env("TZ", "UTC")
        .args([
            "-f",
            SIGNING_TIME_TEXT,
            "openssl",
            "cms",
            "-sign",
            "-binary",
            "-nocerts",
            "-nosmimecap",
        ])
        .args([
            "-md",
            "sha256",
            "-signer",
            &format!("{signer}.crt"),
            "-inkey",
            &format!("{signer}.key"),
        ])
        .args(["-in", "to_sign.bin", "-outform", "DER", "-out", "reference.der"])
        .output()
        .expect("faketime is installed (Debian package faketime)");
    assert!(
        output.status.success(),
        "faketime openssl cms -sign failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    pki.read("reference.der")
}

/// Issues `subject`'s certificate again with `openssl ca` from `issuer`,
/// with the same serial, dates and extension section, and checks that the
/// DER is the same.
pub fn compare_with_openssl_ca(pki: &HabPki, issuer: &Party, subject: &Party, section: &str) {
    let dir = format!("ca-{}", subject.name);
    std::fs::create_dir_all(pki.path(&dir)).unwrap();
    std::fs::write(pki.path(&format!("{dir}/index.txt")), "").unwrap();
    let serial_hex = {
        let mut serial = subject.params().serial;
        serial[0] &= 0x7f;
        hex::encode_upper(serial)
    };
    std::fs::write(pki.path(&format!("{dir}/serial")), format!("{serial_hex}\n")).unwrap();
    std::fs::write(
        pki.path(&format!("{dir}/ca.cnf")),
        OPENSSL_CA_CONFIG.replace("@DIR@", &dir),
    )
    .unwrap();

    run_tool(
        pki.root(),
        "openssl",
        &[
            "req",
            "-new",
            "-key",
            &format!("{}.key", subject.name),
            "-subj",
            &subject.subject,
            "-out",
            &format!("{dir}/request.pem"),
        ],
    )
    .unwrap();
    run_tool(
        pki.root(),
        "openssl",
        &[
            "ca",
            "-batch",
            "-config",
            &format!("{dir}/ca.cnf"),
            "-extensions",
            section,
            "-cert",
            &format!("{}.crt", issuer.name),
            "-keyfile",
            &format!("{}.key", issuer.name),
            "-in",
            &format!("{dir}/request.pem"),
            "-out",
            &format!("{dir}/issued.pem"),
            "-startdate",
            NOT_BEFORE_TEXT,
            "-enddate",
            NOT_AFTER_TEXT,
            "-md",
            "sha256",
            "-notext",
            "-preserveDN",
        ],
    )
    .unwrap();
    run_tool(
        pki.root(),
        "openssl",
        &[
            "x509",
            "-in",
            &format!("{dir}/issued.pem"),
            "-outform",
            "DER",
            "-out",
            &format!("{dir}/issued.der"),
        ],
    )
    .unwrap();

    let reference = pki.read(&format!("{dir}/issued.der"));
    assert_eq!(
        hex::encode(&subject.cert_der),
        hex::encode(&reference),
        "{} differs from openssl ca -extensions {section}",
        subject.name
    );
}

/// An `openssl ca` configuration with the extension sections of CST's
/// `v3_ca.cnf` and `v3_usr.cnf`.
const OPENSSL_CA_CONFIG: &str = r#"
[ ca ]
default_ca = test_ca

[ test_ca ]
dir = @DIR@
database = $dir/index.txt
new_certs_dir = $dir
serial = $dir/serial
default_md = sha256
policy = policy_anything
unique_subject = no
email_in_dn = no
string_mask = utf8only

[ policy_anything ]
commonName = supplied

[ v3_ca ]
basicConstraints = critical,CA:TRUE
keyUsage = keyCertSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always,issuer:always

[ v3_usr ]
basicConstraints = CA:FALSE
keyUsage = nonRepudiation, digitalSignature, keyEncipherment
nsComment = "OpenSSL Generated Certificate"
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid,issuer
"#;
