//! Multiprecision integers (RFC 4880 §3.2): a two-octet count of the bits
//! from the most significant non-zero bit, then the big-endian value in
//! `(bits + 7) / 8` octets.

use super::error::{BuildError, ParseError};
use super::reader::Reader;

/// Bits in an octet.
const OCTET_BITS: usize = 8;

/// Appends `value` (big-endian, leading zero bytes allowed) as an MPI with
/// the leading zero bits removed.
pub(crate) fn write_mpi(out: &mut Vec<u8>, value: &[u8], field: &'static str) -> Result<(), BuildError> {
    let value = strip_leading_zeros(value);
    let bits = bit_len(value);
    let bits = u16::try_from(bits).map_err(|_| BuildError::MpiTooLong { field, bits })?;

    out.extend_from_slice(&bits.to_be_bytes());
    out.extend_from_slice(value);
    Ok(())
}

/// Reads one MPI and returns its value octets; a bit count that does not
/// match the value is rejected.
pub(crate) fn read_mpi<'a>(reader: &mut Reader<'a>, field: &'static str) -> Result<&'a [u8], ParseError> {
    let offset = reader.offset();
    let declared = reader.u16(field)?;
    let len = usize::from(declared).div_ceil(OCTET_BITS);
    let value = reader.take(len, field)?;

    let actual = bit_len(value);
    if actual != usize::from(declared) {
        return Err(ParseError::MpiBitCount {
            offset,
            declared,
            actual,
        });
    }
    Ok(value)
}

/// Drops the leading zero octets of a big-endian integer.
pub(crate) fn strip_leading_zeros(value: &[u8]) -> &[u8] {
    let start = value.iter().position(|&byte| byte != 0).unwrap_or(value.len());
    value.get(start..).unwrap_or_default()
}

/// Number of bits from the most significant set bit of a big-endian integer.
fn bit_len(value: &[u8]) -> usize {
    let value = strip_leading_zeros(value);
    match value.first() {
        Some(&top) => value.len().saturating_mul(OCTET_BITS) - top.leading_zeros() as usize,
        None => 0,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_minimal_bit_count() {
        let mut out = Vec::new();
        write_mpi(&mut out, &[0x00, 0x00, 0x01, 0xff], "x").unwrap();
        assert_eq!(out, [0x00, 0x09, 0x01, 0xff]);

        let mut out = Vec::new();
        write_mpi(&mut out, &[0x01, 0x00, 0x01], "e").unwrap();
        assert_eq!(out, [0x00, 0x11, 0x01, 0x00, 0x01]);
    }

    #[test]
    fn writes_zero_as_empty_mpi() {
        let mut out = Vec::new();
        write_mpi(&mut out, &[0x00, 0x00], "x").unwrap();
        assert_eq!(out, [0x00, 0x00]);
    }

    #[test]
    fn rejects_mpi_over_65535_bits() {
        let mut out = Vec::new();
        let err = write_mpi(&mut out, &[0xff; 8192], "n").unwrap_err();
        assert!(matches!(
            err,
            BuildError::MpiTooLong {
                field: "n",
                bits: 65536
            }
        ));
    }

    #[test]
    fn reads_mpi_value() {
        let mut reader = Reader::new(&[0x00, 0x09, 0x01, 0xff, 0xaa], 0);
        assert_eq!(read_mpi(&mut reader, "x").unwrap(), [0x01, 0xff]);
        assert_eq!(reader.remaining(), 1);
    }

    #[test]
    fn rejects_mismatched_bit_count() {
        let mut reader = Reader::new(&[0x00, 0x10, 0x01, 0xff], 0x40);
        let err = read_mpi(&mut reader, "x").unwrap_err();
        assert_eq!(
            err,
            ParseError::MpiBitCount {
                offset: 0x40,
                declared: 16,
                actual: 9
            }
        );
    }

    #[test]
    fn rejects_truncated_mpi() {
        let mut reader = Reader::new(&[0x08, 0x00, 0x01], 0);
        let err = read_mpi(&mut reader, "RSA modulus n").unwrap_err();
        assert!(matches!(
            err,
            ParseError::Truncated {
                field: "RSA modulus n",
                needed: 255,
                ..
            }
        ));
    }
}
