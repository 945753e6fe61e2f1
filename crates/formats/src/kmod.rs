//! Linux kernel module signatures, as `scripts/sign-file sha512 key cert
//! module` (Linux 6.1) appends them and `mod_verify_sig()` checks them:
//!
//! ```text
//! module bytes ‖ PKCS #7 DER ‖ struct module_signature ‖ "~Module signature appended~\n"
//!
//! struct module_signature {
//!     u8     algo;        /* Public-key crypto algorithm [0] */
//!     u8     hash;        /* Digest algorithm [0] */
//!     u8     id_type;     /* Key identifier type [PKEY_ID_PKCS7] */
//!     u8     signer_len;  /* Length of signer's name [0] */
//!     u8     key_id_len;  /* Length of key identifier [0] */
//!     u8     __pad[3];
//!     __be32 sig_len;     /* Length of signature data */
//! };
//! ```
//!
//! The PKCS #7 is what OpenSSL's CMS API makes with `CMS_NOCERTS |
//! CMS_BINARY | CMS_DETACHED | CMS_NOSMIMECAP | CMS_NOATTR`: a `ContentInfo`
//! holding `SignedData` with SHA-512 (no `AlgorithmIdentifier` parameters),
//! detached `id-data` content, no certificates and no signed attributes, so
//! the RSA signature covers the SHA-512 of the module directly. Kernels up to
//! at least 6.1 reject module signatures that carry signed attributes. The
//! signer is named by issuer and serial number, which the kernel matches
//! against the certificates in its keyrings.

use cms::content_info::CmsVersion;
use cms::signed_data::{EncapsulatedContentInfo, SignedData, SignerInfos};
use der::asn1::SetOfVec;

use crate::pkcs7::{self, DigestParameters, Pkcs7Error, SignerCertificate};
use crate::signer::{HashAlgorithm, Signer};

/// The magic string that ends a signed module (`MODULE_SIG_STRING`).
pub const MODULE_SIG_STRING: &[u8; 28] = b"~Module signature appended~\n";

/// Size of `struct module_signature`.
pub const MODULE_SIGNATURE_LEN: usize = 0x0c;

/// `id_type` of a PKCS #7 signature (`PKEY_ID_PKCS7`).
pub const PKEY_ID_PKCS7: u8 = 0x02;

/// The ELF identification bytes `\x7fELF` (`ELFMAG`).
pub const ELFMAG: &[u8; 4] = b"\x7fELF";

/// Error from signing a module.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ModuleSignatureError {
    #[error("the module already ends with \"~Module signature appended~\"; send the unsigned module")]
    AlreadySigned,
    #[error("the payload does not start with the ELF magic \\x7fELF; send an uncompressed kernel module (.ko)")]
    NotElf,
    #[error("the module signature of {len} bytes does not fit the 32-bit sig_len")]
    SignatureTooLarge { len: usize },
    #[error(transparent)]
    Pkcs7(#[from] Pkcs7Error),
}

/// Returns whether `module` ends with the signature magic.
pub fn is_signed(module: &[u8]) -> bool {
    module.ends_with(MODULE_SIG_STRING)
}

/// Signs `module` with SHA-512 and `signer`, whose certificate is `cert_der`,
/// and returns the module with the signature appended.
///
/// Compressed modules must be signed before compression, so a payload that
/// is not ELF is rejected.
pub fn sign_module(module: &[u8], cert_der: &[u8], signer: &dyn Signer) -> Result<Vec<u8>, ModuleSignatureError> {
    if is_signed(module) {
        return Err(ModuleSignatureError::AlreadySigned);
    }
    if !module.starts_with(ELFMAG) {
        return Err(ModuleSignatureError::NotElf);
    }
    let certificate = SignerCertificate::new(cert_der, signer)?;

    let digest = HashAlgorithm::Sha512.digest(module);
    let signature = signer
        .sign_digest(HashAlgorithm::Sha512, &digest)
        .map_err(Pkcs7Error::from)?;
    let pkcs7 = content_info_der(&certificate, &signature)?;
    let sig_len =
        u32::try_from(pkcs7.len()).map_err(|_| ModuleSignatureError::SignatureTooLarge { len: pkcs7.len() })?;

    let mut out = Vec::with_capacity(module.len() + pkcs7.len() + MODULE_SIGNATURE_LEN + MODULE_SIG_STRING.len());
    out.extend_from_slice(module);
    out.extend_from_slice(&pkcs7);
    out.extend_from_slice(&module_signature(sig_len));
    out.extend_from_slice(MODULE_SIG_STRING);
    Ok(out)
}

/// `struct module_signature` for a PKCS #7 signature of `sig_len` bytes: the
/// algorithm, hash and key fields are zero because the PKCS #7 names them.
fn module_signature(sig_len: u32) -> [u8; MODULE_SIGNATURE_LEN] {
    let [len0, len1, len2, len3] = sig_len.to_be_bytes();
    [0, 0, PKEY_ID_PKCS7, 0, 0, 0, 0, 0, len0, len1, len2, len3]
}

/// Encodes the DER `ContentInfo` of the detached SHA-512 `SignedData`.
fn content_info_der(certificate: &SignerCertificate, signature: &[u8]) -> Result<Vec<u8>, Pkcs7Error> {
    let digest_algorithm = pkcs7::digest_algorithm(HashAlgorithm::Sha512, DigestParameters::Absent);
    let signer_info = pkcs7::signer_info(certificate, digest_algorithm.clone(), None, signature)?;

    let signed_data = SignedData {
        version: CmsVersion::V1,
        digest_algorithms: SetOfVec::try_from(vec![digest_algorithm])?,
        encap_content_info: EncapsulatedContentInfo {
            econtent_type: pkcs7::ID_DATA,
            econtent: None,
        },
        certificates: None,
        crls: None,
        signer_infos: SignerInfos::try_from(vec![signer_info])?,
    };
    pkcs7::content_info_der(&signed_data)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_support::FakeSigner;

    const MODULE: &[u8] = b"\x7fELF\x02\x01\x01\x00 a relocatable object";

    #[test]
    fn trailer_layout() {
        let signer = FakeSigner::new(0x33);
        let cert = signer.certificate("kmod test");
        let signed = sign_module(MODULE, &cert, &signer).unwrap();

        assert!(signed.starts_with(MODULE));
        assert!(signed.ends_with(MODULE_SIG_STRING));
        let trailer_start = signed.len() - 28 - 12;
        let trailer = &signed[trailer_start..trailer_start + 12];
        assert_eq!(&trailer[..8], &[0, 0, 2, 0, 0, 0, 0, 0]);
        let sig_len = u32::from_be_bytes(trailer[8..].try_into().unwrap()) as usize;
        assert_eq!(MODULE.len() + sig_len, trailer_start);

        // ContentInfo { id-signedData, [0] { SignedData version 1, { sha512 } } }
        let pkcs7 = &signed[MODULE.len()..trailer_start];
        let signed_data_oid = [0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02];
        assert!(pkcs7.windows(11).any(|window| window == signed_data_oid));
        let sha512_without_parameters = [
            0x30, 0x0b, 0x06, 0x09, 0x60, 0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02, 0x03,
        ];
        assert!(pkcs7.windows(13).any(|window| window == sha512_without_parameters));
    }

    #[test]
    fn rejects_signed_module() {
        let signer = FakeSigner::new(0x33);
        let cert = signer.certificate("kmod test");
        let signed = sign_module(MODULE, &cert, &signer).unwrap();
        assert!(matches!(
            sign_module(&signed, &cert, &signer).unwrap_err(),
            ModuleSignatureError::AlreadySigned
        ));
    }

    #[test]
    fn rejects_compressed_module() {
        let signer = FakeSigner::new(0x33);
        let cert = signer.certificate("kmod test");
        let xz = b"\xfd7zXZ\x00\x00\x04";
        assert!(matches!(
            sign_module(xz, &cert, &signer).unwrap_err(),
            ModuleSignatureError::NotElf
        ));
        assert!(matches!(
            sign_module(&[], &cert, &signer).unwrap_err(),
            ModuleSignatureError::NotElf
        ));
    }

    #[test]
    fn rejects_certificate_of_other_key() {
        let signer = FakeSigner::new(0x33);
        let cert = FakeSigner::new(0x44).certificate("other");
        assert!(matches!(
            sign_module(MODULE, &cert, &signer).unwrap_err(),
            ModuleSignatureError::Pkcs7(Pkcs7Error::KeyMismatch)
        ));
    }
}
