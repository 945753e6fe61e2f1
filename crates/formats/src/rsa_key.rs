//! RSA public keys: `RSAPublicKey` (RFC 8017 Appendix A.1.1) inside a
//! `SubjectPublicKeyInfo` (RFC 5280 §4.1.2.7).

use der::asn1::{BitString, Null, UintRef};
use der::{Decode, Encode, Sequence};
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned};

/// `rsaEncryption`, RFC 8017 Appendix A.1.
pub const RSA_ENCRYPTION: const_oid::ObjectIdentifier = const_oid::db::rfc5912::RSA_ENCRYPTION;

/// ```text
/// RSAPublicKey ::= SEQUENCE {
///     modulus           INTEGER,  -- n
///     publicExponent    INTEGER   -- e
/// }
/// ```
#[derive(Clone, Debug, Eq, PartialEq, Sequence)]
struct RsaPublicKeyDer<'a> {
    modulus: UintRef<'a>,
    public_exponent: UintRef<'a>,
}

/// The two integers of an RSA public key, big-endian without leading zeros.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RsaPublicKey {
    pub modulus: Vec<u8>,
    pub public_exponent: Vec<u8>,
}

/// Error reading or writing a public key.
#[derive(Debug, thiserror::Error)]
#[error("invalid RSA public key: {0}")]
pub struct RsaKeyError(String);

impl RsaPublicKey {
    /// Reads the key from DER `SubjectPublicKeyInfo`.
    pub fn from_spki_der(spki_der: &[u8]) -> Result<Self, RsaKeyError> {
        let spki = SubjectPublicKeyInfoOwned::from_der(spki_der).map_err(|err| RsaKeyError(err.to_string()))?;
        if spki.algorithm.oid != RSA_ENCRYPTION {
            return Err(RsaKeyError(format!(
                "algorithm {} is not rsaEncryption",
                spki.algorithm.oid
            )));
        }
        let bits = spki
            .subject_public_key
            .as_bytes()
            .ok_or_else(|| RsaKeyError("the key BIT STRING has unused bits".into()))?;
        Self::from_pkcs1_der(bits)
    }

    /// Reads the key from DER `RSAPublicKey`.
    pub fn from_pkcs1_der(der: &[u8]) -> Result<Self, RsaKeyError> {
        let key = RsaPublicKeyDer::from_der(der).map_err(|err| RsaKeyError(err.to_string()))?;
        Ok(Self {
            modulus: key.modulus.as_bytes().to_vec(),
            public_exponent: key.public_exponent.as_bytes().to_vec(),
        })
    }

    /// Encodes the key as DER `RSAPublicKey`.
    pub fn to_pkcs1_der(&self) -> Result<Vec<u8>, RsaKeyError> {
        let key = RsaPublicKeyDer {
            modulus: UintRef::new(&self.modulus).map_err(|err| RsaKeyError(err.to_string()))?,
            public_exponent: UintRef::new(&self.public_exponent).map_err(|err| RsaKeyError(err.to_string()))?,
        };
        key.to_der().map_err(|err| RsaKeyError(err.to_string()))
    }

    /// Encodes the key as DER `SubjectPublicKeyInfo` with rsaEncryption and
    /// NULL parameters, as OpenSSL writes it.
    pub fn to_spki_der(&self) -> Result<Vec<u8>, RsaKeyError> {
        let spki = SubjectPublicKeyInfoOwned {
            algorithm: AlgorithmIdentifierOwned {
                oid: RSA_ENCRYPTION,
                parameters: Some(Null.into()),
            },
            subject_public_key: BitString::from_bytes(&self.to_pkcs1_der()?)
                .map_err(|err| RsaKeyError(err.to_string()))?,
        };
        spki.to_der().map_err(|err| RsaKeyError(err.to_string()))
    }

    /// Modulus size in bits.
    pub fn modulus_bits(&self) -> usize {
        match self.modulus.first() {
            Some(&top) => self.modulus.len() * 8 - top.leading_zeros() as usize,
            None => 0,
        }
    }
}
