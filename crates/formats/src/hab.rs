//! NXP High Assurance Boot version 4 (HAB4), the boot ROM authentication of
//! i.MX6, i.MX7, i.MX8M and i.MX RT parts.
//!
//! The structures follow the HAB4 API reference (`hab_types.h`, `hab_cmd.h`)
//! and what NXP's Code Signing Tool (CST) builds from them. Every HAB
//! structure is big-endian and starts with the same 4-byte header: a tag, a
//! 16-bit length that includes the header, and a parameter byte that is a
//! version, flags or an engine depending on the tag.

pub mod cms_signature;
pub mod csf;
pub mod csf_text;
pub mod srk;

/// Size of the common HAB header: tag, 16-bit length, parameter.
pub const HEADER_LEN: usize = 4;

/// `HAB_VERSION` 4.0, the version byte of an SRK table.
pub const HAB_VERSION_4_0: u8 = 0x40;

/// Encodes the common header of a HAB structure of `len` bytes.
fn header(tag: u8, len: u16, parameter: u8) -> [u8; HEADER_LEN] {
    let [high, low] = len.to_be_bytes();
    [tag, high, low, parameter]
}

/// A certificate from a PKI tree file, parsed and as DER.
pub(crate) struct LoadedCertificate {
    pub certificate: x509_cert::Certificate,
    pub der: Vec<u8>,
}

/// PEM boundary of a certificate.
const PEM_BEGIN_CERTIFICATE: &str = "-----BEGIN CERTIFICATE-----";
const PEM_END_CERTIFICATE: &str = "-----END CERTIFICATE-----";

/// Reads a certificate given as DER or PEM. PEM files may start with the
/// text dump that `openssl ca` writes before the certificate, as the
/// certificates of `hab4_pki_tree.sh` do, so only the first
/// `BEGIN CERTIFICATE` block is read.
pub(crate) fn load_certificate(bytes: &[u8]) -> Result<LoadedCertificate, der::Error> {
    use der::Decode;

    const DER_SEQUENCE_TAG: u8 = 0x30;
    let der = if bytes.first() == Some(&DER_SEQUENCE_TAG) {
        bytes.to_vec()
    } else {
        let text = std::str::from_utf8(bytes).map_err(|_| der::Error::from(der::ErrorKind::Failed))?;
        let start = text
            .find(PEM_BEGIN_CERTIFICATE)
            .ok_or(der::Error::from(der::ErrorKind::Failed))?;
        let end = text
            .get(start..)
            .and_then(|block| block.find(PEM_END_CERTIFICATE))
            .map(|end| start + end + PEM_END_CERTIFICATE.len())
            .ok_or(der::Error::from(der::ErrorKind::Failed))?;
        let block = text.get(start..end).unwrap_or_default();
        let (_, der) = der::pem::decode_vec(block.as_bytes()).map_err(der::Error::from)?;
        der
    };

    let certificate = x509_cert::Certificate::from_der(&der)?;
    Ok(LoadedCertificate { certificate, der })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_is_big_endian() {
        assert_eq!(header(0xd4, 0x1234, 0x43), [0xd4, 0x12, 0x34, 0x43]);
    }

    #[test]
    fn rejects_non_certificate() {
        assert!(load_certificate(b"").is_err());
        assert!(load_certificate(b"Certificate:\n no PEM here\n").is_err());
        assert!(load_certificate(b"-----BEGIN CERTIFICATE-----\nAAAA\n").is_err());
        assert!(load_certificate(&[0x30, 0x03, 0x02, 0x01, 0x00]).is_err());
    }
}
