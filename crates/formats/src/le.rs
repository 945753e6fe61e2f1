//! Bounds-checked little-endian reads at a byte offset, for parsers of
//! untrusted input: every read returns `None` instead of reading past the end.

/// Reads the `N` bytes at `offset`.
pub(crate) fn array_at<const N: usize>(data: &[u8], offset: usize) -> Option<[u8; N]> {
    let end = offset.checked_add(N)?;
    data.get(offset..end)?.try_into().ok()
}

/// Reads the little-endian `u16` at `offset`.
pub(crate) fn u16_at(data: &[u8], offset: usize) -> Option<u16> {
    array_at(data, offset).map(u16::from_le_bytes)
}

/// Reads the little-endian `u32` at `offset`.
pub(crate) fn u32_at(data: &[u8], offset: usize) -> Option<u32> {
    array_at(data, offset).map(u32::from_le_bytes)
}

/// Converts a `u32` length or offset from a file header to `usize`. The
/// conversion is lossless on the 32- and 64-bit targets this crate builds for.
pub(crate) fn usize_from(value: u32) -> usize {
    value as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_inside_bounds() {
        let data = [0x01, 0x02, 0x03, 0x04, 0x05];
        assert_eq!(u16_at(&data, 0), Some(0x0201));
        assert_eq!(u32_at(&data, 1), Some(0x0504_0302));
    }

    #[test]
    fn rejects_reads_past_end() {
        let data = [0x01, 0x02, 0x03];
        assert_eq!(u32_at(&data, 0), None);
        assert_eq!(u16_at(&data, 2), None);
        assert_eq!(u16_at(&data, usize::MAX), None);
    }
}
