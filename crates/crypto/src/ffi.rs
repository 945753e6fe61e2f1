//! The AWS-LC calls that `aws-lc-rs` does not wrap: loading a private key
//! into an `RSA` object, building one from its integers, reading them back,
//! and `RSA_sign_raw` with PKCS#1 v1.5 padding.

#![allow(unsafe_code)]

use std::ptr::NonNull;

use aws_lc_sys as sys;
use balena_sign_formats::gnupg::RsaPrivateComponents;
use balena_sign_formats::SignerError;
use zeroize::Zeroizing;

use crate::KeyError;

/// PKCS#1 v1.5 block type 1 needs `00 01`, at least 8 bytes of `FF` and a
/// `00` around the data (RFC 8017 §9.2 step 3).
const PKCS1_PADDING_OVERHEAD: usize = 11;

/// An owned AWS-LC `RSA` object holding a private key.
pub(crate) struct RsaHandle {
    rsa: NonNull<sys::RSA>,
}

// SAFETY: AWS-LC documents `RSA` objects as safe to use from several threads
// at once for private-key operations, because a lock inside the object guards
// the blinding state they change. The handle never hands out the pointer.
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

/// The integers of a private key in AWS-LC's convention, where the CRT
/// coefficient iqmp is q^-1 mod p.
pub(crate) struct PrimeFactors<'a> {
    pub(crate) n: &'a [u8],
    pub(crate) e: &'a [u8],
    pub(crate) d: &'a [u8],
    /// The larger prime.
    pub(crate) p: &'a [u8],
    /// The smaller prime.
    pub(crate) q: &'a [u8],
}

impl RsaHandle {
    /// Builds a key from n, e, d and the primes, computing the CRT values
    /// d mod (p - 1), d mod (q - 1) and iqmp = q^-1 mod p in AWS-LC with
    /// constant-time arithmetic, then checks the key with `RSA_check_key`.
    /// Returns the key and its iqmp.
    pub(crate) fn from_factors(factors: &PrimeFactors<'_>) -> Result<(Self, Bignum), KeyError> {
        let n = Bignum::from_be_bytes(factors.n)?;
        let e = Bignum::from_be_bytes(factors.e)?;
        let d = Bignum::from_be_bytes(factors.d)?;
        let p = Bignum::from_be_bytes(factors.p)?;
        let q = Bignum::from_be_bytes(factors.q)?;
        let ctx = BnCtx::new()?;

        let dmp1 = reduce_consttime(factors.d, &p.minus_word(1)?)?;
        let dmq1 = reduce_consttime(factors.d, &q.minus_word(1)?)?;
        let iqmp = inverse_mod_prime(&q, &p, &ctx)?;

        // SAFETY: every pointer is a valid BIGNUM owned above. AWS-LC copies
        // the values into the new RSA object and returns NULL when they do
        // not form a valid key.
        let rsa = unsafe {
            sys::RSA_new_private_key(
                n.as_ptr(),
                e.as_ptr(),
                d.as_ptr(),
                p.as_ptr(),
                q.as_ptr(),
                dmp1.as_ptr(),
                dmq1.as_ptr(),
                iqmp.as_ptr(),
            )
        };
        let handle = Self {
            rsa: NonNull::new(rsa).ok_or(KeyError::Inconsistent)?,
        };

        // SAFETY: `handle.rsa` is a valid RSA object.
        if unsafe { sys::RSA_check_key(handle.rsa.as_ptr()) } != 1 {
            return Err(KeyError::Inconsistent);
        }
        Ok((handle, iqmp))
    }

    /// Returns n, e, d, p, q and u in the OpenPGP convention, p < q and
    /// u = p^-1 mod q. AWS-LC's own keys have p > q, so their iqmp is u
    /// with the primes swapped; for keys with p < q, u is computed.
    pub(crate) fn private_components(&self) -> Result<RsaPrivateComponents, KeyError> {
        let mut n = std::ptr::null();
        let mut e = std::ptr::null();
        let mut d = std::ptr::null();
        let mut p = std::ptr::null();
        let mut q = std::ptr::null();
        let mut dmp1 = std::ptr::null();
        let mut dmq1 = std::ptr::null();
        let mut iqmp = std::ptr::null();
        // SAFETY: `rsa` is valid; the get0 functions store borrowed pointers,
        // or NULL for missing values, that live as long as the RSA object.
        unsafe {
            sys::RSA_get0_key(self.rsa.as_ptr(), &mut n, &mut e, &mut d);
            sys::RSA_get0_factors(self.rsa.as_ptr(), &mut p, &mut q);
            sys::RSA_get0_crt_params(self.rsa.as_ptr(), &mut dmp1, &mut dmq1, &mut iqmp);
        }
        if [n, e, d, p, q, iqmp].iter().any(|value| value.is_null()) {
            return Err(KeyError::MissingComponents);
        }

        // SAFETY: `p` and `q` are valid BIGNUMs (checked non-null above).
        let p_is_larger = unsafe { sys::BN_cmp(p, q) } > 0;
        let (smaller, larger) = if p_is_larger { (q, p) } else { (p, q) };
        let u = if p_is_larger {
            bignum_to_vec(iqmp)
        } else {
            let ctx = BnCtx::new()?;
            let inverse = inverse_mod_prime(&Bignum::copy_of(smaller)?, &Bignum::copy_of(larger)?, &ctx)?;
            bignum_to_vec(inverse.as_ptr())
        };
        Ok(RsaPrivateComponents {
            n: bignum_to_vec(n),
            e: bignum_to_vec(e),
            d: bignum_to_vec(d),
            p: bignum_to_vec(smaller),
            q: bignum_to_vec(larger),
            u,
        })
    }

    /// Encodes the key as DER PKCS#8 `PrivateKeyInfo`, the encoding
    /// `aws-lc-rs` gives generated keys.
    pub(crate) fn to_pkcs8_der(&self) -> Result<Zeroizing<Vec<u8>>, KeyError> {
        // SAFETY: EVP_PKEY_new returns a new, empty key or NULL.
        let pkey = NonNull::new(unsafe { sys::EVP_PKEY_new() }).ok_or(KeyError::Backend {
            operation: "allocate an EVP_PKEY",
        })?;
        let pkey = EvpPkey(pkey);
        // SAFETY: both objects are valid; set1 takes its own reference to the
        // RSA object, released when `pkey` is freed.
        if unsafe { sys::EVP_PKEY_set1_RSA(pkey.0.as_ptr(), self.rsa.as_ptr()) } != 1 {
            return Err(KeyError::Backend {
                operation: "wrap the RSA key in an EVP_PKEY",
            });
        }

        let mut cbb = std::mem::MaybeUninit::<sys::CBB>::uninit();
        // SAFETY: CBB_zero initialises the whole CBB, after which CBB_init
        // may allocate its buffer and CBB_cleanup is safe to call.
        unsafe { sys::CBB_zero(cbb.as_mut_ptr()) };
        let mut data = std::ptr::null_mut();
        let mut len = 0usize;
        // SAFETY: `cbb` is initialised and `pkey` is valid. On success
        // CBB_finish hands the buffer to us; on failure CBB_cleanup frees it.
        let ok = unsafe {
            let ok = sys::CBB_init(cbb.as_mut_ptr(), 0) == 1
                && sys::EVP_marshal_private_key(cbb.as_mut_ptr(), pkey.0.as_ptr()) == 1
                && sys::CBB_finish(cbb.as_mut_ptr(), &mut data, &mut len) == 1;
            if !ok {
                sys::CBB_cleanup(cbb.as_mut_ptr());
            }
            ok
        };
        if !ok || data.is_null() {
            return Err(KeyError::Backend {
                operation: "encode the private key as PKCS#8",
            });
        }

        // SAFETY: CBB_finish returned `len` initialised bytes at `data`.
        let der = Zeroizing::new(unsafe { std::slice::from_raw_parts(data, len) }.to_vec());
        // SAFETY: `data` came from CBB_finish; OPENSSL_free zeroes the
        // allocation before freeing it.
        unsafe { sys::OPENSSL_free(data.cast()) };
        Ok(der)
    }
}

/// An owned EVP_PKEY, freed on drop.
struct EvpPkey(NonNull<sys::EVP_PKEY>);

impl Drop for EvpPkey {
    fn drop(&mut self) {
        // SAFETY: the pointer came from EVP_PKEY_new and is owned here.
        unsafe { sys::EVP_PKEY_free(self.0.as_ptr()) }
    }
}

/// An owned BIGNUM, zeroed and freed on drop since it may hold a secret.
pub(crate) struct Bignum(NonNull<sys::BIGNUM>);

impl Drop for Bignum {
    fn drop(&mut self) {
        // SAFETY: the pointer came from BN_new or BN_bin2bn and is owned here.
        unsafe { sys::BN_clear_free(self.0.as_ptr()) }
    }
}

impl Bignum {
    fn new() -> Result<Self, KeyError> {
        // SAFETY: BN_new returns a new zero BIGNUM or NULL.
        NonNull::new(unsafe { sys::BN_new() })
            .map(Self)
            .ok_or(KeyError::Backend {
                operation: "allocate a BIGNUM",
            })
    }

    /// Reads an unsigned big-endian integer. The BIGNUM gets one word per 8
    /// input bytes, whatever their values, so leading zero bytes change
    /// nothing in the arithmetic but its width.
    fn from_be_bytes(bytes: &[u8]) -> Result<Self, KeyError> {
        let bignum = Self::new()?;
        // SAFETY: `bytes` is readable for its length and `bignum` is a valid
        // BIGNUM that BN_bin2bn overwrites.
        let result = unsafe { sys::BN_bin2bn(bytes.as_ptr(), bytes.len(), bignum.0.as_ptr()) };
        if result.is_null() {
            return Err(KeyError::Backend {
                operation: "read an integer",
            });
        }
        Ok(bignum)
    }

    fn copy_of(source: *const sys::BIGNUM) -> Result<Self, KeyError> {
        let bignum = Self::new()?;
        // SAFETY: callers pass a valid BIGNUM; `bignum` is valid and distinct.
        if unsafe { sys::BN_copy(bignum.0.as_ptr(), source) }.is_null() {
            return Err(KeyError::Backend {
                operation: "copy an integer",
            });
        }
        Ok(bignum)
    }

    /// Returns `self - word`; callers pass primes, which are larger.
    fn minus_word(&self, word: sys::BN_ULONG) -> Result<Self, KeyError> {
        let result = Self::copy_of(self.as_ptr())?;
        // SAFETY: `result` is a valid BIGNUM owned here.
        if unsafe { sys::BN_sub_word(result.0.as_ptr(), word) } != 1 {
            return Err(KeyError::Backend {
                operation: "subtract from a prime",
            });
        }
        Ok(result)
    }

    pub(crate) fn as_ptr(&self) -> *const sys::BIGNUM {
        self.0.as_ptr()
    }

    /// Returns whether `self` equals the unsigned big-endian `value`,
    /// comparing in constant time.
    pub(crate) fn equals_consttime(&self, value: &[u8]) -> Result<bool, KeyError> {
        let other = Self::from_be_bytes(value)?;
        // SAFETY: both are valid BIGNUMs.
        Ok(unsafe { sys::BN_equal_consttime(self.as_ptr(), other.as_ptr()) } == 1)
    }
}

/// An owned BN_CTX, freed on drop.
struct BnCtx(NonNull<sys::BN_CTX>);

impl BnCtx {
    fn new() -> Result<Self, KeyError> {
        // SAFETY: BN_CTX_new returns a new context or NULL.
        NonNull::new(unsafe { sys::BN_CTX_new() })
            .map(Self)
            .ok_or(KeyError::Backend {
                operation: "allocate a BN_CTX",
            })
    }
}

impl Drop for BnCtx {
    fn drop(&mut self) {
        // SAFETY: the pointer came from BN_CTX_new and is owned here.
        unsafe { sys::BN_CTX_free(self.0.as_ptr()) }
    }
}

/// Computes `value mod modulus` for a big-endian `value` by binary long
/// division: for each bit from the top, r = 2r + bit (mod modulus). AWS-LC's
/// `_quick` modular addition and doubling run in time that depends only on
/// the modulus width, so the remainder leaks nothing about the value. AWS-LC
/// computes its own CRT exponents the same way (`bn_div_consttime`), but
/// does not export that function.
fn reduce_consttime(value: &[u8], modulus: &Bignum) -> Result<Bignum, KeyError> {
    let remainder = Bignum::new()?;
    let bit = Bignum::new()?;
    let failed = KeyError::Backend {
        operation: "reduce the private exponent",
    };

    for byte in value {
        for shift in (0..8).rev() {
            let bit_value = [(byte >> shift) & 1];
            // SAFETY: all three BIGNUMs are valid, and `remainder` stays below
            // the modulus, as the _quick functions require. BN_bin2bn
            // gives `bit` one word whether the bit is 0 or 1.
            let ok = unsafe {
                sys::BN_mod_lshift1_quick(remainder.0.as_ptr(), remainder.as_ptr(), modulus.as_ptr()) == 1
                    && !sys::BN_bin2bn(bit_value.as_ptr(), bit_value.len(), bit.0.as_ptr()).is_null()
                    && sys::BN_mod_add_quick(remainder.0.as_ptr(), remainder.as_ptr(), bit.as_ptr(), modulus.as_ptr())
                        == 1
            };
            if !ok {
                return Err(failed);
            }
        }
    }
    Ok(remainder)
}

/// Computes `value^-1 mod prime` as value^(prime - 2) mod prime (Fermat's
/// little theorem) with constant-time Montgomery exponentiation, as AWS-LC
/// computes iqmp for its own keys. `value` must be below `prime`.
fn inverse_mod_prime(value: &Bignum, prime: &Bignum, ctx: &BnCtx) -> Result<Bignum, KeyError> {
    let failed = KeyError::Backend {
        operation: "invert modulo a prime",
    };
    // SAFETY: `prime` and `ctx` are valid; the context treats the modulus as
    // secret. The result is NULL for an even or zero modulus.
    let mont = unsafe { sys::BN_MONT_CTX_new_consttime(prime.as_ptr(), ctx.0.as_ptr()) };
    let mont = NonNull::new(mont).ok_or(KeyError::Inconsistent)?;
    let mont = MontCtx(mont);

    let exponent = prime.minus_word(2)?;
    let inverse = Bignum::new()?;
    // SAFETY: every pointer is valid; `value` < `prime` is required and
    // AWS-LC returns 0 otherwise.
    let ok = unsafe {
        sys::BN_mod_exp_mont_consttime(
            inverse.0.as_ptr(),
            value.as_ptr(),
            exponent.as_ptr(),
            prime.as_ptr(),
            ctx.0.as_ptr(),
            mont.0.as_ptr(),
        )
    };
    if ok != 1 {
        return Err(failed);
    }
    Ok(inverse)
}

/// An owned BN_MONT_CTX, freed on drop.
struct MontCtx(NonNull<sys::BN_MONT_CTX>);

impl Drop for MontCtx {
    fn drop(&mut self) {
        // SAFETY: the pointer came from BN_MONT_CTX_new_consttime and is
        // owned here.
        unsafe { sys::BN_MONT_CTX_free(self.0.as_ptr()) }
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
