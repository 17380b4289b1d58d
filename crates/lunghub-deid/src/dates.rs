//! Date shifting for "Retain Longitudinal Temporal Information with Modified Dates".
//!
//! One offset in days per patient keeps every interval between that patient's studies.
//! DA and DT values move by the offset, keep their precision, and lose any timezone
//! suffix. A value that cannot be read as a date cannot be shifted, so it is emptied
//! rather than kept.

use lunghub_domain::calendar::{civil_from_days, days_from_civil};

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

fn digits(s: &str) -> Option<u32> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Shifts an 8-digit `YYYYMMDD` (or legacy `YYYY.MM.DD`) date. None if it is not a date.
fn shift_ymd(date: &str, days: i64) -> Option<String> {
    let compact: String =
        if date.len() == 10 && date.as_bytes()[4] == b'.' && date.as_bytes()[7] == b'.' {
            date.replace('.', "")
        } else {
            date.to_owned()
        };
    if compact.len() != 8 {
        return None;
    }
    let y = i64::from(digits(&compact[0..4])?);
    let m = digits(&compact[4..6])?;
    let d = digits(&compact[6..8])?;
    if !(1..=12).contains(&m) || d == 0 || d > days_in_month(y, m) {
        return None;
    }
    let (y, m, d) = civil_from_days(days_from_civil(y, m, d) + days);
    if !(0..=9999).contains(&y) {
        return None;
    }
    Some(format!("{y:04}{m:02}{d:02}"))
}

/// Shifts one DA value. Empty stays empty.
pub fn shift_date(value: &str, days: i64) -> Option<String> {
    let v = value.trim();
    if !v.is_ascii() {
        return None;
    }
    if v.is_empty() {
        return Some(String::new());
    }
    shift_ymd(v, days)
}

/// Shifts one DT value (`YYYY[MM[DD[HH[MM[SS[.F]]]]]][&ZZXX]`), keeping its precision and
/// dropping the timezone offset.
pub fn shift_datetime(value: &str, days: i64) -> Option<String> {
    let v = value.trim();
    if !v.is_ascii() {
        return None;
    }
    if v.is_empty() {
        return Some(String::new());
    }
    let body = match v.find(['+', '-']) {
        Some(i) if i >= 4 => &v[..i],
        _ => v,
    };
    if body.len() < 4 {
        return None;
    }
    // Partial dates shift as if they were the first day of their period, then are cut back
    // to the same precision.
    let (padded, keep) = match body.len() {
        4 => (format!("{body}0101"), 4),
        6 => (format!("{body}01"), 6),
        n if n >= 8 => (body[..8].to_owned(), 8),
        _ => return None,
    };
    let shifted = shift_ymd(&padded, days)?;
    let rest = &body[keep.min(body.len())..];
    let time_ok = rest.bytes().all(|b| b.is_ascii_digit() || b == b'.');
    if !time_ok {
        return None;
    }
    Some(format!(
        "{}{}",
        &shifted[..keep],
        if keep == 8 { rest } else { "" }
    ))
}

/// Applies `shift` to each value of a backslash-separated multi-value; a value that does
/// not shift becomes empty.
pub fn shift_multi(values: &str, days: i64, shift: fn(&str, i64) -> Option<String>) -> String {
    values
        .split('\\')
        .map(|v| shift(v, days).unwrap_or_default())
        .collect::<Vec<_>>()
        .join("\\")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_move_across_months_and_leap_years() {
        assert_eq!(shift_date("20200301", -1).as_deref(), Some("20200229"));
        assert_eq!(shift_date("20210101", -365).as_deref(), Some("20200102"));
        assert_eq!(shift_date("2020.03.01", -1).as_deref(), Some("20200229"));
        assert_eq!(shift_date("20201341", -1), None);
        assert_eq!(shift_date("", -1).as_deref(), Some(""));
    }

    #[test]
    fn datetimes_keep_precision_and_lose_timezones() {
        assert_eq!(
            shift_datetime("20200301120000.123456+0100", -1).as_deref(),
            Some("20200229120000.123456")
        );
        assert_eq!(shift_datetime("202003", -1).as_deref(), Some("202002"));
        assert_eq!(
            shift_datetime("20200301-0500", -1).as_deref(),
            Some("20200229")
        );
        assert_eq!(shift_datetime("garbage", -1), None);
        assert_eq!(shift_datetime("2020031\u{be}083015", -1), None);
        assert_eq!(shift_date("2020031\u{be}", -1), None);
    }

    #[test]
    fn intervals_survive_a_shift() {
        let a = shift_date("20200110", -200).expect("a");
        let b = shift_date("20200402", -200).expect("b");
        let day = |s: &str| {
            days_from_civil(
                s[0..4].parse().unwrap(),
                s[4..6].parse().unwrap(),
                s[6..8].parse().unwrap(),
            )
        };
        assert_eq!(day(&b) - day(&a), day("20200402") - day("20200110"));
        assert_eq!(shift_multi("20200301\\bad", -1, shift_date), "20200229\\");
    }
}
