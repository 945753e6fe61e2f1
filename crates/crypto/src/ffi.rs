//! The AWS-LC calls that `aws-lc-rs` does not wrap: loading a private key
//! into an `RSA` object and `RSA_sign_raw` with PKCS#1 v1.5 padding.

#![allow(unsafe_code)]

use std::ptr::NonNull;

use aws_lc_sys as sys;
use balena_sign_formats::SignerError;

use crate::KeyError;

/// PKCS#1 v1.5 block type 1 needs `00 01`, at least 8 bytes of `FF` and a
/// `00` around the data (RFC 8017 §9.2 step 3).
const PKCS1_PADDING_OVERHEAD: usize = 11;

/// An owned AWS-LC `RSA` object holding a private key.
pub(crate) struct RsaHandle {
    rsa: NonNull<sys::RSA>,
}

// SAFETY: AWS-LC documents `RSA` objects as safe to use from several threads
// at once for private-key operations; the blinding state they mutate is
// guarded by a lock inside the object. The handle never hands out the pointer.
unsafe impl Send for RsaHandle {}
// SAFETY: see `Send`; every method takes `&self` and only calls thread-safe
// AWS-LC functions.
unsafe impl Sync for RsaHandle {}

impl Drop for RsaHandle {
    fn drop(&mut self) {
        // SAFETY: `rsa` came from `EVP_PKEY_get1_RSA`, which took a reference
        // that this handle owns; `RSA_free` zeroes and frees the key.
        unsafe { sys::RSA_free(self.rsa.as_ptr()) }
    }
}

impl RsaHandle {
    /// Parses a DER PKCS#8 or PKCS#1 RSA private key and checks it.
    pub(crate) fn from_private_der(der: &[u8]) -> Result<Self, KeyError> {
        let len = std::os::raw::c_long::try_from(der.len()).map_err(|_| KeyError::Parse)?;
        let mut cursor = der.as_ptr();

        // SAFETY: `cursor` points at `len` readable bytes; AWS-LC reads at
        // most that many and returns NULL on malformed input.
        let pkey = unsafe { sys::d2i_AutoPrivateKey(std::ptr::null_mut(), &mut cursor, len) };
        let pkey = NonNull::new(pkey).ok_or(KeyError::Parse)?;

        // SAFETY: `pkey` is a valid EVP_PKEY; get1 returns a new reference to
        // its RSA key, or NULL when the key is not RSA.
        let rsa = unsafe { sys::EVP_PKEY_get1_RSA(pkey.as_ptr()) };
        // SAFETY: we own the EVP_PKEY reference and no longer need it; the RSA
        // object holds its own reference.
        unsafe { sys::EVP_PKEY_free(pkey.as_ptr()) };
        let handle = Self {
            rsa: NonNull::new(rsa).ok_or(KeyError::Parse)?,
        };

        // SAFETY: `handle.rsa` is a valid RSA object.
        if unsafe { sys::RSA_check_key(handle.rsa.as_ptr()) } != 1 {
            return Err(KeyError::Inconsistent);
        }
        Ok(handle)
    }

    /// Size of the modulus in bytes.
    pub(crate) fn modulus_len(&self) -> usize {
        // SAFETY: `rsa` is valid for the life of `self`.
        unsafe { sys::RSA_size(self.rsa.as_ptr()) as usize }
    }

    /// Returns the modulus and the public exponent, big-endian.
    pub(crate) fn public_components(&self) -> Result<(Vec<u8>, Vec<u8>), KeyError> {
        // SAFETY: `rsa` is valid; get0 returns borrowed pointers that live as
        // long as the RSA object, which outlives this call.
        let (n, e) = unsafe { (sys::RSA_get0_n(self.rsa.as_ptr()), sys::RSA_get0_e(self.rsa.as_ptr())) };
        if n.is_null() || e.is_null() {
            return Err(KeyError::Parse);
        }
        Ok((bignum_to_vec(n), bignum_to_vec(e)))
    }

    /// Computes an RSASSA-PKCS1-v1_5 signature block over `data` as it is,
    /// without adding a DigestInfo.
    pub(crate) fn sign_pkcs1(&self, data: &[u8]) -> Result<Vec<u8>, SignerError> {
        let modulus_len = self.modulus_len();
        if data.len() + PKCS1_PADDING_OVERHEAD > modulus_len {
            return Err(SignerError::InputTooLong {
                len: data.len(),
                modulus_len,
            });
        }

        let mut signature = vec![0u8; modulus_len];
        let mut written = 0usize;
        // SAFETY: `signature` has `modulus_len` writable bytes, which
        // RSA_sign_raw requires as `max_out`; `data` is readable for its length.
        let ok = unsafe {
            sys::RSA_sign_raw(
                self.rsa.as_ptr(),
                &mut written,
                signature.as_mut_ptr(),
                signature.len(),
                data.as_ptr(),
                data.len(),
                sys::RSA_PKCS1_PADDING,
            )
        };
        if ok != 1 || written != modulus_len {
            return Err(SignerError::Backend);
        }
        Ok(signature)
    }
}

/// Copies a BIGNUM out as big-endian bytes without leading zeros.
fn bignum_to_vec(bn: *const sys::BIGNUM) -> Vec<u8> {
    // SAFETY: callers pass a valid, non-null BIGNUM.
    let len = unsafe { sys::BN_num_bytes(bn) } as usize;
    let mut out = vec![0u8; len];
    // SAFETY: `out` has exactly BN_num_bytes(bn) writable bytes.
    unsafe { sys::BN_bn2bin(bn, out.as_mut_ptr()) };
    out
}
