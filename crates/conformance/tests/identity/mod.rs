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

/// Wraps a bare DER `SignedData` in a `ContentInfo` of type `id-signedData`,
/// which `openssl cms -verify` needs.
pub fn wrap_signed_data(signed_data: &[u8]) -> Vec<u8> {
    const ID_SIGNED_DATA: [u8; 11] = [0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02];
    let mut explicit = vec![0xa0];
    explicit.extend(der_length(signed_data.len()));
    let inner_len = ID_SIGNED_DATA.len() + explicit.len() + signed_data.len();

    let mut out = vec![0x30];
    out.extend(der_length(inner_len));
    out.extend_from_slice(&ID_SIGNED_DATA);
    out.extend(explicit);
    out.extend_from_slice(signed_data);
    out
}

fn der_length(len: usize) -> Vec<u8> {
    match len {
        0..0x80 => vec![len as u8],
        0x80..0x100 => vec![0x81, len as u8],
        _ => {
            assert!(len < 0x10000);
            vec![0x82, (len >> 8) as u8, len as u8]
        }
    }
}
