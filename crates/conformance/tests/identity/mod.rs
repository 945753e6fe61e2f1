//! Signing identities for the conformance tests: an RSA key from
//! `balena_sign_crypto` and a self-signed certificate from
//! `balena_sign_formats::x509`, both also written to the scratch folder as
//! PEM for the reference tools.

#![allow(dead_code)]

use std::path::PathBuf;

use balena_sign_conformance::{run_tool, Scratch};
use balena_sign_crypto::{RsaKeySize, RsaPrivateKey};
use balena_sign_formats::x509::{parse_openssl_subject, self_signed_certificate, CertificateParams, SERIAL_LEN};
use balena_sign_formats::HashAlgorithm;

/// 2024-01-01T00:00:00Z, start of every test certificate's validity.
const NOT_BEFORE: u64 = 1_704_067_200;

/// 2044-01-01T00:00:00Z.
const NOT_AFTER: u64 = 2_335_219_200;

/// A key and its certificate, in memory and on disk.
pub struct Identity {
    pub key: RsaPrivateKey,
    pub cert_der: Vec<u8>,
    /// PKCS#8 PEM private key.
    pub key_path: PathBuf,
    /// PEM certificate.
    pub cert_path: PathBuf,
}

impl Identity {
    /// Creates `<name>.key` and `<name>.crt` with subject `/CN=<name>/`; the
    /// serial number is derived from the name so that it is fixed.
    pub fn new(scratch: &Scratch, name: &str) -> Self {
        let key_file = format!("{name}.key");
        let key = scratch.rsa_key(&key_file, RsaKeySize::Rsa2048).unwrap();

        let digest = HashAlgorithm::Sha256.digest(name.as_bytes());
        let params = CertificateParams {
            subject: parse_openssl_subject(&format!("/O=balena-sign tests/CN={name}/")).unwrap(),
            serial: digest[..SERIAL_LEN].try_into().unwrap(),
            not_before: NOT_BEFORE,
            not_after: NOT_AFTER,
        };
        let cert_der = self_signed_certificate(&params, &key).unwrap();

        let der_file = format!("{name}.der");
        let cert_file = format!("{name}.crt");
        std::fs::write(scratch.path(&der_file), &cert_der).unwrap();
        run_tool(
            scratch.root(),
            "openssl",
            &["x509", "-inform", "DER", "-in", &der_file, "-out", &cert_file],
        )
        .unwrap();

        Self {
            key,
            cert_der,
            key_path: scratch.path(&key_file),
            cert_path: scratch.path(&cert_file),
        }
    }

    pub fn key_arg(&self) -> &str {
        self.key_path.to_str().unwrap()
    }

    pub fn cert_arg(&self) -> &str {
        self.cert_path.to_str().unwrap()
    }
}

/// Returns the standard output of a tool run as text.
pub fn stdout_text(output: &std::process::Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}
