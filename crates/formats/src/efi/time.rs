//! `EFI_TIME` (UEFI 2.10 §8.3.1, `GetTime()`), restricted to the form an
//! authenticated variable's `TimeStamp` takes (§8.2.2): Pad1, Nanosecond,
//! TimeZone, Daylight and Pad2 are zero, so the time is UTC.
//!
//! ```text
//! typedef struct {
//!   UINT16  Year;        // 1900 - 9999
//!   UINT8   Month;       // 1 - 12
//!   UINT8   Day;         // 1 - 31
//!   UINT8   Hour;        // 0 - 23
//!   UINT8   Minute;      // 0 - 59
//!   UINT8   Second;      // 0 - 59
//!   UINT8   Pad1;
//!   UINT32  Nanosecond;  // 0 - 999,999,999
//!   INT16   TimeZone;    // -1440 to 1440 or 2047
//!   UINT8   Daylight;
//!   UINT8   Pad2;
//! } EFI_TIME;
//! ```

use std::time::Duration;

/// Size of an `EFI_TIME` in bytes.
pub const EFI_TIME_LEN: usize = 0x10;

/// First and last `Year` that `EFI_TIME` allows.
const YEAR_RANGE: std::ops::RangeInclusive<u16> = 1900..=9999;

/// A UTC `EFI_TIME` with whole seconds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct EfiTime {
    year: u16,
    month: u8,
    day: u8,
    hour: u8,
    minute: u8,
    second: u8,
}

/// Error from converting a date and time to an `EFI_TIME`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum EfiTimeError {
    #[error("EFI_TIME Year {0} is outside 1900-9999")]
    Year(u16),
    #[error("EFI_TIME Month {0} is outside 1-12")]
    Month(u8),
    #[error("EFI_TIME Day {day} does not exist in month {month} of {year}")]
    Day { year: u16, month: u8, day: u8 },
    #[error("EFI_TIME Hour {0} is outside 0-23")]
    Hour(u8),
    #[error("EFI_TIME Minute {0} is outside 0-59")]
    Minute(u8),
    #[error("EFI_TIME Second {0} is outside 0-59")]
    Second(u8),
    #[error("Unix time {0} is after 9999-12-31T23:59:59Z, the last EFI_TIME")]
    UnixTime(u64),
}

impl EfiTime {
    /// The all-zero `EFI_TIME` (year 0), which `sign-efi-sig-list -a` writes
    /// when no `-t` is given. Firmware accepts it only for APPEND_WRITE,
    /// where the timestamp need not increase.
    pub const ZERO: Self = Self {
        year: 0,
        month: 0,
        day: 0,
        hour: 0,
        minute: 0,
        second: 0,
    };

    /// Checks a UTC calendar date and time against the `EFI_TIME` ranges.
    pub fn new(year: u16, month: u8, day: u8, hour: u8, minute: u8, second: u8) -> Result<Self, EfiTimeError> {
        if !YEAR_RANGE.contains(&year) {
            return Err(EfiTimeError::Year(year));
        }
        if !(1..=12).contains(&month) {
            return Err(EfiTimeError::Month(month));
        }
        if day == 0 || day > days_in_month(year, month) {
            return Err(EfiTimeError::Day { year, month, day });
        }
        if hour > 23 {
            return Err(EfiTimeError::Hour(hour));
        }
        if minute > 59 {
            return Err(EfiTimeError::Minute(minute));
        }
        if second > 59 {
            return Err(EfiTimeError::Second(second));
        }

        Ok(Self {
            year,
            month,
            day,
            hour,
            minute,
            second,
        })
    }

    /// Converts seconds since 1970-01-01T00:00:00Z.
    pub fn from_unix_seconds(unix_seconds: u64) -> Result<Self, EfiTimeError> {
        let date_time = der::DateTime::from_unix_duration(Duration::from_secs(unix_seconds))
            .map_err(|_| EfiTimeError::UnixTime(unix_seconds))?;
        Self::new(
            date_time.year(),
            date_time.month(),
            date_time.day(),
            date_time.hour(),
            date_time.minutes(),
            date_time.seconds(),
        )
    }

    /// Encodes the 16-byte little-endian `EFI_TIME`.
    pub fn to_bytes(self) -> [u8; EFI_TIME_LEN] {
        let [year_low, year_high] = self.year.to_le_bytes();
        [
            year_low,
            year_high,
            self.month,
            self.day,
            self.hour,
            self.minute,
            self.second,
            0, // Pad1
            0, // Nanosecond
            0,
            0,
            0,
            0, // TimeZone
            0,
            0, // Daylight
            0, // Pad2
        ]
    }
}

fn days_in_month(year: u16, month: u8) -> u8 {
    let leap_year = year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400));
    match month {
        2 if leap_year => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_layout() {
        let time = EfiTime::new(2024, 1, 2, 3, 4, 5).unwrap();
        assert_eq!(time.to_bytes(), [0xe8, 0x07, 1, 2, 3, 4, 5, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
    }

    #[test]
    fn from_unix_seconds_is_utc() {
        // 2024-01-02T03:04:05Z
        let time = EfiTime::from_unix_seconds(1_704_164_645).unwrap();
        assert_eq!(time, EfiTime::new(2024, 1, 2, 3, 4, 5).unwrap());
    }

    #[test]
    fn rejects_out_of_range_fields() {
        assert_eq!(EfiTime::new(1899, 1, 1, 0, 0, 0), Err(EfiTimeError::Year(1899)));
        assert_eq!(EfiTime::new(2024, 13, 1, 0, 0, 0), Err(EfiTimeError::Month(13)));
        assert_eq!(EfiTime::new(2024, 0, 1, 0, 0, 0), Err(EfiTimeError::Month(0)));
        assert!(matches!(
            EfiTime::new(2023, 2, 29, 0, 0, 0),
            Err(EfiTimeError::Day { .. })
        ));
        assert!(matches!(
            EfiTime::new(2024, 4, 31, 0, 0, 0),
            Err(EfiTimeError::Day { .. })
        ));
        assert!(matches!(
            EfiTime::new(2024, 4, 0, 0, 0, 0),
            Err(EfiTimeError::Day { .. })
        ));
        assert_eq!(EfiTime::new(2024, 1, 1, 24, 0, 0), Err(EfiTimeError::Hour(24)));
        assert_eq!(EfiTime::new(2024, 1, 1, 0, 60, 0), Err(EfiTimeError::Minute(60)));
        assert_eq!(EfiTime::new(2024, 1, 1, 0, 0, 60), Err(EfiTimeError::Second(60)));
    }

    #[test]
    fn accepts_leap_day() {
        assert!(EfiTime::new(2024, 2, 29, 23, 59, 59).is_ok());
        assert!(EfiTime::new(2000, 2, 29, 0, 0, 0).is_ok());
        assert!(EfiTime::new(1900, 2, 29, 0, 0, 0).is_err());
    }

    #[test]
    fn zero_time_is_all_zero_bytes() {
        assert_eq!(EfiTime::ZERO.to_bytes(), [0; EFI_TIME_LEN]);
    }
}
