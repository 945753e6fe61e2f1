//! Password-encrypted PKCS#8 private keys (`BEGIN ENCRYPTED PRIVATE KEY`,
//! RFC 5958 §3 with PBES2 from RFC 8018 §6.2), as NXP's PKI scripts store
//! them with `openssl pkcs8 -topk8 -v2 des3`.
//!
//! Reading accepts PBKDF2 with HMAC-SHA1 or HMAC-SHA256 and DES-EDE3-CBC,
//! AES-128-CBC or AES-256-CBC. Writing uses what OpenSSL 3 writes for
//! `-v2 des3`: PBKDF2-HMAC-SHA256 with a 16-byte salt and 2048 iterations,
//! and DES-EDE3-CBC.

// DES-EDE3 is deprecated in aws-lc-rs; NXP's PKI scripts still encrypt keys with it.
#![allow(deprecated)]

use std::num::NonZeroU32;

use aws_lc_rs::cipher::{
    DecryptionContext, EncryptionContext, PaddedBlockDecryptingKey, PaddedBlockEncryptingKey, UnboundCipherKey,
    AES_128, AES_256, DES_EDE3_FOR_LEGACY_USE_ONLY,
};
use aws_lc_rs::iv::FixedLength;
use aws_lc_rs::pbkdf2;
use const_oid::ObjectIdentifier;
use der::asn1::{AnyRef, OctetStringRef};
use der::{Decode, Encode, Sequence};

use crate::{KeyError, RsaPrivateKey};

const ID_PBES2: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.5.13");
const ID_PBKDF2: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.5.12");
const ID_HMAC_WITH_SHA1: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.2.7");
const ID_HMAC_WITH_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.2.9");
const DES_EDE3_CBC: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.3.7");
const AES_128_CBC: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.1.2");
const AES_256_CBC: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.16.840.1.101.3.4.1.42");

/// PBKDF2 iterations written; OpenSSL 3's `PKCS5_DEFAULT_ITER`.
const WRITE_ITERATIONS: u32 = 2048;
/// Salt length written; OpenSSL 3's `PKCS5_DEFAULT_PBE2_SALT_LEN`.
const WRITE_SALT_LEN: usize = 16;
/// Most PBKDF2 iterations accepted when reading, so a hostile file cannot
/// keep a thread busy for minutes.
const MAX_ITERATIONS: u32 = 10_000_000;

const DES_EDE3_KEY_LEN: usize = 24;
const DES_IV_LEN: usize = 8;
const AES_IV_LEN: usize = 16;

/// ```text
/// EncryptedPrivateKeyInfo ::= SEQUENCE {
///     encryptionAlgorithm  AlgorithmIdentifier,
///     encryptedData        OCTET STRING }
/// ```
#[derive(Sequence)]
struct EncryptedPrivateKeyInfo<'a> {
    encryption_algorithm: AlgorithmIdentifier<'a>,
    encrypted_data: OctetStringRef<'a>,
}

#[derive(Sequence)]
struct AlgorithmIdentifier<'a> {
    algorithm: ObjectIdentifier,
    parameters: Option<AnyRef<'a>>,
}

/// `PBES2-params ::= SEQUENCE { keyDerivationFunc, encryptionScheme }`
#[derive(Sequence)]
struct Pbes2Params<'a> {
    key_derivation_func: AlgorithmIdentifier<'a>,
    encryption_scheme: AlgorithmIdentifier<'a>,
}

/// ```text
/// PBKDF2-params ::= SEQUENCE {
///     salt            OCTET STRING,
///     iterationCount  INTEGER (1..MAX),
///     keyLength       INTEGER (1..MAX) OPTIONAL,
///     prf             AlgorithmIdentifier DEFAULT algid-hmacWithSHA1 }
/// ```
#[derive(Sequence)]
struct Pbkdf2Params<'a> {
    salt: OctetStringRef<'a>,
    iteration_count: u32,
    key_length: Option<u32>,
    prf: Option<AlgorithmIdentifier<'a>>,
}

/// Decrypts a PEM `ENCRYPTED PRIVATE KEY` with `password`.
pub fn decrypt_pem(pem: &str, password: &[u8]) -> Result<RsaPrivateKey, KeyError> {
    let (label, der) = pem_rfc7468::decode_vec(pem.trim().as_bytes()).map_err(|err| KeyError::Pem(err.to_string()))?;
    if label != "ENCRYPTED PRIVATE KEY" {
        return Err(KeyError::Pem(format!("expected ENCRYPTED PRIVATE KEY, found {label}")));
    }
    let pkcs8 = decrypt_der(&der, password)?;
    RsaPrivateKey::from_der(&pkcs8)
}

fn decrypt_der(der: &[u8], password: &[u8]) -> Result<Vec<u8>, KeyError> {
    let unsupported = |what: &str| KeyError::Encrypted(format!("unsupported {what}"));
    let info = EncryptedPrivateKeyInfo::from_der(der).map_err(|err| KeyError::Encrypted(err.to_string()))?;
    if info.encryption_algorithm.algorithm != ID_PBES2 {
        return Err(unsupported("encryption scheme; only PBES2 is read"));
    }
    let params: Pbes2Params<'_> = decode_parameters(&info.encryption_algorithm)?;
    if params.key_derivation_func.algorithm != ID_PBKDF2 {
        return Err(unsupported("key derivation; only PBKDF2 is read"));
    }
    let kdf: Pbkdf2Params<'_> = decode_parameters(&params.key_derivation_func)?;
    let prf = match kdf.prf.as_ref().map(|prf| prf.algorithm) {
        None | Some(ID_HMAC_WITH_SHA1) => pbkdf2::PBKDF2_HMAC_SHA1,
        Some(ID_HMAC_WITH_SHA256) => pbkdf2::PBKDF2_HMAC_SHA256,
        Some(_) => return Err(unsupported("PBKDF2 pseudo-random function")),
    };
    if kdf.iteration_count > MAX_ITERATIONS {
        return Err(KeyError::Encrypted(format!(
            "more than {MAX_ITERATIONS} PBKDF2 iterations"
        )));
    }
    let iterations = NonZeroU32::new(kdf.iteration_count).ok_or_else(|| unsupported("iteration count 0"))?;

    let iv_octets: OctetStringRef<'_> = decode_parameters(&params.encryption_scheme)?;
    let iv = iv_octets.as_bytes();
    let (algorithm, key_len) = match params.encryption_scheme.algorithm {
        DES_EDE3_CBC if iv.len() == DES_IV_LEN => (&DES_EDE3_FOR_LEGACY_USE_ONLY, DES_EDE3_KEY_LEN),
        AES_128_CBC if iv.len() == AES_IV_LEN => (&AES_128, 16),
        AES_256_CBC if iv.len() == AES_IV_LEN => (&AES_256, 32),
        _ => {
            return Err(unsupported(
                "cipher; DES-EDE3-CBC, AES-128-CBC and AES-256-CBC are read",
            ))
        }
    };

    let mut key = vec![0u8; key_len];
    pbkdf2::derive(prf, iterations, kdf.salt.as_bytes(), password, &mut key);
    let cipher_key =
        UnboundCipherKey::new(algorithm, &key).map_err(|_| KeyError::Encrypted("bad key length".into()))?;
    key.fill(0);

    let context = match iv.len() {
        DES_IV_LEN => {
            let iv: [u8; DES_IV_LEN] = iv.try_into().map_err(|_| unsupported("IV"))?;
            DecryptionContext::Iv64(FixedLength::from(iv))
        }
        _ => {
            let iv: [u8; AES_IV_LEN] = iv.try_into().map_err(|_| unsupported("IV"))?;
            DecryptionContext::Iv128(FixedLength::from(iv))
        }
    };
    let mut buffer = info.encrypted_data.as_bytes().to_vec();
    let len = PaddedBlockDecryptingKey::cbc_pkcs7(cipher_key)
        .and_then(|key| key.decrypt(&mut buffer, context).map(|plain| plain.len()))
        .map_err(|_| KeyError::Encrypted("wrong password or damaged key".into()))?;
    buffer.truncate(len);
    Ok(buffer)
}

fn decode_parameters<'a, T>(identifier: &AlgorithmIdentifier<'a>) -> Result<T, KeyError>
where
    T: der::Choice<'a> + der::DecodeValue<'a>,
{
    let parameters = identifier
        .parameters
        .ok_or_else(|| KeyError::Encrypted(format!("{} has no parameters", identifier.algorithm)))?;
    parameters
        .decode_as()
        .map_err(|err| KeyError::Encrypted(err.to_string()))
}

/// Encrypts a PKCS#8 PEM (`BEGIN PRIVATE KEY`) under `password` and returns
/// `BEGIN ENCRYPTED PRIVATE KEY` PEM.
pub fn encrypt_pem(pkcs8_pem: &str, password: &[u8]) -> Result<String, KeyError> {
    let (label, pkcs8) =
        pem_rfc7468::decode_vec(pkcs8_pem.trim().as_bytes()).map_err(|err| KeyError::Pem(err.to_string()))?;
    if label != "PRIVATE KEY" {
        return Err(KeyError::Pem(format!("expected PRIVATE KEY, found {label}")));
    }

    let mut salt = [0u8; WRITE_SALT_LEN];
    let mut iv = [0u8; DES_IV_LEN];
    getrandom::fill(&mut salt).map_err(|_| KeyError::Generate)?;
    getrandom::fill(&mut iv).map_err(|_| KeyError::Generate)?;

    let mut key = [0u8; DES_EDE3_KEY_LEN];
    let iterations = NonZeroU32::new(WRITE_ITERATIONS).unwrap_or(NonZeroU32::MIN);
    pbkdf2::derive(pbkdf2::PBKDF2_HMAC_SHA256, iterations, &salt, password, &mut key);
    let cipher_key = UnboundCipherKey::new(&DES_EDE3_FOR_LEGACY_USE_ONLY, &key).map_err(|_| KeyError::Generate)?;
    key.fill(0);

    let mut encrypted = pkcs8;
    PaddedBlockEncryptingKey::cbc_pkcs7(cipher_key)
        .and_then(|key| key.less_safe_encrypt(&mut encrypted, EncryptionContext::Iv64(FixedLength::from(iv))))
        .map_err(|_| KeyError::Generate)?;

    let encode = |err: der::Error| KeyError::Encrypted(err.to_string());
    let prf = AlgorithmIdentifier {
        algorithm: ID_HMAC_WITH_SHA256,
        parameters: Some(AnyRef::NULL),
    }
    .to_der()
    .map_err(encode)?;
    let kdf_params = Pbkdf2Params {
        salt: OctetStringRef::new(&salt).map_err(encode)?,
        iteration_count: WRITE_ITERATIONS,
        key_length: None,
        prf: Some(AlgorithmIdentifier::from_der(&prf).map_err(encode)?),
    }
    .to_der()
    .map_err(encode)?;
    let iv_der = OctetStringRef::new(&iv).map_err(encode)?.to_der().map_err(encode)?;
    let pbes2 = Pbes2Params {
        key_derivation_func: AlgorithmIdentifier {
            algorithm: ID_PBKDF2,
            parameters: Some(AnyRef::from_der(&kdf_params).map_err(encode)?),
        },
        encryption_scheme: AlgorithmIdentifier {
            algorithm: DES_EDE3_CBC,
            parameters: Some(AnyRef::from_der(&iv_der).map_err(encode)?),
        },
    }
    .to_der()
    .map_err(encode)?;
    let info = EncryptedPrivateKeyInfo {
        encryption_algorithm: AlgorithmIdentifier {
            algorithm: ID_PBES2,
            parameters: Some(AnyRef::from_der(&pbes2).map_err(encode)?),
        },
        encrypted_data: OctetStringRef::new(&encrypted).map_err(encode)?,
    }
    .to_der()
    .map_err(encode)?;

    pem_rfc7468::encode_string("ENCRYPTED PRIVATE KEY", pem_rfc7468::LineEnding::LF, &info)
        .map_err(|err| KeyError::Pem(err.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::RsaKeySize;

    #[test]
    fn round_trip() {
        let (key, pem) = RsaPrivateKey::generate(RsaKeySize::Rsa2048).unwrap();
        let encrypted = encrypt_pem(&pem, b"secret").unwrap();
        assert!(encrypted.starts_with("-----BEGIN ENCRYPTED PRIVATE KEY-----"));
        let decrypted = decrypt_pem(&encrypted, b"secret").unwrap();
        assert_eq!(decrypted.public_key(), key.public_key());
        assert!(matches!(
            decrypt_pem(&encrypted, b"wrong"),
            Err(KeyError::Encrypted(_)) | Err(KeyError::Parse)
        ));
    }

    /// Runs openssl with `input` on standard input and returns its output.
    fn openssl(args: &[&str], input: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let mut child = std::process::Command::new("openssl")
            .args(args)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        child.stdin.take().unwrap().write_all(input).unwrap();
        let output = child.wait_with_output().unwrap();
        assert!(output.status.success(), "openssl {args:?} failed");
        output.stdout
    }

    #[test]
    fn openssl_reads_ours() {
        let (key, pem) = RsaPrivateKey::generate(RsaKeySize::Rsa2048).unwrap();
        let encrypted = encrypt_pem(&pem, b"pass phrase").unwrap();
        let public = openssl(
            &["pkey", "-passin", "pass:pass phrase", "-pubout"],
            encrypted.as_bytes(),
        );
        assert_eq!(String::from_utf8(public).unwrap(), key.public_key_pem().unwrap());
    }

    #[test]
    fn reads_openssl_v2_des3() {
        let (key, pem) = RsaPrivateKey::generate(RsaKeySize::Rsa2048).unwrap();
        for cipher in ["des3", "aes-256-cbc"] {
            let encrypted = openssl(
                &["pkcs8", "-topk8", "-v2", cipher, "-passout", "pass:pw"],
                pem.as_bytes(),
            );
            let decrypted = decrypt_pem(std::str::from_utf8(&encrypted).unwrap(), b"pw").unwrap();
            assert_eq!(decrypted.public_key(), key.public_key(), "{cipher}");
        }
    }
}
