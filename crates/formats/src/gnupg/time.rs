//! GnuPG's ISO time strings, `YYYYMMDDTHHMMSS` in UTC (GnuPG
//! `common/gettime.c`, `epoch2isotime` and `isotime2epoch`), converted to
//! and from Unix seconds with the proleptic Gregorian calendar.

const SECONDS_PER_DAY: u64 = 86_400;
/// Days from 0000-03-01 to 1970-01-01 in the proleptic Gregorian calendar.
const DAYS_TO_UNIX_EPOCH: u64 = 719_468;
const DAYS_PER_ERA: u64 = 146_097;
const MAX_YEAR: u64 = 9999;

/// Formats Unix seconds as `YYYYMMDDTHHMMSS`, or returns `None` after
/// year 9999, which four digits cannot hold.
pub(crate) fn to_isotime(seconds: u64) -> Option<String> {
    let days = seconds / SECONDS_PER_DAY;
    let time_of_day = seconds % SECONDS_PER_DAY;
    let (year, month, day) = civil_from_days(days.checked_add(DAYS_TO_UNIX_EPOCH)?);
    if year > MAX_YEAR {
        return None;
    }

    let (hour, minute, second) = (time_of_day / 3600, time_of_day / 60 % 60, time_of_day % 60);
    Some(format!("{year:04}{month:02}{day:02}T{hour:02}{minute:02}{second:02}"))
}

/// Reads `YYYYMMDDTHHMMSS` (years 1970 to 9999) as Unix seconds.
pub(crate) fn from_isotime(text: &[u8]) -> Option<u64> {
    let [y1, y2, y3, y4, mo1, mo2, d1, d2, b'T', h1, h2, mi1, mi2, s1, s2] = *text else {
        return None;
    };
    let year = digits(&[y1, y2, y3, y4])?;
    let month = digits(&[mo1, mo2])?;
    let day = digits(&[d1, d2])?;
    let hour = digits(&[h1, h2])?;
    let minute = digits(&[mi1, mi2])?;
    let second = digits(&[s1, s2])?;
    if year < 1970 || !(1..=12).contains(&month) || day < 1 || day > days_in_month(year, month) {
        return None;
    }
    if hour > 23 || minute > 59 || second > 59 {
        return None;
    }

    let days = days_from_civil(year, month, day) - DAYS_TO_UNIX_EPOCH;
    Some(days * SECONDS_PER_DAY + hour * 3600 + minute * 60 + second)
}

fn digits(text: &[u8]) -> Option<u64> {
    text.iter().try_fold(0u64, |value, &byte| {
        byte.is_ascii_digit().then(|| value * 10 + u64::from(byte - b'0'))
    })
}

fn days_in_month(year: u64, month: u64) -> u64 {
    let leap = year.is_multiple_of(4) && (!year.is_multiple_of(100) || year.is_multiple_of(400));
    match month {
        2 if leap => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days since 0000-03-01 for a date from year 1 on. Counting years from
/// March puts the leap day last, so each 400-year era has the same shape.
fn days_from_civil(year: u64, month: u64, day: u64) -> u64 {
    let year = if month <= 2 { year - 1 } else { year };
    let era = year / 400;
    let year_of_era = year % 400;
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * DAYS_PER_ERA + day_of_era
}

/// Inverse of [`days_from_civil`]: (year, month, day).
fn civil_from_days(days: u64) -> (u64, u64, u64) {
    let era = days / DAYS_PER_ERA;
    let day_of_era = days % DAYS_PER_ERA;
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524 - day_of_era / 146_096) / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = if month_from_march < 10 {
        month_from_march + 3
    } else {
        month_from_march - 9
    };
    let year = era * 400 + year_of_era + u64::from(month <= 2);
    (year, month, day)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        assert_eq!(to_isotime(0).unwrap(), "19700101T000000");
        assert_eq!(to_isotime(1_704_164_645).unwrap(), "20240102T030405");
        assert_eq!(to_isotime(951_782_400).unwrap(), "20000229T000000");
        assert_eq!(to_isotime(0x6b13_17bf).unwrap(), "20261204T194255");
        assert_eq!(to_isotime(253_402_300_799).unwrap(), "99991231T235959");
        assert_eq!(to_isotime(253_402_300_800), None);
    }

    #[test]
    fn reads_what_it_formats() {
        for seconds in [
            0,
            59,
            86_399,
            951_782_400,
            1_704_164_645,
            4_102_444_800,
            253_402_300_799,
        ] {
            let text = to_isotime(seconds).unwrap();
            assert_eq!(from_isotime(text.as_bytes()), Some(seconds), "{text}");
        }
    }

    #[test]
    fn rejects_malformed_isotime() {
        for text in [
            "",
            "20240102 030405",
            "20240102T03040",
            "20240102T0304056",
            "2024010AT030405",
            "19691231T235959",
            "20240230T000000",
            "20230229T000000",
            "20241301T000000",
            "20240100T000000",
            "20240102T240000",
            "20240102T236000",
            "20240102T235960",
        ] {
            assert_eq!(from_isotime(text.as_bytes()), None, "{text}");
        }
        assert_eq!(from_isotime(b"20240229T120000"), Some(1_709_208_000));
    }
}
