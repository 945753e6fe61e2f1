//! GnuPG as a judge: throwaway home folders, and importing one of our RSA
//! keys into gpg as an unprotected secret key.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use balena_sign_formats::openpgp::{PacketReader, PublicKey, TransferablePublicKey};
use der::asn1::{AnyRef, OctetStringRef, UintRef};
use der::{Decode, Sequence};

use crate::{run_tool, Scratch};

/// Old-format CTB of a secret-key packet (tag 5) with a two-octet length.
const SECRET_KEY_CTB: u8 = 0x95;
/// Secret-key packet string-to-key usage 0: the secret MPIs are not encrypted.
const S2K_USAGE_UNPROTECTED: u8 = 0x00;

/// A GnuPG home folder whose agent is stopped on drop.
pub struct GnupgHome {
    pub path: PathBuf,
}

impl GnupgHome {
    /// Creates the home folder `name` (mode 0700) in `scratch`.
    pub fn new(scratch: &Scratch, name: &str) -> Self {
        let path = scratch.path(name);
        fs::create_dir(&path).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o700)).unwrap();
        Self { path }
    }

    /// Runs gpg on this home in batch mode, with no terminal and an empty
    /// passphrase for unprotected keys.
    pub fn gpg(&self, dir: &Path, args: &[&str]) -> Output {
        let home = self.path.to_str().unwrap();
        let mut all = vec![
            "--homedir",
            home,
            "--batch",
            "--no-tty",
            "--pinentry-mode",
            "loopback",
            "--passphrase",
            "",
        ];
        all.extend_from_slice(args);
        run_tool(dir, "gpg", &all).unwrap()
    }

    /// Lines of `gpg --with-colons` output that start with `record`, split
    /// into fields.
    pub fn colon_records(&self, dir: &Path, args: &[&str], record: &str) -> Vec<Vec<String>> {
        let mut all = vec!["--with-colons"];
        all.extend_from_slice(args);
        let output = self.gpg(dir, &all);
        String::from_utf8(output.stdout)
            .unwrap()
            .lines()
            .filter(|line| line.starts_with(&format!("{record}:")))
            .map(|line| line.split(':').map(str::to_owned).collect())
            .collect()
    }
}

impl Drop for GnupgHome {
    fn drop(&mut self) {
        let _ = Command::new("gpgconf")
            .arg("--homedir")
            .arg(&self.path)
            .args(["--kill", "all"])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
    }
}

/// ```text
/// PrivateKeyInfo ::= SEQUENCE {
///     version                   Version,
///     privateKeyAlgorithm       AlgorithmIdentifier,
///     privateKey                OCTET STRING }
/// ```
#[derive(Sequence)]
struct PrivateKeyInfo<'a> {
    version: u8,
    private_key_algorithm: AnyRef<'a>,
    private_key: OctetStringRef<'a>,
}

/// `RSAPrivateKey` of RFC 8017 Appendix A.1.2 (two primes).
#[derive(Sequence)]
struct RsaPrivateKeyDer<'a> {
    version: u8,
    modulus: UintRef<'a>,
    public_exponent: UintRef<'a>,
    private_exponent: UintRef<'a>,
    prime1: UintRef<'a>,
    prime2: UintRef<'a>,
    exponent1: UintRef<'a>,
    exponent2: UintRef<'a>,
    coefficient: UintRef<'a>,
}

/// Encodes a big-endian value as an MPI (RFC 4880 §3.2).
fn mpi(value: &[u8]) -> Vec<u8> {
    let start = value.iter().position(|&byte| byte != 0).unwrap_or(value.len());
    let value = &value[start..];
    let bits = match value.first() {
        Some(top) => value.len() * 8 - top.leading_zeros() as usize,
        None => 0,
    };
    let mut out = u16::try_from(bits).unwrap().to_be_bytes().to_vec();
    out.extend_from_slice(value);
    out
}

/// Builds a version 4 secret-key packet (RFC 4880 §5.5.3) from a PKCS#8 PEM
/// file: the public key body, S2K usage 0, then d, p, q, u and a checksum.
///
/// OpenPGP wants p < q and u = p^-1 mod q. AWS-LC keeps p > q with
/// coefficient = q^-1 mod p, so the primes swap and the coefficient is u.
pub fn secret_key_packet(pem_path: &Path, public_key: &PublicKey) -> Vec<u8> {
    let pem = fs::read(pem_path).unwrap();
    let (label, pkcs8) = der::pem::decode_vec(&pem).unwrap();
    assert_eq!(label, "PRIVATE KEY");
    let info = PrivateKeyInfo::from_der(&pkcs8).unwrap();
    assert_eq!(info.version, 0);
    let rsa = RsaPrivateKeyDer::from_der(info.private_key.as_bytes()).unwrap();
    assert_eq!(rsa.modulus.as_bytes(), public_key.rsa().unwrap().modulus);

    let (p, q) = (rsa.prime2.as_bytes(), rsa.prime1.as_bytes());
    assert!(
        p.len() < q.len() || (p.len() == q.len() && p < q),
        "expected AWS-LC to order p > q"
    );
    let mut secret = Vec::new();
    for value in [rsa.private_exponent.as_bytes(), p, q, rsa.coefficient.as_bytes()] {
        secret.extend_from_slice(&mpi(value));
    }
    let checksum = secret.iter().fold(0u16, |sum, &byte| sum.wrapping_add(u16::from(byte)));

    let mut body = public_key.body().to_vec();
    body.push(S2K_USAGE_UNPROTECTED);
    body.extend_from_slice(&secret);
    body.extend_from_slice(&checksum.to_be_bytes());

    let mut packet = vec![SECRET_KEY_CTB];
    packet.extend_from_slice(&u16::try_from(body.len()).unwrap().to_be_bytes());
    packet.extend_from_slice(&body);
    packet
}

/// Returns `transferable` with its public-key packet replaced by the
/// unprotected secret-key packet made from the PKCS#8 PEM file `pem_path`,
/// which `gpg --import` takes into its agent.
pub fn secret_key_export(pem_path: &Path, transferable: &TransferablePublicKey) -> Vec<u8> {
    let mut out = secret_key_packet(pem_path, transferable.primary_key());
    let public = transferable.to_bytes();
    let second_packet = PacketReader::new(&public).nth(1).unwrap().unwrap().offset;
    out.extend_from_slice(&public[second_packet..]);
    out
}
