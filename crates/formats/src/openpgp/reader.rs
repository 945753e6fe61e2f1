//! A bounded cursor over untrusted bytes that reports absolute offsets.

use super::error::ParseError;

/// Reads big-endian fields from a slice; every read is bounds-checked and
/// every error carries the offset of the field in the original input.
#[derive(Clone, Debug)]
pub(crate) struct Reader<'a> {
    data: &'a [u8],
    pos: usize,
    /// Offset of `data` inside the whole input, so that errors point into it.
    base: usize,
}

impl<'a> Reader<'a> {
    /// Starts a reader over `data`, which begins at offset `base` of the input.
    pub(crate) fn new(data: &'a [u8], base: usize) -> Self {
        Self { data, pos: 0, base }
    }

    /// Absolute offset of the next byte.
    pub(crate) fn offset(&self) -> usize {
        self.base.saturating_add(self.pos)
    }

    pub(crate) fn remaining(&self) -> usize {
        self.data.len().saturating_sub(self.pos)
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.remaining() == 0
    }

    /// Takes the next `len` bytes, named `field` in the error when fewer remain.
    pub(crate) fn take(&mut self, len: usize, field: &'static str) -> Result<&'a [u8], ParseError> {
        let truncated = ParseError::Truncated {
            field,
            offset: self.offset(),
            needed: len.saturating_sub(self.remaining()),
        };
        let end = self.pos.checked_add(len).ok_or_else(|| truncated.clone())?;
        let bytes = self.data.get(self.pos..end).ok_or(truncated)?;
        self.pos = end;
        Ok(bytes)
    }

    pub(crate) fn take_array<const N: usize>(&mut self, field: &'static str) -> Result<[u8; N], ParseError> {
        let mut array = [0u8; N];
        array.copy_from_slice(self.take(N, field)?);
        Ok(array)
    }

    pub(crate) fn u8(&mut self, field: &'static str) -> Result<u8, ParseError> {
        let [byte] = self.take_array::<1>(field)?;
        Ok(byte)
    }

    pub(crate) fn u16(&mut self, field: &'static str) -> Result<u16, ParseError> {
        Ok(u16::from_be_bytes(self.take_array(field)?))
    }

    pub(crate) fn u32(&mut self, field: &'static str) -> Result<u32, ParseError> {
        Ok(u32::from_be_bytes(self.take_array(field)?))
    }

    /// Splits off the next `len` bytes as a reader of their own.
    pub(crate) fn sub(&mut self, len: usize, field: &'static str) -> Result<Reader<'a>, ParseError> {
        let base = self.offset();
        let data = self.take(len, field)?;
        Ok(Reader::new(data, base))
    }

    /// Checks that nothing follows `field`, the last thing read.
    pub(crate) fn finish(&self, field: &'static str) -> Result<(), ParseError> {
        if self.is_empty() {
            return Ok(());
        }
        Err(ParseError::TrailingData {
            field,
            offset: self.offset(),
            len: self.remaining(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_big_endian_fields() {
        let mut reader = Reader::new(&[0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07], 0x10);
        assert_eq!(reader.u8("a").unwrap(), 0x01);
        assert_eq!(reader.u16("b").unwrap(), 0x0203);
        assert_eq!(reader.u32("c").unwrap(), 0x0405_0607);
        assert!(reader.is_empty());
        assert_eq!(reader.offset(), 0x17);
    }

    #[test]
    fn truncated_read_names_field_and_offset() {
        let mut reader = Reader::new(&[0x01, 0x02], 0x20);
        reader.u8("first").unwrap();
        let err = reader.u32("length").unwrap_err();
        assert_eq!(
            err,
            ParseError::Truncated {
                field: "length",
                offset: 0x21,
                needed: 3
            }
        );
    }

    #[test]
    fn huge_take_is_truncated_not_overflow() {
        let mut reader = Reader::new(&[0x00; 4], 0);
        reader.u8("x").unwrap();
        assert!(matches!(
            reader.take(usize::MAX, "body"),
            Err(ParseError::Truncated { .. })
        ));
    }

    #[test]
    fn sub_reader_keeps_absolute_offsets() {
        let mut reader = Reader::new(&[0xaa, 0xbb, 0xcc, 0xdd], 0x100);
        reader.u8("x").unwrap();
        let mut sub = reader.sub(2, "area").unwrap();
        assert_eq!(sub.offset(), 0x101);
        sub.u8("y").unwrap();
        let err = sub.finish("y").unwrap_err();
        assert_eq!(
            err,
            ParseError::TrailingData {
                field: "y",
                offset: 0x102,
                len: 1
            }
        );
        assert_eq!(reader.u8("z").unwrap(), 0xdd);
    }
}
