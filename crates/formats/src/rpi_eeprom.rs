//! The signature file of Raspberry Pi secure boot, as `rpi-eeprom-digest`
//! (raspberrypi/rpi-eeprom, `tools/rpi-eeprom-digest`) writes it:
//!
//! ```text
//! <SHA-256 of the image, 64 lower-case hex digits>
//! ts: <signing time, Unix seconds>
//! rsa2048: <RSASSA-PKCS1-v1_5 SHA-256 signature of the image, lower-case hex>
//! ```
//!
//! Each line ends with LF. Only the image is signed; the `ts:` line and the
//! digest line are not covered by the signature.

/// Line prefix of the signing time.
pub const TS_PREFIX: &str = "ts: ";

/// Line prefix of the signature; the boot ROM accepts only RSA-2048 with SHA-256.
pub const RSA2048_PREFIX: &str = "rsa2048: ";

/// Renders the digest file for an image whose SHA-256 is `image_sha256`,
/// signed at `timestamp` (Unix seconds) with `signature`.
pub fn digest_file(image_sha256: &[u8; 32], timestamp: u64, signature: &[u8]) -> String {
    format!(
        "{}\n{TS_PREFIX}{timestamp}\n{RSA2048_PREFIX}{}\n",
        hex::encode(image_sha256),
        hex::encode(signature)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn digest_file_layout() {
        let text = digest_file(&[0xab; 32], 1_700_000_000, &[0x01, 0xfe]);
        let expected = format!("{}\nts: 1700000000\nrsa2048: 01fe\n", "ab".repeat(32));
        assert_eq!(text, expected);
    }
}
