//! A stand-in signer for unit tests of the packet layout. Conformance tests
//! check real signatures with gpg, gpgv and GRUB.

use crate::rsa_key::RsaPublicKey;
use crate::signer::{Signer, SignerError};

use super::key::PublicKey;

/// Creation time used by the tests: 2026-12-04T20:23:21Z.
pub(crate) const CREATED: u32 = 0x6b13_2139;

/// Returns `modulus_len` bytes that start with a zero byte, so that the MPI
/// writer must strip it, followed by the first bytes of the signed block.
pub(crate) struct FakeSigner {
    spki_der: Vec<u8>,
    modulus_len: usize,
}

impl FakeSigner {
    pub(crate) fn new(seed: u8) -> Self {
        let key = rsa_key(seed);
        Self {
            spki_der: key.to_spki_der().unwrap(),
            modulus_len: key.modulus.len(),
        }
    }

    pub(crate) fn public_key(&self) -> PublicKey {
        let key = RsaPublicKey::from_spki_der(&self.spki_der).unwrap();
        PublicKey::new_rsa(&key, CREATED).unwrap()
    }
}

impl Signer for FakeSigner {
    fn public_key_der(&self) -> &[u8] {
        &self.spki_der
    }

    fn modulus_len(&self) -> usize {
        self.modulus_len
    }

    fn sign_pkcs1_raw(&self, data: &[u8]) -> Result<Vec<u8>, SignerError> {
        let mut signature = vec![0x00, 0x01];
        signature.extend_from_slice(data);
        signature.resize(self.modulus_len, 0x5a);
        Ok(signature)
    }
}

/// Returns a 2048-bit RSA public key whose modulus bytes all equal `seed`.
pub(crate) fn rsa_key(seed: u8) -> RsaPublicKey {
    RsaPublicKey {
        modulus: vec![seed | 0x80; 256],
        public_exponent: vec![0x01, 0x00, 0x01],
    }
}
