//! `EFI_GUID` (UEFI 2.10 Appendix A): 128 bits whose first three fields are
//! stored little-endian and whose last eight bytes are stored as written.
//!
//! ```text
//! typedef struct {
//!   UINT32  Data1;
//!   UINT16  Data2;
//!   UINT16  Data3;
//!   UINT8   Data4[8];
//! } EFI_GUID;
//! ```

use std::fmt;
use std::str::FromStr;

/// Size of an `EFI_GUID` in bytes.
pub const GUID_LEN: usize = 0x10;

/// Length of the text form `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx`.
const GUID_TEXT_LEN: usize = 36;

/// Positions of the hyphens in the text form.
const GUID_TEXT_HYPHENS: [usize; 4] = [8, 13, 18, 23];

/// An `EFI_GUID` in its on-disk byte order.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Guid([u8; GUID_LEN]);

impl Guid {
    /// The all-zero GUID, which `cert-to-efi-sig-list` uses as the signature
    /// owner when no `-g` is given.
    pub const ZERO: Self = Self([0; GUID_LEN]);

    /// Builds a GUID from the four fields of its C definition.
    pub const fn from_fields(data1: u32, data2: u16, data3: u16, data4: [u8; 8]) -> Self {
        let d1 = data1.to_le_bytes();
        let d2 = data2.to_le_bytes();
        let d3 = data3.to_le_bytes();
        Self([
            d1[0], d1[1], d1[2], d1[3], d2[0], d2[1], d3[0], d3[1], data4[0], data4[1], data4[2], data4[3], data4[4],
            data4[5], data4[6], data4[7],
        ])
    }

    /// Wraps 16 bytes in on-disk order.
    pub const fn from_bytes(bytes: [u8; GUID_LEN]) -> Self {
        Self(bytes)
    }

    /// Returns the 16 bytes in on-disk order.
    pub const fn to_bytes(self) -> [u8; GUID_LEN] {
        self.0
    }
}

/// Error from reading the text form of a GUID.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid GUID {text:?}: expected the form xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx with hexadecimal digits")]
pub struct GuidError {
    text: String,
}

impl FromStr for Guid {
    type Err = GuidError;

    /// Reads the registry form, for example
    /// `a5c059a1-94e4-4aa7-87b5-ab155c2bf072`, in either letter case.
    fn from_str(text: &str) -> Result<Self, Self::Err> {
        let error = || GuidError { text: text.to_owned() };

        let well_formed = text.len() == GUID_TEXT_LEN
            && text.char_indices().all(|(index, character)| {
                if GUID_TEXT_HYPHENS.contains(&index) {
                    character == '-'
                } else {
                    character.is_ascii_hexdigit()
                }
            });
        if !well_formed {
            return Err(error());
        }

        let digits: String = text.chars().filter(|character| *character != '-').collect();
        let value = u128::from_str_radix(&digits, 16).map_err(|_| error())?;
        let big_endian = value.to_be_bytes();

        // The text is the big-endian reading of each field; the first three
        // fields are stored little-endian.
        let [a0, a1, a2, a3, b0, b1, c0, c1, d0, d1, d2, d3, d4, d5, d6, d7] = big_endian;
        Ok(Self([a3, a2, a1, a0, b1, b0, c1, c0, d0, d1, d2, d3, d4, d5, d6, d7]))
    }
}

impl fmt::Display for Guid {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let [a0, a1, a2, a3, b0, b1, c0, c1, d0, d1, d2, d3, d4, d5, d6, d7] = self.0;
        write!(
            f,
            "{a3:02x}{a2:02x}{a1:02x}{a0:02x}-{b1:02x}{b0:02x}-{c1:02x}{c0:02x}-{d0:02x}{d1:02x}-\
             {d2:02x}{d3:02x}{d4:02x}{d5:02x}{d6:02x}{d7:02x}"
        )
    }
}

/// `EFI_GLOBAL_VARIABLE`, vendor GUID of `PK` and `KEK` (UEFI 2.10 §3.3).
pub const EFI_GLOBAL_VARIABLE: Guid = Guid::from_fields(
    0x8be4_df61,
    0x93ca,
    0x11d2,
    [0xaa, 0x0d, 0x00, 0xe0, 0x98, 0x03, 0x2b, 0x8c],
);

/// `EFI_IMAGE_SECURITY_DATABASE_GUID`, vendor GUID of `db` and `dbx`
/// (UEFI 2.10 §32.6.1).
pub const EFI_IMAGE_SECURITY_DATABASE_GUID: Guid = Guid::from_fields(
    0xd719_b2cb,
    0x3d3a,
    0x4596,
    [0xa3, 0xbc, 0xda, 0xd0, 0x0e, 0x67, 0x65, 0x6f],
);

/// `EFI_CERT_TYPE_PKCS7_GUID`, the `CertType` of a PKCS #7 `SignedData` in a
/// `WIN_CERTIFICATE_UEFI_GUID` (UEFI 2.10 §32.2.4).
pub const EFI_CERT_TYPE_PKCS7_GUID: Guid = Guid::from_fields(
    0x4aaf_d29d,
    0x68df,
    0x49ee,
    [0x8a, 0xa9, 0x34, 0x7d, 0x37, 0x56, 0x65, 0xa7],
);

/// `EFI_CERT_SHA256_GUID` (UEFI 2.10 §32.4.1).
pub const EFI_CERT_SHA256_GUID: Guid = Guid::from_fields(
    0xc1c4_1626,
    0x504c,
    0x4092,
    [0xac, 0xa9, 0x41, 0xf9, 0x36, 0x93, 0x43, 0x28],
);

/// `EFI_CERT_RSA2048_GUID` (UEFI 2.10 §32.4.1).
pub const EFI_CERT_RSA2048_GUID: Guid = Guid::from_fields(
    0x3c57_66e8,
    0x269c,
    0x4e34,
    [0xaa, 0x14, 0xed, 0x77, 0x6e, 0x85, 0xb3, 0xb6],
);

/// `EFI_CERT_RSA2048_SHA256_GUID` (UEFI 2.10 §32.4.1).
pub const EFI_CERT_RSA2048_SHA256_GUID: Guid = Guid::from_fields(
    0xe2b3_6190,
    0x879b,
    0x4a3d,
    [0xad, 0x8d, 0xf2, 0xe7, 0xbb, 0xa3, 0x27, 0x84],
);

/// `EFI_CERT_SHA1_GUID` (UEFI 2.10 §32.4.1).
pub const EFI_CERT_SHA1_GUID: Guid = Guid::from_fields(
    0x826c_a512,
    0xcf10,
    0x4ac9,
    [0xb1, 0x87, 0xbe, 0x01, 0x49, 0x66, 0x31, 0xbd],
);

/// `EFI_CERT_RSA2048_SHA1_GUID` (UEFI 2.10 §32.4.1).
pub const EFI_CERT_RSA2048_SHA1_GUID: Guid = Guid::from_fields(
    0x67f8_444f,
    0x8743,
    0x48f1,
    [0xa3, 0x28, 0x1e, 0xaa, 0xb8, 0x73, 0x60, 0x80],
);

/// `EFI_CERT_X509_GUID` (UEFI 2.10 §32.4.1).
pub const EFI_CERT_X509_GUID: Guid = Guid::from_fields(
    0xa5c0_59a1,
    0x94e4,
    0x4aa7,
    [0x87, 0xb5, 0xab, 0x15, 0x5c, 0x2b, 0xf0, 0x72],
);

/// `EFI_CERT_SHA224_GUID` (UEFI 2.10 §32.4.1).
pub const EFI_CERT_SHA224_GUID: Guid = Guid::from_fields(
    0x0b6e_5233,
    0xa65c,
    0x44c9,
    [0x94, 0x07, 0xd9, 0xab, 0x83, 0xbf, 0xc8, 0xbd],
);

/// `EFI_CERT_SHA384_GUID` (UEFI 2.10 §32.4.1).
pub const EFI_CERT_SHA384_GUID: Guid = Guid::from_fields(
    0xff3e_5307,
    0x9fd0,
    0x48c9,
    [0x85, 0xf1, 0x8a, 0xd5, 0x6c, 0x70, 0x1e, 0x01],
);

/// `EFI_CERT_SHA512_GUID` (UEFI 2.10 §32.4.1).
pub const EFI_CERT_SHA512_GUID: Guid = Guid::from_fields(
    0x093e_0fae,
    0xa6c4,
    0x4f50,
    [0x9f, 0x1b, 0xd4, 0x1e, 0x2b, 0x89, 0xc1, 0x9a],
);

/// `EFI_CERT_X509_SHA256_GUID` (UEFI 2.10 §32.4.1).
pub const EFI_CERT_X509_SHA256_GUID: Guid = Guid::from_fields(
    0x3bd2_a492,
    0x96c0,
    0x4079,
    [0xb4, 0x20, 0xfc, 0xf9, 0x8e, 0xf1, 0x03, 0xed],
);

/// `EFI_CERT_X509_SHA384_GUID` (UEFI 2.10 §32.4.1).
pub const EFI_CERT_X509_SHA384_GUID: Guid = Guid::from_fields(
    0x7076_876e,
    0x80c2,
    0x4ee6,
    [0xaa, 0xd2, 0x28, 0xb3, 0x49, 0xa6, 0x86, 0x5b],
);

/// `EFI_CERT_X509_SHA512_GUID` (UEFI 2.10 §32.4.1).
pub const EFI_CERT_X509_SHA512_GUID: Guid = Guid::from_fields(
    0x446d_bf63,
    0x2502,
    0x4cda,
    [0xbc, 0xfa, 0x24, 0x65, 0xd2, 0xb0, 0xfe, 0x9d],
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn x509_guid_bytes() {
        let expected = [
            0xa1, 0x59, 0xc0, 0xa5, 0xe4, 0x94, 0xa7, 0x4a, 0x87, 0xb5, 0xab, 0x15, 0x5c, 0x2b, 0xf0, 0x72,
        ];
        assert_eq!(EFI_CERT_X509_GUID.to_bytes(), expected);
    }

    #[test]
    fn text_form_round_trips() {
        let text = "d719b2cb-3d3a-4596-a3bc-dad00e67656f";
        let guid: Guid = text.parse().unwrap();
        assert_eq!(guid, EFI_IMAGE_SECURITY_DATABASE_GUID);
        assert_eq!(guid.to_string(), text);
    }

    #[test]
    fn text_form_accepts_upper_case() {
        let guid: Guid = "8BE4DF61-93CA-11D2-AA0D-00E098032B8C".parse().unwrap();
        assert_eq!(guid, EFI_GLOBAL_VARIABLE);
    }

    #[test]
    fn text_form_rejects_malformed() {
        for text in [
            "",
            "d719b2cb3d3a4596a3bcdad00e67656f",
            "d719b2cb-3d3a-4596-a3bc-dad00e67656",
            "d719b2cb-3d3a-4596-a3bc-dad00e67656f0",
            "d719b2cb-3d3a-4596-a3bcdad00e67656f-",
            "g719b2cb-3d3a-4596-a3bc-dad00e67656f",
            "+719b2cb-3d3a-4596-a3bc-dad00e67656f",
            "d719b2cb-3d3a-4596-a3bc-dad00e6765\u{e9}",
        ] {
            assert!(text.parse::<Guid>().is_err(), "{text:?} was accepted");
        }
    }
}
