//! CMS helpers for handing our signatures to `openssl cms`.

/// Wraps a bare DER `SignedData` in a `ContentInfo` of type `id-signedData`,
/// which `openssl cms -verify` needs.
pub fn wrap_signed_data(signed_data: &[u8]) -> Vec<u8> {
    const ID_SIGNED_DATA: [u8; 11] = [0x06, 0x09, 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x07, 0x02];
    let mut explicit = vec![0xa0];
    explicit.extend(der_length(signed_data.len()));
    let inner_len = ID_SIGNED_DATA.len() + explicit.len() + signed_data.len();

    let mut out = vec![0x30];
    out.extend(der_length(inner_len));
    out.extend_from_slice(&ID_SIGNED_DATA);
    out.extend(explicit);
    out.extend_from_slice(signed_data);
    out
}

fn der_length(len: usize) -> Vec<u8> {
    match len {
        0..0x80 => vec![len as u8],
        0x80..0x100 => vec![0x81, len as u8],
        _ => {
            assert!(len < 0x10000);
            vec![0x82, (len >> 8) as u8, len as u8]
        }
    }
}
